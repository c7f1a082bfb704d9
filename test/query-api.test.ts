/**
 * The admin API through a real listening server, after known traffic: filters, pagination
 * under concurrent inserts, summary, HAR/NDJSON export, purge, live tail, OpenAPI, metrics, auth.
 */
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type { Summary } from '../src/store/summary.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { refusedPort } from './helpers/fault-servers.js'
import { harValidator } from './helpers/har.js'
import { freshDatabase, pgUnavailable } from './helpers/pg.js'
import { startHarness } from './helpers/proxy-harness.js'
import { BACKENDS } from './helpers/stores.js'

const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })
const JSON_HEADERS = { 'content-type': 'application/json' }

async function get<T> (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: T }> {
  const res = await request(url, { headers })
  const text = await res.body.text()
  return { status: res.statusCode, body: (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text) as T }
}

// The whole API over each backend: the embedded SQLite file, and a PostgreSQL database.
for (const backend of BACKENDS) t.test(`query API over known traffic [${backend}]`, async (t) => {
  const db = backend === 'postgres' ? await freshDatabase(t) : undefined
  if (db === null) return pgUnavailable(t)
  const model = await startModelServer()
  const port = await refusedPort()
  const h = await startHarness({
    routes: [
      { name: 'model', upstream: model.url, hop: 'model' },
      { name: 'down', upstream: `http://127.0.0.1:${port}`, hop: 'model' }
    ],
    ...(db !== undefined ? { db } : {})
  })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const send = async (route: string, path: string, id: string, init: Parameters<typeof request>[1] = {}): Promise<void> => {
    const res = await request(`${h.url(route)}${path}`, { ...init, headers: { ...(init.headers as Record<string, string> ?? {}), 'x-request-id': id } })
    await res.body.text()
  }
  for (let i = 0; i < 6; i++) await send('model', '/v1/chat/completions', `ok-${i}`, { method: 'POST', body: CHAT, headers: JSON_HEADERS })
  await send('model', '/v1/models', 'models-1')
  await send('model', '/chat/completions', 'nov1-1', { method: 'POST', body: CHAT, headers: JSON_HEADERS })
  await send('model', '/v1/chat/completions', 'err-1', { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-sim-fault': 'status:500' } })
  await send('down', '/v1/chat/completions', 'down-1', { method: 'POST', body: CHAT, headers: JSON_HEADERS })
  await send('model', '/v1/chat/completions', 'slow-1', { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-sim-fault': 'delay-headers:150' } })
  const all = await h.exchanges()
  t.equal(all.length, 11)
  const api = `${h.adminUrl}/api`
  const ids = async (q: string): Promise<string[]> => {
    const r = await get<{ items: Exchange[] }>(`${api}/exchanges?${q}`)
    t.equal(r.status, 200, `GET /api/exchanges?${q}`)
    return r.body.items.map((e) => e.correlation_id).sort()
  }

  t.test('filters', async (t) => {
    t.same(await ids('route=down'), ['down-1'])
    t.same(await ids('method=GET'), ['models-1'])
    t.same(await ids('path=/v1/m'), ['models-1'], 'path is a prefix')
    t.same(await ids('status=404'), ['nov1-1'])
    t.same(await ids('status=5xx'), ['err-1'])
    t.same(await ids('flag=not_found&flag=connection_refused'), ['down-1', 'nov1-1'], 'flag: any of, repeatable')
    t.same(await ids('feature=models'), ['models-1'])
    t.same(await ids('correlation_id=ok-3'), ['ok-3'])
    t.equal((await ids('since=15m')).length, 11)
    t.same(await ids('until=2000-01-01T00:00:00Z'), [])
    t.same(await ids(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), [])
    t.ok((await ids('min_duration_ms=140')).includes('slow-1'))
    t.notOk((await ids('min_duration_ms=140')).includes('ok-0'))
  })

  t.test('bad parameters get 400 naming the parameter', async (t) => {
    for (const [q, param] of <Array<[string, string]>>[['limit=5000', 'limit'], ['limit=0', 'limit'], ['limit=1e309', 'limit'], ['min_duration_ms=1e400', 'min_duration_ms'], ['status=abc', 'status'], ['since=yesterday', 'since'], ['flag=NOT-A-FLAG', 'flag'], ['min_duration_ms=-1', 'min_duration_ms'], ['cursor=zzz', 'cursor'], ['bogus=1', 'bogus'], ['method=G E T', 'method']]) {
      const r = await get<{ message: string }>(`${api}/exchanges?${q}`)
      t.equal(r.status, 400, `${q}: 400`)
      t.match(r.body.message, new RegExp(param === 'cursor' ? 'cursor' : param === 'bogus' ? 'additional properties|bogus' : param), `${q}: names ${param}`)
    }
    t.equal((await get(`${api}/exchanges/not-an-id`)).status, 400)
    t.equal((await get(`${api}/exchanges/0123456789abcdef0123`)).status, 404)
  })

  t.test('keyset pagination is stable while new records arrive', async (t) => {
    const seen: string[] = []
    let cursor: string | null = null
    let round = 0
    do {
      const r: { status: number, body: { items: Exchange[], next_cursor: string | null } } = await get(`${api}/exchanges?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      seen.push(...r.body.items.map((e) => e.id))
      cursor = r.body.next_cursor
      // New traffic between pages must not shift or repeat what the next page returns.
      await send('model', '/v1/models', `during-${round++}`)
      await h.proxy.pipeline.drain()
    } while (cursor !== null && round < 20)
    t.equal(seen.length, 11, 'every record that existed at the start, once')
    t.equal(new Set(seen).size, 11, 'no duplicates')
    t.same(seen, all.map((e) => e.id), 'in the same newest-first order')
  })

  t.test('summary', async (t) => {
    const r = await get<Summary>(`${api}/summary?since=1h&route=model`)
    t.equal(r.status, 200)
    const s = r.body
    t.ok(s.total >= 9)
    t.equal(s.errors, 2, 'the 404 and the 500')
    t.equal(s.by_flag.not_found, 1)
    t.equal(s.by_flag.upstream_error, 1)
    t.equal(s.by_cause.model_endpoint_missing_v1, 1, 'counted by the diagnosis code')
    const chat = s.latency.find((l) => l.feature === 'chat_completions')!
    t.ok(chat.count >= 8)
    t.ok(chat.duration_ms.p50! <= chat.duration_ms.p95! && chat.duration_ms.p95! <= chat.duration_ms.p99!, 'percentiles ordered')
    t.ok(chat.duration_ms.p99! >= 150, 'the slow one sets p99')
    t.ok(chat.ttfb_ms.p50 !== null)
    const everything = (await get<Summary>(`${api}/summary`)).body
    t.equal(everything.by_route.down, 1)
    t.equal(everything.by_flag.connection_refused, 1)
  })

  t.test('export: HAR 1.2 valid against the schema, and NDJSON', async (t) => {
    const res = await request(`${api}/export?format=har&route=model`)
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-disposition'], /attachment; filename="duo-diag-.*\.har"/)
    const har = await res.body.json() as { log: { entries: Array<{ _duo_diag: { correlation_id: string }, response: { status: number } }> } }
    const validate = harValidator()
    t.ok(validate(har), `valid HAR: ${JSON.stringify(validate.errors?.slice(0, 3))}`)
    t.ok(har.log.entries.length >= 9)
    t.ok(har.log.entries.some((e) => e._duo_diag.correlation_id === 'nov1-1' && e.response.status === 404))
    const failed = await (await request(`${api}/export?format=har&route=down`)).body.json() as { log: { entries: unknown[] } }
    t.ok(validate(failed), 'an exchange with no response is still valid HAR (status 0)')
    const nd = await (await request(`${api}/export?format=ndjson`)).body.text()
    const lines = nd.trim().split('\n').map((l) => JSON.parse(l) as Exchange)
    t.ok(lines.length >= 11)
    t.ok(lines.every((l) => typeof l.id === 'string'))
    t.equal((await request(`${api}/export?format=xml`)).statusCode, 400)
  })

  t.test('OpenAPI document', async (t) => {
    const r = await get<{ openapi: string, paths: Record<string, Record<string, { parameters: Array<{ name: string }> }>> }>(`${api}/openapi.json`)
    t.equal(r.status, 200)
    t.equal(r.body.openapi, '3.1.0')
    for (const p of ['/api/exchanges', '/api/exchanges/{id}', '/api/traces/{correlation_id}', '/api/summary', '/api/stream', '/api/export', '/healthz', '/readyz', '/metrics']) t.ok(r.body.paths[p], `documents ${p}`)
    t.ok(r.body.paths['/api/exchanges']!.get!.parameters.some((p) => p.name === 'flag'))
    t.ok(r.body.paths['/api/exchanges']!.delete, 'documents the purge')
  })

  t.test('metrics after known traffic', async (t) => {
    const text = await (await request(`${h.adminUrl}/metrics`)).body.text()
    const value = (re: RegExp): number => Number(text.split('\n').find((l) => re.test(l))?.split(' ').pop())
    t.equal(value(/^duo_diag_exchanges_total\{route="down",feature="chat_completions",status_class="none",flag="connection_refused"\}/), 1)
    t.equal(value(/^duo_diag_exchanges_total\{route="model",feature="chat_completions",status_class="4xx",flag="not_found"\}/), 1)
    t.equal(value(/^duo_diag_upstream_errors_total\{route="model",flag="upstream_error"\}/), 1)
    t.ok(value(/^duo_diag_duration_seconds_count\{route="model",feature="chat_completions"\}/) >= 8)
    t.match(text, /^duo_diag_inflight\{route="model"\} 0$/m)
    t.match(text, /^duo_diag_capture_dropped_total 0$/m)
    t.ok(value(/^duo_diag_store_rows /) >= 11)
    t.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics')
    t.notMatch(text, /correlation_id|ok-1|\/v1\/chat/, 'no ids or paths as labels')
  })

  t.test('live tail: server-sent events, filtered', async (t) => {
    const controller = new AbortController()
    const res = await request(`${api}/stream?route=model&status=4xx`, { signal: controller.signal })
    t.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8')
    const events: Exchange[] = []
    const reading = (async () => {
      let buf = ''
      try {
        for await (const chunk of res.body) {
          buf += chunk.toString()
          let i
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i)
            buf = buf.slice(i + 2)
            const data = block.split('\n').find((l) => l.startsWith('data: '))
            if (data) events.push(JSON.parse(data.slice(6)) as Exchange)
            if (events.length >= 1) controller.abort()
          }
        }
      } catch {
        // aborted on purpose once the event arrived
      }
    })()
    await new Promise((resolve) => setTimeout(resolve, 50))
    await send('model', '/v1/models', 'tail-ok')
    await send('model', '/chat/completions', 'tail-404', { method: 'POST', body: CHAT, headers: JSON_HEADERS })
    await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 5000))])
    controller.abort()
    t.same(events.map((e) => e.correlation_id), ['tail-404'], 'only the matching exchange is pushed')
  })

  t.test('purge', async (t) => {
    const r1 = await request(`${api}/exchanges`, { method: 'DELETE' })
    t.equal(r1.statusCode, 400, 'no filter and no all=true: refused')
    await r1.body.text()
    const r2 = await request(`${api}/exchanges?route=down`, { method: 'DELETE' })
    t.same(await r2.body.json(), { removed: 1 })
    t.same(await ids('route=down'), [])
    t.same(await ids('flag=connection_refused'), [], 'flag rows went with it')
    const r3 = await request(`${api}/exchanges?all=true`, { method: 'DELETE' })
    t.ok(((await r3.body.json()) as { removed: number }).removed >= 10)
    t.same(await ids(''), [])
  })
})

t.test('admin API on a non-loopback address: token required, constant-time checked', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }], extra: { admin: { listen: '0.0.0.0:0', token: 's3cret-admin-token' } } })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const base = `http://127.0.0.1:${h.proxy.admin!.address.port}`
  t.equal((await get(`${base}/api/exchanges`)).status, 401, 'no token: 401')
  t.equal((await get(`${base}/api/exchanges`, { authorization: 'Bearer wrong' })).status, 401, 'wrong token: 401')
  t.equal((await get(`${base}/metrics`)).status, 401, 'metrics protected too')
  t.equal((await get(`${base}/api/exchanges`, { authorization: 'Bearer s3cret-admin-token' })).status, 200)
  t.equal((await get(`${base}/healthz`)).status, 200, 'liveness stays open')
  const res = await request(`${base}/api/exchanges`, { headers: { origin: 'http://evil.example', authorization: 'Bearer s3cret-admin-token' } })
  await res.body.text()
  t.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS')
  await h.close()
  const warnings = h.logs().filter((l) => l.message === 'admin API: request refused')
  t.ok(warnings.length >= 1 && warnings.length <= 2, 'wrong tokens are logged, rate-limited')
  t.notMatch(JSON.stringify(h.logs()), /s3cret-admin-token/, 'the token never reaches the log')
})
