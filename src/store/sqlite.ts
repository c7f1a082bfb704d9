import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { Exchange, ExchangeLink } from '../capture/exchange.js'
import { decodeCursor, encodeCursor, whereClause } from './query.js'
import { NOT_ERRORS, type Summary } from './summary.js'
import type { ExchangeFilter, Page, PageRequest } from './types.js'

/** Versioned migrations; `PRAGMA user_version` records how many ran. Append only. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE exchanges (
     seq            INTEGER PRIMARY KEY,
     id             TEXT NOT NULL UNIQUE,
     started_at     INTEGER NOT NULL,
     route          TEXT NOT NULL,
     hop            TEXT NOT NULL,
     correlation_id TEXT NOT NULL,
     method         TEXT NOT NULL,
     path           TEXT NOT NULL,
     status         INTEGER,
     feature        TEXT,
     model          TEXT,
     ttfb_ms        REAL,
     duration_ms    REAL NOT NULL,
     data           TEXT NOT NULL
   );
   CREATE INDEX exchanges_time ON exchanges (started_at, seq);
   CREATE INDEX exchanges_correlation ON exchanges (correlation_id);
   CREATE INDEX exchanges_status ON exchanges (status, started_at);
   CREATE INDEX exchanges_route ON exchanges (route, started_at);
   CREATE TABLE exchange_flags (
     flag       TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     seq        INTEGER NOT NULL,
     PRIMARY KEY (flag, started_at, seq)
   ) WITHOUT ROWID;
   CREATE INDEX exchange_flags_seq ON exchange_flags (seq);`,
  // Trace links: a model-hop exchange points at the gateway-hop exchange that caused it.
  `ALTER TABLE exchanges ADD COLUMN parent_id TEXT;
   CREATE INDEX exchanges_parent ON exchanges (parent_id);
   CREATE INDEX exchanges_hop_time ON exchanges (hop, started_at);`,
  // The diagnosed cause, for the summary's breakdown.
  `ALTER TABLE exchanges ADD COLUMN cause TEXT;`
]

export class StoreOpenError extends Error {
  readonly code = 'DDP_STORE_OPEN_FAILED'
}

export interface Retention {
  maxRows: number
  maxAgeHours: number
}

/**
 * The embedded store: one SQLite file in WAL mode. Synchronous (better-sqlite3): it runs in the
 * capture worker thread, never on the thread that forwards traffic.
 */
export class SqliteStore {
  private readonly db: Database.Database
  private readonly insertExchange: Database.Statement
  private readonly insertFlag: Database.Statement
  private readonly insertMany: (batch: readonly Exchange[]) => void

