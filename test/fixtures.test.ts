/**
 * Exercises the simulators and helpers directly (no proxy involved), so proxy tests can
 * rely on them behaving like the real services.
 */
import t from 'tap'
import OpenAI from 'openai'
import { Agent, request } from 'undici'
import WebSocket from 'ws'
import { startAiGateway, CANNED_COMPLETION } from './fixtures/ai-gateway.js'
import { DEFAULT_COMPLETION, DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { parseNdjson, parseSse } from './fixtures/wire.js'
import { call } from './helpers/call.js'
import { caSignedCert, expiredCert, selfSignedCert, wrongHostCert } from './helpers/certs.js'
import {
  refusedPort, startHangingServer, startPlainHttpServer, startResetServer, startTlsServer, startWsEchoServer,
} from './helpers/fault-servers.js'
import { gatewayClaims, gitlabHeaders, makeJwtKeys, signJwt, type GatewayClaims } from './helpers/jwt.js'

/** The code of the error a promise rejects with (undici and TLS errors carry one). */
async function errorCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
    return undefined
  } catch (err) {
    const e = err as { code?: string; cause?: { code?: string } }
    return e.code ?? e.cause?.code
  }
}

const chatBody = { model: DEFAULT_MODEL, messages: [{ role: 'user' as const, content: 'say something' }] }

t.test('model server through the openai SDK', async (t) => {
  const ms = await startModelServer({ apiKey: 'sk-test' })
  t.teardown(ms.close)
  const client = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: 'sk-test', maxRetries: 0 })

  const reply = await client.chat.completions.create(chatBody)
  t.equal(reply.object, 'chat.completion')
  t.match(reply.id, /^chatcmpl-/)
  t.equal(reply.choices[0]?.message.content, DEFAULT_COMPLETION.join(''))
  t.equal(reply.choices[0]?.finish_reason, 'stop')
  t.equal(reply.usage?.completion_tokens, DEFAULT_COMPLETION.length)

  const stream = await client.chat.completions.create({ ...chatBody, stream: true, stream_options: { include_usage: true } })
  const pieces: string[] = []
  const finishes: Array<string | null> = []
  let usage: OpenAI.CompletionUsage | undefined
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage
    for (const choice of chunk.choices) {
      pieces.push(choice.delta.content ?? '')
      finishes.push(choice.finish_reason)
    }
  }
  // vLLM's first chunk carries the role and an empty content (serving_chat.py).
  t.same(pieces, ['', ...DEFAULT_COMPLETION])
  t.equal(finishes.at(-1), 'stop')
  t.equal(usage?.total_tokens, (usage?.prompt_tokens ?? 0) + DEFAULT_COMPLETION.length)

  const short = await client.chat.completions.create({ ...chatBody, max_tokens: 2 })
  t.equal(short.choices[0]?.message.content, DEFAULT_COMPLETION.slice(0, 2).join(''))
  t.equal(short.choices[0]?.finish_reason, 'length')

  const legacy = await client.completions.create({ model: DEFAULT_MODEL, prompt: 'def add(a, b):' })
  t.equal(legacy.choices[0]?.text, DEFAULT_COMPLETION.join(''))

  const models = await client.models.list()
  t.same(models.data.map((m) => m.id), [DEFAULT_MODEL])

  const wrongKey = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 })
  const err = await wrongKey.chat.completions.create(chatBody).catch((e: unknown) => e)
  t.ok(err instanceof OpenAI.AuthenticationError)
  // vLLM's AuthenticationMiddleware: 401 {"error":"Unauthorized"}, no OpenAI error code.
  t.equal((err as InstanceType<typeof OpenAI.AuthenticationError>).status, 401)
  t.match((err as Error).message, /Unauthorized/)
  t.equal(ms.requests.at(-1)?.headers.authorization, 'Bearer sk-wrong', 'requests are recorded with headers')
})

