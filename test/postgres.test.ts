/**
 * The shared PostgreSQL store with real servers: two proxy processes writing one database and one
 * API reading both; migrations raced by instances starting together; the database going away and
 * coming back under traffic; a database that is not there at start-up; a URL that cannot work.
 * Traffic never waits on the database and no record is lost without being counted.
 */
import pg from 'pg'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { PgStore } from '../src/store/postgres.js'
import type { Summary } from '../src/store/summary.js'
import { spawnCli } from './helpers/cli-process.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { refusedPort } from './helpers/fault-servers.js'
import { freshDatabase, requirePg, startPgCluster } from './helpers/pg.js'
import { type Harness, removeDir, startHarness } from './helpers/proxy-harness.js'

const CODE_BODY = JSON.stringify({
  current_file: { file_name: 'main.py', content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '' },
  prompt_version: 1
})

async function complete (base: string, correlationId: string): Promise<number> {
  const res = await request(`${base}/v2/code/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': correlationId },
    body: CODE_BODY
  })
  await res.body.text()
  return res.statusCode
}

async function getJson<T> (url: string): Promise<T> {
  const res = await request(url)
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}: ${text}`)
  return JSON.parse(text) as T
}

/** Polls until `check` holds (bounded: 10 s). */
async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** A CLI command run to its end. */
async function runCommand (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = spawnCli(args)
  const { code } = await p.exit(30_000)
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}

function listening (log: Record<string, unknown>): string {
  return `http://${String(log.listen)}`
}

t.test('two proxy processes write one database; either API, and the CLI, query both', async (t) => {
  if (!requirePg(t)) return
  const url = (await freshDatabase(t))!
  const gateway = await startAiGateway()
  t.teardown(() => gateway.close())
  const start = (name: string): ReturnType<typeof spawnCli> => spawnCli(['start', '--listen', '127.0.0.1:0', '--upstream', gateway.url, '--admin', '127.0.0.1:0', '--db', url, '--proxy-instance', name])
  // Started together: both migrate the empty database at once.
  const a = start('aigw-a')
  const b = start('aigw-b')
  t.teardown(async () => {
    for (const p of [a, b]) p.child.kill('SIGTERM')
    await Promise.all([a.exit(10_000), b.exit(10_000)])
  })
  const [routeA, routeB, adminA, adminB] = await Promise.all([a.waitForLog('route listening'), b.waitForLog('route listening'), a.waitForLog('admin API listening'), b.waitForLog('admin API listening')])
  const proxyA = listening(routeA)
  const proxyB = listening(routeB)
  for (let i = 0; i < 6; i++) {
    t.equal(await complete(proxyA, `via-a-${i}`), 200)
    t.equal(await complete(proxyB, `via-b-${i}`), 200)
  }
  const apiA = listening(adminA)
  await until('12 records from both instances', async () => (await getJson<{ items: Exchange[] }>(`${apiA}/api/exchanges?limit=100`)).items.length === 12)
  const items = (await getJson<{ items: Exchange[] }>(`${apiA}/api/exchanges?limit=100`)).items
  t.same(new Set(items.map((e) => e.proxy_instance)), new Set(['aigw-a', 'aigw-b']), "instance a's API serves both instances' records")
  t.same(items.filter((e) => e.proxy_instance === 'aigw-b').map((e) => e.correlation_id).sort(), [0, 1, 2, 3, 4, 5].map((i) => `via-b-${i}`).sort(), "b's records name b")
  const onlyA = await getJson<{ items: Exchange[] }>(`${listening(adminB)}/api/exchanges?proxy_instance=aigw-a&limit=100`)
  t.equal(onlyA.items.length, 6, "instance b's API filters by instance")
  t.ok(onlyA.items.every((e) => e.proxy_instance === 'aigw-a'))
  const summary = await getJson<Summary>(`${apiA}/api/summary`)
  t.equal(summary.total, 12, 'the summary counts both')
  t.equal(summary.latency[0]?.count, 12, 'percentiles over both instances')

  // The CLI pointed at the database, the proxies still running.
  const cli = await runCommand(['summary', '--db', url, '--json'])
  t.equal(cli.code, 0, cli.stderr)
  t.equal((JSON.parse(cli.stdout) as Summary).total, 12, 'duo-diag-proxy summary --db postgres://... sees both')
  const show = await runCommand(['show', 'via-b-3', '--db', url, '--json'])
  t.equal(show.code, 0, show.stderr)
  t.match(show.stdout, /"proxy_instance": ?"aigw-b"/, 'show finds a record of the other instance by correlation id')

  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  const migrations = await client.query('SELECT version FROM ddp_migrations ORDER BY version')
  t.same(migrations.rows.map((r: { version: number }) => r.version), [1, 2, 3, 4, 5], 'each migration ran once, though two instances raced for them')
})

