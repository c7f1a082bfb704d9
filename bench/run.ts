/**
 * duo-diag-proxy benchmark (issue 5). Starts a simulated upstream, the built proxy CLI in each
 * capture mode (each its own process), nginx when installed, and measures them interleaved,
 * round by round: closed-loop throughput, latency at a fixed 1 000 req/s, SSE chunk timing,
 * CPU per request, RSS over a long run, and — on the capture pipeline itself, in this process
 * (bench/store-rate.ts) — the store write rate it sustains.
 *
 *   node --import tsx bench/run.ts [--quick] [--rounds N] [--no-pin] [--modes a,b] [--phases p,q] [--out FILE]
 *     [--proxy-env DUO_DIAG_NAME=value ...] [--proxy-node-args '--flag ...']   (the proxies' settings and V8 flags, for A/B runs)
 *
 * npm run bench (≤ 10 min) / npm run bench:quick (≤ 100 s). Results: bench/results/<ISO date>.json
 * and a markdown table on stdout; progress goes to stderr.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type ClosedLoopResult, closedLoop, OpenLoop, type OpenLoopRaw, type OpenLoopResult, sseStreams, type StreamTiming, summarizeOpen } from './load.js'
import { CLK_TCK, cpuNs, cpuTicks, freePort, killAllNow, NoiseMeter, pinThread, rssBytes, setUpPinning, stopAll, stopChild, type ThreadSplit, threadSplit, threadTicks } from './procs.js'
import { type BurstPlan, type BurstSample, burstReport, burstThenSteady } from './after-burst.js'
import { markdownReport } from './report.js'
import { findWrk } from './wrk.js'
import { measureStoreRate, type StorePlan, type StoreRate } from './store-rate.js'
import { median, percentile, sortedCopy, summarize, type Summary } from './stats.js'
import { directTarget, findNginx, type ModeId, parseProxyEnv, PROXY_NODE_ARGS, type ProxyMetrics, readMetrics, startBarePipe, startNginx, startProxy, startUpstream, type Target } from './targets.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

// ---- plan ------------------------------------------------------------------------------------

export interface Plan {
  name: 'full' | 'quick'
  /** Modes measured unless --modes says otherwise (direct always; nginx when installed). */
  modes: ModeId[]
  rounds: number
  closedS: number
  closedWarmS: number
  connections: number
  openRate: number
  openS: number
  openWarmS: number
  /** The open-loop window of each mode is cut into this many slices, interleaved across modes. */
  openSlices: number
  /** Closed-loop warm-up requests per target before round 1 (V8 needs ~8 000 to reach steady state), bounded by warmupS. */
  warmupRequests: number
  warmupS: number
  ssePaced: { count: number, chunks: number, intervalMs: number }
  sseUnpaced: { count: number, chunks: number }
  longRequests: number
  longMaxS: number
  /** The capture pipeline's store write rate (bench/store-rate.ts). */
  store: StorePlan
  /** Issue 20's protocol (bench/after-burst.ts): closed loop then open loop, per configuration. */
  burst: BurstPlan & { modes: ModeId[] }
  quiesceMaxMs: number
  /** Soft budget: the long run is shortened so that the whole run fits. */
  budgetS: number
  /** Hard limit: past it everything is killed and the run fails. */
  hardLimitS: number
}

const FULL: Plan = {
  name: 'full',
  modes: ['direct', 'nginx', 'bare-pipe', 'fwd-only', 'default', 'bodies', 'split'],
  rounds: 3,
  closedS: 2.5,
  closedWarmS: 0.3,
  connections: 10,
  openRate: 1000,
  openS: 4,
  openWarmS: 0.3,
  openSlices: 8,
  warmupRequests: 15_000,
  warmupS: 6,
  ssePaced: { count: 8, chunks: 20, intervalMs: 5 },
  sseUnpaced: { count: 8, chunks: 200 },
  longRequests: 500_000,
  longMaxS: 120,
  store: { steps: [0.5, 0.8, 1.0, 1.2, 1.5], stepS: 2, drainRecords: 19_000, warmupRecords: 10_000, drainMaxS: 8, maxS: 40 },
  burst: { closedS: 10, openS: 10, openRate: 1000, connections: 10, modes: ['direct', 'nginx', 'bare-pipe', 'default'] },
  quiesceMaxMs: 4_000,
  budgetS: 560,
  hardLimitS: 640
}

