/**
 * Load generators: closed-loop throughput (autocannon), an open-loop generator with uniform
 * arrivals on a fixed timetable (latency from the *scheduled* send time, so a stalled target
 * cannot hide its stall — no coordinated omission), and an SSE client that timestamps chunks.
 */
import autocannon, { type Options as AutocannonOptions } from 'autocannon'
import { type Dispatcher, Pool } from 'undici'
import { COMPLETIONS_BODY, COMPLETIONS_HEADERS, COMPLETIONS_PATH, H_CHUNKS, H_INTERVAL, SSE_BODY, SSE_HEADERS, SSE_PATH } from './payloads.js'
import { percentile } from './stats.js'

// ---- closed loop ---------------------------------------------------------------------------

export interface ClosedLoopResult {
  rps: number
  requests: number
  durationS: number
  /** autocannon's latency (ms, its own resolution). */
  p50Ms: number
  p99Ms: number
  errors: number
  non2xx: number
}

export async function closedLoop (base: string, opts: { durationS?: number, amount?: number, connections: number, warmupS: number, timeoutS?: number }): Promise<ClosedLoopResult> {
  const o: AutocannonOptions = {
    url: base + COMPLETIONS_PATH,
    method: 'POST',
    headers: COMPLETIONS_HEADERS,
    body: COMPLETIONS_BODY,
    connections: opts.connections,
    timeout: opts.timeoutS ?? 10,
    // autocannon checks its stop flag once per sample: sample often so short runs end on time.
    sampleInt: 50
  }
  if (opts.amount !== undefined) o.amount = opts.amount
  else o.duration = opts.durationS ?? 1
  if (opts.warmupS > 0) o.warmup = { connections: opts.connections, duration: opts.warmupS }
  const inst = autocannon(o)
  // `amount` runs until done: bound it in time as well.
  let guard: NodeJS.Timeout | undefined
  if (opts.amount !== undefined && opts.durationS !== undefined) guard = setTimeout(() => inst.stop(), (opts.durationS + opts.warmupS) * 1000)
  const r = await inst
  clearTimeout(guard)
  const requests = r.requests.total
  return {
    rps: r.duration > 0 ? requests / r.duration : 0,
    requests,
    durationS: r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors,
    non2xx: r.non2xx
  }
}

// ---- open loop -----------------------------------------------------------------------------

export interface OpenLoopResult {
  offeredRps: number
  /** Completed responses per second of the window. */
  achievedRps: number
  sent: number
  completed: number
  errors: number
  non2xx: number
  /** Not sent: the in-flight cap was reached (the target had stalled). */
  skipped: number
  /** Not answered by the end of the window + timeout. */
  unfinished: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
  meanMs: number
  /** How late the generator itself sent, vs the timetable (timer granularity). */
  sendLagP50Ms: number
  sendLagP99Ms: number
}

const NO_SAMPLE = -1

/** A request whose only interest is when it ends, and how: status, or the error. */
export class TimedRequest implements Dispatcher.DispatchHandler {
  status = 0
  constructor (private readonly done: (status: number, err: Error | null) => void) {}
  onRequestStart (): void {}
  onResponseStart (_c: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode
  }

  onResponseData (): void {}
  onResponseEnd (): void {
    this.done(this.status, null)
  }

  onResponseError (_c: Dispatcher.DispatchController, err: Error): void {
    this.done(this.status, err)
  }
}

/** Raw outcome of one timetable run: latency samples (ms) and counters, mergeable across slices. */
export interface OpenLoopRaw {
  rate: number
  windowMs: number
  latencies: Float64Array
  lags: Float64Array
  sent: number
  completed: number
  errors: number
  non2xx: number
  skipped: number
  unfinished: number
}

