/**
 * Issue 19, diagnosis: each playbook failure's fixture logs (test/fixtures/logs/), grouped by
 * correlation id, give the flags, cause and next steps the live proxy gives for the same failure
 * — checked against exchanges built by capture itself (buildExchange) from the bytes the proxy
 * would have seen — with the log lines as evidence; a captured exchange is sharpened where its
 * own cause only says that something failed, and keeps a clear one.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { buildExchange, type BuildOptions } from '../src/capture/build.js'
import { EXCHANGE_ID, type Exchange } from '../src/capture/exchange.js'
import type { ObservationRecord, SampledBody } from '../src/capture/record.js'
import { buildHeaderRuleSet, buildRuleSet } from '../src/capture/redact-rules.js'
import type { Diagnosis } from '../src/diagnosis/diagnosis.js'
import { renderDiagnosis } from '../src/diagnosis/render.js'
import { diagnoseFromLogs, type LogDiagnosis } from '../src/logs/diagnose.js'
import type { LogEvent } from '../src/logs/event.js'
import { emptyImportCounts, readLogEvents } from '../src/logs/read-events.js'
import type { TransportFailure } from '../src/proxy/observation.js'

const FIXTURES = join(import.meta.dirname, 'fixtures', 'logs')

/** The events of a fixture folder's files (all, or those named), by correlation id. */
async function load (dir: string, opts: { files?: string[], verbose?: boolean } = {}): Promise<Map<string, LogEvent[]>> {
  const byId = new Map<string, LogEvent[]>()
  const files = opts.files ?? readdirSync(join(FIXTURES, dir)).filter((f) => f !== 'gateway-console.log')
  for (const f of files) {
    const input = Readable.from([readFileSync(join(FIXTURES, dir, f))])
    for await (const e of readLogEvents(input, { file: `${dir}/${f}`, verbose: opts.verbose ?? false, rules: buildRuleSet(opts.verbose ?? false) }, emptyImportCounts())) {
      if (e.correlation_id !== null) byId.set(e.correlation_id, [...(byId.get(e.correlation_id) ?? []), e])
    }
  }
  return byId
}

function events (byId: Map<string, LogEvent[]>, id: string): LogEvent[] {
  const list = byId.get(id)
  if (list === undefined) throw new Error(`no events for ${id}`)
  return list
}

/** The reconstructed exchange of a correlation id, the proxy having captured nothing. */
function rebuilt (byId: Map<string, LogEvent[]>, id: string): Exchange {
  const r = diagnoseFromLogs(events(byId, id), [])
  if (r.reconstructed === null) throw new Error(`nothing reconstructed for ${id}`)
  return r.reconstructed
}

const codes = (lines: Diagnosis['next_steps'] | undefined): string[] => (lines ?? []).map((l) => l.code)
const AUTH_CHECKS = ['check_duo_seat', 'check_license', 'check_gateway_url_setting', 'check_aigw_gitlab_url']
const MODEL_CHECKS = ['route_model_hop_for_answer', 'read_gateway_litellm_errors', 'list_and_call_model']

// ---- What capture records for the same failure, built the way the proxy builds it. -------

const BUILD: BuildOptions = {
  proxyInstance: 'live',
  bodyRules: buildRuleSet(false),
  headerRules: buildHeaderRuleSet(),
  verbose: false,
  errorBodyBytes: 16 * 1024,
  routes: new Map([['gitlab-aigw', { hop: 'gateway', timeouts: { connectMs: 10_000, headersMs: 90_000, bodyIdleMs: 90_000 }, slow: { ttfbMs: 15_000, durationMs: 30_000 }, insecureTls: false }]]),
  expectedIssuer: null,
  clockSkewS: 60,
  gatewayModelTimeoutsS: [30, 60],
  tlsChains: new Map()
}

function sampled (text: string): SampledBody {
  const bytes = new Uint8Array(Buffer.from(text))
  return { head: bytes, tail: new Uint8Array(0), total: bytes.byteLength, headLimit: 64 * 1024 }
}

