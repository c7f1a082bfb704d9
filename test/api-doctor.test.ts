/**
 * POST /api/doctor (issue 18): the playbook's quick checks against the proxy's own upstreams,
 * streamed as NDJSON. Real proxy, real upstreams on 127.0.0.1: the gateway simulator, a model
 * server that holds /health until the test releases it, a refused port, and a sentinel server
 * no run may ever reach.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { refusedPort } from './helpers/fault-servers.js'
import { ndjsonLines, startGatedModelServer } from './helpers/doctor-upstreams.js'
import { startHarness, type Harness } from './helpers/proxy-harness.js'
import { sendJson, startSimServer } from '../src/sim/sim-server.js'
import { t as translate } from '../src/i18n/translate.js'

const JSON_TYPE = { 'content-type': 'application/json' }
type Line = Record<string, unknown>

/** Validators for the document's DoctorResult and DoctorDone: every line must be one of them. */
async function lineValidators (h: Harness, headers: Record<string, string> = {}): Promise<{ result: ValidateFunction, done: ValidateFunction }> {
  const doc = await (await request(`${h.adminUrl}/api/openapi.json`, { headers })).body.json() as { components: { schemas: Record<string, object> } }
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  const bare = (name: string): object => ({ ...doc.components.schemas[name], $id: undefined })
  return { result: ajv.compile(bare('DoctorResult')), done: ajv.compile(bare('DoctorDone')) }
}

async function post (h: Harness, body: string, headers: Record<string, string> = JSON_TYPE, query = ''): Promise<{ status: number, type: string, lang: string, lines: Line[] }> {
  const res = await request(`${h.adminUrl}/api/doctor${query}`, { method: 'POST', body, headers })
  const type = String(res.headers['content-type'] ?? '')
  const lang = String(res.headers['content-language'] ?? '')
  if (!type.startsWith('application/x-ndjson')) return { status: res.statusCode, type, lang, lines: [await res.body.json() as Line] }
  const lines: Line[] = []
  for await (const line of ndjsonLines(res.body)) lines.push(line)
  return { status: res.statusCode, type, lang, lines }
}

function checkLines (t: Test, lines: Line[], v: { result: ValidateFunction, done: ValidateFunction }): void {
  const last = lines.at(-1)
  t.ok(v.done(last), `the last line is a DoctorDone ${JSON.stringify(v.done.errors)}`)
  for (const l of lines.slice(0, -1)) t.ok(v.result(l), `${String(l.check)}: a DoctorResult ${JSON.stringify(v.result.errors)}`)
  const counts = { pass: 0, warn: 0, fail: 0, skip: 0 }
  for (const l of lines.slice(0, -1)) counts[l.status as keyof typeof counts]++
  t.same((last as { counts: unknown }).counts, counts, 'the counts are the lines\' statuses')
}

t.test('results stream as each check completes; one run at a time; the chat completion never runs', async (t) => {
  const gateway = await startAiGateway()
  const model = await startGatedModelServer(['gated-model'])
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: gateway.url }, { name: 'vllm', upstream: model.url, hop: 'model' }] })
  t.teardown(async () => {
    model.release()
    await h.close()
    await Promise.all([gateway.close(), model.close()])
  })
  const valid = await lineValidators(h)

  const res = await request(`${h.adminUrl}/api/doctor`, { method: 'POST', body: JSON.stringify({ model_name: 'gated-model' }), headers: JSON_TYPE })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/x-ndjson/)
  const reader = ndjsonLines(res.body)
  const lines: Line[] = []
  // Read until the model's TCP check: the next one is /health, which the model holds.
  for (let i = 0; i < 20 && lines.at(-1)?.check !== 'model.tcp'; i++) {
    const next = await reader.next()
    if (next.done === true) break
    lines.push(next.value)
  }
  await model.healthAsked
  t.same(lines.map((l) => l.check), ['gateway.dns', 'gateway.tcp', 'gateway.healthz', 'gateway.ready', 'model.url_v1', 'model.dns', 'model.tcp'],
    'these lines arrived while the model still held /health: the run had not ended')
  t.ok(lines.slice(0, 4).every((l) => l.route === 'gitlab-aigw' && l.hop === 'gateway' && l.status === 'pass'), 'the auto route is checked as the gateway, and passes')
  t.match(lines[4], { route: 'vllm', hop: 'model', status: 'skip', evidence: new RegExp(`not checked from the proxy: .* upstream is ${model.url}`) }, 'model.url_v1: skipped, saying why')

  const busy = await post(h, '{}')
  t.equal(busy.status, 409, 'a second run while one is under way: 409')
  t.same(busy.lines[0], { error: 'doctor_busy', message: 'the doctor checks are already running: wait for that run to finish' })

  model.release()
  for (let i = 0; i < 20; i++) {
    const next = await reader.next()
    if (next.done === true) break
    lines.push(next.value)
  }
  t.same(lines.slice(7).map((l) => l.check ?? 'done'), ['model.health', 'model.models', 'model.name', 'model.chat_completion', 'done'], 'the rest, then the done line, then the end')
  t.match(lines.find((l) => l.check === 'model.name'), { status: 'pass', evidence: '"gated-model" is served' })
  t.match(lines.find((l) => l.check === 'model.chat_completion'), { status: 'skip', evidence: /^not run from the proxy: it costs tokens/ })
  t.notOk(model.requests.some((r) => r.path.includes('chat/completions')), 'no chat completion was sent')
  t.match(lines.at(-1), { done: true, timed_out: false, counts: { pass: 9, warn: 0, fail: 0, skip: 2 } })
  checkLines(t, lines, valid)

  const again = await post(h, '{}')
  t.equal(again.status, 200, 'once it ended, another run starts')
  t.match(again.lines.at(-1), { done: true, timed_out: false })
  t.notOk(again.lines.some((l) => l.check === 'model.name'), 'without model_name, no model.name check')
})

