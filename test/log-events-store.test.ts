/**
 * Imported log events in the store (issue 19), on both backends: written once by fingerprint,
 * read by correlation id in time order and bounded, listed oldest first by keyset without gaps,
 * the correlation ids of an import paged, an exchange rewritten with its flags and cause code,
 * traces of log lines alone, hostile text, purge and retention, and older stores migrated.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import t from 'tap'
import type { LogEvent } from '../src/logs/event.js'
import { LOG_LIMITS } from '../src/logs/event.js'
import type { LogEventFilter } from '../src/store/log-event-sql.js'
import { openStore } from '../src/store/open.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { ExchangeStore } from '../src/store/store.js'
import { logEvent } from './helpers/log-events.js'
import { freshDatabase, pgUnavailable } from './helpers/pg.js'
import { eachBackend, exchange } from './helpers/stores.js'

const T0 = 1_800_000_000_000
const at = (ms: number): string => new Date(T0 + ms).toISOString()

/** Every event of a filter, page by page; fails rather than loop when pages never end. */
async function all (store: ExchangeStore, filter: LogEventFilter, limit: number): Promise<LogEvent[]> {
  const out: LogEvent[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 500; pages++) {
    const page = await store.listLogEvents(filter, { limit, cursor })
    t.ok(page.items.length <= limit)
    out.push(...page.items)
    cursor = page.next_cursor
    if (cursor === null) return out
  }
  throw new Error('pagination did not end')
}

/** A varied set: sources, kinds, levels, a few correlation ids, several lines on one millisecond. */
function dataset (count: number): LogEvent[] {
  const sources = ['gitlab_llm', 'gitlab_request', 'gateway', 'gateway_text'] as const
  const kinds = ['access', 'request', 'exception', 'model_call', 'error_answer', 'gateway_error', 'info'] as const
  // Written out of time order: readers sort by time, not by arrival.
  return Array.from({ length: count }, (_, i) => logEvent({
    source: sources[i % 4]!,
    kind: kinds[i % 7]!,
    level: i % 5 === 0 ? 'error' : 'info',
    time: at(Math.floor(((i * 37) % count) / 2) * 3),
    correlation_id: i % 9 === 0 ? null : `c-${i % 6}`,
    message: `event ${i}`
  }))
}

const byTime = (events: readonly LogEvent[]): LogEvent[] => [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time))

eachBackend(t, 'a line is stored once: duplicates by fingerprint, in the store or in the batch, are skipped and not counted', async (t, store) => {
  const first = Array.from({ length: 5 }, () => logEvent({ correlation_id: 'dup-1' }))
  t.equal(await store.addLogEvents(first, 'import-a'), 5)
  t.equal(await store.addLogEvents(first, 'import-b'), 0, 'the same lines again: nothing new')
  const again = logEvent({ correlation_id: 'dup-1' })
  const batch = [first[0]!, again, first[3]!, again, logEvent({ correlation_id: 'dup-1' })]
  t.equal(await store.addLogEvents(batch, 'import-c'), 2, 'two new ones, one of them twice in the batch')
  t.equal((await store.logEvents('dup-1')).length, 7)
  t.equal(await store.addLogEvents([], 'import-d'), 0, 'an empty batch')
  t.same(await store.importedCorrelationIds('import-b', null, 10), [], 'a re-import wrote nothing, so it has nothing to re-diagnose')
})

eachBackend(t, 'a correlation id\'s lines come oldest first, ties in the order written, bounded', async (t, store) => {
  const lines = [at(50), at(10), at(30), at(10), at(20)].map((time, i) => logEvent({ correlation_id: 'order-1', time, message: `m${i}` }))
  await store.addLogEvents(lines, 'import-1')
  await store.addLogEvents([logEvent({ correlation_id: 'other', time: at(15) })], 'import-1')
  t.same((await store.logEvents('order-1')).map((e) => e.message), ['m1', 'm3', 'm4', 'm2', 'm0'])
  t.same(await store.logEvents('order-1'), byTime(lines), 'each line as written')
  t.same((await store.logEvents('order-1', 2)).map((e) => e.message), ['m1', 'm3'], 'limit 2: the first two')
  t.equal((await store.logEvents('order-1', 0)).length, 1, 'limit 0 is read as 1')
  t.equal((await store.logEvents('order-1', Number.NaN)).length, 5, 'an unreadable limit is the default')
  t.same(await store.logEvents('nobody'), [])

  const many = Array.from({ length: 2_005 }, (_, i) => logEvent({ correlation_id: 'many-1', time: at(i) }))
  for (let i = 0; i < many.length; i += 500) await store.addLogEvents(many.slice(i, i + 500), 'import-2')
  t.equal((await store.logEvents('many-1')).length, 2_000, 'by default at most 2 000')
  t.equal((await store.logEvents('many-1', 1_000_000)).length, 2_005, 'a larger limit, up to 10 000')
  const trace = await store.trace('many-1')
  t.equal(trace?.log_events.length, 2_000, 'a trace holds 2 000 lines')
  t.equal(trace?.log_events_truncated, true, 'and says there are more')
  t.equal((await store.trace('order-1'))?.log_events_truncated, false)
})

