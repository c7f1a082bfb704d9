/**
 * Imported log lines through the admin API of a running proxy (issue 19), on both backends: a
 * trace carries them and one timeline with the captured exchanges' steps; a trace exists with
 * log lines alone; GET /api/log-events filters and pages them; the trace's HAR carries them and
 * stays valid HAR 1.2; bad parameters get 400 with a stable code, in the reader's language;
 * purge of everything takes them.
 */
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type { LogEvent } from '../src/logs/event.js'
import type { LogEventPage } from '../src/store/log-event-sql.js'
import type { Trace } from '../src/store/trace.js'
import { harValidator } from './helpers/har.js'
import { api, BARE_CID, CAPTURED_CID, RECONSTRUCTED_CID, startLogStack } from './helpers/log-stack.js'
import { freshDatabase, pgUnavailable } from './helpers/pg.js'
import { BACKENDS } from './helpers/stores.js'

const byTime = (events: readonly LogEvent[]): LogEvent[] => [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time))

for (const backend of BACKENDS) {
  t.test(`log lines beside captured exchanges, through the API [${backend}]`, async (t) => {
    const db = backend === 'postgres' ? await freshDatabase(t) : undefined
    if (db === null) return pgUnavailable(t)
    const { h, captured, lines, rebuilt } = await startLogStack(t, db !== undefined ? { db } : {})
    t.ok(captured.length >= 2, 'the gateway request and its model call were captured')

    t.test('the trace: its exchanges as before, its log lines, one timeline', async (t) => {
      const { status, body: trace } = await api<Trace>(h, `/api/traces/${CAPTURED_CID}`)
      t.equal(status, 200)
      const ids = (nodes: Trace['roots']): string[] => nodes.flatMap((n) => [n.exchange.id, ...ids(n.children)])
      t.same(ids(trace.roots).sort(), captured.map((e) => e.id).sort(), 'the captured exchanges, both hops')
      t.equal(trace.roots[0]?.children.length, 1, 'the model call under the gateway request')
      t.same(trace.log_events, byTime(lines[CAPTURED_CID]!), 'the log lines as written, oldest first')
      t.equal(trace.log_events_truncated, false)
      const times = trace.timeline.map((i) => Date.parse(i.time))
      t.same(times, [...times].sort((a, b) => a - b), 'the timeline is in time order')
      t.equal(trace.timeline.filter((i) => i.type === 'log').length, 4, 'every log line once')
      t.same(trace.timeline.filter((i) => i.type === 'step').map((i) => i.type === 'step' && i.event), trace.waterfall.map((w) => w.event), 'and every waterfall step, in its order')
      const items = trace.timeline.map((i) => (i.type === 'log' ? trace.log_events[i.index]!.message.split('\n')[0] : i.event))
      t.equal(items[0], 'Performing request to AI Gateway', 'GitLab\'s line first: it sent the request')
      t.equal(items[items.length - 1], 'Error response from AI Gateway', 'GitLab\'s error last')
      t.ok(items.indexOf('Traceback (most recent call last):') > items.indexOf('gateway_request_received'), 'the gateway\'s traceback after the proxy saw the request')
      t.equal(trace.timeline[0]!.at_ms, 0)
      t.same(trace.waterfall[0]!.at_ms, 0, 'the waterfall still counts from the first exchange event')
    })

    t.test('a request known from logs: the reconstructed exchange, marked; log lines alone make a trace too', async (t) => {
      const rebuiltTrace = await api<Trace>(h, `/api/traces/${RECONSTRUCTED_CID}`)
      t.equal(rebuiltTrace.status, 200)
      t.equal(rebuiltTrace.body.roots[0]?.exchange.id, rebuilt.id)
      t.equal(rebuiltTrace.body.roots[0]?.exchange.meta.reported_by, 'logs', 'meta.reported_by: logs')
      t.equal(rebuiltTrace.body.log_events.length, 2)
      const bare = await api<Trace>(h, `/api/traces/${BARE_CID}`)
      t.equal(bare.status, 200, 'log lines and no exchange: a trace')
      t.same(bare.body.roots, [])
      t.same(bare.body.waterfall, [])
      t.same(bare.body.timeline.map((i) => i.type), ['log', 'log'])
      t.equal(bare.body.root_cause, null)
      const none = await api<{ error: string }>(h, '/api/traces/no-such-request')
      t.equal(none.status, 404, 'neither: 404')
      t.equal(none.body.error, 'not_found')
    })

    t.test('diagnoses in the reader\'s language; log lines as they were written', async (t) => {
      const ja = await api<Trace>(h, `/api/traces/${RECONSTRUCTED_CID}?lang=ja`)
      t.equal((ja.body.roots[0]?.exchange.diagnosis as { lang?: string } | null)?.lang, 'ja', 'the reconstructed exchange\'s diagnosis in Japanese')
      t.same(ja.body.log_events, byTime(lines[RECONSTRUCTED_CID]!), 'the lines unchanged')
    })

    t.test('GET /api/log-events: every line once, oldest first, by keyset; filters', async (t) => {
      const every = byTime(Object.values(lines).flat())
      const seen: LogEvent[] = []
      let cursor: string | null = null
      for (let pages = 0; pages < 20; pages++) {
        const { status, body }: { status: number, body: LogEventPage } = await api<LogEventPage>(h, `/api/log-events?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`)
        t.equal(status, 200)
        t.ok(body.items.length <= 3, 'a page holds at most limit')
        seen.push(...body.items)
        cursor = body.next_cursor
        if (cursor === null) break
      }
      t.same(seen.map((e) => e.fingerprint), every.map((e) => e.fingerprint), 'all 8, oldest first, no gap, no repeat')
      const only = async (query: string): Promise<string[]> => (await api<LogEventPage>(h, `/api/log-events?${query}`)).body.items.map((e) => e.fingerprint)
      const want = (f: (e: LogEvent) => boolean): string[] => every.filter(f).map((e) => e.fingerprint)
      t.same(await only('source=gitlab_llm'), want((e) => e.source === 'gitlab_llm'))
      t.same(await only('kind=exception'), want((e) => e.kind === 'exception'))
      t.same(await only(`correlation_id=${BARE_CID}`), want((e) => e.correlation_id === BARE_CID))
      const mid = every[3]!.time
      t.same(await only(`since=${encodeURIComponent(mid)}`), want((e) => e.time >= mid), 'since: from that time on')
      t.same(await only(`until=${encodeURIComponent(mid)}&source=gateway`), want((e) => e.time <= mid && e.source === 'gateway'), 'until, with a source')
      t.same(await only('since=1h'), every.map((e) => e.fingerprint), 'a relative since')
    })

    t.test('bad parameters: 400 with a stable code, said in the reader\'s language; never a crash', async (t) => {
      const since = await api<{ error: string, message: string }>(h, '/api/log-events?since=yesterday')
      t.equal(since.status, 400)
      t.equal(since.body.error, 'DDP_BAD_PARAMETER')
      t.match(since.body.message, /querystring\/since must be an ISO 8601 time/)
      const ja = await api<{ error: string, message: string }>(h, '/api/log-events?since=yesterday', { 'accept-language': 'ja' })
      t.equal(ja.body.error, 'DDP_BAD_PARAMETER')
      t.match(ja.body.message, /querystring\/since/)
      t.notMatch(ja.body.message, /must be/, 'in Japanese')
      const cursor = await api<{ error: string }>(h, '/api/log-events?cursor=bm90LWEtY3Vyc29y')
      t.same([cursor.status, cursor.body.error], [400, 'DDP_INVALID_CURSOR'])
      for (const q of ['source=syslog', 'kind=other', 'limit=0', 'limit=1001', 'bogus=1', `correlation_id=${'x'.repeat(2000)}`]) {
        const r = await api<{ error: string }>(h, `/api/log-events?${q}`)
        t.equal(r.status, 400, `${q.slice(0, 30)}: 400`)
        t.equal(r.body.error, 'FST_ERR_VALIDATION', `${q.slice(0, 30)}: the schema's code`)
      }
      const nul = await api<Trace>(h, `/api/traces/${encodeURIComponent('a\u0000b')}`)
      t.equal(nul.status, 404, 'a NUL in a correlation id finds nothing, and breaks nothing')
    })

    t.test('the trace as HAR: valid HAR 1.2, the log lines under the log\'s _duo_diag', async (t) => {
      const { status, body } = await api<{ log: { _duo_diag: { lang: string, log_events: LogEvent[] }, entries: Array<{ _duo_diag: { id: string } }>, comment: string } }>(h, `/api/traces/${CAPTURED_CID}/har`)
      t.equal(status, 200)
      const valid = harValidator()
      t.ok(valid(body), `valid HAR 1.2 ${JSON.stringify(valid.errors?.slice(0, 3))}`)
      t.same(body.log._duo_diag.log_events, byTime(lines[CAPTURED_CID]!), 'the trace\'s log lines')
      t.same(body.log.entries.map((e) => e._duo_diag.id).sort(), captured.map((e) => e.id).sort(), 'and its exchanges')
      t.match(body.log.comment, /_duo_diag\.log_events/)
      const bare = await api<{ log: { _duo_diag: { log_events: LogEvent[] }, entries: unknown[] } }>(h, `/api/traces/${BARE_CID}/har`)
      t.equal(bare.status, 200)
      t.ok(valid(bare.body), 'log lines alone: still valid HAR, no entries')
      t.equal(bare.body.log._duo_diag.log_events.length, 2)
    })

    t.test('purge: a filtered one leaves log lines, everything takes them', async (t) => {
      const del = async (query: string): Promise<number> => {
        const res = await request(`${h.adminUrl}/api/exchanges?${query}`, { method: 'DELETE' })
        return ((await res.body.json()) as { removed: number }).removed
      }
      t.equal(await del(`correlation_id=${RECONSTRUCTED_CID}`), 1)
      t.equal((await api<Trace>(h, `/api/traces/${RECONSTRUCTED_CID}`)).body.roots.length, 0, 'the exchange is gone, its log lines stay')
      t.ok(await del('all=true') >= 2)
      t.same((await api<LogEventPage>(h, '/api/log-events')).body, { items: [], next_cursor: null }, 'purge of everything took the log lines')
      t.equal((await api(h, `/api/traces/${BARE_CID}`)).status, 404)
      const left: Exchange[] = await h.exchanges()
      t.same(left, [])
    })
  })
}
