import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import Database from 'better-sqlite3'
import type { Exchange } from '../capture/exchange.js'
import type { LogEvent } from '../logs/event.js'
import { logEventRows } from './log-event-rows.js'
import {
  boundLimit, IMPORTED_IDS_MAX, importedCorrelationIdsSql, INSERT_LOG_EVENT_SQL, listLogEventsSql, LOG_EVENTS_DEFAULT, LOG_EVENTS_MAX, type LogEventFilter,
  type LogEventPage, type LogEventRow, logEventsByCorrelationSql, LOG_PRUNE_CHUNK, PRUNE_LOG_EVENTS_SQL, purgesEverything, toLogEventPage
} from './log-event-sql.js'
import { type PageRow, toPage } from './query.js'
import {
  BY_CORRELATION_SQL, COUNT_SQL, documentsSql, DELETE_FLAGS_OF_SQL, EXCHANGE_COLUMNS, exchangeRow, gatewaysEndedSinceSql, gatewaysSpanningSql, GET_SQL, INSERT_FLAG_OF_SQL, listSql,
  PRUNE_BOUNDARY_SQL, PRUNE_BY_AGE_SQL, PRUNE_CHUNK, PRUNE_UP_TO_SQL, purgeSql, resolveDocuments, REWRITE_SQL, rewriteParams, type Sql, STARTED_AT, summarySql, timeSeriesSql, unlinkedModelSql
} from './sql.js'
import { type EndWindow, type ExchangeStore, type HeldExchanges, NONE_HELD, StoreOpenError } from './store.js'
import { assembleSummary, assembleTimeSeries, type Summary, type TimeSeries } from './summary.js'
import { buildTrace, type Trace } from './trace.js'
import type { ExchangeFilter, Page, PageRequest, Retention } from './types.js'

/** The imported log lines' table; a read-only older store gets it empty (readOlderSchema). */
const LOG_EVENTS_TABLE = `CREATE TABLE IF NOT EXISTS log_events (
     seq            INTEGER PRIMARY KEY,
     fingerprint    TEXT NOT NULL UNIQUE,
     correlation_id TEXT,
     time           INTEGER NOT NULL,
     source         TEXT NOT NULL,
     kind           TEXT NOT NULL,
     level          TEXT,
     import_id      TEXT NOT NULL,
     data           TEXT NOT NULL
   );
   CREATE INDEX IF NOT EXISTS log_events_correlation ON log_events (correlation_id, time, seq);
   CREATE INDEX IF NOT EXISTS log_events_time ON log_events (time, seq);
   CREATE INDEX IF NOT EXISTS log_events_import ON log_events (import_id, correlation_id);`

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
  `CREATE INDEX exchanges_hop_end ON exchanges (hop, started_at + duration_ms);`,
  // The cause's stable code (issue 17): what the summary groups by and `?cause=` matches.
  `ALTER TABLE exchanges ADD COLUMN cause_code TEXT;
   CREATE INDEX exchanges_cause_code ON exchanges (cause_code, started_at);`,
  // Issue 18: every column the summary reads, after the time: a window is read from this index
  // alone (src/store/sql.ts summarySql), never from the rows and their JSON documents.
  'CREATE INDEX exchanges_window ON exchanges (started_at, route, feature, status, cause_code, cause, ttfb_ms, duration_ms);',
  // Log lines imported beside the exchanges (issue 19): one row per line, once (by fingerprint).
  // IF NOT EXISTS: a store an older version rewound (its version lowered) keeps its table.
  LOG_EVENTS_TABLE,
  // Issue 20: every index is paid by every insert, on the capture thread (~1 µs a row each; the
  // insert was a third of a record's cost). The window index, now (started_at, seq, …), gives the
  // keyset order the time index gave, and answers status, route and cause filters from its own
  // columns; parent links are indexed only where there is one (most rows have none).
  `DROP INDEX IF EXISTS exchanges_time;
   DROP INDEX IF EXISTS exchanges_status;
   DROP INDEX IF EXISTS exchanges_route;
   DROP INDEX IF EXISTS exchanges_cause_code;
   DROP INDEX IF EXISTS exchanges_window;
   CREATE INDEX exchanges_window ON exchanges (started_at, seq, route, feature, status, cause_code, cause, ttfb_ms, duration_ms);
   DROP INDEX IF EXISTS exchanges_parent;
   CREATE INDEX exchanges_parent ON exchanges (parent_id) WHERE parent_id IS NOT NULL;`
]

