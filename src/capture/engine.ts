import { probeTlsChain } from '../diagnosis/tls-probe.js'
import type { ChainSummary } from '../diagnosis/tls-chain.js'
import { isTlsErrorCode } from '../diagnosis/transport.js'
import { exchangeLevel, exchangeLine } from '../log/exchange-line.js'
import type { Logger } from '../log/logger.js'
import type { ExchangeStore } from '../store/store.js'
import type { Retention } from '../store/types.js'
import { type BuildOptions, buildExchange } from './build.js'
import type { Exchange } from './exchange.js'
import { type Link, linkBatch } from './link.js'
import { RecentExchanges } from './recent.js'
import type { ExchangeSpanExporter } from '../otel/exporter.js'
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
  /** The diagnosis code, when something failed. */
  cause: string | null
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

/** How long a probed certificate chain is reused before probing the upstream again. */
const TLS_PROBE_TTL_MS = 60_000

/**
 * About how long a slice of a batch takes to build and write: a large batch (a backlog after a
 * stall, a burst) is committed in slices, so no completed exchange waits for the rest of its batch
 * (issue 15: a kill -9 loses at most the last moments).
 */
export const SLICE_MS = 20

/** Bounds of the estimated cost of linking and writing a row (ms), by which slices are sized. */
const MIN_WRITE_MS_PER_ROW = 0.005
const MAX_WRITE_MS_PER_ROW = 0.2

/** Exchanges kept for enrichment while their upstream's certificate chain is being probed. */
const MAX_AWAITING_CHAIN = 500

/** Sent by `duo-diag-proxy replay` and reported (POST /api/exchanges/{id}/replays), not carried by a route. */
const reported = (ex: Exchange): boolean => ex.meta.reported_by !== undefined

/** A serial task runner shared with the batches (the worker's): store writes never interleave. */
export type Serial = (task: () => Promise<void>) => Promise<void>

interface AwaitingChain {
  record: ObservationRecord
  id: string
  /** The diagnosis as written, JSON: the row is only enriched if it is still that. */
  written: string
}

/**
 * Turns observations into exchanges, links the hops, writes them, then logs them. Runs in the
 * capture worker; every failure is contained here and reported as counts.
 *
 * Nothing slow comes before the write: a TLS failure's certificate chain is probed in the
 * background, and the exchanges written meanwhile are enriched with it once it is known.
 */
export class CaptureEngine {
  private lastStoreError: string | null = null
  private lastLinkError: string | null = null
  /** What this thread wrote last, for linking to take instead of reading it back. */
  private readonly recent = new RecentExchanges()
  private readonly tlsChains = new Map<string, ChainSummary>()
  private readonly tlsProbedAt = new Map<string, number>()
  /** Probes under way, by origin, with the exchanges written without the chain. */
  private readonly probing = new Map<string, { done: Promise<void>, awaiting: AwaitingChain[] }>()
  private stopped = false
  /** What linking and writing cost per row lately (ms): a slice's building leaves time for them. */
  private writeMsPerRow = 0.02
  private readonly build: BuildOptions
  /**
   * The per-exchange line carries only fields already redacted (ids, route, path, status, flags,
   * durations, caller address, cause) and none of the logger's censored keys: it skips the
   * logger's redaction pass (a clone and a path walk per line, ~40% of the line's cost). Output is
   * byte-identical. Fields and level: src/log/exchange-line.ts.
   */
  private readonly exchangeLog: Logger

  constructor (
    build: Omit<BuildOptions, 'tlsChains'>,
    private readonly store: ExchangeStore,
    private readonly logger: Logger,
    private readonly retention: Retention,
    private readonly otel: ExchangeSpanExporter | null = null,
    /** Runs enrichment writes in line with the batches; by default, at once. */
    private readonly serial: Serial = (task) => task(),
    private readonly probe: typeof probeTlsChain = probeTlsChain
  ) {
    this.build = { ...build, tlsChains: this.tlsChains }
    this.exchangeLog = logger.child({}, { redact: [] })
  }

