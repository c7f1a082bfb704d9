/**
 * The store contract, on both backends (SQLite, and a real PostgreSQL database): writes, every
 * filter (checked against the in-memory `matches`), keyset pagination, summaries with percentiles
 * computed in the database, traces, purge, retention, the linking queries, and hostile text.
 * The same data on both backends gives the same answers.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import type { Exchange } from '../src/capture/exchange.js'
import type { Flag } from '../src/diagnosis/flags.js'
import { matches } from '../src/store/query.js'
import { gatewaysSpanningSql, listSql, summarySql } from '../src/store/sql.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { ExchangeStore } from '../src/store/store.js'
import { NOT_ERRORS } from '../src/store/summary.js'
import type { ExchangeFilter } from '../src/store/types.js'
import { eachBackend, exchange, freshStore } from './helpers/stores.js'

/** A deterministic, varied data set: routes, hops, statuses, flags, instances, durations. */
function dataset (count: number): Exchange[] {
  let seed = 42
  const rnd = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed / 2_147_483_648
  }
  const pick = <T> (xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const flagSets: Flag[][] = [[], [], [], ['not_found'], ['client_aborted'], ['slow'], ['upstream_error', 'slow'], ['connection_refused'], ['token_expired']]
  const out: Exchange[] = []
  for (let i = 0; i < count; i++) {
    const hop = rnd() < 0.7 ? 'gateway' : 'model'
    const status = pick([200, 200, 200, 201, 401, 404, 500, 503, null])
    const flags = status === null ? ['connection_refused' as Flag] : pick(flagSets)
    // Several exchanges share a millisecond: the cursor must break ties on seq.
    const ex = exchange({ hop, startMs: Math.floor(i / 3) * 7 })
    ex.route = hop === 'gateway' ? pick(['gitlab-aigw', 'gitlab-aigw-2']) : 'model'
    ex.method = pick(['POST', 'POST', 'GET'])
    ex.path = hop === 'gateway' ? pick(['/v2/code/completions', '/v2/chat/agent', '/v1/x/y']) : pick(['/v1/chat/completions', '/chat/completions'])
    ex.status = status
    ex.flags = flags
    ex.meta.feature = hop === 'gateway' ? pick(['code_completions', 'chat', 'gateway_other']) : 'chat_completions'
    ex.proxy_instance = pick(['aigw-0', 'aigw-1'])
    ex.correlation_id = `c-${i % 40}`
    ex.timings = { ttfb_ms: rnd() < 0.2 ? null : Math.round(rnd() * 5000) / 10, duration_ms: Math.round(rnd() * 20000) / 10 }
    ex.diagnosis = flags.length > 0 && !flags.every((f) => NOT_ERRORS.includes(f)) ? { code: `code_of_${flags[0]}`, params: {}, cause: `cause of ${flags[0]}`, evidence: [], next_steps: [] } : null
    out.push(ex)
  }
  return out
}

const DATA = dataset(240)
/** The hand-built exchanges' epoch (test/helpers/stores.ts). */
const T0 = 1_800_000_000_000

async function load (store: ExchangeStore, data: readonly Exchange[]): Promise<void> {
  for (let i = 0; i < data.length; i += 50) await store.insert(data.slice(i, i + 50))
}

/** Every item of a filter, through pagination. */
async function all (store: ExchangeStore, filter: ExchangeFilter, limit = 17): Promise<Exchange[]> {
  const out: Exchange[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.list(filter, { limit, cursor })
    out.push(...page.items)
    cursor = page.next_cursor
    if (cursor === null) return out
  }
  throw new Error('pagination did not end')
}

const newestFirst = (a: Exchange, b: Exchange): number => Date.parse(b.started_at) - Date.parse(a.started_at)

eachBackend(t, 'insert, get, count: the exchange comes back as written', async (t, store) => {
  await load(store, DATA)
  t.equal(await store.count(), DATA.length)
  const sample = DATA[17]!
  t.same(await store.get(sample.id), sample, 'the whole document round-trips')
  t.equal(await store.get('0000000000000000000000ff'), null, 'an unknown id is null')
  await store.insert([])
  t.equal(await store.count(), DATA.length, 'an empty batch writes nothing')
})