  constructor (readonly path: string, options: { readonly?: boolean, mustExist?: boolean } = {}) {
    const mustExist = (options.readonly ?? false) || (options.mustExist ?? false)
    try {
      if (path !== ':memory:' && !mustExist) mkdirSync(dirname(path), { recursive: true })
      this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: mustExist })
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL')
        // WAL + NORMAL: durable across a process crash; at most the last transactions lost on power loss.
        this.db.pragma('synchronous = NORMAL')
      }
      // Wait briefly for a lock held elsewhere (a CLI reading the file), then fail the batch.
      this.db.pragma('busy_timeout = 200')
      if (!options.readonly) this.migrate()
    } catch (err) {
      throw new StoreOpenError(`cannot open the store at ${path}: ${(err as Error).message}`)
    }
    this.insertExchange = this.db.prepare(`INSERT INTO exchanges
      (id, started_at, route, hop, correlation_id, method, path, status, feature, model, ttfb_ms, duration_ms, parent_id, cause, data)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    this.insertFlag = this.db.prepare('INSERT OR IGNORE INTO exchange_flags (flag, started_at, seq) VALUES (?, ?, ?)')
    this.insertMany = this.db.transaction((batch: readonly Exchange[]) => {
      for (const ex of batch) {
        const startedAt = Date.parse(ex.started_at)
        const info = this.insertExchange.run(
          ex.id, startedAt, ex.route, ex.hop, ex.correlation_id, ex.method, ex.path, ex.status,
          ex.meta.feature, ex.meta.model ?? ex.meta.model_name ?? null, ex.timings.ttfb_ms, ex.timings.duration_ms,
          ex.parent_id, ex.diagnosis?.cause ?? null, JSON.stringify(ex)
        )
        for (const flag of ex.flags) this.insertFlag.run(flag, startedAt, info.lastInsertRowid)
      }
    })
  }

  private migrate (): void {
    const version = this.db.pragma('user_version', { simple: true }) as number
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] as string)
        this.db.pragma(`user_version = ${v + 1}`)
      })()
    }
  }

  /** One transaction per batch. Throws on a store error; the caller counts the batch as dropped. */
  insert (batch: readonly Exchange[]): void {
    if (batch.length > 0) this.insertMany(batch)
  }

  list (filter: ExchangeFilter, page: PageRequest): Page {
    const where = whereClause(filter)
    let sql = `SELECT seq, started_at, data FROM exchanges WHERE ${where.sql}`
    const params = [...where.params]
    if (page.cursor) {
      const c = decodeCursor(page.cursor)
      sql += ' AND (started_at < ? OR (started_at = ? AND seq < ?))'
      params.push(c.startedAt, c.startedAt, c.seq)
    }
    sql += ' ORDER BY started_at DESC, seq DESC LIMIT ?'
    params.push(page.limit + 1)
    const rows = this.db.prepare(sql).all(...params) as Array<{ seq: number, started_at: number, data: string }>
    const more = rows.length > page.limit
    const items = (more ? rows.slice(0, page.limit) : rows)
    const last = items[items.length - 1]
    return {
      items: items.map((r) => JSON.parse(r.data) as Exchange),
      next_cursor: more && last !== undefined ? encodeCursor(last.started_at, last.seq) : null
    }
  }

  get (id: string): Exchange | null {
    const row = this.db.prepare('SELECT data FROM exchanges WHERE id = ?').get(id) as { data: string } | undefined
    return row === undefined ? null : (JSON.parse(row.data) as Exchange)
  }

  // Linking runs for every gateway exchange: its statements are prepared once.
  private linkStatements: { unlinked: Database.Statement, spanning: Database.Statement, setParent: Database.Statement } | null = null

  private get link (): NonNullable<SqliteStore['linkStatements']> {
    return this.linkStatements ??= {
      unlinked: this.db.prepare(`SELECT data FROM exchanges
        WHERE hop = 'model' AND parent_id IS NULL AND started_at >= ? AND started_at <= ? ORDER BY started_at LIMIT 500`),
      spanning: this.db.prepare(`SELECT count(*) AS n FROM exchanges
        WHERE hop = 'gateway' AND started_at <= ? AND started_at + duration_ms >= ? AND started_at >= ?`),
      setParent: this.db.prepare(`UPDATE exchanges SET parent_id = ?, data = json_set(data, '$.parent_id', ?, '$.link', json(?)) WHERE id = ?`)
    }
  }

  /** Model-hop exchanges not yet linked to a parent, started within [from, to] (epoch ms). */
  unlinkedModelExchanges (from: number, to: number): Exchange[] {
    const rows = this.link.unlinked.all(from, to) as Array<{ data: string }>
    return rows.map((r) => JSON.parse(r.data) as Exchange)
  }

  /** Gateway-hop exchanges whose span contains [from, to]: the possible parents of a model call. */
  gatewaysSpanning (from: number, to: number): number {
    return (this.link.spanning.get(from, to, from - 3_600_000) as { n: number }).n
  }

  setParent (id: string, parentId: string, link: ExchangeLink): void {
    this.link.setParent.run(parentId, parentId, JSON.stringify(link), id)
  }

  /** Every exchange of a correlation id, and the model-hop exchanges linked to them. */
  byCorrelation (correlationId: string): Exchange[] {
    const rows = this.db.prepare(`SELECT data FROM exchanges WHERE correlation_id = ?
      UNION SELECT data FROM exchanges WHERE parent_id IN (SELECT id FROM exchanges WHERE correlation_id = ?)
      LIMIT 1000`).all(correlationId, correlationId) as Array<{ data: string }>
    return rows.map((r) => JSON.parse(r.data) as Exchange)
  }

  summary (filter: ExchangeFilter): Summary {
    const w = whereClause(filter)
    const all = <T> (sql: string): T[] => this.db.prepare(sql).all(...w.params) as T[]
    const notErrors = NOT_ERRORS.map(() => '?').join(', ')
    // Placeholders bind in text order: the NOT IN list comes before the WHERE clause.
    const totals = this.db.prepare(`SELECT count(*) AS total,
      sum(EXISTS (SELECT 1 FROM exchange_flags f WHERE f.seq = exchanges.seq AND f.flag NOT IN (${notErrors}))) AS errors
      FROM exchanges WHERE ${w.sql}`).get(...NOT_ERRORS, ...w.params) as { total: number, errors: number | null }
    const by = (column: string): Record<string, number> => Object.fromEntries(
      all<{ k: string | number | null, n: number }>(`SELECT ${column} AS k, count(*) AS n FROM exchanges WHERE ${w.sql} GROUP BY k ORDER BY n DESC LIMIT 100`)
        .map((r) => [r.k === null ? 'none' : String(r.k), r.n]))
    const byFlag = Object.fromEntries(all<{ k: string, n: number }>(`SELECT f.flag AS k, count(*) AS n FROM exchange_flags f
      JOIN exchanges ON exchanges.seq = f.seq WHERE ${w.sql} GROUP BY f.flag ORDER BY n DESC`).map((r) => [r.k, r.n]))
    const latency = this.db.prepare(`WITH f AS (SELECT route, feature, ttfb_ms, duration_ms FROM exchanges WHERE ${w.sql}),
      d AS (SELECT route, feature, duration_ms AS v,
              row_number() OVER (PARTITION BY route, feature ORDER BY duration_ms) AS rn,
              count(*) OVER (PARTITION BY route, feature) AS n FROM f),
      t AS (SELECT route, feature, ttfb_ms AS v,
              row_number() OVER (PARTITION BY route, feature ORDER BY ttfb_ms) AS rn,
              count(*) OVER (PARTITION BY route, feature) AS n FROM f WHERE ttfb_ms IS NOT NULL),
      dp AS (SELECT route, feature, max(n) AS n,
              min(CASE WHEN rn >= 0.50 * n THEN v END) AS p50, min(CASE WHEN rn >= 0.95 * n THEN v END) AS p95,
              min(CASE WHEN rn >= 0.99 * n THEN v END) AS p99 FROM d GROUP BY route, feature),
      tp AS (SELECT route, feature,
              min(CASE WHEN rn >= 0.50 * n THEN v END) AS p50, min(CASE WHEN rn >= 0.95 * n THEN v END) AS p95,
              min(CASE WHEN rn >= 0.99 * n THEN v END) AS p99 FROM t GROUP BY route, feature)
      SELECT dp.route, dp.feature, dp.n, dp.p50 AS d50, dp.p95 AS d95, dp.p99 AS d99, tp.p50 AS t50, tp.p95 AS t95, tp.p99 AS t99
      FROM dp LEFT JOIN tp ON tp.route = dp.route AND tp.feature = dp.feature ORDER BY dp.n DESC LIMIT 200`)
      .all(...w.params) as Array<{ route: string, feature: string, n: number, d50: number, d95: number, d99: number, t50: number | null, t95: number | null, t99: number | null }>
    const total = totals.total
    const errors = totals.errors ?? 0
    return {
      since: filter.since === undefined ? null : new Date(filter.since).toISOString(),
      until: filter.until === undefined ? null : new Date(filter.until).toISOString(),
      total,
      errors,
      error_rate: total === 0 ? 0 : Math.round((errors / total) * 10_000) / 10_000,
      by_route: by('route'),
      by_feature: by('feature'),
      by_status: by('status'),
      by_flag: byFlag,
      by_cause: by('cause'),
      latency: latency.map((r) => ({
        route: r.route,
        feature: r.feature,
        count: r.n,
        ttfb_ms: { p50: r.t50, p95: r.t95, p99: r.t99 },
        duration_ms: { p50: r.d50, p95: r.d95, p99: r.d99 }
      }))
    }
  }

  /** Deletes the exchanges matching a filter (and their flag rows); returns how many. */
  purge (filter: ExchangeFilter): number {
    const w = whereClause(filter)
    return this.db.transaction(() => {
      this.db.prepare(`DELETE FROM exchange_flags WHERE seq IN (SELECT seq FROM exchanges WHERE ${w.sql})`).run(...w.params)
      return this.db.prepare(`DELETE FROM exchanges WHERE ${w.sql}`).run(...w.params).changes
    })()
  }

  count (): number {
    return (this.db.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n
  }

  /**
   * Retention by age and row count, in bounded chunks so a large purge never holds the write
   * lock for long. Returns the number of exchanges removed.
   */
  prune (retention: Retention, now = Date.now()): number {
    const cutoff = now - retention.maxAgeHours * 3_600_000
    let removed = 0
    const chunk = 5_000
    const byAge = this.db.prepare('SELECT seq FROM exchanges WHERE started_at < ? ORDER BY seq LIMIT ?')
    const overCount = this.db.prepare('SELECT seq FROM exchanges ORDER BY seq DESC LIMIT 1 OFFSET ?')
    const deleteUpTo = this.db.transaction((seqs: number[]) => {
      const delEx = this.db.prepare(`DELETE FROM exchanges WHERE seq IN (${seqs.map(() => '?').join(',')})`)
      const delFlags = this.db.prepare(`DELETE FROM exchange_flags WHERE seq IN (${seqs.map(() => '?').join(',')})`)
      delFlags.run(...seqs)
      return delEx.run(...seqs).changes
    })
    for (;;) {
      const seqs = (byAge.all(cutoff, chunk) as Array<{ seq: number }>).map((r) => r.seq)
      if (seqs.length === 0) break
      removed += deleteUpTo(seqs)
    }
    const boundary = overCount.get(retention.maxRows) as { seq: number } | undefined
    if (boundary !== undefined) {
      const oldest = this.db.prepare('SELECT seq FROM exchanges WHERE seq <= ? ORDER BY seq LIMIT ?')
      for (;;) {
        const seqs = (oldest.all(boundary.seq, chunk) as Array<{ seq: number }>).map((r) => r.seq)
        if (seqs.length === 0) break
        removed += deleteUpTo(seqs)
      }
    }
    return removed
  }

  close (): void {
    if (this.db.open) this.db.close()
  }
}
