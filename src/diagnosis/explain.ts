import { createHash } from 'node:crypto'
import type { Exchange } from '../capture/exchange.js'
import type { Message } from '../i18n/message.js'
import { type Cause, cause, diagnosis, ev, fromCause, part, step } from './codes.js'
import type { Diagnosis, DiagnosisLine } from './diagnosis.js'
import type { Flag } from './flags.js'
import { endpointUrl, lacksV1, modelChecks, type ModelCallContext, modelFailureFromText, modelTimeoutSteps, unhandledModelFailure } from './model-failure.js'
import type { ChainSummary } from './tls-chain.js'
import { PROXY_STOPPED_CODE } from './transport.js'

export interface ExplainContext {
  timeouts: { connectMs: number, headersMs: number, bodyIdleMs: number }
  slow: { ttfbMs: number, durationMs: number }
  /** Summary of the certificate chain the upstream presented, for tls_error. */
  tlsChain: ChainSummary | null
  /** Evidence lines from the token check. */
  tokenEvidence: DiagnosisLine[]
  insecureTls: boolean
  /** Some route of this proxy is on the model hop: the model's own answers are recorded. */
  modelRouted: boolean
  /** The AI gateway's model timeouts, seconds. */
  gatewayModelTimeoutsS: readonly number[]
}

/** The checks the playbook runs for every 401/403. */
function authChecks (): DiagnosisLine[] {
  return [step('check_duo_seat'), step('check_license'), step('check_gateway_url_setting'), step('check_aigw_gitlab_url')]
}

/**
 * GitLab's own deadline for a feature: how long the caller waits before giving up (`seconds`,
 * the shortest, and `who`, the sentence that says so).
 */
export function gitlabTimeout (feature: string): { seconds: number, who: Message } {
  if (feature === 'code_completions' || feature === 'code_generations' || feature === 'code_suggestions') {
    return { seconds: 55, who: part('deadline_code_suggestions') }
  }
  if (feature === 'chat') return { seconds: 30, who: part('deadline_chat') }
  return { seconds: 30, who: part('deadline_ai_requests') }
}

function bodyField (ex: Exchange, field: 'error' | 'detail' | 'message'): string | null {
  const body = ex.response?.body
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const v = (body as Record<string, unknown>)[field]
    if (typeof v === 'string') return v
    if (field === 'message' && typeof (body as Record<string, unknown>).error === 'object') {
      const inner = (body as { error: Record<string, unknown> }).error
      if (typeof inner.message === 'string') return inner.message
    }
  }
  return null
}

