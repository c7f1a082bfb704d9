import { createHash } from 'node:crypto'
import type { Exchange } from '../capture/exchange.js'
import type { Diagnosis } from './diagnosis.js'
import type { Flag } from './flags.js'
import { endpointUrl, lacksV1, MODEL_TIMEOUT_STEPS, modelChecks, type ModelCallContext, modelFailureFromText, unhandledModelFailure } from './model-failure.js'
import type { ChainSummary } from './tls-chain.js'
import { PROXY_STOPPED_CODE } from './transport.js'

export interface ExplainContext {
  timeouts: { connectMs: number, headersMs: number, bodyIdleMs: number }
  slow: { ttfbMs: number, durationMs: number }
  /** Summary of the certificate chain the upstream presented, for tls_error. */
  tlsChain: ChainSummary | null
  /** Evidence lines from the token check. */
  tokenEvidence: string[]
  insecureTls: boolean
  /** Some route of this proxy is on the model hop: the model's own answers are recorded. */
  modelRouted: boolean
  /** The AI gateway's model timeouts, seconds. */
  gatewayModelTimeoutsS: readonly number[]
}

/** The checks the playbook runs for every 401/403. */
const AUTH_CHECKS = [
  'Check the user has a GitLab Duo seat assigned (Admin > GitLab Duo > seat utilization): in the Rails console, User.find_by_id(ID).allowed_to_use?(:code_suggestions, service_name: :self_hosted_models).',
  'Check the license includes GitLab Duo (Premium/Ultimate with the Duo add-on) and is not expired.',
  'Check the AI gateway URL configured in GitLab points at this gateway (or this proxy).',
  "Check AIGW_GITLAB_URL (and AIGW_GITLAB_API_URL) in the gateway's environment match the instance's URL: docker exec <ai-gateway-container> env | grep AIGW."
]

/** GitLab's own deadline for a feature: how long the caller waits before giving up. */
export function gitlabTimeout (feature: string): { seconds: string, who: string } {
  if (feature === 'code_completions' || feature === 'code_generations' || feature === 'code_suggestions') {
    return { seconds: '55', who: 'GitLab Workhorse gives code suggestions 55 s' }
  }
  if (feature === 'chat') return { seconds: '30-60', who: 'GitLab Rails gives chat 30-60 s' }
  return { seconds: '30-60', who: 'GitLab Rails gives AI requests 30-60 s' }
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

function seconds (ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
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
      return typeof msg === 'string' ? [{ where, msg: msg.length > 300 ? msg.slice(0, 300) + '…' : msg }] : []
    })
    : []
  if (fields.length > 0) {
    const first = fields[0]!
    const model = fields.find((f) => /model_(name|provider)|^model_metadata/.test(f.where))
    return {
      cause: model !== undefined
        ? `The gateway does not accept the self-hosted model's ${model.where.replace(/^model_metadata\./, 'model_metadata ')}: ${model.msg}. The model family chosen in GitLab is not one this gateway version supports.`
        : `The gateway rejected the request body: ${first.where || 'body'}: ${first.msg}.`,
      evidence: fields.slice(0, 5).map((f) => `422 ${f.where || 'body'}: ${f.msg}`),
      next_steps: model !== undefined
        ? ['Choose a model family the gateway supports for the self-hosted model in GitLab, or run the AI gateway version that matches GitLab\'s (the gateway image tag should match the GitLab version).']
        : ['Check the GitLab and AI gateway versions are compatible (the gateway image tag should match the GitLab version).']
    }
  }
  const text = typeof detail === 'string' ? detail : bodyField(ex, 'error') ?? ''
  return {
    cause: 'The gateway rejected the request body (validation error): a GitLab / AI gateway version mismatch is the common reason.',
    evidence: [`422${text ? ` "${text}"` : ''}${text === 'Validation error' ? ': the 2025 gateway hides which field failed unless request logging is enabled' : ''}`],
    next_steps: ['Check the GitLab and AI gateway versions are compatible (the gateway image tag should match the GitLab version).', 'The gateway\'s log names the field: docker logs <ai-gateway-container> 2>&1 | grep -i validation | tail -n 5.']
  }
}

