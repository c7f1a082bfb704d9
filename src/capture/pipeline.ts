import { once } from 'node:events'
import { stat } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../log/logger.js'
import type { Observation, ObservationSink } from '../proxy/observation.js'
import { parseStoreLocation, StoreOpenError } from '../store/store.js'
import type { ExchangeFilter, Page, PageRequest, StoreReader } from '../store/types.js'
import { InvalidCursorError } from '../store/types.js'
import type { Summary, TimeSeries } from '../store/summary.js'
import type { Trace } from '../store/trace.js'
import type { LogEvent } from '../logs/event.js'
import type { LogEventFilter, LogEventPage } from '../store/log-event-sql.js'
import type { Exchange } from './exchange.js'
import type { BatchResult, ExchangeSummary } from './engine.js'
import type { FromWorker, StoreOp, ToWorker, WorkerInit } from './messages.js'
import type { RouteSettings } from './build.js'
import { type ObservationRecord, toRecord } from './record.js'
import { healthySummary } from './shed.js'

export interface PipelineOptions {
  init: WorkerInit
  flushIntervalMs: number
  /** Observations queued or in the worker; past this, new ones are dropped and counted. */
  maxQueue: number
  /** The same bound in bytes of body samples held (large prompts must not grow memory unbounded). */
  maxQueueBytes: number
  /** Healthy observations (src/capture/shed.ts) are queued only while fewer than this wait; failures up to maxQueue. */
  maxQueueHealthy: number
  logger: Logger
  onSummaries?: (summaries: ExchangeSummary[]) => void
}

export interface CaptureStats {
  /** Written to the store. */
  stored: number
  /** Lost: queue full, store write failed, or capture failed on them. */
  dropped: number
  droppedQueueFull: number
  droppedStoreError: number
  captureErrors: number
  /** Healthy exchanges not recorded because the queue was past maxQueueHealthy (the metrics count them). */
  shed: number
  queued: number
  storeError: string | null
}

const BATCH_MAX = 1_000

/** A reported exchange could not be recorded now: the queue is full, the store failing, the proxy stopping. */
export class CaptureUnavailableError extends Error {
  readonly code = 'capture_unavailable'
}

/**
 * What a queued observation holds besides its body sample bytes, measured (bench, 20 000 code
 * completions held): ~2.9 KB of heap (header strings, the objects) and ~1.2 KB of the socket
 * reads its body chunks are views of. At 1 KiB the 64 MiB default bound held ~130 MB.
 */
const RECORD_OVERHEAD_BYTES = 4_096

/** The memory a queued observation keeps alive, for the queue's byte bound. */
export function heldBytes (obs: Observation): number {
  const req = obs.requestBody
  const res = obs.responseBody
  return req.headBytes + req.tailBytes + res.headBytes + res.tailBytes + RECORD_OVERHEAD_BYTES
}

/** The same for a record already flattened (a reported replay). */
function recordBytes (r: ObservationRecord): number {
  const req = r.requestBody
  const res = r.responseBody
  return req.head.byteLength + req.tail.byteLength + res.head.byteLength + res.tail.byteLength + RECORD_OVERHEAD_BYTES
}

const FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(FROM_SOURCE ? './worker.ts' : './worker.js', import.meta.url)
const READER_URL = new URL(FROM_SOURCE ? './reader-worker.ts' : './reader-worker.js', import.meta.url)

/**
 * Built, the worker is plain JS. From source (tests run under tsx), a worker thread does not
 * inherit tsx's loader hooks, so a tiny bootstrap registers them in the worker first.
 */