function hostOf (ex: Exchange): string {
  const h = ex.request.headers.host
  return typeof h === 'string' ? h : originOf(ex.upstream).replace(/^https?:\/\//, '')
}

// primary() asks for it on every exchange, and routes have few upstreams: remember (bounded).
const origins = new Map<string, string>()

/** The origin of a recorded upstream URL; the text itself if it does not parse. */
function originOf (url: string): string {
  let origin = origins.get(url)
  if (origin !== undefined) return origin
  try {
    origin = new URL(url).origin
  } catch {
    origin = url
  }
  if (origins.size >= 1_000) origins.clear()
  origins.set(url, origin)
  return origin
}

function isLocalhost (url: string): boolean {
  try {
    const host = new URL(url).hostname
    return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.')
  } catch {
    return false
  }
}

/**
 * What the gateway sends as the model API key when GitLab has none: "None" (2024 prompt paths,
 * str(None)), "dummy_key" (2025, model_metadata.py), "stubbed-api-key" (models/litellm.py).
 */
const PLACEHOLDER_KEYS = ['None', 'dummy_key', 'stubbed-api-key']

/** Features whose gateway requests call the model. */
const MODEL_FEATURES = new Set(['code_completions', 'code_generations', 'code_suggestions', 'chat', 'prompts'])

/** Starlette's own 500: text/plain "Internal Server Error", nothing of the gateway's. */
function isBareServerError (ex: Exchange): boolean {
  const type = ex.response?.content_type ?? ''
  const body = ex.response?.body
  return type.startsWith('text/plain') || (typeof body === 'string' && body.trim() === 'Internal Server Error')
}

/** `/v1/chat/completions` → `/v1/models`: the served names, at the same prefix. */
function modelsPath (path: string): string {
  const i = path.search(/\/(chat\/)?completions$/)
  return `${i < 0 ? '/v1' : path.slice(0, i)}/models`
}


/** A message quoted from a body, cut at 300 characters. */
function clip (text: string): string {
  return text.length > 300 ? text.slice(0, 300) + '…' : text
}

/** `<status> "<message>" from <url>`, or `<status> from <url>` when there is no message. */
function statusFrom (status: number, message: string | null | undefined, url: string): DiagnosisLine {
  return message ? ev('status_message_from', { status, message, url }) : ev('status_from', { status, url })
}

/** `<status> "<detail>"`, or `<status>`. */
function statusDetail (status: number, detail: string | null | undefined): DiagnosisLine {
  return detail ? ev('status_detail', { status, detail }) : ev('status_only', { status })
}

/** The transport error as Node reported it: `<code>: <message>`. */
function transportError (err: Exchange['error']): DiagnosisLine {
  return ev('transport_error', { code: String(err?.code), message: String(err?.message) })
}

/**
 * 422: the 2024 gateway answers FastAPI's field-error list (`detail: [{loc, msg, type}]`); the
 * 2025 one only "Validation error" unless request logging is on (ai_gateway/api/server.py).
 */
function validationError (ex: Exchange): Diagnosis {
  const body = ex.response?.body
  const detail = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).detail : undefined
  const fields = Array.isArray(detail)
    ? detail.flatMap((d) => {
      if (typeof d !== 'object' || d === null) return []
      const { loc, msg } = d as { loc?: unknown, msg?: unknown }
      const where = Array.isArray(loc) ? loc.filter((p) => p !== 'body').map(String).join('.') : ''
      return typeof msg === 'string' ? [{ where, msg: clip(msg) }] : []
    })
    : []
  if (fields.length > 0) {
    const first = fields[0]!
    const model = fields.find((f) => /model_(name|provider)|^model_metadata/.test(f.where))
    const evidence = fields.slice(0, 5).map((f) => ev('validation_field', { field: f.where || 'body', message: f.msg }))
    return model !== undefined
      ? diagnosis('model_family_unsupported', { field: model.where.replace(/^model_metadata\./, 'model_metadata '), message: model.msg }, { evidence, next_steps: [step('choose_supported_model_family')] })
      : diagnosis('request_body_rejected', { field: first.where || 'body', message: first.msg }, { evidence, next_steps: [step('check_versions_compatible')] })
  }
  const text = typeof detail === 'string' ? detail : bodyField(ex, 'error') ?? ''
  return diagnosis('gateway_validation_error', {}, {
    evidence: [text === 'Validation error' ? ev('validation_error_hidden') : statusDetail(422, text)],
    next_steps: [step('check_versions_compatible'), step('grep_gateway_validation')]
  })
}

/** The proxy's own 400s for requests Node's parser accepts (src/proxy/forward.ts). */
const STRICT_400 = new Set(['DDP_ASTERISK_FORM', 'DDP_HTTP09', 'DDP_URL_FRAGMENT', 'DDP_TE_NOT_CHUNKED', 'DDP_TE_HTTP10', 'DDP_UPGRADE_UNSUPPORTED'])

/** The cause a TLS failure names, from its OpenSSL/Node code (and message). */
export function tlsFailureCause (code: string, message: string): Cause {
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH|EPROTO|record layer/i.test(`${code} ${message}`)) return cause('tls_plain_http')
  switch (code) {
    case 'CERT_HAS_EXPIRED': return cause('tls_certificate_expired')
    case 'CERT_NOT_YET_VALID': return cause('tls_certificate_not_yet_valid')
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH': return cause('tls_hostname_mismatch')
    case 'DEPTH_ZERO_SELF_SIGNED_CERT': return cause('tls_self_signed_certificate')
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE': return cause('tls_untrusted_certificate')
  }
  return cause('tls_handshake_failed')
}

/** What to do about a certificate the client does not trust. */
export function tlsNextSteps (): DiagnosisLine[] {
  return [step('use_trusted_certificate'), step('trust_private_ca'), step('certificate_names_host'), step('run_doctor')]
}

function has (ex: Exchange, f: Flag): boolean {
  return ex.flags.includes(f)
}

/**
 * The playbook, as code: the most specific cause for an exchange's flags, the evidence the
 * proxy saw, and the next steps, each a code with its parameters (README, "Diagnosis codes").
 * null when nothing is wrong.
 */