eachBackend(t, 'the listing: oldest first, keyset pages without gaps or repeats, every filter', async (t, store) => {
  const data = dataset(150)
  for (let i = 0; i < data.length; i += 40) await store.addLogEvents(data.slice(i, i + 40), 'import-list')
  const expected = byTime(data)
  const fingerprints = (events: readonly LogEvent[]): string[] => events.map((e) => e.fingerprint)
  t.same(fingerprints(await all(store, {}, 7)), fingerprints(expected), 'every event once, oldest first, ties as written')
  t.same(fingerprints(await all(store, {}, 1_000)), fingerprints(expected), 'in one page too')
  const filters: Array<[LogEventFilter, (e: LogEvent) => boolean]> = [
    [{ source: 'gateway' }, (e) => e.source === 'gateway'],
    [{ kind: 'exception' }, (e) => e.kind === 'exception'],
    [{ correlationId: 'c-3' }, (e) => e.correlation_id === 'c-3'],
    [{ since: T0 + 100, until: T0 + 200 }, (e) => Date.parse(e.time) >= T0 + 100 && Date.parse(e.time) <= T0 + 200],
    [{ source: 'gitlab_llm', correlationId: 'c-2', since: T0 + 50 }, (e) => e.source === 'gitlab_llm' && e.correlation_id === 'c-2' && Date.parse(e.time) >= T0 + 50]
  ]
  for (const [filter, match] of filters) {
    const want = expected.filter(match)
    t.ok(want.length > 0, `${JSON.stringify(filter)} matches some`)
    t.same(fingerprints(await all(store, filter, 4)), fingerprints(want), `${JSON.stringify(filter)}: exactly these, in order`)
  }
  t.same((await store.listLogEvents({ source: 'gateway', kind: 'nothing' as 'info' }, { limit: 10 })).items, [], 'an unknown kind matches none')
  const page = await store.listLogEvents({}, { limit: 5_000 })
  t.equal(page.items.length, 150, 'a page is bounded (1 000) and here holds all')
  t.equal((await store.listLogEvents({}, { limit: 0 })).items.length, 1, 'limit 0 is read as 1')
  await t.rejects(store.listLogEvents({}, { limit: 5, cursor: 'not-a-cursor' }), { code: 'DDP_INVALID_CURSOR' })
  // An exchange list cursor is not a log event cursor.
  await t.rejects(store.listLogEvents({}, { limit: 5, cursor: Buffer.from('1800000000000.5').toString('base64url') }), { code: 'DDP_INVALID_CURSOR' })
})

eachBackend(t, 'the correlation ids of one import, paged by keyset: each once, none of another import, no nulls', async (t, store) => {
  const mine = Array.from({ length: 23 }, (_, i) => `cid-${String(i).padStart(2, '0')}`)
  const events = mine.flatMap((cid) => [logEvent({ correlation_id: cid }), logEvent({ correlation_id: cid })])
  await store.addLogEvents([...events, logEvent({ correlation_id: null })], 'run-1')
  await store.addLogEvents([logEvent({ correlation_id: 'cid-99' }), logEvent({ correlation_id: 'cid-05' })], 'run-2')
  const seen: string[] = []
  let after: string | null = null
  for (let pages = 0; pages < 50; pages++) {
    const ids = await store.importedCorrelationIds('run-1', after, 5)
    t.ok(ids.length <= 5)
    if (ids.length === 0) break
    seen.push(...ids)
    after = ids[ids.length - 1]!
  }
  t.same(seen, mine, 'every id of the import, once, in order')
  t.same(await store.importedCorrelationIds('run-2', null, 10), ['cid-05', 'cid-99'], 'a later import has its own')
  t.same(await store.importedCorrelationIds('run-1', 'cid-22', 10), [], 'after the last: none')
  t.same(await store.importedCorrelationIds('no-such-run', null, 10), [])
})

