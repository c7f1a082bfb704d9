import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { Exchange } from '../capture/exchange.js'
import { type PageRow, toPage } from './query.js'
import {
  BY_CORRELATION_SQL, COUNT_SQL, EXCHANGE_COLUMNS, exchangeRow, gatewaysSpanningSql, GET_SQL, listSql, PRUNE_BOUNDARY_SQL, PRUNE_BY_AGE_SQL, PRUNE_CHUNK,
  PRUNE_UP_TO_SQL, purgeSql, SET_PARENT_SQL, type Sql, STARTED_AT, summarySql, unlinkedModelSql
} from './sql.js'
import { type ExchangeStore, StoreOpenError } from './store.js'
import { assembleSummary, type Summary } from './summary.js'
import { buildTrace, type Trace } from './trace.js'
import type { ExchangeFilter, Page, PageRequest, Retention } from './types.js'

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
  `ALTER TABLE exchanges ADD COLUMN cause TEXT;`,
  // The proxy instance that recorded it (a store copied or merged from several).
  `ALTER TABLE exchanges ADD COLUMN proxy_instance TEXT NOT NULL DEFAULT '';`,
  // Linking counts the gateway requests spanning a model call by their end time (gatewaysSpanningSql).
  `CREATE INDEX exchanges_hop_end ON exchanges (hop, started_at + duration_ms);`
]

/**
 * The embedded store: one SQLite file in WAL mode. better-sqlite3 is synchronous: the store runs
 * in the capture worker thread (or the CLI), never on the thread that forwards traffic. The async
 * methods are the `ExchangeStore` interface over synchronous calls.
 */