  /**
   * Builds and writes a batch in slices of about SLICE_MS (building, linking and writing), each
   * committed on its own; each slice is logged, exported and summarized after it is written.
   */
  async process (records: readonly ObservationRecord[]): Promise<{ result: BatchResult, exchanges: Exchange[] }> {
    const probed = this.startTlsProbes(records)
    const exchanges: Exchange[] = []
    const result: BatchResult = { summaries: [], captureErrors: 0, stored: 0, storeFailed: 0, storeError: null }
    let i = 0
    while (i < records.length) {
      const sliceStart = performance.now()
      const slice: Exchange[] = []
      const sliceRecords: ObservationRecord[] = []
      do {
        const rec = records[i++]!
        try {
          slice.push(buildExchange(rec, this.build))
          sliceRecords.push(rec)
        } catch (err) {
          result.captureErrors++
          this.logger.error({ correlation_id: rec.correlationId, route: rec.route, err: { message: (err as Error).message, stack: (err as Error).stack } }, 'capture failed for an exchange (it was forwarded; the record is dropped)')
        }
      } while (i < records.length && performance.now() - sliceStart + slice.length * this.writeMsPerRow < SLICE_MS)
      if (slice.length === 0) continue
      const writeStart = performance.now()
      const links = await this.link(slice)
      const written = await this.write(slice, result)
      if (written) this.recent.add(slice)
      // Wall time: a preempted write (a niced thread on a busy core) would shrink the slices to a
      // record each, many tiny commits for nothing; the estimate is clamped.
      if (written) this.writeMsPerRow = 0.8 * this.writeMsPerRow + 0.2 * Math.min(MAX_WRITE_MS_PER_ROW, Math.max(MIN_WRITE_MS_PER_ROW, (performance.now() - writeStart) / slice.length))
      if (written && probed.size > 0) this.awaitChains(sliceRecords, slice, probed)
      this.afterWrite(slice, links, result)
      exchanges.push(...slice)
    }
    return { result, exchanges }
  }

  private async link (slice: Exchange[]): Promise<Link[]> {
    try {
      const links = await linkBatch(slice, this.store, this.recent.held)
      this.lastLinkError = null
      return links
    } catch (err) {
      // Once per distinct error: a database that is away fails every batch the same way.
      const message = (err as Error).message
      if (message !== this.lastLinkError) this.logger.warn({ err: { message } }, 'linking model calls to gateway requests failed for a batch')
      this.lastLinkError = message
      return []
    }
  }

  private async write (slice: Exchange[], result: BatchResult): Promise<boolean> {
    try {
      await this.store.insert(slice)
      result.stored += slice.length
      if (this.lastStoreError !== null) {
        this.logger.info({ previous_error: this.lastStoreError }, 'store writable again: capture resumed')
        this.lastStoreError = null
      }
      result.storeError = null
      return true
    } catch (err) {
      const message = (err as Error).message
      result.storeFailed += slice.length
      result.storeError = message
      // Once per distinct error, not once per batch: a full disk must not flood the log.
      if (message !== this.lastStoreError) {
        this.logger.error({ err: { message, code: (err as { code?: string }).code } }, 'store write failed: records are dropped and counted, traffic is unaffected')
        this.lastStoreError = message
      }
      return false
    }
  }

