/**
 * A bounded soak (not in CI): mixed traffic through the built proxy for a fixed time — JSON
 * completions, paced SSE streams, errors (a path the upstream 404s), and callers that hang up
 * mid-stream — sampling the proxy's RSS, open file descriptors and upstream sockets every 10 s.
 * They must stay flat. Prints a table and writes bench/results/<date>-soak.json.
 *
 *   npm run build && node --import tsx bench/soak.ts [--minutes 10] [--concurrency 16]
 */
import { mkdirSync, readdirSync, readlinkSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { COMPLETIONS_BODY, COMPLETIONS_HEADERS, COMPLETIONS_PATH, H_CHUNKS, H_INTERVAL, SSE_BODY, SSE_HEADERS, SSE_PATH } from './payloads.js'
import { freePort, killAllNow, rssBytes, startChild, stopAll } from './procs.js'
import { PROXY_NODE_ARGS } from './targets.js'

const ROOT = join(import.meta.dirname, '..')
const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '16' }, 'sample-s': { type: 'string', default: '10' } } })
const MINUTES = Math.min(Math.max(Number(values.minutes), 0.2), 30)
const CONCURRENCY = Math.min(Math.max(Number(values.concurrency), 1), 128)
const SAMPLE_S = Math.min(Math.max(Number(values['sample-s']), 1), 60)

interface Sample { t_s: number, rss_mb: number, fds: number, sockets: number, upstream_sockets: number, requests: number, errors: number, aborts: number }

/** Open descriptors, socket descriptors, and TCP connections to the upstream's port (from /proc). */
function descriptors (pid: number, upstreamPort: number): { fds: number, sockets: number, upstream: number } {
  let fds = 0
  let sockets = 0
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      const m = /^socket:\[(\d+)\]$/.exec(link)
      if (m !== null) {
        sockets++
        inodes.add(m[1]!)
      }
    } catch {
      // closed meanwhile
    }
  }
  const hexPort = upstreamPort.toString(16).toUpperCase().padStart(4, '0')
  let upstream = 0
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/)
    // remote address column ends with the upstream port; state 01 = ESTABLISHED; inode column 9
    if (cols[2]?.endsWith(`:${hexPort}`) && cols[3] === '01' && inodes.has(cols[9] ?? '')) upstream++
  }
  return { fds, sockets, upstream }
}