interface Seen {
  correlationId: string
  path: string
  startedAt: string
  request?: unknown
  status: number | null
  contentType?: string
  response?: string
  failure?: TransportFailure
  upstream?: string
  durationMs?: number
  ttfbMs?: number
  clientAborted?: boolean
}

/** The gateway-hop exchange capture builds from what the proxy saw. */
function captured (s: Seen): Exchange {
  const obs: ObservationRecord = {
    route: 'gitlab-aigw',
    upstream: s.upstream ?? 'http://aigw.internal:5052',
    startedAt: Date.parse(s.startedAt),
    method: 'POST',
    url: s.path,
    httpVersion: '1.1',
    clientIp: '172.18.0.7',
    correlationId: s.correlationId,
    correlationSource: 'caller',
    originalCorrelationId: null,
    requestHeaders: ['content-type', 'application/json', 'x-request-id', s.correlationId],
    requestBody: sampled(JSON.stringify(s.request ?? {})),
    status: s.status,
    responseHeaders: s.status === null ? null : ['content-type', s.contentType ?? 'application/json'],
    responseBody: sampled(s.response ?? ''),
    ttfbMs: s.ttfbMs ?? (s.status === null ? null : 20),
    durationMs: s.durationMs ?? 80,
    failure: s.failure ?? null,
    clientAborted: s.clientAborted ?? false,
    proxyAnswered: s.status === null && s.failure !== undefined ? { status: 502, flag: 'upstream_error' } : null,
    upgraded: false,
    faultInjected: null,
    startedTraceparent: null
  }
  return buildExchange(obs, BUILD)
}

const NDJSON = 'application/x-ndjson; charset=utf-8'
const chatEvent = (message: string): string => JSON.stringify({ type: 'error', data: { message, retryable: false } }) + '\n'
const chatRequest = (endpoint: string, identifier = 'custom_openai/mistralai/Mistral-7B-Instruct-v0.3'): unknown =>
  ({ messages: [{ role: 'user', content: 'hi' }], model_metadata: { provider: 'openai', name: 'mistral', endpoint, api_key: '', identifier } })
const DROPPED: TransportFailure = { code: 'UND_ERR_SOCKET', message: 'other side closed', afterHeaders: true }
const NOT_FOUND = "litellm.NotFoundError: NotFoundError: Custom_openaiException - Error code: 404 - {'detail': 'Not Found'}"
const NOT_SERVED = "litellm.NotFoundError: NotFoundError: Custom_openaiException - Error code: 404 - {'object': 'error', 'message': 'The model `mistral-7b` does not exist.', 'type': 'NotFoundError', 'param': None, 'code': 404}"

/** Same code, parameters, cause, flags and next steps: what the reader of either sees. */
function sameAsLive (t: Test, logs: Exchange, live: Exchange, what: string): void {
  t.equal(logs.diagnosis?.code, live.diagnosis?.code, `${what}: the live proxy's cause code (${live.diagnosis?.code})`)
  t.equal(logs.diagnosis?.cause, live.diagnosis?.cause, `${what}: the same cause text`)
  t.same(logs.flags, live.flags, `${what}: the same flags`)
  t.same(logs.diagnosis?.next_steps.map((l) => [l.code, l.params]), live.diagnosis?.next_steps.map((l) => [l.code, l.params]), `${what}: the same next steps`)
}