const QUICK: Plan = {
  name: 'quick',
  modes: ['direct', 'nginx', 'fwd-only', 'default', 'bodies'],
  rounds: 3,
  closedS: 0.4,
  closedWarmS: 0.05,
  connections: 10,
  openRate: 1000,
  openS: 0.6,
  openWarmS: 0.05,
  openSlices: 2,
  warmupRequests: 4_000,
  warmupS: 1.5,
  ssePaced: { count: 2, chunks: 10, intervalMs: 5 },
  sseUnpaced: { count: 2, chunks: 100 },
  longRequests: 25_000,
  longMaxS: 4,
  store: { steps: [0.6, 1.2], stepS: 0.5, drainRecords: 5_000, warmupRecords: 2_000, drainMaxS: 2, maxS: 7 },
  burst: { closedS: 1, openS: 1, openRate: 1000, connections: 10, modes: ['direct', 'nginx', 'default'] },
  quiesceMaxMs: 1_500,
  budgetS: 78,
  hardLimitS: 100
}

const PHASES = ['closed', 'open', 'sse', 'burst', 'long', 'store'] as const
type Phase = typeof PHASES[number]

// ---- result shapes ---------------------------------------------------------------------------

export interface Cost {
  /** Process CPU (all threads) per request, µs, including capture work done after the window. */
  cpuUsPerReq: number
  threadsUsPerReq: ThreadSplit
  /** Share of one core the process used during the window. */
  coreShare: number
}

export interface ClosedSample extends ClosedLoopResult {
  cost: Cost | null
  upstreamCpuUsPerReq: number
  noise: number | null
  /** Busy share of each core during the window (core 0: proxy; core 1: upstream + load generator when pinned). */
  coreBusy: number[]
  drainMs: number
  /** Records the proxy did not record during the window (dropped or shed) (its metrics), null without capture metrics. */
  captureDropped: number | null
}
export interface OpenSample extends OpenLoopResult {
  cost: Cost | null
  noise: number | null
  /** Records not recorded (dropped or shed) over the mode's whole open-loop phase, its warm-ups included. */
  captureDropped: number | null
  /** Requests sent over that phase, warm-ups included (what captureDropped is a share of). */
  captureOffered: number
}
export interface SseSample {
  firstMs: number
  totalMs: number
  /** Gaps between reads: median and largest. */
  gapP50Ms: number
  gapMaxMs: number
  /** `data:` events per read (1.0: every event arrived on its own). */
  eventsPerRead: number
  streams: number
  errors: number
}

export interface RoundResult {
  round: number
  order: ModeId[]
  closed: Partial<Record<ModeId, ClosedSample>>
  open: Partial<Record<ModeId, OpenSample>>
  ssePaced: Partial<Record<ModeId, SseSample>>
  sseUnpaced: Partial<Record<ModeId, SseSample>>
  burst: Partial<Record<ModeId, BurstSample>>
}

export interface ModeSummary {
  id: ModeId
  label: string
  rps?: Summary
  /** Closed loop: busy share of the load core (upstream + generator) and of the process under test. */
  loadCoreBusy?: Summary
  targetCoreShare?: Summary
  cpuUsPerReq?: Summary
  mainUsPerReq?: Summary
  workerUsPerReq?: Summary
  /** Share of the closed-loop requests whose record capture dropped or shed (summed over rounds). */
  closedDroppedShare?: number
  open?: { p50: Summary, p99: Summary, p999: Summary, addedP50: Summary, addedP99: Summary, addedP999: Summary, coreShare: Summary, sendLagP99: Summary, samples: number, errors: number, droppedShare: number | null }
  ssePaced?: { first: Summary, total: Summary, addedFirst: Summary, addedTotal: Summary, gapP50: Summary, gapMax: Summary, eventsPerRead: Summary }
  sseUnpaced?: { first: Summary, total: Summary, addedFirst: Summary, addedTotal: Summary }
}

export interface LongRun {
  mode: ModeId
  requested: number
  completed: number
  durationS: number
  rps: number
  errors: number
  rssBeforeMB: number
  rssPeakMB: number
  rssAfterMB: number
  rssGrowthMB: number
  /** RSS every second of the run (MB): GC makes it a saw-tooth, so compare troughs too. */
  rssSeriesMB: number[]
  /** Lowest RSS in the last quarter of the run − lowest in the first quarter (MB). */
  rssTroughGrowthMB: number
  cost: Cost | null
  droppedDelta: number | null
  drainMs: number
  note: string
}

export interface Results {
  meta: Record<string, unknown>
  plan: Plan
  modes: Array<{ id: ModeId, label: string }>
  rounds: RoundResult[]
  summary: ModeSummary[]
  long: LongRun | null
  store: StoreRate | null
  noise: { perWindow: number[], median: number, max: number }
  notes: string[]
  elapsedS: number
}

