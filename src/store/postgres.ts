import pg from 'pg'
import type { Exchange } from '../capture/exchange.js'
import type { LogEvent } from '../logs/event.js'
import { LOG_EVENT_COLUMNS, logEventRows } from './log-event-rows.js'
import {
  boundLimit, IMPORTED_IDS_MAX, importedCorrelationIdsSql, listLogEventsSql, LOG_EVENTS_DEFAULT, LOG_EVENTS_MAX, LOG_PRUNE_CHUNK, type LogEventFilter, type LogEventPage,
  type LogEventRow, logEventsByCorrelationSql, PRUNE_LOG_EVENTS_SQL, purgesEverything, toLogEventPage
} from './log-event-sql.js'
import { type PageRow, toPage } from './query.js'
import {
  BY_CORRELATION_SQL, COUNT_SQL, documentsSql, EXCHANGE_COLUMNS, exchangeRow, gatewaysEndedWithinSql, gatewaysSpanningSql, GET_SQL, listSql, PRUNE_BOUNDARY_SQL, PRUNE_BY_AGE_SQL,
  PRUNE_CHUNK, PRUNE_UP_TO_SQL, purgeSql, resolveDocuments, REWRITE_SQL, rewriteParams, type Sql, type SqlParam, summarySql, timeSeriesSql, unlinkedModelSql
} from './sql.js'
import { type EndWindow, type ExchangeStore, type HeldExchanges, maskUrl, NONE_HELD, StoreOpenError } from './store.js'
import { assembleSummary, assembleTimeSeries, type CountRow, type Summary, type TimeSeries } from './summary.js'
import { buildTrace, type Trace } from './trace.js'
import type { ExchangeFilter, Page, PageRequest, Retention } from './types.js'

/**
 * Versioned migrations, recorded in `ddp_migrations`. Append only. The schema mirrors the SQLite
 * one so both run the same statements (src/store/sql.ts).
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE exchanges (
     seq            BIGSERIAL PRIMARY KEY,
     id             TEXT NOT NULL UNIQUE,
     proxy_instance TEXT NOT NULL,
     started_at     BIGINT NOT NULL,
     route          TEXT NOT NULL,
     hop            TEXT NOT NULL,
     correlation_id TEXT NOT NULL,
     method         TEXT NOT NULL,
     path           TEXT NOT NULL,
     status         INTEGER,
     feature        TEXT,
     model          TEXT,
     ttfb_ms        DOUBLE PRECISION,
     duration_ms    DOUBLE PRECISION NOT NULL,
     parent_id      TEXT,
     cause          TEXT,
     data           TEXT NOT NULL
   );
   CREATE INDEX exchanges_time ON exchanges (started_at, seq);
   CREATE INDEX exchanges_correlation ON exchanges (correlation_id);
   CREATE INDEX exchanges_status ON exchanges (status, started_at);
   CREATE INDEX exchanges_route ON exchanges (route, started_at);
   CREATE INDEX exchanges_parent ON exchanges (parent_id);
   CREATE INDEX exchanges_hop_time ON exchanges (hop, started_at);
   CREATE TABLE exchange_flags (
     flag       TEXT NOT NULL,
     started_at BIGINT NOT NULL,
     seq        BIGINT NOT NULL,
     PRIMARY KEY (flag, started_at, seq)
   );
   CREATE INDEX exchange_flags_seq ON exchange_flags (seq);`,
  // Linking counts the gateway requests spanning a model call by their end time (gatewaysSpanningSql).
  'CREATE INDEX exchanges_hop_end ON exchanges (hop, (started_at + duration_ms));',
  // The cause's stable code (issue 17): what the summary groups by and `?cause=` matches.
  `ALTER TABLE exchanges ADD COLUMN cause_code TEXT;
   CREATE INDEX exchanges_cause_code ON exchanges (cause_code, started_at);`,
  // Issue 18: every column the summary reads, after the time, as in SQLite: index-only scans of a window.
  'CREATE INDEX exchanges_window ON exchanges (started_at, route, feature, status, cause_code, cause, ttfb_ms, duration_ms);',
  // Log lines imported beside the exchanges (issue 19): one row per line, once (by fingerprint).
  // IF NOT EXISTS: a store an older version rewound (its version lowered) keeps its table.
  `CREATE TABLE IF NOT EXISTS log_events (
     seq            BIGSERIAL PRIMARY KEY,
     fingerprint    TEXT NOT NULL UNIQUE,
     correlation_id TEXT,
     time           BIGINT NOT NULL,
     source         TEXT NOT NULL,
     kind           TEXT NOT NULL,
     level          TEXT,
     import_id      TEXT NOT NULL,
     data           TEXT NOT NULL
   );
   CREATE INDEX IF NOT EXISTS log_events_correlation ON log_events (correlation_id, time, seq);
   CREATE INDEX IF NOT EXISTS log_events_time ON log_events (time, seq);
   CREATE INDEX IF NOT EXISTS log_events_import ON log_events (import_id, correlation_id);`
]

/** Advisory lock keys ('ddp' + purpose): migrations run by one instance at a time, retention too. */
const MIGRATION_LOCK = 0x64647001
const PRUNE_LOCK = 0x64647002

