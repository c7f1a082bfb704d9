/**
 * Issue 14: the proxy on both hops of GitLab's AI gateway as its source behaves (src/sim, both
 * release lines), GitLab-shaped requests on the gateway hop, the gateway's litellm-shaped calls
 * on the model hop: each scenario's flags, cause, root cause and link, and no false failure on
 * healthy traffic.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startProxy } from '../src/app.js'
import type { Exchange } from '../src/capture/exchange.js'
import { loadConfig } from '../src/config/load.js'
import { createLogger } from '../src/log/logger.js'
import type { GatewayVersion } from '../src/sim/ai-gateway.js'
import type { Trace } from '../src/store/trace.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { startModelServer } from './fixtures/model-server.js'
import { gatewayClaims, gitlabHeaders, makeJwtKeys, signJwt } from './helpers/jwt.js'
import { startHarness, type Harness } from './helpers/proxy-harness.js'

const SERVED = 'Mistral-7B-Instruct-v0.3'
/** A model that follows the ReAct format the chat prompt asks for. */
const REACT_ANSWER = ['Thought: I can answer directly.\n', 'Final Answer: ', 'Use ', 'git ', 'rebase.']
const keys = makeJwtKeys()

interface Stack {
  h: Harness
  gatewayRequests: () => number
  modelRequests: () => Array<{ path: string, headers: Record<string, unknown>, body: Record<string, unknown> }>
}

/** Model server, gateway and the proxy on both hops (gitlab-aigw -> gateway, model -> model server). */
async function stack (t: Test, version: GatewayVersion, opts: { modelTimeoutMs?: number, timeoutsS?: number[], sdkRetries?: number, jwt?: boolean } = {}): Promise<Stack> {
  const model = await startModelServer({ models: [SERVED], completion: REACT_ANSWER })
  const gateway = await startAiGateway({
    version,
    modelTimeoutMs: opts.modelTimeoutMs ?? 30_000,
    sdkRetries: opts.sdkRetries ?? 2,
    retryWaitScale: 0.001,
    ...(opts.jwt === true ? { jwtPublicKey: keys.publicKey } : {})
  })
  const h = await startHarness({
    routes: [{ name: 'gitlab-aigw', upstream: gateway.url }, { name: 'model', upstream: model.url }],
    extra: { diagnosis: { gateway_model_timeouts_s: opts.timeoutsS ?? [30, 60] } }
  })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
    await model.close()
  })
  return {
    h,
    gatewayRequests: () => gateway.requests.length,
    modelRequests: () => model.requests.map((r) => ({ path: r.path, headers: r.headers, body: JSON.parse(r.body.toString() || '{}') as Record<string, unknown> }))
  }
}

function headers (id: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...gitlabHeaders(signJwt(gatewayClaims(), keys.privateKey)), 'x-request-id': id, ...extra }
}

/** What GitLab sends for a self-hosted code completion (ai_gateway_code_completion_message.rb). */
function completionBody (endpoint: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    current_file: { file_name: 'app.py', content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '' },
    telemetry: [],
    stream: false,
    model_provider: 'litellm',
    prompt_version: 2,
    prompt: null,
    model_endpoint: endpoint,
    model_name: 'mistral',
    model_api_key: 'sk-planted-model-key-1234567890',
    model_identifier: `custom_openai/${SERVED}`,
    ...extra
  })
}

/** What GitLab sends for Duo Chat (ee/lib/gitlab/duo/chat/react_executor.rb step_params). */
function chatBody (endpoint: string, identifier = `custom_openai/${SERVED}`): string {
  return JSON.stringify({
    messages: [{ role: 'user', content: 'How do I squash commits?', context: null, current_file: null, additional_context: [] }],
    model_metadata: { provider: 'openai', name: 'mistral', endpoint, api_key: '', identifier },
    unavailable_resources: ['Pipelines', 'Vulnerabilities']
  })
}

async function post (url: string, body: string, hdrs: Record<string, string>): Promise<{ status: number, text: string, error: unknown, contentType: string }> {
  const res = await request(url, { method: 'POST', body, headers: hdrs })
  let text = ''
  let error: unknown = null
  try {
    text = await res.body.text()
  } catch (err) {
    error = err
  }
  return { status: res.statusCode, text, error, contentType: String(res.headers['content-type'] ?? '') }
}

/** The gateway exchange with this correlation id and the model calls linked to it. */
async function trace (h: Harness, id: string): Promise<{ gateway: Exchange, models: Exchange[] }> {
  const all = await h.exchanges()
  const gateway = all.find((e) => e.correlation_id === id && e.hop === 'gateway')
  if (gateway === undefined) throw new Error(`no gateway exchange ${id}`)
  return { gateway, models: all.filter((e) => e.parent_id === gateway.id).sort((a, b) => a.started_at.localeCompare(b.started_at)) }
}

