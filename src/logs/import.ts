/**
 * `duo-diag-proxy logs import` (issue 19): log files → redacted LogEvents → the store, then every
 * correlation ID the import touched is diagnosed again from its log events and the exchanges the
 * proxy captured under it (an exchange is reconstructed from the logs where it captured none).
 *
 * Memory stays bounded whatever the input's size: events reach the store in batches, and the
 * touched IDs are read back from the store a page at a time, never gathered in memory. Importing
 * the same lines again adds nothing (fingerprints), so it touches no ID and changes nothing.
 */
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Exchange } from '../capture/exchange.js'
import type { RuleSet } from '../capture/redact-rules.js'
import type { Flag } from '../diagnosis/flags.js'
import type { ExchangeStore } from '../store/store.js'
import type { TraceNode } from '../store/trace.js'
import { diagnoseFromLogs, type LogDiagnosisOptions } from './diagnose.js'
import type { ImportCounts, LogEvent } from './event.js'
import { emptyImportCounts, readLogEvents } from './read-events.js'

export interface LogInput {
  /** As the user named it (`-` for stdin): LogEvent.origin.file. */
  name: string
  /** Opened when its turn comes: a long list of files holds one descriptor at a time. */
  open: () => Readable
}

export interface ImportOptions {
  /** Verbose capture (`capture.bodies`): prompt-bearing fields are kept, redacted. */
  verbose: boolean
  rules: RuleSet
  diagnosis?: LogDiagnosisOptions
  /** Events per store transaction [500]. */
  batchSize?: number
}

/** One correlation ID as the import left it. */
export interface DiagnosedTrace {
  correlation_id: string
  /** The exchange that carries the verdict: captured, or reconstructed from the logs. */
  exchange_id: string
  reconstructed: boolean
  code: string | null
  cause: string | null
  flags: Flag[]
}

export interface ImportResult {
  import_id: string
  counts: ImportCounts
  /** Correlation IDs with new events, diagnosed again. */
  traces: number
  /** Exchanges made from the logs alone. */
  reconstructed: number
  /** Captured (or earlier reconstructed) exchanges whose flags or diagnosis the logs changed. */
  updated: number
  /** The first failing traces, at most MAX_LISTED, for the command's summary. */
  failures: DiagnosedTrace[]
  /** The time span of the lines read (ISO), null before the first: retention judges by it. */
  oldest: string | null
  newest: string | null
}

export const BATCH = 500
const ID_PAGE = 200
const MAX_LISTED = 50

export function emptyResult (importId: string, counts: ImportCounts): ImportResult {
  return { import_id: importId, counts, traces: 0, reconstructed: 0, updated: 0, failures: [], oldest: null, newest: null }
}

/** Reads every input to its end, stores its events, then diagnoses the IDs they touched. */
export async function importLogs (store: ExchangeStore, inputs: readonly LogInput[], opts: ImportOptions): Promise<ImportResult> {
  const result = emptyResult(randomUUID(), emptyImportCounts())
  const writer = new EventWriter(store, result, opts.batchSize ?? BATCH)
  for (const input of inputs) {
    for await (const event of readLogEvents(input.open(), { file: input.name, verbose: opts.verbose, rules: opts.rules }, result.counts)) {
      await writer.add(event)
    }
  }
  await writer.flush()
  let after: string | null = null
  for (;;) {
    const ids = await store.importedCorrelationIds(result.import_id, after, ID_PAGE)
    if (ids.length === 0) break
    for (const id of ids) await diagnoseOne(store, id, opts, result)
    after = ids[ids.length - 1]!
  }
  return result
}

/** Events to the store in batches; counts what was stored before. */
export class EventWriter {
  private batch: LogEvent[] = []
  /**
   * IDs of the events written since `takeTouched` was last called: the follow mode's passes,
   * each a second's worth. A whole import reads its IDs back from the store instead, so it keeps
   * none (`trackTouched` false): a gigabyte of logs holds hundreds of thousands.
   */
  private touched = new Set<string>()

  constructor (private readonly store: ExchangeStore, private readonly result: ImportResult, private readonly size: number, private readonly trackTouched = false) {}

  async add (event: LogEvent): Promise<void> {
    // ISO 8601 UTC with milliseconds everywhere: compared as text. A line that never got a time
    // (read-events.ts gives it the epoch) says nothing about the span.
    if (event.time >= '2000') {
      if (this.result.oldest === null || event.time < this.result.oldest) this.result.oldest = event.time
      if (this.result.newest === null || event.time > this.result.newest) this.result.newest = event.time
    }
    this.batch.push(event)
    if (this.batch.length >= this.size) await this.flush()
  }

  async flush (): Promise<void> {
    if (this.batch.length === 0) return
    const batch = this.batch
    this.batch = []
    const fresh = await this.store.addLogEvents(batch, this.result.import_id)
    this.result.counts.duplicates += batch.length - fresh
    if (this.trackTouched && fresh > 0) for (const e of batch) if (e.correlation_id !== null) this.touched.add(e.correlation_id)
  }

  takeTouched (): string[] {
    const ids = [...this.touched]
    this.touched = new Set()
    return ids
  }
}

function flatten (nodes: readonly TraceNode[], out: Exchange[] = []): Exchange[] {
  for (const n of nodes) {
    out.push(n.exchange)
    flatten(n.children, out)
  }
  return out
}

/** One correlation ID: its events and exchanges → a reconstructed exchange, or rewritten ones. */
export async function diagnoseOne (store: ExchangeStore, correlationId: string, opts: ImportOptions, result: ImportResult): Promise<void> {
  result.traces++
  const [events, trace] = await Promise.all([store.logEvents(correlationId), store.trace(correlationId)])
  const captured = trace === null ? [] : flatten(trace.roots)
  const verdict = diagnoseFromLogs(events, captured, opts.diagnosis)
  let carrier: Exchange | null = null
  if (verdict.reconstructed !== null) {
    await store.insert([verdict.reconstructed])
    result.reconstructed++
    carrier = verdict.reconstructed
  }
  for (const update of verdict.updates) {
    const ex = captured.find((e) => e.id === update.id)
    if (ex === undefined) continue
    const changed = { ...ex, flags: update.flags, diagnosis: update.diagnosis }
    await store.rewriteExchange(changed)
    result.updated++
    if (carrier === null || changed.hop === 'gateway') carrier = changed
  }
  carrier ??= captured.find((e) => e.hop === 'gateway') ?? captured[0] ?? null
  if (carrier === null || carrier.flags.length === 0 || result.failures.length >= MAX_LISTED) return
  result.failures.push({
    correlation_id: correlationId,
    exchange_id: carrier.id,
    reconstructed: carrier.meta.reported_by === 'logs',
    code: carrier.diagnosis?.code ?? null,
    cause: carrier.diagnosis?.cause ?? null,
    flags: carrier.flags
  })
}
