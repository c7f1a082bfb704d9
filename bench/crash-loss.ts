/**
 * Crash loss (issue 15, item 5): how many exchanges the client saw completed are missing from the
 * store after a kill -9, and how long before the kill the oldest of them had completed.
 *
 * The built proxy (`node dist/cli/main.js start`, default configuration: capture on, SQLite, logs
 * on stdout to /dev/null) runs pinned to core 0. The bench upstream and this process (the load
 * generator) run on core 1, as in `npm run bench`. Scenarios, each with its own store file:
 *
 *   plain  only the load;
 *   tls    a second route whose https upstream fails the TLS handshake and then never answers
 *          the capture thread's certificate probe; one request goes there 1 s before the kill;
 *   query  the store holds 100 000 exchanges beforehand, and the admin API is asked for a summary
 *          over all of them, back to back, during the run.
 *
 * For each kill:
 *   1. the proxy starts on the scenario's store file (the same one every time: each start also
 *      recovers the previous kill's WAL);
 *   2. an open-loop generator sends POST /v2/code/completions at `--rate` req/s on a fixed
 *      timetable, each with its own x-request-id, and notes when each 200 response was read
 *      whole (performance.now());
 *   3. after `--seconds`, plus a few ms that differ per kill so that the kill falls at different
 *      points of the flush cycle, the proxy gets SIGKILL;
 *   4. the store is opened with better-sqlite3, which recovers the WAL, and every completed id is
 *      looked up. Reported: the missing ones, and the age of the oldest missing completion at the
 *      kill.
 *
 * Usage: npm run build && npm run bench:crash -- [--kills 5] [--rate 1000] [--seconds 3]
 *          [--scenarios plain,tls,query] [--proxy-env DUO_DIAG_NAME=value] [--no-pin] [--out FILE]
 * Prints a markdown table; writes bench/results/<date>-crash.json.
 */
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { Pool } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type * as SqliteModule from '../src/store/sqlite.js'
import { TimedRequest } from './load.js'
import { COMPLETIONS_BODY, COMPLETIONS_HEADERS, COMPLETIONS_PATH } from './payloads.js'
import { type Child, freePort, killAllNow, NoiseMeter, setUpPinning, startChild, stopAll, stopChild } from './procs.js'
import { parseProxyEnv, PROXY_NODE_ARGS, startUpstream } from './targets.js'

const ROOT = join(import.meta.dirname, '..')
const SCENARIOS = ['plain', 'tls', 'query'] as const
type Scenario = typeof SCENARIOS[number]

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '5' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '3' },
    scenarios: { type: 'string', default: SCENARIOS.join(',') },
    'no-pin': { type: 'boolean', default: false },
    'proxy-env': { type: 'string', multiple: true, default: [] },
    out: { type: 'string' }
  }
})
/** `--proxy-env DUO_DIAG_NAME=value` (repeatable): a setting for the proxies under test, for A/B runs. */
const PROXY_ENV = parseProxyEnv(values['proxy-env'])
const KILLS = Math.min(Math.max(Math.round(Number(values.kills)), 1), 50)
const RATE = Math.min(Math.max(Number(values.rate), 10), 5_000)
const SECONDS = Math.min(Math.max(Number(values.seconds), 0.5), 30)
const WANTED = values.scenarios.split(',').map((s) => s.trim()).filter(Boolean) as Scenario[]
for (const s of WANTED) if (!SCENARIOS.includes(s)) throw new Error(`--scenarios: unknown ${s} (${SCENARIOS.join(', ')})`)
/** Rows in the query scenario's store before the first kill. */
const QUERY_ROWS = 100_000

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function log (msg: string): void {
  process.stderr.write(`[crash ${(performance.now() / 1000).toFixed(1).padStart(5)}s] ${msg}\n`)
}

