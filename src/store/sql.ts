/**
 * The statements both backends run, in the SQL SQLite and PostgreSQL share: `?` placeholders
 * (the PostgreSQL store numbers them), window functions for percentiles, FILTER on aggregates.
 * One text per question, so the API answers the same whichever database holds the records.
 */
import type { Exchange } from '../capture/exchange.js'
import { decodeCursor, whereClause } from './query.js'
import type { EndWindow, HeldExchanges } from './store.js'
import { BREAKDOWN_LIMIT, LATENCY_ROWS_LIMIT, MAX_BUCKETS, NOT_ERRORS } from './summary.js'
import type { ExchangeFilter, PageRequest } from './types.js'

export type SqlParam = string | number | null

export interface Sql {
  text: string
  params: SqlParam[]
}

/** The columns an exchange row carries besides its JSON document (for filters and summaries). */
export const EXCHANGE_COLUMNS = ['id', 'proxy_instance', 'started_at', 'route', 'hop', 'correlation_id', 'method', 'path', 'status', 'feature', 'model', 'ttfb_ms', 'duration_ms', 'parent_id', 'cause', 'cause_code', 'data'] as const
/** Where `started_at` (epoch ms) sits in a row. */
export const STARTED_AT = 2

/** An exchange as a row of EXCHANGE_COLUMNS. */
export function exchangeRow (ex: Exchange): SqlParam[] {
  return [
    ex.id, ex.proxy_instance, Date.parse(ex.started_at), ex.route, ex.hop, ex.correlation_id, ex.method, ex.path, ex.status,
    ex.meta.feature, ex.meta.model ?? ex.meta.model_name ?? null, ex.timings.ttfb_ms, ex.timings.duration_ms,
    ex.parent_id, ex.diagnosis?.cause ?? null, ex.diagnosis?.code ?? null, JSON.stringify(ex)
  ]
}

/**
 * Newest first, keyset-paginated on (started_at, seq); one row more than the page tells if more
 * follow. The page's seqs are chosen first and only then its documents read (issue 18): when the
 * order needs a sort — a status class, a flag — the sort holds keys, not every matching row's
 * JSON (`status=2xx` sorted 90 000 documents of a 100 000-row store for 51 of them: 260 ms).
 */
export function listSql (filter: ExchangeFilter, page: PageRequest): Sql {
  const where = whereClause(filter)
  let inner = `SELECT seq FROM exchanges WHERE ${where.sql}`
  const params: SqlParam[] = [...where.params]
  if (page.cursor) {
    const c = decodeCursor(page.cursor)
    inner += ' AND (started_at < ? OR (started_at = ? AND seq < ?))'
    params.push(c.startedAt, c.startedAt, c.seq)
  }
  inner += ' ORDER BY started_at DESC, seq DESC LIMIT ?'
  params.push(page.limit + 1)
  return { text: `SELECT seq, started_at, data FROM exchanges WHERE seq IN (${inner}) ORDER BY started_at DESC, seq DESC`, params }
}

export const GET_SQL = 'SELECT data FROM exchanges WHERE id = ?'
export const COUNT_SQL = 'SELECT count(*) AS n FROM exchanges'

/** Every exchange of a correlation id, and the model-hop exchanges linked to them. */
export const BY_CORRELATION_SQL = `SELECT data FROM exchanges WHERE correlation_id = ?
  UNION SELECT data FROM exchanges WHERE parent_id IN (SELECT id FROM exchanges WHERE correlation_id = ?)
  LIMIT 1000`

/**
 * Model-hop exchanges not yet linked, started within [from, to]. The bounds are fractional (a
 * start plus a duration) and `started_at` is an integer: they are rounded inwards, which selects
 * the same rows and keeps PostgreSQL comparing bigints (its index, and no cast error).
 */
export function unlinkedModelSql (from: number, to: number): Sql {
  return {
    text: `SELECT id FROM exchanges
      WHERE hop = 'model' AND parent_id IS NULL AND started_at >= ? AND started_at <= ? ORDER BY started_at LIMIT 500`,
    params: [Math.ceil(from), Math.floor(to)]
  }
}

/**
 * Gateway requests spanning [from, to]. Read through the (hop, end time) index: the rows that
 * ended at or after the call's end — written since, a few seconds of traffic when linking runs —
 * rather than every gateway request that started in the hour before it (30 ms per linked call at
 * 200 000 such rows, measured). The upper bound keeps the range two-sided, so SQLite's planner
 * prefers that index to (hop, started_at); gateway requests outlasting the call by over an hour
 * are not counted as rivals.
 */
export function gatewaysSpanningSql (from: number, to: number): Sql {
  return {
    text: `SELECT count(*) AS n FROM exchanges
      WHERE hop = 'gateway' AND started_at + duration_ms >= ? AND started_at + duration_ms <= ? AND started_at <= ?`,
    params: [to, to + 3_600_000, Math.floor(from)]
  }
}

/**
 * Gateway requests that ended within [endFrom, endBy] and started by `startBy`: the possible
 * parents of a model call recorded after them. Same index as above. SQLite runs it once per
 * window (a prepared statement, in process).
 */