t.test('each failure fixture gives its cause, flags and next steps', async (t) => {
  const healthy = await load('healthy')
  t.equal(healthy.size, 3)
  for (const [id, list] of healthy) {
    const ex = diagnoseFromLogs(list, []).reconstructed
    t.match(ex, { status: 200, flags: [], diagnosis: null, correlation_id: id }, `healthy ${id}: nothing wrong`)
  }

  const noV1 = await load('missing-v1')
  const completion = rebuilt(noV1, '01KAB6N7VYZX45HY43KWJRP1XP')
  t.match(completion, { status: 500, flags: ['upstream_error'], meta: { feature: 'code_completions' }, diagnosis: { code: 'model_endpoint_wrong_via_gateway' } }, 'the bare 500 the api_json 200 hides: the model answered 404')
  t.same(codes(completion.diagnosis?.next_steps), ['check_endpoint_ends_v1', ...MODEL_CHECKS])
  t.equal(completion.diagnosis?.evidence[0]?.code, 'gateway_bare_500', "capture's own evidence first")
  for (const id of ['01KAB6MAJENWJ47TAN9ZT24MNP', '01KAB6NRF63DJ8FSSZ5AWSH8VH']) {
    const chat = rebuilt(noV1, id)
    t.match(chat, { status: 200, flags: ['stream_aborted', 'stream_error'], diagnosis: { code: 'model_endpoint_wrong_via_gateway', cause: /\(Duo Chat got an error event, then the gateway dropped the connection\.\)$/ } }, `chat ${id}`)
  }

  const wrong = await load('wrong-model')
  const chat = rebuilt(wrong, '01JH5Q2CK29TQM83XSSSS6YS3C')
  t.match(chat, { flags: ['stream_aborted', 'stream_error'], meta: { model_endpoint: 'http://vllm.internal:8000/v1', model_identifier: 'custom_openai/mistral-7b' }, diagnosis: { code: 'model_not_found_via_gateway' } })
  t.same(chat.diagnosis?.next_steps[0], { code: 'list_served_names_identifier', params: { url: 'http://vllm.internal:8000/v1/models' }, text: "List the served names: curl http://vllm.internal:8000/v1/models; set the self-hosted model's identifier in GitLab to one of them (custom_openai/<served name>)." }, 'the endpoint from expanded llm.log')
  t.match(rebuilt(wrong, '01JH5Q313A4DWA7N36096Q14DR'), { status: 500, flags: ['upstream_error'], diagnosis: { code: 'model_not_found_via_gateway' } }, 'OLD completions: the bare 500, named by the exceptions line')

  const auth = await load('auth-401')
  for (const [id, code, first] of [
    ['01KABC7PE7GYA1DQ91K5GQAPEN', 'jwt_rejected', ['check_gitlab_keys_reachable', 'check_clocks_agree']],
    ['01KABC8257ECFSECZP11HYGCPW', 'jwt_rejected', ['check_gitlab_keys_reachable', 'check_clocks_agree']],
    ['01KABCGVD7PQ5E6EYCNDY0YP57', 'instance_id_mismatch', ['resync_subscription']]
  ] as const) {
    const ex = rebuilt(auth, id)
    t.match(ex, { status: 401, flags: ['unauthorized'], diagnosis: { code } }, `401 ${id}: ${code}`)
    t.same(codes(ex.diagnosis?.next_steps), [...first, ...AUTH_CHECKS], `401 ${id}: its steps, then the playbook's checks`)
  }

  const timeout = await load('timeout')
  const slowModel = rebuilt(timeout, '01KABH4DHMX9YP981068VCD1GD')
  t.match(slowModel, { status: 200, diagnosis: { code: 'model_timeout_via_gateway' } }, "Rails gave up first (A1000); the gateway's log names the model timeout")
  t.ok(slowModel.flags.includes('body_timeout') && slowModel.flags.includes('timeout'), `the hop timed out (${slowModel.flags.join(', ')})`)
  t.same(codes(slowModel.diagnosis?.next_steps), ['check_model_server_load', 'reduce_model_work', 'raise_duo_chat_model_timeout', ...MODEL_CHECKS])
  t.match(rebuilt(timeout, '01KABH8P8MMGT83PXT891WB09B'), { flags: ['slow'], timings: { ttfb_ms: 24_807.718 }, diagnosis: { code: 'slow' } }, 'the slow answer after it')

  const refused = await load('refused')
  const down = rebuilt(refused, '01KABRTDXJCH26W14WMCHWYFGC')
  t.match(down, { status: null, response: null, flags: ['connection_refused'], upstream: 'http://aigw.internal:5052/v2/chat/agent', error: { code: 'ECONNREFUSED', message: /^Failed to open TCP connection to aigw\.internal:5052/ }, diagnosis: { code: 'gateway_unreachable' } }, 'the gateway logged nothing: llm.log alone')
  t.same(down.diagnosis?.next_steps.map((l) => [l.code, l.params]), [['check_gateway_listens', { port: '5052', url: 'http://aigw.internal:5052/monitoring/healthz' }], ['check_firewalls', {}]])
  t.match(rebuilt(refused, '01KABRZXPJW8T7SWM4FV4DK79Q'), { flags: ['stream_aborted', 'stream_error'], diagnosis: { code: 'model_server_unreachable_via_gateway' } })
  t.match(rebuilt(refused, '01KABRY7ZTXE6SZAEAVSNTCPM5'), { status: 200, flags: [], diagnosis: null }, 'chat works again')

  const tls = await load('tls')
  t.match(rebuilt(tls, '01KABXMZE4Q1NXW1RNJ47E65GH'), { status: null, flags: ['tls_error'], upstream: 'https://10.20.0.15:5052/v2/chat/agent', error: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, diagnosis: { code: 'tls_self_signed_certificate' } }, 'GitLab → gateway: Ruby\'s SSL_connect text')
  const modelTls = rebuilt(tls, '01KABXW9T42BH8VGS9ZM5H3BV4')
  t.match(modelTls, { flags: ['stream_aborted', 'stream_error'], diagnosis: { code: 'tls_untrusted_certificate' } }, 'gateway → model: "Connection error.", the reason only in the backtrace')
  t.same(codes(modelTls.diagnosis?.next_steps), ['use_trusted_certificate', 'trust_private_ca', 'certificate_names_host', 'run_doctor'])
  t.match(rebuilt(tls, '01KABY79C482F7AG3BCKKDJWBH'), { diagnosis: null })

  for (const files of [['gateway.log', 'llm.log'], ['gateway-console.log', 'llm.log']]) {
    const docker = await load('docker-logs', { files })
    for (const id of ['01M0VYZST2G201CYFW6VZSKDEN', ...(files[0] === 'gateway.log' ? ['01M0VZ12BVC8SP3804GVA35RJF'] : [])]) {
      const ex = rebuilt(docker, id)
      t.match(ex, { flags: ['stream_aborted', 'stream_error'], meta: { model_endpoint: 'http://vllm.internal:8000' }, diagnosis: { code: 'model_endpoint_missing_v1_via_gateway' } }, `${files[0]} ${id}: the endpoint litellm called lacks /v1`)
      t.same(ex.diagnosis?.next_steps[0]?.params, { endpoint: 'http://vllm.internal:8000' })
    }
  }
})

