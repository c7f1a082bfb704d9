/**
 * Hostile callers against the built proxy, run as its bin runs it under a 1 024-descriptor
 * limit (`ulimit -n 1024`, a common container default). Two scenarios, each bounded in time:
 *
 * - tails: 16 live tails (GET /api/stream) that never read, while 10 callers send requests whose
 *   exchanges are ~10 KB of JSON each. Before the tail was bounded, RSS went 126 MB → 2.6 GB in
 *   20 s. Reports RSS (start, max, end) and the events dropped for the stalled tails.
 * - slowloris: 600 slow callers (half dripping headers, half dripping a body, each reconnecting
 *   when cut) while 20 normal requests arrive one every 500 ms, each on a fresh connection.
 *   Reports how many normal requests were served and how fast, whether the admin API answered,
 *   and what the route's cap did (evicted, refused).
 *
 *   npm run bench:hostile [-- --seconds 20]
 */
import { createServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { freePort, killAllNow, rssBytes, startChild, stopAll } from './procs.js'
import { percentile, sortedCopy } from './stats.js'
import { PROXY_NODE_ARGS } from './targets.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } })
const SECONDS = Math.min(120, Math.max(5, Number(values.seconds)))
const MB = 1024 * 1024
process.on('exit', killAllNow)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function startUpstream (): Promise<number> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices":[{"text":"ok"}]}'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref()
  return (server.address() as { port: number }).port
}

async function startProxy (upPort: number): Promise<{ pid: number, port: number, admin: number, dir: string }> {
  const [port, admin] = [await freePort(), await freePort()]
  const dir = mkdtempSync(join(tmpdir(), 'ddp-hostile-'))
  const child = startChild('proxy', 'bash', ['-c', 'ulimit -n 1024 && exec "$0" "$@"', process.execPath, ...PROXY_NODE_ARGS, 'dist/cli/main.js', 'start',
    '--route', `gw:gateway=127.0.0.1:${port}=http://127.0.0.1:${upPort}`, '--admin', `127.0.0.1:${admin}`, '--db', join(dir, 'x.db'), '--log-level', 'warn'], { core: null })
  for (let i = 0; i < 200; i++) {
    const ok = await request(`http://127.0.0.1:${admin}/readyz`).then(async (r) => { await r.body.text(); return r.statusCode === 200 }, () => false)
    if (ok) return { pid: child.pid, port, admin, dir }
    await sleep(50)
  }
  throw new Error(`the proxy did not start: ${child.stderr()}`)
}