function newWorker (init: WorkerInit, url: URL = WORKER_URL): Worker {
  if (!FROM_SOURCE) return new Worker(url, { workerData: init })
  const tsx = import.meta.resolve('tsx/esm/api')
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}) })`
  return new Worker(bootstrap, { eval: true, workerData: init })
}

/** Reads a separate connection can answer: a SQLite file (not :memory:, which only its connection sees). */
function hasReader (location: string): boolean {
  try {
    const loc = parseStoreLocation(location)
    return loc.kind === 'sqlite' && loc.path !== ':memory:'
  } catch {
    return false
  }
}

/** The store ops answered by the query thread when there is one; the others are the capture thread's. */
const READS = new Set<StoreOp['op']>(['list', 'get', 'count', 'trace', 'summary', 'timeseries', 'logEvents', 'listLogEvents'])

/**
 * The data plane's sink: queues observations (O(1), bounded), ships them in batches to the
 * capture worker, and answers store queries through it — reads through the query thread when
 * the store is a SQLite file (src/capture/reader-worker.ts). Fails open everywhere: a full queue,
 * a failing store or a dead worker loses records — counted — never traffic.
 */
export class CapturePipeline implements ObservationSink, StoreReader {
  private pending: Observation[] = []
  private inWorker = 0
  /** Bytes held by observations queued here or in the worker. */
  private queuedBytes = 0
  private readonly batchBytes = new Map<number, number>()
  private timer: NodeJS.Timeout | null = null
  private batchSeq = 0
  private readonly batchSizes = new Map<number, number>()
  private queryId = 0
  private readonly queries = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, reader: boolean }>()
  private closing = false
  private readonly tailListeners = new Set<(ex: Exchange) => void>()
  private drainWaiters: Array<() => void> = []
  /** Shed exchanges' summaries, for the metrics with the next flush. */
  private shedSummaries: ExchangeSummary[] = []
  /** Reported exchanges waiting for their batch to be written, by batch. */
  private readonly ingests = new Map<number, { resolve: (ex: Exchange) => void, reject: (e: Error) => void }>()
  readonly stats: CaptureStats = { stored: 0, dropped: 0, droppedQueueFull: 0, droppedStoreError: 0, captureErrors: 0, shed: 0, queued: 0, storeError: null }
  private readonly routes: ReadonlyMap<string, RouteSettings>

  private constructor (private worker: Worker, private readonly opts: PipelineOptions, private reader: Worker | null = null) {
    this.routes = new Map(opts.init.routes)
    this.attach(worker)
    if (reader !== null) this.attachReader(reader)
  }

  /** Starts the capture worker; rejects with StoreOpenError when the store cannot be opened. */
  static async start (opts: PipelineOptions): Promise<CapturePipeline> {
    // libuv's thread pool (DNS lookups, file writes) is created by the first thread that uses it,
    // and its threads inherit that thread's priority. The capture thread lowers its own (see
    // worker.ts): make sure the pool is this thread's, at normal priority, before it starts.
    await stat(import.meta.dirname)
    const worker = await spawn(opts.init)
    // After the capture thread: it created and migrated the file the reader opens.
    let reader: Worker | null = null
    if (hasReader(opts.init.storeLocation)) {
      try {
        reader = await spawn(opts.init, READER_URL)
      } catch (err) {
        opts.logger.warn({ err: { message: (err as Error).message } }, 'no query thread: the capture thread answers queries')
      }
    }
    return new CapturePipeline(worker, opts, reader)
  }

  record (obs: Observation): void {
    const bytes = heldBytes(obs)
    const waiting = this.pending.length + this.inWorker
    // Past the healthy bound, a saturated core's capacity goes to failures first: a burst of
    // successes must not leave a backlog that holds the core long after it (issue 20). A bound
    // at max_queue (or above) treats every exchange alike.
    if (waiting >= this.opts.maxQueueHealthy && this.opts.maxQueueHealthy < this.opts.maxQueue && !this.closing && this.shed(obs)) return
    if (waiting >= this.opts.maxQueue || this.queuedBytes + bytes > this.opts.maxQueueBytes || this.closing) {
      this.stats.dropped++
      this.stats.droppedQueueFull++
      return
    }
    this.queuedBytes += bytes
    this.pending.push(obs)
    if (this.pending.length >= BATCH_MAX) this.flush()
    else if (this.timer === null) this.timer = setTimeout(this.flushTimer, this.opts.flushIntervalMs)
  }

  /** Sheds a healthy observation, counted in the request metrics; false when it must be kept. */
  private shed (obs: Observation): boolean {
    const summary = healthySummary(obs, this.routes.get(obs.route))
    if (summary === null) return false
    this.stats.shed++
    this.shedSummaries.push(summary)
    if (this.shedSummaries.length >= BATCH_MAX) this.reportShed()
    else if (this.timer === null) this.timer = setTimeout(this.flushTimer, this.opts.flushIntervalMs)
    return true
  }

  private reportShed (): void {
    if (this.shedSummaries.length === 0) return
    const summaries = this.shedSummaries
    this.shedSummaries = []
    this.summarize(summaries)
  }

  private summarize (summaries: ExchangeSummary[]): void {
    try {
      this.opts.onSummaries?.(summaries)
    } catch (err) {
      this.opts.logger.error({ err: { message: (err as Error).message } }, 'metrics update failed')
    }
  }

  /**
   * Records an exchange no route carried — a replay `duo-diag-proxy replay` sent straight to its
   * target — as live ones are: built (redaction, metadata, diagnosis), written and logged by the
   * capture worker, in a batch of its own. Resolves with the exchange as written.
   */
  ingest (record: ObservationRecord): Promise<Exchange> {
    const bytes = recordBytes(record)
    if (this.closing) return Promise.reject(new CaptureUnavailableError('the proxy is stopping'))
    if (this.pending.length + this.inWorker >= this.opts.maxQueue || this.queuedBytes + bytes > this.opts.maxQueueBytes) {
      return Promise.reject(new CaptureUnavailableError('the capture queue is full: try again shortly'))
    }
    this.queuedBytes += bytes
    const seq = ++this.batchSeq
    this.batchSizes.set(seq, 1)
    this.batchBytes.set(seq, bytes)
    this.inWorker += 1
    return new Promise<Exchange>((resolve, reject) => {
      this.ingests.set(seq, { resolve, reject })
      this.post({ type: 'batch', seq, records: [record], returnExchanges: true })
    })
  }

  private readonly flushTimer = (): void => {
    this.timer = null
    this.flush()
  }

  private flush (): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    this.reportShed()
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    const records = []
    let bytes = 0
    for (const obs of batch) {
      const held = heldBytes(obs)
      try {
        records.push(toRecord(obs))
        bytes += held
      } catch {
        this.queuedBytes -= held
        this.stats.captureErrors++
        this.stats.dropped++
      }
    }
    const seq = ++this.batchSeq
    this.batchSizes.set(seq, records.length)
    this.batchBytes.set(seq, bytes)
    this.inWorker += records.length
    this.post({ type: 'batch', seq, records })
  }

  private post (msg: ToWorker): void {
    try {
      this.worker.postMessage(msg)
    } catch (err) {
      this.opts.logger.error({ err: { message: (err as Error).message } }, 'could not hand records to the capture worker')
      if (msg.type === 'batch') this.settleBatch(msg.seq, msg.records.length)
    }
  }

  /** A batch left the worker: `storeLost` records failed to be written, `captureLost` to be built. */
  private settleBatch (seq: number, storeLost: number, captureLost = 0): void {
    // A reported exchange not answered by now was lost with its batch (the worker restarted).
    const waiter = this.ingests.get(seq)
    if (waiter !== undefined) {
      this.ingests.delete(seq)
      waiter.reject(new CaptureUnavailableError('the capture worker restarted before writing it'))
    }
    const n = this.batchSizes.get(seq) ?? 0
    this.batchSizes.delete(seq)
    this.inWorker -= n
    this.queuedBytes -= this.batchBytes.get(seq) ?? 0
    this.batchBytes.delete(seq)
    this.stats.dropped += storeLost + captureLost
    this.stats.droppedStoreError += storeLost
    this.wakeDrainWaiters()
  }

  private attach (worker: Worker): void {
    worker.on('message', (msg: FromWorker) => this.onMessage(msg))
    worker.on('error', (err) => {
      this.opts.logger.error({ err: { message: err.message, stack: err.stack } }, 'capture worker failed')
    })
    worker.on('exit', (code) => {
      if (this.closing) return
      // Everything the worker held is lost; count it, and start a fresh worker.
      for (const seq of [...this.batchSizes.keys()]) this.settleBatch(seq, this.batchSizes.get(seq) ?? 0)
      for (const [id, q] of this.queries) {
        if (q.reader) continue
        this.queries.delete(id)
        q.reject(new Error('capture worker restarted'))
      }
      this.opts.logger.error({ exit_code: code }, 'capture worker exited; restarting it')
      setTimeout(() => {
        spawn(this.opts.init).then((w) => {
          this.worker = w
          this.attach(w)
          if (this.tailListeners.size > 0) this.post({ type: 'tail', on: true })
        }, (err: Error) => this.opts.logger.error({ err: { message: err.message } }, 'capture worker could not restart: capture is off'))
      }, 1_000).unref()
    })
  }

  /** The query thread: if it fails, the capture thread answers queries again. */
  private attachReader (reader: Worker): void {
    reader.on('message', (msg: FromWorker) => {
      if (msg.type === 'reply') this.onMessage(msg)
    })
    reader.on('error', (err) => {
      this.opts.logger.error({ err: { message: err.message, stack: err.stack } }, 'query thread failed')
    })
    reader.on('exit', (code) => {
      if (this.reader !== reader) return
      this.reader = null
      if (this.closing) return
      for (const [id, q] of this.queries) {
        if (!q.reader) continue
        this.queries.delete(id)
        q.reject(new Error('query thread exited'))
      }
      this.opts.logger.error({ exit_code: code }, 'query thread exited: the capture thread answers queries')
    })
  }

  private onMessage (msg: FromWorker): void {
    switch (msg.type) {
      case 'batch-done': {
        const r = msg.result
        this.answerIngest(msg.seq, r, msg.exchanges)
        this.stats.stored += r.stored
        this.stats.captureErrors += r.captureErrors
        this.stats.storeError = r.storeError
        this.settleBatch(msg.seq, r.storeFailed, r.captureErrors)
        for (const ex of msg.exchanges ?? []) {
          for (const listener of this.tailListeners) listener(ex)
        }
        if (r.summaries.length > 0) this.summarize(r.summaries)
        break
      }
      case 'reply': {
        const q = this.queries.get(msg.id)
        if (q === undefined) return
        this.queries.delete(msg.id)
        if (msg.ok) q.resolve(msg.value)
        else q.reject(msg.error.code === 'DDP_INVALID_CURSOR' ? new InvalidCursorError() : Object.assign(new Error(msg.error.message), { code: msg.error.code }))
        break
      }
    }
  }

  /** A reported exchange's batch is done: the exchange as written, or why it was not. */
  private answerIngest (seq: number, r: BatchResult, exchanges: Exchange[] | undefined): void {
    const waiter = this.ingests.get(seq)
    if (waiter === undefined) return
    this.ingests.delete(seq)
    const ex = exchanges?.[0]
    if (r.stored === 1 && ex !== undefined) waiter.resolve(ex)
    else if (r.storeError !== null) waiter.reject(new CaptureUnavailableError(`the store refused the write: ${r.storeError}`))
    else waiter.reject(new Error('capture failed for the reported exchange (see the proxy log)'))
  }

  private query<T> (query: StoreOp): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = ++this.queryId
      const reader = READS.has(query.op) ? this.reader : null
      this.queries.set(id, { resolve: resolve as (v: unknown) => void, reject, reader: reader !== null })
      if (reader === null) {
        this.post({ type: 'query', id, query })
        return
      }
      try {
        reader.postMessage({ type: 'query', id, query } satisfies ToWorker)
      } catch (err) {
        this.queries.delete(id)
        reject(err as Error)
      }
    })
  }

  list (filter: ExchangeFilter, page: PageRequest): Promise<Page> {
    return this.query<Page>({ op: 'list', filter, page })
  }

  get (id: string): Promise<Exchange | null> {
    return this.query<Exchange | null>({ op: 'get', id })
  }

  count (): Promise<number> {
    return this.query<number>({ op: 'count' })
  }

  trace (correlationId: string): Promise<Trace | null> {
    return this.query<Trace | null>({ op: 'trace', correlationId })
  }

  summary (filter: ExchangeFilter): Promise<Summary> {
    return this.query<Summary>({ op: 'summary', filter })
  }

  timeseries (filter: ExchangeFilter, stepMs: number): Promise<TimeSeries> {
    return this.query<TimeSeries>({ op: 'timeseries', filter, stepMs })
  }

  purge (filter: ExchangeFilter): Promise<number> {
    return this.query<number>({ op: 'purge', filter })
  }

  logEvents (correlationId: string, limit?: number): Promise<LogEvent[]> {
    return this.query<LogEvent[]>({ op: 'logEvents', correlationId, ...(limit !== undefined ? { limit } : {}) })
  }

  listLogEvents (filter: LogEventFilter, page: PageRequest): Promise<LogEventPage> {
    return this.query<LogEventPage>({ op: 'listLogEvents', filter, page })
  }

  /** Live exchanges as they are captured; returns the unsubscribe function. */
  subscribe (listener: (ex: Exchange) => void): () => void {
    this.tailListeners.add(listener)
    if (this.tailListeners.size === 1) this.post({ type: 'tail', on: true })
    return () => {
      if (this.tailListeners.delete(listener) && this.tailListeners.size === 0) this.post({ type: 'tail', on: false })
    }
  }

  /**
   * Everything recorded so far is written (or counted as dropped), as it will stay: a TLS
   * failure's record enriched with the certificate chain probed after it was written.
   */
  async drain (): Promise<void> {
    await this.drainBatches()
    if (this.closing) return
    try {
      await this.query<null>({ op: 'settle' })
    } catch {
      // the worker restarted: what it held is counted as dropped
    }
  }

  /** Everything recorded so far has left the worker: written, or counted as dropped. */
  private async drainBatches (): Promise<void> {
    this.flush()
    if (this.inWorker === 0) return
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve))
  }

  private wakeDrainWaiters (): void {
    if (this.inWorker !== 0 || this.pending.length !== 0) return
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w()
  }

  getStats (): CaptureStats {
    return { ...this.stats, queued: this.pending.length + this.inWorker }
  }

  /**
   * Flushes, lets the worker write every batch, closes the store. Records arriving meanwhile are
   * still taken (an exchange aborted by a forced stop is recorded as aborted); from the moment
   * the worker is told to close, they are dropped and counted.
   */
  async close (): Promise<void> {
    await this.drainBatches()
    this.closing = true
    // The reader first: the last connection to close checkpoints the WAL, and it must be the writer's.
    const reader = this.reader
    if (reader !== null) {
      const readerClosed = once(reader, 'exit')
      try {
        reader.postMessage({ type: 'close' } satisfies ToWorker)
      } catch {
        void reader.terminate()
      }
      await readerClosed
    }
    const closed = once(this.worker, 'exit')
    this.post({ type: 'close' })
    await closed
  }
}

function spawn (init: WorkerInit, url: URL = WORKER_URL): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const worker = newWorker(init, url)
    const onMessage = (msg: FromWorker): void => {
      if (msg.type === 'ready') {
        cleanup()
        resolve(worker)
      } else if (msg.type === 'open-error') {
        cleanup()
        reject(new StoreOpenError(msg.message))
      }
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    const onExit = (code: number): void => {
      cleanup()
      reject(new Error(`capture worker exited during start-up (code ${code})`))
    }
    const cleanup = (): void => {
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
    }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
  })
}