export function gatewaysEndedSinceSql (w: EndWindow): Sql {
  return {
    text: `SELECT id FROM exchanges
      WHERE hop = 'gateway' AND started_at + duration_ms >= ? AND started_at + duration_ms <= ? AND started_at <= ? LIMIT 500`,
    params: [w.endFrom, w.endBy, Math.floor(w.startBy)]
  }
}

/**
 * The same for several windows in one statement (PostgreSQL: one round trip for a batch's late
 * model calls, not one each): the windows as a VALUES list, each joined through the end-time index.
 */
export function gatewaysEndedWithinSql (windows: readonly EndWindow[]): Sql {
  const rows = windows.map(() => '(?::double precision, ?::double precision, ?::bigint)').join(', ')
  return {
    text: `SELECT DISTINCT e.id FROM (VALUES ${rows}) AS w (end_from, end_by, start_by)
      JOIN exchanges e ON e.hop = 'gateway' AND e.started_at + e.duration_ms >= w.end_from AND e.started_at + e.duration_ms <= w.end_by AND e.started_at <= w.start_by
      LIMIT 500`,
    params: windows.flatMap((w) => [w.endFrom, w.endBy, Math.floor(w.startBy)])
  }
}

/**
 * The documents of these exchanges (linking's candidates the capture thread no longer holds).
 * Linking's queries name ids only: their documents are ~2.5 KB of JSON each, and the capture
 * thread wrote most of them moments ago and still holds them (src/capture/recent.ts).
 */
export function documentsSql (ids: readonly string[]): Sql {
  return { text: `SELECT id, data FROM exchanges WHERE id IN (${ids.map(() => '?').join(', ')})`, params: [...ids] }
}

/** Ids in the order a query gave them, as exchanges: the held ones as they are, the others parsed from their rows. */
export function resolveDocuments (ids: readonly string[], held: HeldExchanges, rows: ReadonlyArray<{ id: string, data: string }>): Exchange[] {
  const read = new Map(rows.map((r) => [r.id, r.data]))
  const out: Exchange[] = []
  for (const id of ids) {
    const ex = held(id) ?? parseDocument(read.get(id))
    if (ex !== undefined) out.push(ex)
  }
  return out
}

function parseDocument (data: string | undefined): Exchange | undefined {
  return data === undefined ? undefined : (JSON.parse(data) as Exchange)
}

/**
 * A stored exchange rewritten from its document (linking, a late diagnosis, a log import): the
 * columns read from the document follow it, so summaries and `?cause=` see the new cause.
 */
export const REWRITE_SQL = 'UPDATE exchanges SET parent_id = ?, cause = ?, cause_code = ?, data = ? WHERE id = ?'

export function rewriteParams (ex: Exchange): SqlParam[] {
  return [ex.parent_id, ex.diagnosis?.cause ?? null, ex.diagnosis?.code ?? null, JSON.stringify(ex), ex.id]
}

/** Its flag rows, replaced: the old ones go, one row per flag of the document comes. */
export const DELETE_FLAGS_OF_SQL = 'DELETE FROM exchange_flags WHERE seq IN (SELECT seq FROM exchanges WHERE id = ?)'
export const INSERT_FLAG_OF_SQL = 'INSERT INTO exchange_flags (flag, started_at, seq) SELECT ?, started_at, seq FROM exchanges WHERE id = ? ON CONFLICT DO NOTHING'

export interface SummarySql {
  /** Rows of (dim, k, n): `total` and `errors` (k null), then each breakdown's counts. */
  counts: Sql
  latency: Sql
}

/**
 * Totals, breakdowns and per route/feature latency percentiles, all computed in the database, in
 * two statements. Each reads the filtered rows once, into a MATERIALIZED CTE (issue 18): left to
 * itself, SQLite's planner walked a whole index in GROUP BY order (route, status) and tested the
 * time of every row — the percentiles read every row of a 100 000-row store for a 15-minute
 * window, 2.3 s for 7 days. The time range comes first now, through exchanges_window, an index
 * that holds every column these statements read (no table row is touched for a time window).
 */