/**
 * The embedded store: one SQLite file in WAL mode. better-sqlite3 is synchronous: the store runs
 * in the capture worker thread (or the CLI), never on the thread that forwards traffic. The async
 * methods are the `ExchangeStore` interface over synchronous calls.
 */
/**
 * The WAL's bound (issue 15): checkpoints start when it holds this much (wal_autocheckpoint, in
 * pages of the file's page size), and a WAL that grew past it (a long reader, a failed checkpoint)
 * is truncated back to it once reset (journal_size_limit). SQLite's default, 1 000 pages, is
 * 16 MiB with our 16 KiB pages: on a small volume the WAL alone filled the disk before the first
 * checkpoint, and then no checkpoint could ever run.
 */
export const WAL_LIMIT_BYTES = 4 * 1024 * 1024

/** Idle this long (no write), the WAL is checkpointed and truncated to zero bytes. */
const IDLE_CHECKPOINT_MS = 1_000

/** While writes fail (disk full), a checkpoint that would free the WAL is tried at most this often. */
const RECOVERY_CHECKPOINT_MS = 250

/** Errors a checkpoint may cure: the disk (or the file size limit) was full. */
function isWriteError (err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && (code.startsWith('SQLITE_FULL') || code.startsWith('SQLITE_IOERR'))
}

/**
 * Retention deletes this many rows per transaction on SQLite (PRUNE_CHUNK is sized for
 * PostgreSQL round trips): each chunk holds the write lock, and capture's commits wait for it.
 */
const SQLITE_PRUNE_CHUNK = 1_000

const BUSY_TIMEOUT_MS = 200

/** The insert statements of a read-only store: never run (insert refuses first). */
const NO_WRITES = { run: () => { throw new Error('the store is open read-only') } } as unknown as Database.Statement