async function main (): Promise<void> {
  const upstreamPort = await freePort()
  const listenPort = await freePort()
  const adminPort = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ddp-soak-'))
  startChild('upstream', process.execPath, ['--import', 'tsx', join(ROOT, 'bench/upstream.ts'), String(upstreamPort)], { core: null, cwd: ROOT })
  const proxy = startChild('proxy', process.execPath, [...PROXY_NODE_ARGS, join(ROOT, 'dist/cli/main.js'), 'start', '--listen', `127.0.0.1:${listenPort}`, '--upstream', `http://127.0.0.1:${upstreamPort}`, '--admin', `127.0.0.1:${adminPort}`, '--db', join(dir, 'soak.db'), '--log-level', 'warn'], { core: null, cwd: ROOT })
  const base = `http://127.0.0.1:${listenPort}`
  for (let i = 0; i < 100; i++) {
    try {
      await (await request(`http://127.0.0.1:${adminPort}/healthz`)).body.text()
      await (await request(`http://127.0.0.1:${upstreamPort}/healthz`)).body.text()
      break
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  const agent = new Agent({ connections: CONCURRENCY * 2 })
  let requests = 0
  let errors = 0
  let aborts = 0
  const deadline = Date.now() + MINUTES * 60_000
  const worker = async (w: number): Promise<void> => {
    for (let n = 0; Date.now() < deadline; n++) {
      const kind = (n + w) % 10
      try {
        if (kind < 5) {
          const r = await request(`${base}${COMPLETIONS_PATH}`, { method: 'POST', body: COMPLETIONS_BODY, headers: COMPLETIONS_HEADERS, dispatcher: agent })
          await r.body.text()
        } else if (kind < 7) {
          const r = await request(`${base}${SSE_PATH}`, { method: 'POST', body: SSE_BODY, headers: { ...SSE_HEADERS, [H_CHUNKS]: '20', [H_INTERVAL]: '5' }, dispatcher: agent })
          await r.body.text()
        } else if (kind < 9) {
          const r = await request(`${base}/no/such/path`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, dispatcher: agent })
          await r.body.text()
        } else {
          // A caller that hangs up mid-stream (the IDE cancelling a completion).
          const controller = new AbortController()
          const r = await request(`${base}${SSE_PATH}`, { method: 'POST', body: SSE_BODY, headers: { ...SSE_HEADERS, [H_CHUNKS]: '40', [H_INTERVAL]: '5' }, dispatcher: agent, signal: controller.signal })
          for await (const _ of r.body) {
            controller.abort()
            break
          }
          aborts++
        }
        requests++
      } catch {
        if (kind !== 9) errors++
        else { aborts++; requests++ }
      }
    }
  }
  const samples: Sample[] = []
  const t0 = Date.now()
  const sample = (): void => {
    const d = descriptors(proxy.pid, upstreamPort)
    samples.push({ t_s: Math.round((Date.now() - t0) / 1000), rss_mb: Math.round(rssBytes(proxy.pid) / 1e5) / 10, fds: d.fds, sockets: d.sockets, upstream_sockets: d.upstream, requests, errors, aborts })
    const s = samples[samples.length - 1]!
    process.stderr.write(`${String(s.t_s).padStart(4)} s  rss ${s.rss_mb} MB  fds ${s.fds}  sockets ${s.sockets}  upstream ${s.upstream_sockets}  requests ${s.requests}  errors ${s.errors}\n`)
  }
  sample()
  const timer = setInterval(sample, SAMPLE_S * 1000)
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)))
  clearInterval(timer)
  await new Promise((resolve) => setTimeout(resolve, 2000))
  sample()
  const metrics = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text()
  const dropped = Number(/^duo_diag_capture_dropped_total (\d+)/m.exec(metrics)?.[1] ?? NaN)
  const stored = Number(/^duo_diag_store_rows (\d+)/m.exec(metrics)?.[1] ?? NaN)
  await agent.close()
  await stopAll()

  const steady = samples.filter((s) => s.t_s >= 60)
  const span = (k: keyof Sample): string => {
    const v = (steady.length > 1 ? steady : samples).map((s) => s[k])
    return `${Math.min(...v)}…${Math.max(...v)}`
  }
  const first = steady[0] ?? samples[0]!
  const last = samples[samples.length - 1]!
  const report = [
    `| ${MINUTES} min, ${CONCURRENCY} callers | value |`,
    '|---|---|',
    `| requests (JSON 50 %, SSE 20 %, 404 20 %, aborted 10 %) | ${last.requests} (${Math.round(last.requests / (MINUTES * 60))}/s), transport errors ${last.errors}, aborts ${last.aborts} |`,
    `| RSS after 1 min → end | ${first.rss_mb} → ${last.rss_mb} MB (range ${span('rss_mb')}) |`,
    `| open fds after 1 min → end | ${first.fds} → ${last.fds} (range ${span('fds')}) |`,
    `| sockets / upstream connections | ${span('sockets')} / ${span('upstream_sockets')} |`,
    `| records stored / dropped | ${stored} / ${dropped} |`
  ].join('\n')
  process.stdout.write(report + '\n')
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  const file = join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z-soak.json`)
  writeFileSync(file, JSON.stringify({ minutes: MINUTES, concurrency: CONCURRENCY, samples, stored, dropped, report }, null, 2))
  process.stderr.write(`wrote ${file}\n`)
}

process.once('SIGINT', () => { killAllNow(); process.exit(130) })
main().catch((err: unknown) => {
  killAllNow()
  process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
