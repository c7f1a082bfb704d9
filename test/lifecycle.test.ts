/**
 * The store across the proxy's life: records of one run are served by the next, and retention
 * (SqliteStore.prune) keeps exactly the newest rows and drops the flag index rows of the others.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { DEFAULTS } from '../src/config/defaults.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { refusedPort } from './helpers/fault-servers.js'
import { removeDir, startHarness, type Harness } from './helpers/proxy-harness.js'

const dir = mkdtempSync(join(tmpdir(), 'ddp-lifecycle-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const CODE_BODY = JSON.stringify({
  current_file: { file_name: 'add.py', language_identifier: 'python', content_above_cursor: 'def add(a, b):\n', content_below_cursor: '' },
  stream: false
})

/** One code completion through a route, answered (or not) before the next is sent. */
async function complete (h: Harness, correlationId: string, route?: string): Promise<number> {
  const res = await request(`${h.url(route)}/v2/code/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': correlationId },
    body: CODE_BODY
  })
  await res.body.text()
  return res.statusCode
}

async function getExchange (h: Harness, id: string): Promise<{ status: number, body: Exchange }> {
  const res = await request(`${h.adminUrl}/api/exchanges/${id}`)
  return { status: res.statusCode, body: (await res.body.json()) as Exchange }
}

t.test('records survive a restart: the second run serves the first run\'s', async (t) => {
  const gateway = await startAiGateway()
  t.teardown(() => gateway.close())
  const db = join(dir, 'persist', 'exchanges.db')
  const routes = [{ name: 'gitlab-aigw', upstream: gateway.url }]

  const first = await startHarness({ routes, db })
  for (let i = 0; i < 3; i++) t.equal(await complete(first, `run1-${i}`), 200, `run 1 request ${i} answered`)
  const before = await first.exchanges()
  t.same(before.map((e) => e.correlation_id), ['run1-2', 'run1-1', 'run1-0'], 'run 1 recorded its three exchanges')
  await first.close()
  removeDir(first.dir)

  const second = await startHarness({ routes, db })
  t.teardown(async () => {
    await second.close()
    removeDir(second.dir)
  })
  const restored = await second.exchanges()
  t.same(restored, before, 'the second run serves the first run\'s records unchanged')
  const one = await getExchange(second, before[1]!.id)
  t.equal(one.status, 200, 'GET /api/exchanges/:id finds a record of the first run')
  t.same(one.body, before[1])
  const byCorrelation = await second.exchanges('correlation_id=run1-0')
  t.same(byCorrelation.map((e) => e.id), [before[2]!.id], 'and the correlation filter finds it')

  for (let i = 0; i < 2; i++) t.equal(await complete(second, `run2-${i}`), 200, `run 2 request ${i} answered`)
  const all = await second.exchanges()
  t.same(all.map((e) => e.correlation_id), ['run2-1', 'run2-0', 'run1-2', 'run1-1', 'run1-0'], 'new records join the old ones, newest first')
  t.equal(new Set(all.map((e) => e.id)).size, 5, 'ids never collide across runs')
  t.equal(await second.proxy.pipeline.count(), 5, 'store count includes both runs')
  t.equal(second.proxy.pipeline.stats.dropped, 0, 'nothing dropped on the second run')
})

t.test('retention at start-up: a restart with a smaller max_rows keeps the newest', async (t) => {
  const gateway = await startAiGateway()
  t.teardown(() => gateway.close())
  const db = join(dir, 'restart-retention', 'exchanges.db')
  const routes = [{ name: 'gitlab-aigw', upstream: gateway.url }]
  const first = await startHarness({ routes, db })
  for (let i = 0; i < 5; i++) await complete(first, `keep-${i}`)
  t.equal((await first.exchanges()).length, 5)
  await first.close()
  removeDir(first.dir)

  // The capture worker runs a retention pass as it starts: no waiting for the periodic one.
  const second = await startHarness({ routes, db, extra: { store: { path: db, flush_interval_ms: 5, retention: { max_rows: 2 } } } })
  t.teardown(async () => {
    await second.close()
    removeDir(second.dir)
  })
  t.same((await second.exchanges()).map((e) => e.correlation_id), ['keep-4', 'keep-3'], 'only the two newest remain')
})

t.test('SqliteStore.prune keeps exactly the newest N and drops the flags of the rest', async (t) => {
  const gateway = await startAiGateway()
  const dead = await refusedPort()
  const db = join(dir, 'prune', 'exchanges.db')
  const h = await startHarness({
    routes: [
      { name: 'ok', upstream: gateway.url },
      { name: 'refused', upstream: `http://127.0.0.1:${dead}` }
    ],
    db
  })
  // Alternate answered and refused exchanges so flagged rows sit on both sides of the cut.
  const sent: string[] = []
  for (let i = 0; i < 10; i++) {
    const route = i % 2 === 0 ? 'ok' : 'refused'
    const id = `prune-${i}`
    t.equal(await complete(h, id, route), route === 'ok' ? 200 : 502, `${id} through ${route}`)
    sent.push(id)
    // Records are written in completion order; draining between requests pins seq order to send order.
    await h.proxy.pipeline.drain()
  }
  const recorded = await h.exchanges()
  t.equal(recorded.length, 10)
  t.same(recorded.find((e) => e.correlation_id === 'prune-1')?.flags, ['connection_refused'], 'refused exchanges are flagged')
  t.notOk(recorded.find((e) => e.correlation_id === 'prune-0')?.flags.includes('connection_refused'), 'answered ones are not')
  await h.close()
  removeDir(h.dir)
  await gateway.close()

  const peek = new Database(db, { readonly: true })
  t.teardown(() => peek.close())
  const rows = (): Array<{ seq: number, correlation_id: string }> =>
    peek.prepare('SELECT seq, correlation_id FROM exchanges ORDER BY seq').all() as Array<{ seq: number, correlation_id: string }>
  const flagRows = (): Array<{ seq: number, flag: string }> =>
    peek.prepare('SELECT seq, flag FROM exchange_flags ORDER BY seq, flag').all() as Array<{ seq: number, flag: string }>
  const beforeRows = rows()
  t.same(beforeRows.map((r) => r.correlation_id), sent, 'seq order is send order')
  const beforeFlags = flagRows()
  t.ok(beforeFlags.length >= 5, `every refused exchange has flag rows (${beforeFlags.length})`)

  const store = new SqliteStore(db)
  t.teardown(async () => await store.close())
  const now = Date.now()
  const keep = 4
  t.equal(await store.prune({ maxRows: keep, maxAgeHours: 24 * 365 }, now), 10 - keep, 'prune reports the rows it removed')
  t.equal(await store.count(), keep, 'exactly N rows left')
  const kept = rows()
  t.same(kept, beforeRows.slice(-keep), 'the newest N, by insertion order')
  t.same((await store.list({}, { limit: 100 })).items.map((e) => e.correlation_id), sent.slice(-keep).reverse(), 'list serves the survivors, newest first')
  const keptSeqs = new Set(kept.map((r) => r.seq))
  const afterFlags = flagRows()
  t.same(afterFlags, beforeFlags.filter((f) => keptSeqs.has(f.seq)), 'flag rows of kept exchanges untouched, those of removed ones gone')
  t.ok(afterFlags.length > 0, 'some flagged exchanges survived the cut')
  const orphans = peek.prepare('SELECT count(*) AS n FROM exchange_flags WHERE seq NOT IN (SELECT seq FROM exchanges)').get() as { n: number }
  t.equal(orphans.n, 0, 'no orphaned flag rows')
  const flagged = (await store.list({ flags: ['connection_refused'] }, { limit: 100 })).items.map((e) => e.correlation_id)
  t.same(flagged, sent.slice(-keep).filter((_id, i) => (10 - keep + i) % 2 === 1).reverse(), 'the flag filter sees only surviving exchanges')

  t.equal(await store.prune({ maxRows: keep, maxAgeHours: 24 * 365 }, now), 0, 'a second pass removes nothing')
  t.equal(await store.count(), keep)

  t.equal(await store.prune({ maxRows: 1_000_000, maxAgeHours: 1 }, now + 2 * 3_600_000), keep, 'age retention removes what is older than max_age_hours')
  t.equal(await store.count(), 0)
  t.equal(flagRows().length, 0, 'and their flag rows')
})

