/**
 * The log event filter's parameters as the API's query string and the CLI give them (times as
 * text: ISO 8601 or relative), and their reading into the store's filter.
 */
import type { LogEventKind, LogSource } from '../logs/event.js'
import { timeBounds } from './filter-params.js'
import type { LogEventFilter } from './log-event-sql.js'

export interface LogEventParams {
  correlation_id?: string
  source?: LogSource
  kind?: LogEventKind
  /** ISO 8601 or relative (`15m`, `2h`, `7d`). */
  since?: string
  until?: string
}

/** Parameters → filter; a time it cannot read is a FilterParamError naming the parameter (400 in the API). */
export function toLogEventFilter (q: LogEventParams, now = Date.now()): LogEventFilter {
  const f: LogEventFilter = {}
  if (q.correlation_id !== undefined) f.correlationId = q.correlation_id
  if (q.source !== undefined) f.source = q.source
  if (q.kind !== undefined) f.kind = q.kind
  return Object.assign(f, timeBounds(q, now))
}