async function metric (admin: number, name: string): Promise<number> {
  const text = await request(`http://127.0.0.1:${admin}/metrics`).then((r) => r.body.text(), () => '')
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  // A labelled counter never incremented has no sample.
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

function sampleRss (pid: number, samples: number[]): NodeJS.Timeout {
  return setInterval(() => samples.push(rssBytes(pid) / MB), 500)
}

async function tails (upPort: number, count: number): Promise<string> {
  const p = await startProxy(upPort)
  const rss: number[] = [rssBytes(p.pid) / MB]
  const stalled: Socket[] = []
  for (let i = 0; i < count; i++) {
    const s = connect(p.admin, '127.0.0.1')
    s.on('error', () => {})
    s.write(`GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:${p.admin}\r\n\r\n`)
    s.pause()
    stalled.push(s)
  }
  const timer = sampleRss(p.pid, rss)
  const until = Date.now() + SECONDS * 1000
  const padding = 'p'.repeat(8 * 1024)
  let sent = 0
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (Date.now() < until) {
      await request(`http://127.0.0.1:${p.port}/v2/code/completions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-padding': padding } })
        .then((r) => r.body.text(), () => '')
      sent++
    }
  }))
  clearInterval(timer)
  rss.push(rssBytes(p.pid) / MB)
  const dropped = await metric(p.admin, 'duo_diag_tail_dropped_total')
  const buffered = await metric(p.admin, 'duo_diag_tail_buffered_bytes')
  for (const s of stalled) s.destroy()
  await stopAll()
  rmSync(p.dir, { recursive: true, force: true })
  return `| ${count === 0 ? 'the same load, no tail (control)' : `${count} stalled tails`}, ${SECONDS} s | ${sent} exchanges (~10 KB each) | RSS ${rss[0]!.toFixed(0)} → max ${Math.max(...rss).toFixed(0)} → ${rss.at(-1)!.toFixed(0)} MB | ${dropped} tail events dropped, ${(buffered / MB).toFixed(1)} MiB held for the tails at the end |`
}

function slowCaller (port: number, kind: 'headers' | 'body', until: number): Promise<void> {
  return new Promise((resolve) => {
    const open = (): void => {
      if (Date.now() >= until) return resolve()
      const s = connect(port, '127.0.0.1')
      let drip: NodeJS.Timeout | undefined
      s.on('error', () => {})
      s.on('connect', () => {
        s.write(kind === 'headers' ? 'POST /v2/code/completions HTTP/1.1\r\nHost: x\r\n' : 'POST /v2/code/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{')
        drip = setInterval(() => s.write(kind === 'headers' ? 'X-a: b\r\n' : ' '), 1000)
      })
      s.on('close', () => {
        clearInterval(drip)
        setTimeout(open, 100)
      })
      setTimeout(() => s.destroy(), Math.max(0, until - Date.now())).unref()
    }
    open()
  })
}

async function slowloris (upPort: number): Promise<string> {
  const p = await startProxy(upPort)
  const rss: number[] = [rssBytes(p.pid) / MB]
  const timer = sampleRss(p.pid, rss)
  const until = Date.now() + SECONDS * 1000
  const attack = Promise.all(Array.from({ length: 600 }, (_, i) => slowCaller(p.port, i % 2 === 0 ? 'headers' : 'body', until)))
  await sleep(3000)
  const agent = new Agent({ pipelining: 0 })
  const latencies: number[] = []
  let adminOk = 0
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now()
    const ok = await request(`http://127.0.0.1:${p.port}/v2/code/completions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', connection: 'close' }, dispatcher: agent, headersTimeout: 5000 })
      .then(async (r) => { await r.body.text(); return r.statusCode === 200 }, () => false)
    if (ok) latencies.push(performance.now() - t0)
    if (await request(`http://127.0.0.1:${p.admin}/healthz`, { headersTimeout: 5000 }).then(async (r) => { await r.body.text(); return r.statusCode === 200 }, () => false)) adminOk++
    await sleep(500)
  }
  const evicted = await metric(p.admin, 'duo_diag_connections_evicted_total')
  const refused = await metric(p.admin, 'duo_diag_connections_refused_total')
  const max = await metric(p.admin, 'duo_diag_connections_max')
  await attack
  clearInterval(timer)
  await agent.close()
  await stopAll()
  rmSync(p.dir, { recursive: true, force: true })
  const sorted = sortedCopy(latencies)
  const lat = sorted.length === 0 ? 'none served' : `p50 ${percentile(sorted, 0.5).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`
  return `| 600 slowloris callers, ${SECONDS} s (cap ${max}) | ${latencies.length} of 20 normal requests served (${lat}); admin API answered ${adminOk} of 20 | RSS ${rss[0]!.toFixed(0)} → max ${Math.max(...rss).toFixed(0)} MB | ${evicted} slow connections evicted, ${refused} refused |`
}

const upPort = await startUpstream()
const rows = [await tails(upPort, 0), await tails(upPort, 16), await slowloris(upPort)]
process.stdout.write(`Hostile callers, ulimit -n 1024, ${new Date().toISOString()}\n\n| scenario | traffic | memory | bounds |\n|---|---|---|---|\n${rows.join('\n')}\n`)
process.exit(0)
