/**
 * The admin API in the reader's language: records keep codes and parameters, every answer renders
 * them in English or Japanese (`?lang=`, then Accept-Language), says which, and groups by code.
 * A real proxy, a real model server answering the playbook's failures, real HTTP clients.
 */
import Database from 'better-sqlite3'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type { Diagnosis } from '../src/diagnosis/diagnosis.js'
import { t as translate } from '../src/i18n/translate.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { refusedPort } from './helpers/fault-servers.js'
import { harValidator } from './helpers/har.js'
import { startHarness } from './helpers/proxy-harness.js'

const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })
const JSON_HEADERS = { 'content-type': 'application/json' }
/** Hiragana, katakana or kanji: text that is Japanese, not English with a Japanese word in it. */
const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/

async function get<T> (url: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: T }> {
  const res = await request(url, { headers })
  const text = await res.body.text()
  const json = String(res.headers['content-type'] ?? '').startsWith('application/json')
  return { status: res.statusCode, headers: res.headers, body: (json ? JSON.parse(text) : text) as T }
}

t.test('diagnoses in English and Japanese from one store', async (t) => {
  const model = await startModelServer()
  const port = await refusedPort()
  const h = await startHarness({
    routes: [
      { name: 'model', upstream: model.url, hop: 'model' },
      { name: 'down', upstream: `http://127.0.0.1:${port}`, hop: 'model' }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  for (const [route, path, id] of [['model', '/v1/chat/completions', 'ok-1'], ['model', '/chat/completions', 'nov1-1'], ['down', '/v1/chat/completions', 'down-1']] as const) {
    const res = await request(`${h.url(route)}${path}`, { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-request-id': id } })
    await res.body.text()
  }
  const all = await h.exchanges()
  t.equal(all.length, 3)
  const api = `${h.adminUrl}/api`
  const byCid = (items: Exchange[], cid: string): Exchange => items.find((e) => e.correlation_id === cid)!

  const en = (await get<{ items: Exchange[] }>(`${api}/exchanges`)).body.items
  const ja = await get<{ items: Exchange[] }>(`${api}/exchanges`, { 'accept-language': 'ja-JP,ja;q=0.9,en;q=0.5' })
  t.equal(ja.headers['content-language'], 'ja', 'Content-Language says which')
  t.match(String(ja.headers.vary), /Accept-Language/i)
  for (const cid of ['nov1-1', 'down-1']) {
    const e = byCid(en, cid).diagnosis!
    const j = byCid(ja.body.items, cid).diagnosis!
    t.match(e.code, /^[a-z0-9_]+$/, `${cid}: a stable code (${e.code})`)
    t.equal(j.code, e.code, `${cid}: the same code in both languages`)
    t.same(j.params, e.params, `${cid}: the same parameters`)
    t.equal(e.lang, 'en')
    t.equal(j.lang, 'ja')
    t.equal(j.cause, translate('ja', `cause.${e.code}`, e.params), `${cid}: the cause from the ja catalog`)
    t.match(j.cause, JAPANESE, `${cid}: the cause is Japanese: ${j.cause}`)
    t.not(j.cause, e.cause)
    t.equal(j.evidence.length, e.evidence.length, `${cid}: as many evidence lines`)
    t.equal(j.next_steps.length, e.next_steps.length, `${cid}: as many next steps`)
    t.ok(j.next_steps.length > 0, `${cid}: next steps`)
    for (const [i, line] of j.next_steps.entries()) {
      t.equal(line.code, e.next_steps[i]!.code)
      if (line.code !== 'text') t.match(line.text, JAPANESE, `${cid}: next step ${i} is Japanese: ${line.text}`)
    }
  }
  t.equal(byCid(en, 'ok-1').diagnosis, null, 'no diagnosis where nothing failed, in either language')
  t.equal(byCid(ja.body.items, 'ok-1').diagnosis, null)

  const lacksV1 = byCid(en, 'nov1-1').diagnosis!
  await t.test('?lang= wins over Accept-Language; unknown languages get English', async (t) => {
    const one = `${api}/exchanges/${byCid(en, 'nov1-1').id}`
    t.equal((await get<Exchange>(`${one}?lang=en`, { 'accept-language': 'ja' })).body.diagnosis!.cause, lacksV1.cause)
    t.match((await get<Exchange>(`${one}?lang=ja`)).body.diagnosis!.cause, JAPANESE)
    t.match((await get<Exchange>(`${one}?lang=ja_JP.UTF-8`)).body.diagnosis!.cause, JAPANESE, 'a locale name works too')
    t.equal((await get<Exchange>(one, { 'accept-language': 'fr-FR, de;q=0.8' })).body.diagnosis!.cause, lacksV1.cause, 'French: English')
    t.equal((await get<Exchange>(one, { 'accept-language': 'ja;q=0.1, en;q=0.9' })).body.diagnosis!.cause, lacksV1.cause, 'q-values honoured')
    t.equal((await get<Exchange>(`${one}?lang=xx`)).body.diagnosis!.cause, lacksV1.cause, 'an unknown ?lang= falls back, never an error')
  })

  await t.test('summary, ?cause= and the query language group by code', async (t) => {
    const s = await get<{ by_cause: Record<string, number>, cause_titles: Record<string, string> }>(`${api}/summary?lang=ja`)
    t.equal(s.body.by_cause[lacksV1.code], 1, 'by_cause is keyed by code')
    t.match(s.body.cause_titles[lacksV1.code], JAPANESE, 'with a title in the answer\'s language')
    const filtered = await get<{ items: Exchange[] }>(`${api}/exchanges?cause=${lacksV1.code}`)
    t.same(filtered.body.items.map((e) => e.correlation_id), ['nov1-1'], '?cause=<code>')
    const q = await get<{ items: Exchange[] }>(`${api}/exchanges?q=${encodeURIComponent(`cause:${lacksV1.code}`)}`)
    t.same(q.body.items.map((e) => e.correlation_id), ['nov1-1'], 'q=cause:<code>')
    const bad = await get<{ error: string }>(`${api}/exchanges?cause=${encodeURIComponent('not a code')}`)
    t.equal(bad.status, 400, 'a cause that cannot be a code is a 400')
    const metrics = await get<string>(`${h.adminUrl}/metrics`)
    t.match(metrics.body, new RegExp(`^duo_diag_diagnoses_total\\{route="model",code="${lacksV1.code}"\\} 1$`, 'm'), 'metrics count by code')
  })

  await t.test('a trace and the live tail render in the reader\'s language', async (t) => {
    const trace = await get<{ roots: Array<{ exchange: Exchange }>, root_cause: { code: string, cause: string } }>(`${api}/traces/nov1-1?lang=ja`)
    t.match(trace.body.roots[0]!.exchange.diagnosis!.cause, JAPANESE)
    t.equal(trace.body.root_cause.code, lacksV1.code)
    t.match(trace.body.root_cause.cause, JAPANESE, 'the root cause too')
    const controller = new AbortController()
    const res = await request(`${api}/stream?lang=ja`, { signal: controller.signal })
    let text = ''
    const got = new Promise<string>((resolve) => {
      res.body.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8')
        if (/event: exchange\n[\s\S]*\n\n/.test(text)) resolve(text)
      })
    })
    const sent = await request(`${h.url('model')}/chat/completions`, { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-request-id': 'live-1' } })
    await sent.body.text()
    const timer = setTimeout(() => controller.abort(), 10_000)
    const event = await got
    clearTimeout(timer)
    controller.abort()
    const data = JSON.parse(/data: (.*)\n/.exec(event)![1]!) as Exchange
    t.equal(data.diagnosis!.lang, 'ja')
    t.match(data.diagnosis!.cause, JAPANESE)
  })

  await t.test('exports state their language', async (t) => {
    const har = await get<{ log: { comment: string, _duo_diag: { lang: string }, entries: Array<{ _duo_diag: { diagnosis: Diagnosis | null } }> } }>(`${api}/export?format=har&lang=ja`)
    t.ok(harValidator()(har.body), 'still valid HAR 1.2')
    t.equal(har.body.log._duo_diag.lang, 'ja')
    t.match(har.body.log.comment, /language: ja/)
    t.ok(har.body.log.entries.some((e) => e._duo_diag.diagnosis !== null && JAPANESE.test(e._duo_diag.diagnosis.cause)))
    const nd = await get<string>(`${api}/export?format=ndjson`, { 'accept-language': 'ja' })
    const lines = nd.body.trim().split('\n').map((l) => JSON.parse(l) as Exchange)
    for (const ex of lines) if (ex.diagnosis !== null) t.equal(ex.diagnosis.lang, 'ja', `${ex.correlation_id}: diagnosis.lang`)
  })

  await t.test('records written before diagnosis codes still read in the promised shape', async (t) => {
    const db = new Database(h.dbPath)
    t.teardown(() => db.close())
    const row = db.prepare('SELECT id, data FROM exchanges WHERE correlation_id = ?').get('down-1') as { id: string, data: string }
    const old = JSON.parse(row.data) as Record<string, unknown> & { diagnosis: Record<string, unknown> }
    old.diagnosis = { cause: 'Old text cause.', evidence: ['old evidence'], next_steps: ['old step'] }
    db.prepare('UPDATE exchanges SET data = ?, cause_code = NULL, cause = ? WHERE id = ?').run(JSON.stringify(old), 'Old text cause.', row.id)
    const ex = (await get<Exchange>(`${api}/exchanges/${row.id}?lang=ja`)).body
    t.equal(ex.diagnosis!.cause, 'Old text cause.', 'its text, as stored')
    t.same(ex.diagnosis!.evidence, [{ code: 'text', params: { text: 'old evidence' }, text: 'old evidence' }])
    t.same(ex.diagnosis!.next_steps.map((l) => l.text), ['old step'])
    t.equal(typeof ex.diagnosis!.code, 'string')
    const s = await get<{ by_cause: Record<string, number> }>(`${api}/summary`)
    t.equal(s.body.by_cause['Old text cause.'], 1, 'counted by its text')
  })
})