/** The proxy's own 400s for requests Node's parser accepts (src/proxy/forward.ts). */
const STRICT_400 = new Set(['DDP_ASTERISK_FORM', 'DDP_HTTP09', 'DDP_URL_FRAGMENT', 'DDP_TE_NOT_CHUNKED', 'DDP_TE_HTTP10', 'DDP_UPGRADE_UNSUPPORTED'])

function has (ex: Exchange, f: Flag): boolean {
  return ex.flags.includes(f)
}

/**
 * The playbook, as code: the most specific cause for an exchange's flags, the evidence the
 * proxy saw, and the next steps. null when nothing is wrong.
 */
export function explain (ex: Exchange, ctx: ExplainContext): Diagnosis | null {
  const d = primary(ex, ctx)
  if (d === null) return null
  if (ex.meta.fault !== undefined) d.evidence.push(`injected by fault rule "${ex.meta.fault}": this failure was staged, not real`)
  if (ctx.tokenEvidence.length > 0 && !d.evidence.some((e) => ctx.tokenEvidence.includes(e))) d.evidence.push(...ctx.tokenEvidence)
  return d
}

function primary (ex: Exchange, ctx: ExplainContext): Diagnosis | null {
  const up = originOf(ex.upstream)
  const err = ex.error
  const phaseOf = (f: Flag): string => ({ connect_timeout: 'connecting', headers_timeout: 'waiting for response headers', body_timeout: 'waiting for the next body chunk' } as Record<string, string>)[f] ?? ''

  if (has(ex, 'request_rejected')) {
    if (err?.code === 'HPE_HEADER_OVERFLOW') {
      return {
        cause: 'The request headers are over 16 KiB: the proxy answered 431 and did not forward it.',
        evidence: [`${err.code}: ${err.message}`],
        next_steps: ['Something adds very large headers (cookies, tokens): find out what; the gateway would reject them too.']
      }
    }
    if (err?.code === 'DDP_CONNECT_METHOD') {
      return {
        cause: 'A CONNECT request: the caller uses the proxy as a forward (HTTPS) proxy. It forwards to its one upstream and tunnels nothing: it answered 405.',
        evidence: [`${err.code}: ${err.message}`],
        next_steps: ["Look for HTTPS_PROXY / https_proxy (or a proxy setting) in the caller's environment naming this proxy: set the route's address as the caller's base URL instead, or exclude it with NO_PROXY."]
      }
    }
    if (err?.code === 'DDP_TRANSFER_CODING') {
      return {
        cause: 'The request body uses a transfer coding other than chunked (e.g. gzip, chunked): the proxy answered 501 and did not forward it, as nginx does.',
        evidence: [`${err.code}: ${err.message}`],
        next_steps: ['Check what sits between GitLab and the proxy: something adds a transfer coding. A compressed body belongs in Content-Encoding.']
      }
    }
    if (err !== null && (err.code.startsWith('HPE_') || STRICT_400.has(err.code))) {
      return {
        cause: 'The request is not valid HTTP/1.1 (or is shaped like request smuggling): the proxy answered 400 and did not forward it.',
        evidence: [`${err.code}: ${err.message}`],
        next_steps: ['Check what sits between GitLab and the proxy: a load balancer or proxy rewriting requests.']
      }
    }
    return {
      cause: 'The proxy refused the request: its body is over the route\'s max_body_bytes.',
      evidence: [`${ex.request.bytes} bytes${err ? `: ${err.message}` : ''}`],
      next_steps: ['Raise routes[].max_body_bytes if such bodies are legitimate.']
    }
  }
  if (has(ex, 'tls_error')) {
    const code = err?.code ?? 'TLS error'
    const chain = ctx.tlsChain
    const evidence = [`TLS handshake with ${up} failed: ${code}${err ? ` (${err.message})` : ''}`]
    if (chain !== null) {
      for (const [i, c] of chain.certificates.entries()) {
        evidence.push(`certificate ${i}: subject ${c.subject}, issuer ${c.issuer}, valid ${c.valid_from} to ${c.valid_to}${c.san ? `, ${c.san}` : ''}`)
      }
    }
    const what = /WRONG_VERSION_NUMBER|PACKET_LENGTH|EPROTO|record layer/i.test(`${code} ${err?.message ?? ''}`)
      ? 'the upstream port speaks plain HTTP, not TLS: the URL should start with http://'
      : code === 'CERT_HAS_EXPIRED' ? "the upstream's certificate has expired"
        : code === 'CERT_NOT_YET_VALID' ? "the upstream's certificate is not valid yet (check clocks)"
          : code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH' ? "the certificate does not name the host in the URL"
            : code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? 'the upstream presents a self-signed certificate'
              : code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
                ? 'the certificate is signed by a CA that is not trusted (a private CA)'
                : 'the TLS handshake failed'
    return {
      cause: `SSL certificate verify failed: ${what}.`,
      evidence,
      next_steps: [
        'Use a certificate from a trusted CA on GitLab and the AI gateway: the gateway does not support self-signed certificates on GitLab.',
        "For a private CA: trust it in this proxy with the route's tls.ca_file (--ca-file), and in the AI gateway container with SSL_CERT_FILE / REQUESTS_CA_BUNDLE pointing at the CA bundle.",
        'Make the certificate name the host used in the URL (subjectAltName), and renew it before it expires.',
        'Run duo-diag-proxy doctor against the URL for the presented chain.'
      ]
    }
  }
  if (has(ex, 'connection_refused')) {
    const local = isLocalhost(ex.upstream)
    return {
      cause: ex.hop === 'model'
        ? 'The model server is not reachable: nothing accepts connections at its address.'
        : 'The AI gateway is not reachable: nothing accepts connections at its address (wrong URL, gateway down, or a firewall).',
      evidence: [`connect to ${up} refused (${err?.code ?? 'ECONNREFUSED'})`],
      next_steps: [
        `Check the service runs and listens on ${new URL(up).port || 'the default port'}: curl ${up}${ex.hop === 'model' ? '/v1/models' : '/monitoring/healthz'}${ex.hop === 'model' ? ' (vLLM, the LiteLLM proxy and Ollama all answer it)' : ''}.`,
        ...(local ? ['The address is localhost: inside a container, localhost is that container itself. Use the host name or IP the other container can reach.'] : []),
        'Check firewalls and security groups between the proxy and the upstream.'
      ]
    }
  }
  if (has(ex, 'dns_failure')) {
    return {
      cause: `The upstream host name ${new URL(up).hostname} does not resolve.`,
      evidence: [`DNS lookup failed (${err?.code})`],
      next_steps: ['Check the URL for typos, and that the name resolves from where the proxy (and the gateway) run: getent hosts NAME.']
    }
  }
  if (has(ex, 'network_unreachable')) {
    return {
      cause: 'No network route to the upstream.',
      evidence: [`${err?.code}: ${err?.message}`],
      next_steps: ['Check routing, VPNs and firewalls between the proxy and the upstream.']
    }
  }
  for (const f of ['connect_timeout', 'headers_timeout', 'body_timeout'] as const) {
    if (!has(ex, f)) continue
    const limit = f === 'connect_timeout' ? ctx.timeouts.connectMs : f === 'headers_timeout' ? ctx.timeouts.headersMs : ctx.timeouts.bodyIdleMs
    const g = gitlabTimeout(ex.meta.feature)
    return {
      cause: f === 'connect_timeout'
        ? 'Network problem: the upstream did not accept a connection in time.'
        : ex.hop === 'model' ? 'The model is too slow or stuck: it did not answer in time.' : 'The AI gateway (or the model behind it) did not answer in time.',
      evidence: [
        `timed out after ${seconds(ex.timings.duration_ms)} while ${phaseOf(f)} (the route allows ${seconds(limit)})`,
        `${g.who}: ${ex.timings.duration_ms > Number(g.seconds.split('-')[0]) * 1000 ? 'GitLab had already given up on this request' : 'GitLab may still have been waiting'}`
      ],
      next_steps: f === 'connect_timeout'
        ? ['A firewall dropping packets looks like this; check the path to the upstream.', 'Check the upstream host is up.']
        : [
            ex.hop === 'model' ? `Check the model server is healthy and not overloaded (GPU memory, queue length); test it directly: ${ex.method} ${up}${ex.path}.` : ctx.modelRouted ? 'Look at the model hop for this request (GET /api/traces/<correlation_id>): a slow model makes the gateway slow.' : 'A slow model makes the gateway slow: route the model endpoint through this proxy (--route model=…) to see the model hop.',
            'Use a smaller or faster model, or reduce max_tokens, for features with short timeouts (code completion).'
          ]
    }
  }
  if (has(ex, 'model_timeout')) {
    const silent = ex.timings.ttfb_ms === null ? ex.timings.duration_ms : ex.timings.duration_ms - ex.timings.ttfb_ms
    const limit = [...ctx.gatewayModelTimeoutsS].sort((a, b) => Math.abs(a * 1000 - silent) - Math.abs(b * 1000 - silent))[0]
    return {
      cause: `The model did not answer within the AI gateway's ${limit ?? 30} s model timeout: the gateway (litellm) gave up on it and hung up.`,
      evidence: [
        `the gateway closed the connection after ${seconds(ex.timings.duration_ms)}${ex.timings.ttfb_ms === null ? ' with no response from the model yet' : ', the model having sent headers but no body'}`,
        ...(ex.meta.max_tokens !== undefined ? [`the call asked for up to ${ex.meta.max_tokens} tokens${ex.meta.model !== undefined ? ` of ${ex.meta.model}` : ''}`] : [])
      ],
      next_steps: MODEL_TIMEOUT_STEPS
    }
  }
  if (has(ex, 'connection_reset')) {
    return {
      cause: 'The upstream closed the connection without answering: it crashed or restarted, or something in between (a load balancer, a proxy) cut it.',
      evidence: [`${err?.code}: ${err?.message}`],
      next_steps: ["Check the upstream's logs at this time for a crash or restart.", 'Check idle timeouts of load balancers between the proxy and the upstream.']
    }
  }

  const status = ex.status
  if (ex.hop === 'model' && (status === 401 || status === 403)) {
    // vLLM --api-key: 401 {"error":"Unauthorized"} (vllm/entrypoints/openai/api_server.py);
    // the LiteLLM proxy: 401 "Authentication Error, No api key passed in." (proxy/auth).
    const message = bodyField(ex, 'message') ?? bodyField(ex, 'error') ?? bodyField(ex, 'detail') ?? ''
    const sent = ex.request.headers.authorization
    const placeholder = typeof sent === 'string' ? PLACEHOLDER_KEYS.find((k) => sent === `Bearer [FILTERED sha256:${createHash('sha256').update(k).digest('hex').slice(0, 8)}]`) : undefined
    return {
      cause: placeholder !== undefined
        ? `The model server requires an API key, and none is configured in GitLab: the gateway sent its placeholder "${placeholder}".`
        : 'The model server rejected the API key the gateway sent: the self-hosted model\'s API key in GitLab is not one the model server accepts.',
      evidence: [`${status}${message ? ` "${message}"` : ''} from ${up}${ex.path}`, sent === undefined ? 'the call carried no Authorization header' : `the call carried Authorization: ${String(sent)}${placeholder !== undefined ? ` (the fingerprint of "${placeholder}")` : ''}`],
      next_steps: ['Set the self-hosted model\'s API key in GitLab (Admin > GitLab Duo > Self-hosted models) to a key the model server accepts (vLLM --api-key, a LiteLLM proxy key).']
    }
  }
  if (status === 401) {
    const e = bodyField(ex, 'error') ?? bodyField(ex, 'detail') ?? ''
    const specific = (): Pick<Diagnosis, 'cause' | 'next_steps'> => {
      if (/No authorization header presented/i.test(e)) {
        return { cause: 'The request reached the gateway without an Authorization header: something between GitLab and the gateway strips it.', next_steps: ['Check reverse proxies / ingress in front of the gateway pass the Authorization header through.'] }
      }
      if (/Invalid authorization header/i.test(e)) {
        return { cause: 'The Authorization header is not "Bearer <token>": something rewrote it, or the caller is not GitLab.', next_steps: ['Check what sits between GitLab and the gateway.'] }
      }
      if (/only OIDC is supported/i.test(e)) {
        return { cause: 'The request lacks X-Gitlab-Authentication-Type: oidc.', next_steps: ['Check intermediaries keep the X-Gitlab-* headers.'] }
      }
      const mismatch = /Header mismatch '([^']+)'/i.exec(e)
      if (mismatch !== null) {
        return {
          cause: `The token's claim and the ${mismatch[1]} header differ: ${mismatch[1] === 'X-Gitlab-Instance-Id' ? 'the instance identity changed (restored backup, cloned instance)' : 'something altered the header'}.`,
          next_steps: mismatch[1] === 'X-Gitlab-Instance-Id'
            ? ['Synchronise the subscription / request a new activation code so the instance id matches, then retry.']
            : ['Check intermediaries do not rewrite X-Gitlab-* headers.']
        }
      }
      if (/Forbidden by auth provider/i.test(e) && (has(ex, 'token_expired') || has(ex, 'token_not_yet_valid'))) {
        return {
          cause: has(ex, 'token_expired')
            ? "GitLab's token had expired when it reached the gateway: the clocks of GitLab and the gateway disagree, or the request waited too long on the way."
            : "GitLab's token is not valid yet by the gateway's clock: the clocks of GitLab and the gateway disagree.",
          next_steps: ['Synchronise the clocks of GitLab, the gateway and this host (NTP): compare date -u on each.']
        }
      }
      if (/Forbidden by auth provider/i.test(e)) {
        return {
          cause: "The gateway rejected GitLab's token (signature, audience or expiry), or it cannot fetch GitLab's signing keys from AIGW_GITLAB_URL.",
          next_steps: [
            'Check AIGW_GITLAB_URL is the instance URL and reachable from the gateway container: docker exec <ai-gateway-container> curl "$AIGW_GITLAB_URL/oauth/discovery/keys".',
            'Check the clocks of GitLab and the gateway agree (token expiry).'
          ]
        }
      }
      return { cause: 'The upstream rejected the request as unauthenticated.', next_steps: [] }
    }
    const s = specific()
    return { cause: s.cause, evidence: [`401 ${e ? `"${e}"` : ''} from ${up}${ex.path}`.trim()], next_steps: [...s.next_steps, ...AUTH_CHECKS] }
  }
  if (status === 403) {
    const detail = bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? ''
    if (/Duo Core no longer authorized to access Duo Classic Chat/i.test(detail)) {
      // 2025 gateway, ai_gateway/api/v2/chat/agent.py get_agent: duo_chat without duo_classic_chat.
      return {
        cause: 'The user has GitLab Duo Core only, and Duo Core no longer gives access to classic Duo Chat (the 2025 gateway refuses it).',
        evidence: [`403 "${detail}" from ${up}${ex.path}`],
        next_steps: [
          'Assign the user a GitLab Duo Pro or Enterprise seat for classic Duo Chat, or have them use the agentic chat that Duo Core includes.',
          'Check the seat in Admin > GitLab Duo > seat utilization.'
        ]
      }
    }
    const scope = /Unauthorized to access (.+)$/i.exec(detail)?.[1]
    return {
      cause: scope !== undefined
        ? `The user's token lacks the scope for ${scope}: no GitLab Duo seat for this feature, or the feature is not enabled for them.`
        : 'Authenticated but not allowed: a missing seat, license, or feature access.',
      evidence: [`403 ${detail ? `"${detail}"` : ''} from ${up}${ex.path}`.trim()],
      next_steps: AUTH_CHECKS
    }
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
      const name = model[1] ?? model[2] ?? model[3]
      return {
        cause: `The model server does not serve a model named "${name}": the model identifier configured in GitLab differs from the served model name.`,
        evidence: [`${status} "${message.length > 300 ? message.slice(0, 300) + '…' : message}" from ${up}${ex.path}`],
        next_steps: [`List the served names: curl ${up}${modelsPath(ex.path)}; set the self-hosted model's identifier in GitLab to custom_openai/<one of them>.`]
      }
    }
  }
  if (status === 404) {
    const message = bodyField(ex, 'message') ?? bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? (typeof ex.response?.body === 'string' ? ex.response.body.trim() : '')
    if (ex.hop === 'model' && /\/(chat\/)?completions$/.test(ex.path) && !/(^|\/)v1\//.test(ex.path)) {
      const base = `http://${hostOf(ex)}${ex.path.slice(0, ex.path.lastIndexOf(ex.path.endsWith('/chat/completions') ? '/chat/completions' : '/completions'))}`
      return {
        cause: 'The model endpoint URL lacks the /v1 suffix.',
        evidence: [`${ex.method} ${ex.path} answered 404 ${message ? `"${message}"` : ''}: OpenAI-compatible servers serve the API under /v1, and the gateway appends only /chat/completions to the endpoint`],
        next_steps: [`Set the model endpoint in GitLab to ${base}/v1 (not ${base}).`]
      }
    }
    return { cause: 'The upstream has nothing at this path.', evidence: [`404 from ${up}${ex.path}`], next_steps: ['Check the URL configured in GitLab for this hop.'] }
  }
  if (status === 421) {
    // ai_gateway/api/v1/prompts/invoke.py: a model error with a status becomes 421 "<code>: <phrase>".
    const detail = bodyField(ex, 'detail') ?? ''
    const code = /^(\d{3})/.exec(detail)?.[1]
    const side = code === '404'
      ? (lacksV1(call.endpoint)
          ? { cause: 'The model endpoint URL lacks the /v1 suffix: the model answered 404.', next_steps: [`Set the model endpoint in GitLab to ${call.endpoint!.replace(/\/+$/, '')}/v1.`] }
          : { cause: 'The model answered 404: the model name is not served there, or the model endpoint URL is wrong.', next_steps: [] })
      : modelFailureFromText(detail, call)
    return {
      cause: side?.cause ?? `The model behind the gateway returned an error${detail ? ` (${detail})` : ''}.`,
      evidence: [`421 "${detail}" from the gateway: the detail is the model's own status`],
      next_steps: [...(side?.next_steps ?? []), ...modelChecks(call)]
    }
  }
  if (status === 503 && /Inference failed/i.test(bodyField(ex, 'detail') ?? '')) {
    // ai_gateway/api/server.py: ModelAPIError -> 503; the 2024 gateway's litellm code model wraps
    // only connection errors and the model's 5xx in it (models/litellm.py).
    const endpoint = call.endpoint
    return {
      cause: 'The gateway could not reach the model, or the model failed (5xx): the gateway answered "Inference failed".',
      evidence: [`503 "Inference failed" from the gateway${endpoint ? `; model endpoint ${endpoint}` : ''}`],
      next_steps: [
        ...(endpoint !== undefined && isLocalhost(endpoint) ? [`The model endpoint ${endpoint} is localhost: inside the AI gateway container that is the container itself, not the model server.`] : []),
        ...(lacksV1(endpoint) ? [`The model endpoint lacks /v1: set it to ${endpoint!.replace(/\/+$/, '')}/v1.`] : []),
        `From the gateway container, test the model: curl ${endpointUrl(endpoint, 'models')}, then POST ${endpointUrl(endpoint, 'chat/completions')}.`,
        "Check the model server's logs at this time for a crash or out-of-memory.",
        ...(ctx.modelRouted ? [] : ['Route the model endpoint through this proxy to see the model hop (--route model=…).'])
      ]
    }
  }
  if (status === 429) {
    const retry = ex.response?.headers['retry-after']
    return { cause: 'Rate limited by the upstream.', evidence: [`429${retry ? `, Retry-After: ${String(retry)}` : ''}`], next_steps: ['Reduce the request rate, or raise the limit on the gateway / model server.'] }
  }
  if (status === 500 && ex.hop === 'gateway' && isBareServerError(ex) && MODEL_FEATURES.has(ex.meta.feature)) {
    // Starlette's ServerErrorMiddleware: an exception no handler in ai_gateway/api/server.py
    // maps (litellm's NotFoundError, AuthenticationError, BadRequestError, Timeout).
    const side = unhandledModelFailure({ ...call, identifier: ex.meta.model_identifier }, ex.timings.duration_ms, ctx.gatewayModelTimeoutsS)
    return {
      cause: side.cause,
      evidence: [
        `500 text/plain "Internal Server Error" from ${up}${ex.path}: an unhandled exception in the gateway (only ModelAPIError is mapped, to 503 "Inference failed")`,
        ...(call.endpoint !== undefined ? [`the request's model endpoint: ${call.endpoint}${ex.meta.model_identifier !== undefined ? `, model identifier ${ex.meta.model_identifier}` : ''}${ex.meta.model_name !== undefined ? `, model ${ex.meta.model_name}` : ''}`] : [])
      ],
      next_steps: side.next_steps
    }
  }
  if (status !== null && status >= 500) {
    const detail = bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? bodyField(ex, 'message')
    return {
      cause: ex.hop === 'model' ? 'The model server failed.' : 'The AI gateway failed.',
      evidence: [`${status}${detail ? ` "${detail}"` : ''} from ${up}${ex.path}`],
      next_steps: [ex.hop === 'model' ? "Check the model server's logs at this time." : "Check the gateway's logs: docker logs <ai-gateway-container> 2>&1 | grep -i error | tail -n 20."]
    }
  }
  if (has(ex, 'stream_error')) {
    const message = ex.meta.stream_error ?? ''
    const side = modelFailureFromText(message, call)
    const chat = ex.meta.feature === 'chat'
    return {
      cause: side !== null
        ? `${side.cause} (${chat ? 'Duo Chat got an error event' : 'the stream carried an error event'}${has(ex, 'stream_aborted') ? ', then the gateway dropped the connection' : ''}.)`
        : `The model call failed while the gateway streamed: ${chat ? 'Duo Chat got an error event' : 'the stream carried an error event'}${has(ex, 'stream_aborted') ? ' and then the gateway dropped the connection' : ''} (Duo Chat shows A1003 or A1004).`,
      evidence: [
        `error event: ${message}`,
        ...(has(ex, 'stream_aborted') ? ['the connection was dropped after the error event: the gateway re-raises the error after sending it (ai_gateway/chat/agents/react.py), which is how it always ends a failed chat'] : [])
      ],
      next_steps: [...(side?.next_steps ?? []), ...modelChecks(call)]
    }
  }
  if (has(ex, 'stream_aborted')) {
    return {
      cause: 'The upstream died in the middle of the response: the caller got a cut-off stream.',
      evidence: [`${err?.code ?? 'aborted'} after ${ex.response?.bytes ?? 0} bytes`],
      next_steps: ex.hop === 'gateway' && MODEL_FEATURES.has(ex.meta.feature)
        ? ['A model failure mid-stream makes the gateway drop the connection: see the model hop for this request (GET /api/traces/<correlation_id>).', ...modelChecks(call)]
        : ["Check the upstream's logs for a crash or restart at this time.", 'Check intermediaries with short idle timeouts.']
    }
  }
  if (has(ex, 'stream_truncated')) {
    return {
      cause: 'The stream ended without its final event: the upstream closed it early.',
      evidence: [`${ex.response?.bytes ?? 0} bytes, no end marker (${ex.hop === 'model' ? '[DONE] or finish_reason' : 'final event'})`],
      next_steps: ["Check the upstream's logs; compare with the model hop (GET /api/traces/<correlation_id>)."]
    }
  }
  if (status === 422) return validationError(ex)
  if (status !== null && status >= 400) {
    const detail = bodyField(ex, 'detail') ?? bodyField(ex, 'error') ?? bodyField(ex, 'message')
    return {
      cause: `The upstream rejected the request (${status}).`,
      evidence: [`${status}${detail ? ` "${detail}"` : ''}`],
      next_steps: []
    }
  }
  const tokenFlags = ex.flags.filter((f) => f.startsWith('token_'))
  if (tokenFlags.length > 0) {
    return {
      cause: 'The upstream accepted the request, but the token predicts the next failure: ' + tokenFlags.join(', ') + '.',
      evidence: [...ctx.tokenEvidence],
      next_steps: [
        ...(tokenFlags.includes('token_expired') || tokenFlags.includes('token_not_yet_valid') ? ['Synchronise the clocks of GitLab, the gateway and this host (NTP).'] : []),
        ...(tokenFlags.includes('token_issuer_mismatch') ? ['Set AIGW_GITLAB_URL to the URL in the token issuer (the instance URL).'] : []),
        ...(tokenFlags.includes('token_header_mismatch') ? ['Request a new activation code / synchronise the subscription, and check intermediaries do not rewrite X-Gitlab-* headers.'] : []),
        ...(tokenFlags.includes('token_audience_mismatch') ? ['The token was not minted for the AI gateway: check the AI gateway URL setting in GitLab.'] : [])
      ]
    }
  }
  if (has(ex, 'slow')) {
    const g = gitlabTimeout(ex.meta.feature)
    return {
      cause: 'Slow: close to the point where GitLab gives up on this request.',
      evidence: [`time to first byte ${ex.timings.ttfb_ms === null ? 'n/a' : seconds(ex.timings.ttfb_ms)}, total ${seconds(ex.timings.duration_ms)} (thresholds ${seconds(ctx.slow.ttfbMs)} / ${seconds(ctx.slow.durationMs)}); ${g.who}`],
      next_steps: ['Look at the model hop for this request: most of the time is usually the model.', 'Consider a smaller model or lower max_tokens for code completion.']
    }
  }
  if (has(ex, 'client_aborted') && ex.error?.code === PROXY_STOPPED_CODE) {
    return {
      cause: 'The proxy was stopped (a second SIGTERM/SIGINT) while this exchange was in flight: it cut the connection and recorded what it had.',
      evidence: [`cut after ${seconds(ex.timings.duration_ms)}`],
      next_steps: ['Nothing to fix upstream. Stop the proxy with one signal to let exchanges in flight finish (up to shutdown_grace_ms).']
    }
  }
  if (has(ex, 'client_aborted')) {
    return {
      cause: ex.meta.feature === 'code_completions' ? 'The caller cancelled: normal for code completion (the IDE cancels as the user types).' : 'The caller hung up before the response was complete.',
      evidence: [`the caller left after ${seconds(ex.timings.duration_ms)}`],
      next_steps: ex.meta.feature === 'code_completions' ? [] : ['If this repeats, compare the time with GitLab\'s timeouts: the caller may be giving up on a slow upstream.']
    }
  }
  if (ctx.insecureTls && has(ex, 'tls_unverified')) return null
  return null
}
