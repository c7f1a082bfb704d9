/**
 * The simulated upstream (an AI gateway / model server stand-in), run as its own process:
 *
 *   POST /v2/code/completions  → 200, ~600 B JSON (the request body is read and discarded)
 *   POST /v1/chat/completions  → 200 text/event-stream: N `data:` chunks (header x-bench-chunks),
 *                                 one every x-bench-interval-ms ms (0: all at once), a final chunk
 *                                 with usage, then `data: [DONE]`
 *   GET  /healthz              → 200
 *
 * Usage: node --import tsx bench/upstream.ts [port]   (prints {"port": N} once listening)
 * Exits by itself when its parent goes away, so a killed benchmark leaves nothing behind.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { COMPLETIONS_PATH, COMPLETIONS_RESPONSE, H_CHUNKS, H_INTERVAL, SSE_FINAL, SSE_PATH, sseChunk } from './payloads.js'

const JSON_HEADERS = ['content-type', 'application/json', 'content-length', String(COMPLETIONS_RESPONSE.length)]
const SSE_HEADERS = ['content-type', 'text/event-stream', 'cache-control', 'no-cache']
const MAX_CHUNKS = 10_000
const CHUNKS = Array.from({ length: 256 }, (_, i) => sseChunk(i))

function chunk (i: number): Buffer {
  return CHUNKS[i % CHUNKS.length] as Buffer
}

function intHeader (req: IncomingMessage, name: string, dflt: number, max: number): number {
  const v = Number(req.headers[name])
  return Number.isInteger(v) && v >= 0 ? Math.min(v, max) : dflt
}

function stream (req: IncomingMessage, res: ServerResponse): void {
  const n = intHeader(req, H_CHUNKS, 20, MAX_CHUNKS)
  const interval = intHeader(req, H_INTERVAL, 0, 1_000)
  res.writeHead(200, SSE_HEADERS)
  if (interval === 0) {
    for (let i = 0; i < n; i++) res.write(chunk(i))
    res.end(SSE_FINAL)
    return
  }
  // Drift-free pacing: chunk i is due at start + i * interval.
  const start = performance.now()
  let i = 0
  let timer: NodeJS.Timeout | null = null
  const next = (): void => {
    timer = null
    if (res.destroyed) return
    res.write(chunk(i++))
    if (i >= n) {
      res.end(SSE_FINAL)
      return
    }
    timer = setTimeout(next, Math.max(0, start + i * interval - performance.now()))
  }
  res.on('close', () => {
    if (timer !== null) clearTimeout(timer)
  })
  next()
}

function noop (): void {}

const server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
  req.on('data', noop)
  req.on('error', noop)
  req.on('end', () => {
    if (req.method === 'POST' && req.url === COMPLETIONS_PATH) {
      res.writeHead(200, JSON_HEADERS)
      res.end(COMPLETIONS_RESPONSE)
    } else if (req.method === 'POST' && req.url === SSE_PATH) {
      stream(req, res)
    } else if (req.url === '/healthz') {
      res.writeHead(200, ['content-type', 'text/plain'])
      res.end('ok')
    } else {
      res.writeHead(404, ['content-type', 'text/plain'])
      res.end('not found')
    }
  })
})
server.headersTimeout = 30_000
server.requestTimeout = 60_000

const port = Number(process.argv[2] ?? 0)
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n')
})

// Parent watchdog: reparented means the benchmark died without cleaning up.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.exit(0)
}, 500).unref()
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    server.closeAllConnections()
    server.close()
    process.exit(0)
  })
}