// ---- helpers ---------------------------------------------------------------------------------

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function log (msg: string): void {
  process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`)
}

const T0 = performance.now()
let budgetStart = T0
const US_PER_TICK = 1e6 / CLK_TCK

/**
 * Waits until the processes under test are idle — the capture backlog written — i.e. they used
 * under 10% of a core in two consecutive 25 ms windows. Returns the time waited (ms).
 */
async function quiesce (pids: number[], maxMs: number): Promise<number> {
  const start = performance.now()
  const sum = (): number => pids.reduce((a, p) => a + cpuNs(p), 0)
  let prev = sum()
  let prevT = performance.now()
  let calm = 0
  while (performance.now() - start < maxMs) {
    await sleep(25)
    const cur = sum()
    const now = performance.now()
    if (cur - prev < 0.1 * (now - prevT) * 1e6) {
      if (++calm >= 2) break
    } else {
      calm = 0
    }
    prev = cur
    prevT = now
  }
  return performance.now() - start
}

function costOf (pid: number, ticks: number, split: ThreadSplit, requests: number, wallMs: number): Cost {
  const per = (t: number): number => requests > 0 ? (t * US_PER_TICK) / requests : NaN
  return {
    cpuUsPerReq: per(ticks),
    threadsUsPerReq: { main: per(split.main), busiestOther: per(split.busiestOther), rest: per(split.rest) },
    coreShare: wallMs > 0 ? (ticks * US_PER_TICK) / (wallMs * 1000) : NaN
  }
}

function sseSample (r: { streams: StreamTiming[], errors: number }): SseSample {
  const gaps = sortedCopy(r.streams.flatMap((s) => s.gaps))
  const reads = r.streams.reduce((a, s) => a + s.reads, 0)
  const events = r.streams.reduce((a, s) => a + s.events, 0)
  return {
    firstMs: median(r.streams.map((s) => s.firstMs)),
    totalMs: median(r.streams.map((s) => s.totalMs)),
    gapP50Ms: percentile(gaps, 0.5),
    gapMaxMs: gaps.length > 0 ? (gaps[gaps.length - 1] as number) : NaN,
    eventsPerRead: reads > 0 ? events / reads : NaN,
    streams: r.streams.length,
    errors: r.errors
  }
}

/** Builds dist/ when it is missing or older than src/ (the benchmark runs the built CLI). */
function ensureBuilt (): string | null {
  const newest = (dir: string): number => {
    let t = 0
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
    }
    return t
  }
  let built = 0
  try {
    built = statSync(join(ROOT, 'dist', 'cli', 'main.js')).mtimeMs
  } catch {
    built = 0
  }
  if (built > 0 && built >= newest(join(ROOT, 'src'))) return null
  log('dist/ is missing or older than src/: npm run build')
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 })
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '').trim().split('\n').slice(0, 5).join('; ')
    if (built === 0) throw new Error(`npm run build failed and there is no dist/: ${out}`)
    log(`npm run build failed (${out}): measuring the existing, older dist/`)
    return `STALE: dist/ is older than src/ and npm run build failed, so the dist/ of an earlier build was measured`
  }
  return 'dist/ was rebuilt from src/ before the run'
}

function gitCommit (): string | null {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== ''
    return dirty ? `${sha} (src/ modified)` : sha
  } catch {
    return null
  }
}

/**
 * The `split` mode: the proxy's capture thread — the busiest thread besides the main one during
 * the warm-up just run — moved to the load core, as if the proxy had a second CPU for capture.
 */
function moveCaptureThread (pid: number, before: Map<string, number>, core: number | null): string {
  if (core === null) return 'split: not pinned (no taskset or one core), so its capture thread shared the proxy core like default'
  let busiest = ''
  let most = -1
  for (const [tid, ticks] of threadTicks(pid)) {
    const used = ticks - (before.get(tid) ?? 0)
    if (tid !== String(pid) && used > most) {
      most = used
      busiest = tid
    }
  }
  const moved = busiest !== '' && pinThread(busiest, core)
  return moved
    ? `split: the capture thread (tid ${busiest}) was moved to core ${core}, which it shares with the upstream and the load generator: its closed-loop figures compete with the load, its latency at 1 000 req/s hardly`
    : 'split: the capture thread could not be moved; split measured like default'
}

// ---- main ------------------------------------------------------------------------------------

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      modes: { type: 'string' },
      phases: { type: 'string' },
      out: { type: 'string' },
      'proxy-env': { type: 'string', multiple: true },
      'proxy-node-args': { type: 'string' }
    }
  })
  const proxyNodeArgs = values['proxy-node-args'] !== undefined ? values['proxy-node-args'].split(/\s+/).filter(Boolean) : PROXY_NODE_ARGS
  const proxyEnv = parseProxyEnv(values['proxy-env'] ?? [])
  const plan: Plan = { ...(values.quick ? QUICK : FULL) }
  if (values.rounds !== undefined) plan.rounds = Math.max(1, Math.min(20, Number(values.rounds) || plan.rounds))
  const phases = new Set<Phase>(values.phases !== undefined ? (values.phases.split(',') as Phase[]).filter((p) => PHASES.includes(p)) : PHASES)
  const notes: string[] = []

  const rebuilt = ensureBuilt()
  if (rebuilt !== null) notes.push(rebuilt)
  // The budget counts from here: a rebuild of dist/ is not the benchmark's time.
  budgetStart = performance.now()
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: over the hard limit of ${plan.hardLimitS} s; killing everything\n`)
    killAllNow()
    process.exit(3)
  }, plan.hardLimitS * 1000)
  watchdog.unref()
  const pinning = setUpPinning(!values['no-pin'])
  log(pinning.note)
  const nginxInfo = findNginx()
  const wrk = findWrk()
  if (wrk === null && phases.has('burst')) notes.push('wrk not installed (apt-get install wrk): the after-burst closed loops ran on autocannon')
  if (nginxInfo.path === null) notes.push(nginxInfo.note)
  if (values['proxy-node-args'] !== undefined) notes.push(`proxies under test ran with node ${proxyNodeArgs.join(' ') || '(no flags)'} instead of ${PROXY_NODE_ARGS.join(' ')}`)
  if (Object.keys(proxyEnv).length > 0) notes.push(`proxies under test ran with ${Object.entries(proxyEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  const dir = mkdtempSync(join(tmpdir(), 'ddp-bench-'))
  const cleanupDir = (): void => rmSync(dir, { recursive: true, force: true })
  process.once('exit', cleanupDir)

  const wanted = new Set<ModeId>(values.modes !== undefined ? (values.modes.split(',') as ModeId[]) : plan.modes)
  // The after-burst protocol runs its own configurations; forwarding only and split join it when
  // --modes names them (to see what capture sharing the core costs the tail).
  if (values.modes !== undefined) plan.burst = { ...plan.burst, modes: [...plan.burst.modes, ...(['fwd-only', 'split'] as const).filter((m) => wanted.has(m))] }
  wanted.add('direct')

  log('starting upstream and targets')
  const upstreamPort = await freePort()
  const starts: Array<Promise<Target>> = []
  if (wanted.has('nginx') && nginxInfo.path !== null) starts.push(startNginx(nginxInfo.path, upstreamPort, dir, pinning.proxyCore))
  if (wanted.has('bare-pipe')) starts.push(startBarePipe(ROOT, upstreamPort, pinning.proxyCore))
  for (const m of ['fwd-only', 'default', 'bodies', 'split'] as const) if (wanted.has(m)) starts.push(startProxy(ROOT, m, upstreamPort, dir, pinning.proxyCore, { env: proxyEnv, nodeArgs: proxyNodeArgs }))
  const [upstream, ...started] = await Promise.all([startUpstream(ROOT, pinning.loadCore, upstreamPort), ...starts])
  const targets: Target[] = [directTarget(upstream.port), ...started]
  const underTest = (): number[] => targets.flatMap((t) => t.pid === null ? [] : [t.pid])
  const noise = new NoiseMeter(() => [process.pid, upstream.child.pid, ...underTest()])
  const noiseWindows: number[] = []
  const noteNoise = (n: number | null): number | null => {
    if (n !== null) noiseWindows.push(n)
    return n
  }
  log(`targets: ${targets.map((t) => t.id).join(', ')}; ${plan.rounds} rounds, plan ${plan.name}`)
  // Proxies first; their traffic warms the upstream too, so direct needs less.
  for (const t of [...targets.slice(1), targets[0] as Target]) {
    // nginx has no JIT to warm; direct is warmed by the proxies' traffic through the upstream.
    const amount = t.id === 'direct' || t.id === 'nginx' ? Math.min(2_000, plan.warmupRequests) : plan.warmupRequests
    const th0 = t.pid === null ? null : threadTicks(t.pid)
    await closedLoop(t.base, { amount, durationS: plan.warmupS, connections: plan.connections, warmupS: 0 })
    if (t.id === 'split' && t.pid !== null && th0 !== null) notes.push(moveCaptureThread(t.pid, th0, pinning.loadCore))
    await sseStreams(t.base, { count: 5, chunks: 50, intervalMs: 0, warmup: 0 })
  }
  await quiesce(underTest(), plan.quiesceMaxMs)
  log('warmed up')

  const rounds: RoundResult[] = []
  for (let r = 0; r < plan.rounds; r++) {
    // Interleaved A B C A B C ..., the starting mode rotating each round.
    const order = targets.map((_, i) => targets[(i + r) % targets.length] as Target)
    const round: RoundResult = { round: r + 1, order: order.map((t) => t.id), closed: {}, open: {}, ssePaced: {}, sseUnpaced: {}, burst: {} }
    rounds.push(round)

    if (phases.has('closed')) {
      for (const t of order) {
        await quiesce(underTest(), plan.quiesceMaxMs)
        await closedLoop(t.base, { durationS: plan.closedWarmS, connections: plan.connections, warmupS: 0 })
        await quiesce(underTest(), plan.quiesceMaxMs)
        const c0 = t.pid === null ? 0 : cpuTicks(t.pid)
        const th0 = t.pid === null ? new Map<string, number>() : threadTicks(t.pid)
        const u0 = cpuTicks(upstream.child.pid)
        const m0 = t.adminBase === null ? null : await readMetrics(t.adminBase)
        noise.start()
        const w0 = performance.now()
        const res = await closedLoop(t.base, { durationS: plan.closedS, connections: plan.connections, warmupS: 0 })
        const wallMs = performance.now() - w0
        const n = noteNoise(noise.stop())
        const drainMs = await quiesce(underTest(), plan.quiesceMaxMs)
        const m1 = t.adminBase === null ? null : await readMetrics(t.adminBase)
        const captureDropped = m0 !== null && m1 !== null ? m1.dropped - m0.dropped + m1.shed - m0.shed : null
        // CPU includes the capture backlog written after the window: so does the time it is shared over.
        const cost = t.pid === null ? null : costOf(t.pid, cpuTicks(t.pid) - c0, threadSplit(t.pid, th0, threadTicks(t.pid)), res.requests, wallMs + drainMs)
        const upstreamCpuUsPerReq = ((cpuTicks(upstream.child.pid) - u0) * US_PER_TICK) / Math.max(1, res.requests)
        round.closed[t.id] = { ...res, cost, upstreamCpuUsPerReq, noise: n, coreBusy: noise.coreBusy, drainMs, captureDropped }
        log(`round ${r + 1} closed-loop ${t.id}: ${res.rps.toFixed(0)} req/s${cost ? `, ${cost.cpuUsPerReq.toFixed(1)} µs CPU/req` : ''}${res.errors + res.non2xx > 0 ? `, ${res.errors} errors, ${res.non2xx} non-2xx` : ''}${captureDropped ? `, not recorded (dropped or shed) ${captureDropped}` : ''}`)
      }
    }

    if (phases.has('open')) {
      // Sliced: each mode's window is cut into openSlices pieces, interleaved A B C A B C, so a
      // burst of foreign load lands on every mode rather than on one.
      const sliceS = plan.openS / plan.openSlices
      const acc = new Map<ModeId, { gen: OpenLoop, parts: OpenLoopRaw[], ticks: number, split: ThreadSplit, wallMs: number, noise: number[], sent: number }>()
      for (const t of order) acc.set(t.id, { gen: new OpenLoop(t.base), parts: [], ticks: 0, split: { main: 0, busiestOther: 0, rest: 0 }, wallMs: 0, noise: [], sent: 0 })
      const metricsBefore = new Map<ModeId, ProxyMetrics | null>()
      for (const t of order) if (t.adminBase !== null) metricsBefore.set(t.id, await readMetrics(t.adminBase))
      try {
        for (let slice = 0; slice < plan.openSlices; slice++) {
          for (const t of order) {
            const a = acc.get(t.id)!
            // (The previous slice ended with the processes idle.)
            const warm = await a.gen.run(plan.openRate, slice === 0 ? plan.openWarmS : Math.min(plan.openWarmS, 0.05))
            a.sent += warm.sent
            await quiesce(underTest(), plan.quiesceMaxMs)
            const c0 = t.pid === null ? 0 : cpuTicks(t.pid)
            const th0 = t.pid === null ? new Map<string, number>() : threadTicks(t.pid)
            noise.start()
            const w0 = performance.now()
            const part = await a.gen.run(plan.openRate, sliceS)
            a.parts.push(part)
            a.sent += part.sent
            a.wallMs += performance.now() - w0
            const n = noteNoise(noise.stop())
            if (n !== null) a.noise.push(n)
            if (t.pid !== null) {
              await quiesce(underTest(), plan.quiesceMaxMs)
              a.ticks += cpuTicks(t.pid) - c0
              const sp = threadSplit(t.pid, th0, threadTicks(t.pid))
              a.split = { main: a.split.main + sp.main, busiestOther: a.split.busiestOther + sp.busiestOther, rest: a.split.rest + sp.rest }
            }
          }
        }
      } finally {
        for (const a of acc.values()) await a.gen.close()
      }
      await quiesce(underTest(), plan.quiesceMaxMs)
      for (const t of order) {
        const a = acc.get(t.id)!
        const res = summarizeOpen(a.parts)
        const cost = t.pid === null ? null : costOf(t.pid, a.ticks, a.split, res.completed, a.wallMs)
        const m0 = metricsBefore.get(t.id) ?? null
        const m1 = t.adminBase === null ? null : await readMetrics(t.adminBase)
        const captureDropped = m0 !== null && m1 !== null ? m1.dropped - m0.dropped + m1.shed - m0.shed : null
        round.open[t.id] = { ...res, cost, noise: a.noise.length > 0 ? median(a.noise) : null, captureDropped, captureOffered: a.sent }
        log(`round ${r + 1} open-loop ${t.id}: p50 ${res.p50Ms.toFixed(3)} p99 ${res.p99Ms.toFixed(3)} p99.9 ${res.p999Ms.toFixed(3)} ms (${res.completed} samples${res.errors + res.skipped + res.unfinished > 0 ? `, ${res.errors} errors, ${res.skipped} skipped, ${res.unfinished} unfinished` : ''})`)
      }
    }

    if (phases.has('burst')) {
      for (const t of order) {
        if (!plan.burst.modes.includes(t.id)) continue
        await quiesce(underTest(), plan.quiesceMaxMs)
        const sample = await burstThenSteady(t, plan.burst, { wrk, core: pinning.loadCore, dir }, () => quiesce(underTest(), plan.quiesceMaxMs))
        round.burst[t.id] = sample
        log(`round ${r + 1} after-burst ${t.id}: closed ${sample.closed.rps.toFixed(0)} req/s, then p50 ${sample.open.p50Ms.toFixed(3)} p99 ${sample.open.p99Ms.toFixed(2)} ms${sample.openCoreShare !== null ? `, CPU ${(sample.openCoreShare * 100).toFixed(0)} %` : ''}${sample.kept !== null ? `, kept ${(sample.kept * 100).toFixed(0)} %` : ''}`)
      }
    }

    if (phases.has('sse')) {
      for (const t of order) {
        await quiesce(underTest(), plan.quiesceMaxMs)
        noise.start()
        const paced = await sseStreams(t.base, { ...plan.ssePaced, warmup: 1 })
        const unpaced = await sseStreams(t.base, { ...plan.sseUnpaced, intervalMs: 0, warmup: 1 })
        noteNoise(noise.stop())
        round.ssePaced[t.id] = sseSample(paced)
        round.sseUnpaced[t.id] = sseSample(unpaced)
        const p = round.ssePaced[t.id] as SseSample
        log(`round ${r + 1} SSE ${t.id}: paced first ${p.firstMs.toFixed(3)} ms, whole ${p.totalMs.toFixed(1)} ms, ${p.eventsPerRead.toFixed(2)} events/read; unpaced whole ${(round.sseUnpaced[t.id] as SseSample).totalMs.toFixed(2)} ms`)
      }
    }
  }

  // Only the default-mode proxy (warm) is needed from here on.
  const keep = targets.find((t) => t.id === 'default')
  for (const t of targets) if (t.child !== null && t !== keep) await stopChild(t.child)
  const summary = summarizeRounds(targets, rounds)

  let store: StoreRate | null = null
  if (phases.has('store')) {
    // The pipeline runs in this process: the proxies left (the default one, kept for the long
    // run) and the upstream must be idle, so that its worker has a core to itself.
    await quiesce([upstream.child.pid, ...underTest()], plan.quiesceMaxMs)
    log('store write rate: the capture pipeline in this process, fed observations captured from the proxy')
    try {
      store = await measureStoreRate({ root: ROOT, upstreamPort: upstream.port, dir, pinning, plan: plan.store, noise, log })
    } catch (err) {
      notes.push(`store write rate failed: ${(err as Error).message}`)
    }
  }

  let long: LongRun | null = null
  if (phases.has('long') && keep !== undefined && keep.pid !== null && keep.adminBase !== null) {
    // Keep the whole run within budget.
    const leftS = plan.budgetS - (performance.now() - budgetStart) / 1000 - 3
    const maxS = Math.max(1, Math.min(plan.longMaxS, Math.floor(leftS)))
    if (maxS < plan.longMaxS) notes.push(`long run bounded to ${maxS} s to stay within the ${plan.budgetS} s budget`)
    long = await longRun(keep, { ...plan, longMaxS: maxS }, noise, noteNoise)
    if (store !== null && long.cost !== null) {
      store.proxyWorkerUsPerRecord = long.cost.threadsUsPerReq.busiestOther
    }
  } else if (phases.has('long')) {
    notes.push('long run skipped: the default mode is not among --modes')
  }

  const elapsedS = (performance.now() - budgetStart) / 1000
  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      plan: plan.name,
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      pinning,
      nginx: nginxInfo,
      commit: gitCommit(),
      clockTicksPerS: CLK_TCK,
      logging: 'pino at info, one line per exchange, on stdout = /dev/null',
      openLoop: `own generator: uniform arrivals every ${1000 / plan.openRate} ms on a fixed timetable (undici Pool, 64 connections max, pipelining 1), each mode's ${plan.openS} s per round cut into ${plan.openSlices} slices interleaved across modes; latency from the scheduled send time`
    },
    plan,
    modes: targets.map((t) => ({ id: t.id, label: t.label })),
    rounds,
    summary,
    long,
    store,
    noise: { perWindow: noiseWindows, median: median(noiseWindows), max: noiseWindows.length > 0 ? Math.max(...noiseWindows) : NaN },
    notes,
    elapsedS
  }
  const burstTargets = targets.filter((t) => plan.burst.modes.includes(t.id))
  const md = markdownReport(results) + (phases.has('burst') ? '\n' + burstReport(burstTargets, rounds.map((r) => r.burst as Record<string, BurstSample>), plan.burst, wrk !== null ? 'wrk' : 'autocannon (wrk not installed)') + '\n' : '')
  const out = values.out ?? join(ROOT, 'bench', 'results', `${results.meta.date as string}`.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z') + (plan.name === 'quick' ? '-quick' : '') + '.json')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out + '.tmp', JSON.stringify({ ...results, markdown: md }, null, 2) + '\n')
  renameSync(out + '.tmp', out)

  await stopAll()
  cleanupDir()
  process.stdout.write(md + `\nResults: ${out}\n`)
  log(`done in ${elapsedS.toFixed(0)} s${rebuilt !== null ? ` (+ ${((budgetStart - T0) / 1000).toFixed(0)} s rebuilding dist/)` : ''}`)
  return 0
}

