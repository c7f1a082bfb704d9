import { type ExchangeFilter, InvalidCursorError } from './types.js'

/** A WHERE clause and its parameters. Values are always bound, never spliced into SQL. */
export interface Where {
  sql: string
  params: Array<string | number>
}

export function whereClause (f: ExchangeFilter): Where {
  const parts: string[] = []
  const params: Array<string | number> = []
  if (f.route !== undefined) {
    parts.push('route = ?')
    params.push(f.route)
  }
  if (f.method !== undefined) {
    parts.push('method = ?')
    params.push(f.method.toUpperCase())
  }
  if (f.path !== undefined) {
    // Prefix match without LIKE wildcards from the input: substr comparison.
    parts.push('substr(path, 1, ?) = ?')
    params.push(f.path.length, f.path)
  }
  if (f.status !== undefined) {
    parts.push('status = ?')
    params.push(f.status)
  }
  if (f.statusClass !== undefined) {
    parts.push('status >= ? AND status < ?')
    params.push(f.statusClass * 100, f.statusClass * 100 + 100)
  }
  if (f.flags !== undefined && f.flags.length > 0) {
    parts.push(`seq IN (SELECT seq FROM exchange_flags WHERE flag IN (${f.flags.map(() => '?').join(', ')}))`)
    params.push(...f.flags)
  }
  if (f.feature !== undefined) {
    parts.push('feature = ?')
    params.push(f.feature)
  }
  if (f.correlationId !== undefined) {
    parts.push('correlation_id = ?')
    params.push(f.correlationId)
  }
  if (f.since !== undefined) {
    parts.push('started_at >= ?')
    params.push(f.since)
  }
  if (f.until !== undefined) {
    parts.push('started_at <= ?')
    params.push(f.until)
  }
  if (f.minDurationMs !== undefined) {
    parts.push('duration_ms >= ?')
    params.push(f.minDurationMs)
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