t.test('a reconstructed exchange: the gateway hop, from the logs, without bodies', async (t) => {
  const noV1 = await load('missing-v1')
  const ex = rebuilt(noV1, '01KAB6N7VYZX45HY43KWJRP1XP')
  t.match(ex, {
    proxy_instance: /./,
    route: 'logs',
    hop: 'gateway',
    correlation_id: '01KAB6N7VYZX45HY43KWJRP1XP',
    correlation_source: 'caller',
    original_correlation_id: null,
    started_at: '2025-11-18T10:02:41.463Z',
    method: 'POST',
    http_version: '1.1',
    path: '/v2/code/completions',
    query: '',
    timings: { ttfb_ms: null, duration_ms: 63.2 },
    client_ip: '172.18.0.6',
    upstream: 'http://aigw.internal:5052/v2/code/completions',
    proxy_answered: false,
    upgraded: false,
    meta: { feature: 'code_completions', reported_by: 'logs', gitlab: { instance_id: 'c0ffee00-1234-4abc-9def-0123456789ab', version: '18.6.1', realm: 'self-managed', host_name: 'gitlab.example.com' } },
    parent_id: null,
    link: null
  })
  t.match(ex.id, EXCHANGE_ID, "capture's id format")
  t.ok(ex.id.startsWith(Date.parse('2025-11-18T10:02:41.463Z').toString(16).padStart(12, '0')), 'sortable by its start')
  t.same(ex.request, { headers: {}, bytes: 0, content_type: null }, 'no request body')
  t.same(ex.response, { headers: {}, bytes: 0, content_type: null }, 'no response body; the content type was "unknown"')
  const chat = rebuilt(noV1, '01KAB6MAJENWJ47TAN9ZT24MNP')
  t.match(chat, { meta: { feature: 'chat', stream_error: NOT_FOUND }, response: { content_type: NDJSON } })
  t.equal(diagnoseFromLogs(events(noV1, '01KAB6MAJENWJ47TAN9ZT24MNP'), [], { proxyInstance: 'imported-here' }).reconstructed?.proxy_instance, 'imported-here')
})

