/**
 * Every failure of DOMAIN.md's table, and the gateway's known errors, named with cause and next
 * steps from real failing upstreams; token findings; one trace across both hops.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type { Trace } from '../src/store/trace.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { expiredCert, selfSignedCert, wrongHostCert } from './helpers/certs.js'
import { refusedPort, startHangingServer } from './helpers/fault-servers.js'
import { gatewayClaims, gitlabHeaders, GITLAB_URL, makeJwtKeys, signJwt } from './helpers/jwt.js'
import { startHarness } from './helpers/proxy-harness.js'

const keys = makeJwtKeys()
const JSON_HEADERS = { 'content-type': 'application/json' }
const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })

async function send (url: string, init: Parameters<typeof request>[1] = {}): Promise<number> {
  const res = await request(url, init)
  await res.body.text().catch(() => '')
  return res.statusCode
}

t.test('the model hop: missing /v1, unknown model, refused, timeouts, TLS', async (t) => {
  const model = await startModelServer()
  const refused = await refusedPort()
  const hanging = await startHangingServer()
  const selfSigned = await startModelServer({ tls: selfSignedCert() })
  const expired = await startModelServer({ tls: expiredCert() })
  const wrongHost = wrongHostCert()
  const wrongHostServer = await startModelServer({ tls: wrongHost })
  const dir = t.testdir({})
  writeFileSync(join(dir, 'ca.pem'), wrongHost.caCert)
  const h = await startHarness({
    routes: [
      { name: 'model', upstream: model.url, hop: 'model' },
      { name: 'refused', upstream: `http://127.0.0.1:${refused}`, hop: 'model' },
      { name: 'hanging', upstream: hanging.url, hop: 'model', timeouts: { headers_ms: 300 } },
      { name: 'self-signed', upstream: selfSigned.url, hop: 'model' },
      { name: 'expired', upstream: expired.url, hop: 'model' },
      { name: 'wrong-host', upstream: wrongHostServer.url.replace('127.0.0.1', 'localhost'), hop: 'model', tls: { ca_file: join(dir, 'ca.pem') } }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await Promise.all([model.close(), hanging.close(), selfSigned.close(), expired.close(), wrongHostServer.close()])
  })
  const base = h.url('model')
  t.equal(await send(`${base}/chat/completions`, { method: 'POST', body: CHAT, headers: JSON_HEADERS }), 404)
  t.equal(await send(`${base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'llama-3-70b', messages: [] }), headers: JSON_HEADERS }), 404)
  t.equal(await send(`${h.url('refused')}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: JSON_HEADERS }), 502)
  t.equal(await send(`${h.url('hanging')}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: JSON_HEADERS }), 504)
  for (const r of ['self-signed', 'expired', 'wrong-host']) t.equal(await send(`${h.url(r)}/v1/models`), 502, `${r} answered by the proxy`)

  const all = await h.exchanges()
  const find = (route: string, path?: string): Exchange => all.find((e) => e.route === route && (path === undefined || e.path === path))!

  const noV1 = find('model', '/chat/completions')
  t.same(noV1.flags, ['not_found'])
  t.match(noV1.diagnosis?.cause, /lacks the \/v1 suffix/)
  t.equal(noV1.diagnosis?.code, 'model_endpoint_missing_v1', 'the stable code')
  t.same(noV1.diagnosis?.next_steps[0]?.params, { base }, 'the corrected URL is a parameter')
  t.match(noV1.diagnosis?.next_steps.map((l) => l.text).join(' '), new RegExp(`Set the model endpoint in GitLab to ${base.replace(/\./g, '\\.')}/v1 \\(not ${base.replace(/\./g, '\\.')}\\)`), 'the corrected URL is shown')

  const unknown = find('model', '/v1/chat/completions')
  t.match(unknown.diagnosis?.cause, /does not serve a model named "llama-3-70b"/)
  t.same([unknown.diagnosis?.code, unknown.diagnosis?.params], ['model_not_found', { model: 'llama-3-70b' }], 'the model name is a parameter')
  t.match(unknown.diagnosis?.next_steps[0]?.text, /\/v1\/models/)

  const ref = find('refused')
  t.same(ref.flags, ['connection_refused'])
  t.match(ref.diagnosis?.cause, /model server is not reachable/)
  t.equal(ref.diagnosis?.code, 'model_server_unreachable')
  t.match(ref.diagnosis?.next_steps.map((l) => l.text).join(' '), /localhost: inside a container, localhost is that container itself/)

  const slow = find('hanging')
  t.same(slow.flags, ['headers_timeout', 'timeout'])
  t.equal(slow.diagnosis?.code, 'model_headers_timeout')
  t.match(slow.diagnosis?.evidence[0], { code: 'timed_out_waiting_headers', params: { limit_ms: 300 } }, 'durations are milliseconds, shown as seconds')
  t.match(slow.diagnosis?.evidence[0]?.text, /timed out after .* while waiting for response headers \(the route allows 0\.30 s\)/)

  const ss = find('self-signed')
  t.equal(ss.error?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT')
  t.match(ss.diagnosis?.cause, /self-signed certificate/)
  t.equal(ss.diagnosis?.code, 'tls_self_signed_certificate')
  t.match(ss.diagnosis?.evidence.map((l) => l.text).join('\n'), /certificate 0: subject .*CN=.*issuer .*valid .* to /, 'the presented chain is quoted')
  t.match(ss.diagnosis?.next_steps.map((l) => l.text).join(' '), /does not support self-signed certificates on GitLab/)
  t.match(ss.diagnosis?.next_steps.map((l) => l.text).join(' '), /SSL_CERT_FILE \/ REQUESTS_CA_BUNDLE/)
  t.match(ss.diagnosis?.next_steps.map((l) => l.text).join(' '), /tls\.ca_file/)
  t.equal(find('expired').error?.code, 'CERT_HAS_EXPIRED')
  t.match(find('expired').diagnosis?.cause, /has expired/)
  t.equal(find('expired').diagnosis?.code, 'tls_certificate_expired')
  t.equal(find('wrong-host').error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  t.match(find('wrong-host').diagnosis?.cause, /does not name the host/)
  t.equal(find('wrong-host').diagnosis?.code, 'tls_hostname_mismatch')
})

t.test('the gateway hop: each 401, the 403 scope, validation, rate limit', async (t) => {
  const gateway = await startAiGateway({ jwtPublicKey: keys.publicKey })
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: gateway.url }] })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
  })
  const url = `${h.url()}/v2/code/completions`
  const body = JSON.stringify({ current_file: { file_name: 'a.py', content_above_cursor: 'x', content_below_cursor: '' } })
  const claims = gatewayClaims()
  const good = signJwt(claims, keys.privateKey)
  const cases: Array<[string, Record<string, string>, RegExp, string]> = [
    ['no-header', { 'content-type': 'application/json' }, /without an Authorization header: something between GitLab and the gateway strips it/, 'gateway_no_authorization_header'],
    ['bad-header', { ...gitlabHeaders(good), authorization: 'Token abc' }, /is not "Bearer <token>"/, 'gateway_invalid_authorization_header'],
    ['forbidden', gitlabHeaders(signJwt(claims, makeJwtKeys().privateKey)), /rejected GitLab's token .* AIGW_GITLAB_URL/, 'jwt_rejected'],
    ['expired', gitlabHeaders(signJwt(gatewayClaims({ exp: Math.floor(Date.now() / 1000) - 3600 }), keys.privateKey)), /GitLab's token had expired when it reached the gateway: the clocks of GitLab and the gateway disagree/, 'jwt_expired'],
    ['mismatch', gitlabHeaders(good, claims, { 'x-gitlab-instance-id': 'another-instance' }), /X-Gitlab-Instance-Id header differ: the instance identity changed/, 'instance_id_mismatch']
  ]
  for (const [id, headers, _] of cases) {
    t.equal(await send(url, { method: 'POST', body, headers: { ...headers, 'x-request-id': id } }), 401, `${id}: 401`)
  }
  const noChat = signJwt(gatewayClaims({ scopes: ['complete_code'] }), keys.privateKey)
  t.equal(await send(`${h.url()}/v2/chat/agent`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }), headers: { ...gitlabHeaders(noChat, gatewayClaims({ scopes: ['complete_code'] })), 'x-request-id': 'scope' } }), 403)
  t.equal(await send(url, { method: 'POST', body: '{"nope":1}', headers: { ...gitlabHeaders(good), 'x-request-id': 'invalid' } }), 422)
  t.equal(await send(url, { method: 'POST', body, headers: { ...gitlabHeaders(good), 'x-request-id': 'limited', 'x-sim-fault': 'status:429' } }), 429)

  const all = await h.exchanges()
  const byId = (id: string): Exchange => all.find((e) => e.correlation_id === id)!
  for (const [id, _h, cause, code] of cases) {
    const ex = byId(id)
    t.equal(ex.diagnosis?.code, code, `${id}: its own code`)
    t.same(ex.diagnosis?.next_steps.slice(-4).map((l) => l.code), ['check_duo_seat', 'check_license', 'check_gateway_url_setting', 'check_aigw_gitlab_url'], `${id}: the playbook's checks, by code`)
    t.same(ex.flags.filter((f) => !f.startsWith('token_')), ['unauthorized'], `${id}: unauthorized`)
    t.match(ex.diagnosis?.cause, cause, `${id}: its own cause`)
    const steps = ex.diagnosis?.next_steps.map((l) => l.text).join('\n') ?? ''
    t.match(steps, /GitLab Duo seat/, `${id}: the playbook's seat check`)
    t.match(steps, /license/, `${id}: license check`)
    t.match(steps, /AI gateway URL/, `${id}: gateway URL check`)
    t.match(steps, /AIGW_GITLAB_URL/, `${id}: AIGW_GITLAB_URL check`)
  }
  t.ok(byId('expired').flags.includes('token_expired'), 'the expired token is also named from its claims')
  t.match(byId('expired').diagnosis?.next_steps[0]?.text, /Synchronise the clocks/, 'expired: the clocks first')
  t.notOk(byId('forbidden').flags.includes('token_expired'), 'a token signed by another key is not expired')
  t.ok(byId('mismatch').flags.includes('token_header_mismatch'))
  const scope = byId('scope')
  t.same(scope.flags, ['forbidden'])
  t.match(scope.diagnosis?.cause, /lacks the scope for duo chat/)
  t.same([scope.diagnosis?.code, scope.diagnosis?.params], ['seat_not_assigned', { scope: 'duo chat' }])
  t.same(byId('invalid').flags, ['client_error'])
  t.match(byId('invalid').diagnosis?.cause, /validation error/)
  t.same(byId('limited').flags, ['rate_limited'])
  t.match(byId('limited').diagnosis?.evidence[0]?.text, /Retry-After: 1/)
})

t.test('token findings predict failures even when the upstream accepted the request', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({
    routes: [{ name: 'gitlab-aigw', upstream: model.url, hop: 'gateway' }],
    extra: { diagnosis: { expected_gitlab_url: GITLAB_URL } }
  })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const now = Math.floor(Date.now() / 1000)
  const tokens: Record<string, string> = {
    ok: signJwt(gatewayClaims(), keys.privateKey),
    expired: signJwt(gatewayClaims({ exp: now - 600 }), keys.privateKey),
    early: signJwt(gatewayClaims({ nbf: now + 600 }), keys.privateKey),
    audience: signJwt(gatewayClaims({ aud: 'gitlab-code-suggestions' }), keys.privateKey),
    issuer: signJwt(gatewayClaims({ iss: 'https://old-gitlab.example.com' }), keys.privateKey)
  }
  for (const [id, token] of Object.entries(tokens)) {
    t.equal(await send(`${h.url()}/health`, { headers: { ...gitlabHeaders(token), 'x-request-id': id } }), 200, `${id}: the upstream accepted it`)
  }
  t.equal(await send(`${h.url()}/health`, { headers: { ...gitlabHeaders(tokens.ok!, gatewayClaims(), { 'x-gitlab-realm': 'saas' }), 'x-request-id': 'header' } }), 200)
  const all = await h.exchanges()
  const flags = (id: string): string[] => all.find((e) => e.correlation_id === id)!.flags
  t.same(flags('ok'), [])
  t.same(flags('expired'), ['token_expired'])
  t.same(flags('early'), ['token_not_yet_valid'])
  t.same(flags('audience'), ['token_audience_mismatch'])
  t.same(flags('issuer'), ['token_issuer_mismatch'])
  t.same(flags('header'), ['token_header_mismatch'])
  const ex = all.find((e) => e.correlation_id === 'header')!
  t.match(ex.diagnosis?.evidence.map((l) => l.text).join(' '), /header x-gitlab-realm is "saas" but the token's gitlab_realm is "self-managed"/)
  const ok = all.find((e) => e.correlation_id === 'ok')!
  t.match(ok.meta.token, { iss: GITLAB_URL, aud: 'gitlab-ai-gateway', gitlab_realm: 'self-managed', scopes: Array, exp: Number })
  const stored = JSON.stringify(all)
  t.notOk(stored.includes(tokens.ok!.split('.')[2]!), 'no token signature stored')
})

t.test('one trace across both hops: a gateway failure gets its model call\'s cause', async (t) => {
  const model = await startModelServer()
  const gateway = await startAiGateway({ jwtPublicKey: keys.publicKey, modelTimeoutMs: 2000, retryWaitScale: 0.001 })
  const h = await startHarness({
    routes: [
      { name: 'gitlab-aigw', upstream: gateway.url },
      { name: 'model', upstream: model.url, hop: 'model' }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
    await model.close()
  })
  const token = signJwt(gatewayClaims(), keys.privateKey)
  // The model endpoint is configured without /v1, through the proxy's model route. What GitLab
  // sends for a self-hosted completion: the family name and the identifier naming the served model.
  const endpoint = h.url('model')
  const completion = (modelEndpoint: string): string => JSON.stringify({
    current_file: { file_name: 'a.py', language_identifier: 'python', content_above_cursor: 'def f(', content_below_cursor: '' },
    model_provider: 'litellm', model_endpoint: modelEndpoint, model_name: 'mistral', model_identifier: `custom_openai/${DEFAULT_MODEL}`, prompt_version: 2, prompt: null
  })
  const failed = await request(`${h.url('gitlab-aigw')}/v2/code/completions`, {
    method: 'POST',
    headers: { ...gitlabHeaders(token), 'x-request-id': 'trace-1' },
    body: completion(endpoint)
  })
  // litellm's NotFoundError is no ModelAPIError: Starlette's bare 500, outside the correlation-id middleware.
  t.equal(failed.statusCode, 500, 'the gateway answered its bare 500')
  t.match(failed.headers['content-type'], /^text\/plain/)
  t.equal(await failed.body.text(), 'Internal Server Error')
  // And a healthy one, to see a successful trace too.
  t.equal(await send(`${h.url('gitlab-aigw')}/v2/code/completions`, {
    method: 'POST',
    headers: { ...gitlabHeaders(token), 'x-request-id': 'trace-2' },
    body: completion(`${endpoint}/v1`)
  }), 200)
  await h.exchanges()

  const res = await request(`${h.adminUrl}/api/traces/trace-1`)
  t.equal(res.statusCode, 200)
  const trace = (await res.body.json()) as Trace
  t.equal(trace.roots.length, 1)
  const root = trace.roots[0]!
  t.equal(root.exchange.route, 'gitlab-aigw')
  t.same(root.exchange.flags.filter((f) => f !== 'slow'), ['upstream_error'])
  t.notOk(root.exchange.response?.headers['x-process-time'], 'the bare 500 is sent outside the gateway\'s middlewares: no X-Process-Time')
  t.equal(root.children.length, 1, 'the model call is linked under the gateway request (a 404 is not retried)')
  const child = root.children[0]!.exchange
  t.equal(child.route, 'model')
  t.equal(child.path, '/chat/completions', 'the gateway appended only /chat/completions')
  t.equal(child.meta.model, DEFAULT_MODEL, 'the served name, from the identifier')
  t.equal(child.parent_id, root.exchange.id)
  t.equal(child.link?.method, 'inferred')
  t.ok((child.link?.confidence ?? 0) >= 0.9, `confident link (${child.link?.confidence})`)
  t.same(child.flags, ['not_found'])
  t.match(root.exchange.diagnosis?.root_cause, { exchange_id: child.id, route: 'model', cause: /lacks the \/v1 suffix/ })
  t.match(trace.root_cause?.cause, /lacks the \/v1 suffix/, 'the trace names the root cause')
  t.match(root.exchange.diagnosis?.cause, /lacks the \/v1 suffix/, 'the gateway request takes the model call\'s cause')
  t.equal(root.exchange.diagnosis?.code, child.diagnosis?.code, 'and its code: it is counted under the model call\'s cause')
  t.equal(root.exchange.diagnosis?.root_cause?.code, 'model_endpoint_missing_v1')
  t.match(root.exchange.diagnosis?.evidence.find((l) => l.code === 'gateway_own_answer')?.params, { answer: { code: /^cause\.gateway_500_/ } }, 'the gateway\'s own answer is quoted by its code')
  t.match(root.exchange.diagnosis?.evidence.map((l) => l.text).join('\n'), /the gateway's own answer: .*bare 500/, 'the gateway\'s own answer is kept as evidence')
  t.match(root.exchange.diagnosis?.evidence.map((l) => l.text).join('\n'), /500 text\/plain "Internal Server Error"/)
  t.match(root.exchange.diagnosis?.next_steps[0]?.text, new RegExp(`Set the model endpoint in GitLab to ${endpoint.replace(/\./g, '\\.')}/v1`))
  const events = trace.waterfall.map((w) => w.event)
  t.same(events.slice(0, 3), ['gitlab_sent', 'gateway_request_received', 'model_request_received'])
  t.ok(events.includes('model_first_byte') && events.includes('gateway_failed'))
  for (let i = 1; i < trace.waterfall.length; i++) t.ok(trace.waterfall[i]!.at_ms >= trace.waterfall[i - 1]!.at_ms, 'waterfall in time order')

  const ok = (await (await request(`${h.adminUrl}/api/traces/trace-2`)).body.json()) as Trace
  t.equal(ok.roots[0]!.children.length, 1)
  t.equal(ok.root_cause, null, 'a healthy trace has no root cause')
  t.equal((await request(`${h.adminUrl}/api/traces/nope`)).statusCode, 404)
})

t.test('slow: over the route thresholds, with GitLab\'s timeout for comparison', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model', slow: { ttfb_ms: 100, duration_ms: 10_000 } }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  t.equal(await send(`${h.url()}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-sim-fault': 'delay-headers:250' } }), 200)
  const ex = (await h.exchanges())[0]!
  t.same(ex.flags, ['slow'])
  t.match(ex.diagnosis?.evidence[0]?.text, /time to first byte 0\.\d+ s.*thresholds 0\.10 s/)
})

t.test('more transport failures: DNS, connect timeout (TLS never answered), body stall; the gateway\'s 421', async (t) => {
  const hanging = await startHangingServer()
  const model = await startModelServer()
  const gateway = await startAiGateway({ retryWaitScale: 0.001 })
  const h = await startHarness({
    routes: [
      { name: 'dns', upstream: 'http://no-such-host.invalid:8000', hop: 'model' },
      { name: 'handshake', upstream: hanging.url.replace('http:', 'https:'), hop: 'model', timeouts: { connect_ms: 300 } },
      { name: 'stall', upstream: model.url, hop: 'model', timeouts: { body_idle_ms: 300 } },
      { name: 'gitlab-aigw', upstream: gateway.url }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await Promise.all([hanging.close(), model.close(), gateway.close()])
  })
  t.equal(await send(`${h.url('dns')}/v1/models`), 502)
  t.equal(await send(`${h.url('handshake')}/v1/models`), 504)
  const stalled = await request(`${h.url('stall')}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: DEFAULT_MODEL, messages: [], stream: true }), headers: { ...JSON_HEADERS, 'x-sim-fault': 'stall-after-headers' } })
  t.equal(stalled.statusCode, 200, 'headers were relayed before the stall')
  await t.rejects(stalled.body.text(), 'then the caller sees the stream cut')
  t.equal(await send(`${h.url('gitlab-aigw')}/v1/prompts/code_suggestions/completions`, {
    method: 'POST',
    headers: { ...JSON_HEADERS, 'x-request-id': 'p421' },
    body: JSON.stringify({ inputs: { prefix: 'x' }, model_metadata: { provider: 'openai', name: 'mistral', endpoint: model.url, identifier: `custom_openai/${DEFAULT_MODEL}` } })
  }), 421)

  const all = await h.exchanges()
  const of = (route: string): Exchange => all.find((e) => e.route === route)!
  t.ok(of('dns').flags[0] === 'dns_failure' || of('dns').error?.code === 'EAI_AGAIN', `DNS failure named (${of('dns').error?.code})`)
  t.match(of('dns').diagnosis?.cause, /does not resolve/)
  t.same(of('handshake').flags, ['connect_timeout', 'timeout'])
  t.match(of('handshake').diagnosis?.evidence[0]?.text, /while connecting/)
  t.same(of('stall').flags, ['body_timeout', 'timeout', 'stream_aborted'])
  t.match(of('stall').diagnosis?.evidence[0]?.text, /waiting for the next body chunk/)
  const p = of('gitlab-aigw')
  t.same(p.flags, ['model_error'])
  t.match(p.diagnosis?.cause, /lacks the \/v1 suffix: the model answered 404/)
  t.equal(p.diagnosis?.code, 'prompt_model_endpoint_missing_v1')
  t.match(p.diagnosis?.next_steps[0]?.text, new RegExp(`Set the model endpoint in GitLab to ${model.url.replace(/\./g, '\\.')}/v1`))
})
