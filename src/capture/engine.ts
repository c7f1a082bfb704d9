import type { Logger } from '../log/logger.js'
import type { Retention, SqliteStore } from '../store/sqlite.js'
import { type BuildOptions, buildExchange } from './build.js'
import type { Exchange } from './exchange.js'
import type { ObservationRecord } from './record.js'

/** What metrics need of each exchange, sent back to the main thread. */
export interface ExchangeSummary {
  route: string
  hop: string
  feature: string
  status: number | null
  flags: string[]
  ttfbMs: number | null
  durationMs: number
}

export interface BatchResult {
  summaries: ExchangeSummary[]
  /** Records that failed to build (a capture bug): logged, counted, never fatal. */
  captureErrors: number
  stored: number
  /** Built but not written (store error). */
  storeFailed: number
  storeError: string | null
}

/**
 * Turns observations into exchanges, logs them, writes them in one transaction. Runs in the
 * capture worker; every failure is contained here and reported as counts.
 */
export class CaptureEngine {
  private lastStoreError: string | null = null

  constructor (
    private readonly build: BuildOptions,
    private readonly store: SqliteStore,
    private readonly logger: Logger,
    private readonly retention: Retention
  ) {}

  process (records: readonly ObservationRecord[]): BatchResult {
    const exchanges: Exchange[] = []
    const result: BatchResult = { summaries: [], captureErrors: 0, stored: 0, storeFailed: 0, storeError: null }
    for (const rec of records) {
      let ex: Exchange
      try {
        ex = buildExchange(rec, this.build)
      } catch (err) {
        result.captureErrors++
        this.logger.error({ correlation_id: rec.correlationId, route: rec.route, err: { message: (err as Error).message, stack: (err as Error).stack } }, 'capture failed for an exchange (it was forwarded; the record is dropped)')
        continue
      }
      exchanges.push(ex)
      this.logger.info({
        correlation_id: ex.correlation_id,
        route: ex.route,
        method: ex.method,
        path: ex.path,
        status: ex.status,
        flags: ex.flags,
        duration_ms: ex.timings.duration_ms
      }, 'exchange')
      result.summaries.push({
        route: ex.route,
        hop: ex.hop,
        feature: ex.meta.feature,
        status: ex.status,
        flags: ex.flags,
        ttfbMs: ex.timings.ttfb_ms,
        durationMs: ex.timings.duration_ms
      })
    }
    try {
      this.store.insert(exchanges)
      result.stored = exchanges.length
      if (this.lastStoreError !== null) {
        this.logger.info({ previous_error: this.lastStoreError }, 'store writable again: capture resumed')
        this.lastStoreError = null
      }
    } catch (err) {
      const message = (err as Error).message
      result.storeFailed = exchanges.length
      result.storeError = message
      // Once per distinct error, not once per batch: a full disk must not flood the log.
      if (message !== this.lastStoreError) {
        this.logger.error({ err: { message, code: (err as { code?: string }).code } }, 'store write failed: records are dropped and counted, traffic is unaffected')
        this.lastStoreError = message
      }
    }
    return result
  }

  prune (): number {
    try {
      return this.store.prune(this.retention)
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'retention pass failed; will retry')
      return 0
    }
  }
}