async function waitReady (url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`proxy exited (code ${child.proc.exitCode}): ${child.stderr().slice(-2000)}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch {
      // not yet
    }
    await sleep(50)
  }
  throw new Error(`proxy not ready after ${timeoutMs} ms: ${child.stderr().slice(-2000)}`)
}

/**
 * An https upstream that fails the proxy's handshake at once (plain HTTP bytes: a TLS error) on
 * its first connection after `arm()`, and leaves every other connection hanging — the capture
 * thread's certificate probe among them, which then waits its full timeout (3 s).
 */
async function startHangingTls (): Promise<{ port: number, arm: () => void, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let armed = false
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    if (armed) {
      armed = false
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n')
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as { port: number }).port,
    arm: () => { armed = true },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export interface KillResult {
  scenario: Scenario
  kill: number
  /** Requests sent, and answered 200 (read whole) before the kill. */
  sent: number
  completed: number
  /** Completed but not in the store after the restart. */
  missing: number
  /** Age at the kill of the oldest missing completion (ms); 0 when none is missing. */
  oldestMissingMs: number
  /** Completed in the last 100 ms before the kill (what the bound allows to lose). */
  completedLast100Ms: number
  /** Ran for this long (ms) before the kill. */
  runMs: number
  integrity: string
  /** The largest WAL seen during the run (bytes, sampled every 10 ms). */
  walMaxBytes: number
  /** Summaries answered during the run, and the slowest (ms); query scenario only. */
  summaries: number
  slowestSummaryMs: number | null
  /** Share of both cores busy with other processes than the proxy, the upstream and this one. */
  foreignLoad: number | null
}

function walSize (dbPath: string): number {
  try {
    return statSync(`${dbPath}-wal`).size
  } catch {
    return 0
  }
}

interface Setup {
  upstream: { child: Child, port: number }
  tls: { port: number, arm: () => void } | null
  core: number | null
}

function proxyArgs (scenario: Scenario, s: Setup, port: number, tlsPort: number, admin: number, dbPath: string): string[] {
  return [
    ...PROXY_NODE_ARGS,
    join(ROOT, 'dist', 'cli', 'main.js'), 'start',
    '--route', `gw=127.0.0.1:${port}=http://127.0.0.1:${s.upstream.port}`,
    ...(scenario === 'tls' && s.tls !== null ? ['--route', `tls=127.0.0.1:${tlsPort}=https://127.0.0.1:${s.tls.port}`] : []),
    '--admin', `127.0.0.1:${admin}`,
    '--db', dbPath
  ]
}

function proxyEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, v] of Object.entries(process.env)) if (!key.startsWith('DUO_DIAG_')) env[key] = v
  return { ...env, ...PROXY_ENV }
}

/** The query scenario's store: QUERY_ROWS copies of an exchange the proxy itself recorded. */
async function seedStore (s: Setup, dbPath: string): Promise<void> {
  const [port, admin] = await freePorts(2) as [number, number]
  const child = startChild('proxy seed', process.execPath, proxyArgs('plain', s, port, 0, admin, dbPath), { core: s.core, env: proxyEnv(), cwd: ROOT })
  await waitReady(`http://127.0.0.1:${admin}/readyz`, child, 20_000)
  const res = await fetch(`http://127.0.0.1:${port}${COMPLETIONS_PATH}`, { method: 'POST', headers: COMPLETIONS_HEADERS, body: COMPLETIONS_BODY })
  await res.arrayBuffer()
  await stopChild(child)
  const { SqliteStore } = await import(pathToFileURL(join(ROOT, 'dist', 'store', 'sqlite.js')).href) as typeof SqliteModule
  const store = new SqliteStore(dbPath)
  try {
    const template = (await store.list({}, { limit: 1, cursor: null })).items[0]
    if (template === undefined) throw new Error('the seeding proxy recorded nothing')
    const start = Date.now() - 3_600_000
    for (let i = 0; i < QUERY_ROWS; i += 5_000) {
      const batch: Exchange[] = []
      for (let k = i; k < i + 5_000; k++) {
        const at = start + k * 30
        batch.push({ ...template, id: at.toString(16).padStart(12, '0') + k.toString(16).padStart(12, '0'), started_at: new Date(at).toISOString(), correlation_id: `seed-${k}`, status: [200, 200, 200, 404, 500][k % 5]! })
      }
      await store.insert(batch)
    }
  } finally {
    await store.close()
  }
}

