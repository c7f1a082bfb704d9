/**
 * A replay sent to a target with no proxy in front of it is recorded anyway: the replay command
 * reports what it saw to the admin API of the originals' store (POST /api/exchanges/{id}/replays),
 * and capture redacts, diagnoses and writes it like live traffic, linked to its original. Real
 * proxy, real simulators, the real CLI; the report route is also driven with hostile reports.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { fingerprint } from '../src/capture/redact.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { runCommand, type Run } from './helpers/command.js'
import { startHarness } from './helpers/proxy-harness.js'

const replay = (args: string[]): Promise<Run> => runCommand('replay', args)

/** A GitLab personal access token as a staging credential: it must reach the target and nothing else. */
const STAGING_TOKEN = 'glpat-StagingOnly0123456789abcd'

interface ReplayJson {
  replays: Array<{
    original: { id: string, status: number | null, flags: string[], cause: string | null }
    replay: { status: number | null, flags: string[], cause: string | null, source: string, recorded_id: string | null, recorded_by: string | null }
    notes: string[]
  }>
}

async function getJson<T> (url: string): Promise<{ status: number, body: T }> {
  const res = await request(url)
  return { status: res.statusCode, body: await res.body.json() as T }
}

async function postJson (url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } })
  return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> }
}

/** `duo_diag_exchanges_total` for a route and flag (the metrics count traffic through the routes). */
async function counted (adminUrl: string, route: string, flag: string): Promise<number> {
  const text = await (await request(`${adminUrl}/metrics`)).body.text()
  return text.split('\n')
    .filter((l) => l.startsWith('duo_diag_exchanges_total{') && l.includes(`route="${route}"`) && l.includes(`flag="${flag}"`))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

t.test('replay straight to a model server: recorded in the originals\' store, diagnosed, credentials redacted', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model' }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })

  // The customer's failure: a model endpoint without /v1 (vLLM answers 404).
  const chat = { model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 16 }
  const sent = await postJson(`${h.url('model')}/chat/completions`, chat, { 'x-request-id': 'nov1-1', authorization: 'Bearer customer-key-0123456789' })
  t.equal(sent.status, 404)
  const [original] = await h.exchanges('correlation_id=nov1-1') as [Exchange]
  t.match(original.diagnosis?.cause, /lacks the \/v1 suffix/, 'the original is diagnosed')
  const countedBefore = await counted(h.adminUrl, 'model', 'not_found')

  // Replayed at the model server itself: no proxy sees it.
  model.requests.length = 0
  const run = await replay([original.id, '--admin', h.adminUrl, '--target', model.url, '--header', `Authorization: Bearer ${STAGING_TOKEN}`, '--json'])
  t.equal(run.code, 0, run.stderr)
  t.equal(model.requests.length, 1)
  t.equal(model.requests[0]!.headers.authorization, `Bearer ${STAGING_TOKEN}`, 'the target got the staging credential')

  const r = (JSON.parse(run.stdout) as ReplayJson).replays[0]!
  t.equal(r.replay.status, 404)
  t.equal(r.replay.source, 'record', 'flags and cause from a record')
  t.equal(r.replay.recorded_by, 'report', 'recorded from the command\'s report, not by a proxy')
  t.same(r.replay.flags, r.original.flags)
  t.equal(r.replay.cause, r.original.cause, 'the same diagnosis as the original')
  t.ok(r.replay.recorded_id)

  // Through the API, like any exchange: linked to its original, diagnosed, on its route and hop.
  const got = await getJson<Exchange>(`${h.adminUrl}/api/exchanges/${r.replay.recorded_id}`)
  t.equal(got.status, 200)
  const ex = got.body
  t.equal(ex.meta.replay_of, original.id, 'meta.replay_of: the original')
  t.equal(ex.meta.reported_by, 'replay')
  t.equal(ex.route, original.route)
  t.equal(ex.hop, 'model')
  t.equal(ex.meta.feature, 'chat_completions')
  t.equal(ex.correlation_id, 'replay-nov1-1-1', 'its X-Request-ID')
  t.equal(ex.status, 404)
  t.ok(ex.flags.includes('not_found'))
  t.match(ex.diagnosis?.cause, /lacks the \/v1 suffix/)
  t.equal(ex.upstream, `${model.url}/chat/completions`, 'where it went')
  t.equal(ex.request.headers.authorization, `Bearer [FILTERED sha256:${fingerprint(STAGING_TOKEN)}]`, 'the credential as a fingerprint, the one a proxy would record')
  t.equal(ex.meta.max_tokens, 16, 'the request\'s metadata read from what was sent')
  const listed = await h.exchanges('correlation_id=replay-nov1-1-1')
  t.same(listed.map((e) => e.id), [ex.id], 'listed like any exchange')
  t.equal(await counted(h.adminUrl, 'model', 'not_found'), countedBefore, 'not counted in the metrics: no route carried it')

  // The staging token is nowhere the proxy keeps anything.
  await h.close()
  t.notMatch(JSON.stringify(ex), STAGING_TOKEN, 'not in the record')
  t.notMatch(readFileSync(h.logFile, 'utf8'), STAGING_TOKEN, 'not in the log')
  t.notOk(readFileSync(h.dbPath).includes(STAGING_TOKEN), 'not in the store file')
})

