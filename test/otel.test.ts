/**
 * OpenTelemetry export (issue 16), checked with a local OTLP/HTTP receiver that decodes every
 * request with the real OTLP schema (test/helpers/otlp-receiver.ts): real traffic on both hops
 * (the 2025 AI gateway simulator and a vLLM-flavoured model server through the proxy), then the
 * spans' kinds, names, HTTP and GenAI attributes and parentage against the semantic conventions.
 */
import { createServer } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type { Logger } from '../src/log/logger.js'
import { ExchangeSpanExporter } from '../src/otel/exporter.js'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { placementOf, providerName, routeTemplate, toSpans } from '../src/otel/spans.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { startModelServer } from './fixtures/model-server.js'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { decodeOtlpJson, type DecodedSpan, SPAN_KIND, startOtlpReceiver, STATUS } from './helpers/otlp-receiver.js'
import { startHarness } from './helpers/proxy-harness.js'

const SERVED = 'Mistral-7B-Instruct-v0.3'
/** A model that follows the ReAct format Duo Chat's prompt asks for: 5 pieces, 5 completion tokens. */
const REACT_ANSWER = ['Thought: I can answer directly.\n', 'Final Answer: ', 'Use ', 'git ', 'rebase.']
const EMBED_MODEL = 'nomic-embed-text'

/** What GitLab sends for a self-hosted code completion (ai_gateway_code_completion_message.rb). */
function completionBody (endpoint: string, identifier = `custom_openai/${SERVED}`): string {
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
    model_identifier: identifier
  })
}

/** What GitLab sends for Duo Chat (ee/lib/gitlab/duo/chat/react_executor.rb step_params). */
function chatBody (endpoint: string): string {
  return JSON.stringify({
    messages: [{ role: 'user', content: 'How do I squash commits?', context: null, current_file: null, additional_context: [] }],
    model_metadata: { provider: 'openai', name: 'mistral', endpoint, api_key: '', identifier: `custom_openai/${SERVED}` },
    unavailable_resources: ['Pipelines', 'Vulnerabilities']
  })
}

async function post (url: string, body: string, headers: Record<string, string>): Promise<number> {
  const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'user-agent': 'gitlab-workhorse/17.11', ...headers } })
  await res.body.text().catch(() => '')
  return res.statusCode
}

/** An OpenAI-compatible embeddings server (the simulators serve chat and completions only). */
async function startEmbeddingsServer (): Promise<{ url: string, close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      // https://platform.openai.com/docs/api-reference/embeddings/create: the embedding object list.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.0023, -0.0093, 0.0151] }],
        model: EMBED_MODEL,
        usage: { prompt_tokens: 8, total_tokens: 8 }
      }))
    })
  })
  const port = await listenEphemeral(server)
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) }
}

const attr = (s: DecodedSpan | undefined, key: string): unknown => s?.attributes[key]

