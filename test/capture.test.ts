/**
 * Both hops through the real proxy: GitLab → proxy → simulated AI gateway → proxy → simulated
 * model server, with real clients. Asserts the records' fields, metadata from bodies and
 * streams, and that planted secrets never reach the store, the API or the logs.
 */
import { readFileSync } from 'node:fs'
import OpenAI from 'openai'
import t, { type Test } from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_COMPLETION, DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { gatewayClaims, gitlabHeaders, INSTANCE_ID, makeJwtKeys, signJwt } from './helpers/jwt.js'
import { startHarness } from './helpers/proxy-harness.js'

const keys = makeJwtKeys()

async function twoHops (t: Test, opts: { captureBodies?: boolean } = {}) {
  const model = await startModelServer({ apiKey: 'sk-modelkey0123456789abcdefXYZ' })
  // The gateway reaches the model through the proxy's model route, as an admin would set it up.
  const gateway = await startAiGateway({ jwtPublicKey: keys.publicKey })
  const h = await startHarness({
    routes: [
      { name: 'gitlab-aigw', upstream: gateway.url },
      { name: 'model', upstream: model.url, hop: 'model' }
    ],
    captureBodies: opts.captureBodies ?? false
  })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
    await model.close()
  })
  return { model, gateway, h, modelEndpoint: `${h.url('model')}/v1` }
}


t.test('OpenAI hop: the openai SDK, streaming and not, and the records it leaves', async (t) => {
  const { h, modelEndpoint } = await twoHops(t)
  const client = new OpenAI({ baseURL: modelEndpoint, apiKey: 'sk-modelkey0123456789abcdefXYZ', maxRetries: 0 })

  const completion = await client.chat.completions.create({
    model: DEFAULT_MODEL,
    messages: [{ role: 'user', content: 'write a function' }],
    max_tokens: 64,
    temperature: 0.2
  })
  t.equal(completion.choices[0]?.message.content, DEFAULT_COMPLETION.join(''), 'non-streaming answer intact')

  const stream = await client.chat.completions.create({
    model: DEFAULT_MODEL,
    messages: [{ role: 'user', content: 'stream it' }],
    stream: true,
    stream_options: { include_usage: true }
  })
  let text = ''
  let usage: unknown = null
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? ''
    if (chunk.usage) usage = chunk.usage
  }
  t.equal(text, DEFAULT_COMPLETION.join(''), 'streamed answer intact')
  t.ok(usage, 'usage chunk delivered')

  const records = await h.exchanges('route=model')
  t.equal(records.length, 2)
  const [streamed, plain] = records as [Exchange, Exchange]
  t.equal(plain.hop, 'model')
  t.equal(plain.meta.feature, 'chat_completions')
  t.equal(plain.meta.model, DEFAULT_MODEL)
  t.equal(plain.meta.max_tokens, 64)
  t.equal(plain.meta.temperature, 0.2)
  t.equal(plain.meta.finish_reason, 'stop')
  t.match(plain.meta.usage, { prompt_tokens: Number, completion_tokens: DEFAULT_COMPLETION.length })
  t.equal(plain.status, 200)
  t.same(plain.flags, [])
  t.equal(plain.path, '/v1/chat/completions')
  t.equal(plain.method, 'POST')
  t.match(plain.started_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  t.type(plain.timings.ttfb_ms, 'number')
  t.ok(plain.timings.duration_ms >= (plain.timings.ttfb_ms ?? 0))
  t.ok(plain.request.bytes > 0)
  t.ok(plain.response!.bytes > 0)
  t.equal(plain.response!.content_type, 'application/json')
  t.equal(plain.client_ip, '127.0.0.1')
  t.match(plain.upstream, /^http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions$/)
  t.equal(plain.error, null)

  t.equal(streamed.meta.stream, true)
  t.equal(streamed.meta.stream_complete, true, '[DONE] seen')
  t.equal(streamed.meta.finish_reason, 'stop', 'finish reason read from the SSE stream')
  t.match(streamed.meta.usage, { completion_tokens: DEFAULT_COMPLETION.length }, 'usage read from the last SSE chunk')
  t.same(streamed.flags, [])
})