eachBackend(t, 'rewriteExchange: the document, its flag rows and cause code follow; kept flags stay', async (t, store) => {
  const ex = exchange({ correlation_id: 'rewrite-1', flags: ['slow', 'upstream_error'] })
  const other = exchange({ correlation_id: 'rewrite-2', flags: ['slow'] })
  await store.insert([ex, other])
  ex.flags = ['slow', 'timeout']
  ex.diagnosis = { code: 'model_timeout', params: {}, cause: 'the model did not answer in time', evidence: [], next_steps: [] }
  ex.meta.reported_by = 'logs'
  await store.rewriteExchange(ex)
  t.same(await store.get(ex.id), ex, 'the document as rewritten')
  const ids = async (flags: string[]): Promise<string[]> => (await store.list({ flags }, { limit: 10 })).items.map((e) => e.id).sort()
  t.same(await ids(['timeout']), [ex.id], 'the new flag is found')
  t.same(await ids(['upstream_error']), [], 'the dropped flag is gone')
  t.same(await ids(['slow']), [ex.id, other.id].sort(), 'the kept flag stays, once')
  t.same((await store.list({ causeCode: 'model_timeout' }, { limit: 10 })).items.map((e) => e.id), [ex.id], 'the cause code column follows')
  const s = await store.summary({})
  t.same(s.by_flag, { slow: 2, timeout: 1 }, 'the summary counts the flag rows as they are now')
  t.equal(s.by_cause.model_timeout, 1)
  ex.flags = []
  ex.diagnosis = null
  await store.rewriteExchange(ex)
  t.same((await store.summary({})).by_flag, { slow: 1 }, 'no flags left')
  t.same((await store.list({ causeCode: 'model_timeout' }, { limit: 10 })).items, [])
})

eachBackend(t, 'setParent keeps the cause code column with the document (linking rewrites a diagnosis)', async (t, store) => {
  const g = exchange({ correlation_id: 'link-1' })
  await store.insert([g])
  g.diagnosis = { code: 'model_endpoint_missing_v1', params: {}, cause: 'no /v1', evidence: [], next_steps: [] }
  await store.setParent(g)
  t.same((await store.list({ causeCode: 'model_endpoint_missing_v1' }, { limit: 5 })).items.map((e) => e.id), [g.id])
})

eachBackend(t, 'a trace: log lines alone make one; with exchanges, one timeline in time order', async (t, store) => {
  t.equal(await store.trace('nothing-here'), null, 'neither: no trace')
  const llm = logEvent({ source: 'gitlab_llm', kind: 'info', correlation_id: 'tl-1', time: at(0), message: 'Request to v2/chat/agent' })
  const gwErr = logEvent({ source: 'gateway', kind: 'exception', level: 'error', correlation_id: 'tl-1', time: at(40), message: 'boom' })
  const llmErr = logEvent({ source: 'gitlab_llm', kind: 'gateway_error', level: 'error', correlation_id: 'tl-1', time: at(200), message: 'Error response from AI Gateway' })
  await store.addLogEvents([llmErr, llm, gwErr], 'imp')
  const alone = await store.trace('tl-1')
  t.same(alone?.roots, [], 'no exchange')
  t.same(alone?.waterfall, [])
  t.same(alone?.log_events.map((e) => e.message), ['Request to v2/chat/agent', 'boom', 'Error response from AI Gateway'])
  t.same(alone?.timeline.map((i) => [i.type, i.at_ms]), [['log', 0], ['log', 40], ['log', 200]])

  const gw = exchange({ correlation_id: 'tl-1', startMs: 10, timings: { ttfb_ms: null, duration_ms: 100 }, flags: ['upstream_error'], status: 500 })
  gw.diagnosis = { code: 'gateway_error', params: {}, cause: 'the gateway failed', evidence: [], next_steps: [] }
  await store.insert([gw])
  const trace = (await store.trace('tl-1'))!
  t.equal(trace.roots.length, 1)
  const order = trace.timeline.map((i) => (i.type === 'log' ? `log:${trace.log_events[i.index]!.message}` : `step:${i.event}`))
  t.same(order, ['log:Request to v2/chat/agent', 'step:gateway_request_received', 'log:boom', 'step:gateway_failed', 'log:Error response from AI Gateway'])
  t.same(trace.timeline.map((i) => i.at_ms), [0, 10, 40, 110, 200], 'milliseconds from the first item')
  t.same(trace.timeline.map((i) => i.time), [at(0), at(10), at(40), at(110), at(200)], 'and the time of each')
  t.same(trace.waterfall.map((w) => w.at_ms), [0, 100], 'the waterfall is as before: from the first exchange event')
})