t.test('real traffic on both hops: SERVER and CLIENT spans per exchange, GenAI client spans on the model hop, model calls children of their gateway request', async (t) => {
  const receiver = await startOtlpReceiver()
  const model = await startModelServer({ models: [SERVED], completion: REACT_ANSWER })
  const gateway = await startAiGateway({ version: '2025', retryWaitScale: 0.001 })
  const embed = await startEmbeddingsServer()
  // Nothing listens there: the proxy answers 502 itself.
  const gone = createServer()
  const gonePort = await listenEphemeral(gone)
  await closeServer(gone)
  const h = await startHarness({
    routes: [
      { name: 'gitlab-aigw', upstream: gateway.url },
      { name: 'model', upstream: model.url, hop: 'model' },
      { name: 'embed', upstream: embed.url, hop: 'model' },
      { name: 'dead', upstream: `http://127.0.0.1:${gonePort}`, hop: 'gateway' }
    ],
    extra: { otel: { enabled: true, endpoint: receiver.url, hold_ms: 1500 } }
  })
  t.teardown(async () => {
    await h.close()
    await Promise.all([gateway.close(), model.close(), embed.close(), closeServer(receiver.server)])
  })
  const gw = h.url('gitlab-aigw')
  const endpoint = `${h.url('model')}/v1`
  const callerTrace = '0af7651916cd43dd8448eb211c80319c'
  const callerSpan = 'b7ad6b7169203331'

  const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30))
  // Unlinked model calls and gateway requests that name no model first, apart: linking infers
  // from time containment (5 ms of slack), so nothing else may run close to them.
  t.equal(await post(`${h.url('embed')}/v1/embeddings`, JSON.stringify({ model: EMBED_MODEL, input: 'embed this secret sentence' }), { 'x-request-id': 'otel-embed' }), 200, 'embeddings')
  await pause()
  t.equal(await post(`${h.url('dead')}/v2/code/completions`, '{}', { 'x-request-id': 'otel-dead' }), 502, 'connection refused: the proxy answers 502')
  await pause()
  /**
   * A gateway request and the model call linked to it. Linking is capture/link.ts's (tested in
   * link.test.ts and real-gateway.test.ts); on a loaded machine the proxy can record the model
   * call ending after the gateway request it was made for (one event loop for the proxy, the
   * simulators and the test), and the link is not made. Such a request is sent again: what is
   * tested here is how linked exchanges become spans.
   */
  const linked = async (id: string, send: (id: string) => Promise<number>, status: number, what: string): Promise<{ gateway: Exchange, model: Exchange }> => {
    for (let attempt = 1; ; attempt++) {
      const cid = attempt === 1 ? id : `${id}-again-${attempt}`
      t.equal(await send(cid), status, what)
      await pause()
      const all = await h.exchanges()
      const gatewayEx = all.find((e) => e.correlation_id === cid && e.hop === 'gateway')
      const modelEx = all.find((e) => gatewayEx !== undefined && e.parent_id === gatewayEx.id)
      if (gatewayEx !== undefined && modelEx !== undefined) return { gateway: gatewayEx, model: modelEx }
      if (attempt === 3) throw new Error(`${id}: no model call linked in 3 attempts`)
      t.comment(`${cid}: its model call was not linked (timing under load); sending it again`)
    }
  }
  const chat = await linked('otel-chat', (id) => post(`${gw}/v2/code/completions`, completionBody(endpoint), { 'x-request-id': id, traceparent: `00-${callerTrace}-${callerSpan}-01` }), 200, 'a code completion (chat completions on the model hop)')
  const text = await linked('otel-text', (id) => post(`${gw}/v2/code/completions`, completionBody(endpoint, `text-completion-openai/${SERVED}`), { 'x-request-id': id }), 200, 'a code completion through text-completion-openai (legacy completions)')
  const duo = await linked('otel-duo-chat', (id) => post(`${gw}/v2/chat/agent`, chatBody(endpoint), { 'x-request-id': id }), 200, 'Duo Chat (a streamed chat completion)')
  const noV1 = await linked('otel-no-v1', (id) => post(`${gw}/v2/code/completions`, completionBody(h.url('model')), { 'x-request-id': id }), 500, 'an endpoint without /v1: the model 404s, the gateway 500s')

  const exchanges = await h.exchanges()
  const expected = exchanges.length * 2
  t.ok(await receiver.waitFor((s) => s.length >= expected, 8_000), `every exchange's two spans arrived (${receiver.spans.length} of ${expected})`)
  t.same(receiver.problems, [], 'every export decoded against the OTLP schema, nothing lost or mistyped')
  const spans = receiver.spans
  t.equal(spans.length, expected)
  t.equal(new Set(spans.map((s) => `${s.traceId}/${s.spanId}`)).size, spans.length, 'span ids are unique')
  t.ok(spans.every((s) => s.resource['service.name'] === 'duo-diag-proxy' && typeof s.resource['service.version'] === 'string'), 'service.name and service.version on every resource')
  t.ok(spans.every((s) => s.scope.name === 'duo-diag-proxy'), 'instrumentation scope')
  t.ok(spans.every((s) => s.endTimeUnixNano >= s.startTimeUnixNano && s.startTimeUnixNano > 1_600_000_000_000_000_000n), 'timestamps in ns')

  // Each exchange: one SERVER span and one CLIENT child, per the HTTP conventions.
  const serverOf = (ex: Exchange): DecodedSpan | undefined => spans.find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['duo_diag.exchange_id'] === ex.id)
  const clientOf = (ex: Exchange): DecodedSpan | undefined => spans.find((s) => s.kind === SPAN_KIND.CLIENT && s.attributes['duo_diag.exchange_id'] === ex.id)
  for (const ex of exchanges) {
    const server = serverOf(ex)
    const client = clientOf(ex)
    const what = `${ex.correlation_id} ${ex.route} ${ex.path}`
    t.ok(server !== undefined && client !== undefined, `${what}: a SERVER and a CLIENT span`)
    if (server === undefined || client === undefined) continue
    t.equal(client.traceId, server.traceId, `${what}: CLIENT in the SERVER span's trace`)
    t.equal(client.parentSpanId, server.spanId, `${what}: CLIENT a child of SERVER`)
    // HTTP server span: required and recommended attributes.
    t.equal(attr(server, 'http.request.method'), ex.method, `${what}: http.request.method`)
    t.equal(attr(server, 'url.path'), ex.path)
    t.equal(attr(server, 'url.scheme'), 'http')
    t.equal(attr(server, 'server.address'), '127.0.0.1', `${what}: server.address from Host`)
    t.type(attr(server, 'server.port'), 'number')
    t.equal(attr(server, 'client.address'), '127.0.0.1')
    t.equal(attr(server, 'network.peer.address'), '127.0.0.1')
    t.equal(attr(server, 'network.protocol.version'), '1.1')
    const route = attr(server, 'http.route')
    t.equal(server.name, route === undefined ? ex.method : `${ex.method} ${String(route)}`, `${what}: SERVER named {method} {http.route}`)
    // HTTP client span: required attributes.
    t.equal(attr(client, 'http.request.method'), ex.method)
    const upstream = new URL(ex.upstream)
    t.equal(attr(client, 'server.address'), upstream.hostname, `${what}: server.address is the upstream's`)
    t.equal(attr(client, 'server.port'), Number(upstream.port))
    t.equal(attr(client, 'url.full'), ex.upstream)
    t.equal(attr(client, 'network.protocol.version'), '1.1')
    t.equal(attr(client, 'http.response.status_code'), ex.status ?? undefined, `${what}: the upstream's status, when there was one`)
    t.not(client.events.length === 0, ex.timings.ttfb_ms !== null, 'a first_byte event when headers came')
    if (ex.parent_id !== null) {
      const parent = exchanges.find((e) => e.id === ex.parent_id)
      t.equal(server.traceId, parent === undefined ? undefined : clientOf(parent)?.traceId, `${what}: linked, so in its gateway request's trace`)
      t.equal(server.parentSpanId, parent === undefined ? undefined : clientOf(parent)?.spanId, `${what}: a child of its gateway request's CLIENT span`)
    } else if (ex.hop === 'model') {
      t.equal(server.parentSpanId, undefined, `${what}: never linked, sent as a root`)
    }
  }

  // A code completion: caller's traceparent honoured, model call a child of the gateway call.
  const { gateway: chatGw, model: chatModel } = chat
  const gwServer = serverOf(chatGw)!
  const gwClient = clientOf(chatGw)!
  const modelServer = serverOf(chatModel)!
  const modelClient = clientOf(chatModel)!
  t.equal(gwServer.traceId, callerTrace, "the caller's trace")
  t.equal(gwServer.parentSpanId, callerSpan, "a child of the caller's span")
  t.equal(gwServer.name, 'POST /v2/code/completions')
  t.equal(attr(gwServer, 'http.route'), '/v2/code/completions')
  t.equal(attr(gwServer, 'http.response.status_code'), 200)
  t.equal(attr(gwServer, 'user_agent.original'), 'gitlab-workhorse/17.11')
  t.equal(attr(gwServer, 'gitlab.correlation_id'), chatGw.correlation_id)
  t.equal(gwServer.status.code, STATUS.UNSET, 'a 200: status unset')
  t.equal(attr(gwServer, 'error.type'), undefined)
  t.equal(gwClient.name, 'POST /v2/code/completions', 'the gateway call: {method} {url.template}')
  t.equal(attr(gwClient, 'url.template'), '/v2/code/completions')
  t.equal(attr(gwServer, 'duo_diag.model.name'), 'mistral', "GitLab's model family, outside gen_ai.*")
  t.equal(attr(gwClient, 'gen_ai.operation.name'), undefined, 'the gateway hop is no GenAI client span')
  t.equal(attr(gwServer, 'gen_ai.request.model'), undefined)
  t.equal(modelServer.traceId, gwServer.traceId, 'the model call: the same trace')
  t.equal(modelServer.parentSpanId, gwClient.spanId, "a child of the gateway hop's CLIENT span (the call it happened inside)")
  t.equal(modelServer.name, 'POST /v1/chat/completions')
  t.equal(attr(modelServer, 'user_agent.original'), 'AsyncOpenAI/Python 2.54.0', 'the caller is the gateway\'s OpenAI SDK')
  t.equal(attr(modelServer, 'duo_diag.link.method'), 'inferred')
  t.equal(attr(modelServer, 'duo_diag.parent_exchange_id'), chatGw.id)
  // The GenAI inference span.
  t.equal(modelClient.name, `chat ${SERVED}`, '{gen_ai.operation.name} {gen_ai.request.model}')
  t.equal(modelClient.kind, SPAN_KIND.CLIENT)
  t.equal(attr(modelClient, 'gen_ai.operation.name'), 'chat')
  t.equal(attr(modelClient, 'gen_ai.provider.name'), 'openai', 'an OpenAI-compatible self-hosted server')
  t.equal(attr(modelClient, 'openai.api.type'), 'chat_completions')
  t.equal(attr(modelClient, 'gen_ai.request.model'), SERVED)
  t.equal(attr(modelClient, 'gen_ai.response.model'), SERVED, "the response's model")
  t.match(attr(modelClient, 'gen_ai.response.id'), /^chatcmpl-[0-9a-f]{32}$/, "vLLM's response id")
  t.equal(attr(modelClient, 'gen_ai.usage.input_tokens'), chatModel.meta.usage?.prompt_tokens, 'usage.prompt_tokens')
  t.ok((attr(modelClient, 'gen_ai.usage.input_tokens') as number) > 0)
  t.equal(attr(modelClient, 'gen_ai.usage.output_tokens'), REACT_ANSWER.length, 'usage.completion_tokens: one per piece')
  t.same(attr(modelClient, 'gen_ai.response.finish_reasons'), ['stop'])
  t.equal(attr(modelClient, 'gen_ai.request.max_tokens'), 64, "the 2025 gateway's code completion parameters")
  t.equal(attr(modelClient, 'gen_ai.request.temperature'), 0)
  t.equal(attr(modelClient, 'gen_ai.request.stream'), undefined, 'not streamed: left out')
  t.equal(attr(modelClient, 'url.template'), '/v1/chat/completions')
  t.equal(attr(modelClient, 'server.port'), Number(new URL(model.url).port), 'the model server behind the proxy')

  // Legacy completions: text_completion.
  const { gateway: textGw, model: textModel } = text
  const textClient = clientOf(textModel)!
  t.equal(textModel.path, '/v1/completions')
  t.equal(serverOf(textModel)?.name, 'POST /v1/completions')
  t.equal(textClient.name, `text_completion ${SERVED}`)
  t.equal(attr(textClient, 'gen_ai.operation.name'), 'text_completion')
  t.match(attr(textClient, 'gen_ai.response.id'), /^cmpl-/)
  t.equal(attr(textClient, 'gen_ai.usage.output_tokens'), REACT_ANSWER.length)
  t.equal(attr(textClient, 'openai.api.type'), undefined, 'only chat completions have a well-known openai.api.type')
  t.equal(serverOf(textModel)?.traceId, serverOf(textGw)?.traceId, 'no traceparent from GitLab: still one trace for both hops')
  t.equal(serverOf(textModel)?.parentSpanId, clientOf(textGw)?.spanId)
  t.equal(serverOf(textGw)?.parentSpanId, undefined, 'the gateway request is the root')

  // Duo Chat: a streamed chat completion, usage from the stream's last chunk.
  const { gateway: duoGw, model: duoModel } = duo
  const duoClient = clientOf(duoModel)!
  t.equal(serverOf(duoGw)?.name, 'POST /v2/chat/agent')
  t.equal(attr(duoClient, 'gen_ai.request.stream'), true)
  t.equal(attr(duoClient, 'gen_ai.usage.output_tokens'), REACT_ANSWER.length, 'from the include_usage chunk')
  t.type(attr(duoClient, 'gen_ai.usage.input_tokens'), 'number')
  t.same(attr(duoClient, 'gen_ai.response.finish_reasons'), ['stop'])
  t.same(attr(duoClient, 'gen_ai.request.stop_sequences'), ['Observation:'])
  t.equal(attr(duoClient, 'gen_ai.request.max_tokens'), 8192)
  t.equal(attr(duoClient, 'gen_ai.response.model'), SERVED, 'from the stream chunks')
  t.match(attr(duoClient, 'gen_ai.response.id'), /^chatcmpl-/)
  t.equal(serverOf(duoModel)?.parentSpanId, clientOf(duoGw)?.spanId)

  // An endpoint without /v1: statuses per span kind.
  const { gateway: noV1Gw, model: noV1Model } = noV1
  const noV1GwServer = serverOf(noV1Gw)!
  t.equal(noV1GwServer.status.code, STATUS.ERROR, 'a 5xx: the SERVER span is an error')
  t.equal(attr(noV1GwServer, 'error.type'), '500', 'error.type: the status code')
  t.match(noV1GwServer.status.message, /lacks the \/v1 suffix/, "the description: the diagnosis, naming the model hop's cause")
  t.match(attr(noV1GwServer, 'duo_diag.diagnosis.root_cause'), /lacks the \/v1 suffix/)
  t.equal(clientOf(noV1Gw)?.status.code, STATUS.ERROR)
  const noV1ModelServer = serverOf(noV1Model)!
  const noV1ModelClient = clientOf(noV1Model)!
  t.equal(noV1ModelServer.parentSpanId, clientOf(noV1Gw)?.spanId, 'the failing call is a child of its gateway request too')
  t.equal(noV1ModelServer.name, 'POST /chat/completions', 'the path as called: the missing /v1 shows')
  t.equal(attr(noV1ModelServer, 'http.response.status_code'), 404)
  t.equal(noV1ModelServer.status.code, STATUS.UNSET, 'a 4xx leaves a SERVER span unset')
  t.equal(attr(noV1ModelServer, 'error.type'), undefined)
  t.equal(noV1ModelClient.status.code, STATUS.ERROR, 'and makes a CLIENT span an error')
  t.equal(attr(noV1ModelClient, 'error.type'), '404')
  t.equal(noV1ModelClient.name, `chat ${SERVED}`, 'still a GenAI span')
  t.match(noV1ModelClient.status.message, /lacks the \/v1 suffix/)
  t.same(attr(noV1ModelServer, 'duo_diag.flags'), ['not_found'])

  // Embeddings (no gateway request: a root).
  const embedEx = exchanges.find((e) => e.correlation_id === 'otel-embed')!
  const embedClient = clientOf(embedEx)!
  t.equal(serverOf(embedEx)?.name, 'POST /v1/embeddings')
  t.equal(serverOf(embedEx)?.parentSpanId, undefined, 'unlinked after otel.hold_ms: sent as a root')
  t.equal(embedClient.name, `embeddings ${EMBED_MODEL}`)
  t.equal(attr(embedClient, 'gen_ai.operation.name'), 'embeddings')
  t.equal(attr(embedClient, 'gen_ai.request.model'), EMBED_MODEL)
  t.equal(attr(embedClient, 'gen_ai.response.model'), EMBED_MODEL)
  t.equal(attr(embedClient, 'gen_ai.usage.input_tokens'), 8)
  t.equal(attr(embedClient, 'gen_ai.usage.output_tokens'), undefined, 'embeddings have no output tokens')
  t.equal(attr(embedClient, 'gen_ai.response.finish_reasons'), undefined)

  // Connection refused: the proxy answered.
  const deadEx = exchanges.find((e) => e.correlation_id === 'otel-dead')!
  const deadServer = serverOf(deadEx)!
  const deadClient = clientOf(deadEx)!
  t.equal(attr(deadServer, 'http.response.status_code'), 502, "the proxy's own answer")
  t.equal(deadServer.status.code, STATUS.ERROR)
  t.equal(attr(deadServer, 'error.type'), 'connection_refused', 'a documented flag as error.type')
  t.equal(attr(deadClient, 'http.response.status_code'), undefined, 'no response came')
  t.equal(attr(deadClient, 'error.type'), 'connection_refused')
  t.equal(deadClient.status.code, STATUS.ERROR)

  // Metadata only: no prompt, answer or key text in any span.
  const wire = receiver.bodies.join('\n')
  for (const text of ['def add', 'squash', 'Final Answer', 'rebase', 'embed this secret', 'sk-planted', 'I can answer']) t.notOk(wire.includes(text), `no "${text}" in the spans`)
})