t.test('instances opening one empty database together migrate it exactly once', async (t) => {
  if (!requirePg(t)) return
  const url = (await freshDatabase(t))!
  const stores = await Promise.all(Array.from({ length: 6 }, async () => PgStore.open(url)))
  t.teardown(() => Promise.all(stores.map((s) => s.close())))
  t.ok(stores.every((s) => s.openWarning === null), 'all six opened')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  const versions = await client.query('SELECT version FROM ddp_migrations ORDER BY version')
  t.same(versions.rows.map((r: { version: number }) => r.version), [1, 2, 3, 4, 5], 'each migration recorded once')
})

t.test('the database goes away under traffic and comes back: traffic unaffected, drops counted, capture resumes', async (t) => {
  if (!requirePg(t, 'binaries')) return
  const cluster = await startPgCluster()
  t.teardown(() => cluster.destroy())
  const gateway = await startAiGateway()
  t.teardown(() => gateway.close())
  const h: Harness = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: gateway.url }], db: cluster.url })
  t.teardown(async () => {
    await h.close()
    removeDir(h.dir)
  })
  for (let i = 0; i < 5; i++) t.equal(await complete(h.url(), `before-${i}`), 200)
  t.equal((await h.exchanges()).length, 5, 'written while the database is up')

  await cluster.stop()
  for (let i = 0; i < 10; i++) t.equal(await complete(h.url(), `during-${i}`), 200, `request ${i} forwarded while the database is down`)
  await h.proxy.pipeline.drain()
  const stats = h.proxy.pipeline.stats
  t.equal(stats.stored, 5)
  t.equal(stats.droppedStoreError, 10, 'every record of the outage is counted as dropped')
  const ready = await request(`${h.adminUrl}/readyz`)
  t.equal(ready.statusCode, 503, 'readiness reports the store')
  t.match(await ready.body.text(), /failing/)
  const metrics = await (await request(`${h.adminUrl}/metrics`)).body.text()
  t.match(metrics, /duo_diag_capture_dropped_total\{[^}]*\} 10|duo_diag_capture_dropped_total 10/, 'and in /metrics')

  await cluster.start()
  // The store retries after its backoff (250 ms, doubling): keep sending until records land again.
  let sent = 0
  await until('capture to resume', async () => {
    t.equal(await complete(h.url(), `after-${sent++}`), 200)
    await h.proxy.pipeline.drain()
    return h.proxy.pipeline.stats.stored > 5
  })
  const after = await h.exchanges()
  t.ok(after.some((e) => e.correlation_id.startsWith('after-')), 'records written again after the restart')
  t.equal(h.proxy.pipeline.stats.stored + h.proxy.pipeline.stats.dropped, 15 + sent, 'every exchange is either stored or counted as dropped')
  t.equal((await request(`${h.adminUrl}/readyz`)).statusCode, 200, 'ready again')
  await h.close()
  const logs = h.logs()
  t.ok(logs.some((l) => l.message === 'store write failed: records are dropped and counted, traffic is unaffected'), 'the outage is logged')
  const noisy = logs.filter((l) => typeof l.message === 'string' && /store write failed|linking model calls/.test(l.message)).length
  t.ok(noisy <= 4, `but not once per batch (${noisy} lines for the whole outage)`)
  t.ok(logs.some((l) => l.message === 'store writable again: capture resumed'), 'the recovery is logged')
})

t.test('a database not reachable at start-up: the proxy starts and forwards, says why, masks the password', async (t) => {
  if (!requirePg(t)) return
  const gateway = await startAiGateway()
  t.teardown(() => gateway.close())
  const port = await refusedPort()
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: gateway.url }], db: `postgres://ddp:s3cret-pw@127.0.0.1:${port}/ddp` })
  t.teardown(() => removeDir(h.dir))
  t.equal(await complete(h.url(), 'no-db-1'), 200, 'forwarded')
  await h.proxy.pipeline.drain()
  t.equal(h.proxy.pipeline.stats.droppedStoreError, 1, 'its record dropped and counted')
  await h.close()
  const logs = h.logs()
  t.ok(logs.some((l) => typeof l.message === 'string' && l.message.includes('is not reachable')), 'the log says the database is not reachable')
  t.notMatch(JSON.stringify(logs), /s3cret-pw/, 'the password never reaches the log')
  t.match(JSON.stringify(logs), /ddp:\*\*\*@127\.0\.0\.1/, 'the URL is shown masked')
})

t.test('a database that does not exist stops start-up with exit 2, the URL masked', async (t) => {
  if (!requirePg(t)) return
  const base = new URL((await freshDatabase(t))!)
  base.pathname = '/no_such_database'
  base.username = 'postgres'
  base.password = 'pw-not-shown'
  const r = await runCommand(['start', '--listen', '127.0.0.1:0', '--admin', 'off', '--db', base.toString()])
  t.equal(r.code, 2)
  t.match(r.stderr, /store\.path/)
  t.match(r.stderr, /no_such_database/)
  t.notMatch(r.stderr + r.stdout, /pw-not-shown/)
})