eachBackend(t, 'hostile text round-trips: NUL, quotes, placeholders, SQL, surrogates, bounded large texts', async (t, store, backend) => {
  const cid = 'c-?-$1-\'"\\; DROP TABLE log_events; --'
  const nulCid = 'nul\u0000cid'
  const hostile = [
    logEvent({ correlation_id: cid, message: 'a\u0000b "quoted" \'single\' $1 ? %s \\', fields: { exception_message: 'x\u0000y', nested: { 'k\u0000': ['\ud800', null, 1.5, true] } } }),
    logEvent({ correlation_id: nulCid, message: 'nul in the id' }),
    logEvent({ correlation_id: cid, message: '日本語のメッセージ '.repeat(400).slice(0, LOG_LIMITS.messageChars), fields: { backtrace: 'Traceback (most recent call last):\n'.padEnd(LOG_LIMITS.backtraceChars, 'x') } }),
    logEvent({ correlation_id: cid, origin: { file: '/var/log/"weird"\u0000.log', line: 2 ** 31 } })
  ]
  t.equal(await store.addLogEvents(hostile, 'import-\'"'), 4, 'the whole batch is written')
  const back = await store.logEvents(cid)
  t.same(back, byTime(hostile.filter((e) => e.correlation_id === cid)), 'each document exactly as written')
  t.same((await store.logEvents(nulCid)).map((e) => e.correlation_id), [nulCid], `a NUL in the id is found by it (${backend})`)
  t.same(await store.importedCorrelationIds('import-\'"', null, 10), [cid, backend === 'postgres' ? 'nul\uFFFDcid' : nulCid].sort(), 'the ids of the import (PostgreSQL text holds no NUL)')
  t.equal((await all(store, { correlationId: cid }, 2)).length, 3, 'placeholders in a filter are data')
})

eachBackend(t, 'events that break the type are refused with a stable code, and nothing of their batch is written', async (t, store) => {
  const good = logEvent({ correlation_id: 'bad-1' })
  const cases: Array<[string, Partial<LogEvent>]> = [
    ['fingerprint', { fingerprint: 'abc' }],
    ['time', { time: 'yesterday' }],
    ['source', { source: 'syslog' as 'gateway' }],
    ['kind', { kind: 'other' as 'info' }],
    ['level', { level: 'fatal' as 'error' }],
    ['correlation_id', { correlation_id: '' }],
    ['fields', { fields: [] as unknown as LogEvent['fields'] }],
    ['origin', { origin: { file: 'x', line: 1.5 } }],
    ['size', { fields: { huge: 'x'.repeat(300 * 1024) } }]
  ]
  for (const [name, over] of cases) {
    const bad = logEvent({ correlation_id: 'bad-1', ...over })
    await t.rejects(store.addLogEvents([good, bad], 'import-bad'), { code: 'DDP_LOG_EVENT_INVALID', index: 1 }, `${name}: refused`)
  }
  await t.rejects(store.addLogEvents([good], ''), { code: 'DDP_LOG_EVENT_INVALID' }, 'an empty import id')
  await t.rejects(store.addLogEvents([good], 'a\nb'), { code: 'DDP_LOG_EVENT_INVALID' }, 'a control character in the import id')
  t.same(await store.logEvents('bad-1'), [], 'nothing written')
  t.equal(await store.addLogEvents([good], 'import-good'), 1, 'the good line alone is taken')
})