t.test('every log line used is evidence: its writer, file:line, time and text', async (t) => {
  const auth = await load('auth-401')
  const d = rebuilt(auth, '01KABC7PE7GYA1DQ91K5GQAPEN').diagnosis!
  const lines = d.evidence.filter((l) => l.code.startsWith('log_line_'))
  t.same(lines.map((l) => [l.code, l.params.file, l.params.line]), [
    ['log_line_gateway', 'auth-401/gateway.log', 2],
    ['log_line_gitlab_llm', 'auth-401/llm.log', 3],
    ['log_line_gitlab_llm', 'auth-401/llm.log', 4]
  ])
  t.match(lines[0], { params: { time: '2025-11-18T11:40:09.341Z', text: /^172\.18\.0\.7:47511 - "POST \/v2\/chat\/agent HTTP\/1\.1" 401 \[.*auth_error_details=Forbidden by auth provider/ }, text: /^AI gateway log, auth-401\/gateway\.log:2 \(2025-11-18T11:40:09\.341Z\): / })
  t.match(lines[1]?.params.text, 'Failed to request to v2/chat/agent [status=401, ai_response_server=uvicorn]')
  t.match(lines[2]?.params.text, 'Gitlab::AiGateway::ClientError [duo_chat_error_code=A9999]')
  const tls = rebuilt(await load('tls'), '01KABXW9T42BH8VGS9ZM5H3BV4').diagnosis!
  t.match(tls.evidence.map((l) => l.text).join('\n'), /Connection error\. .*← ssl\.SSLCertVerificationError: \[SSL: CERTIFICATE_VERIFY_FAILED\] certificate verify failed: unable to get local issuer certificate/, "the traceback's TLS line beside the message that hides it")
  const ja = renderDiagnosis(d, 'ja')
  t.match(ja.evidence.find((l) => l.code === 'log_line_gateway')?.text, /^AIゲートウェイのログ\(auth-401\/gateway\.log:2、2025-11-18T11:40:09\.341Z\): /, 'rendered in Japanese')
  t.match(ja.evidence.find((l) => l.code === 'log_line_gitlab_llm')?.text, /^GitLabのllm\.log\(auth-401\/llm\.log:3、/)
})

t.test('the same cause, flags and steps as the live proxy records for the same failure', async (t) => {
  const auth = await load('auth-401')
  for (const [id, reason] of [['01KABC7PE7GYA1DQ91K5GQAPEN', 'Forbidden by auth provider'], ['01KABCGVD7PQ5E6EYCNDY0YP57', "Header mismatch 'X-Gitlab-Instance-Id'"]] as const) {
    const live = captured({ correlationId: id, path: '/v2/chat/agent', startedAt: '2025-11-18T11:40:09.332Z', status: 401, response: JSON.stringify({ error: reason }) })
    sameAsLive(t, rebuilt(auth, id), live, `401 ${reason}`)
  }
  const refused = await load('refused')
  const liveRefused = captured({ correlationId: 'r', path: '/v2/chat/agent', startedAt: '2025-11-18T15:20:06.101Z', status: null, failure: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.5:5052', afterHeaders: false } })
  sameAsLive(t, rebuilt(refused, '01KABRTDXJCH26W14WMCHWYFGC'), liveRefused, 'GitLab → gateway refused')
  const tls = await load('tls')
  const liveTls = captured({ correlationId: 's', path: '/v2/chat/agent', startedAt: '2025-11-18T16:44:30.300Z', status: null, upstream: 'https://10.20.0.15:5052', failure: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate', afterHeaders: false } })
  sameAsLive(t, rebuilt(tls, '01KABXMZE4Q1NXW1RNJ47E65GH'), liveTls, 'GitLab → gateway self-signed')

  const docker = await load('docker-logs')
  const liveNoV1 = captured({ correlationId: 'c', path: '/v2/chat/agent', startedAt: '2026-08-25T08:01:04.617Z', request: chatRequest('http://vllm.internal:8000'), status: 200, contentType: NDJSON, response: chatEvent(NOT_FOUND), failure: DROPPED })
  t.same(liveNoV1.flags, ['stream_aborted', 'stream_error'], 'capture flags a failed chat stream so (test/real-gateway.test.ts)')
  sameAsLive(t, rebuilt(docker, '01M0VYZST2G201CYFW6VZSKDEN'), liveNoV1, 'chat, endpoint without /v1')

  const wrong = await load('wrong-model')
  const liveNotServed = captured({ correlationId: 'w', path: '/v2/chat/agent', startedAt: '2025-01-09T14:21:37.551Z', request: chatRequest('http://vllm.internal:8000/v1', 'custom_openai/mistral-7b'), status: 200, contentType: NDJSON, response: chatEvent(NOT_SERVED), failure: DROPPED })
  sameAsLive(t, rebuilt(wrong, '01JH5Q2CK29TQM83XSSSS6YS3C'), liveNotServed, 'chat, model name not served')
})

t.test('captured exchanges: a cause that only says "it failed" is sharpened, a clear one keeps, with the log lines', async (t) => {
  const wrong = await load('wrong-model')
  const bare = captured({ correlationId: '01JH5Q313A4DWA7N36096Q14DR', path: '/v2/code/completions', startedAt: '2025-01-09T14:21:58.303Z', request: { model_endpoint: 'http://vllm.internal:8000/v1', model_identifier: 'custom_openai/codestral-22b' }, status: 500, contentType: 'text/plain; charset=utf-8', response: 'Internal Server Error', durationMs: 63 })
  t.equal(bare.diagnosis?.code, 'gateway_500_model_error', 'the live proxy, with no model route, cannot tell')
  const sharpened = diagnoseFromLogs(events(wrong, '01JH5Q313A4DWA7N36096Q14DR'), [bare])
  t.equal(sharpened.reconstructed, null, 'nothing reconstructed beside a captured exchange')
  t.equal(sharpened.updates.length, 1)
  t.match(sharpened.updates[0], { id: bare.id, flags: ['upstream_error'], diagnosis: { code: 'model_not_found_via_gateway' } }, "the exceptions line names it")
  t.same(sharpened.updates[0]!.diagnosis.evidence.slice(0, bare.diagnosis!.evidence.length), bare.diagnosis!.evidence, "the proxy's evidence kept first")
  t.ok(sharpened.updates[0]!.diagnosis.evidence.some((l) => l.code === 'log_line_gateway' && l.params.line === 10), 'then the log lines')
  t.same(codes(sharpened.updates[0]!.diagnosis.next_steps), ['list_served_names_identifier', ...MODEL_CHECKS])

  const noV1 = await load('missing-v1')
  const clear = captured({ correlationId: '01KAB6MAJENWJ47TAN9ZT24MNP', path: '/v2/chat/agent', startedAt: '2025-11-18T10:02:11.711Z', request: chatRequest('http://vllm.internal:8000'), status: 200, contentType: NDJSON, response: chatEvent(NOT_FOUND), failure: DROPPED })
  t.equal(clear.diagnosis?.code, 'model_endpoint_missing_v1_via_gateway', 'the live proxy knows the endpoint from the request')
  const kept = diagnoseFromLogs(events(noV1, '01KAB6MAJENWJ47TAN9ZT24MNP'), [clear])
  t.equal(kept.updates.length, 1)
  const update = kept.updates[0]!
  t.same([update.diagnosis.code, update.diagnosis.cause, update.diagnosis.next_steps], [clear.diagnosis!.code, clear.diagnosis!.cause, clear.diagnosis!.next_steps], 'its own cause and steps kept')
  t.ok(update.diagnosis.evidence.length > clear.diagnosis!.evidence.length && update.diagnosis.evidence.slice(clear.diagnosis!.evidence.length).every((l) => l.code.startsWith('log_line_')), 'log lines appended')
  const again = diagnoseFromLogs(events(noV1, '01KAB6MAJENWJ47TAN9ZT24MNP'), [{ ...clear, diagnosis: update.diagnosis }])
  t.same(again.updates, [], 'a second import adds nothing')

  const tls = await load('tls')
  const liveTls = captured({ correlationId: '01KABXW9T42BH8VGS9ZM5H3BV4', path: '/v2/chat/agent', startedAt: '2025-11-18T16:48:30.304Z', request: chatRequest('https://vllm.internal:8443/v1'), status: 200, contentType: NDJSON, response: chatEvent('litellm.InternalServerError: InternalServerError: Custom_openaiException - Connection error.'), failure: DROPPED })
  t.equal(liveTls.diagnosis?.code, 'model_server_unreachable_via_gateway')
  t.match(diagnoseFromLogs(events(tls, '01KABXW9T42BH8VGS9ZM5H3BV4'), [liveTls]).updates, [{ id: liveTls.id, diagnosis: { code: 'tls_untrusted_certificate' } }], 'the backtrace names the certificate')

  const timeout = await load('timeout')
  const left = captured({ correlationId: '01KABH4DHMX9YP981068VCD1GD', path: '/v2/chat/agent', startedAt: '2025-11-18T13:05:44.792Z', request: chatRequest('http://vllm.internal:8000/v1'), status: 200, contentType: NDJSON, response: '', ttfbMs: 20, durationMs: 60_020, clientAborted: true, failure: { code: 'DDP_CLIENT_ABORTED', message: 'aborted', afterHeaders: true } })
  t.equal(left.diagnosis?.code, 'client_aborted', 'live: GitLab hung up at its 60 s')
  t.match(diagnoseFromLogs(events(timeout, '01KABH4DHMX9YP981068VCD1GD'), [left]).updates, [{ diagnosis: { code: 'model_timeout_via_gateway' } }], "the gateway's log says why")

  const healthy = await load('healthy')
  const fine = captured({ correlationId: '01KAB40WBY6CQ643DZVMXXQKFB', path: '/v2/code/completions', startedAt: '2025-11-18T09:16:37.179Z', status: 200, response: '{"choices":[]}' })
  t.equal(fine.diagnosis, null)
  t.same(diagnoseFromLogs(events(healthy, '01KAB40WBY6CQ643DZVMXXQKFB'), [fine]), { reconstructed: null, updates: [] }, 'nothing wrong, nothing to say')
  const modelHop = { ...fine, hop: 'model' as const }
  t.not(diagnoseFromLogs(events(healthy, '01KAB40WBY6CQ643DZVMXXQKFB'), [modelHop]).reconstructed, null, 'a model-hop exchange alone: the gateway hop is reconstructed')
})

t.test('one side\'s logs only, and an exchange reconstructed before', async (t) => {
  const llmOnly = await load('missing-v1', { files: ['llm.log'] })
  const first = rebuilt(llmOnly, '01KAB6MAJENWJ47TAN9ZT24MNP')
  t.match(first, { path: '/v2/chat/agent', status: 200, flags: ['stream_error'], upstream: '', diagnosis: { code: 'model_endpoint_wrong_via_gateway', cause: /\(Duo Chat got an error event\.\)$/ } }, 'llm.log alone: the error event Duo Chat got')

  const all = await load('missing-v1')
  const later: LogDiagnosis = diagnoseFromLogs(events(all, '01KAB6MAJENWJ47TAN9ZT24MNP'), [first])
  t.equal(later.reconstructed, null)
  t.match(later.updates, [{ id: first.id, flags: ['stream_aborted', 'stream_error'], diagnosis: { code: 'model_endpoint_wrong_via_gateway', cause: /then the gateway dropped the connection/ } }], 'the gateway log, imported next, completes it')
  const settled = { ...first, flags: later.updates[0]!.flags, diagnosis: later.updates[0]!.diagnosis }
  t.same(diagnoseFromLogs(events(all, '01KAB6MAJENWJ47TAN9ZT24MNP'), [settled]).updates, [], 'and importing again changes nothing')

  const timeout = await load('timeout', { files: ['llm.log'] })
  const gaveUp = rebuilt(timeout, '01KABH4DHMX9YP981068VCD1GD')
  t.match(gaveUp, { status: 200, flags: ['body_timeout', 'timeout', 'stream_aborted'], error: { code: 'UND_ERR_BODY_TIMEOUT', message: 'Net::ReadTimeout with #<TCPSocket:(closed)>' }, diagnosis: { code: 'gateway_body_timeout' } }, "A1000 alone: the gateway (or the model) did not answer within Rails' 60 s")
  t.same(gaveUp.timings, { ttfb_ms: null, duration_ms: 60_022 })

  const gatewayOnly = await load('auth-401', { files: ['gateway.log'] })
  t.equal(rebuilt(gatewayOnly, '01KABCGVD7PQ5E6EYCNDY0YP57').diagnosis?.code, 'instance_id_mismatch', 'the gateway log alone')

  const request = (await load('healthy', { files: ['api_json.log'] }))
  t.same(diagnoseFromLogs(events(request, '01KAB40WBY6CQ643DZVMXXQKFB'), []), { reconstructed: null, updates: [] }, 'a Rails request line alone says nothing of the gateway hop')
})

t.test('verbose import: the same causes, and nothing secret in what diagnosis returns', async (t) => {
  for (const dir of ['wrong-model', 'missing-v1', 'docker-logs']) {
    const plain = await load(dir)
    const verbose = await load(dir, { verbose: true })
    for (const [id, list] of verbose) {
      const v = diagnoseFromLogs(list, [])
      const p = diagnoseFromLogs(events(plain, id), [])
      t.equal(v.reconstructed?.diagnosis?.code, p.reconstructed?.diagnosis?.code, `${dir} ${id}: the same cause either way`)
      t.notMatch(JSON.stringify(v), /glpat-EXAMPLE|sk-EXAMPLE|EXAMPLEEXAMPLE/, `${dir} ${id}: no token`)
    }
  }
})

t.test("Ruby's other connection errors name the proxy's transport causes", async (t) => {
  const line = (id: string, extra: Record<string, unknown>): string => JSON.stringify({
    severity: 'ERROR', time: '2025-11-18T15:20:06.106Z', correlation_id: id, 'meta.caller_id': 'graphql:chat',
    class: 'Gitlab::Llm::Chain::Answer', ai_event_name: 'error_returned', ai_component: 'duo_chat', ...extra
  })
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ duo_chat_error_code: 'A9999', message: 'Failed to open TCP connection to aigw.internal:5052 (getaddrinfo: Name or service not known)' }, 'ENOTFOUND', 'dns_failure'],
    [{ duo_chat_error_code: 'A9999', message: 'Failed to open TCP connection to aigw.internal:5052 (execution expired)' }, 'ETIMEDOUT', 'connect_timeout'],
    [{ duo_chat_error_code: 'A9999', message: 'SSL_connect returned=1 errno=0 peeraddr=10.20.0.15:5052 state=error: certificate verify failed (certificate has expired)' }, 'CERT_HAS_EXPIRED', 'tls_certificate_expired'],
    [{ duo_chat_error_code: 'A9999', message: 'SSL_connect returned=1 errno=0 peeraddr=10.20.0.15:5052 state=error: certificate verify failed (unable to get local issuer certificate)' }, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'tls_untrusted_certificate'],
    [{ duo_chat_error_code: 'A9999', message: 'hostname "aigw.internal" does not match the server certificate' }, 'HOSTNAME_MISMATCH', 'tls_hostname_mismatch'],
    [{ message: 'LLM completion error', error_message: 'Failed to open TCP connection to 10.0.0.9:443 (Connection refused - connect(2) for "10.0.0.9" port 443)' }, 'ECONNREFUSED', 'gateway_unreachable']
  ]
  for (const [i, [extra, code, cause]] of cases.entries()) {
    const id = `01KABRTDXJCH26W14WMCHWYF${String(i).padStart(2, '0')}`
    const list: LogEvent[] = []
    for await (const e of readLogEvents(Readable.from([line(id, extra) + '\n']), { file: 'llm.log', verbose: false, rules: buildRuleSet(false) }, emptyImportCounts())) list.push(e)
    const ex = diagnoseFromLogs(list, []).reconstructed
    t.match(ex, { status: null, error: { code }, diagnosis: { code: cause } }, `${code}: ${cause}`)
  }
})