t.test('model server HTTP details and errors', async (t) => {
  const ms = await startModelServer({ models: ['codestral'], completion: ['a', 'b'] })
  t.teardown(ms.close)

  const health = await call(`${ms.url}/health`)
  t.equal(health.status, 200)
  t.equal(health.text, '')

  const noV1 = await call(`${ms.url}/chat/completions`, { body: chatBody })
  t.equal(noV1.status, 404)
  t.same(noV1.json(), { detail: 'Not Found' })

  const unknown = await call(`${ms.url}/v1/chat/completions`, { body: chatBody })
  t.equal(unknown.status, 404)
  t.same(unknown.json(), {
    object: 'error', message: `The model \`${DEFAULT_MODEL}\` does not exist.`, type: 'NotFoundError', param: null, code: 404,
  })

  const invalid = await call(`${ms.url}/v1/chat/completions`, { body: '{not json' })
  t.equal(invalid.status, 400)
  t.match(invalid.json(), { object: 'error', type: 'BadRequestError', code: 400 })

  const sse = await call(`${ms.url}/v1/chat/completions?x=1`, { body: { model: 'codestral', messages: [], stream: true } })
  t.equal(sse.headers['content-type'], 'text/event-stream; charset=utf-8', 'Starlette appends the charset')
  const events = parseSse(sse.text)
  t.equal(events.length, 4, 'the role chunk, two chunks and [DONE]')
  t.equal(events.at(-1)?.data, '[DONE]')
  t.equal(ms.requests.at(-1)?.path, '/v1/chat/completions?x=1')
  t.same(JSON.parse(ms.requests.at(-1)?.body.toString() ?? '{}'), { model: 'codestral', messages: [], stream: true })
})

t.test('model server x-sim-fault', async (t) => {
  const ms = await startModelServer()
  t.teardown(ms.close)
  const url = `${ms.url}/v1/chat/completions`
  const streamBody = { ...chatBody, stream: true }
  const fault = (value: string): Record<string, string> => ({ 'x-sim-fault': value })

  t.equal(await errorCode(call(url, { body: chatBody, headers: fault('hang'), headersTimeout: 200 })), 'UND_ERR_HEADERS_TIMEOUT')

  const stalled = await request(url, { method: 'POST', body: JSON.stringify(streamBody), headers: fault('stall-after-headers'), bodyTimeout: 200 })
  t.equal(stalled.statusCode, 200)
  t.equal(stalled.headers['content-type'], 'text/event-stream')
  t.equal(await errorCode(stalled.body.text()), 'UND_ERR_BODY_TIMEOUT')

  t.equal(await errorCode(call(url, { body: chatBody, headers: fault('reset-before-headers') })), 'UND_ERR_SOCKET')

  const reset = await request(url, { method: 'POST', body: JSON.stringify(streamBody), headers: fault('reset-mid-stream') })
  t.equal(reset.statusCode, 200)
  let received = ''
  const resetCode = await errorCode((async () => {
    for await (const chunk of reset.body) received += (chunk as Buffer).toString()
  })())
  t.equal(resetCode, 'UND_ERR_SOCKET')
  t.equal(parseSse(received).length, 2, 'two chunks before the reset')

  const truncated = await call(url, { body: streamBody, headers: fault('truncate') })
  const chunks = parseSse(truncated.text)
  t.equal(chunks.length, 1 + DEFAULT_COMPLETION.length, 'the role chunk and one per piece')
  t.notOk(chunks.some((e) => e.data === '[DONE]' || e.data.includes('"finish_reason":"stop"')))

  const started = Date.now()
  const slow = await request(url, { method: 'POST', body: JSON.stringify(streamBody), headers: fault('slow-first-chunk:300') })
  const headersAt = Date.now() - started
  for await (const _chunk of slow.body) break
  t.ok(headersAt < 250, `headers after ${headersAt} ms`)
  t.ok(Date.now() - started >= 280, 'first chunk after the delay')

  const limited = await call(url, { body: chatBody, headers: fault('status:429') })
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '1')
  t.match(limited.json(), { object: 'error', type: 'RateLimitError', code: 429 })

  const delayedAt = Date.now()
  const delayed = await call(url, { body: chatBody, headers: fault('delay-headers:200') })
  t.equal(delayed.status, 200)
  t.ok(Date.now() - delayedAt >= 190, 'headers delayed')

  const typo = await call(url, { body: chatBody, headers: fault('explode') })
  t.equal(typo.status, 400, 'unknown faults are rejected loudly')
})

