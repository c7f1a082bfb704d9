/**
 * The model server simulator's three flavours (vLLM, the LiteLLM proxy, Ollama) against real
 * clients: exact statuses and bodies for the failures GitLab Duo Self-Hosted runs into (no /v1,
 * unknown model, bad key), the health answers, model lists, and chat completions whole and
 * streamed (with and without stream_options.include_usage). src/sim/model-flavors.ts names
 * the upstream source of each answer.
 */
import t, { type Test } from 'tap'
import OpenAI from 'openai'
import { request } from 'undici'
import { DEFAULT_COMPLETION, DEFAULT_MODEL, startModelServer, type ModelServerFlavor } from './fixtures/model-server.js'
import { parseSse } from './fixtures/wire.js'
import { call } from './helpers/call.js'

const KEY = 'sk-flavor-test-key'
const PIECES = ['Sure', ' <b>', ' done']
const ANSWER = PIECES.join('')
const messages = [{ role: 'user' as const, content: 'say something nice' }]
const chat = { model: DEFAULT_MODEL, messages }
const bearer = { authorization: `Bearer ${KEY}` }

/** Replace the per-response id and timestamp so whole bodies can be compared exactly. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'id' && typeof v === 'string' ? 'ID' : k === 'created' && typeof v === 'number' ? 0 : stable(v)]))
}

/** The SSE frames of a body: every one `data: ...` followed by a blank line. */
function frames(t: Test, text: string): string[] {
  t.match(text, /^(data: [^\n]+\n\n)+$/, 'only data: frames, each ended by a blank line')
  return parseSse(text).map((e) => e.data)
}

/** The JSON chunks of a complete stream, id and created made stable. */
function chunks(t: Test, text: string): unknown[] {
  const data = frames(t, text)
  t.equal(data.at(-1), '[DONE]', 'the stream ends with data: [DONE]')
  return data.slice(0, -1).map((d) => stable(JSON.parse(d)))
}

async function sdkStream(client: OpenAI, includeUsage: boolean): Promise<{ text: string; finish: Array<string | null>; usage?: OpenAI.CompletionUsage }> {
  const stream = await client.chat.completions.create({ ...chat, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) })
  let text = ''
  const finish: Array<string | null> = []
  let usage: OpenAI.CompletionUsage | undefined
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? ''
      finish.push(choice.finish_reason)
    }
  }
  return { text, finish, usage }
}

const usage = { prompt_tokens: 3, completion_tokens: PIECES.length, total_tokens: 3 + PIECES.length }