  /** What follows the write: OpenTelemetry spans, the per-exchange log line, the metrics' summaries. */
  private afterWrite (slice: Exchange[], links: Link[], result: BatchResult): void {
    // Spans and metrics describe the traffic through the routes: a reported replay went elsewhere.
    const carried = slice.some(reported) ? slice.filter((ex) => !reported(ex)) : slice
    try {
      if (carried.length > 0) this.otel?.onBatch(carried, links)
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'OpenTelemetry export failed for a batch')
    }
    for (const ex of slice) {
      // GitLab's request-log fields, at INFO, WARN (4xx, slow) or ERROR (the upstream failed).
      this.exchangeLog[exchangeLevel(ex)](exchangeLine(ex), 'exchange')
      if (reported(ex)) continue
      result.summaries.push({
        route: ex.route,
        hop: ex.hop,
        feature: ex.meta.feature,
        status: ex.status,
        flags: ex.flags,
        ttfbMs: ex.timings.ttfb_ms,
        cause: ex.diagnosis?.code ?? null,
        durationMs: ex.timings.duration_ms
      })
    }
  }

  /**
   * For TLS failures, look once at the chain the upstream presents (the diagnosis quotes it):
   * starts the probes that are due, without waiting for them. Returns the origins whose chain is
   * being probed now — their exchanges are written without it, then enriched.
   */
  private startTlsProbes (records: readonly ObservationRecord[]): Set<string> {
    const origins = new Set<string>()
    for (const r of records) {
      if (r.failure !== null && isTlsErrorCode(r.failure.code) && r.upstream.startsWith('https:')) origins.add(new URL(r.upstream).origin)
    }
    if (origins.size === 0) return origins
    const now = Date.now()
    for (const origin of origins) {
      if (this.probing.has(origin) || now - (this.tlsProbedAt.get(origin) ?? 0) <= TLS_PROBE_TTL_MS) continue
      this.tlsProbedAt.set(origin, now)
      const url = new URL(origin)
      const entry = { done: Promise.resolve(), awaiting: [] as AwaitingChain[] }
      entry.done = this.probe(url.hostname, Number(url.port || 443), url.hostname).then(async (chain) => {
        if (chain !== null) this.tlsChains.set(origin, chain)
        else this.tlsChains.delete(origin)
        this.probing.delete(origin)
        if (chain !== null && entry.awaiting.length > 0 && !this.stopped) await this.serial(() => this.enrich(entry.awaiting))
      }).catch((err: unknown) => {
        this.probing.delete(origin)
        this.logger.warn({ err: { message: (err as Error).message }, origin }, 'enriching TLS failures with the presented chain failed')
      })
      this.probing.set(origin, entry)
    }
    for (const origin of [...origins]) if (!this.probing.has(origin)) origins.delete(origin)
    return origins
  }

  /** Exchanges just written whose upstream's chain is being probed: kept for enrichment (bounded). */
  private awaitChains (records: ObservationRecord[], slice: Exchange[], probed: Set<string>): void {
    for (const [j, rec] of records.entries()) {
      if (rec.failure === null || !isTlsErrorCode(rec.failure.code) || !rec.upstream.startsWith('https:')) continue
      const origin = new URL(rec.upstream).origin
      const entry = probed.has(origin) ? this.probing.get(origin) : undefined
      if (entry === undefined || entry.awaiting.length >= MAX_AWAITING_CHAIN) continue
      const ex = slice[j]!
      entry.awaiting.push({ record: rec, id: ex.id, written: JSON.stringify(ex.diagnosis) })
    }
  }

  /** The written rows, their diagnosis rebuilt with the chain now known (unless changed since). */
  private async enrich (awaiting: readonly AwaitingChain[]): Promise<void> {
    for (const a of awaiting) {
      if (this.stopped) return
      const rebuilt = buildExchange(a.record, this.build)
      const current = await this.store.get(a.id)
      if (current === null || JSON.stringify(current.diagnosis) !== a.written) continue
      current.diagnosis = rebuilt.diagnosis
      await this.store.setParent(current)
    }
  }

  /** Every probe started so far has finished and its enrichment was written (or given up). */
  async settled (): Promise<void> {
    while (this.probing.size > 0) await Promise.all([...this.probing.values()].map((p) => p.done))
  }

  /** Shutting down: probes still under way enrich nothing. */
  stop (): void {
    this.stopped = true
  }

  private pruning = false

  /** One retention pass at a time; a pass still running when the next is due is not doubled. */
  async prune (): Promise<number> {
    if (this.pruning) return 0
    this.pruning = true
    try {
      return await this.store.prune(this.retention)
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'retention pass failed; will retry')
      return 0
    } finally {
      this.pruning = false
    }
  }
}