t.test('certificates against a real https server', async (t) => {
  const trusted = caSignedCert()
  const ms = await startModelServer({ tls: trusted })
  t.teardown(ms.close)
  const agent = new Agent({ connect: { ca: trusted.caCert } })
  t.teardown(() => agent.close())
  t.match(ms.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  t.equal((await call(`${ms.url}/health`, { dispatcher: agent })).status, 200, 'trusting the CA works')

  const cases: Array<[string, { key: string; cert: string; caCert?: string }, string]> = [
    ['self-signed', selfSignedCert(), 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['expired', expiredCert(), 'CERT_HAS_EXPIRED'],
    ['wrong host', wrongHostCert(), 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ]
  for (const [name, cert, expected] of cases) {
    const server = await startTlsServer(cert)
    t.teardown(server.close)
    const client = new Agent({ connect: cert.caCert === undefined ? {} : { ca: cert.caCert } })
    t.teardown(() => client.close())
    t.equal(await errorCode(call(server.url, { dispatcher: client })), expected, name)
  }
})

/** A model answer in the ReAct form the chat/react prompt asks for. */
const REACT_ANSWER = ['Thought: The user asks about GitLab.', '\nFinal Answer:', ' A merge', ' request', ' proposes changes.']

/** A response whose connection may drop before its end: what arrived, and the error code if it dropped. */
async function callUntilDrop(
  url: string,
  opts: { body: unknown; headers: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; dropped?: string }> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...opts.headers }, body: JSON.stringify(opts.body) })
  let text = ''
  const dropped = await errorCode((async () => {
    for await (const chunk of res.body) text += (chunk as Buffer).toString()
  })())
  return { status: res.statusCode, headers: res.headers, text, dropped }
}