/** SQLSTATE classes and socket errors that mean "the database is not reachable right now". */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03'])

export function isUnreachable (err: unknown): boolean {
  const code = (err as { code?: string }).code
  if (code !== undefined && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) return true
  const message = (err as Error).message ?? ''
  return /Connection terminated|timeout exceeded when trying to connect|connection timeout/i.test(message)
}

/** The store is backing off after losing the database: writes fail at once instead of waiting. */
export class StoreUnavailableError extends Error {
  readonly code = 'DDP_STORE_UNAVAILABLE'
}

/** `?` → `$1, $2, …` (no statement here has a literal question mark). */
function numbered (text: string): string {
  let n = 0
  return text.replace(/\?/g, () => `$${++n}`)
}

/** PostgreSQL text cannot hold NUL; values read from traffic may (a model name in a JSON body). */
function text (v: SqlParam): SqlParam {
  return typeof v === 'string' && v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v
}

const COLUMN_TYPES: Record<(typeof EXCHANGE_COLUMNS)[number], string> = {
  id: 'text', proxy_instance: 'text', started_at: 'bigint', route: 'text', hop: 'text', correlation_id: 'text', method: 'text', path: 'text',
  status: 'integer', feature: 'text', model: 'text', ttfb_ms: 'double precision', duration_ms: 'double precision', parent_id: 'text', cause: 'text', cause_code: 'text', data: 'text'
}

/**
 * A whole batch in one statement and one round trip: every column as an array, unnested into
 * rows; the flag rows join on the ids the insert returns.
 */
const INSERT_BATCH_SQL = `WITH ins AS (
    INSERT INTO exchanges (${EXCHANGE_COLUMNS.join(', ')})
    SELECT * FROM unnest(${EXCHANGE_COLUMNS.map((c, i) => `$${i + 1}::${COLUMN_TYPES[c]}[]`).join(', ')})
    RETURNING seq, id, started_at
  )
  INSERT INTO exchange_flags (flag, started_at, seq)
  SELECT f.flag, ins.started_at, ins.seq FROM ins
  JOIN unnest($${EXCHANGE_COLUMNS.length + 1}::text[], $${EXCHANGE_COLUMNS.length + 2}::text[]) AS f(id, flag) ON f.id = ins.id
  ON CONFLICT DO NOTHING`

const LOG_EVENT_TYPES: Record<(typeof LOG_EVENT_COLUMNS)[number], string> = {
  fingerprint: 'text', correlation_id: 'text', time: 'bigint', source: 'text', kind: 'text', level: 'text', import_id: 'text', data: 'text'
}