export function summarySql (filter: ExchangeFilter): SummarySql {
  const w = whereClause(filter)
  const notErrors = NOT_ERRORS.map(() => '?').join(', ')
  // One GROUP BY over every combination (a few hundred at most), which each breakdown then sums:
  // one sort of the window's rows instead of one per breakdown. Flags are counted by seq.
  const by = (dim: string, column: string): string =>
    `SELECT * FROM (SELECT '${dim}' AS dim, ${column} AS k, sum(n) AS n FROM g GROUP BY ${column} ORDER BY sum(n) DESC LIMIT ${BREAKDOWN_LIMIT}) AS by_${dim}`
  const percentiles = `min(CASE WHEN c >= 0.50 THEN v END) AS p50, min(CASE WHEN c >= 0.95 THEN v END) AS p95,
              min(CASE WHEN c >= 0.99 THEN v END) AS p99`
  // cume_dist: the share of the group's rows at or below this one's value (ties included), so the
  // smallest value where it reaches p is the nearest-rank percentile. One window, one sort.
  const ranked = (column: string): string => `SELECT route, feature, ${column} AS v,
              cume_dist() OVER (PARTITION BY route, feature ORDER BY ${column}) AS c FROM w WHERE ${column} IS NOT NULL`
  return {
    // Placeholders bind in text order: both CTEs' WHERE clauses, then the NOT IN list. Records
    // written before diagnosis codes have only the cause's text.
    counts: {
      text: `WITH g AS MATERIALIZED (SELECT route, feature, CAST(status AS TEXT) AS status_k, COALESCE(cause_code, cause) AS cause_k, count(*) AS n
          FROM exchanges WHERE ${w.sql} GROUP BY route, feature, status, COALESCE(cause_code, cause)),
        s AS MATERIALIZED (SELECT seq FROM exchanges WHERE ${w.sql})
      SELECT 'total' AS dim, NULL AS k, COALESCE(sum(n), 0) AS n FROM g
      UNION ALL SELECT 'errors', NULL, count(DISTINCT f.seq) FROM exchange_flags f WHERE f.seq IN (SELECT seq FROM s) AND f.flag NOT IN (${notErrors})
      UNION ALL ${by('route', 'route')}
      UNION ALL ${by('feature', 'feature')}
      UNION ALL ${by('status', 'status_k')}
      UNION ALL ${by('cause', 'cause_k')}
      UNION ALL SELECT * FROM (SELECT 'flag' AS dim, f.flag AS k, count(*) AS n FROM exchange_flags f
        WHERE f.seq IN (SELECT seq FROM s) GROUP BY f.flag ORDER BY count(*) DESC LIMIT ${BREAKDOWN_LIMIT}) AS by_flag`,
      params: [...w.params, ...w.params, ...NOT_ERRORS]
    },
    latency: {
      text: `WITH w AS MATERIALIZED (SELECT route, feature, ttfb_ms, duration_ms FROM exchanges WHERE ${w.sql}),
      dp AS (SELECT route, feature, count(*) AS n, ${percentiles} FROM (${ranked('duration_ms')}) AS d GROUP BY route, feature),
      tp AS (SELECT route, feature, ${percentiles} FROM (${ranked('ttfb_ms')}) AS t GROUP BY route, feature)
      SELECT dp.route, dp.feature, dp.n, dp.p50 AS d50, dp.p95 AS d95, dp.p99 AS d99, tp.p50 AS t50, tp.p95 AS t95, tp.p99 AS t99
      FROM dp LEFT JOIN tp ON tp.route = dp.route AND tp.feature = dp.feature ORDER BY dp.n DESC, dp.route, dp.feature LIMIT ${LATENCY_ROWS_LIMIT}`,
      params: w.params
    }
  }
}

/**
 * Requests and failures per bucket of `stepMs`, in the database: integer division of the start
 * time (both backends divide integers to an integer), only buckets with rows, the newest
 * MAX_BUCKETS. The step is a validated integer written into the text, so the GROUP BY
 * expression is the SELECT's in either database.
 */
export function timeSeriesSql (filter: ExchangeFilter, stepMs: number): Sql {
  if (!Number.isInteger(stepMs) || stepMs < 1) throw new RangeError(`step must be a positive integer of ms, not ${stepMs}`)
  const w = whereClause(filter)
  const notErrors = NOT_ERRORS.map(() => '?').join(', ')
  return {
    text: `SELECT exchanges.started_at / ${stepMs} AS b, count(*) AS n,
      count(*) FILTER (WHERE EXISTS (SELECT 1 FROM exchange_flags f WHERE f.seq = exchanges.seq AND f.flag NOT IN (${notErrors}))) AS errors
      FROM exchanges WHERE ${w.sql} GROUP BY exchanges.started_at / ${stepMs} ORDER BY b DESC LIMIT ${MAX_BUCKETS}`,
    params: [...NOT_ERRORS, ...w.params]
  }
}

/**
 * Deletes the matching exchanges, returning their seqs; their flag rows go after, by seq (a flag
 * filter reads the flag rows, so they must still be there when the exchanges are chosen).
 */
export function purgeSql (filter: ExchangeFilter): Sql {
  const w = whereClause(filter)
  return { text: `DELETE FROM exchanges WHERE ${w.sql} RETURNING seq`, params: w.params }
}

/** Retention: the oldest rows are found in chunks so no delete holds locks for long. */
export const PRUNE_BY_AGE_SQL = 'SELECT seq FROM exchanges WHERE started_at < ? ORDER BY seq LIMIT ?'
export const PRUNE_BOUNDARY_SQL = 'SELECT seq FROM exchanges ORDER BY seq DESC LIMIT 1 OFFSET ?'
export const PRUNE_UP_TO_SQL = 'SELECT seq FROM exchanges WHERE seq <= ? ORDER BY seq LIMIT ?'
export const PRUNE_CHUNK = 5_000