t.test('AI gateway', async (t) => {
  const keys = makeJwtKeys()
  const ms = await startModelServer({ apiKey: 'model-key' })
  t.teardown(ms.close)
  const reactModel = await startModelServer({ completion: REACT_ANSWER })
  t.teardown(reactModel.close)
  const gw = await startAiGateway({ jwtPublicKey: keys.publicKey, modelEndpoint: `${ms.url}/v1`, modelTimeoutMs: 300, retryWaitScale: 0.001 })
  t.teardown(gw.close)
  const claims = gatewayClaims()
  const headers = gitlabHeaders(signJwt(claims, keys.privateKey), claims)
  // What GitLab sends for a self-hosted model: the family as model_name, the served name in
  // model_identifier (the 2025 gateway takes the model from it), the endpoint with /v1.
  const code = {
    current_file: { file_name: 'main.py', language_identifier: 'Python', content_above_cursor: 'def add(a, b):\n', content_below_cursor: '' },
    model_provider: 'litellm',
    model_name: 'mistral',
    model_endpoint: `${ms.url}/v1`,
    model_identifier: `custom_openai/${DEFAULT_MODEL}`,
    model_api_key: 'model-key',
    prompt_version: 2,
  }
  const modelMetadata = { provider: 'openai', name: 'mistral', endpoint: `${ms.url}/v1`, api_key: 'model-key', identifier: `custom_openai/${DEFAULT_MODEL}` }
  const hopBody = (server: { requests: Array<{ body: Buffer }> }, i: number): Record<string, unknown> =>
    JSON.parse(server.requests[i]?.body.toString() ?? '{}') as Record<string, unknown>

  t.test('monitoring, request id and process time', async (t) => {
    const health = await call(`${gw.url}/monitoring/healthz`)
    t.equal(health.status, 200)
    t.same(health.json(), {}, 'fastapi-health answers {}')
    t.match(health.headers['x-request-id'], /^[0-9a-f]{32}$/, 'uuid4().hex')
    t.match(health.headers['x-process-time'], /^\d+\.\d+$/)
    t.equal(health.headers['content-type'], 'application/json')
    const ready = await call(`${gw.url}/monitoring/ready`)
    t.equal(ready.status, 200)
    t.same(ready.json(), {})
    gw.setReady(false)
    const notReady = await call(`${gw.url}/monitoring/ready`)
    t.equal(notReady.status, 503)
    t.same(notReady.json(), {})
    gw.setReady(true)
    const metrics = await call(`${gw.url}/metrics`)
    t.equal(metrics.status, 404, 'Prometheus is on its own port, not the API port')
    t.same(metrics.json(), { detail: 'Not Found' })
  })

  t.test('code completion through the model', async (t) => {
    const before = ms.requests.length
    const reply = await call(`${gw.url}/v2/code/completions`, { body: code, headers })
    t.equal(reply.status, 200)
    t.equal(reply.headers['x-request-id'], headers['x-request-id'])
    t.match(reply.headers['x-process-time'], /^\d+\.\d+$/)
    t.match(reply.json(), {
      id: 'id', object: 'text_completion', model: { engine: 'litellm', name: 'mistral', lang: 'python' },
      choices: [{ text: DEFAULT_COMPLETION.join(''), index: 0, finish_reason: 'stop' }],
    })
    t.equal(ms.requests.length - before, 1, 'one model call')
    const hop = ms.requests[before]
    t.equal(hop?.path, '/v1/chat/completions')
    t.equal(hop?.headers.authorization, 'Bearer model-key')
    t.equal(hop?.headers['user-agent'], 'AsyncOpenAI/Python 2.54.0')
    t.equal(hop?.headers['x-stainless-retry-count'], '0')
    t.notOk(hop?.headers['x-request-id'], 'the model hop loses the correlation id')
    const body = hopBody(ms, before)
    t.match(body, { model: DEFAULT_MODEL, max_tokens: Number })
    t.notOk('stream' in body, 'a non-stream call has no stream key')
    t.notOk('stream_options' in body)

    const streamed = await call(`${gw.url}/v2/code/completions`, { body: { ...code, stream: true }, headers })
    t.equal(streamed.status, 200)
    t.equal(streamed.headers['content-type'], 'text/event-stream; charset=utf-8')
    t.equal(streamed.text, DEFAULT_COMPLETION.join(''), 'raw text, no data: framing')
    t.match(hopBody(ms, ms.requests.length - 1), { model: DEFAULT_MODEL, stream: true })

    // Generations without prompt_id: the legacy LiteLlmChatModel, model custom_openai/<model_name>
    // (the identifier is not read), so the family name reaches a server that serves another.
    const beforeGeneration = ms.requests.length
    const generation = await call(`${gw.url}/v2/code/generations`, { body: code, headers })
    t.equal(generation.status, 500)
    t.equal(generation.text, 'Internal Server Error')
    t.equal(ms.requests.length - beforeGeneration, 1, '404 is not retried')
    t.match(hopBody(ms, beforeGeneration), { model: 'mistral' })

    const beforeNoV1 = ms.requests.length
    const noV1 = await call(`${gw.url}/v2/code/completions`, { body: { ...code, model_endpoint: ms.url }, headers })
    t.equal(noV1.status, 500, "litellm's NotFoundError is unhandled: Starlette's bare 500")
    t.equal(noV1.text, 'Internal Server Error')
    t.equal(noV1.headers['content-type'], 'text/plain; charset=utf-8')
    t.notOk(noV1.headers['x-request-id'], 'sent outside the correlation-id middleware')
    t.notOk(noV1.headers['x-process-time'])
    t.equal(ms.requests.length - beforeNoV1, 1)
    t.equal(ms.requests[beforeNoV1]?.path, '/chat/completions', 'api_base taken as given, nothing appended')

    const beforeBare = ms.requests.length
    const bare = await call(`${gw.url}/v2/code/completions`, { body: { ...code, model_identifier: undefined }, headers })
    t.equal(bare.status, 500, 'no identifier: litellm cannot place the family name')
    t.equal(ms.requests.length, beforeBare, 'no model call at all')

    const beforeSlow = ms.requests.length
    const slowModel = await call(`${gw.url}/v2/code/completions`, { body: code, headers: { ...headers, 'x-sim-model-fault': 'hang' } })
    t.equal(slowModel.status, 500, 'model timeout')
    t.same(
      ms.requests.slice(beforeSlow).map((r) => r.headers['x-stainless-retry-count']),
      ['0', '1', '2', '0', '1', '2'],
      "the SDK's 3 attempts, twice (ChatLiteLLM retries litellm.Timeout)",
    )

    const invalid = await call(`${gw.url}/v2/code/completions`, { body: { stream: false }, headers })
    t.equal(invalid.status, 422)
    t.same(invalid.json(), { detail: 'Validation error' })
  })

  t.test('v3 and v4 code suggestions', async (t) => {
    const components = [{ type: 'code_editor_completion', payload: code.current_file }]
    const body = { prompt_components: components, model_metadata: modelMetadata }
    const v3 = await call(`${gw.url}/v3/code/completions`, { body, headers })
    t.equal(v3.status, 200)
    t.match(v3.json(), { choices: [{ text: DEFAULT_COMPLETION.join('') }], metadata: { model: { name: 'mistral' } } })

    const v4 = await call(`${gw.url}/v4/code/suggestions`, { body, headers })
    t.equal(v4.headers['content-type'], 'text/event-stream; charset=utf-8')
    t.equal(v4.headers['x-streaming-format'], 'sse')
    const events = parseSse(v4.text)
    t.same(events.map((e) => e.event), ['stream_start', ...DEFAULT_COMPLETION.map(() => 'content_chunk'), 'stream_end'])
    t.same(JSON.parse(events[1]?.data ?? '{}'), { choices: [{ delta: { content: DEFAULT_COMPLETION[0] } }] })

    const truncated = await call(`${gw.url}/v4/code/suggestions`, { body, headers: { ...headers, 'x-sim-fault': 'truncate' } })
    t.notOk(parseSse(truncated.text).some((e) => e.event === 'stream_end'), 'truncate drops stream_end')
  })

  t.test('chat and prompts', async (t) => {
    const chat = { messages: [{ role: 'user', content: 'What is a merge request?' }], options: {}, model_metadata: { ...modelMetadata, endpoint: `${reactModel.url}/v1` } }
    const before = reactModel.requests.length
    const answer = await call(`${gw.url}/v2/chat/agent`, { body: chat, headers })
    t.equal(answer.status, 200)
    t.equal(answer.headers['content-type'], 'application/x-ndjson; charset=utf-8')
    t.ok(answer.text.startsWith('{"type": "final_answer_delta", "data": {"text": "A merge", "finish_reason": null}}\n'), "Python json.dumps spacing")
    const lines = parseNdjson(answer.text) as Array<{ type: string; data: Record<string, unknown> }>
    t.same(lines.slice(0, -1), [
      { type: 'final_answer_delta', data: { text: 'A merge', finish_reason: null } },
      { type: 'final_answer_delta', data: { text: ' request', finish_reason: null } },
      { type: 'final_answer_delta', data: { text: ' proposes changes.', finish_reason: null } },
      { type: 'final_answer_delta', data: { text: '', finish_reason: 'stop' } },
    ], 'deltas after "Final Answer:" only, then the finish reason')
    t.match(lines.at(-1), { type: 'usage', data: { usage: { [DEFAULT_MODEL]: { input_tokens: Number, output_tokens: REACT_ANSWER.length } } } })
    t.equal(reactModel.requests.length - before, 1)
    t.match(hopBody(reactModel, before), { model: DEFAULT_MODEL, stream: true, stream_options: { include_usage: true }, stop: ['Observation:'] })
    t.equal(reactModel.requests[before]?.headers.authorization, 'Bearer model-key')

    const plain = await call(`${gw.url}/v2/chat/agent`, { body: { ...chat, model_metadata: modelMetadata }, headers })
    const plainLines = parseNdjson(plain.text) as Array<{ type: string; data: Record<string, unknown> }>
    t.same(plainLines.map((l) => l.type), ['unknown', 'usage'], 'no "Final Answer:": one unknown line')
    t.equal(plainLines[0]?.data.text, DEFAULT_COMPLETION.join(''))

    const beforeFailed = reactModel.requests.length
    const failed = await callUntilDrop(`${gw.url}/v2/chat/agent`, { body: chat, headers: { ...headers, 'x-sim-model-fault': 'status:500' } })
    t.equal(failed.status, 200, 'chat failures travel inside the stream')
    t.ok(failed.dropped, `then the connection drops (${failed.dropped})`)
    const failedLines = parseNdjson(failed.text) as Array<{ type: string; data: Record<string, unknown> }>
    t.equal(failedLines.length, 1, 'one error line, no usage')
    t.match(failedLines[0], { type: 'error', data: { message: /^litellm\.InternalServerError: InternalServerError: Custom_openaiException - /, retryable: false } })
    t.same(Object.keys(failedLines[0]?.data ?? {}), ['message', 'retryable'], 'no error_code')
    t.equal(reactModel.requests.length - beforeFailed, 3, "the OpenAI SDK's two retries on a 500")

    const v1 = await call(`${gw.url}/v1/chat/agent`, {
      body: { prompt_components: [{ type: 'prompt', payload: { content: 'hi', provider: 'litellm', model: DEFAULT_MODEL, model_endpoint: `${ms.url}/v1`, model_api_key: 'model-key', model_identifier: `custom_openai/${DEFAULT_MODEL}` } }] },
      headers,
    })
    t.match(v1.json(), { response: DEFAULT_COMPLETION.join(''), metadata: { model: DEFAULT_MODEL } })

    const prompt = { inputs: { question: 'hi' }, prompt_version: '^1.0.0', stream: false, model_metadata: modelMetadata }
    const ok = await call(`${gw.url}/v1/prompts/chat/explain_code`, { body: prompt, headers })
    t.equal(ok.status, 200)
    t.equal(ok.json(), DEFAULT_COMPLETION.join(''))
    const missingV1 = await call(`${gw.url}/v2/prompts/chat/explain_code`, { body: { ...prompt, model_metadata: { ...modelMetadata, endpoint: ms.url } }, headers })
    t.equal(missingV1.status, 421)
    t.same(missingV1.json(), { detail: '404: Not Found' })
  })

  t.test('2024 gateway: older SDK, the key placeholder "None", no usage line', async (t) => {
    const old = await startAiGateway({ version: '2024', retryWaitScale: 0.001 })
    t.teardown(old.close)
    const before = reactModel.requests.length
    const { api_key: _key, ...noKey } = { ...modelMetadata, endpoint: `${reactModel.url}/v1` }
    const answer = await call(`${old.url}/v2/chat/agent`, { body: { messages: [{ role: 'user', content: 'hi' }], model_metadata: noKey } })
    t.equal(answer.status, 200)
    t.same(parseNdjson(answer.text), [
      { type: 'final_answer_delta', data: { text: 'A merge' } },
      { type: 'final_answer_delta', data: { text: ' request' } },
      { type: 'final_answer_delta', data: { text: ' proposes changes.' } },
    ])
    const hop = reactModel.requests[before]
    t.equal(hop?.headers['user-agent'], 'AsyncOpenAI/Python 1.57.0')
    t.equal(hop?.headers.authorization, 'Bearer None', 'prompts/base.py: str(None)')
    t.notOk(hop?.headers['x-stainless-read-timeout'])
    t.notOk('stream_options' in hopBody(reactModel, before), 'the 2024 ChatLiteLLM sends no stream_options')
  })

  t.test('auth failures', async (t) => {
    const other = makeJwtKeys()
    const signed = (overrides: Partial<GatewayClaims>): string => signJwt(gatewayClaims(overrides), keys.privateKey)
    const cases: Array<[string, Record<string, string>, number, unknown]> = [
      ['no header', { ...headers, authorization: '' }, 401, { error: 'No authorization header presented' }],
      ['not bearer', { ...headers, authorization: 'Token abc' }, 401, { error: 'Invalid authorization header' }],
      ['not oidc', { ...headers, 'x-gitlab-authentication-type': 'jwt' }, 401, { error: 'Invalid authentication token type - only OIDC is supported' }],
      ['other key', { ...headers, authorization: `Bearer ${signJwt(claims, other.privateKey)}` }, 401, { error: 'Forbidden by auth provider' }],
      ['expired', { ...headers, authorization: `Bearer ${signed({ exp: Math.floor(Date.now() / 1000) - 120 })}` }, 401, { error: 'Forbidden by auth provider' }],
      ['audience', { ...headers, authorization: `Bearer ${signed({ aud: 'someone-else' })}` }, 401, { error: 'Forbidden by auth provider' }],
      ['instance mismatch', { ...headers, 'x-gitlab-instance-id': 'other-instance' }, 401, { error: "Header mismatch 'X-Gitlab-Instance-Id'" }],
      ['realm mismatch', { ...headers, 'x-gitlab-realm': 'saas' }, 401, { error: "Header mismatch 'X-Gitlab-Realm'" }],
      ['no chat scope', { ...headers, authorization: `Bearer ${signed({ scopes: ['complete_code'] })}` }, 403, { detail: 'Unauthorized to access duo chat' }],
    ]
    for (const [name, h, status, body] of cases) {
      if (h.authorization === '') delete h.authorization
      const reply = await call(`${gw.url}/v2/chat/agent`, { body: { messages: [{ role: 'user', content: 'hi' }] }, headers: h })
      t.equal(reply.status, status, name)
      t.same(reply.json(), body, name)
    }
  })

  t.test('gateway x-sim-fault', async (t) => {
    const url = `${gw.url}/v2/code/completions`
    const withFault = (fault: string): Record<string, string> => ({ ...headers, 'x-sim-fault': fault })
    const limited = await call(url, { body: code, headers: withFault('status:429') })
    t.equal(limited.status, 429)
    t.equal(limited.headers['retry-after'], '1')
    t.ok(limited.headers['x-request-id'], 'fault replies still carry X-Request-ID')
    t.equal(await errorCode(call(url, { body: code, headers: withFault('hang'), headersTimeout: 200 })), 'UND_ERR_HEADERS_TIMEOUT')
    t.equal(await errorCode(call(url, { body: code, headers: withFault('reset-before-headers') })), 'UND_ERR_SOCKET')
    const started = Date.now()
    t.equal((await call(url, { body: code, headers: withFault('delay-headers:150') })).status, 200)
    t.ok(Date.now() - started >= 140)
    t.equal(await errorCode(call(url, { body: { ...code, stream: true }, headers: withFault('reset-mid-stream') })), 'UND_ERR_SOCKET')
    t.equal((await call(url, { body: { ...code, stream: true }, headers: withFault('truncate') })).text, DEFAULT_COMPLETION[0])
  })
})

