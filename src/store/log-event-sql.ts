/**
 * The log event statements both backends run (`?` placeholders, as src/store/sql.ts), their
 * bounds and the listing's keyset cursor. Log events read oldest first, as a log file does.
 */
import type { LogEvent, LogEventKind, LogSource } from '../logs/event.js'
import { keysetPage } from './query.js'
import type { SqlParam, Sql } from './sql.js'
import { type ExchangeFilter, InvalidCursorError } from './types.js'

/** Filters of GET /api/log-events and the bundle. */
export interface LogEventFilter {
  source?: LogSource
  kind?: LogEventKind
  correlationId?: string
  /** Epoch ms, inclusive. */
  since?: number
  until?: number
}

export interface LogEventPage {
  items: LogEvent[]
  next_cursor: string | null
}

/** A trace's (and `logEvents`') default: what a person reads under one correlation id. */
export const LOG_EVENTS_DEFAULT = 2_000
/** The most any one read returns: a correlation id a hostile log repeats a million times stays a page. */
export const LOG_EVENTS_MAX = 10_000
/** The most correlation ids of an import one call pages through. */
export const IMPORTED_IDS_MAX = 10_000
/** Retention deletes this many log events per statement. */
export const LOG_PRUNE_CHUNK = 5_000

/** `limit` within [1, max]; anything unreadable is the default. */
export function boundLimit (limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback
  return Math.max(1, Math.min(max, Math.floor(limit)))
}

export const INSERT_LOG_EVENT_SQL = `INSERT INTO log_events (fingerprint, correlation_id, time, source, kind, level, import_id, data)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING`

/** A correlation id's events in time order, ties in the order they were written. */
export function logEventsByCorrelationSql (correlationId: string, limit: number): Sql {
  return { text: 'SELECT data FROM log_events WHERE correlation_id = ? ORDER BY time, seq LIMIT ?', params: [correlationId, limit] }
}

/** The distinct correlation ids one import wrote, after `after` in their sort order (keyset). */
export function importedCorrelationIdsSql (importId: string, after: string | null, limit: number): Sql {
  const params: SqlParam[] = [importId]
  let text = 'SELECT DISTINCT correlation_id FROM log_events WHERE import_id = ? AND correlation_id IS NOT NULL'
  if (after !== null) {
    text += ' AND correlation_id > ?'
    params.push(after)
  }
  text += ' ORDER BY correlation_id LIMIT ?'
  params.push(limit)
  return { text, params }
}

/** Keyset position (time, seq) of the last event served, oldest-first order. */
export function encodeLogCursor (time: number, seq: number): string {
  return Buffer.from(`L${time}.${seq}`).toString('base64url')
}

export function decodeLogCursor (cursor: string): { time: number, seq: number } {
  const m = /^L(-?\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (m === null) throw new InvalidCursorError()
  return { time: Number(m[1]), seq: Number(m[2]) }
}

/** A page of the listing, oldest first; one row more than the page tells whether more follow. */
export function listLogEventsSql (filter: LogEventFilter, limit: number, cursor: string | null): Sql {
  const parts: string[] = []
  const params: SqlParam[] = []
  const eq = (column: string, value: string | undefined): void => {
    if (value === undefined) return
    parts.push(`${column} = ?`)
    params.push(value)
  }
  eq('source', filter.source)
  eq('kind', filter.kind)
  eq('correlation_id', filter.correlationId)
  if (filter.since !== undefined) {
    parts.push('time >= ?')
    params.push(filter.since)
  }
  if (filter.until !== undefined) {
    parts.push('time <= ?')
    params.push(filter.until)
  }
  if (cursor !== null) {
    const c = decodeLogCursor(cursor)
    parts.push('(time > ? OR (time = ? AND seq > ?))')
    params.push(c.time, c.time, c.seq)
  }
  const where = parts.length > 0 ? parts.join(' AND ') : '1 = 1'
  return { text: `SELECT seq, time, data FROM log_events WHERE ${where} ORDER BY time, seq LIMIT ?`, params: [...params, limit + 1] }
}

/** A row of `listLogEventsSql`; PostgreSQL returns its bigints as strings. */
export interface LogEventRow {
  seq: number | string
  time: number | string
  data: string
}

/** Rows of `listLogEventsSql` → the page and its cursor. */
export function toLogEventPage (rows: readonly LogEventRow[], limit: number): LogEventPage {
  return keysetPage<LogEventRow, LogEvent>(rows, limit, (last) => encodeLogCursor(Number(last.time), Number(last.seq)))
}

/** Retention: the events older than the cutoff, a chunk at a time. */
export const PRUNE_LOG_EVENTS_SQL = 'DELETE FROM log_events WHERE seq IN (SELECT seq FROM log_events WHERE time < ? ORDER BY time LIMIT ?)'

/** A purge with no filter at all (`purge --all`): the log events go with the exchanges. */
export function purgesEverything (filter: ExchangeFilter): boolean {
  return Object.values(filter).every((v) => v === undefined)
}