for (const version of ['2024', '2025'] as const) {
  t.test(`${version}: healthy completions, code streams and chat carry no failure flag, and their model calls link`, async (t) => {
    const { h, modelRequests } = await stack(t, version)
    const endpoint = `${h.url('model')}/v1`
    const gw = `${h.url('gitlab-aigw')}`

    const done = await post(`${gw}/v2/code/completions`, completionBody(endpoint), headers(`ok-${version}`))
    t.equal(done.status, 200, 'a completion')
    const streamed = await post(`${gw}/v2/code/completions`, completionBody(endpoint, { stream: true }), headers(`stream-${version}`))
    t.equal(streamed.status, 200, 'a raw-text code stream')
    t.match(streamed.contentType, /text\/event-stream/)
    t.notMatch(streamed.text, /^data:/m, 'no SSE framing on the gateway\'s code streams')
    const chat = await post(`${gw}/v2/chat/agent`, chatBody(endpoint), headers(`chat-${version}`))
    t.equal(chat.status, 200)
    t.equal(chat.error, null, 'the chat stream ended cleanly')
    const lines = chat.text.trim().split('\n').map((l) => JSON.parse(l) as { type: string, data: Record<string, unknown> })
    t.same(lines.filter((l) => l.type === 'final_answer_delta').map((l) => l.data.text).join(''), 'Use git rebase.', 'the answer after "Final Answer:"')
    t.equal(lines.some((l) => l.type === 'usage'), version === '2025', 'a usage line only from the 2025 gateway')

    for (const id of [`ok-${version}`, `stream-${version}`, `chat-${version}`]) {
      const { gateway, models } = await trace(h, id)
      t.same(gateway.flags, [], `${id}: no flag on the gateway hop`)
      t.equal(gateway.diagnosis, null, `${id}: nothing to diagnose`)
      t.equal(models.length, 1, `${id}: one model call linked`)
      t.same(models[0]?.flags, [], `${id}: no flag on the model hop`)
      t.equal(models[0]?.hop, 'model')
      t.equal(models[0]?.meta.feature, 'chat_completions')
      t.equal(models[0]?.meta.model, SERVED, `${id}: the served name, from the identifier`)
      t.same(models[0]?.link, { method: 'inferred', confidence: 1 }, `${id}: name and endpoint agree, time contains it`)
    }
    const chatGateway = (await trace(h, `chat-${version}`)).gateway
    t.equal(chatGateway.meta.stream_complete, version === '2025' ? true : null, 'the NDJSON chat has no end marker; the 2025 usage line is one')
    if (version === '2025') t.same(chatGateway.meta.usage, { input_tokens: chatGateway.meta.usage?.input_tokens, output_tokens: 5 }, 'usage from the 2025 usage line')

    // The model hop as the gateway calls it (litellm through the OpenAI Python SDK).
    const chatCall = modelRequests().at(-1)!
    t.match(chatCall.headers['user-agent'], version === '2024' ? 'AsyncOpenAI/Python 1.57.0' : 'AsyncOpenAI/Python 2.54.0')
    t.equal(chatCall.headers['x-stainless-lang'], 'python')
    t.equal(chatCall.headers.authorization, version === '2024' ? 'Bearer None' : 'Bearer dummy_key', 'no key: the placeholder each version sends')
    t.equal((await trace(h, `chat-${version}`)).models[0]?.correlation_source, 'minted', 'the gateway sends no correlation id to the model: the proxy mints one')
    t.same(chatCall.body.stream_options, version === '2025' ? { include_usage: true } : undefined, 'only the 2025 chat asks for usage')
  })
}