export function explain (ex: Exchange, ctx: ExplainContext): Diagnosis | null {
  const d = primary(ex, ctx)
  if (d === null) return null
  if (ex.meta.fault !== undefined) d.evidence.push(ev('fault_injected', { rule: ex.meta.fault }))
  const quoted = (e: DiagnosisLine): boolean => ctx.tokenEvidence.some((l) => l.code === e.code && l.text === e.text)
  if (ctx.tokenEvidence.length > 0 && !d.evidence.some(quoted)) d.evidence.push(...ctx.tokenEvidence)
  return d
}

/** How a model failure reached the caller of a stream: the `context` of a `*_via_gateway` cause. */
function streamContext (chat: boolean, dropped: boolean): Message {
  if (chat) return dropped ? part('context_chat_error_event_dropped') : part('context_chat_error_event')
  return dropped ? part('context_stream_error_event_dropped') : part('context_stream_error_event')
}

function primary (ex: Exchange, ctx: ExplainContext): Diagnosis | null {
  const up = originOf(ex.upstream)
  const err = ex.error

  if (has(ex, 'request_rejected')) {
    if (err?.code === 'HPE_HEADER_OVERFLOW') {
      return diagnosis('request_headers_too_large', {}, { evidence: [transportError(err)], next_steps: [step('find_large_headers')] })
    }
    if (err?.code === 'DDP_CONNECT_METHOD') {
      return diagnosis('forward_proxy_connect', {}, { evidence: [transportError(err)], next_steps: [step('unset_https_proxy')] })
    }
    if (err?.code === 'DDP_TRANSFER_CODING') {
      return diagnosis('request_transfer_coding', {}, { evidence: [transportError(err)], next_steps: [step('check_transfer_coding_source')] })
    }
    if (err !== null && (err.code.startsWith('HPE_') || STRICT_400.has(err.code))) {
      return diagnosis('request_malformed', {}, { evidence: [transportError(err)], next_steps: [step('check_request_rewriter')] })
    }
    return diagnosis('request_body_too_large', {}, {
      evidence: [err ? ev('request_bytes_error', { bytes: ex.request.bytes, message: err.message }) : ev('request_bytes', { bytes: ex.request.bytes })],
      next_steps: [step('raise_max_body_bytes')]
    })
  }
  if (has(ex, 'tls_error')) {
    const code = err?.code ?? 'TLS error'
    const chain = ctx.tlsChain
    const evidence = [err ? ev('tls_handshake_failed', { upstream: up, code: err.code, message: err.message }) : ev('tls_handshake_failed_no_error', { upstream: up })]
    if (chain !== null) {
      for (const [index, c] of chain.certificates.entries()) {
        const cert = { index, subject: c.subject, issuer: c.issuer, valid_from: c.valid_from, valid_to: c.valid_to }
        evidence.push(c.san ? ev('tls_certificate_san', { ...cert, san: c.san }) : ev('tls_certificate', cert))
      }
    }
    return fromCause(tlsFailureCause(code, err?.message ?? ''), { evidence, next_steps: tlsNextSteps() })
  }
  if (has(ex, 'connection_refused')) {
    const local = isLocalhost(ex.upstream)
    const port = new URL(up).port
    const model = ex.hop === 'model'
    const listens = model
      ? (port ? step('check_model_server_listens', { port, url: `${up}/v1/models` }) : step('check_model_server_listens_default_port', { url: `${up}/v1/models` }))
      : (port ? step('check_gateway_listens', { port, url: `${up}/monitoring/healthz` }) : step('check_gateway_listens_default_port', { url: `${up}/monitoring/healthz` }))
    return diagnosis(model ? 'model_server_unreachable' : 'gateway_unreachable', {}, {
      evidence: [ev('connection_refused', { upstream: up, code: err?.code ?? 'ECONNREFUSED' })],
      next_steps: [listens, ...(local ? [step('localhost_is_container')] : []), step('check_firewalls')]
    })
  }
  if (has(ex, 'dns_failure')) {
    return diagnosis('dns_failure', { host: new URL(up).hostname }, {
      evidence: [ev('dns_lookup_failed', { code: String(err?.code) })],
      next_steps: [step('check_dns')]
    })
  }
  if (has(ex, 'network_unreachable')) {
    return diagnosis('network_unreachable', {}, { evidence: [transportError(err)], next_steps: [step('check_network_route')] })
  }
  for (const f of ['connect_timeout', 'headers_timeout', 'body_timeout'] as const) {
    if (!has(ex, f)) continue
    const durationMs = ex.timings.duration_ms
    const g = gitlabTimeout(ex.meta.feature)
    const gitlab = durationMs > g.seconds * 1000 ? ev('gitlab_gave_up', { deadline: g.who }) : ev('gitlab_may_wait', { deadline: g.who })
    if (f === 'connect_timeout') {
      return diagnosis('connect_timeout', {}, {
        evidence: [ev('timed_out_connecting', { duration_ms: durationMs, limit_ms: ctx.timeouts.connectMs }), gitlab],
        next_steps: [step('firewall_drops_packets'), step('check_upstream_host_up')]
      })
    }
    const timedOut = f === 'headers_timeout'
      ? ev('timed_out_waiting_headers', { duration_ms: durationMs, limit_ms: ctx.timeouts.headersMs })
      : ev('timed_out_waiting_body', { duration_ms: durationMs, limit_ms: ctx.timeouts.bodyIdleMs })
    const model = ex.hop === 'model'
    const code = f === 'headers_timeout'
      ? (model ? 'model_headers_timeout' : 'gateway_headers_timeout')
      : (model ? 'model_body_timeout' : 'gateway_body_timeout')
    return diagnosis(code, {}, {
      evidence: [timedOut, gitlab],
      next_steps: [
        model ? step('check_model_server_health', { method: ex.method, url: `${up}${ex.path}` }) : ctx.modelRouted ? step('see_model_hop_trace') : step('route_model_hop_slow'),
        step('use_faster_model')
      ]
    })
  }
  if (has(ex, 'model_timeout')) {
    const silent = ex.timings.ttfb_ms === null ? ex.timings.duration_ms : ex.timings.duration_ms - ex.timings.ttfb_ms
    const limit = [...ctx.gatewayModelTimeoutsS].sort((a, b) => Math.abs(a * 1000 - silent) - Math.abs(b * 1000 - silent))[0]
    const durationMs = ex.timings.duration_ms
    const { max_tokens: maxTokens, model } = ex.meta
    return diagnosis('model_timeout', { timeout_s: limit ?? 30 }, {
      evidence: [
        ex.timings.ttfb_ms === null ? ev('gateway_hung_up_no_response', { duration_ms: durationMs }) : ev('gateway_hung_up_after_headers', { duration_ms: durationMs }),
        ...(maxTokens !== undefined ? [model !== undefined ? ev('max_tokens_requested_of_model', { max_tokens: maxTokens, model }) : ev('max_tokens_requested', { max_tokens: maxTokens })] : [])
      ],
      next_steps: modelTimeoutSteps()
    })
  }
  if (has(ex, 'connection_reset')) {
    return diagnosis('connection_reset', {}, {
      evidence: [transportError(err)],
      next_steps: [step('check_upstream_crash_logs'), step('check_lb_idle_timeouts')]
    })
  }

  const status = ex.status
  if (ex.hop === 'model' && (status === 401 || status === 403)) {
    // vLLM --api-key: 401 {"error":"Unauthorized"} (vllm/entrypoints/openai/api_server.py);
    // the LiteLLM proxy: 401 "Authentication Error, No api key passed in." (proxy/auth).
    const message = bodyField(ex, 'message') ?? bodyField(ex, 'error') ?? bodyField(ex, 'detail') ?? ''
    const sent = ex.request.headers.authorization
    const placeholder = typeof sent === 'string' ? PLACEHOLDER_KEYS.find((k) => sent === `Bearer [FILTERED sha256:${createHash('sha256').update(k).digest('hex').slice(0, 8)}]`) : undefined
    const authorization = sent === undefined
      ? ev('authorization_absent')
      : placeholder !== undefined ? ev('authorization_placeholder_sent', { authorization: String(sent), placeholder }) : ev('authorization_sent', { authorization: String(sent) })
    return fromCause(placeholder !== undefined ? cause('model_api_key_missing', { placeholder }) : cause('model_api_key_rejected'), {
      evidence: [statusFrom(status, message, `${up}${ex.path}`), authorization],
      next_steps: [step('set_model_api_key')]
    })
  }
  if (status === 401) {
    const e = bodyField(ex, 'error') ?? bodyField(ex, 'detail') ?? ''
    const specific = (): { cause: Cause, next_steps: DiagnosisLine[] } => {
      if (/No authorization header presented/i.test(e)) {
        return { cause: cause('gateway_no_authorization_header'), next_steps: [step('check_authorization_passed')] }
      }
      if (/Invalid authorization header/i.test(e)) {
        return { cause: cause('gateway_invalid_authorization_header'), next_steps: [step('check_between_gitlab_and_gateway')] }
      }
      if (/only OIDC is supported/i.test(e)) {
        return { cause: cause('gateway_auth_not_oidc'), next_steps: [step('check_gitlab_headers_kept')] }
      }
      const mismatch = /Header mismatch '([^']+)'/i.exec(e)
      if (mismatch !== null) {
        return mismatch[1] === 'X-Gitlab-Instance-Id'
          ? { cause: cause('instance_id_mismatch'), next_steps: [step('resync_subscription')] }
          : { cause: cause('gitlab_header_mismatch', { header: mismatch[1]! }), next_steps: [step('check_gitlab_headers_not_rewritten')] }
      }
      if (/Forbidden by auth provider/i.test(e) && (has(ex, 'token_expired') || has(ex, 'token_not_yet_valid'))) {
        return {
          cause: has(ex, 'token_expired') ? cause('jwt_expired') : cause('jwt_not_yet_valid'),
          next_steps: [step('sync_clocks_compare')]
        }
      }
      if (/Forbidden by auth provider/i.test(e)) {
        return { cause: cause('jwt_rejected'), next_steps: [step('check_gitlab_keys_reachable'), step('check_clocks_agree')] }
      }
      return { cause: cause('unauthenticated'), next_steps: [] }
    }
    const s = specific()
    return fromCause(s.cause, { evidence: [statusFrom(401, e, `${up}${ex.path}`)], next_steps: [...s.next_steps, ...authChecks()] })
  }
  if (status === 403) {
    const detail = bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? ''
    if (/Duo Core no longer authorized to access Duo Classic Chat/i.test(detail)) {
      // 2025 gateway, ai_gateway/api/v2/chat/agent.py get_agent: duo_chat without duo_classic_chat.
      return diagnosis('duo_core_classic_chat', {}, {
        evidence: [statusFrom(403, detail, `${up}${ex.path}`)],
        next_steps: [step('assign_duo_pro_seat'), step('check_seat_utilization')]
      })
    }
    const scope = /Unauthorized to access (.+)$/i.exec(detail)?.[1]
    return fromCause(scope !== undefined ? cause('seat_not_assigned', { scope }) : cause('access_denied'), {
      evidence: [statusFrom(403, detail, `${up}${ex.path}`)],
      next_steps: authChecks()
    })
  }
  const call: ModelCallContext = { endpoint: ex.meta.model_endpoint, modelRouted: ctx.modelRouted }
  if (ex.hop === 'model' && (status === 404 || status === 400)) {
    const message = bodyField(ex, 'message') ?? bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? ''
    // Each server words an unknown model its own way: vLLM 404 "The model `x` does not exist."
    // (vllm/entrypoints/openai/serving_engine.py), Ollama 404 "model 'x' not found" (or, before
    // 0.12, `model "x" not found, try pulling it first`; openai/openai.go), the LiteLLM proxy 400
    // "Invalid model name passed in model=x" (litellm/proxy/proxy_server.py).
    const model = /The model `([^`]+)` does not exist|model ['"]([^'"]+)['"] not found|Invalid model name passed in model=([^\s.]+)/i.exec(message)
    if (model !== null) {
      const name = model[1] ?? model[2] ?? model[3] ?? ''
      return diagnosis('model_not_found', { model: name }, {
        evidence: [ev('status_message_from', { status, message: clip(message), url: `${up}${ex.path}` })],
        next_steps: [step('list_served_names', { url: `${up}${modelsPath(ex.path)}` })]
      })
    }
  }
  if (status === 404) {
    const message = bodyField(ex, 'message') ?? bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? (typeof ex.response?.body === 'string' ? ex.response.body.trim() : '')
    if (ex.hop === 'model' && /\/(chat\/)?completions$/.test(ex.path) && !/(^|\/)v1\//.test(ex.path)) {
      const base = `http://${hostOf(ex)}${ex.path.slice(0, ex.path.lastIndexOf(ex.path.endsWith('/chat/completions') ? '/chat/completions' : '/completions'))}`
      return diagnosis('model_endpoint_missing_v1', {}, {
        evidence: [message ? ev('missing_v1_404', { method: ex.method, path: ex.path, message }) : ev('missing_v1_404_no_message', { method: ex.method, path: ex.path })],
        next_steps: [step('set_endpoint_v1_not', { base })]
      })
    }
    return diagnosis('path_not_found', {}, { evidence: [ev('status_from', { status: 404, url: `${up}${ex.path}` })], next_steps: [step('check_hop_url')] })
  }
  if (status === 421) {
    // ai_gateway/api/v1/prompts/invoke.py: a model error with a status becomes 421 "<code>: <phrase>".
    const detail = bodyField(ex, 'detail') ?? ''
    const code = /^(\d{3})/.exec(detail)?.[1]
    const side = code === '404'
      ? (lacksV1(call.endpoint)
          ? { cause: cause('prompt_model_endpoint_missing_v1'), next_steps: [step('set_endpoint_v1', { endpoint: call.endpoint!.replace(/\/+$/, '') })] }
          : { cause: cause('prompt_model_404'), next_steps: [] })
      : modelFailureFromText(detail, call)
    const fallback = detail ? cause('prompt_model_error', { detail }) : cause('prompt_model_error_no_detail')
    return fromCause(side?.cause ?? fallback, {
      evidence: [ev('gateway_421', { detail })],
      next_steps: [...(side?.next_steps ?? []), ...modelChecks(call)]
    })
  }
  if (status === 503 && /Inference failed/i.test(bodyField(ex, 'detail') ?? '')) {
    // ai_gateway/api/server.py: ModelAPIError -> 503; the 2024 gateway's litellm code model wraps
    // only connection errors and the model's 5xx in it (models/litellm.py).
    const endpoint = call.endpoint
    return diagnosis('gateway_inference_failed', {}, {
      evidence: [endpoint ? ev('inference_failed_endpoint', { endpoint }) : ev('inference_failed')],
      next_steps: [
        ...(endpoint !== undefined && isLocalhost(endpoint) ? [step('endpoint_is_localhost', { endpoint })] : []),
        ...(lacksV1(endpoint) ? [step('endpoint_lacks_v1', { endpoint: endpoint!.replace(/\/+$/, '') })] : []),
        step('test_model_from_gateway', { models_url: endpointUrl(endpoint, 'models'), completions_url: endpointUrl(endpoint, 'chat/completions') }),
        step('check_model_server_oom'),
        ...(ctx.modelRouted ? [] : [step('route_model_hop')])
      ]
    })
  }
  if (status === 429) {
    const retry = ex.response?.headers['retry-after']
    return diagnosis('rate_limited', {}, {
      evidence: [retry ? ev('rate_limited_retry_after', { retry_after: String(retry) }) : ev('status_only', { status: 429 })],
      next_steps: [step('reduce_request_rate')]
    })
  }
  if (status === 500 && ex.hop === 'gateway' && isBareServerError(ex) && MODEL_FEATURES.has(ex.meta.feature)) {
    // Starlette's ServerErrorMiddleware: an exception no handler in ai_gateway/api/server.py
    // maps (litellm's NotFoundError, AuthenticationError, BadRequestError, Timeout).
    const side = unhandledModelFailure({ ...call, identifier: ex.meta.model_identifier }, ex.timings.duration_ms, ctx.gatewayModelTimeoutsS)
    return fromCause(side.cause, {
      evidence: [
        ev('gateway_bare_500', { url: `${up}${ex.path}` }),
        ...(call.endpoint !== undefined ? [requestModelEndpoint(call.endpoint, ex.meta.model_identifier, ex.meta.model_name)] : [])
      ],
      next_steps: side.next_steps
    })
  }
  if (status !== null && status >= 500) {
    const detail = bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? bodyField(ex, 'message')
    const model = ex.hop === 'model'
    return diagnosis(model ? 'model_server_failed' : 'gateway_failed', {}, {
      evidence: [statusFrom(status, detail, `${up}${ex.path}`)],
      next_steps: [model ? step('check_model_server_logs') : step('check_gateway_error_logs')]
    })
  }
  if (has(ex, 'stream_error')) {
    const message = ex.meta.stream_error ?? ''
    const side = modelFailureFromText(message, call)
    const chat = ex.meta.feature === 'chat'
    const dropped = has(ex, 'stream_aborted')
    const streamCause: Cause = side !== null
      ? { code: side.cause.code, params: { ...side.cause.params, context: streamContext(chat, dropped) } }
      : chat
        ? (dropped ? cause('chat_error_event_dropped') : cause('chat_error_event'))
        : (dropped ? cause('stream_error_event_dropped') : cause('stream_error_event'))
    return fromCause(streamCause, {
      evidence: [ev('error_event', { message }), ...(dropped ? [ev('dropped_after_error_event')] : [])],
      next_steps: [...(side?.next_steps ?? []), ...modelChecks(call)]
    })
  }
  if (has(ex, 'stream_aborted')) {
    return diagnosis('stream_aborted', {}, {
      evidence: [ev('aborted_after_bytes', { code: err?.code ?? 'aborted', bytes: ex.response?.bytes ?? 0 })],
      next_steps: ex.hop === 'gateway' && MODEL_FEATURES.has(ex.meta.feature)
        ? [step('see_model_hop_midstream'), ...modelChecks(call)]
        : [step('check_upstream_restart_logs'), step('check_intermediary_idle_timeouts')]
    })
  }
  if (has(ex, 'stream_truncated')) {
    const bytes = ex.response?.bytes ?? 0
    return diagnosis('stream_truncated', {}, {
      evidence: [ex.hop === 'model' ? ev('no_end_marker_model', { bytes }) : ev('no_end_marker', { bytes })],
      next_steps: [step('compare_with_model_hop')]
    })
  }
  if (status === 422) return validationError(ex)
  if (status !== null && status >= 400) {
    const detail = bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? bodyField(ex, 'message')
    return diagnosis('client_error', { status }, { evidence: [statusDetail(status, detail)], next_steps: [] })
  }
  const tokenFlags = ex.flags.filter((f) => f.startsWith('token_'))
  if (tokenFlags.length > 0) {
    return diagnosis('token_predicts_failure', { flags: tokenFlags.join(', ') }, {
      evidence: [...ctx.tokenEvidence],
      next_steps: [
        ...(tokenFlags.includes('token_expired') || tokenFlags.includes('token_not_yet_valid') ? [step('sync_clocks')] : []),
        ...(tokenFlags.includes('token_issuer_mismatch') ? [step('set_aigw_gitlab_url_to_issuer')] : []),
        ...(tokenFlags.includes('token_header_mismatch') ? [step('request_activation_code')] : []),
        ...(tokenFlags.includes('token_audience_mismatch') ? [step('check_gateway_url_for_audience')] : [])
      ]
    })
  }
  if (has(ex, 'slow')) {
    const g = gitlabTimeout(ex.meta.feature)
    const thresholds = { duration_ms: ex.timings.duration_ms, ttfb_threshold_ms: ctx.slow.ttfbMs, duration_threshold_ms: ctx.slow.durationMs, deadline: g.who }
    return diagnosis('slow', {}, {
      evidence: [ex.timings.ttfb_ms === null ? ev('slow_timings_no_ttfb', thresholds) : ev('slow_timings', { ...thresholds, ttfb_ms: ex.timings.ttfb_ms })],
      next_steps: [step('look_at_model_hop'), step('smaller_model_for_completion')]
    })
  }
  if (has(ex, 'client_aborted') && ex.error?.code === PROXY_STOPPED_CODE) {
    return diagnosis('proxy_stopped', {}, {
      evidence: [ev('cut_after', { duration_ms: ex.timings.duration_ms })],
      next_steps: [step('stop_with_one_signal')]
    })
  }
  if (has(ex, 'client_aborted')) {
    const completion = ex.meta.feature === 'code_completions'
    return diagnosis(completion ? 'completion_cancelled' : 'client_aborted', {}, {
      evidence: [ev('caller_left_after', { duration_ms: ex.timings.duration_ms })],
      next_steps: completion ? [] : [step('compare_with_gitlab_timeouts')]
    })
  }
  if (ctx.insecureTls && has(ex, 'tls_unverified')) return null
  return null
}

/** The model endpoint (and identifier, model) the gateway request named, as evidence. */
function requestModelEndpoint (endpoint: string, identifier: string | undefined, model: string | undefined): DiagnosisLine {
  if (identifier !== undefined && model !== undefined) return ev('request_model_endpoint_identifier_model', { endpoint, identifier, model })
  if (identifier !== undefined) return ev('request_model_endpoint_identifier', { endpoint, identifier })
  if (model !== undefined) return ev('request_model_endpoint_model', { endpoint, model })
  return ev('request_model_endpoint', { endpoint })
}