t.test('AI gateway without model endpoint or auth', async (t) => {
  const gw = await startAiGateway({ ready: false })
  t.teardown(gw.close)
  t.equal((await call(`${gw.url}/monitoring/ready`)).status, 503)
  const reply = await call(`${gw.url}/v2/completions`, { body: { current_file: { file_name: 'a.py', content_above_cursor: '' } } })
  t.match(reply.json(), { choices: [{ text: CANNED_COMPLETION.join('') }] })
  t.match(gw.requests[1]?.headers, { 'content-type': 'application/json' })
  t.equal((await call(`${gw.url}/v9/nothing`, { body: {} })).status, 404)
})

t.test('fault servers', async (t) => {
  const port = await refusedPort()
  t.equal(await errorCode(call(`http://127.0.0.1:${port}/`)), 'ECONNREFUSED')

  const hanging = await startHangingServer()
  t.teardown(hanging.close)
  t.equal(await errorCode(call(`${hanging.url}/x`, { headersTimeout: 150 })), 'UND_ERR_HEADERS_TIMEOUT')
  t.equal(hanging.requests[0]?.path, '/x')

  const reset = await startResetServer()
  t.teardown(reset.close)
  t.equal(await errorCode(call(reset.url, { body: { a: 1 } })), 'UND_ERR_SOCKET')
  t.equal(reset.requests[0]?.body.toString(), '{"a":1}')

  const plain = await startPlainHttpServer()
  t.teardown(plain.close)
  t.equal((await call(plain.url)).status, 200)
  const tlsToPlain = await errorCode(call(plain.url.replace('http:', 'https:')))
  t.ok(tlsToPlain, `https to a plain server fails (${tlsToPlain})`)

  const ws = await startWsEchoServer()
  t.teardown(ws.close)
  const client = new WebSocket(`${ws.url.replace('http:', 'ws:')}/stream`, { headers: { 'x-request-id': 'abc' } })
  const echoed = await new Promise<string>((resolve, reject) => {
    client.once('open', () => client.send('hello'))
    client.once('message', (data) => resolve(String(data)))
    client.once('error', reject)
  })
  client.close()
  t.equal(echoed, 'hello')
  t.equal(ws.upgrades[0]?.['x-request-id'], 'abc')
  t.same(ws.messages, ['hello'])
})