/** A batch of log events in one statement; the ones already stored (by fingerprint) are skipped, the new ones counted. */
const INSERT_LOG_EVENTS_SQL = `WITH ins AS (
    INSERT INTO log_events (${LOG_EVENT_COLUMNS.join(', ')})
    SELECT * FROM unnest(${LOG_EVENT_COLUMNS.map((c, i) => `$${i + 1}::${LOG_EVENT_TYPES[c]}[]`).join(', ')})
    ON CONFLICT (fingerprint) DO NOTHING
    RETURNING 1
  ) SELECT count(*) AS n FROM ins`

/**
 * An exchange rewritten with its flag rows, in one statement: the flags it no longer has go, the
 * new ones come (the ones it keeps are left alone: deleting and re-inserting a row in one
 * statement would see the old row as a conflict, then delete it).
 */
const REWRITE_WITH_FLAGS_SQL = `WITH up AS (
    ${numbered(REWRITE_SQL)} RETURNING seq, started_at
  ), gone AS (
    DELETE FROM exchange_flags WHERE seq IN (SELECT seq FROM up) AND flag <> ALL($6::text[])
  )
  INSERT INTO exchange_flags (flag, started_at, seq) SELECT f.flag, up.started_at, up.seq FROM up, unnest($6::text[]) AS f(flag)
  ON CONFLICT DO NOTHING`

const BACKOFF_MIN_MS = 250
const BACKOFF_MAX_MS = 30_000

export interface PgStoreOptions {
  /** The CLI never creates the schema; it only checks that one is there. */
  mustExist?: boolean
  connectTimeoutMs?: number
  poolSize?: number
}

/**
 * A shared PostgreSQL database: several proxy instances write to it and any of them (or the
 * CLI) reads all of them. Writes are one multi-row statement per batch. When the database goes
 * away, writes fail fast and are counted as dropped while the store backs off (250 ms doubling
 * to 30 s), then it tries again; traffic never waits on it (the capture worker owns it).
 */
export class PgStore implements ExchangeStore {
  readonly display: string
  private backoffMs = 0
  private downUntil = 0
  /** While the database is away: what failed first, in the words every failure repeats. */
  private outage: string | null = null
  private schemaReady: boolean
  /** Why the database could not be used at start-up, when it could not (the caller logs it). */
  readonly openWarning: string | null

  private constructor (private readonly pool: pg.Pool, url: string, schemaReady: boolean, openWarning: string | null) {
    this.display = maskUrl(url)
    this.schemaReady = schemaReady
    this.openWarning = openWarning
  }