t.test('a dead collector costs spans, never traffic', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }], extra: { otel: { enabled: true, endpoint: 'http://127.0.0.1:9/v1/traces' } } })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  for (let i = 0; i < 5; i++) {
    const r = await request(`${h.url()}/v1/models`)
    t.equal(r.statusCode, 200)
    await r.body.text()
  }
  t.equal((await h.exchanges()).length, 5, 'and capture went on')
})

t.test('otel.start_traces: a request without a traceparent gets one; the upstream sees the proxy\'s CLIENT span as its parent', async (t) => {
  const receiver = await startOtlpReceiver()
  // The upstream notes the traceparent of each request, by correlation id.
  const seen = new Map<string, string | undefined>()
  const upstream = createServer((req, res) => {
    const tp = req.headers.traceparent
    seen.set(String(req.headers['x-request-id']), Array.isArray(tp) ? tp.join(' | ') : tp)
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'))
  })
  const upstreamPort = await listenEphemeral(upstream)
  const otel = { enabled: true, endpoint: receiver.url, hold_ms: 0 }
  const on = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: `http://127.0.0.1:${upstreamPort}` }], extra: { otel: { ...otel, start_traces: true } } })
  const off = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: `http://127.0.0.1:${upstreamPort}` }], extra: { otel } })
  t.teardown(async () => {
    await Promise.all([on.close(), off.close()])
    await Promise.all([closeServer(receiver.server), closeServer(upstream)])
  })
  const send = async (base: string, id: string, headers: Record<string, string> = {}): Promise<void> => {
    const res = await request(`${base}/v2/code/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id, ...headers }, body: '{}' })
    await res.body.text()
  }
  const callers = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  await send(on.url(), 'started-1')
  await send(on.url(), 'started-2')
  await send(on.url(), 'kept-1', { traceparent: callers })
  await send(off.url(), 'off-1')
  await Promise.all([on.exchanges(), off.exchanges()])
  t.ok(await receiver.waitFor((s) => s.length >= 8), 'two spans per exchange')
  t.same(receiver.problems, [])

  const of = (id: string, kind: number): DecodedSpan | undefined => receiver.spans.find((s) => s.attributes['gitlab.correlation_id'] === id && s.kind === kind) ??
    receiver.spans.find((s) => s.kind === kind && s.parentSpanId !== undefined && receiver.spans.some((p) => p.spanId === s.parentSpanId && p.attributes['gitlab.correlation_id'] === id))
  const started = seen.get('started-1')
  t.match(started, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'the upstream got a traceparent')
  t.not(seen.get('started-2'), started, 'each request its own trace')
  const server = of('started-1', SPAN_KIND.SERVER)
  const client = of('started-1', SPAN_KIND.CLIENT)
  t.ok(server && client, 'its spans were exported')
  t.equal(server?.traceId, started?.split('-')[1], "the spans' trace is the one the upstream was given")
  t.equal(server?.parentSpanId, undefined, 'the SERVER span is the root')
  t.equal(client?.spanId, started?.split('-')[2], 'the upstream was told the CLIENT span is its parent')
  t.equal(client?.parentSpanId, server?.spanId)
  t.equal(seen.get('kept-1'), callers, "a caller's traceparent is forwarded untouched, no second one added")
  t.equal(of('kept-1', SPAN_KIND.SERVER)?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.equal(of('kept-1', SPAN_KIND.SERVER)?.parentSpanId, '00f067aa0ba902b7')
  t.equal(seen.get('off-1'), undefined, 'off by default: nothing added')
  t.ok(seen.has('off-1'))
})

/** An exchange built by hand, for the exporter's batching. */
function exchange (id: string, hop: 'gateway' | 'model', over: Partial<Exchange> = {}): Exchange {
  return {
    id,
    proxy_instance: 'test',
    route: hop === 'gateway' ? 'gitlab-aigw' : 'model',
    hop,
    correlation_id: `c-${id}`,
    correlation_source: 'minted',
    original_correlation_id: null,
    started_at: new Date(1_800_000_000_000).toISOString(),
    method: 'POST',
    path: hop === 'gateway' ? '/v2/code/completions' : '/v1/chat/completions',
    query: '',
    status: 200,
    flags: [],
    timings: { ttfb_ms: 5, duration_ms: 50 },
    request: { headers: { host: 'proxy:5052' }, bytes: 10, content_type: 'application/json' },
    response: null,
    client_ip: '10.0.0.9',
    upstream: hop === 'gateway' ? 'http://aigw:5052/v2/code/completions' : 'http://vllm:8000/v1/chat/completions',
    error: null,
    proxy_answered: false,
    upgraded: false,
    meta: hop === 'gateway' ? { feature: 'code_completions' } : { feature: 'chat_completions', model: 'm1', usage: { prompt_tokens: 3, completion_tokens: 4 }, finish_reason: 'length' },
    diagnosis: null,
    parent_id: null,
    link: null,
    ...over
  }
}

const silent = { info () {}, warn () {}, error () {}, debug () {} } as unknown as Logger

t.test('the exporter: a model call sent in a later batch than its gateway request still names it as parent; an unlinked one goes as a root after hold_ms', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => closeServer(receiver.server))
  const exporter = new ExchangeSpanExporter({ endpoint: receiver.url, headers: {}, serviceName: 'duo-diag-proxy', maxQueue: 100, holdMs: 1_000 }, silent)
  const now = 1_800_000_000_000
  const gw = exchange('0000000000000000000000a1', 'gateway')
  const child = exchange('0000000000000000000000b1', 'model', { parent_id: gw.id, link: { method: 'inferred', confidence: 1 } })
  const orphan = exchange('0000000000000000000000b2', 'model')
  // The gateway call's spans go first (its child was not seen yet: it is linked later).
  exporter.onBatch([gw], [], now)
  t.ok(await receiver.waitFor((s) => s.length >= 2), 'the gateway request, sent')
  exporter.onBatch([orphan], [], now)
  exporter.onBatch([child], [], now)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(receiver.spans.length, 2, 'model calls are held until linked')
  // The link arrives with a later batch.
  exporter.onBatch([], [{ child, parent: gw }], now + 10)
  t.ok(await receiver.waitFor((s) => s.length >= 4))
  const gwClient = receiver.spans.find((s) => s.kind === SPAN_KIND.CLIENT && s.attributes['duo_diag.exchange_id'] === gw.id)!
  const childServer = receiver.spans.find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['duo_diag.exchange_id'] === child.id)!
  t.equal(childServer.traceId, gwClient.traceId, 'same trace')
  t.equal(childServer.parentSpanId, gwClient.spanId, "the gateway hop's CLIENT span as parent, sent three batches earlier")
  t.same(placementOf(child, gw), { traceId: gwClient.traceId, parentSpanId: gwClient.spanId }, 'derived from the exchanges alone')
  const childClient = receiver.spans.find((s) => s.kind === SPAN_KIND.CLIENT && s.attributes['duo_diag.exchange_id'] === child.id)!
  t.same(childClient.attributes['gen_ai.response.finish_reasons'], ['length'])
  t.equal(childClient.attributes['server.address'], 'vllm')
  t.equal(childClient.attributes['server.port'], 8000)
  t.equal(childClient.attributes['gen_ai.provider.name'], 'openai')
  const gwServer = receiver.spans.find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['duo_diag.exchange_id'] === gw.id)!
  t.equal(gwServer.attributes['server.address'], 'proxy', 'SERVER: the Host the caller addressed')
  t.equal(gwServer.attributes['server.port'], 5052)
  t.equal(gwServer.attributes['client.address'], '10.0.0.9')

  exporter.tick(now + 1_001)
  t.ok(await receiver.waitFor((s) => s.length >= 6), 'the orphan, after hold_ms')
  const orphanServer = receiver.spans.find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['duo_diag.exchange_id'] === orphan.id)!
  t.equal(orphanServer.parentSpanId, undefined, 'a root')
  t.same(receiver.problems, [])
  await exporter.close()
})

t.test('placement: propagation beats inference; a model call in another trace links to its gateway request', async (t) => {
  const gw = exchange('0000000000000000000000a2', 'gateway')
  const own = '00-11111111111111111111111111111111-2222222222222222-01'
  const child = exchange('0000000000000000000000b3', 'model', { request: { headers: { traceparent: own }, bytes: 0, content_type: null }, link: { method: 'inferred', confidence: 0.5 } })
  const p = placementOf(child, gw)
  t.equal(p.traceId, '11111111111111111111111111111111', 'its own trace')
  t.equal(p.parentSpanId, '2222222222222222', 'its own parent')
  t.equal(p.links?.length, 1)
  t.equal(p.links?.[0]?.context.traceId, placementOf(gw).traceId, 'a link to the gateway request')
  t.same(p.links?.[0]?.attributes, { 'duo_diag.link.method': 'inferred', 'duo_diag.link.confidence': 0.5 })
  // The proxy started a trace on the model call before the link was known (otel.start_traces).
  const told = '00-33333333333333333333333333333333-4444444444444444-01'
  const startedChild = exchange('0000000000000000000000b4', 'model', { trace_started: told })
  t.equal(placementOf(startedChild).traceId, '33333333333333333333333333333333', 'unlinked: the trace it started')
  t.equal(placementOf(startedChild, gw).traceId, placementOf(gw).traceId, "linked: the gateway request's trace")
  const [server, client] = toSpans(startedChild, placementOf(startedChild, gw), resourceFromAttributes({}))
  t.equal(client?.parentSpanContext?.spanId, server?.spanContext().spanId)
  t.not(client?.spanContext().spanId, '4444444444444444', 'the id the upstream was told belongs to the other trace')
  t.same(client?.links.map((l) => [l.context.traceId, l.context.spanId]), [['33333333333333333333333333333333', '4444444444444444']], "a link to where the model server's own spans are")
  t.same(toSpans(startedChild, placementOf(startedChild), resourceFromAttributes({}))[1]?.spanContext().spanId, '4444444444444444', 'unlinked: the CLIENT span is the one the upstream was told')
})

t.test('route templates and provider names', async (t) => {
  const ex = (path: string, feature: Exchange['meta']['feature']): Exchange => exchange('0000000000000000000000c1', 'model', { path, meta: { feature } })
  const cases: Array<[string, Exchange['meta']['feature'], string | undefined]> = [
    ['/v1/chat/completions', 'chat_completions', '/v1/chat/completions'],
    ['/v1/chat/completions/', 'chat_completions', '/v1/chat/completions'],
    ['/openai/deployments/gpt-4o/chat/completions', 'chat_completions', '/openai/deployments/{model}/chat/completions'],
    ['/engines/m1/completions', 'completions', '/engines/{model}/completions'],
    ['/a/b/c/d/v1/embeddings', 'embeddings', undefined],
    ['/v1/models/mistral-7b', 'models', '/v1/models/{model}'],
    ['/v1/models', 'models', '/v1/models'],
    ['/health', 'model_health', '/health'],
    ['/v1/chat/agent', 'chat', '/v1/chat/{chat_invokable}'],
    ['/v2/chat/agent', 'chat', '/v2/chat/agent'],
    ['/v1/prompts/code_suggestions/completions', 'prompts', '/v1/prompts/{prompt_id}'],
    ['/v2/completions', 'code_completions', '/v2/completions'],
    ['/monitoring/healthz', 'health', '/monitoring/healthz'],
    ['/whatever/123', 'gateway_other', undefined],
    ['/api/generate', 'model_other', undefined]
  ]
  for (const [path, feature, template] of cases) t.equal(routeTemplate(ex(path, feature)), template, `${path} → ${template ?? 'no route'}`)
  t.equal(providerName('api.openai.com'), 'openai')
  t.equal(providerName('vllm.internal'), 'openai', 'an OpenAI-compatible server of unknown make')
  t.equal(providerName('my-resource.openai.azure.com'), 'azure.ai.openai')
  t.equal(providerName('api.mistral.ai'), 'mistral_ai')
  t.equal(providerName('bedrock-runtime.us-east-1.amazonaws.com'), 'aws.bedrock')
  t.equal(providerName('us-central1-aiplatform.googleapis.com'), 'gcp.vertex_ai')
})

t.test("the receiver's decoder holds OTLP/JSON to the schema", async (t) => {
  const span = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'POST', kind: 2, startTimeUnixNano: '1800000000000000000', endTimeUnixNano: '1800000000050000000', attributes: [{ key: 'http.request.method', value: { stringValue: 'POST' } }, { key: 'server.port', value: { intValue: 8000 } }], status: {} }
  const doc = (s: Record<string, unknown>): string => JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'x' }, spans: [s] }] }] })
  const ok: string[] = []
  const [decoded] = decodeOtlpJson(doc(span), ok)
  t.same(ok, [], 'a valid span decodes')
  t.equal(decoded?.attributes['server.port'], 8000)
  t.equal(decoded?.startTimeUnixNano, 1_800_000_000_000_000_000n, 'fixed64 nanoseconds, exactly')
  const bad = (s: Record<string, unknown>): string[] => {
    const problems: string[] = []
    decodeOtlpJson(doc(s), problems)
    return problems
  }
  t.match(bad({ ...span, kind: 'SPAN_KIND_SERVER' }).join(), /kind/, 'enums must be integers')
  t.match(bad({ ...span, spanId: 'b7ad6b71' }).join(), /spanId/, 'span ids are 16 hex digits')
  t.match(bad({ ...span, traceId: Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex').toString('base64') }).join(), /traceId/, 'ids are hex, not base64')
  t.match(bad({ ...span, parentSpanId: '0000000000000000' }).join(), /parentSpanId/, 'an all-zero id is invalid')
  t.match(bad({ ...span, spanKind: 2 }).join(), /spanKind/, 'a field the schema lacks')
  t.match(bad({ ...span, attributes: [{ key: 'a', value: { intValue: 'many' } }] }).join(), /intValue/, 'a mistyped value')
  t.match(bad({ ...span, attributes: [{ key: 'a', value: { stringArray: ['x'] } }] }).join(), /stringArray/, 'an AnyValue the schema lacks')
})
