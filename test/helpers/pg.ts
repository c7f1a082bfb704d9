/**
 * Real PostgreSQL servers for the tests (no mocks), from Debian's `postgresql` package.
 *
 * - The suite-wide cluster: test/setup/before.mjs starts one per tap run; each test takes its
 *   own database there with freshDatabase(t).
 * - A dedicated cluster, for tests that stop and start the server: startPgCluster().
 *
 * When PostgreSQL is missing, requirePg(t) (or pgUnavailable(t)) skips the test, or fails it under
 * DDP_REQUIRE_PG=1 (set by .ci/run), so CI cannot pass by skipping:
 *
 *   t.test('the PostgreSQL store', async (t) => {
 *     if (!requirePg(t)) return
 *     const url = (await freshDatabase(t))!
 *     ...
 *   })
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { findPgBin as findBin, isAlive, readState, startCluster } from '../setup/pg-cluster.mjs'

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust auth) */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** pg_ctl stop -m fast; resolves once the server process is gone (connections are refused). */
  stop: () => Promise<void>
  /** Starts it again after stop(), on the same port; resolves once it accepts connections. */
  start: () => Promise<void>
  /** Stops it and removes its data dir. */
  destroy: () => Promise<void>
}

export interface PgClusterOptions {
  /** Bound on starting and on the first connection (default 20 000 ms). */
  readyTimeoutMs?: number
  /** Where its data dir goes (default /dev/shm when roomy, else os.tmpdir()). */
  baseDir?: string
}

/** What requirePg checks for: the suite-wide cluster (the default), or just the binaries, for startPgCluster. */
export type PgNeed = 'shared' | 'binaries'

const NOT_INSTALLED = 'PostgreSQL not installed: apt-get install postgresql'

/** The directory holding initdb and pg_ctl: /usr/lib/postgresql/<newest>/bin, then PATH; null when absent. */
export function findPgBin (): string | null {
  return findBin()
}

/**
 * A throw-away cluster of its own: initdb (trust, user postgres, C/UTF8) in a fresh temp dir,
 * listening on 127.0.0.1 only, on a free port; no fsync. Destroyed when the process exits if the
 * test has not done it (t.teardown(() => c.destroy()) is still the way).
 */
export async function startPgCluster (opts: PgClusterOptions = {}): Promise<PgCluster> {
  return await startCluster({ ...opts, destroyOnExit: true })
}

/**
 * The URL of the suite-wide cluster that tap's before-script started for this run, or null.
 * (Found through the tap runner's pid: in a test file's own process, not in one it spawns.)
 */
export function sharedPgUrl (): string | null {
  const state = readState()
  if (state?.url === undefined || typeof state.pid !== 'number' || !isAlive(state.pid)) return null
  return state.url
}

/**
 * A new, empty database on the suite-wide cluster, dropped when `t` ends; its URL, or null when
 * there is no suite-wide cluster.
 */
export async function freshDatabase (t: Test): Promise<string | null> {
  const shared = sharedPgUrl()
  if (shared === null) return null
  const name = `ddp_t_${randomBytes(6).toString('hex')}`
  await adminQuery(shared, `CREATE DATABASE ${name}`)
  t.teardown(async () => { await adminQuery(shared, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) })
  const url = new URL(shared)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * Whether PostgreSQL is there for `t` (the suite-wide cluster, or for 'binaries' the server
 * binaries). When not, pgUnavailable(t) and false: the test should return at once,
 * `if (!requirePg(t)) return`.
 */
export function requirePg (t: Test, need: PgNeed = 'shared'): boolean {
  if (pgMissing(need) === null) return true
  pgUnavailable(t, need)
  return false
}

/**
 * Ends `t` for want of PostgreSQL, saying why: skipped, or failed under DDP_REQUIRE_PG=1 (CI).
 * For tests that found out themselves (freshDatabase gave null); call before any assertion.
 */
export function pgUnavailable (t: Test, need: PgNeed = 'shared'): void {
  const reason = pgMissing(need) ?? 'no suite-wide PostgreSQL cluster'
  if (process.env.DDP_REQUIRE_PG === '1') t.fail(`PostgreSQL required in CI but not found (DDP_REQUIRE_PG=1): ${reason}`)
  else t.plan(0, reason)
}

/** Why PostgreSQL is not there for `need`, or null when it is. */
function pgMissing (need: PgNeed): string | null {
  if (findBin() === null) return NOT_INSTALLED
  if (need === 'binaries' || sharedPgUrl() !== null) return null
  const state = readState()
  if (state?.error !== undefined) return `test/setup/before.mjs could not start it: ${state.error}`
  return 'no suite-wide PostgreSQL cluster: run the tests through tap (npm test, npx tap FILE), whose before-script starts it'
}

async function adminQuery (url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 30_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query(sql)
  } finally {
    await client.end().catch(() => {})
  }
}
