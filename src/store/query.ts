import type { Exchange } from '../capture/exchange.js'
import { evaluateQuery, queryToSql } from './query-language.js'
import { isFailure, NOT_ERRORS } from './summary.js'
import { type ExchangeFilter, InvalidCursorError, type Page } from './types.js'

/**
 * A WHERE clause and its parameters. Values are always bound, never spliced into SQL; columns are
 * qualified so the clause also works in joins.
 */
export interface Where {
  sql: string
  params: Array<string | number>
}

export function whereClause (f: ExchangeFilter): Where {
  const parts: string[] = []
  const params: Array<string | number> = []
  if (f.route !== undefined) {
    parts.push('exchanges.route = ?')
    params.push(f.route)
  }
  if (f.hop !== undefined) {
    parts.push('exchanges.hop = ?')
    params.push(f.hop)
  }
  if (f.method !== undefined) {
    parts.push('exchanges.method = ?')
    params.push(f.method.toUpperCase())
  }
  if (f.path !== undefined) {
    // Prefix match without LIKE wildcards from the input: substr comparison. substr counts
    // characters (code points), not UTF-16 units.
    parts.push('substr(exchanges.path, 1, ?) = ?')
    params.push([...f.path].length, f.path)
  }
  if (f.status !== undefined) {
    parts.push('exchanges.status = ?')
    params.push(f.status)
  }
  if (f.statusClass !== undefined) {
    parts.push('exchanges.status >= ? AND exchanges.status < ?')
    params.push(f.statusClass * 100, f.statusClass * 100 + 100)
  }
  if (f.flags !== undefined && f.flags.length > 0) {
    parts.push(`exchanges.seq IN (SELECT f.seq FROM exchange_flags f WHERE f.flag IN (${f.flags.map(() => '?').join(', ')}))`)
    params.push(...f.flags)
  }
  if (f.failed !== undefined) {
    parts.push(`${f.failed ? '' : 'NOT '}EXISTS (SELECT 1 FROM exchange_flags f WHERE f.seq = exchanges.seq AND f.flag NOT IN (${NOT_ERRORS.map(() => '?').join(', ')}))`)
    params.push(...NOT_ERRORS)
  }
  if (f.feature !== undefined) {
    parts.push('exchanges.feature = ?')
    params.push(f.feature)
  }
  if (f.correlationId !== undefined) {
    parts.push('exchanges.correlation_id = ?')
    params.push(f.correlationId)
  }
  if (f.causeCode !== undefined) {
    parts.push('exchanges.cause_code = ?')
    params.push(f.causeCode)
  }
  if (f.since !== undefined) {
    parts.push('exchanges.started_at >= ?')
    params.push(f.since)
  }
  if (f.until !== undefined) {
    parts.push('exchanges.started_at <= ?')
    params.push(f.until)
  }
  if (f.minDurationMs !== undefined) {
    parts.push('exchanges.duration_ms >= ?')
    params.push(f.minDurationMs)
  }
  if (f.proxyInstance !== undefined) {
    parts.push('exchanges.proxy_instance = ?')
    params.push(f.proxyInstance)
  }
  if (f.query !== undefined) {
    const q = queryToSql(f.query)
    parts.push(q.sql)
    params.push(...q.params)
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1 = 1', params }
}

/** Keyset cursor: position (started_at, seq) of the last item served, newest-first order. */
export function encodeCursor (startedAt: number, seq: number): string {
  return Buffer.from(`${startedAt}.${seq}`).toString('base64url')
}

export function decodeCursor (cursor: string): { startedAt: number, seq: number } {
  const m = /^(\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (m === null) throw new InvalidCursorError()
  return { startedAt: Number(m[1]), seq: Number(m[2]) }
}

/** A row of a list query; PostgreSQL returns its bigints as strings. */
export interface PageRow {
  seq: number | string
  started_at: number | string
  data: string
}

/**
 * Rows of a keyset query (one more than the page when more follow) → the page's documents and
 * the cursor after its last row.
 */
export function keysetPage<R extends { data: string }, T> (rows: readonly R[], limit: number, cursorAfter: (last: R) => string): { items: T[], next_cursor: string | null } {
  const more = rows.length > limit
  const items = more ? rows.slice(0, limit) : rows
  const last = items[items.length - 1]
  return {
    items: items.map((r) => JSON.parse(r.data) as T),
    next_cursor: more && last !== undefined ? cursorAfter(last) : null
  }
}

/** Rows of `listSql` → the page and its cursor. */
export function toPage (rows: readonly PageRow[], limit: number): Page {
  return keysetPage<PageRow, Exchange>(rows, limit, (last) => encodeCursor(Number(last.started_at), Number(last.seq)))
}

/**
 * The same filter as `whereClause`, on an exchange in memory (the live tail). Kept beside the
 * SQL so the two cannot drift apart unnoticed; a test checks they agree.
 */
export function matches (ex: Exchange, f: ExchangeFilter): boolean {
  const startedAt = Date.parse(ex.started_at)
  if (f.route !== undefined && ex.route !== f.route) return false
  if (f.hop !== undefined && ex.hop !== f.hop) return false
  if (f.method !== undefined && ex.method !== f.method.toUpperCase()) return false
  if (f.path !== undefined && !ex.path.startsWith(f.path)) return false
  if (f.status !== undefined && ex.status !== f.status) return false
  if (f.statusClass !== undefined && (ex.status === null || ex.status < f.statusClass * 100 || ex.status >= f.statusClass * 100 + 100)) return false
  if (f.flags !== undefined && f.flags.length > 0 && !ex.flags.some((x) => f.flags!.includes(x))) return false
  if (f.failed !== undefined && isFailure(ex.flags) !== f.failed) return false
  if (f.feature !== undefined && ex.meta.feature !== f.feature) return false
  if (f.correlationId !== undefined && ex.correlation_id !== f.correlationId) return false
  if (f.causeCode !== undefined && ex.diagnosis?.code !== f.causeCode) return false
  if (f.since !== undefined && startedAt < f.since) return false
  if (f.until !== undefined && startedAt > f.until) return false
  if (f.minDurationMs !== undefined && ex.timings.duration_ms < f.minDurationMs) return false
  if (f.proxyInstance !== undefined && ex.proxy_instance !== f.proxyInstance) return false
  if (f.query !== undefined && !evaluateQuery(f.query, ex)) return false
  return true
}
