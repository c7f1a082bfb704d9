/**
 * The PostgreSQL test infrastructure itself (test/helpers/pg.ts): the suite-wide cluster that
 * tap's before-script starts answers; freshDatabase gives each test an isolated database and
 * drops it afterwards; a dedicated cluster stops (connections refused) and starts again on the
 * same port. Skipped without PostgreSQL, failed under DDP_REQUIRE_PG=1 (CI).
 */
import pg from 'pg'
import t from 'tap'
import { freshDatabase, requirePg, sharedPgUrl, startPgCluster } from './helpers/pg.js'

/** A client with bounded waits, connected; the caller ends it. */
async function connect (url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 10_000 })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  return client
}

async function query<R extends pg.QueryResultRow> (url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = await connect(url)
  try {
    return (await client.query<R>(sql, params)).rows
  } finally {
    await client.end()
  }
}

t.test('the suite-wide cluster answers on 127.0.0.1', async (t) => {
  if (!requirePg(t)) return
  const url = sharedPgUrl()!
  t.match(url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
  t.same(await query(url, 'SELECT 1 AS one'), [{ one: 1 }])
  const [settings] = await query<{ listen: string, fsync: string, enc: string }>(url,
    "SELECT current_setting('listen_addresses') AS listen, current_setting('fsync') AS fsync, pg_encoding_to_char(encoding) AS enc FROM pg_database WHERE datname = current_database()")
  t.same(settings, { listen: '127.0.0.1', fsync: 'off', enc: 'UTF8' })
})

t.test('freshDatabase: an isolated database per test, dropped when the test ends', async (t) => {
  if (!requirePg(t)) return
  const shared = sharedPgUrl()!
  const names: string[] = []
  await t.test('two databases', async (t) => {
    const a = (await freshDatabase(t))!
    const b = (await freshDatabase(t))!
    t.not(a, b)
    for (const url of [a, b]) {
      const [row] = await query<{ db: string }>(url, 'SELECT current_database() AS db')
      t.match(row!.db, /^ddp_t_[0-9a-f]{12}$/)
      t.equal(new URL(url).pathname, `/${row!.db}`)
      names.push(row!.db)
    }
    await query(a, 'CREATE TABLE only_in_a (x int)')
    t.same(await query(a, "SELECT to_regclass('only_in_a') IS NOT NULL AS there"), [{ there: true }])
    t.same(await query(b, "SELECT to_regclass('only_in_a') IS NOT NULL AS there"), [{ there: false }], 'not in the other database')
  })
  const left = await query(shared, 'SELECT datname FROM pg_database WHERE datname = ANY($1)', [names])
  t.same(left, [], 'both dropped at the end of the subtest')
})

t.test('a dedicated cluster stops (connections refused) and starts again on the same port', async (t) => {
  if (!requirePg(t, 'binaries')) return
  const t0 = performance.now()
  const c = await startPgCluster()
  t.teardown(() => c.destroy())
  t.comment(`dedicated cluster started in ${Math.round(performance.now() - t0)} ms`)
  t.match(c.url, `127.0.0.1:${c.port}/`)
  await query(c.url, 'CREATE TABLE kept (x int)')
  await query(c.url, 'INSERT INTO kept VALUES (42)')

  await c.stop()
  const err = await connect(c.url).then(async (client) => {
    await client.end()
    return null
  }, (e: unknown) => e)
  t.ok(err, 'connecting fails while it is down')
  t.equal((err as NodeJS.ErrnoException | null)?.code, 'ECONNREFUSED')

  const port = c.port
  await c.start()
  t.equal(c.port, port, 'the same port')
  t.same(await query(c.url, 'SELECT x FROM kept'), [{ x: 42 }], 'the same data')
})