/** A thread's nice value: field 19 of /proc/self/task/<tid>/stat (the command name before it may hold spaces). */
function niceOf (tid: string): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

t.test('the capture thread yields the core to forwarding: nice 10 by default, on its thread only (Linux)', { skip: process.platform !== 'linux' ? 'per-thread nice is Linux only' : false }, async (t) => {
  t.equal(DEFAULTS.capture.thread_nice, 10, 'the default (the harness runs its proxies on the defaults)')
  const before = new Set(readdirSync('/proc/self/task'))
  const gateway = await startAiGateway()
  const h = await startHarness({ routes: [{ name: 'ok', upstream: gateway.url }] })
  t.teardown(async () => {
    await h.close()
    removeDir(h.dir)
    await gateway.close()
  })
  t.equal(await complete(h, 'nice-1', 'ok'), 200)
  await h.exchanges()
  const lowered = readdirSync('/proc/self/task').filter((tid) => !before.has(tid) && niceOf(tid) === 10)
  // The capture thread and the SQLite store's query thread (src/capture/reader-worker.ts), and no thread they started.
  t.equal(lowered.length, 2, 'two threads started with the proxy run at nice 10: the capture and query threads, and no thread they started')
  t.equal(niceOf(String(process.pid)), 0, 'the forwarding (main) thread keeps its priority')
})

t.test('capture.thread_nice: 0 leaves the capture thread at normal priority', { skip: process.platform !== 'linux' ? 'per-thread nice is Linux only' : false }, async (t) => {
  const before = new Set(readdirSync('/proc/self/task'))
  const gateway = await startAiGateway()
  const h = await startHarness({ routes: [{ name: 'ok', upstream: gateway.url }], extra: { capture: { thread_nice: 0 } } })
  t.teardown(async () => {
    await h.close()
    removeDir(h.dir)
    await gateway.close()
  })
  t.equal(await complete(h, 'nice-0', 'ok'), 200)
  await h.exchanges()
  const started = readdirSync('/proc/self/task').filter((tid) => !before.has(tid))
  t.ok(started.length >= 1, 'the capture thread started')
  t.same(started.filter((tid) => niceOf(tid) !== 0), [], 'none of the new threads is lowered')
})