t.test('gateway hop: code completions through both hops, with GitLab headers and model metadata', async (t) => {
  const { h, modelEndpoint } = await twoHops(t)
  const claims = gatewayClaims()
  const token = signJwt(claims, keys.privateKey)
  const headers = gitlabHeaders(token, claims, { 'x-request-id': 'corr-0001' })
  const res = await request(`${h.url('gitlab-aigw')}/v2/code/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      current_file: { file_name: 'app/models/user.rb', language_identifier: 'ruby', content_above_cursor: 'def hello', content_below_cursor: 'end' },
      model_provider: 'litellm',
      model_endpoint: modelEndpoint,
      // model_name is the family GitLab knows (litellm's list, else 422); the served name the
      // model sees comes from the identifier (custom_openai/<served name>).
      model_name: 'mistral',
      model_identifier: `custom_openai/${DEFAULT_MODEL}`,
      model_api_key: 'sk-modelkey0123456789abcdefXYZ',
      stream: false
    })
  })
  const body = (await res.body.json()) as { choices: Array<{ text: string }> }
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-request-id'], 'corr-0001')
  t.ok(body.choices[0]?.text, 'completion came back from the model through both hops')

  const gw = (await h.exchanges('route=gitlab-aigw'))[0]!
  t.equal(gw.correlation_id, 'corr-0001')
  t.equal(gw.hop, 'gateway')
  t.equal(gw.meta.feature, 'code_completions')
  t.equal(gw.meta.file_name, 'app/models/user.rb')
  t.equal(gw.meta.language, 'ruby')
  t.equal(gw.meta.model_provider, 'litellm')
  t.equal(gw.meta.model_name, 'mistral')
  t.equal(gw.meta.model_identifier, `custom_openai/${DEFAULT_MODEL}`)
  t.equal(gw.meta.model_endpoint, modelEndpoint)
  t.equal(gw.meta.stream, false)
  t.match(gw.meta.gitlab, { instance_id: INSTANCE_ID, realm: 'self-managed', version: '18.2.0', host_name: 'gitlab.example.com', global_user_id: claims.gitlab_global_user_id, rails_send_start_ms: Number })
  const modelCall = (await h.exchanges('route=model'))[0]!
  t.equal(modelCall.meta.model, DEFAULT_MODEL, 'the gateway\'s model call was captured on the model hop')
  t.equal(modelCall.correlation_source, 'minted', 'the gateway sends no correlation id to the model')
})

t.test('the gateway\'s NDJSON chat stream: usage read from its usage line', async (t) => {
  const { h, modelEndpoint } = await twoHops(t)
  const token = signJwt(gatewayClaims(), keys.privateKey)
  const res = await request(`${h.url('gitlab-aigw')}/v2/chat/agent`, {
    method: 'POST',
    headers: { ...gitlabHeaders(token), 'x-request-id': 'chat-ndjson-1' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }], model_metadata: { provider: 'openai', name: 'mistral', identifier: `custom_openai/${DEFAULT_MODEL}`, endpoint: modelEndpoint, api_key: 'sk-modelkey0123456789abcdefXYZ' } })
  })
  t.equal(res.statusCode, 200)
  t.match(await res.body.text(), /"type":\s*"usage"/)
  const ex = (await h.exchanges('correlation_id=chat-ndjson-1'))[0]!
  t.equal(ex.meta.feature, 'chat')
  t.equal(ex.meta.stream_complete, true)
  t.match(ex.meta.usage, { input_tokens: Number, output_tokens: Number }, 'token counts from the NDJSON usage line')
  t.same(ex.flags, [])
  const modelCalls = await h.exchanges('route=model')
  t.same(modelCalls.map((m) => m.meta.model), [DEFAULT_MODEL], 'the chat ran on the self-hosted model, under its served name')
})

t.test('error responses keep their (redacted) body; statuses are flagged', async (t) => {
  const { h } = await twoHops(t)
  const noAuth = await request(`${h.url('gitlab-aigw')}/v2/code/completions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  await noAuth.body.text()
  t.equal(noAuth.statusCode, 401)
  const badToken = await request(`${h.url('gitlab-aigw')}/v2/chat/agent`, {
    method: 'POST',
    headers: gitlabHeaders(signJwt(gatewayClaims({ aud: 'someone-else' }), keys.privateKey)),
    body: '{}'
  })
  await badToken.body.text()
  const missingV1 = await request(`${h.url('model')}/chat/completions`, { method: 'POST', body: '{"model":"x"}', headers: { 'content-type': 'application/json' } })
  await missingV1.body.text()
  t.equal(missingV1.statusCode, 404)

  const records = await h.exchanges()
  const by = (path: string): Exchange => records.find((r) => r.path === path)!
  t.same(by('/v2/code/completions').flags, ['unauthorized'])
  t.same(by('/v2/code/completions').response?.body, { error: 'No authorization header presented' })
  t.same(by('/v2/chat/agent').response?.body, { error: 'Forbidden by auth provider' })
  t.same(by('/chat/completions').flags, ['not_found'])
  t.same(by('/chat/completions').response?.body, { detail: 'Not Found' })
  const unauthorized = await h.exchanges('flag=unauthorized')
  t.equal(unauthorized.length, 2, 'filter by flag')
})

// Secrets as GitLab, the gateway and IDE traffic carry them.
const JWT = signJwt(gatewayClaims(), keys.privateKey)
const PAT = 'glpat-AbCdEfGhIjKlMnOpQrSt'
const SK = 'sk-proj-Zy9Xw8Vu7Ts6Rq5Po4Nm3'
const MODEL_KEY = 'sk-modelkey0123456789abcdefXYZ'
const CODE = 'SECRET_SOURCE_CODE_ABOVE'
const CODE_BELOW = 'SECRET_SOURCE_CODE_BELOW'
const PROMPT = 'SECRET_CHAT_PROMPT_TEXT'
const COOKIE = 'sessioncookievalue123456'
const QUERY_TOKEN = 'querytokenvalue987654321'
const PLANTED = [JWT, JWT.split('.')[2]!, PAT, SK, MODEL_KEY, CODE, CODE_BELOW, PROMPT, COOKIE, QUERY_TOKEN]

async function plantSecrets (h: Awaited<ReturnType<typeof startHarness>>, modelEndpoint: string): Promise<void> {
  const headers = { ...gitlabHeaders(JWT), cookie: `_gitlab_session=${COOKIE}; other=1`, 'private-token': PAT }
  const r1 = await request(`${h.url('gitlab-aigw')}/v2/code/completions?private_token=${QUERY_TOKEN}&page=2`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      current_file: { file_name: 'a.py', language_identifier: 'python', content_above_cursor: CODE, content_below_cursor: CODE_BELOW },
      model_provider: 'litellm', model_endpoint: modelEndpoint, model_name: 'mistral', model_identifier: `custom_openai/${DEFAULT_MODEL}`, model_api_key: MODEL_KEY,
      context: [{ type: 'file', name: 'b.py', content: `token = "${PAT}"` }]
    })
  })
  await r1.body.text()
  const client = new OpenAI({ baseURL: modelEndpoint, apiKey: MODEL_KEY, maxRetries: 0 })
  await client.chat.completions.create({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: `${PROMPT} my key is ${SK}` }] })
  // An error body echoing a secret back.
  const r2 = await request(`${h.url('model')}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SK}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: PROMPT }] })
  })
  await r2.body.text()
}

function assertNoSecret (t: Test, where: string, text: string, allowed: string[] = []): void {
  for (const secret of PLANTED) {
    if (allowed.includes(secret)) continue
    t.notOk(text.includes(secret), `${where} does not contain ${secret.slice(0, 12)}…`)
  }
}

t.test('redaction: planted secrets reach neither the store, nor the API, nor the logs', async (t) => {
  const { h, modelEndpoint } = await twoHops(t)
  await plantSecrets(h, modelEndpoint)
  const records = await h.exchanges()
  t.ok(records.length >= 4, 'traffic captured')
  const api = JSON.stringify(records)
  assertNoSecret(t, 'the API', api)
  for (const r of records) {
    const one = await request(`${h.adminUrl}/api/exchanges/${r.id}`)
    assertNoSecret(t, `GET /api/exchanges/${r.id}`, await one.body.text())
  }
  const gw = records.find((r) => r.route === 'gitlab-aigw')!
  t.match(gw.request.headers.authorization, /^Bearer \[FILTERED sha256:[0-9a-f]{8}\]$/, 'Authorization keeps scheme and fingerprint')
  t.match(gw.request.headers.cookie, /^_gitlab_session=\[FILTERED sha256:[0-9a-f]{8}\]; other=\[FILTERED sha256:[0-9a-f]{8}\]$/)
  t.match(gw.request.headers['private-token'], /^\[FILTERED sha256:[0-9a-f]{8}\]$/)
  t.equal(gw.query, 'private_token=[FILTERED]&page=2')
  t.equal(gw.meta.file_name, 'a.py', 'structure and metadata stay visible')

  await h.close()
  const db = readFileSync(h.dbPath).toString('latin1') + safeRead(`${h.dbPath}-wal`)
  t.ok(db.includes('a.py'), 'the store file holds the records being checked')
  assertNoSecret(t, 'the SQLite file', db)
  const logs = readFileSync(h.logFile, 'utf8')
  t.match(logs, /"message":"exchange"/, 'exchanges were logged')
  assertNoSecret(t, 'the log', logs)
})

t.test('verbose capture keeps prompts and code, and still no credentials', async (t) => {
  const { h, modelEndpoint } = await twoHops(t, { captureBodies: true })
  await plantSecrets(h, modelEndpoint)
  const records = await h.exchanges()
  const api = JSON.stringify(records)
  t.ok(api.includes(CODE) && api.includes(PROMPT), 'prompt and code text kept in verbose mode')
  assertNoSecret(t, 'the API (verbose)', api, [CODE, CODE_BELOW, PROMPT])
  const gw = records.find((r) => r.route === 'gitlab-aigw')!
  const body = gw.request.body as { model_api_key: string, current_file: { content_above_cursor: string } }
  t.equal(body.model_api_key, '[FILTERED]')
  t.equal(body.current_file.content_above_cursor, CODE)
  await h.close()
  assertNoSecret(t, 'the SQLite file (verbose)', readFileSync(h.dbPath).toString('latin1') + safeRead(`${h.dbPath}-wal`), [CODE, CODE_BELOW, PROMPT])
  const logs = readFileSync(h.logFile, 'utf8')
  t.match(logs, /verbose/, 'the start-up log says verbose capture is on')
  assertNoSecret(t, 'the log (verbose)', logs, [])
})

function safeRead (path: string): string {
  try {
    return readFileSync(path).toString('latin1')
  } catch {
    return ''
  }
}