  /**
   * Connects and migrates. A database that refuses the credentials or does not exist is a
   * configuration error (thrown); one that is not reachable yet is not: the store opens, writes
   * are dropped and counted, and it keeps trying.
   */
  static async open (url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
      idleTimeoutMillis: 30_000,
      query_timeout: 60_000,
      application_name: 'duo-diag-proxy',
      keepAlive: true
    })
    // A connection the server drops (a restart), idle or checked out between queries, must not
    // become an uncaught exception: the next query on it fails and is handled there.
    pool.on('error', () => {})
    pool.on('connect', (client) => client.on('error', () => {}))
    const store = (ready: boolean, warning: string | null): PgStore => new PgStore(pool, url, ready, warning)
    try {
      if (opts.mustExist === true) {
        const { rows } = await pool.query<{ t: string | null }>("SELECT to_regclass('exchanges')::text AS t")
        if (rows[0]?.t == null) throw new StoreOpenError(`no duo-diag-proxy store in ${maskUrl(url)} (no exchanges table: has a proxy written to it?)`)
        return store(true, null)
      }
      await migrate(pool)
      return store(true, null)
    } catch (err) {
      if (!(err instanceof StoreOpenError) && isUnreachable(err) && opts.mustExist !== true) {
        const s = store(false, `PostgreSQL at ${maskUrl(url)} is not reachable (${describe(err)}): records are dropped and counted until it is`)
        s.markDown(err)
        return s
      }
      await pool.end().catch(() => {})
      if (err instanceof StoreOpenError) throw err
      throw new StoreOpenError(`cannot open the store at ${maskUrl(url)}: ${describe(err)}`)
    }
  }

  async insert (batch: readonly Exchange[]): Promise<void> {
    if (batch.length === 0) return
    await this.guarded(async () => {
      const columns: SqlParam[][] = EXCHANGE_COLUMNS.map(() => [])
      const flagIds: string[] = []
      const flags: string[] = []
      for (const ex of batch) {
        const row = exchangeRow(ex)
        for (let i = 0; i < row.length; i++) columns[i]!.push(text(row[i]!))
        for (const f of ex.flags) {
          flagIds.push(ex.id)
          flags.push(f)
        }
      }
      await this.pool.query(INSERT_BATCH_SQL, [...columns, flagIds, flags])
    }, true)
  }

  /**
   * Runs an operation unless the store is backing off: while the database is away every call
   * fails at once, none waits for a connection timeout. A lost database starts (or doubles) the
   * backoff; the first success after it clears it. Writes also create the schema if start-up
   * could not.
   */
  private async guarded<T> (op: () => Promise<T>, write = false): Promise<T> {
    const now = Date.now()
    if (now < this.downUntil) throw new StoreUnavailableError(this.outage ?? 'PostgreSQL unreachable')
    try {
      if (write && !this.schemaReady) {
        await migrate(this.pool)
        this.schemaReady = true
      }
      const result = await op()
      this.backoffMs = 0
      this.outage = null
      return result
    } catch (err) {
      if (!isUnreachable(err)) throw err
      this.markDown(err)
      throw new StoreUnavailableError(this.outage!, { cause: err })
    }
  }

  /**
   * Starts or extends an outage. Its message is fixed by its first error, so every failure until
   * the database answers again reads the same (the engine logs each distinct store error once).
   */
  private markDown (err: unknown): void {
    this.outage ??= `PostgreSQL at ${this.display} is unreachable (${describe(err)}): records are dropped and counted; retrying with backoff up to ${BACKOFF_MAX_MS / 1000} s`
    this.backoffMs = this.backoffMs === 0 ? BACKOFF_MIN_MS : Math.min(BACKOFF_MAX_MS, this.backoffMs * 2)
    this.downUntil = Date.now() + this.backoffMs
  }

  private async rows<T extends pg.QueryResultRow> (q: Sql): Promise<T[]> {
    return this.guarded(async () => (await this.pool.query<T>(numbered(q.text), q.params)).rows)
  }

  async list (filter: ExchangeFilter, page: PageRequest): Promise<Page> {
    return toPage(await this.rows<PageRow & pg.QueryResultRow>(listSql(filter, page)), page.limit)
  }

  async get (id: string): Promise<Exchange | null> {
    const rows = await this.rows<{ data: string }>({ text: GET_SQL, params: [id] })
    return rows[0] === undefined ? null : (JSON.parse(rows[0].data) as Exchange)
  }

  async count (): Promise<number> {
    const rows = await this.rows<{ n: string }>({ text: COUNT_SQL, params: [] })
    return Number(rows[0]?.n ?? 0)
  }

  async unlinkedModelExchanges (from: number, to: number, held: HeldExchanges = NONE_HELD): Promise<Exchange[]> {
    return this.documents((await this.rows<{ id: string }>(unlinkedModelSql(from, to))).map((r) => r.id), held)
  }

  async gatewaysSpanning (from: number, to: number): Promise<number> {
    const rows = await this.rows<{ n: string }>(gatewaysSpanningSql(from, to))
    return Number(rows[0]?.n ?? 0)
  }

  async gatewaysEndedWithin (windows: readonly EndWindow[], held: HeldExchanges = NONE_HELD): Promise<Exchange[]> {
    if (windows.length === 0) return []
    return this.documents((await this.rows<{ id: string }>(gatewaysEndedWithinSql(windows))).map((r) => r.id), held)
  }

  /** The exchanges of these ids: the held ones as they are, the others read. */
  private async documents (ids: string[], held: HeldExchanges): Promise<Exchange[]> {
    const missing = ids.filter((id) => held(id) === undefined)
    const rows = missing.length === 0 ? [] : await this.rows<{ id: string, data: string }>(documentsSql(missing))
    return resolveDocuments(ids, held, rows)
  }

  async setParent (child: Exchange): Promise<void> {
    await this.rows({ text: REWRITE_SQL, params: rewriteParams(child).map(text) })
  }

  async rewriteExchange (ex: Exchange): Promise<void> {
    await this.guarded(async () => {
      await this.pool.query(REWRITE_WITH_FLAGS_SQL, [...rewriteParams(ex).map(text), ex.flags])
    }, true)
  }

  async addLogEvents (events: readonly LogEvent[], importId: string): Promise<number> {
    const rows = logEventRows(events, importId)
    if (rows.length === 0) return 0
    return this.guarded(async () => {
      const columns: SqlParam[][] = LOG_EVENT_COLUMNS.map((_, i) => rows.map((r) => text(r[i]!)))
      const r = await this.pool.query<{ n: string }>(INSERT_LOG_EVENTS_SQL, columns)
      return Number(r.rows[0]?.n ?? 0)
    }, true)
  }

  /** A statement whose values may hold NUL (a correlation id from a log): PostgreSQL text cannot, and the rows hold U+FFFD there. */
  private async cleanRows<T extends pg.QueryResultRow> (q: Sql): Promise<T[]> {
    return this.rows<T>({ text: q.text, params: q.params.map(text) })
  }

  async logEvents (correlationId: string, limit?: number): Promise<LogEvent[]> {
    const rows = await this.cleanRows<{ data: string }>(logEventsByCorrelationSql(correlationId, boundLimit(limit, LOG_EVENTS_DEFAULT, LOG_EVENTS_MAX)))
    return rows.map((r) => JSON.parse(r.data) as LogEvent)
  }

  async listLogEvents (filter: LogEventFilter, page: PageRequest): Promise<LogEventPage> {
    const limit = boundLimit(page.limit, 100, 1_000)
    return toLogEventPage(await this.cleanRows<LogEventRow & pg.QueryResultRow>(listLogEventsSql(filter, limit, page.cursor ?? null)), limit)
  }

  async importedCorrelationIds (importId: string, after: string | null, limit: number): Promise<string[]> {
    const rows = await this.cleanRows<{ correlation_id: string }>(importedCorrelationIdsSql(importId, after, boundLimit(limit, IMPORTED_IDS_MAX, IMPORTED_IDS_MAX)))
    return rows.map((r) => r.correlation_id)
  }

  async trace (correlationId: string): Promise<Trace | null> {
    const [rows, lines] = await Promise.all([
      this.cleanRows<{ data: string }>({ text: BY_CORRELATION_SQL, params: [correlationId, correlationId] }),
      // One more than shown: whether the trace holds them all.
      this.logEvents(correlationId, LOG_EVENTS_DEFAULT + 1)
    ])
    return buildTrace(correlationId, rows.map((r) => JSON.parse(r.data) as Exchange), lines.slice(0, LOG_EVENTS_DEFAULT), lines.length > LOG_EVENTS_DEFAULT)
  }

  async summary (filter: ExchangeFilter): Promise<Summary> {
    const q = summarySql(filter)
    // Independent questions: the pool answers them side by side.
    const [counts, latency] = await Promise.all([this.rows<CountRow & pg.QueryResultRow>(q.counts), this.rows<SummaryLatencyRow>(q.latency)])
    return assembleSummary(filter, { counts, latency })
  }

  async timeseries (filter: ExchangeFilter, stepMs: number): Promise<TimeSeries> {
    // bigint counts and buckets come back as strings: assembleTimeSeries converts them.
    const rows = await this.rows<{ b: string, n: string, errors: string }>(timeSeriesSql(filter, stepMs))
    return assembleTimeSeries(filter, stepMs, rows)
  }

  async purge (filter: ExchangeFilter): Promise<number> {
    const q = purgeSql(filter)
    // Everything (`purge --all`): the imported log lines too.
    const logs = purgesEverything(filter) ? ', logs AS (DELETE FROM log_events)' : ''
    const rows = await this.rows<{ n: string }>({
      text: `WITH gone AS (${q.text}), flags AS (DELETE FROM exchange_flags WHERE seq IN (SELECT seq FROM gone))${logs} SELECT count(*) AS n FROM gone`,
      params: q.params
    })
    return Number(rows[0]?.n ?? 0)
  }

  /**
   * Retention in chunks of a few thousand rows, each its own short transaction: writers are never
   * locked out (PostgreSQL deletes do not block inserts). One instance at a time runs it.
   */
  async prune (retention: Retention, now = Date.now()): Promise<number> {
    if (Date.now() < this.downUntil || !this.schemaReady) return 0
    const client = await this.pool.connect()
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [PRUNE_LOCK])
      if (rows[0]?.locked !== true) return 0
      try {
        const cutoff = now - retention.maxAgeHours * 3_600_000
        let removed = 0
        const chunk = async (select: string, bound: number): Promise<number> => {
          const r = await client.query(`WITH gone AS (
              DELETE FROM exchanges WHERE seq IN (${numbered(select)}) RETURNING seq
            ), flags AS (
              DELETE FROM exchange_flags WHERE seq IN (SELECT seq FROM gone)
            ) SELECT count(*) AS n FROM gone`, [bound, PRUNE_CHUNK])
          return Number((r.rows[0] as { n: string }).n)
        }
        for (let n = await chunk(PRUNE_BY_AGE_SQL, cutoff); n > 0; n = await chunk(PRUNE_BY_AGE_SQL, cutoff)) removed += n
        // Log lines by age only: an import's size is bounded by what was imported, not by traffic.
        for (let i = 0; i < 1_000_000; i++) {
          const r = await client.query(numbered(PRUNE_LOG_EVENTS_SQL), [cutoff, LOG_PRUNE_CHUNK])
          if ((r.rowCount ?? 0) === 0) break
        }
        const boundary = await client.query<{ seq: string }>(numbered(PRUNE_BOUNDARY_SQL), [retention.maxRows])
        const seq = boundary.rows[0]?.seq
        if (seq !== undefined) {
          for (let n = await chunk(PRUNE_UP_TO_SQL, Number(seq)); n > 0; n = await chunk(PRUNE_UP_TO_SQL, Number(seq))) removed += n
        }
        return removed
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [PRUNE_LOCK])
      }
    } finally {
      client.release()
    }
  }

  async close (): Promise<void> {
    await this.pool.end().catch(() => {})
  }
}

interface SummaryLatencyRow extends pg.QueryResultRow {
  route: string
  feature: string
  n: string
  d50: number
  d95: number
  d99: number
  t50: number | null
  t95: number | null
  t99: number | null
}

/**
 * Applies the migrations not yet recorded, under a transaction-scoped advisory lock: instances
 * starting together wait for each other and the second finds nothing left to do.
 */
async function migrate (pool: pg.Pool): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await client.query('CREATE TABLE IF NOT EXISTS ddp_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())')
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM ddp_migrations')
    for (let v = rows[0]?.v ?? 0; v < MIGRATIONS.length; v++) {
      await client.query(MIGRATIONS[v]!)
      await client.query('INSERT INTO ddp_migrations (version) VALUES ($1)', [v + 1])
    }
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

function describe (err: unknown): string {
  const e = err as { code?: string, message?: string }
  return [e.message, e.code !== undefined && !(e.message ?? '').includes(e.code) ? `(${e.code})` : ''].filter(Boolean).join(' ')
}
