/**
 * The store write rate of the capture pipeline (issue 5), measured on the pipeline itself rather
 * than through a proxy whose forwarding saturates first.
 *
 * The real `CapturePipeline` of the built proxy (dist/capture/pipeline.js: its worker thread, a
 * SQLite file, the default flush interval and max queue, exchange log lines to /dev/null) runs
 * inside the benchmark process. It is fed Observations the real data plane produced: the built
 * proxy (dist/app.js, default configuration) is started in-process against the bench upstream,
 * its route's sink swapped for one that keeps a copy of each Observation, and sent completions,
 * SSE streams and 404s. The feeder replays those with a fresh start time and a unique
 * correlation id each, in a fixed mix, from the main thread — exactly what the data plane hands
 * to `pipeline.record()`.
 *
 * Pinning: the benchmark process sits on the load core (core 1); the capture worker's thread is
 * moved to the proxy core (core 0) with `taskset -p`, so the feeder (main thread) and the worker
 * do not share a core. During this phase the other processes on core 0 (the default-mode proxy
 * kept for the long run) and on core 1 (the upstream) are idle.
 *
 * One pipeline, as configured by default (max_queue 20 000, flush every 25 ms):
 *   1. warm-up, then a "drain": N records (within max_queue and max_queue_bytes) offered as fast as possible;
 *      stored / wall time until written. The worker is never short of input: its ceiling.
 *   2. open-loop steps of uniform arrivals (a timetable, checked at ~1 ms timer ticks) at
 *      fractions of the drain rate plus the 20 000/s target; after each step the pipeline is
 *      drained (bounded) and its stats read: stored, dropped, backlog; CPU per thread from /proc.
 */
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { request } from 'undici'
import type * as AppModule from '../src/app.js'
import type * as PipelineModule from '../src/capture/pipeline.js'
import type { CapturePipeline } from '../src/capture/pipeline.js'
import type { WorkerInit } from '../src/capture/messages.js'
import type * as ConfigModule from '../src/config/load.js'
import type { Config } from '../src/config/types.js'
import type * as LoggerModule from '../src/log/logger.js'
import type * as BodySampleModule from '../src/proxy/body-sample.js'
import type { BodySample } from '../src/proxy/body-sample.js'
import type { Observation } from '../src/proxy/observation.js'
import { COMPLETIONS_BODY, COMPLETIONS_HEADERS, COMPLETIONS_PATH, H_CHUNKS, SSE_BODY, SSE_HEADERS, SSE_PATH } from './payloads.js'
import { type NoiseMeter, type Pinning, pinThread, taskIds, taskNs, threadAffinity } from './procs.js'

// ---- shapes ----------------------------------------------------------------------------------

export interface StorePlan {
  /** Offered rates of the steps, as fractions of the drain rate (the 20 000/s target is added). */
  steps: number[]
  stepS: number
  /** Records of the drain measurement, and of each pipeline's warm-up. */
  drainRecords: number
  warmupRecords: number
  /** Bound on each wait for the pipeline to drain, and on the whole phase. */
  drainMaxS: number
  maxS: number
}

/** CPU per record, µs: the capture worker thread, the main thread (feeder + record()/flush/clone), the process's other threads. */
export interface RecordCpu {
  worker: number | null
  main: number | null
  other: number | null
  /** Share of one core the worker thread used over the interval. */
  workerCoreShare: number | null
}

export interface StoreStep {
  /** Records/s the timetable offered, and what the feeder actually managed. */
  offered: number
  fedRps: number
  fed: number
  /** Written during the step window, per second of it. */
  storedRps: number
  /** Written by the end of the drain that followed. */
  stored: number
  dropped: number
  /** Records queued or in the worker at the end of the step, and the most seen during it. */
  backlogEnd: number
  backlogMax: number
  drainMs: number
  drained: boolean
  /** No drops, and at most one flush interval + 100 ms of arrivals left queued at the end of the step. */
  keptUp: boolean
  /** When it did not keep up: seconds until the backlog would reach max_queue (drops start), at the step's growth rate. */
  fullInS: number | null
  cpu: RecordCpu
  /** Foreign CPU load on the machine during the step (share of both cores), and the busy share of each core. */
  noise: number | null
  coreBusy: number[]
}

export interface StoreDrain {
  records: number
  maxQueue: number
  elapsedMs: number
  stored: number
  dropped: number
  storedRps: number
  drained: boolean
  cpu: RecordCpu
}