t.test('the report route: hostile reports are bounded and redacted, unknown originals refused', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model' }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  await postJson(`${h.url('model')}/v1/chat/completions`, { model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] }, { 'x-request-id': 'orig-1' })
  const [original] = await h.exchanges('correlation_id=orig-1') as [Exchange]
  const url = (id: string): string => `${h.adminUrl}/api/exchanges/${id}/replays`
  const secret = 'glpat-RawSecretFromAClient0123'
  const apiKey = 'sk-proj-RawKeyFromAClient0123456789'
  const report = {
    sent_at: new Date().toISOString(),
    target: 'http://user:pass@staging-model:8000/base/?q=1',
    request: {
      method: 'POST',
      path: `/v1/chat/completions?api_key=${apiKey}`,
      headers: { authorization: `Bearer ${secret}`, 'x-api-key': apiKey, 'content-type': 'application/json', 'x-request-id': 'replay-orig-1-1', 'x-duo-diag-replay-of': '0123456789abcdef01234567' },
      bytes: 80,
      body: JSON.stringify({ model: DEFAULT_MODEL, api_key: apiKey, messages: [{ role: 'user', content: `token ${secret}` }] })
    },
    response: { status: 401, headers: { 'content-type': 'application/json', 'set-cookie': `session=${secret}` }, bytes: 60, head: JSON.stringify({ error: `bad key ${apiKey} for ${secret}` }), tail: '' },
    timings: { ttfb_ms: 3.5, duration_ms: 4.25 },
    error: null
  }
  report.request.bytes = Buffer.byteLength(report.request.body)
  report.response.bytes = Buffer.byteLength(report.response.head)

  const created = await postJson(url(original.id), report)
  t.equal(created.status, 201, JSON.stringify(created.body))
  const ex = created.body as unknown as Exchange
  const text = JSON.stringify(ex)
  t.notMatch(text, secret, 'no raw credential anywhere in the record')
  t.notMatch(text, apiKey)
  t.equal(ex.meta.replay_of, original.id, 'linked to the original named in the path, whatever the report\'s header said')
  t.equal(ex.upstream, 'http://staging-model:8000/base/v1/chat/completions', 'no credentials or query of the target URL')
  t.equal(ex.query, 'api_key=[FILTERED]')
  t.ok(ex.flags.includes('unauthorized'), 'diagnosed')
  t.equal(ex.timings.duration_ms, 4.25)
  t.equal((await h.exchanges(`correlation_id=replay-orig-1-1`)).length, 1, 'written')

  const unknown = await postJson(url('0123456789abcdef01234567'), report)
  t.equal(unknown.status, 404)
  t.match(unknown.body, { error: 'not_found', message: /no exchange 0123456789abcdef01234567 in this store/ })
  t.equal((await postJson(url('not-an-id'), report)).status, 400, 'not an exchange id')
  t.equal((await postJson(url(original.id), { ...report, timings: { ttfb_ms: 'soon', duration_ms: 1 } })).status, 400, 'a wrong type')
  t.equal((await postJson(url(original.id), { ...report, extra: 1 })).status, 400, 'an unknown field')
  t.equal((await postJson(url(original.id), { ...report, request: { ...report.request, body: 'x'.repeat(300 * 1024) } })).status, 400, 'over the body bound')
  const old = await postJson(url(original.id), { ...report, sent_at: '2020-01-01T00:00:00Z' })
  t.match(old, { status: 400, body: { error: 'DDP_BAD_REPORT', message: /sent_at/ } })
  const res = await request(url(original.id), { method: 'POST', body: JSON.stringify(report), headers: { 'content-type': 'text/plain' } })
  await res.body.text()
  t.equal(res.statusCode, 415, 'JSON only: no page can post it unasked')
})