// ---- long run: CPU per request and RSS over many requests -----------------------------------

async function longRun (t: Target, plan: Plan, noise: NoiseMeter, noteNoise: (n: number | null) => number | null): Promise<LongRun> {
  const pid = t.pid as number
  const pids = [pid]
  log(`long run: ${plan.longRequests} requests to ${t.id} (at most ${plan.longMaxS} s)`)
  await quiesce(pids, plan.quiesceMaxMs)
  const m0 = await readMetrics(t.adminBase as string)
  const rssBefore = rssBytes(pid)
  let rssPeak = rssBefore
  const series: number[] = []
  const sampler = setInterval(() => {
    const v = rssBytes(pid)
    rssPeak = Math.max(rssPeak, v)
    series.push(v / (1024 * 1024))
  }, 1_000)
  const c0 = cpuTicks(pid)
  const th0 = threadTicks(pid)
  noise.start()
  const w0 = performance.now()
  let res: ClosedLoopResult
  try {
    res = await closedLoop(t.base, { amount: plan.longRequests, durationS: plan.longMaxS, connections: plan.connections, warmupS: 0, timeoutS: 10 })
  } finally {
    clearInterval(sampler)
  }
  const wallMs = performance.now() - w0
  noteNoise(noise.stop())
  const drainMs = await quiesce(pids, 10_000)
  rssPeak = Math.max(rssPeak, rssBytes(pid))
  const cost = costOf(pid, cpuTicks(pid) - c0, threadSplit(pid, th0, threadTicks(pid)), res.requests, wallMs + drainMs)
  // Let the allocator and GC settle a moment before the "after" reading.
  await sleep(500)
  const rssAfter = rssBytes(pid)
  const m1 = await readMetrics(t.adminBase as string, 15_000)
  const MB = 1024 * 1024
  const out: LongRun = {
    mode: t.id,
    requested: plan.longRequests,
    completed: res.requests,
    durationS: res.durationS,
    rps: res.rps,
    errors: res.errors + res.non2xx,
    rssBeforeMB: rssBefore / MB,
    rssPeakMB: rssPeak / MB,
    rssAfterMB: rssAfter / MB,
    rssGrowthMB: (rssAfter - rssBefore) / MB,
    rssSeriesMB: series.map((v) => Math.round(v * 10) / 10),
    rssTroughGrowthMB: troughGrowth(series),
    cost,
    droppedDelta: m0 !== null && m1 !== null ? m1.dropped - m0.dropped + m1.shed - m0.shed : null,
    drainMs,
    note: res.requests < plan.longRequests ? `stopped at the ${plan.longMaxS} s bound after ${res.requests} requests` : ''
  }
  log(`long run: ${res.requests} requests at ${res.rps.toFixed(0)} req/s, RSS ${out.rssBeforeMB.toFixed(1)} → ${out.rssAfterMB.toFixed(1)} MB (peak ${out.rssPeakMB.toFixed(1)}, trough growth ${out.rssTroughGrowthMB.toFixed(1)}), ${cost.cpuUsPerReq.toFixed(1)} µs CPU/req, not recorded (dropped or shed) ${out.droppedDelta}`)
  return out
}