export interface StoreRate {
  method: string
  mix: string
  /** Observations captured from the proxy: count and mean sampled body bytes per kind. */
  templates: Record<Kind, { count: number, requestBytes: number, responseBytes: number }>
  flushIntervalMs: number
  maxQueue: number
  pinning: { workerCore: number | null, feederCore: number | null, ownCore: boolean, workerThreads: number, note: string }
  drain: StoreDrain | null
  steps: StoreStep[]
  /** Highest offered rate of a step that kept up (no drops, no backlog), and what it stored per second. */
  sustainedOffered: number | null
  sustainedStoredRps: number | null
  /** Highest offered rate of a step without drops (depends on max_queue and the step length). */
  highestNoDrops: number | null
  firstDropsAt: number | null
  stopReason: string
  /** Capture-thread CPU per exchange in the real proxy process (long run), as a cross-check. */
  proxyWorkerUsPerRecord: number | null
  elapsedS: number
  note: string
}

type Kind = 'completions' | 'sse' | 'notFound'

/** Per 18 exchanges: 15 completions, 2 SSE chat streams (20 chunks), 1 404. */
const MIX: Kind[] = Array.from({ length: 18 }, (_, i) => i === 5 || i === 11 ? 'sse' : i === 17 ? 'notFound' : 'completions')
export const MIX_TEXT = '15 code completions (1.5 KB JSON → 600 B JSON) : 2 SSE chat streams (20 chunks) : 1 404, interleaved'
const CAPTURE_COUNTS: Record<Kind, number> = { completions: 120, sse: 16, notFound: 8 }
export const TARGET_RPS = 20_000