t.test('vllm', async (t) => {
  const ms = await startModelServer({ flavor: 'vllm', apiKey: KEY, completion: PIECES })
  t.teardown(ms.close)
  t.equal(ms.flavor, 'vllm')
  t.equal(ms.serverVersion, '0.10.0')
  const client = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: KEY, maxRetries: 0 })

  t.test('no /v1: the FastAPI 404', async (t) => {
    const noV1 = await call(`${ms.url}/chat/completions`, { body: chat, headers: bearer })
    t.equal(noV1.status, 404)
    t.equal(noV1.headers['content-type'], 'application/json')
    t.equal(noV1.headers.server, 'uvicorn')
    t.equal(noV1.text, '{"detail":"Not Found"}')
    const wrongMethod = await call(`${ms.url}/v1/chat/completions`, { headers: bearer })
    t.equal(wrongMethod.status, 405)
    t.equal(wrongMethod.text, '{"detail":"Method Not Allowed"}')
    t.equal(wrongMethod.headers.allow, 'POST')
  })

  t.test('unknown model', async (t) => {
    const unknown = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, model: 'llama-9000' }, headers: bearer })
    t.equal(unknown.status, 404)
    t.equal(unknown.text, '{"object":"error","message":"The model `llama-9000` does not exist.","type":"NotFoundError","param":null,"code":404}')
    const err = await client.chat.completions.create({ ...chat, model: 'llama-9000' }).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.NotFoundError, 'the SDK raises NotFoundError')
  })

  t.test('bad or missing key on /v1 only', async (t) => {
    for (const headers of [{}, { authorization: 'Bearer sk-wrong' }, { authorization: KEY }] as Array<Record<string, string>>) {
      const denied = await call(`${ms.url}/v1/models`, { headers })
      t.equal(denied.status, 401)
      t.equal(denied.text, '{"error":"Unauthorized"}')
    }
    t.equal((await call(`${ms.url}/v1/nothing-here`)).status, 401, 'the middleware answers before routing')
    const wrong = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 })
    const err = await wrong.chat.completions.create(chat).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.AuthenticationError)
    t.equal((err as InstanceType<typeof OpenAI.AuthenticationError>).status, 401)
  })

  t.test('health, version, models', async (t) => {
    const health = await call(`${ms.url}/health`)
    t.equal(health.status, 200, 'no key needed outside /v1')
    t.equal(health.text, '')
    t.equal(health.headers['content-length'], '0')
    t.equal(health.headers['content-type'], undefined)
    t.same((await call(`${ms.url}/version`)).json(), { version: '0.10.0' })
    const models = await call(`${ms.url}/v1/models`, { headers: bearer })
    t.match(models.json(), {
      object: 'list',
      data: [{ id: DEFAULT_MODEL, object: 'model', created: Number, owned_by: 'vllm', root: DEFAULT_MODEL, parent: null, max_model_len: Number, permission: [{ id: /^modelperm-[0-9a-f]{32}$/, object: 'model_permission' }] }],
    })
    t.same((await client.models.list()).data.map((m) => m.id), [DEFAULT_MODEL])
  })

  t.test('chat completion', async (t) => {
    const whole = await call(`${ms.url}/v1/chat/completions`, { body: chat, headers: bearer })
    t.equal(whole.status, 200)
    t.equal(whole.headers['content-type'], 'application/json')
    t.match(whole.json(), { id: /^chatcmpl-[0-9a-f]{32}$/ })
    t.same(stable(whole.json()), {
      id: 'ID', object: 'chat.completion', created: 0, model: DEFAULT_MODEL,
      choices: [{ index: 0, message: { role: 'assistant', reasoning_content: null, content: ANSWER, tool_calls: [] }, logprobs: null, finish_reason: 'stop', stop_reason: null }],
      usage: { prompt_tokens: 3, total_tokens: 6, completion_tokens: 3, prompt_tokens_details: null },
      prompt_logprobs: null, kv_transfer_params: null,
    })
    const reply = await client.chat.completions.create(chat)
    t.equal(reply.choices[0]?.message.content, ANSWER)
    t.same(reply.usage?.total_tokens, 6)
  })

  t.test('streamed chat completion', async (t) => {
    const head = { id: 'ID', object: 'chat.completion.chunk', created: 0, model: DEFAULT_MODEL }
    const plain = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true }, headers: bearer })
    t.equal(plain.headers['content-type'], 'text/event-stream; charset=utf-8', 'Starlette adds the charset')
    const expected = [
      { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: 'Sure' }, logprobs: null, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: ' <b>' }, logprobs: null, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: ' done' }, logprobs: null, finish_reason: 'stop', stop_reason: null }] },
    ]
    t.same(chunks(t, plain.text), expected, 'a role chunk, one chunk per token, no usage')
    const withUsage = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true, stream_options: { include_usage: true } }, headers: bearer })
    t.same(chunks(t, withUsage.text), [...expected, { ...head, choices: [], usage: { prompt_tokens: 3, total_tokens: 6, completion_tokens: 3 } }], 'include_usage adds a usage chunk with no choices')

    const sdk = await sdkStream(client, false)
    t.equal(sdk.text, ANSWER)
    t.same(sdk.finish, [null, null, null, 'stop'])
    t.equal(sdk.usage, undefined)
    t.same((await sdkStream(client, true)).usage, usage)
  })

  t.test('x-sim-fault', async (t) => {
    const limited = await call(`${ms.url}/v1/chat/completions`, { body: chat, headers: { ...bearer, 'x-sim-fault': 'status:429' } })
    t.equal(limited.status, 429)
    t.equal(limited.headers['retry-after'], '1')
    t.same(limited.json(), { object: 'error', message: 'Too Many Requests', type: 'RateLimitError', param: null, code: 429 })
    const truncated = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true }, headers: { ...bearer, 'x-sim-fault': 'truncate' } })
    const data = parseSse(truncated.text).map((e) => e.data)
    t.equal(data.length, 1 + PIECES.length, 'the role chunk and the tokens')
    t.notOk(data.some((d) => d === '[DONE]' || d.includes('"finish_reason":"stop"')), 'no terminal parts')
  })
})

