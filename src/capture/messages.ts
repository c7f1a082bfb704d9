import type { LogLevel, OtelConfig } from '../config/types.js'
import type { RouteSettings } from './build.js'
import type { ExchangeFilter, PageRequest, Retention } from '../store/types.js'
import type { LogEventFilter } from '../store/log-event-sql.js'
import type { BatchResult } from './engine.js'
import type { Exchange } from './exchange.js'
import type { ObservationRecord } from './record.js'

/** Everything the capture worker needs, as cloneable data. */
export interface WorkerInit {
  /** `store.path`: a SQLite file, or a postgres:// URL. */
  storeLocation: string
  proxyInstance: string
  retention: Retention
  logLevel: LogLevel
  logFile: string | null
  verbose: boolean
  redactionAdd: string[]
  redactionRemove: string[]
  errorBodyBytes: number
  /** Linux: the capture thread's nice value (0: unchanged). */
  threadNice: number
  routes: Array<[string, RouteSettings]>
  expectedIssuer: string | null
  clockSkewS: number
  gatewayModelTimeoutsS: number[]
  pruneIntervalMs: number
  otel: OtelConfig | null
}

export type StoreOp =
  | { op: 'list', filter: ExchangeFilter, page: PageRequest }
  | { op: 'get', id: string }
  | { op: 'count' }
  | { op: 'trace', correlationId: string }
  | { op: 'summary', filter: ExchangeFilter }
  | { op: 'timeseries', filter: ExchangeFilter, stepMs: number }
  | { op: 'purge', filter: ExchangeFilter }
  | { op: 'logEvents', correlationId: string, limit?: number }
  | { op: 'listLogEvents', filter: LogEventFilter, page: PageRequest }
  /** Answers once every batch posted before it is written, enrichment included. */
  | { op: 'settle' }

export type ToWorker =
  /** `returnExchanges`: send the built exchanges back with the batch (a reported replay waits for its own). */
  | { type: 'batch', seq: number, records: ObservationRecord[], returnExchanges?: boolean }
  | { type: 'query', id: number, query: StoreOp }
  | { type: 'close' }
  /** Send built exchanges back with each batch (someone is tailing). */
  | { type: 'tail', on: boolean }

export type FromWorker =
  | { type: 'ready' }
  | { type: 'open-error', message: string }
  | { type: 'batch-done', seq: number, result: BatchResult, exchanges?: Exchange[] }
  | { type: 'reply', id: number, ok: true, value: unknown }
  | { type: 'reply', id: number, ok: false, error: { message: string, code?: string } }
  | { type: 'closed' }