t.test('bad requests get a stable code; no caller can name the host checked', async (t) => {
  const gateway = await startAiGateway()
  const sentinel = await startSimServer(({ res }) => sendJson(res, 200, { ok: true }))
  const h = await startHarness({ routes: [{ name: 'aigw', upstream: gateway.url, hop: 'gateway' }] })
  t.teardown(async () => {
    await h.close()
    await Promise.all([gateway.close(), sentinel.close()])
  })
  const valid = await lineValidators(h)
  const refused: Array<[string, string, Record<string, string>, string, number, string]> = [
    ['text/plain', '{}', { 'content-type': 'text/plain' }, '', 415, 'unsupported_media_type'],
    ['no content type', '{}', {}, '', 415, 'unsupported_media_type'],
    ['a form', 'model_name=x', { 'content-type': 'application/x-www-form-urlencoded' }, '', 415, 'unsupported_media_type'],
    ['broken JSON', '{"model_name":', JSON_TYPE, '', 400, 'FST_ERR_CTP_INVALID_JSON_BODY'],
    ['an empty body', '', JSON_TYPE, '', 400, 'FST_ERR_CTP_EMPTY_JSON_BODY'],
    ['an array', '[]', JSON_TYPE, '', 400, 'FST_ERR_VALIDATION'],
    ['an empty model name', '{"model_name":""}', JSON_TYPE, '', 400, 'FST_ERR_VALIDATION'],
    ['a long model name', JSON.stringify({ model_name: 'm'.repeat(257) }), JSON_TYPE, '', 400, 'FST_ERR_VALIDATION'],
    ['a control character', JSON.stringify({ model_name: 'a\nb' }), JSON_TYPE, '', 400, 'FST_ERR_VALIDATION'],
    ['a gateway URL', JSON.stringify({ gateway: sentinel.url }), JSON_TYPE, '', 400, 'FST_ERR_VALIDATION'],
    ['a model URL', JSON.stringify({ model: `${sentinel.url}/v1` }), JSON_TYPE, '', 400, 'FST_ERR_VALIDATION'],
    ['a target list', JSON.stringify({ targets: [{ route: 'aigw', upstream: sentinel.url }] }), JSON_TYPE, '', 400, 'FST_ERR_VALIDATION'],
    ['a URL in the query', '{}', JSON_TYPE, `?gateway=${encodeURIComponent(sentinel.url)}`, 400, 'FST_ERR_VALIDATION'],
    ['another origin', '{}', { ...JSON_TYPE, origin: 'http://evil.example' }, '', 403, 'cross_origin']
  ]
  for (const [name, body, headers, query, status, code] of refused) {
    const r = await post(h, body, headers, query)
    t.equal(r.status, status, `${name}: ${status}`)
    t.match(r.lines[0], { error: code, message: String }, `${name}: ${code}`)
  }
  const ok = await post(h, JSON.stringify({ model_name: 'anything' }))
  t.equal(ok.status, 200)
  checkLines(t, ok.lines, valid)
  t.same(ok.lines.filter((l) => l.hop === 'gateway').map((l) => [l.route, l.check, l.status]),
    [['aigw', 'gateway.dns', 'pass'], ['aigw', 'gateway.tcp', 'pass'], ['aigw', 'gateway.healthz', 'pass'], ['aigw', 'gateway.ready', 'pass']])
  t.same(ok.lines.filter((l) => l.hop === 'model'), [{ route: null, hop: 'model', check: 'model.route', status: 'skip', evidence: translate('en', 'doctor:evidence.noRoute.model'), name: 'model.route' }],
    'no model route: one skipped line, not an error')
  t.equal(sentinel.requests.length, 0, 'the sentinel was never contacted')
  t.ok(gateway.requests.some((r) => r.path === '/monitoring/healthz'), 'the configured upstream was')
})

