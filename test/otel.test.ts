/** OpenTelemetry export to a local OTLP/HTTP receiver that decodes what it gets. */
import { createServer } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { startHarness } from './helpers/proxy-harness.js'

interface OtlpValue { stringValue?: string, intValue?: string | number, arrayValue?: { values: OtlpValue[] } }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  status?: { code?: number }
  attributes: Array<{ key: string, value: OtlpValue }>
}

function attr (s: OtlpSpan, key: string): unknown {
  const v = s.attributes.find((a) => a.key === key)?.value
  if (v === undefined) return undefined
  if (v.arrayValue !== undefined) return v.arrayValue.values.map((x) => x.stringValue ?? x.intValue)
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined)
}

/** OTLP/HTTP JSON ids are hex (the exporter's JSON mode); base64 would mean protobuf-JSON. */
function hexId (id: string): string {
  return /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex')
}

interface OtlpDoc { resourceSpans: Array<{ resource?: { attributes: Array<{ key: string, value: OtlpValue }> }, scopeSpans: Array<{ spans: OtlpSpan[] }> }> }

/** A local OTLP/HTTP receiver: every span it is sent (ids as hex), and each resource's attributes. */
async function startReceiver (): Promise<{ spans: OtlpSpan[], resources: Array<Array<{ key: string, value: OtlpValue }>>, port: number, server: ReturnType<typeof createServer> }> {
  const spans: OtlpSpan[] = []
  const resources: Array<Array<{ key: string, value: OtlpValue }>> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const doc = JSON.parse(body) as OtlpDoc
      for (const rs of doc.resourceSpans) {
        resources.push(rs.resource?.attributes ?? [])
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, traceId: hexId(s.traceId), spanId: hexId(s.spanId), ...(s.parentSpanId ? { parentSpanId: hexId(s.parentSpanId) } : {}) })
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  return { spans, resources, port: await listenEphemeral(server), server }
}

t.test('each exchange is a span; model calls are children of their gateway request', async (t) => {
  const { spans, resources, port, server: receiver } = await startReceiver()
  const model = await startModelServer()
  const gateway = await startAiGateway()
  const h = await startHarness({
    routes: [{ name: 'gitlab-aigw', upstream: gateway.url }, { name: 'model', upstream: model.url, hop: 'model' }],
    extra: { otel: { enabled: true, endpoint: `http://127.0.0.1:${port}/v1/traces`, hold_ms: 2000 } }
  })
  t.teardown(async () => {
    await h.close()
    await Promise.all([gateway.close(), model.close(), closeServer(receiver)])
  })
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  const res = await request(`${h.url('gitlab-aigw')}/v2/code/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'otel-1', traceparent },
    body: JSON.stringify({ current_file: { file_name: 'a.py', content_above_cursor: 'x', content_below_cursor: '' }, model_provider: 'litellm', model_endpoint: `${h.url('model')}/v1`, model_name: 'mistral', model_identifier: `custom_openai/${DEFAULT_MODEL}` })
  })
  t.equal(res.statusCode, 200)
  await res.body.text()
  const failed = await request(`${h.url('model')}/chat/completions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-request-id': 'otel-2' } })
  await failed.body.text()
  await h.exchanges()

  for (let i = 0; i < 150 && spans.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(resources.length > 0 && resources.every((r) => r.some((a) => a.key === 'service.name' && a.value.stringValue === 'duo-diag-proxy')), 'service.name on every resource')
  const gw = spans.find((s) => attr(s, 'duo_diag.route') === 'gitlab-aigw')!
  const child = spans.find((s) => attr(s, 'duo_diag.route') === 'model' && attr(s, 'url.path') === '/v1/chat/completions')!
  t.ok(gw && child, `spans arrived (${spans.length})`)
  t.equal(gw.traceId, '0af7651916cd43dd8448eb211c80319c', 'the caller\'s traceparent is honoured')
  t.equal(gw.parentSpanId, 'b7ad6b7169203331')
  t.equal(child.traceId, gw.traceId, 'the model call is in the same trace')
  t.equal(child.parentSpanId, gw.spanId, 'as a child of the gateway-hop span')
  t.equal(attr(gw, 'http.request.method'), 'POST')
  t.equal(attr(gw, 'http.response.status_code'), 200)
  t.equal(attr(gw, 'url.path'), '/v2/code/completions')
  t.equal(attr(gw, 'server.address'), '127.0.0.1')
  t.equal(attr(gw, 'gitlab.correlation_id'), 'otel-1')
  t.equal(attr(gw, 'gen_ai.request.model'), 'mistral', 'the gateway request names the family')
  t.equal(attr(child, 'gen_ai.request.model'), DEFAULT_MODEL, 'the model call, the served name (from model_identifier)')
  t.type(attr(child, 'gen_ai.usage.input_tokens'), 'number')
  t.type(attr(child, 'gen_ai.usage.output_tokens'), 'number')
  t.same(attr(child, 'gen_ai.response.finish_reasons'), ['stop'])
  const bad = spans.find((s) => attr(s, 'gitlab.correlation_id') === 'otel-2')!
  t.equal(attr(bad, 'error.type'), 'not_found')
  t.equal(bad.status?.code, 2, 'status ERROR')
  t.match(attr(bad, 'duo_diag.diagnosis.cause'), /lacks the \/v1 suffix/)
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

t.test('otel.start_traces: a request without a traceparent gets one; the upstream sees the proxy span as its parent', async (t) => {
  const { spans, port, server: receiver } = await startReceiver()
  // The upstream notes the traceparent of each request, by correlation id.
  const seen = new Map<string, string | undefined>()
  const upstream = createServer((req, res) => {
    const tp = req.headers.traceparent
    seen.set(String(req.headers['x-request-id']), Array.isArray(tp) ? tp.join(' | ') : tp)
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'))
  })
  const upstreamPort = await listenEphemeral(upstream)
  const otel = { enabled: true, endpoint: `http://127.0.0.1:${port}/v1/traces`, hold_ms: 0 }
  const on = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: `http://127.0.0.1:${upstreamPort}` }], extra: { otel: { ...otel, start_traces: true } } })
  const off = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: `http://127.0.0.1:${upstreamPort}` }], extra: { otel } })
  t.teardown(async () => {
    await Promise.all([on.close(), off.close()])
    await Promise.all([closeServer(receiver), closeServer(upstream)])
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
  for (let i = 0; i < 150 && spans.length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 20))

  const started = seen.get('started-1')
  t.match(started, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'the upstream got a traceparent')
  t.not(seen.get('started-2'), started, 'each request its own trace')
  const span = spans.find((s) => attr(s, 'gitlab.correlation_id') === 'started-1')
  t.ok(span, 'its span was exported')
  t.equal(span?.traceId, started?.split('-')[1], "the span's trace is the one the upstream was given")
  t.equal(span?.spanId, started?.split('-')[2], 'and the upstream was told this span is its parent')
  t.equal(span?.parentSpanId, undefined, 'a root span')
  t.equal(seen.get('kept-1'), callers, "a caller's traceparent is forwarded untouched, no second one added")
  t.equal(spans.find((s) => attr(s, 'gitlab.correlation_id') === 'kept-1')?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.equal(seen.get('off-1'), undefined, 'off by default: nothing added')
  t.ok(seen.has('off-1'))
})
