/**
 * Servers that fail at the transport level, for the proxy's failure diagnosis: refused
 * ports, hangs, resets, protocol mismatches, TLS endpoints and a WebSocket echo.
 */
import { createServer as createNetServer } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import { WebSocketServer } from 'ws'
import { sendJson, startSimServer, type SimHandler, type SimServer, type TlsOptions } from '../fixtures/sim-server.js'
import { closeServer, listenEphemeral } from './net.js'

/** A port that was bound and released: connecting to it is refused (ECONNREFUSED). */
export async function refusedPort(): Promise<number> {
  const server = createNetServer()
  const port = await listenEphemeral(server)
  await closeServer(server)
  return port
}

/**
 * Accepts connections and reads requests, never answers. Non-HTTP bytes (a TLS
 * ClientHello) hang too instead of getting Node's automatic 400.
 */
export function startHangingServer(): Promise<SimServer> {
  return startSimServer(() => undefined, {
    setup: (server) => server.on('clientError', () => undefined),
  })
}

/** Reads each request completely, then destroys the socket without a response. */
export function startResetServer(): Promise<SimServer> {
  return startSimServer(
    ({ req }) => {
      req.socket.destroy()
    },
    { setup: (server) => server.on('clientError', (_err, socket) => socket.destroy()) },
  )
}

/**
 * Plain HTTP answering 200 {"ok":true}. Reached over https, the client's ClientHello gets
 * Node's automatic "400 Bad Request" back and the TLS handshake fails.
 */
export function startPlainHttpServer(): Promise<SimServer> {
  return startSimServer(({ res }) => sendJson(res, 200, { ok: true }))
}

/** An https server with the given certificate; default handler answers 200 {"ok":true}. */
export function startTlsServer(tls: TlsOptions, handler?: SimHandler): Promise<SimServer> {
  return startSimServer(handler ?? (({ res }) => sendJson(res, 200, { ok: true })), { tls })
}

export interface WsEchoServer extends SimServer {
  /** Headers of every upgrade request received, in order. */
  upgrades: IncomingHttpHeaders[]
  /** Messages received (text frames as strings, binary as Buffers). */
  messages: Array<string | Buffer>
}

/** WebSocket server echoing every message back; plain HTTP requests get 426. */
export async function startWsEchoServer(opts: { tls?: TlsOptions } = {}): Promise<WsEchoServer> {
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
    setup: (server) =>
      server.on('upgrade', (req, socket, head) => {
        upgrades.push(req.headers)
        sim.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) })
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
      }),
  })
  return {
    ...sim,
    upgrades,
    messages,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await sim.close()
    },
  }
}