/** `n` free ports, distinct (each is bound and released: two calls may return the same one). */
async function freePorts (n: number): Promise<number[]> {
  const ports = new Set<number>()
  for (let tries = 0; ports.size < n && tries < 50; tries++) ports.add(await freePort())
  if (ports.size < n) throw new Error(`could not find ${n} distinct free ports`)
  return [...ports]
}

async function oneKill (scenario: Scenario, k: number, s: Setup, dbPath: string): Promise<KillResult> {
  const [port, tlsPort, admin] = await freePorts(3) as [number, number, number]
  const child = startChild(`proxy ${scenario} ${k}`, process.execPath, proxyArgs(scenario, s, port, tlsPort, admin, dbPath), { core: s.core, env: proxyEnv(), cwd: ROOT })
  await waitReady(`http://127.0.0.1:${admin}/readyz`, child, 20_000)

  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 5_000, bodyTimeout: 5_000 })
  const prefix = `crash-${scenario}-${k}-${Date.now().toString(36)}-`
  const total = Math.round(RATE * (SECONDS + 1))
  const completedAt = new Float64Array(total).fill(-1)
  const interval = 1000 / RATE
  const runMs = SECONDS * 1000 + ((k * 37) % 100)
  let next = 0
  let killAt = -1
  const t0 = performance.now() + 2
  const noise = new NoiseMeter(() => [process.pid, child.pid, s.upstream.child.pid])
  noise.start()
  let walMax = 0
  const walTimer = setInterval(() => { walMax = Math.max(walMax, walSize(dbPath)) }, 10)

  // Side traffic of the scenario.
  const summaries: number[] = []
  const queries = scenario !== 'query'
    ? Promise.resolve()
    : (async () => {
        while (killAt < 0) {
          const started = performance.now()
          try {
            const res = await fetch(`http://127.0.0.1:${admin}/api/summary`)
            await res.arrayBuffer()
            if (res.status === 200 && killAt < 0) summaries.push(performance.now() - started)
          } catch {
            // killed
          }
        }
      })()
  const tlsFailure = scenario !== 'tls' || s.tls === null
    ? Promise.resolve()
    : (async () => {
        await sleep(Math.max(0, runMs - 1_000))
        s.tls!.arm()
        const res = await fetch(`http://127.0.0.1:${tlsPort}/v1/models`, { signal: AbortSignal.timeout(5_000) }).catch(() => null)
        await res?.arrayBuffer()
      })()

  await new Promise<void>((resolve) => {
    const fire = (i: number): void => {
      const headers = { ...COMPLETIONS_HEADERS, 'x-request-id': prefix + i }
      pool.dispatch({ path: COMPLETIONS_PATH, method: 'POST', headers, body: COMPLETIONS_BODY }, new TimedRequest((status, err) => {
        if (err === null && status === 200 && killAt < 0) completedAt[i] = performance.now()
      }))
    }
    const tick = (): void => {
      const now = performance.now()
      if (now - t0 >= runMs) {
        killAt = performance.now()
        child.proc.kill('SIGKILL')
        resolve()
        return
      }
      while (next < total && t0 + next * interval <= now) fire(next++)
      setTimeout(tick, Math.max(0, Math.min(t0 + next * interval, t0 + runMs) - performance.now()))
    }
    setTimeout(tick, Math.max(0, t0 - performance.now()))
  })
  const foreignLoad = noise.stop()
  clearInterval(walTimer)
  await child.exited
  await Promise.all([queries, tlsFailure])
  await pool.destroy().catch(() => undefined)
  walMax = Math.max(walMax, walSize(dbPath))

  const db = new Database(dbPath, { fileMustExist: true })
  let integrity: string
  const stored = new Set<string>()
  try {
    integrity = String(db.pragma('quick_check', { simple: true }))
    for (const r of db.prepare('SELECT correlation_id AS id FROM exchanges WHERE correlation_id >= ? AND correlation_id < ?').all(prefix, prefix + '\uffff') as Array<{ id: string }>) stored.add(r.id)
  } finally {
    db.close()
  }
  let completed = 0
  let missing = 0
  let oldestMissing = 0
  let last100 = 0
  for (let i = 0; i < next; i++) {
    const at = completedAt[i] as number
    if (at < 0) continue
    completed++
    const age = killAt - at
    if (age <= 100) last100++
    if (!stored.has(prefix + i)) {
      missing++
      oldestMissing = Math.max(oldestMissing, age)
    }
  }
  return {
    scenario,
    kill: k,
    sent: next,
    completed,
    missing,
    oldestMissingMs: oldestMissing,
    completedLast100Ms: last100,
    runMs,
    integrity,
    walMaxBytes: walMax,
    summaries: summaries.length,
    slowestSummaryMs: summaries.length > 0 ? Math.max(...summaries) : null,
    foreignLoad
  }
}

