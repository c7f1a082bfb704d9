/**
 * Upstreams that fail for real — TLS, resets, truncated and erroring streams, callers that
 * hang up — and what the caller gets and the record says.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { caSignedCert, selfSignedCert } from './helpers/certs.js'
import { startPlainHttpServer, startResetServer } from './helpers/fault-servers.js'
import { startHarness } from './helpers/proxy-harness.js'

const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true })
const JSON_HEADERS = { 'content-type': 'application/json' }

t.test('TLS upstreams: untrusted is a tls_error; a CA file or the loud opt-out makes it work', async (t) => {
  const selfSigned = selfSignedCert()
  const caSigned = caSignedCert()
  const untrusted = await startModelServer({ tls: selfSigned })
  const trusted = await startModelServer({ tls: caSigned })
  const plain = await startPlainHttpServer()
  const dir = t.testdir({})
  const caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, caSigned.caCert)
  const h = await startHarness({
    routes: [
      { name: 'untrusted', upstream: untrusted.url },
      { name: 'trusted', upstream: trusted.url, tls: { ca_file: caFile } },
      { name: 'insecure', upstream: untrusted.url, tls: { insecure_skip_verify: true } },
      { name: 'plain', upstream: plain.url.replace('http:', 'https:') }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await Promise.all([untrusted.close(), trusted.close(), plain.close()])
  })

  const bad = await request(`${h.url('untrusted')}/v1/models`)
  const badBody = (await bad.body.json()) as { flag: string, error: string }
  t.equal(bad.statusCode, 502)
  t.equal(badBody.flag, 'tls_error')
  t.match(badBody.error, /DEPTH_ZERO_SELF_SIGNED_CERT/)
  const good = await request(`${h.url('trusted')}/v1/models`)
  t.equal(good.statusCode, 200, 'CA file trusted')
  await good.body.text()
  const insecure = await request(`${h.url('insecure')}/v1/models`)
  t.equal(insecure.statusCode, 200, 'verification off')
  await insecure.body.text()
  const wrongProtocol = await request(`${h.url('plain')}/v1/models`)
  t.equal(wrongProtocol.statusCode, 502)
  t.equal(((await wrongProtocol.body.json()) as { flag: string }).flag, 'tls_error', 'TLS spoken to a plain-HTTP port')

  const records = await h.exchanges()
  const of = (route: string) => records.find((r) => r.route === route)!
  t.same(of('untrusted').flags, ['tls_error'])
  t.equal(of('untrusted').error?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT')
  t.same(of('trusted').flags, [])
  t.same(of('insecure').flags, ['tls_unverified'], 'every exchange of an unverified route says so')
  t.same(of('plain').flags, ['tls_error'])
  t.match(of('plain').error?.code, /^(ERR_SSL_|EPROTO)/)
  const logs = h.logs()
  t.ok(logs.some((l) => l.severity === 'WARN' && /TLS VERIFICATION IS OFF/.test(String(l.message)) && l.route === 'insecure'), 'the opt-out is logged loudly at start')
})

t.test('resets, truncated and erroring streams', async (t) => {
  const model = await startModelServer()
  const reset = await startResetServer()
  const gateway = await startAiGateway({ modelEndpoint: `${model.url}/v1`, retryWaitScale: 0.001 })
  const h = await startHarness({
    routes: [
      { name: 'model', upstream: model.url },
      { name: 'reset', upstream: reset.url },
      { name: 'gitlab-aigw', upstream: gateway.url }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await Promise.all([model.close(), reset.close(), gateway.close()])
  })

  const r1 = await request(`${h.url('reset')}/v2/code/completions`, { method: 'POST', body: '{}', headers: { ...JSON_HEADERS, 'x-request-id': 'reset-1' } })
  t.equal(r1.statusCode, 502)
  t.equal(((await r1.body.json()) as { flag: string }).flag, 'connection_reset')

  // Upstream dies after headers: the caller must see the cut, not a clean end.
  const r2 = await request(`${h.url('model')}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-sim-fault': 'reset-mid-stream', 'x-request-id': 'cut-1' } })
  t.equal(r2.statusCode, 200)
  await t.rejects(r2.body.text(), 'the caller sees the stream break')

  const r3 = await request(`${h.url('model')}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-sim-fault': 'truncate', 'x-request-id': 'trunc-1' } })
  const truncated = await r3.body.text()
  t.notMatch(truncated, /\[DONE\]/, 'the fixture really truncated')

  // What GitLab sends for Duo Chat on a self-hosted model; the model answers 500 to every attempt.
  const r4 = await request(`${h.url('gitlab-aigw')}/v2/chat/agent`, {
    method: 'POST',
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], model_metadata: { provider: 'openai', name: 'mistral', endpoint: `${model.url}/v1`, api_key: '', identifier: `custom_openai/${DEFAULT_MODEL}` } }),
    headers: { ...JSON_HEADERS, 'x-sim-model-fault': 'status:500', 'x-request-id': 'chat-err-1' }
  })
  t.equal(r4.statusCode, 200, 'the chat stream answers 200 even when it fails')
  let chatText = ''
  let chatCut: unknown = null
  try {
    for await (const chunk of r4.body) chatText += String(chunk)
  } catch (err) {
    chatCut = err
  }
  const chatLines = chatText.trim().split('\n').map((l) => JSON.parse(l) as { type: string, data: Record<string, unknown> })
  t.same(chatLines.map((l) => l.type), ['error'], 'one error event, nothing else')
  t.match(chatLines[0]?.data, { message: /^litellm\.InternalServerError: InternalServerError: Custom_openaiException - /, retryable: false })
  t.ok(chatCut !== null, 'then the gateway drops the connection (react.py re-raises after the error event)')

  const records = await h.exchanges()
  const byId = new Map(records.map((r) => [r.correlation_id, r]))
  t.same(byId.get('reset-1')?.flags, ['connection_reset'])
  t.same(byId.get('cut-1')?.flags, ['stream_aborted'])
  t.equal(byId.get('cut-1')?.status, 200)
  t.same(byId.get('trunc-1')?.flags, ['stream_truncated'])
  t.equal(byId.get('trunc-1')?.meta.stream_complete, false)
  t.same(byId.get('chat-err-1')?.flags, ['stream_aborted', 'stream_error'], 'the error event is the failure, the drop follows it')
  t.match(byId.get('chat-err-1')?.meta.stream_error, /^litellm\.InternalServerError: InternalServerError: Custom_openaiException - /)
  t.match(byId.get('chat-err-1')?.diagnosis?.cause, /model server failed \(5xx\).*Duo Chat got an error event, then the gateway dropped the connection/)
  t.equal(model.requests.filter((q) => q.headers['x-sim-fault'] === 'status:500').length, 3, 'litellm\'s OpenAI SDK tried the model 3 times')
})

t.test('a caller hanging up mid-stream is client_aborted, and the upstream request is cancelled', async (t) => {
  const model = await startModelServer({ chunkDelayMs: 200, completion: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] })
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const controller = new AbortController()
  const res = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-request-id': 'abort-1' }, signal: controller.signal })
  for await (const _chunk of res.body) {
    controller.abort()
    break
  }
  let records = await h.exchanges()
  for (let i = 0; i < 100 && records.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    records = await h.exchanges()
  }
  const r = records[0]!
  t.equal(records.length, 1, 'recorded once')
  t.equal(h.proxy.routes[0]!.runtime.inflight, 0, 'no longer in flight, and not below zero')
  t.same(r.flags, ['client_aborted'])
  t.equal(r.status, 200)
  t.equal(r.proxy_answered, false)
  t.ok(r.timings.duration_ms < 1500, 'recorded when the caller left, not when the upstream would have finished')
})

t.test('a body over the route limit gets 413 from the proxy, never forwarded', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url, max_body_bytes: 1000 }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const res = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', body: 'x'.repeat(5000), headers: JSON_HEADERS })
  t.equal(res.statusCode, 413)
  t.equal(res.headers['x-duo-diag-flag'], 'request_rejected')
  await res.body.text()
  t.equal(model.requests.length, 0, 'nothing reached the upstream')
  t.same((await h.exchanges())[0]?.flags, ['request_rejected'])
})