t.test('vllm 0.10.1 and later nest ErrorResponse under "error"', async (t) => {
  const ms = await startModelServer({ flavor: 'vllm', serverVersion: '0.11.0' })
  t.teardown(ms.close)
  const unknown = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, model: 'nope' } })
  t.equal(unknown.status, 404)
  t.equal(unknown.text, '{"error":{"message":"The model `nope` does not exist.","type":"NotFoundError","param":null,"code":404}}')
  const client = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const err = await client.chat.completions.create({ ...chat, model: 'nope' }).catch((e: unknown) => e)
  t.ok(err instanceof OpenAI.NotFoundError)
  t.match((err as Error).message, /The model `nope` does not exist\./, 'the SDK reads the nested message')
})

t.test('litellm', async (t) => {
  const ms = await startModelServer({ flavor: 'litellm', apiKey: KEY, completion: PIECES })
  t.teardown(ms.close)
  const client = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: KEY, maxRetries: 0 })

  t.test('routes with and without /v1; 404 elsewhere', async (t) => {
    const noV1 = await call(`${ms.url}/chat/completions`, { body: chat, headers: bearer })
    t.equal(noV1.status, 200, 'LiteLLM serves /chat/completions too: a base URL without /v1 works')
    t.equal((noV1.json() as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content, ANSWER)
    const noV1Client = new OpenAI({ baseURL: ms.url, apiKey: KEY, maxRetries: 0 })
    t.equal((await noV1Client.chat.completions.create(chat)).choices[0]?.message.content, ANSWER, 'and so does the SDK')
    const azure = await call(`${ms.url}/openai/deployments/${DEFAULT_MODEL}/chat/completions`, { body: { messages }, headers: bearer })
    t.equal(azure.status, 200, 'Azure-style paths take the model from the path')
    const missing = await call(`${ms.url}/v2/chat/completions`, { body: chat, headers: bearer })
    t.equal(missing.status, 404)
    t.equal(missing.headers['content-type'], 'application/json')
    t.equal(missing.headers.server, 'uvicorn')
    t.equal(missing.text, '{"detail":"Not Found"}')
  })

  t.test('unknown model', async (t) => {
    const unknown = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, model: 'llama-9000' }, headers: bearer })
    t.equal(unknown.status, 400)
    t.match(unknown.headers['x-litellm-call-id'], /^[0-9a-f-]{36}$/)
    t.equal(unknown.text, '{"error":{"message":"{\'error\': \'/chat/completions: Invalid model name passed in model=llama-9000. Call `/v1/models` to view available models for your key.\'}","type":"None","param":"None","code":"400"}}')
    const err = await client.chat.completions.create({ ...chat, model: 'llama-9000' }).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.BadRequestError, 'a 400, not a 404')
    const noMessages = await call(`${ms.url}/v1/chat/completions`, { body: { model: DEFAULT_MODEL }, headers: bearer })
    t.equal(noMessages.status, 400)
    t.same(noMessages.json(), { error: { message: "/chat/completions: Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: '400' } })
  })

  t.test('master key', async (t) => {
    const none = await call(`${ms.url}/v1/chat/completions`, { body: chat })
    t.equal(none.status, 401)
    t.equal(none.text, '{"error":{"message":"Authentication Error, No api key passed in.","type":"auth_error","param":"None","code":"401"}}')
    const malformed = await call(`${ms.url}/v1/models`, { headers: { authorization: KEY } })
    t.equal(malformed.status, 401)
    t.same(malformed.json(), { error: { message: 'Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.', type: 'auth_error', param: 'None', code: '401' } })
    const wrong = await call(`${ms.url}/v1/chat/completions`, { body: chat, headers: { authorization: 'Bearer sk-wrong' } })
    t.equal(wrong.status, 400, 'not the master key and no database to look it up in')
    t.equal(wrong.text, '{"error":{"message":"No connected db.","type":"no_db_connection","param":null,"code":"400"}}')
    const wrongClient = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 })
    const err = await wrongClient.chat.completions.create(chat).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.BadRequestError)
    t.equal((err as InstanceType<typeof OpenAI.BadRequestError>).code, '400')
  })

  t.test('health and models', async (t) => {
    const live = await call(`${ms.url}/health/liveliness`)
    t.equal(live.status, 200, 'public: no key')
    t.equal(live.text, '"I\'m alive!"')
    t.equal((await call(`${ms.url}/health/liveness`)).text, '"I\'m alive!"')
    const ready = await call(`${ms.url}/health/readiness`)
    t.equal(ready.status, 200)
    t.same(ready.json(), { status: 'healthy', db: 'Not connected', cache: null, litellm_version: '1.80.0', success_callbacks: [], use_aiohttp_transport: true, log_level: 'WARNING', is_detailed_debug: false })
    const models = await call(`${ms.url}/v1/models`, { headers: bearer })
    t.equal(models.text, `{"data":[{"id":"${DEFAULT_MODEL}","object":"model","created":1677610602,"owned_by":"openai"}],"object":"list"}`)
    t.equal((await call(`${ms.url}/models`, { headers: bearer })).text, models.text, '/models without /v1')
    t.equal((await call(`${ms.url}/v1/models`)).status, 401, 'but the model list needs the key')
  })

  t.test('chat completion', async (t) => {
    const whole = await call(`${ms.url}/v1/chat/completions`, { body: chat, headers: bearer })
    t.equal(whole.headers['x-litellm-version'], '1.80.0')
    t.match(whole.json(), { id: /^chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/ })
    t.same(stable(whole.json()), {
      id: 'ID', created: 0, model: DEFAULT_MODEL, object: 'chat.completion', system_fingerprint: null,
      choices: [{ finish_reason: 'stop', index: 0, message: { content: ANSWER, role: 'assistant', tool_calls: null, function_call: null } }],
      usage: { completion_tokens: 3, prompt_tokens: 3, total_tokens: 6 },
    })
    t.equal((await client.chat.completions.create(chat)).choices[0]?.message.content, ANSWER)
  })

  t.test('streamed chat completion', async (t) => {
    const head = { id: 'ID', created: 0, model: DEFAULT_MODEL, object: 'chat.completion.chunk' }
    const plain = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true }, headers: bearer })
    t.equal(plain.headers['content-type'], 'text/event-stream; charset=utf-8')
    const expected = [
      { ...head, choices: [{ index: 0, delta: { content: 'Sure', role: 'assistant' } }] },
      { ...head, choices: [{ index: 0, delta: { content: ' <b>' } }] },
      { ...head, choices: [{ index: 0, delta: { content: ' done' } }] },
      { ...head, choices: [{ finish_reason: 'stop', index: 0, delta: {} }] },
    ]
    t.same(chunks(t, plain.text), expected, 'nulls left out, the finish reason in its own chunk')
    const withUsage = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true, stream_options: { include_usage: true } }, headers: bearer })
    t.same(chunks(t, withUsage.text), [...expected, { ...head, choices: [{ index: 0, delta: {} }], usage: { completion_tokens: 3, prompt_tokens: 3, total_tokens: 6 } }], 'the usage chunk keeps an empty choice')

    const sdk = await sdkStream(client, false)
    t.equal(sdk.text, ANSWER)
    t.same(sdk.finish, [null, null, null, 'stop'])
    t.equal(sdk.usage, undefined)
    t.same((await sdkStream(client, true)).usage, usage)
  })

  t.test('x-sim-fault', async (t) => {
    const limited = await call(`${ms.url}/v1/chat/completions`, { body: chat, headers: { ...bearer, 'x-sim-fault': 'status:429' } })
    t.equal(limited.status, 429)
    t.same(limited.json(), { error: { message: 'litellm.RateLimitError: Too Many Requests', type: 'None', param: 'None', code: '429' } })
    await t.rejects(request(`${ms.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat), headers: { ...bearer, 'x-sim-fault': 'reset-before-headers' } }), 'reset before headers')
  })
})

t.test('ollama', async (t) => {
  const ms = await startModelServer({ flavor: 'ollama', completion: PIECES, models: [DEFAULT_MODEL, 'someone/coder:7b'] })
  t.teardown(ms.close)
  const client = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: 'ollama', maxRetries: 0 })

  t.test('no /v1: gin\'s plain-text 404', async (t) => {
    const noV1 = await call(`${ms.url}/chat/completions`, { body: chat })
    t.equal(noV1.status, 404)
    t.equal(noV1.headers['content-type'], 'text/plain')
    t.equal(noV1.headers.server, undefined, 'no server header')
    t.equal(noV1.text, '404 page not found')
    const noV1Client = new OpenAI({ baseURL: ms.url, apiKey: 'ollama', maxRetries: 0 })
    const err = await noV1Client.chat.completions.create(chat).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.NotFoundError)
    const wrongMethod = await call(`${ms.url}/v1/chat/completions`)
    t.equal(wrongMethod.status, 405)
    t.equal(wrongMethod.text, '405 method not allowed')
  })

  t.test('unknown model', async (t) => {
    const unknown = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, model: 'llama-9000' } })
    t.equal(unknown.status, 404)
    t.equal(unknown.headers['content-type'], 'application/json')
    t.equal(unknown.text, '{"error":{"message":"model \'llama-9000\' not found","type":"not_found_error","param":null,"code":null}}\n')
    const err = await client.chat.completions.create({ ...chat, model: 'llama-9000' }).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.NotFoundError)
    t.equal((await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, model: 'Someone/Coder:7B' } })).status, 200, 'names match case-insensitively')
    const noMessages = await call(`${ms.url}/v1/chat/completions`, { body: { model: DEFAULT_MODEL, messages: [] } })
    t.equal(noMessages.status, 400)
    t.equal(noMessages.text, '{"error":{"message":"[] is too short - \'messages\'","type":"invalid_request_error","param":null,"code":null}}\n')
  })

  t.test('no authentication', async (t) => {
    const any = await call(`${ms.url}/v1/chat/completions`, { body: chat, headers: { authorization: 'Bearer whatever' } })
    t.equal(any.status, 200, 'any key, or none, is accepted')
    t.equal((await call(`${ms.url}/v1/models`)).status, 200)
  })

  t.test('health and models', async (t) => {
    const root = await call(`${ms.url}/`)
    t.equal(root.status, 200)
    t.equal(root.headers['content-type'], 'text/plain; charset=utf-8')
    t.equal(root.text, 'Ollama is running')
    const head = await call(`${ms.url}/`, { method: 'HEAD' })
    t.equal(head.status, 200)
    t.equal(head.text, '')
    const version = await call(`${ms.url}/api/version`)
    t.equal(version.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(version.text, '{"version":"0.33.0"}')
    const models = await call(`${ms.url}/v1/models`)
    t.match(models.text, /\}\n$/, 'json.Encoder ends the body with a newline')
    const listed = models.json() as { object: string; data: Array<{ created: number }> }
    t.type(listed.data[0]?.created, 'number')
    t.same({ ...listed, data: listed.data.map((m) => ({ ...m, created: 0 })) }, {
      object: 'list',
      data: [
        { id: `${DEFAULT_MODEL}:latest`, object: 'model', created: 0, owned_by: 'library' },
        { id: 'someone/coder:7b', object: 'model', created: 0, owned_by: 'someone' },
      ],
    })
    t.same((await client.models.list()).data.map((m) => m.id), [`${DEFAULT_MODEL}:latest`, 'someone/coder:7b'])
    const one = await call(`${ms.url}/v1/models/${DEFAULT_MODEL}`)
    t.match(one.json(), { id: DEFAULT_MODEL, object: 'model', owned_by: 'library' })
    const missing = await call(`${ms.url}/v1/models/nope`)
    t.equal(missing.status, 404)
    t.same(missing.json(), { error: { message: "model 'nope' not found", type: 'not_found_error', param: null, code: null } })
  })

  t.test('chat completion', async (t) => {
    const whole = await call(`${ms.url}/v1/chat/completions`, { body: chat })
    t.equal(whole.headers['content-type'], 'application/json')
    t.match(whole.json(), { id: /^chatcmpl-\d{1,3}$/ })
    t.match(whole.text, /"content":"Sure \\u003cb\\u003e done"/, 'Go escapes <, > and & in JSON')
    t.same(stable(whole.json()), {
      id: 'ID', object: 'chat.completion', created: 0, model: DEFAULT_MODEL, system_fingerprint: 'fp_ollama',
      choices: [{ index: 0, message: { role: 'assistant', content: ANSWER }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
    })
    const short = await client.chat.completions.create({ ...chat, max_tokens: 1 })
    t.equal(short.choices[0]?.message.content, 'Sure')
    t.equal(short.choices[0]?.finish_reason, 'length')
  })

  t.test('streamed chat completion', async (t) => {
    const head = { id: 'ID', object: 'chat.completion.chunk', created: 0, model: DEFAULT_MODEL, system_fingerprint: 'fp_ollama' }
    const plain = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true } })
    t.equal(plain.headers['content-type'], 'text/event-stream')
    const expected = [
      { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: 'Sure' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: ' <b>' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: ' done' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    ]
    t.same(chunks(t, plain.text), expected, 'role on the first delta, the finish reason in its own chunk')
    t.match(frames(t, plain.text)[0], /^\{"id":"chatcmpl-\d{1,3}",/)
    const withUsage = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true, stream_options: { include_usage: true } } })
    t.same(chunks(t, withUsage.text), [...expected, { ...head, choices: [], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } }])

    const sdk = await sdkStream(client, false)
    t.equal(sdk.text, ANSWER)
    t.same(sdk.finish, [null, null, null, 'stop'])
    t.equal(sdk.usage, undefined)
    t.same((await sdkStream(client, true)).usage, usage)
  })

  t.test('x-sim-fault', async (t) => {
    const failed = await call(`${ms.url}/v1/chat/completions`, { body: chat, headers: { 'x-sim-fault': 'status:503' } })
    t.equal(failed.status, 503)
    t.same(failed.json(), { error: { message: 'Service Unavailable', type: 'api_error', param: null, code: null } })
    const truncated = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true }, headers: { 'x-sim-fault': 'truncate' } })
    t.equal(parseSse(truncated.text).length, PIECES.length, 'the tokens only')
    t.notMatch(truncated.text, /\[DONE\]|"finish_reason":"stop"/)
  })
})

t.test('older ollama releases', async (t) => {
  const ms = await startModelServer({ flavor: 'ollama', serverVersion: '0.11.4', completion: ['a', 'b'] })
  t.teardown(ms.close)
  const unknown = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, model: 'x' } })
  t.equal(unknown.status, 404)
  t.equal(unknown.text, '{"error":{"message":"model \\"x\\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}}\n', 'before v0.12.0')
  const stream = await call(`${ms.url}/v1/chat/completions`, { body: { ...chat, stream: true, stream_options: { include_usage: true } } })
  const head = { id: 'ID', object: 'chat.completion.chunk', created: 0, model: DEFAULT_MODEL, system_fingerprint: 'fp_ollama' }
  t.same(chunks(t, stream.text), [
    { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: 'a' }, finish_reason: null }] },
    { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: 'b' }, finish_reason: null }] },
    { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: 'stop' }] },
    { ...head, choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
  ], 'before v0.32.6 every delta carries the role and the done chunk an empty content')
})

t.test('every flavour answers the legacy completions endpoint and the default model', async (t) => {
  for (const flavor of ['vllm', 'litellm', 'ollama'] as ModelServerFlavor[]) {
    const ms = await startModelServer({ flavor })
    t.teardown(ms.close)
    const client = new OpenAI({ baseURL: `${ms.url}/v1`, apiKey: 'k', maxRetries: 0 })
    const legacy = await client.completions.create({ model: DEFAULT_MODEL, prompt: 'def add(a, b):' })
    t.equal(legacy.choices[0]?.text, DEFAULT_COMPLETION.join(''), `${flavor}: legacy completion`)
    const stream = await client.completions.create({ model: DEFAULT_MODEL, prompt: 'x', stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? ''
    t.equal(text, DEFAULT_COMPLETION.join(''), `${flavor}: streamed legacy completion`)
    const noModel = await call(`${ms.url}/v1/chat/completions`, { body: { messages } })
    t.equal(noModel.status, flavor === 'vllm' ? 200 : 400, `${flavor}: a request without a model`)
  }
})
