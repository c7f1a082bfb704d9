/**
 * Servers that fail at the transport level now live in src/sim (re-exported here), except the
 * WebSocket echo server: it needs `ws`, a development dependency.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { WebSocketServer } from 'ws'
import { sendJson, startSimServer, type SimServer, type TlsOptions } from '../../src/sim/sim-server.js'

export * from '../../src/sim/fault-servers.js'

export interface WsEchoServer extends SimServer {
  /** Headers of every upgrade request received, in order. */
  upgrades: IncomingHttpHeaders[]
  /** Messages received (text frames as strings, binary as Buffers). */
  messages: Array<string | Buffer>
}

/** WebSocket server echoing every message back; plain HTTP requests get 426. */
export async function startWsEchoServer (opts: { tls?: TlsOptions } = {}): Promise<WsEchoServer> {
  const upgrades: IncomingHttpHeaders[] = []
  const messages: Array<string | Buffer> = []
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(new Uint8Array(data))
      const message = isBinary ? bytes : bytes.toString()
      messages.push(message)
      ws.send(message, { binary: isBinary })
    })
  })
  const sim = await startSimServer(({ res }) => sendJson(res, 426, { detail: 'Upgrade Required' }), {
    tls: opts.tls,
    setup: (server) => server.on('upgrade', (req, socket, head) => {
      upgrades.push(req.headers)
      sim.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) })
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    })
  })
  return {
    ...sim,
    upgrades,
    messages,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await sim.close()
    }
  }
}