function fmt (n: number | null, digits = 0): string {
  return n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits)
}

async function main (): Promise<number> {
  const pin = setUpPinning(!values['no-pin'])
  log(pin.note)
  const dir = mkdtempSync(join(tmpdir(), 'ddp-crash-'))
  const results: KillResult[] = []
  let tls: Awaited<ReturnType<typeof startHangingTls>> | null = null
  try {
    const upstream = await startUpstream(ROOT, pin.loadCore)
    tls = await startHangingTls()
    const setup: Setup = { upstream, tls, core: pin.proxyCore }
    for (const scenario of WANTED) {
      const dbPath = join(dir, `${scenario}.db`)
      if (scenario === 'query') {
        log(`query: seeding the store with ${QUERY_ROWS} exchanges`)
        await seedStore(setup, dbPath)
      }
      for (let k = 1; k <= KILLS; k++) {
        const r = await oneKill(scenario, k, setup, dbPath)
        log(`${scenario} kill ${k}: ${r.completed} completed, ${r.missing} missing, oldest missing ${fmt(r.oldestMissingMs, 1)} ms before the kill, integrity ${r.integrity}`)
        results.push(r)
      }
    }
  } finally {
    await tls?.close()
    await stopAll(2_000)
    rmSync(dir, { recursive: true, force: true })
  }
  const lines = [
    `Crash loss: kill -9 at ${RATE} req/s, ${SECONDS} s after start (POST /v2/code/completions, ${Object.keys(PROXY_ENV).length === 0 ? 'default configuration' : Object.entries(PROXY_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}, ${pin.enabled ? 'proxy pinned to one core' : 'not pinned'})`,
    '',
    '| scenario | kill | completed by the client | missing after the kill | oldest missing, ms before the kill | completed in the last 100 ms | largest WAL | slowest summary | integrity | foreign load |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.scenario} | ${r.kill} | ${r.completed} | ${r.missing} | ${r.missing === 0 ? '–' : fmt(r.oldestMissingMs, 1)} | ${r.completedLast100Ms} | ${(r.walMaxBytes / 1048576).toFixed(1)} MiB | ${r.slowestSummaryMs === null ? '–' : `${fmt(r.slowestSummaryMs)} ms`} | ${r.integrity} | ${r.foreignLoad === null ? '–' : `${fmt(r.foreignLoad * 100)} %`} |`),
    ''
  ]
  for (const scenario of WANTED) {
    const rs = results.filter((r) => r.scenario === scenario)
    lines.push(`${scenario}: worst ${fmt(Math.max(...rs.map((r) => r.oldestMissingMs)), 1)} ms; missing in all ${rs.reduce((a, r) => a + r.missing, 0)} of ${rs.reduce((a, r) => a + r.completed, 0)}.`)
  }
  const md = lines.join('\n')
  process.stdout.write(md + '\n')
  const date = new Date().toISOString()
  const out = values.out ?? join(ROOT, 'bench', 'results', `${date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z')}-crash.json`)
  mkdirSync(join(out, '..'), { recursive: true })
  writeFileSync(out, JSON.stringify({ date, rate: RATE, seconds: SECONDS, proxyEnv: PROXY_ENV, pinning: pin.note, kills: results, markdown: md }, null, 2) + '\n')
  log(`written ${out}`)
  return 0
}

process.once('exit', killAllNow)
process.once('SIGINT', () => {
  killAllNow()
  process.exit(130)
})

main().then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`)
  killAllNow()
  process.exit(1)
})
