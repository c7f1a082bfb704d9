/**
 * Reference: the bare pipe the figures name — a node:http server forwarding every request
 * with `undici.Pool.stream`, hop-by-hop headers dropped, nothing else (no correlation ids, no
 * capture). The proxy's forwarding-only mode should cost about this much.
 *
 * Usage: node --import tsx bench/bare-pipe.ts <listen-port> <upstream-port>
 */
import { createServer, type IncomingMessage } from 'node:http'
import { Pool } from 'undici'

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'host'])

function upstreamHeaders (raw: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP.has((raw[i] as string).toLowerCase())) out.push(raw[i] as string, raw[i + 1] as string)
  }
  return out
}

function hasBody (req: IncomingMessage): boolean {
  const len = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0')
}

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number)
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: null, keepAliveTimeout: 4_000 })

const server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
  pool.stream({
    path: req.url ?? '/',
    method: (req.method ?? 'GET') as 'GET',
    headers: upstreamHeaders(req.rawHeaders),
    body: hasBody(req) ? req : null
  }, ({ statusCode, headers }) => {
    const out: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v
    res.writeHead(statusCode, out)
    return res
  }).catch(() => {
    if (!res.headersSent) res.writeHead(502)
    res.end()
  })
})

server.listen(listenPort, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: listenPort }) + '\n'))
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.exit(0)
}, 500).unref()
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    server.closeAllConnections()
    server.close()
    void pool.destroy()
    process.exit(0)
  })
}