eachBackend(t, 'every filter agrees with the in-memory matcher; pages are newest first without gaps', async (t, store) => {
  await load(store, DATA)
  const filters: Array<[string, ExchangeFilter]> = [
    ['none', {}],
    ['route', { route: 'gitlab-aigw-2' }],
    ['method', { method: 'get' }],
    ['path prefix', { path: '/v2/' }],
    ['path prefix with LIKE wildcards', { path: '/v2/%' }],
    ['status', { status: 404 }],
    ['status class', { statusClass: 5 }],
    ['flags (any of)', { flags: ['slow', 'not_found'] }],
    ['failures', { failed: true }],
    ['not failures', { failed: false }],
    ['failures on a route', { failed: true, route: 'gitlab-aigw' }],
    ['feature', { feature: 'chat' }],
    ['correlation id', { correlationId: 'c-7' }],
    ['since', { since: T0 + 300 }],
    ['until', { until: T0 + 200 }],
    ['min duration', { minDurationMs: 1500 }],
    ['proxy instance', { proxyInstance: 'aigw-1' }],
    ['combined', { route: 'gitlab-aigw', statusClass: 2, since: T0 + 50, proxyInstance: 'aigw-0' }]
  ]
  for (const [name, filter] of filters) {
    const got = await all(store, filter)
    const want = DATA.filter((e) => matches(e, filter))
    if (filter.failed !== undefined) t.ok(want.length > 0 && want.length < DATA.length, `${name}: the data has both kinds`)
    t.same(got.map((e) => e.id).sort(), want.map((e) => e.id).sort(), `${name}: ${want.length} exchanges`)
    t.equal(new Set(got.map((e) => e.id)).size, got.length, `${name}: no exchange served twice`)
    const ordered = [...got].sort(newestFirst)
    t.same(got.map((e) => e.started_at), ordered.map((e) => e.started_at), `${name}: newest first`)
  }
  await t.rejects(store.list({}, { limit: 5, cursor: 'bm90LWEtY3Vyc29y' }), { code: 'DDP_INVALID_CURSOR' }, 'a forged cursor is refused')
})

eachBackend(t, 'summary: totals, breakdowns and nearest-rank percentiles computed in the database', async (t, store) => {
  await load(store, DATA)
  const filter: ExchangeFilter = { since: T0 + 30 }
  const rows = DATA.filter((e) => matches(e, filter))
  const s = await store.summary(filter)
  t.equal(s.total, rows.length)
  const errors = rows.filter((e) => e.flags.some((f) => !NOT_ERRORS.includes(f))).length
  t.equal(s.errors, errors, 'errors: exchanges with a failure flag')
  const tally = (key: (e: Exchange) => string | null): Record<string, number> => {
    const out: Record<string, number> = {}
    for (const e of rows) {
      const k = key(e) ?? 'none'
      out[k] = (out[k] ?? 0) + 1
    }
    return out
  }
  t.same(s.by_route, tally((e) => e.route))
  t.same(s.by_status, tally((e) => e.status === null ? null : String(e.status)))
  t.same(s.by_feature, tally((e) => e.meta.feature))
  t.same(s.by_cause, tally((e) => e.diagnosis?.code ?? null), 'by the diagnosis code')
  const flags: Record<string, number> = {}
  for (const e of rows) for (const f of e.flags) flags[f] = (flags[f] ?? 0) + 1
  t.same(s.by_flag, flags)

  const nearestRank = (values: number[], p: number): number | null => {
    if (values.length === 0) return null
    const sorted = [...values].sort((a, b) => a - b)
    return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!
  }
  for (const row of s.latency) {
    const group = rows.filter((e) => e.route === row.route && e.meta.feature === row.feature)
    t.equal(row.count, group.length, `${row.route}/${row.feature}: count`)
    const d = group.map((e) => e.timings.duration_ms)
    const tt = group.flatMap((e) => e.timings.ttfb_ms === null ? [] : [e.timings.ttfb_ms])
    t.same(row.duration_ms, { p50: nearestRank(d, 0.5), p95: nearestRank(d, 0.95), p99: nearestRank(d, 0.99) }, `${row.route}/${row.feature}: duration percentiles`)
    t.same(row.ttfb_ms, { p50: nearestRank(tt, 0.5), p95: nearestRank(tt, 0.95), p99: nearestRank(tt, 0.99) }, `${row.route}/${row.feature}: ttfb percentiles`)
  }
  t.equal(s.latency.reduce((n, r) => n + r.count, 0), rows.length, 'every exchange is in one latency row')
  const empty = await store.summary({ route: 'no-such-route' })
  t.same({ total: empty.total, errors: empty.errors, error_rate: empty.error_rate, latency: empty.latency }, { total: 0, errors: 0, error_rate: 0, latency: [] })
})