export class SqliteStore implements ExchangeStore {
  private readonly db: Database.Database
  private readonly insertExchange: Database.Statement
  private readonly insertFlag: Database.Statement
  private readonly insertMany: (batch: readonly Exchange[]) => void
  private readonly readonly: boolean
  /** performance.now() of the last write, and whether the WAL was truncated since. */
  private lastWriteAt = 0
  private walDirty = false
  /** The last write failed (disk full, locked, I/O error). */
  private writeFailed = false
  private lastRecoveryCheckpointAt = -Infinity
  private maintenanceTimer: NodeJS.Timeout | null = null

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
        const pageSize = this.db.pragma('page_size', { simple: true }) as number
        this.db.pragma(`wal_autocheckpoint = ${Math.max(16, Math.floor(WAL_LIMIT_BYTES / pageSize))}`)
        this.db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`)
      }
      // Wait briefly for a lock held elsewhere (a CLI reading the file), then fail the batch.
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
      if (!options.readonly) this.migrate()
      else this.readOlderSchema()
    } catch (err) {
      throw new StoreOpenError(`cannot open the store at ${path}: ${(err as Error).message}`)
    }
    // Read-only: nothing is written, and an older store's table may lack today's columns.
    this.insertExchange = options.readonly === true ? NO_WRITES : this.db.prepare(`INSERT INTO exchanges (${EXCHANGE_COLUMNS.join(', ')})
      VALUES (${EXCHANGE_COLUMNS.map(() => '?').join(', ')})`)
    this.insertFlag = options.readonly === true ? NO_WRITES : this.db.prepare('INSERT OR IGNORE INTO exchange_flags (flag, started_at, seq) VALUES (?, ?, ?)')
    this.insertMany = this.db.transaction((batch: readonly Exchange[]) => {
      for (const ex of batch) {
        const row = exchangeRow(ex)
        const info = this.insertExchange.run(...row)
        for (const flag of ex.flags) this.insertFlag.run(flag, row[STARTED_AT], info.lastInsertRowid)
      }
    })
    this.readonly = options.readonly ?? false
    if (!this.readonly && path !== ':memory:') {
      this.maintenanceTimer = setInterval(() => this.checkpointIfIdle(), IDLE_CHECKPOINT_MS)
      this.maintenanceTimer.unref()
    }
  }

  /**
   * A store written by an older version, opened read-only (a file a customer sent, read with
   * --db): it cannot be migrated, so a temporary view named like the table shadows it with
   * today's columns, the missing ones NULL. Every query then runs unchanged; the file is untouched.
   */
  private readOlderSchema (): void {
    const hasLogEvents = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log_events'").get() !== undefined
    if (!hasLogEvents) this.db.exec(LOG_EVENTS_TABLE.replaceAll('CREATE TABLE ', 'CREATE TEMP TABLE ').replace(/CREATE INDEX [^;]*;/g, ''))
    const present = new Set((this.db.prepare("SELECT name FROM pragma_table_info('exchanges')").all() as Array<{ name: string }>).map((r) => r.name))
    if (present.size === 0) return
    const missing = EXCHANGE_COLUMNS.filter((c) => !present.has(c))
    if (missing.length === 0) return
    this.db.exec(`CREATE TEMP VIEW exchanges AS SELECT *, ${missing.map((c) => `NULL AS ${c}`).join(', ')} FROM main.exchanges`)
  }

  /**
   * Idle (no write for IDLE_CHECKPOINT_MS): the whole WAL into the database, and the file
   * truncated to zero bytes. Under load the automatic checkpoints (every WAL_LIMIT_BYTES) bound it.
   */
  private checkpointIfIdle (): void {
    if (!this.walDirty || !this.db.open || performance.now() - this.lastWriteAt < IDLE_CHECKPOINT_MS) return
    if (this.checkpoint()) this.walDirty = false
  }

  /**
   * `wal_checkpoint(TRUNCATE)`: true when every frame reached the database and the WAL file was
   * truncated. False when a reader holds part of it (busy) or the database file cannot grow to
   * take the frames (disk full): nothing is lost, the WAL stays as it is.
   */
  checkpoint (): boolean {
    if (this.readonly || !this.db.open || this.db.inTransaction) return false
    // TRUNCATE waits for readers through the busy handler: not here, the thread has batches to write.
    this.db.pragma('busy_timeout = 0')
    try {
      const r = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number, log: number, checkpointed: number }>
      return r[0]?.busy === 0
    } catch {
      return false
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    }
  }

  /** The WAL's bound (bytes) as set on this connection: wal_autocheckpoint pages × page size. */
  walSettings (): { autocheckpointPages: number, pageSize: number, journalSizeLimit: number } {
    return {
      autocheckpointPages: this.db.pragma('wal_autocheckpoint', { simple: true }) as number,
      pageSize: this.db.pragma('page_size', { simple: true }) as number,
      journalSizeLimit: this.db.pragma('journal_size_limit', { simple: true }) as number
    }
  }

  /**
   * A transaction a failed ROLLBACK left open would swallow every later batch (better-sqlite3
   * nests them as savepoints, never committed): roll it back before the next write.
   */
  private rollbackLeftover (): void {
    if (!this.db.inTransaction) return
    try {
      this.db.exec('ROLLBACK')
    } catch {
      // nothing to roll back after all
    }
  }

  /**
   * The disk was full: SQLite checkpoints only after a successful commit, which a WAL that cannot
   * grow prevents, so nothing would ever free it. Checkpoint it ourselves (at most every
   * RECOVERY_CHECKPOINT_MS): it succeeds once the database file can take the WAL's pages — once
   * space returns — and the WAL is then empty for the next writes.
   */
  private recoveryCheckpoint (): boolean {
    const now = performance.now()
    if (now - this.lastRecoveryCheckpointAt < RECOVERY_CHECKPOINT_MS) return false
    this.lastRecoveryCheckpointAt = now
    return this.checkpoint()
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
    if (batch.length === 0) return
    if (this.writeFailed) this.rollbackLeftover()
    try {
      try {
        this.insertMany(batch)
      } catch (err) {
        // Disk full (or a write error): once a checkpoint could free the WAL, try again at once.
        if (!isWriteError(err) || !this.recoveryCheckpoint()) throw err
        this.rollbackLeftover()
        this.insertMany(batch)
      }
    } catch (err) {
      this.writeFailed = true
      throw err
    } finally {
      this.lastWriteAt = performance.now()
      this.walDirty = true
    }
    this.writeFailed = false
  }

  /**
   * Called after each read statement. The query thread (src/capture/reader-worker.ts) checkpoints
   * there: a checkpoint cannot pass a read still running, and the frames written meanwhile are
   * copied at once, by the reader's thread — not by the writer's next commit, which would wait for it.
   */
  afterRead: (() => void) | null = null

  private all<T> (q: Sql): T[] {
    const rows = this.db.prepare(q.text).all(...q.params) as T[]
    this.afterRead?.()
    return rows
  }

  async list (filter: ExchangeFilter, page: PageRequest): Promise<Page> {
    return toPage(this.all<PageRow>(listSql(filter, page)), page.limit)
  }

  async get (id: string): Promise<Exchange | null> {
    const row = this.db.prepare(GET_SQL).get(id) as { data: string } | undefined
    this.afterRead?.()
    return row === undefined ? null : (JSON.parse(row.data) as Exchange)
  }

  async count (): Promise<number> {
    const n = (this.db.prepare(COUNT_SQL).get() as { n: number }).n
    this.afterRead?.()
    return n
  }

  // Linking runs for every batch with gateway exchanges: its statements are prepared once.
  private linkStatements: { unlinked: Database.Statement, spanning: Database.Statement, endedSince: Database.Statement, setParent: Database.Statement } | null = null

  private get link (): NonNullable<SqliteStore['linkStatements']> {
    return this.linkStatements ??= {
      unlinked: this.db.prepare(unlinkedModelSql(0, 0).text),
      spanning: this.db.prepare(gatewaysSpanningSql(0, 0).text),
      endedSince: this.db.prepare(gatewaysEndedSinceSql({ endFrom: 0, endBy: 0, startBy: 0 }).text),
      setParent: this.db.prepare(REWRITE_SQL)
    }
  }

  async unlinkedModelExchanges (from: number, to: number, held: HeldExchanges = NONE_HELD): Promise<Exchange[]> {
    return this.documents(this.link.unlinked.pluck().all(...unlinkedModelSql(from, to).params) as string[], held)
  }

  async gatewaysSpanning (from: number, to: number): Promise<number> {
    return (this.link.spanning.get(...gatewaysSpanningSql(from, to).params) as { n: number }).n
  }

  async gatewaysEndedWithin (windows: readonly EndWindow[], held: HeldExchanges = NONE_HELD): Promise<Exchange[]> {
    const ids = new Set<string>()
    for (const w of windows) {
      for (const id of this.link.endedSince.pluck().all(...gatewaysEndedSinceSql(w).params) as string[]) {
        if (ids.size >= 500) break
        ids.add(id)
      }
      if (ids.size >= 500) break
    }
    return this.documents([...ids], held)
  }

  /** The exchanges of these ids: the held ones as they are, the others read. */
  private documents (ids: string[], held: HeldExchanges): Exchange[] {
    const missing = ids.filter((id) => held(id) === undefined)
    const rows = missing.length === 0 ? [] : this.db.prepare(documentsSql(missing).text).all(...missing) as Array<{ id: string, data: string }>
    return resolveDocuments(ids, held, rows)
  }

  async setParent (child: Exchange): Promise<void> {
    this.link.setParent.run(...rewriteParams(child))
  }

  async rewriteExchange (ex: Exchange): Promise<void> {
    this.write(() => this.db.transaction(() => {
      this.link.setParent.run(...rewriteParams(ex))
      this.db.prepare(DELETE_FLAGS_OF_SQL).run(ex.id)
      const insertFlag = this.db.prepare(INSERT_FLAG_OF_SQL)
      for (const flag of ex.flags) insertFlag.run(flag, ex.id)
    })())
  }

  async addLogEvents (events: readonly LogEvent[], importId: string): Promise<number> {
    const rows = logEventRows(events, importId)
    if (rows.length === 0) return 0
    const insert = this.db.prepare(INSERT_LOG_EVENT_SQL)
    return this.write(() => this.db.transaction(() => rows.reduce((added, row) => added + insert.run(...row).changes, 0))())
  }

  /** A write outside capture's batches: it dirties the WAL like one (the idle checkpoint truncates it). */
  private write<T> (fn: () => T): T {
    if (this.readonly) throw new Error('the store is open read-only')
    try {
      return fn()
    } finally {
      this.lastWriteAt = performance.now()
      this.walDirty = true
    }
  }

  async logEvents (correlationId: string, limit?: number): Promise<LogEvent[]> {
    return this.all<{ data: string }>(logEventsByCorrelationSql(correlationId, boundLimit(limit, LOG_EVENTS_DEFAULT, LOG_EVENTS_MAX))).map((r) => JSON.parse(r.data) as LogEvent)
  }

  async listLogEvents (filter: LogEventFilter, page: PageRequest): Promise<LogEventPage> {
    const limit = boundLimit(page.limit, 100, 1_000)
    return toLogEventPage(this.all<LogEventRow>(listLogEventsSql(filter, limit, page.cursor ?? null)), limit)
  }

  async importedCorrelationIds (importId: string, after: string | null, limit: number): Promise<string[]> {
    const rows = this.all<{ correlation_id: string }>(importedCorrelationIdsSql(importId, after, boundLimit(limit, IMPORTED_IDS_MAX, IMPORTED_IDS_MAX)))
    return rows.map((r) => r.correlation_id)
  }

  async trace (correlationId: string): Promise<Trace | null> {
    const rows = this.db.prepare(BY_CORRELATION_SQL).all(correlationId, correlationId) as Array<{ data: string }>
    this.afterRead?.()
    // One more than shown: whether the trace holds them all.
    const lines = await this.logEvents(correlationId, LOG_EVENTS_DEFAULT + 1)
    return buildTrace(correlationId, rows.map((r) => JSON.parse(r.data) as Exchange), lines.slice(0, LOG_EVENTS_DEFAULT), lines.length > LOG_EVENTS_DEFAULT)
  }

  async summary (filter: ExchangeFilter): Promise<Summary> {
    const q = summarySql(filter)
    return assembleSummary(filter, { counts: this.all(q.counts), latency: this.all(q.latency) })
  }

  async timeseries (filter: ExchangeFilter, stepMs: number): Promise<TimeSeries> {
    const rows = this.all<{ b: number, n: number, errors: number }>(timeSeriesSql(filter, stepMs))
    this.afterRead?.()
    return assembleTimeSeries(filter, stepMs, rows)
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
      // Everything (`purge --all`): the imported log lines too.
      if (purgesEverything(filter)) this.db.prepare('DELETE FROM log_events').run()
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
    // Between chunks the thread's event loop runs: capture's batches are written in between
    // instead of waiting for the whole pass (a minute of traffic at max_rows).
    const chunk = async (seqs: number[]): Promise<number> => {
      const n = deleteChunk(seqs)
      this.lastWriteAt = performance.now()
      this.walDirty = true
      await yieldToLoop()
      return n
    }
    const size = Math.min(PRUNE_CHUNK, SQLITE_PRUNE_CHUNK)
    // The store may be closed while a pass waits between chunks (shutdown): the pass just ends.
    while (this.db.open) {
      const seqs = seqsOf(byAge.all(cutoff, size))
      if (seqs.length === 0) break
      removed += await chunk(seqs)
    }
    // Log lines by age only: an import's size is bounded by what was imported, not by traffic.
    const pruneLogs = this.db.prepare(PRUNE_LOG_EVENTS_SQL)
    while (this.db.open) {
      const n = pruneLogs.run(cutoff, Math.min(LOG_PRUNE_CHUNK, SQLITE_PRUNE_CHUNK)).changes
      this.lastWriteAt = performance.now()
      this.walDirty = true
      if (n === 0) break
      await yieldToLoop()
    }
    const boundary = this.db.open ? this.db.prepare(PRUNE_BOUNDARY_SQL).get(retention.maxRows) as { seq: number } | undefined : undefined
    if (boundary !== undefined) {
      const oldest = this.db.prepare(PRUNE_UP_TO_SQL)
      while (this.db.open) {
        const seqs = seqsOf(oldest.all(boundary.seq, size))
        if (seqs.length === 0) break
        removed += await chunk(seqs)
      }
    }
    return removed
  }

  async close (): Promise<void> {
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer)
    this.maintenanceTimer = null
    // The last connection to close checkpoints the WAL and removes it.
    if (this.db.open) this.db.close()
  }
}