// ---- helpers ---------------------------------------------------------------------------------

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves true once everything recorded is written or dropped, false after `ms`. */
async function drainWithin (p: CapturePipeline, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([p.drain().then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** CPU of this process's threads: the pipeline's (started after `baseline` was taken), the main thread, the rest. */
class ThreadCpu {
  private readonly pid = process.pid
  constructor (private readonly baseline: Set<string>) {}

  pipelineTids (): string[] {
    return taskIds(this.pid).filter((t) => !this.baseline.has(t))
  }

  sample (): { at: number, pipeline: number, main: number, total: number } | null {
    const tids = taskIds(this.pid)
    if (tids.length === 0) return null
    let pipeline = 0
    let total = 0
    let main = 0
    for (const tid of tids) {
      const ns = taskNs(this.pid, tid) ?? 0
      total += ns
      if (tid === String(this.pid)) main = ns
      else if (!this.baseline.has(tid)) pipeline += ns
    }
    return { at: performance.now(), pipeline, main, total }
  }
}

function perRecord (a: ReturnType<ThreadCpu['sample']>, b: ReturnType<ThreadCpu['sample']>, records: number): RecordCpu {
  if (a === null || b === null || records <= 0) return { worker: null, main: null, other: null, workerCoreShare: null }
  const worker = b.pipeline - a.pipeline
  const main = b.main - a.main
  const other = (b.total - a.total) - worker - main
  const wallNs = (b.at - a.at) * 1e6
  return { worker: worker / 1e3 / records, main: main / 1e3 / records, other: Math.max(0, other) / 1e3 / records, workerCoreShare: wallNs > 0 ? worker / wallNs : null }
}

// ---- the observations: captured from the real data plane -------------------------------------

export interface Dist {
  app: typeof AppModule
  config: typeof ConfigModule
  logger: typeof LoggerModule
  pipeline: typeof PipelineModule
  body: typeof BodySampleModule
}

/** The URL of a module of the build (dist/), as the proxy runs it. */
export function distUrl (root: string, path: string): string {
  return pathToFileURL(join(root, 'dist', path)).href
}

export async function loadDist (root: string): Promise<Dist> {
  const url = (p: string): string => distUrl(root, p)
  return {
    app: await import(url('app.js')) as typeof AppModule,
    config: await import(url('config/load.js')) as typeof ConfigModule,
    logger: await import(url('log/logger.js')) as typeof LoggerModule,
    pipeline: await import(url('capture/pipeline.js')) as typeof PipelineModule,
    body: await import(url('proxy/body-sample.js')) as typeof BodySampleModule
  }
}

function cloneSample (dist: Dist, s: BodySample): BodySample {
  const c = new dist.body.BodySample(s.headLimit, s.tailLimit)
  for (const b of s.head) c.add(Buffer.from(b))
  for (const b of s.tail) c.add(Buffer.from(b))
  c.total = s.total
  return c
}

/** A deep copy: nothing the data plane might still touch is shared with it. */
function cloneObservation (dist: Dist, o: Observation): Observation {
  return {
    ...o,
    requestHeaders: [...o.requestHeaders],
    responseHeaders: o.responseHeaders === null ? null : [...o.responseHeaders],
    requestBody: cloneSample(dist, o.requestBody),
    responseBody: cloneSample(dist, o.responseBody),
    failure: o.failure === null ? null : { ...o.failure },
    proxyAnswered: o.proxyAnswered === null ? null : { ...o.proxyAnswered }
  }
}

function kindOf (o: Observation): Kind {
  return o.url === COMPLETIONS_PATH && o.status === 200 ? 'completions' : o.url === SSE_PATH && o.status === 200 ? 'sse' : 'notFound'
}

/** The default configuration, as the benchmark's default-mode proxy gets it. */
export function benchConfig (dist: Dist, upstreamPort: number, db: string, logLevel?: string): Config {
  return dist.config.loadConfig({
    env: {},
    flags: { listen: '127.0.0.1:0', upstream: `http://127.0.0.1:${upstreamPort}`, admin: 'off', db, ...(logLevel !== undefined ? { logLevel } : {}) }
  })
}

export async function captureObservations (dist: Dist, upstreamPort: number, dir: string): Promise<Record<Kind, Observation[]>> {
  const config = benchConfig(dist, upstreamPort, join(dir, 'capture-set.db'), 'silent')
  const proxy = await dist.app.startProxy(config, dist.logger.createLogger('silent', '/dev/null'))
  const got: Record<Kind, Observation[]> = { completions: [], sse: [], notFound: [] }
  try {
    const route = proxy.routes[0]
    if (route === undefined) throw new Error('the proxy started no route')
    route.runtime.sink = { record: (o) => { got[kindOf(o)].push(cloneObservation(dist, o)) } }
    const base = `http://127.0.0.1:${route.address.port}`
    const send = async (path: string, headers: Record<string, string>, body: Buffer): Promise<void> => {
      const res = await request(base + path, { method: 'POST', headers, body })
      await res.body.arrayBuffer()
    }
    const deadline = performance.now() + 10_000
    for (let i = 0; i < CAPTURE_COUNTS.completions && performance.now() < deadline; i++) {
      await send(COMPLETIONS_PATH, COMPLETIONS_HEADERS, COMPLETIONS_BODY)
      if (i < CAPTURE_COUNTS.sse) await send(SSE_PATH, { ...SSE_HEADERS, [H_CHUNKS]: '20' }, SSE_BODY)
      if (i < CAPTURE_COUNTS.notFound) await send('/v2/code/nope', COMPLETIONS_HEADERS, COMPLETIONS_BODY)
    }
    // Observations are handed over as each exchange ends, possibly just after the response.
    const want = CAPTURE_COUNTS.completions + CAPTURE_COUNTS.sse + CAPTURE_COUNTS.notFound
    while (got.completions.length + got.sse.length + got.notFound.length < want && performance.now() < deadline) await sleep(5)
  } finally {
    await proxy.close('bench capture set taken')
  }
  for (const k of ['completions', 'sse', 'notFound'] as const) {
    if (got[k].length === 0) throw new Error(`no ${k} observation was captured from the proxy`)
  }
  return got
}

/** Replays the captured observations in the mix, each with its own start time and correlation id. */
export class Feeder {
  private i = 0
  private readonly next = { completions: 0, sse: 0, notFound: 0 }
  constructor (private readonly sets: Record<Kind, Observation[]>) {}

  make (): Observation {
    const kind = MIX[this.i % MIX.length] as Kind
    const list = this.sets[kind]
    const tpl = list[this.next[kind]++ % list.length] as Observation
    this.i++
    // Start times at most 20 000 a second (the target rate), never behind the clock: a burst
    // stamped with one millisecond made thousands of requests concurrent, which no proxy at
    // saturation sees (the closed loop keeps 10 in flight), and made linking compare every
    // model call with every gateway request of the burst.
    this.clock = Math.max(Date.now(), this.clock + 0.05)
    // Unique and increasing, 26 characters like a GitLab (ULID) correlation id.
    return { ...tpl, startedAt: Math.floor(this.clock), correlationId: '01JSTORE' + String(this.i).padStart(18, '0') }
  }

  private clock = 0

  /** `n` records at once, in chunks, yielding between them so the worker's replies are handled. */
  async burst (p: CapturePipeline, n: number): Promise<void> {
    for (let done = 0; done < n;) {
      const upTo = Math.min(n, done + 2_000)
      for (; done < upTo; done++) p.record(this.make())
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }
}

/** The capture worker's settings for the default configuration; its log lines go to /dev/null. */
export function benchWorkerInit (config: Config): WorkerInit {
  return {
    storeLocation: config.store.path,
    proxyInstance: config.proxyInstance,
    retention: config.store.retention,
    logLevel: config.log.level,
    // The proxies under test log to stdout = /dev/null; this process's stdout is the report.
    logFile: '/dev/null',
    verbose: config.capture.bodies,
    redactionAdd: config.capture.redaction.add,
    redactionRemove: config.capture.redaction.remove,
    errorBodyBytes: config.capture.errorBodyBytes,
    threadNice: config.capture.threadNice,
    routes: config.routes.map((r) => [r.name, { hop: r.hop, timeouts: r.timeouts, slow: r.slow, insecureTls: r.tls.insecureSkipVerify }]),
    expectedIssuer: config.diagnosis.expectedGitlabUrl,
    clockSkewS: config.diagnosis.clockSkewS,
    gatewayModelTimeoutsS: config.diagnosis.gatewayModelTimeoutsS,
    pruneIntervalMs: 60_000,
    otel: config.otel
  }
}

// ---- the measurement -------------------------------------------------------------------------

export interface StoreRateContext {
  root: string
  upstreamPort: number
  dir: string
  pinning: Pinning
  plan: StorePlan
  noise: NoiseMeter
  log: (msg: string) => void
}

export async function measureStoreRate (ctx: StoreRateContext): Promise<StoreRate> {
  const t0 = performance.now()
  const deadline = t0 + ctx.plan.maxS * 1000
  const dist = await loadDist(ctx.root)
  ctx.log(`store rate: dist/ loaded in ${(performance.now() - t0).toFixed(0)} ms`)
  const sets = await captureObservations(dist, ctx.upstreamPort, ctx.dir)
  const feeder = new Feeder(sets)
  const mean = (xs: number[]): number => xs.length > 0 ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : 0
  const templates = Object.fromEntries((['completions', 'sse', 'notFound'] as const).map((k) => [k, {
    count: sets[k].length,
    requestBytes: mean(sets[k].map((o) => o.requestBody.headBytes + o.requestBody.tailBytes)),
    responseBytes: mean(sets[k].map((o) => o.responseBody.headBytes + o.responseBody.tailBytes))
  }])) as StoreRate['templates']
  ctx.log(`store rate: ${sets.completions.length} completions, ${sets.sse.length} SSE, ${sets.notFound.length} 404 observations captured from the proxy`)

  const config = benchConfig(dist, ctx.upstreamPort, join(ctx.dir, 'store-rate.db'))
  const init = benchWorkerInit(config)
  const logger = dist.logger.createLogger('error', '/dev/stderr')
  const pin = ctx.pinning.enabled && ctx.pinning.proxyCore !== null ? ctx.pinning.proxyCore : null
  const pinNotes: string[] = []
  let ownCore = pin !== null
  let workerThreads = 0

  /** Starts a pipeline and moves its thread(s) to the proxy core; returns the CPU sampler too. */
  const start = async (maxQueue: number): Promise<{ p: CapturePipeline, cpu: ThreadCpu }> => {
    // The libuv pool serves every thread (pino's async writes): start it here, on the feeder's core.
    await fsp.stat(ctx.dir)
    const cpu = new ThreadCpu(new Set(taskIds(process.pid)))
    const p = await dist.pipeline.CapturePipeline.start({ init, flushIntervalMs: config.store.flushIntervalMs, maxQueue, maxQueueBytes: config.store.maxQueueBytes, maxQueueHealthy: maxQueue, logger })
    const tids = cpu.pipelineTids()
    workerThreads = tids.length
    if (pin !== null) {
      for (const tid of tids) {
        if (!pinThread(tid, pin) || threadAffinity(tid) !== String(pin)) {
          ownCore = false
          pinNotes.push(`could not pin thread ${tid} to core ${pin}`)
        }
      }
    }
    if (tids.length === 0) {
      ownCore = false
      pinNotes.push('the worker thread was not found in /proc: no per-thread CPU, not pinned')
    }
    return { p, cpu }
  }
  const close = async (p: CapturePipeline): Promise<void> => {
    // Bounded: a worker that never exits keeps this process alive (the watchdog then ends it).
    let timer: NodeJS.Timeout | undefined
    await Promise.race([p.close(), new Promise<void>((resolve) => { timer = setTimeout(resolve, 10_000) })])
    clearTimeout(timer)
  }

  let drain: StoreDrain | null = null
  const steps: StoreStep[] = []
  let stopReason = ''
  const drainMs = ctx.plan.drainMaxS * 1000

  // One pipeline, the default max_queue: warm-up, the drain, then the steps.
  const maxQueue = config.store.maxQueue
  // Offered at once, the records must fit both queue bounds (count and bytes held), or the
  // drain measures drops rather than the writer.
  const mixHeld = MIX.map((k) => sets[k][0] as Observation).reduce((a, o) => a + dist.pipeline.heldBytes(o), 0) / MIX.length
  const fitting = Math.min(maxQueue - 1_000, Math.floor((0.9 * config.store.maxQueueBytes) / mixHeld))
  const drainRecords = Math.max(1, Math.min(ctx.plan.drainRecords, fitting))
  const { p, cpu } = await start(maxQueue)
  try {
    // ---- warm-up (V8 needs some thousands of records to settle), not measured -------------
    await feeder.burst(p, Math.min(ctx.plan.warmupRecords, fitting))
    if (!await drainWithin(p, drainMs)) throw new Error(`warm-up not written within ${ctx.plan.drainMaxS} s`)
    ctx.log(`store rate: pipeline warmed up (${ctx.plan.warmupRecords} records)`)

    // ---- 1. drain: as fast as possible, all of it within the queue bounds --------------------
    const s0 = { ...p.stats }
    const c0 = cpu.sample()
    const w0 = performance.now()
    await feeder.burst(p, drainRecords)
    const drained = await drainWithin(p, drainMs)
    const elapsedMs = performance.now() - w0
    const c1 = cpu.sample()
    const stored = p.stats.stored - s0.stored
    drain = {
      records: drainRecords,
      maxQueue,
      elapsedMs,
      stored,
      dropped: p.stats.dropped - s0.dropped,
      storedRps: stored / (elapsedMs / 1000),
      drained,
      cpu: perRecord(c0, c1, stored)
    }
    ctx.log(`store rate drain: ${stored} of ${drainRecords} records written in ${elapsedMs.toFixed(0)} ms = ${drain.storedRps.toFixed(0)}/s${drained ? '' : ' (NOT drained in time)'}, worker ${drain.cpu.worker?.toFixed(1) ?? '?'} µs CPU/record (${((drain.cpu.workerCoreShare ?? 0) * 100).toFixed(0)}% of its core)`)
    if (!drained) throw new Error(`the drain's records were not written within ${ctx.plan.drainMaxS} s`)

    // ---- 2. steps: open loop, uniform arrivals ---------------------------------------------
    const base = drain.storedRps
    const rates = [...new Set([...ctx.plan.steps.map((f) => Math.max(500, Math.round((f * base) / 500) * 500)), TARGET_RPS])].sort((a, b) => a - b)
    stopReason = `every step run (highest ${rates[rates.length - 1]}/s)`
    for (const rate of rates) {
      if (performance.now() + (ctx.plan.stepS + 1) * 1000 > deadline) {
        stopReason = `stopped before ${rate}/s: the phase's ${ctx.plan.maxS} s bound`
        break
      }
      const step = await offer(p, feeder, cpu, rate, ctx, { maxQueue, drainMs, flushIntervalMs: config.store.flushIntervalMs })
      steps.push(step)
      const cpuText = step.cpu.worker !== null ? `, worker ${step.cpu.worker.toFixed(1)} µs CPU/record (${((step.cpu.workerCoreShare ?? 0) * 100).toFixed(0)}% of its core), main ${step.cpu.main?.toFixed(1)} µs` : ''
      ctx.log(`store rate ${rate}/s: fed ${step.fedRps.toFixed(0)}/s, stored ${step.storedRps.toFixed(0)}/s in the step, backlog ${step.backlogEnd} at its end, drained in ${step.drainMs.toFixed(0)} ms, dropped ${step.dropped}${cpuText}${step.noise !== null ? `, foreign load ${(step.noise * 100).toFixed(0)}%` : ''}${step.keptUp ? '' : ' — did not keep up'}`)
      if (step.dropped > 0) {
        stopReason = `dropped records at ${rate}/s offered`
        break
      }
      if (!step.drained) {
        stopReason = `backlog of the ${rate}/s step not written within ${ctx.plan.drainMaxS} s`
        break
      }
    }
  } catch (err) {
    stopReason = `failed: ${(err as Error).message}`
  } finally {
    await close(p)
  }

  const kept = steps.filter((s) => s.keptUp)
  const best = kept.length > 0 ? kept.reduce((a, b) => b.offered > a.offered ? b : a) : null
  const noDrops = steps.filter((s) => s.dropped === 0)
  const dropStep = steps.find((s) => s.dropped > 0)
  const pinNote = pin === null
    ? `capture worker not pinned (${ctx.pinning.note}): it shares the cores with the feeder as the scheduler decides`
    : ownCore
      ? `capture worker thread pinned to core ${pin} (taskset -p on its thread id), alone there but for the idle default-mode proxy kept for the long run; the feeder (main thread), V8's helper threads and the libuv pool on core ${ctx.pinning.loadCore} with the idle upstream`
      : `capture worker pinning failed (${pinNotes.join('; ')}): it may share a core with the feeder`
  return {
    method: 'the real CapturePipeline of dist/ (worker thread + SQLite file, default flush interval and max_queue) in the benchmark process, fed Observations captured from the built proxy, from the main thread',
    mix: MIX_TEXT,
    templates,
    flushIntervalMs: config.store.flushIntervalMs,
    maxQueue: config.store.maxQueue,
    pinning: { workerCore: pin, feederCore: ctx.pinning.enabled ? ctx.pinning.loadCore : null, ownCore, workerThreads, note: pinNote },
    drain,
    steps,
    sustainedOffered: best?.offered ?? null,
    sustainedStoredRps: best?.storedRps ?? null,
    highestNoDrops: noDrops.length > 0 ? Math.max(...noDrops.map((s) => s.offered)) : null,
    firstDropsAt: dropStep?.offered ?? null,
    stopReason,
    proxyWorkerUsPerRecord: null,
    elapsedS: (performance.now() - t0) / 1000,
    note: `kept up = no drops and at most ${config.store.flushIntervalMs} + 100 ms of arrivals (a flush interval and a batch being written) still queued at the end of the step; above the rate the worker writes, the queue grows until max_queue (${config.store.maxQueue}) and drops start then, so a short step can end without drops and still not be sustainable (see fullInS)`
  }
}

async function offer (p: CapturePipeline, feeder: Feeder, cpu: ThreadCpu, rate: number, ctx: StoreRateContext, o: { maxQueue: number, drainMs: number, flushIntervalMs: number }): Promise<StoreStep> {
  const { maxQueue, drainMs } = o
  const total = Math.max(1, Math.round(rate * ctx.plan.stepS))
  const s0 = { ...p.stats }
  const c0 = cpu.sample()
  ctx.noise.start()
  const w0 = performance.now()
  const hardEnd = w0 + ctx.plan.stepS * 1000 + 1_000
  let fed = 0
  let backlogMax = 0
  // Arrival k is due at w0 + k / rate; each timer tick (≈ 1 ms) sends what is due by then.
  while (fed < total) {
    const now = performance.now()
    if (now > hardEnd) break
    const due = Math.min(total, Math.floor(((now - w0) / 1000) * rate) + 1)
    for (; fed < due; fed++) p.record(feeder.make())
    const q = p.getStats().queued
    if (q > backlogMax) backlogMax = q
    if (fed < total) await sleep(1)
  }
  const w1 = performance.now()
  const windowS = (w1 - w0) / 1000
  const storedInWindow = p.stats.stored - s0.stored
  const backlogEnd = p.getStats().queued
  const drained = await drainWithin(p, drainMs)
  const w2 = performance.now()
  const noise = ctx.noise.stop()
  const c1 = cpu.sample()
  const stored = p.stats.stored - s0.stored
  const dropped = p.stats.dropped - s0.dropped
  // Kept up: what is still queued at the end is what arrived since the last flush, plus the batch being written.
  const keptUp = dropped === 0 && backlogEnd <= ((o.flushIntervalMs + 100) / 1000) * rate
  const growth = backlogEnd / windowS
  return {
    offered: rate,
    fedRps: fed / windowS,
    fed,
    storedRps: storedInWindow / windowS,
    stored,
    dropped,
    backlogEnd,
    backlogMax,
    drainMs: w2 - w1,
    drained,
    keptUp,
    // The backlog grew from ~0 at this rate: it reaches max_queue after maxQueue / growth seconds.
    fullInS: keptUp || growth <= 0 ? null : maxQueue / growth,
    cpu: perRecord(c0, c1, stored),
    noise,
    coreBusy: ctx.noise.coreBusy
  }
}