eachBackend(t, 'linking: unlinked model calls, spanning gateways, a stored parent, the trace', async (t, store) => {
  // Fractional durations, as measured: the linking bounds are fractional too.
  const g = exchange({ hop: 'gateway', startMs: 1000, correlation_id: 'trace-1', timings: { ttfb_ms: 50.125, duration_ms: 500.375 } })
  const other = exchange({ hop: 'gateway', startMs: 1100, timings: { ttfb_ms: 5, duration_ms: 100 } })
  const child = exchange({ hop: 'model', startMs: 1150, correlation_source: 'minted', timings: { ttfb_ms: 20, duration_ms: 30 } })
  const late = exchange({ hop: 'model', startMs: 5000 })
  await store.insert([g, other, child, late])
  t.same((await store.unlinkedModelExchanges(T0 + 999.5, T0 + 1500.375)).map((e) => e.id), [child.id], 'model calls in the window, not yet linked')
  t.same(await store.unlinkedModelExchanges(T0 + 1150.5, T0 + 4999.9), [], 'fractional bounds keep their meaning')
  t.equal(await store.gatewaysSpanning(T0 + 1150.25, T0 + 1180.5), 2, 'both gateway requests span the call')
  t.equal(await store.gatewaysSpanning(T0 + 1150, T0 + 1400), 1, 'only the long one spans a longer call')
  // A long chat stream that began 20 minutes before the call and ended after it is a rival too;
  // one that ended before the call ended is not.
  await store.insert([
    exchange({ hop: 'gateway', startMs: 1150 - 1_200_000, timings: { ttfb_ms: 5, duration_ms: 1_200_100 } }),
    exchange({ hop: 'gateway', startMs: 1150 - 1_200_000, timings: { ttfb_ms: 5, duration_ms: 1_200_010 } })
  ])
  t.equal(await store.gatewaysSpanning(T0 + 1150.25, T0 + 1180.5), 3, 'gateway requests that started long before the call count when they outlast it')
  child.parent_id = g.id
  child.link = { method: 'inferred', confidence: 0.5 }
  await store.setParent(child)
  t.same(await store.get(child.id), child, 'parent and link persisted in the document')
  t.same(await store.unlinkedModelExchanges(T0 + 1000, T0 + 1500), [], 'a linked call is no longer offered')
  const trace = await store.trace('trace-1')
  t.equal(trace?.roots.length, 1)
  t.equal(trace?.roots[0]?.exchange.id, g.id)
  t.same(trace?.roots[0]?.children.map((c) => c.exchange.id), [child.id], 'the model call hangs under its gateway request')
  t.equal(await store.trace('no-such-correlation'), null)
})

eachBackend(t, 'purge removes what matches, with its flag rows', async (t, store) => {
  await load(store, DATA)
  const filter: ExchangeFilter = { flags: ['slow'] }
  const doomed = DATA.filter((e) => matches(e, filter)).length
  t.ok(doomed > 0)
  t.equal(await store.purge(filter), doomed)
  t.same((await store.list(filter, { limit: 10 })).items, [], 'nothing flagged slow is left')
  t.equal(await store.count(), DATA.length - doomed)
  const s = await store.summary({})
  t.equal(s.by_flag.slow, undefined, 'no orphaned flag rows counted')
})