function troughGrowth (series: number[]): number {
  if (series.length < 8) return NaN
  const q = Math.floor(series.length / 4)
  return Math.min(...series.slice(-q)) - Math.min(...series.slice(0, q))
}

// ---- summaries -------------------------------------------------------------------------------

function summarizeRounds (targets: Target[], rounds: RoundResult[]): ModeSummary[] {
  const out: ModeSummary[] = []
  const pick = <T>(f: (r: RoundResult) => T | undefined): T[] => rounds.flatMap((r) => {
    const v = f(r)
    return v === undefined ? [] : [v]
  })
  for (const t of targets) {
    const s: ModeSummary = { id: t.id, label: t.label }
    const closed = pick((r) => r.closed[t.id])
    if (closed.length > 0) {
      s.rps = summarize(closed.map((c) => c.rps))
      s.loadCoreBusy = summarize(closed.map((c) => c.coreBusy[1] ?? NaN))
      if (t.pid !== null) s.targetCoreShare = summarize(closed.map((c) => c.cost?.coreShare ?? NaN))
      if (t.pid !== null) {
        s.cpuUsPerReq = summarize(closed.map((c) => c.cost?.cpuUsPerReq ?? NaN))
        s.mainUsPerReq = summarize(closed.map((c) => c.cost?.threadsUsPerReq.main ?? NaN))
        s.workerUsPerReq = summarize(closed.map((c) => c.cost?.threadsUsPerReq.busiestOther ?? NaN))
      }
      if (closed.every((c) => c.captureDropped !== null)) s.closedDroppedShare = closed.reduce((a, c) => a + (c.captureDropped ?? 0), 0) / Math.max(1, closed.reduce((a, c) => a + c.requests, 0))
    }
    const open = pick((r) => r.open[t.id])
    if (open.length > 0) {
      const added = (f: (o: OpenSample) => number): Summary => summarize(rounds.map((r) => {
        const mine = r.open[t.id]
        const direct = r.open.direct
        return mine !== undefined && direct !== undefined ? f(mine) - f(direct) : NaN
      }))
      s.open = {
        p50: summarize(open.map((o) => o.p50Ms)),
        p99: summarize(open.map((o) => o.p99Ms)),
        p999: summarize(open.map((o) => o.p999Ms)),
        addedP50: added((o) => o.p50Ms),
        addedP99: added((o) => o.p99Ms),
        addedP999: added((o) => o.p999Ms),
        coreShare: summarize(open.map((o) => o.cost?.coreShare ?? NaN)),
        sendLagP99: summarize(open.map((o) => o.sendLagP99Ms)),
        samples: open.reduce((a, o) => a + o.completed, 0),
        errors: open.reduce((a, o) => a + o.errors + o.non2xx + o.skipped + o.unfinished, 0),
        droppedShare: open.every((o) => o.captureDropped !== null)
          ? open.reduce((a, o) => a + (o.captureDropped ?? 0), 0) / Math.max(1, open.reduce((a, o) => a + o.captureOffered, 0))
          : null
      }
    }
    const addedSse = (key: 'ssePaced' | 'sseUnpaced', f: (x: SseSample) => number): Summary => summarize(rounds.map((r) => {
      const mine = r[key][t.id]
      const direct = r[key].direct
      return mine !== undefined && direct !== undefined ? f(mine) - f(direct) : NaN
    }))
    const paced = pick((r) => r.ssePaced[t.id])
    if (paced.length > 0) {
      s.ssePaced = {
        first: summarize(paced.map((p) => p.firstMs)),
        total: summarize(paced.map((p) => p.totalMs)),
        addedFirst: addedSse('ssePaced', (x) => x.firstMs),
        addedTotal: addedSse('ssePaced', (x) => x.totalMs),
        gapP50: summarize(paced.map((p) => p.gapP50Ms)),
        gapMax: summarize(paced.map((p) => p.gapMaxMs)),
        eventsPerRead: summarize(paced.map((p) => p.eventsPerRead))
      }
    }
    const unpaced = pick((r) => r.sseUnpaced[t.id])
    if (unpaced.length > 0) {
      s.sseUnpaced = {
        first: summarize(unpaced.map((p) => p.firstMs)),
        total: summarize(unpaced.map((p) => p.totalMs)),
        addedFirst: addedSse('sseUnpaced', (x) => x.firstMs),
        addedTotal: addedSse('sseUnpaced', (x) => x.totalMs)
      }
    }
    out.push(s)
  }
  return out
}

// ---- process lifetime ------------------------------------------------------------------------

let stopping = false
async function abort (code: number, why: string): Promise<void> {
  if (stopping) return
  stopping = true
  process.stderr.write(`bench: ${why}; stopping child processes\n`)
  const force = setTimeout(() => {
    killAllNow()
    process.exit(code)
  }, 4_000)
  force.unref()
  await stopAll(2_000)
  process.exit(code)
}

process.once('exit', killAllNow)
process.once('SIGINT', () => void abort(130, 'interrupted'))
process.once('SIGTERM', () => void abort(143, 'terminated'))
process.on('uncaughtException', (err) => void abort(1, `error: ${err.stack ?? err.message}`))
process.on('unhandledRejection', (err) => void abort(1, `error: ${(err as Error)?.stack ?? String(err)}`))

main().then((code) => {
  process.exitCode = code
}, (err: unknown) => void abort(1, `error: ${(err as Error)?.stack ?? String(err)}`))