t.test('the README drop-in: --route gitlab-aigw=… --route model=… records /v1/chat/completions on the model hop and links it', async (t) => {
  const model = await startModelServer({ models: [SERVED] })
  const gateway = await startAiGateway({ retryWaitScale: 0.001 })
  const dir = t.testdir({})
  // The README's step 3, with loopback addresses and ephemeral ports.
  const config = loadConfig({ env: {}, flags: { route: [`gitlab-aigw=127.0.0.1:0=${gateway.url}`, `model=127.0.0.1:0=${model.url}`], admin: '127.0.0.1:0', db: `${dir}/x.db` } })
  t.same(config.routes.map((r) => [r.name, r.hop]), [['gitlab-aigw', 'auto'], ['model', 'model']])
  const proxy = await startProxy(config, createLogger('silent', null))
  t.teardown(async () => {
    await proxy.close()
    await gateway.close()
    await model.close()
  })
  const port = (name: string): number => proxy.routes.find((r) => r.name === name)!.address.port
  const res = await post(`http://127.0.0.1:${port('gitlab-aigw')}/v2/code/completions`, completionBody(`http://127.0.0.1:${port('model')}/v1`), headers('readme'))
  t.equal(res.status, 200)
  await proxy.pipeline.drain()
  const items = ((await (await fetch(`http://127.0.0.1:${proxy.admin!.address.port}/api/exchanges?limit=10`)).json()) as { items: Exchange[] }).items
  const modelCall = items.find((e) => e.route === 'model')!
  const gatewayCall = items.find((e) => e.route === 'gitlab-aigw')!
  t.equal(modelCall.hop, 'model')
  t.equal(modelCall.meta.feature, 'chat_completions')
  t.equal(modelCall.meta.model, SERVED)
  t.equal(modelCall.meta.max_tokens, 64, 'the model metadata of the call')
  t.equal(gatewayCall.meta.feature, 'code_completions')
  t.equal(modelCall.parent_id, gatewayCall.id, 'linked to the GitLab request')

  // Through an auto route too: the OpenAI path is tried before the gateway's.
  const auto = await startHarness({ routes: [{ name: 'both', upstream: model.url }] })
  t.teardown(() => auto.close())
  await post(`${auto.url()}/v1/chat/completions`, JSON.stringify({ model: SERVED, messages: [{ role: 'user', content: 'hi' }] }), { 'content-type': 'application/json' })
  const [onAuto] = await auto.exchanges()
  t.same([onAuto?.hop, onAuto?.meta.feature, onAuto?.meta.model], ['model', 'chat_completions', SERVED], 'an auto route classifies /v1/chat/completions as the model hop')
})

t.test('endpoint without /v1: the gateway\'s bare 500 takes the model hop\'s 404 as its cause', async (t) => {
  const { h } = await stack(t, '2025')
  const noV1 = h.url('model')
  const res = await post(`${h.url('gitlab-aigw')}/v2/code/completions`, completionBody(noV1), headers('no-v1'))
  t.equal(res.status, 500)
  t.equal(res.text, 'Internal Server Error', "Starlette's own 500")
  t.match(res.contentType, /^text\/plain/)
  const { gateway, models } = await trace(h, 'no-v1')
  t.same(gateway.flags, ['upstream_error'])
  t.equal(models.length, 1, 'a 404 is not retried')
  t.same(models[0]?.flags, ['not_found'])
  t.match(models[0]?.diagnosis?.cause, /lacks the \/v1 suffix/)
  t.match(gateway.diagnosis?.cause, /lacks the \/v1 suffix/, 'the gateway hop names the model hop\'s cause')
  t.equal(gateway.diagnosis?.root_cause?.exchange_id, models[0]?.id)
  t.match(gateway.diagnosis?.next_steps.map((l) => l.text).join('\n'), new RegExp(`Set the model endpoint in GitLab to ${noV1}/v1`))
  t.notMatch(gateway.diagnosis?.next_steps.map((l) => l.text).join('\n'), /Route the model endpoint through this proxy/, 'no advice to route what is routed')
})

t.test('without a model route, the bare 500 lists the model-side failures and names the likely one', async (t) => {
  const model = await startModelServer({ models: [SERVED] })
  const gateway = await startAiGateway({ retryWaitScale: 0.001 })
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: gateway.url }] })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
    await model.close()
  })
  await post(`${h.url()}/v2/code/completions`, completionBody(model.url), headers('direct-no-v1'))
  await post(`${h.url()}/v2/code/completions`, completionBody(`${model.url}/v1`, { model_identifier: 'custom_openai/not-served' }), headers('direct-unknown'))
  await post(`${h.url()}/v2/code/completions`, completionBody(`${model.url}/v1`, { model_identifier: '' }), headers('direct-no-identifier'))
  const [noV1] = await h.exchanges('correlation_id=direct-no-v1')
  t.match(noV1?.diagnosis?.cause, /a bare 500\); most likely the model endpoint URL lacks the \/v1 suffix/)
  t.match(noV1?.diagnosis?.next_steps[0]?.text, new RegExp(`Set the model endpoint in GitLab to ${model.url}/v1`))
  const [noIdentifier] = await h.exchanges('correlation_id=direct-no-identifier')
  t.match(noIdentifier?.diagnosis?.cause, /most likely the self-hosted model has no model identifier/)
  t.match(noIdentifier?.diagnosis?.next_steps[0]?.text, /custom_openai\/<served model name>/)
  t.same(model.requests.map((r) => [r.path, (JSON.parse(r.body.toString()) as { model: string }).model]), [['/chat/completions', SERVED], ['/v1/chat/completions', 'not-served']],
    'the model server saw the call without /v1 and the one for an unserved name; none for the request without an identifier')
  const [unknown] = await h.exchanges('correlation_id=direct-unknown')
  t.same(unknown?.flags, ['upstream_error'])
  t.match(unknown?.diagnosis?.cause, /endpoint lacks \/v1, the model name is not served, the model server rejected the API key, or the model timed out/)
  const steps = unknown?.diagnosis?.next_steps.map((l) => l.text).join('\n') ?? ''
  t.match(steps, /Route the model endpoint through this proxy/)
  t.match(steps, /docker logs <ai-gateway-container> .*litellm/)
  t.match(steps, new RegExp(`curl ${model.url}/v1/models`), 'the endpoint as configured, /v1 not doubled')
})