eachBackend(t, 'retention keeps the newest rows and drops old ones by age', async (t, store) => {
  await load(store, DATA)
  const now = T0 + 10_000
  t.equal(await store.prune({ maxRows: 100, maxAgeHours: 24 }, now), DATA.length - 100, 'down to max_rows')
  t.equal(await store.count(), 100)
  const kept = await all(store, {}, 100)
  t.same(kept.map((e) => e.id).sort(), DATA.slice(-100).map((e) => e.id).sort(), 'the last written survive')
  t.equal(await store.prune({ maxRows: 100, maxAgeHours: 24 }, now), 0, 'a second pass removes nothing')
  t.equal(await store.prune({ maxRows: 1_000, maxAgeHours: 1 }, now + 2 * 3_600_000), 100, 'max_age_hours removes the rest')
  t.equal(await store.count(), 0)
  t.same((await store.summary({})).by_flag, {}, 'and their flag rows')
})

eachBackend(t, 'hostile text from traffic is stored and served back, never breaking a batch', async (t, store) => {
  const nul = exchange()
  nul.meta.model = 'model\u0000name'
  nul.path = "/v1/'; DROP TABLE exchanges; --"
  nul.correlation_id = 'c-?-$1-\\'
  const surrogate = exchange()
  surrogate.meta.model_name = 'bad \ud800 surrogate'
  const big = exchange()
  big.meta.notes = [Array.from({ length: 2000 }, (_, i) => `note ${i} 日本語`).join(' ')]
  await store.insert([nul, surrogate, big])
  t.equal(await store.count(), 3, 'the whole batch is written')
  const back = await store.get(nul.id)
  t.equal(back?.path, nul.path, 'SQL in a path is data')
  t.equal(back?.meta.model, 'model\u0000name', 'the document keeps the text as sent')
  t.equal((await store.list({ correlationId: 'c-?-$1-\\' }, { limit: 5 })).items.length, 1, 'placeholders in a value are data')
  t.same((await store.get(big.id))?.meta.notes, big.meta.notes)
})

t.test('both backends answer the same data the same way', async (t) => {
  const sqlite = await freshStore(t, 'sqlite')
  const pg = await freshStore(t, 'postgres')
  if (sqlite === null || pg === null) return
  await load(sqlite, DATA)
  await load(pg, DATA)
  for (const filter of [{}, { statusClass: 4 }, { flags: ['slow'] }, { since: T0 + 400, route: 'gitlab-aigw' }] as ExchangeFilter[]) {
    const a = await sqlite.summary(filter)
    const b = await pg.summary(filter)
    t.same(b, a, `summary ${JSON.stringify(filter)}`)
    t.same((await all(pg, filter, 25)).map((e) => e.id), (await all(sqlite, filter, 25)).map((e) => e.id), `list ${JSON.stringify(filter)}`)
  }
})

t.test('SQLite counts spanning gateway requests through the (hop, end time) index, not a scan of the hour before', async (t) => {
  const store = (await freshStore(t, 'sqlite'))!
  const db = new Database(store.display, { readonly: true })
  t.teardown(() => db.close())
  const q = gatewaysSpanningSql(T0 + 1150, T0 + 1400)
  const plan = (db.prepare(`EXPLAIN QUERY PLAN ${q.text}`).all(...q.params) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
  t.match(plan, /USING (COVERING )?INDEX exchanges_hop_end/, plan)
})

t.test('SQLite reads a summary\'s time window from indexes alone, not every row of the store', async (t) => {
  const store = (await freshStore(t, 'sqlite'))!
  const db = new Database(store.display, { readonly: true })
  t.teardown(() => db.close())
  const q = summarySql({ since: T0 + 400 })
  for (const name of ['counts', 'latency'] as const) {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${q[name].text}`).all(...q[name].params) as Array<{ detail: string }>).map((r) => r.detail)
    const reads = plan.filter((d) => / exchanges /.test(`${d} `))
    t.ok(reads.length > 0 && reads.every((d) => /^SEARCH exchanges USING COVERING INDEX \w+ \(started_at>\?\)$/.test(d)), `${name}: ${reads.join('; ')}`)
  }
})

t.test('SQLite reads a list page\'s documents by seq, after choosing the page: a sort holds keys only', async (t) => {
  const store = (await freshStore(t, 'sqlite'))!
  const db = new Database(store.display, { readonly: true })
  t.teardown(() => db.close())
  for (const filter of [{}, { statusClass: 2 }, { flags: ['slow'] }, { route: 'gitlab-aigw', statusClass: 5 }] as ExchangeFilter[]) {
    const q = listSql(filter, { limit: 50 })
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${q.text}`).all(...q.params) as Array<{ detail: string }>).map((r) => r.detail)
    t.equal(plan[0], 'SEARCH exchanges USING INTEGER PRIMARY KEY (rowid=?)', `${JSON.stringify(filter)}: ${plan.join('; ')}`)
  }
})