export class SqliteStore implements ExchangeStore {
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
        // A stored exchange is ~2-3 KB of JSON: with 4 KiB pages each row takes a page of its own
        // (about half of it empty), so every insert writes ~2x its bytes to the WAL and again at
        // checkpoint. 16 KiB pages hold 6-7 rows. Only takes effect when the file is created (an
        // existing store keeps its page size); must come before journal_mode.
        this.db.pragma('page_size = 16384')
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
    this.insertExchange = this.db.prepare(`INSERT INTO exchanges (${EXCHANGE_COLUMNS.join(', ')})
      VALUES (${EXCHANGE_COLUMNS.map(() => '?').join(', ')})`)
    this.insertFlag = this.db.prepare('INSERT OR IGNORE INTO exchange_flags (flag, started_at, seq) VALUES (?, ?, ?)')
    this.insertMany = this.db.transaction((batch: readonly Exchange[]) => {
      for (const ex of batch) {
        const row = exchangeRow(ex)
        const info = this.insertExchange.run(...row)
        for (const flag of ex.flags) this.insertFlag.run(flag, row[STARTED_AT], info.lastInsertRowid)
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

  get display (): string {
    return this.path
  }

  /** One transaction per batch. Throws on a store error; the caller counts the batch as dropped. */
  async insert (batch: readonly Exchange[]): Promise<void> {
    if (batch.length > 0) this.insertMany(batch)
  }

  private all<T> (q: Sql): T[] {
    return this.db.prepare(q.text).all(...q.params) as T[]
  }

  async list (filter: ExchangeFilter, page: PageRequest): Promise<Page> {
    return toPage(this.all<PageRow>(listSql(filter, page)), page.limit)
  }

  async get (id: string): Promise<Exchange | null> {
    const row = this.db.prepare(GET_SQL).get(id) as { data: string } | undefined
    return row === undefined ? null : (JSON.parse(row.data) as Exchange)
  }

  async count (): Promise<number> {
    return (this.db.prepare(COUNT_SQL).get() as { n: number }).n
  }

  // Linking runs for every batch with gateway exchanges: its statements are prepared once.
  private linkStatements: { unlinked: Database.Statement, spanning: Database.Statement, setParent: Database.Statement } | null = null

  private get link (): NonNullable<SqliteStore['linkStatements']> {
    return this.linkStatements ??= {
      unlinked: this.db.prepare(unlinkedModelSql(0, 0).text),
      spanning: this.db.prepare(gatewaysSpanningSql(0, 0).text),
      setParent: this.db.prepare(SET_PARENT_SQL)
    }
  }

  async unlinkedModelExchanges (from: number, to: number): Promise<Exchange[]> {
    const rows = this.link.unlinked.all(...unlinkedModelSql(from, to).params) as Array<{ data: string }>
    return rows.map((r) => JSON.parse(r.data) as Exchange)
  }

  async gatewaysSpanning (from: number, to: number): Promise<number> {
    return (this.link.spanning.get(...gatewaysSpanningSql(from, to).params) as { n: number }).n
  }

  async setParent (child: Exchange): Promise<void> {
    this.link.setParent.run(child.parent_id, JSON.stringify(child), child.id)
  }

  async trace (correlationId: string): Promise<Trace | null> {
    const rows = this.db.prepare(BY_CORRELATION_SQL).all(correlationId, correlationId) as Array<{ data: string }>
    return buildTrace(correlationId, rows.map((r) => JSON.parse(r.data) as Exchange))
  }

  async summary (filter: ExchangeFilter): Promise<Summary> {
    const q = summarySql(filter)
    const totals = this.db.prepare(q.totals.text).get(...q.totals.params) as { total: number, errors: number }
    return assembleSummary(filter, {
      total: totals.total,
      errors: totals.errors,
      byRoute: this.all(q.byRoute),
      byFeature: this.all(q.byFeature),
      byStatus: this.all(q.byStatus),
      byCause: this.all(q.byCause),
      byFlag: this.all(q.byFlag),
      latency: this.all(q.latency)
    })
  }

  /** Deletes the exchanges matching a filter (and their flag rows); returns how many. */
  async purge (filter: ExchangeFilter): Promise<number> {
    const q = purgeSql(filter)
    return this.db.transaction(() => {
      const seqs = (this.db.prepare(q.text).all(...q.params) as Array<{ seq: number }>).map((r) => r.seq)
      for (let i = 0; i < seqs.length; i += PRUNE_CHUNK) {
        const chunk = seqs.slice(i, i + PRUNE_CHUNK)
        this.db.prepare(`DELETE FROM exchange_flags WHERE seq IN (${chunk.map(() => '?').join(',')})`).run(...chunk)
      }
      return seqs.length
    })()
  }

  /**
   * Retention by age and row count, in bounded chunks so a large purge never holds the write
   * lock for long. Returns the number of exchanges removed.
   */
  async prune (retention: Retention, now = Date.now()): Promise<number> {
    const cutoff = now - retention.maxAgeHours * 3_600_000
    let removed = 0
    const byAge = this.db.prepare(PRUNE_BY_AGE_SQL)
    const deleteChunk = this.db.transaction((seqs: number[]) => {
      const list = seqs.map(() => '?').join(',')
      this.db.prepare(`DELETE FROM exchange_flags WHERE seq IN (${list})`).run(...seqs)
      return this.db.prepare(`DELETE FROM exchanges WHERE seq IN (${list})`).run(...seqs).changes
    })
    const seqsOf = (rows: unknown[]): number[] => (rows as Array<{ seq: number }>).map((r) => r.seq)
    for (let seqs = seqsOf(byAge.all(cutoff, PRUNE_CHUNK)); seqs.length > 0; seqs = seqsOf(byAge.all(cutoff, PRUNE_CHUNK))) {
      removed += deleteChunk(seqs)
    }
    const boundary = this.db.prepare(PRUNE_BOUNDARY_SQL).get(retention.maxRows) as { seq: number } | undefined
    if (boundary !== undefined) {
      const oldest = this.db.prepare(PRUNE_UP_TO_SQL)
      for (let seqs = seqsOf(oldest.all(boundary.seq, PRUNE_CHUNK)); seqs.length > 0; seqs = seqsOf(oldest.all(boundary.seq, PRUNE_CHUNK))) {
        removed += deleteChunk(seqs)
      }
    }
    return removed
  }

  async close (): Promise<void> {
    if (this.db.open) this.db.close()
  }
}