eachBackend(t, 'purge --all empties the log events; a filtered purge leaves them; retention drops old lines by age', async (t, store) => {
  const now = T0 + 10 * 3_600_000
  const old = Array.from({ length: 7 }, (_, i) => logEvent({ correlation_id: 'ret-1', time: at(i) }))
  const recent = Array.from({ length: 3 }, (_, i) => logEvent({ correlation_id: 'ret-1', time: at(9 * 3_600_000 + i) }))
  await store.addLogEvents([...old, ...recent], 'imp')
  await store.insert([exchange({ correlation_id: 'ret-1', startMs: 9 * 3_600_000 })])
  t.equal(await store.prune({ maxRows: 1_000, maxAgeHours: 2 }, now), 0, 'no exchange is old enough')
  t.same((await store.logEvents('ret-1')).map((e) => e.time), recent.map((e) => e.time), 'the lines older than max_age_hours are gone')
  t.equal(await store.purge({ correlationId: 'ret-1' }), 1)
  t.equal((await store.logEvents('ret-1')).length, 3, 'a filtered purge removes exchanges only')
  t.equal(await store.purge({}), 0)
  t.same(await store.logEvents('ret-1'), [], 'purge of everything takes the log events')
  t.same((await store.listLogEvents({}, { limit: 10 })).items, [])
})

t.test('a SQLite store from before log events is read as it is, then migrated on open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-migrate-logs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'old.db')
  const ex = exchange({ correlation_id: 'old-1' })
  const first = new SqliteStore(path)
  await first.insert([ex])
  await first.close()
  const raw = new Database(path)
  raw.exec('DROP TABLE log_events')
  raw.pragma('user_version = 7')
  raw.close()

  const asSent = new SqliteStore(path, { readonly: true })
  t.same((await asSent.trace('old-1'))?.log_events, [], 'an older store\'s trace reads, with no log lines')
  t.same(await asSent.listLogEvents({}, { limit: 10 }), { items: [], next_cursor: null })
  t.same(await asSent.logEvents('old-1'), [])
  await t.rejects(asSent.addLogEvents([logEvent()], 'x'), /read-only/, 'a read-only store takes no writes')
  await asSent.close()
  const untouched = new Database(path, { readonly: true })
  t.equal(untouched.pragma('user_version', { simple: true }), 7, 'reading did not migrate the file')
  t.notOk(untouched.prepare("SELECT 1 FROM sqlite_master WHERE name = 'log_events'").get(), 'nor add the table')
  untouched.close()

  const reopened = await openStore(path)
  t.teardown(() => reopened.close())
  t.same(await reopened.get(ex.id), ex, 'the record is still there')
  t.equal(await reopened.addLogEvents([logEvent({ correlation_id: 'old-1' })], 'after'), 1, 'log events are taken')
  t.equal((await reopened.trace('old-1'))?.log_events.length, 1)
  const check = new Database(path, { readonly: true })
  t.teardown(() => check.close())
  t.equal(check.pragma('user_version', { simple: true }), 9)
  const indexes = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_events' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name)
  t.same(indexes, ['log_events_correlation', 'log_events_import', 'log_events_time'])
})

t.test('a PostgreSQL store from before log events is migrated on open', async (t) => {
  const url = await freshDatabase(t)
  if (url === null) return pgUnavailable(t)
  const ex = exchange({ correlation_id: 'old-pg-1' })
  const first = await openStore(url)
  await first.insert([ex])
  await first.close()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  await client.query('DROP TABLE log_events; DELETE FROM ddp_migrations WHERE version = 5')

  const reopened = await openStore(url)
  t.teardown(() => reopened.close())
  t.same(await reopened.get(ex.id), ex, 'the record is still there')
  t.equal(await reopened.addLogEvents([logEvent({ correlation_id: 'old-pg-1' })], 'after'), 1)
  t.equal((await reopened.trace('old-pg-1'))?.log_events.length, 1)
  const versions = await client.query<{ version: number }>('SELECT version FROM ddp_migrations ORDER BY version')
  t.same(versions.rows.map((r) => r.version), [1, 2, 3, 4, 5])
  const indexes = await client.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'log_events' AND indexname LIKE 'log_events_%' ORDER BY indexname")
  t.same(indexes.rows.map((r) => r.indexname), ['log_events_correlation', 'log_events_fingerprint_key', 'log_events_import', 'log_events_pkey', 'log_events_time'])
})