/** Percentiles and rates over one or more raw runs (slices) at the same rate. */
export function summarizeOpen (parts: readonly OpenLoopRaw[]): OpenLoopResult {
  const all = parts.flatMap((p) => Array.from(p.latencies))
  const samples = all.sort((a, b) => a - b)
  const lagSorted = parts.flatMap((p) => Array.from(p.lags)).sort((a, b) => a - b)
  const sum = (f: (p: OpenLoopRaw) => number): number => parts.reduce((a, p) => a + f(p), 0)
  const windowMs = sum((p) => p.windowMs)
  return {
    offeredRps: parts[0]?.rate ?? 0,
    achievedRps: windowMs > 0 ? sum((p) => p.completed) / (windowMs / 1000) : 0,
    sent: sum((p) => p.sent),
    completed: sum((p) => p.completed),
    errors: sum((p) => p.errors),
    non2xx: sum((p) => p.non2xx),
    skipped: sum((p) => p.skipped),
    unfinished: sum((p) => p.unfinished),
    p50Ms: percentile(samples, 0.5),
    p90Ms: percentile(samples, 0.9),
    p99Ms: percentile(samples, 0.99),
    p999Ms: percentile(samples, 0.999),
    maxMs: samples.length > 0 ? (samples[samples.length - 1] as number) : NaN,
    meanMs: samples.length > 0 ? samples.reduce((a, b) => a + b, 0) / samples.length : NaN,
    sendLagP50Ms: percentile(lagSorted, 0.5),
    sendLagP99Ms: percentile(lagSorted, 0.99)
  }
}

/**
 * An open-loop generator bound to one target: a persistent undici Pool (up to `connections`,
 * no pipelining), so that a measurement can be cut into slices interleaved with other targets'.
 */
export class OpenLoop {
  private readonly pool: Pool
  constructor (base: string, private readonly opts: { connections?: number, maxInflight?: number, timeoutMs?: number } = {}) {
    this.pool = new Pool(base, {
      connections: opts.connections ?? 64,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs ?? 5_000,
      bodyTimeout: opts.timeoutMs ?? 5_000
    })
  }

  /** Requests at `rate`/s on a fixed timetable (request i due at t0 + i/rate) for `durationS`. */
  run (rate: number, durationS: number): Promise<OpenLoopRaw> {
    return runTimetable(this.pool, rate, durationS, this.opts)
  }

  close (): Promise<void> {
    return this.pool.destroy()
  }
}

/**
 * Requests at `rate`/s on a fixed timetable for `durationS`, after a `warmupS` warm-up at the
 * same rate (not recorded). Latency = response end − due time.
 */
export async function openLoop (base: string, opts: { rate: number, durationS: number, warmupS: number, connections?: number, maxInflight?: number, timeoutMs?: number }): Promise<OpenLoopResult> {
  const gen = new OpenLoop(base, opts)
  try {
    if (opts.warmupS > 0) await gen.run(opts.rate, opts.warmupS)
    return summarizeOpen([await gen.run(opts.rate, opts.durationS)])
  } finally {
    await gen.close()
  }
}

function runTimetable (pool: Pool, rate: number, durationS: number, opts: { maxInflight?: number, timeoutMs?: number }): Promise<OpenLoopRaw> {
  const total = Math.max(1, Math.round(rate * durationS))
  const interval = 1000 / rate
  const maxInflight = opts.maxInflight ?? 2_000
  const latencies = new Float64Array(total).fill(NO_SAMPLE)
  const lags = new Float64Array(total)
  let next = 0
  let inflight = 0
  let completed = 0
  let errors = 0
  let non2xx = 0
  let skipped = 0
  let lastEnd = 0
  const dispatchOpts: Dispatcher.DispatchOptions = { path: COMPLETIONS_PATH, method: 'POST', headers: COMPLETIONS_HEADERS, body: COMPLETIONS_BODY }
  const t0 = performance.now() + 2
  return new Promise((resolve) => {
    let finished = false
    const finish = (): void => {
      if (finished) return
      finished = true
      clearTimeout(deadline)
      resolve({
        rate,
        windowMs: Math.max(lastEnd, t0 + durationS * 1000) - t0,
        latencies: latencies.filter((v) => v !== NO_SAMPLE),
        lags: lags.slice(0, next),
        sent: next - skipped,
        completed,
        errors,
        non2xx,
        skipped,
        unfinished: next - skipped - completed - errors
      })
    }
    // Bounded: whatever has not come back by then counts as unfinished.
    const deadline = setTimeout(finish, durationS * 1000 + (opts.timeoutMs ?? 5_000) + 1_000)
    const fire = (i: number, due: number, now: number): void => {
      lags[i] = now - due
      if (inflight >= maxInflight) {
        skipped++
        return
      }
      inflight++
      pool.dispatch(dispatchOpts, new TimedRequest((status, err) => {
        inflight--
        if (finished) return
        const end = performance.now()
        lastEnd = end
        if (err !== null) errors++
        else {
          completed++
          if (status < 200 || status >= 300) non2xx++
          latencies[i] = end - due
        }
        if (next >= total && inflight === 0) finish()
      }))
    }
    const tick = (): void => {
      const now = performance.now()
      while (next < total) {
        const due = t0 + next * interval
        if (due > now) break
        fire(next, due, now)
        next++
      }
      if (next < total) setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()))
      else if (inflight === 0) finish()
    }
    setTimeout(tick, Math.max(0, t0 - performance.now()))
  })
}