t.test('a SQLite store from before the end-time index and the cause codes is migrated on open and keeps its records', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-migrate-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'old.db')
  const gateway = exchange({ hop: 'gateway', startMs: 1000, timings: { ttfb_ms: 5, duration_ms: 500 } })
  const first = new SqliteStore(path)
  await first.insert([gateway])
  await first.close()
  // Back to schema version 4, as an earlier release left it.
  const raw = new Database(path)
  raw.exec(`DROP INDEX exchanges_window; DROP INDEX exchanges_hop_end; DROP INDEX exchanges_parent; ALTER TABLE exchanges DROP COLUMN cause_code;
    CREATE INDEX exchanges_time ON exchanges (started_at, seq); CREATE INDEX exchanges_status ON exchanges (status, started_at);
    CREATE INDEX exchanges_route ON exchanges (route, started_at); CREATE INDEX exchanges_parent ON exchanges (parent_id)`)
  raw.pragma('user_version = 4')
  raw.close()

  // Read as it is first (a customer's file read with --db): not migrated, every query works.
  const asSent = new SqliteStore(path, { readonly: true })
  t.same(await asSent.get(gateway.id), gateway, 'an older store reads read-only')
  t.equal((await asSent.list({}, { limit: 10 })).items.length, 1)
  t.equal((await asSent.summary({})).total, 1, 'the summary (by cause code) works on it')
  t.equal((await asSent.list({ causeCode: 'x' }, { limit: 10 })).items.length, 0, 'and a cause filter')
  await asSent.close()
  const untouched = new Database(path, { readonly: true })
  t.equal(untouched.pragma('user_version', { simple: true }), 4, 'reading did not migrate the file')
  untouched.close()

  const reopened = new SqliteStore(path)
  t.teardown(() => reopened.close())
  t.same(await reopened.get(gateway.id), gateway, 'the record is still there')
  t.equal(await reopened.gatewaysSpanning(T0 + 1100, T0 + 1200), 1)
  const check = new Database(path, { readonly: true })
  t.teardown(() => check.close())
  t.equal(check.pragma('user_version', { simple: true }), 9)
  t.ok(check.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'exchanges_hop_end'").get(), 'the index was built')
  t.ok(check.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'exchanges_window'").get(), 'and the summary\'s')
  t.ok(check.prepare("SELECT 1 FROM pragma_table_info('exchanges') WHERE name = 'cause_code'").get(), 'the cause code column was added')
  const indexes = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'exchanges' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name)
  t.same(indexes, ['exchanges_correlation', 'exchanges_hop_end', 'exchanges_hop_time', 'exchanges_parent', 'exchanges_window'], 'the indexes the window index serves were dropped (issue 20)')
  t.same((check.prepare("SELECT name FROM pragma_index_info('exchanges_window') WHERE seqno < 2 ORDER BY seqno").all() as Array<{ name: string }>).map((r) => r.name), ['started_at', 'seq'], 'the window index gives the keyset order')
  t.match(check.prepare("SELECT sql FROM sqlite_master WHERE name = 'exchanges_parent'").get(), { sql: /WHERE parent_id IS NOT NULL/ }, 'parent links indexed only where there is one')
})