t.test('in the reader\'s language: Accept-Language or ?lang=', async (t) => {
  const port = await refusedPort()
  const h = await startHarness({ routes: [{ name: 'model', upstream: `http://127.0.0.1:${port}` }] })
  t.teardown(() => h.close())
  const ja = (key: string, params: Record<string, string | number> = {}): string => translate('ja', `doctor:${key}`, params)
  for (const [how, headers, query] of [['Accept-Language', { ...JSON_TYPE, 'accept-language': 'ja-JP,ja;q=0.9,en;q=0.5' }, ''], ['?lang=ja', JSON_TYPE, '?lang=ja']] as const) {
    const r = await post(h, '{}', headers, query)
    t.equal(r.status, 200, how)
    t.equal(r.lang, 'ja', `${how}: content-language ja`)
    const byCheck = new Map(r.lines.map((l) => [l.check, l]))
    t.same(byCheck.get('gateway.route'), { route: null, hop: 'gateway', check: 'gateway.route', status: 'skip', evidence: ja('evidence.noRoute.gateway'), name: 'AIゲートウェイのルート' }, `${how}: no gateway route, in Japanese`)
    t.match(byCheck.get('model.tcp'), { status: 'fail', name: 'モデルへのTCP接続', evidence: ja('evidence.connectFailed', { host: '127.0.0.1', port, code: 'ECONNREFUSED' }), next_step: ja('step.refused', { host: '127.0.0.1', port }) }, `${how}: the refused port, in Japanese`)
    t.match(byCheck.get('model.url_v1'), { status: 'skip', evidence: ja('evidence.urlV1NotSeen', { upstream: `http://127.0.0.1:${port}` }) })
    t.match(r.lines.at(-1), { done: true, counts: { pass: 1, warn: 0, fail: 1, skip: 2 } }, `${how}: DNS passes, TCP fails, two skipped`)
  }
})

t.test('the admin token is required when one is set', async (t) => {
  const gateway = await startAiGateway()
  const h = await startHarness({ routes: [{ name: 'gateway', upstream: gateway.url }], extra: { admin: { token: 'doctor-admin-token' } } })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
  })
  const none = await post(h, '{}')
  t.equal(none.status, 401)
  t.match(none.lines[0], { error: 'unauthorized' })
  const wrong = await post(h, '{}', { ...JSON_TYPE, authorization: 'Bearer not-the-token' })
  t.equal(wrong.status, 401)
  t.notOk(gateway.requests.some((r) => r.path.startsWith('/monitoring/')), 'refused runs reached no upstream')
  const good = await post(h, '{}', { ...JSON_TYPE, authorization: 'Bearer doctor-admin-token' })
  t.equal(good.status, 200)
  t.match(good.lines.at(-1), { done: true, counts: { pass: 4, fail: 0 } })
})

t.test('a reader that leaves mid-run: the run still ends, and the next one starts', async (t) => {
  const model = await startGatedModelServer(['gated-model'])
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }] })
  t.teardown(async () => {
    model.release()
    await h.close()
    await model.close()
  })
  const controller = new AbortController()
  const res = await request(`${h.adminUrl}/api/doctor`, { method: 'POST', body: '{}', headers: JSON_TYPE, signal: controller.signal })
  const reader = ndjsonLines(res.body)
  for (let i = 0; i < 10; i++) {
    const next = await reader.next()
    if (next.done === true || next.value.check === 'model.tcp') break
  }
  await model.healthAsked
  controller.abort()
  await reader.next().catch(() => undefined)
  model.release()
  // The abandoned run finishes on its own (the model now answers); until then a run is busy.
  let again = await post(h, '{}')
  for (let i = 0; i < 100 && again.status === 409; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    again = await post(h, '{}')
  }
  t.equal(again.status, 200, 'a new run starts once the abandoned one ended')
  t.match(again.lines.at(-1), { done: true, timed_out: false, counts: { pass: 4, fail: 0 } })
  t.notOk(h.logs().some((l) => l.msg === 'admin API error' || l.msg === 'doctor checks failed'), 'nothing went wrong on the way')
})

t.test('a run that cannot go on says so in its last line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-doctor-'))
  const caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n')
  const port = await refusedPort()
  const h = await startHarness({ routes: [{ name: 'model', upstream: `http://127.0.0.1:${port}`, tls: { ca_file: caFile } }] })
  t.teardown(async () => {
    await h.close()
    rmSync(dir, { recursive: true, force: true })
  })
  // The route's CA bundle was there at start and is gone now: the checks cannot build their trust store.
  rmSync(caFile)
  const r = await post(h, '{}')
  t.equal(r.status, 200, 'the answer had started')
  t.match(r.lines.at(-1), { done: true, timed_out: false, error: 'doctor_failed', message: /ENOENT/ })
  checkLines(t, r.lines, await lineValidators(h))
  const again = await post(h, '{}')
  t.match(again.lines.at(-1), { done: true, error: 'doctor_failed' }, 'and the next run is not refused as busy')
})
