import type { Exchange } from '../capture/exchange.js'
import type { LogEvent } from '../logs/event.js'
import type { LogEventFilter, LogEventPage } from './log-event-sql.js'
import type { QueryNode } from './query-language.js'
import type { Summary, TimeSeries } from './summary.js'
import type { Trace } from './trace.js'

/** Filters every reader of the store understands (API, CLI). */
export interface ExchangeFilter {
  route?: string
  /** The hop: gateway (GitLab -> AI gateway) or model (AI gateway -> model server). */
  hop?: 'gateway' | 'model'
  method?: string
  /** Path prefix. */
  path?: string
  /** Exact status, or a class: 2..5 for 2xx..5xx. */
  status?: number
  statusClass?: number
  /** Any of these flags. */
  flags?: string[]
  /** true: flagged as a failure (a flag not in NOT_ERRORS), as the summary counts `errors`; false: not. */
  failed?: boolean
  feature?: string
  correlationId?: string
  /** The diagnosed cause's stable code (README, "Diagnosis codes"). */
  causeCode?: string
  /** Epoch ms, inclusive. */
  since?: number
  until?: number
  minDurationMs?: number
  /** The proxy instance that recorded it (a shared store holds several). */
  proxyInstance?: string
  /** A parsed query (`q`, src/store/query-language.ts), ANDed with the fields above. */
  query?: QueryNode
}

export interface Retention {
  maxRows: number
  maxAgeHours: number
}

export interface PageRequest {
  limit: number
  cursor?: string | null
}

export interface Page {
  items: Exchange[]
  next_cursor: string | null
}

/** The store as the API and CLI read it. Async so a store may live in another thread or process. */
export interface StoreReader {
  list (filter: ExchangeFilter, page: PageRequest): Promise<Page>
  get (id: string): Promise<Exchange | null>
  count (): Promise<number>
  trace (correlationId: string): Promise<Trace | null>
  summary (filter: ExchangeFilter): Promise<Summary>
  /** Requests and failures per `stepMs` bucket (GET /api/timeseries). */
  timeseries (filter: ExchangeFilter, stepMs: number): Promise<TimeSeries>
  /**
   * Deletes the exchanges that match; returns how many were removed. With no filter at all
   * (`purge --all`) the imported log events go too.
   */
  purge (filter: ExchangeFilter): Promise<number>
  /** A correlation id's imported log events, oldest first, at most `limit` (2 000 by default, 10 000 at most). */
  logEvents (correlationId: string, limit?: number): Promise<LogEvent[]>
  /** Imported log events, oldest first, keyset-paginated (GET /api/log-events, the bundle). */
  listLogEvents (filter: LogEventFilter, page: PageRequest): Promise<LogEventPage>
}

export class InvalidCursorError extends Error {
  readonly code = 'DDP_INVALID_CURSOR'
  constructor () {
    super('cursor is not one this API returned')
  }
}