// ---- SSE -----------------------------------------------------------------------------------

export interface StreamTiming {
  /** Request sent → first chunk carrying `data:`. */
  firstMs: number
  /** Request sent → end of the stream. */
  totalMs: number
  /** Reads (onData calls) that carried data. */
  reads: number
  /** `data:` events seen. */
  events: number
  /** Gaps between consecutive reads, ms. */
  gaps: number[]
  sawDone: boolean
}

class StreamRequest implements Dispatcher.DispatchHandler {
  private readonly t0 = performance.now()
  private first = NaN
  private last = NaN
  private reads = 0
  private events = 0
  private tail = ''
  private readonly gaps: number[] = []
  constructor (private readonly done: (r: StreamTiming | Error) => void) {}
  onRequestStart (): void {}
  onResponseStart (c: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode !== 200) c.abort(new Error(`SSE answered ${statusCode}`))
  }

  onResponseData (_c: Dispatcher.DispatchController, chunk: Buffer): void {
    const now = performance.now()
    const text = chunk.toString('latin1')
    const n = countData(text)
    if (n > 0 && Number.isNaN(this.first)) this.first = now
    if (!Number.isNaN(this.last)) this.gaps.push(now - this.last)
    this.last = now
    this.reads++
    this.events += n
    this.tail = (this.tail + text).slice(-64)
  }

  onResponseEnd (): void {
    this.done({ firstMs: this.first - this.t0, totalMs: performance.now() - this.t0, reads: this.reads, events: this.events, gaps: this.gaps, sawDone: this.tail.includes('data: [DONE]') })
  }

  onResponseError (_c: Dispatcher.DispatchController, err: Error): void {
    this.done(err)
  }
}

function countData (text: string): number {
  let n = 0
  let i = text.indexOf('data:')
  while (i >= 0) {
    n++
    i = text.indexOf('data:', i + 5)
  }
  return n
}

/** `count` streams one after another (each `chunks` long, paced every `intervalMs`). */
export async function sseStreams (base: string, opts: { count: number, chunks: number, intervalMs: number, warmup: number }): Promise<{ streams: StreamTiming[], errors: number }> {
  const pool = new Pool(base, { connections: 1, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 5_000, bodyTimeout: 5_000 })
  const headers = { ...SSE_HEADERS, [H_CHUNKS]: String(opts.chunks), [H_INTERVAL]: String(opts.intervalMs) }
  const one = (): Promise<StreamTiming | Error> => new Promise((resolve) => {
    pool.dispatch({ path: SSE_PATH, method: 'POST', headers, body: SSE_BODY }, new StreamRequest(resolve))
  })
  const streams: StreamTiming[] = []
  let errors = 0
  try {
    for (let i = 0; i < opts.warmup; i++) await one()
    for (let i = 0; i < opts.count; i++) {
      const r = await one()
      if (r instanceof Error || !r.sawDone) errors++
      else streams.push(r)
    }
  } finally {
    await pool.destroy()
  }
  return { streams, errors }
}