t.test('a model that does not answer: model_timeout on the model hop, the root cause of the gateway\'s 500', async (t) => {
  const { h } = await stack(t, '2024', { modelTimeoutMs: 1500, timeoutsS: [1.5], sdkRetries: 0 })
  const res = await post(`${h.url('gitlab-aigw')}/v2/code/completions`, completionBody(`${h.url('model')}/v1`), headers('hang', { 'x-sim-model-fault': 'hang' }))
  t.equal(res.status, 500)
  const { gateway, models } = await trace(h, 'hang')
  t.equal(models.length, 1)
  t.same(models[0]?.flags, ['client_aborted', 'timeout', 'model_timeout'])
  t.match(models[0]?.diagnosis?.cause, /did not answer within the AI gateway's 1.5 s model timeout/)
  t.match(models[0]?.diagnosis?.next_steps.map((l) => l.text).join('\n'), /max_tokens/)
  t.match(gateway.diagnosis?.cause, /model timeout/)
  t.equal(gateway.diagnosis?.root_cause?.exchange_id, models[0]?.id)
})

t.test('chat: the error event then the dropped connection is stream_error, with the model\'s failure as root cause', async (t) => {
  const { h } = await stack(t, '2025')
  const res = await post(`${h.url('gitlab-aigw')}/v2/chat/agent`, chatBody(`${h.url('model')}/v1`, 'custom_openai/not-served'), headers('chat-404'))
  t.equal(res.status, 200)
  t.ok(res.error, 'the connection dropped after the error line')
  const { gateway, models } = await trace(h, 'chat-404')
  t.same(gateway.flags, ['stream_aborted', 'stream_error'])
  t.match(gateway.meta.stream_error, /litellm\.NotFoundError: NotFoundError: Custom_openaiException - The model `not-served` does not exist\./)
  t.equal(models.length, 1)
  t.same(models[0]?.flags, ['not_found'])
  t.match(models[0]?.diagnosis?.cause, /does not serve a model named "not-served"/)
  t.match(gateway.diagnosis?.cause, /does not serve a model named "not-served"/)
  t.match(gateway.diagnosis?.evidence.map((l) => l.text).join('\n'), /error event: litellm\.NotFoundError/)
  t.equal(gateway.diagnosis?.root_cause?.exchange_id, models[0]?.id)
})

t.test('2025 retries: every attempt links to the one gateway request, and the trace numbers them', async (t) => {
  const { h } = await stack(t, '2025')
  const res = await post(`${h.url('gitlab-aigw')}/v2/chat/agent`, chatBody(`${h.url('model')}/v1`), headers('retried', { 'x-sim-model-fault': 'status:503' }))
  t.equal(res.status, 200)
  const { gateway, models } = await trace(h, 'retried')
  t.equal(models.length, 3, 'the OpenAI SDK inside litellm tries a 503 three times')
  t.ok(models.every((m) => m.flags.includes('upstream_error')))
  t.ok(models.every((m) => m.link?.method === 'inferred' && m.link.confidence === 1), 'each attempt linked with full confidence')
  t.match(gateway.diagnosis?.evidence.map((l) => l.text).join('\n'), /called the model 3 times for this request \(it retried\)/)
  const tr = (await (await fetch(`${h.adminUrl}/api/traces/retried`)).json()) as Trace
  t.same(tr.roots[0]?.children.map((c) => c.attempt), [1, 2, 3])
})

t.test('the gateway\'s own refusals: 422 field errors, Duo Core, expired token', async (t) => {
  const old = await stack(t, '2024', { jwt: true })
  await post(`${old.h.url('gitlab-aigw')}/v2/code/completions`, completionBody(`${old.h.url('model')}/v1`, { model_name: 'llama4' }), headers('bad-family'))
  const [bad] = await old.h.exchanges('correlation_id=bad-family')
  t.same(bad?.flags, ['client_error'])
  t.match(bad?.diagnosis?.cause, /does not accept the self-hosted model's .*model_name: Value error, model llama4 is not supported by use case code completions and provider litellm/)

  const neu = await stack(t, '2025', { jwt: true })
  const coreOnly = gatewayClaims({ scopes: ['duo_chat'] })
  const core = await post(`${neu.h.url('gitlab-aigw')}/v2/chat/agent`, chatBody(`${neu.h.url('model')}/v1`), { ...gitlabHeaders(signJwt(coreOnly, keys.privateKey), coreOnly), 'x-request-id': 'core' })
  t.equal(core.status, 403)
  const [coreEx] = await neu.h.exchanges('correlation_id=core')
  t.match(coreEx?.diagnosis?.cause, /Duo Core only, and Duo Core no longer gives access to classic Duo Chat/)
  const invalid = await post(`${neu.h.url('gitlab-aigw')}/v2/code/completions`, '{"current_file": 1}', headers('invalid-2025'))
  t.equal(invalid.text, '{"detail":"Validation error"}')
  t.equal(neu.gatewayRequests() > 0, true)
})

t.test('each model server in its own words: vLLM, LiteLLM and Ollama failures behind the gateway', async (t) => {
  const gateway = await startAiGateway({ retryWaitScale: 0.001 })
  const vllm = await startModelServer({ flavor: 'vllm', models: [SERVED], apiKey: 'sk-vllm-key-0123456789abcdef' })
  const litellm = await startModelServer({ flavor: 'litellm', models: [SERVED] })
  const ollama = await startModelServer({ flavor: 'ollama', models: [SERVED] })
  const h = await startHarness({
    routes: [
      { name: 'gitlab-aigw', upstream: gateway.url },
      { name: 'vllm', upstream: vllm.url, hop: 'model' },
      { name: 'litellm', upstream: litellm.url, hop: 'model' },
      { name: 'ollama', upstream: ollama.url, hop: 'model' }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await Promise.all([gateway.close(), vllm.close(), litellm.close(), ollama.close()])
  })
  const gw = `${h.url('gitlab-aigw')}/v2/code/completions`
  // No API key in GitLab: the 2025 gateway sends its placeholder, which vLLM --api-key refuses.
  await post(gw, completionBody(`${h.url('vllm')}/v1`, { model_api_key: '' }), headers('vllm-key'))
  await post(gw, completionBody(`${h.url('litellm')}/v1`, { model_identifier: 'custom_openai/not-served' }), headers('litellm-model'))
  await post(gw, completionBody(`${h.url('ollama')}/v1`, { model_identifier: 'custom_openai/not-served' }), headers('ollama-model'))
  await post(gw, completionBody(h.url('ollama')), headers('ollama-no-v1'))

  const key = await trace(h, 'vllm-key')
  t.same(key.models[0]?.flags, ['unauthorized'])
  t.match(key.models[0]?.diagnosis?.cause, /requires an API key, and none is configured in GitLab: the gateway sent its placeholder "dummy_key"/)
  t.match(key.gateway.diagnosis?.cause, /placeholder "dummy_key"/, 'the gateway\'s 500 takes it as its cause')
  t.notMatch(key.models[0]?.diagnosis?.next_steps.map((l) => l.text).join('\n'), /Duo seat/, 'not the GitLab seat checks: this is the model server\'s key')

  const lite = await trace(h, 'litellm-model')
  t.equal(lite.models[0]?.status, 400, 'the LiteLLM proxy answers an unknown model with 400')
  t.match(lite.models[0]?.diagnosis?.cause, /does not serve a model named "not-served"/)
  t.match(lite.gateway.diagnosis?.cause, /does not serve a model named "not-served"/)

  const oll = await trace(h, 'ollama-model')
  t.same(oll.models[0]?.flags, ['not_found'])
  t.match(oll.models[0]?.diagnosis?.cause, /does not serve a model named "not-served"/)
  const noV1 = await trace(h, 'ollama-no-v1')
  t.equal(noV1.models[0]?.response?.content_type?.startsWith('text/plain'), true, 'Ollama\'s 404 is text')
  t.match(noV1.models[0]?.diagnosis?.cause, /lacks the \/v1 suffix/)
  t.match(noV1.gateway.diagnosis?.cause, /lacks the \/v1 suffix/)
})
