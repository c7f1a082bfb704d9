import { createHash } from 'node:crypto'
import { type Attributes, type HrTime, type Link, type SpanContext, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import type { Exchange } from '../capture/exchange.js'
import type { Flag } from '../diagnosis/flags.js'
import { classifyTransport } from '../diagnosis/transport.js'
import { VERSION } from '../version.js'

/**
 * Each exchange becomes two spans, following the OpenTelemetry semantic conventions (HTTP spans,
 * stable; GenAI client spans, development, as of semantic-conventions v1.41):
 *
 * - a SERVER span, `{method} {http.route}`: the caller's request as the proxy received it and
 *   answered it (the proxy is the server its caller talks to);
 * - its CLIENT child, the proxy's call to the upstream: `{method} {url.template}`, or on the
 *   model hop's inference and embeddings calls a GenAI client span, `{gen_ai.operation.name}
 *   {gen_ai.request.model}` with the gen_ai.* attributes. A request the proxy refused itself
 *   never went upstream: it has no CLIENT span.
 *
 * One span could not be both: the HTTP conventions require kind SERVER for an inbound request
 * and kind CLIENT for an outbound one, and the GenAI conventions put inference on a CLIENT span;
 * span status differs too (a 4xx leaves a SERVER span's status unset, and sets a CLIENT span's
 * to Error). Two spans are also what the upstream's own instrumentation expects: when the proxy
 * starts a trace (otel.start_traces) the upstream is told the CLIENT span is its parent.
 *
 * On real traffic the AI gateway does not pass a traceparent to the model server, so a model-hop
 * exchange's SERVER span is made a child of the CLIENT span of the gateway-hop exchange the link
 * tied it to (capture/link.ts): same trace, parent span id that CLIENT span's. Span ids derive
 * from exchange ids, so a child can name its parent whichever batch either is exported in.
 */

/** Where an exchange's spans go: its trace, the SERVER span's parent, and links to other traces. */
export interface Placement {
  traceId: string
  /** The caller's span (W3C traceparent), or the linked gateway-hop exchange's CLIENT span. */
  parentSpanId?: string
  /** Related spans in other traces (a linked gateway request the trace could not be joined to). */
  links?: Link[]
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/

function hex (text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length)
}

function parseTraceparent (value: unknown): { traceId: string, spanId: string } | null {
  const m = typeof value === 'string' ? TRACEPARENT.exec(value.trim()) : null
  if (m === null || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return null
  return { traceId: m[1]!, spanId: m[2]! }
}

/** The traceparent the proxy added upstream (otel.start_traces). */
function started (ex: Exchange): { traceId: string, spanId: string } | null {
  return ex.trace_started === undefined ? null : parseTraceparent(ex.trace_started)
}

/** The traceparent the caller sent (forwarded untouched). */
function propagated (ex: Exchange): { traceId: string, spanId: string } | null {
  const tp = ex.request.headers.traceparent
  return parseTraceparent(Array.isArray(tp) ? tp[0] : tp)
}

/** The SERVER span's id: from the exchange id, so others can name it before it is sent. */
export function serverSpanId (ex: Exchange): string {
  return hex(ex.id, 16)
}

/** The CLIENT span's id when the upstream was told none (or was told one in another trace). */
function derivedClientSpanId (ex: Exchange): string {
  return hex(`${ex.id}/client`, 16)
}

/**
 * The CLIENT span's id in the exchange's own trace: the one the upstream was told
 * (otel.start_traces), else from the exchange id. What a model call's SERVER span names as its
 * parent, from the gateway-hop exchange alone.
 */
export function clientSpanId (ex: Exchange): string {
  return started(ex)?.spanId ?? derivedClientSpanId(ex)
}

/**
 * An exchange's own trace: the caller's (traceparent), the one the proxy started, else one
 * derived from the correlation id — so both hops of a GitLab request share a trace when the
 * gateway forwards X-Request-ID to the model server.
 */
export function traceIdOf (ex: Exchange): string {
  return propagated(ex)?.traceId ?? started(ex)?.traceId ?? hex(`duo-diag-proxy:${ex.correlation_id}`, 32)
}

/**
 * Where an exchange's spans go. With `parent`, the gateway-hop exchange the link tied it to:
 * a model call that arrived without a traceparent (the gateway's litellm/OpenAI client sends
 * none) joins the gateway request's trace as a child of its CLIENT span. One that did carry a
 * traceparent keeps it (real propagation beats inference); when that trace is another one, the
 * gateway request is referenced by a span link instead.
 */
export function placementOf (ex: Exchange, parent?: Exchange): Placement {
  const own = propagated(ex)
  if (parent !== undefined) {
    const context: SpanContext = { traceId: traceIdOf(parent), spanId: clientSpanId(parent), traceFlags: TraceFlags.SAMPLED, isRemote: true }
    if (own === null) return { traceId: context.traceId, parentSpanId: context.spanId }
    if (own.traceId === context.traceId) return { traceId: own.traceId, parentSpanId: own.spanId }
    return { traceId: own.traceId, parentSpanId: own.spanId, links: [{ context, attributes: linkAttributes(ex) }] }
  }
  if (own !== null) return { traceId: own.traceId, parentSpanId: own.spanId }
  return { traceId: traceIdOf(ex) }
}

function linkAttributes (ex: Exchange): Attributes {
  return ex.link === null ? {} : { 'duo_diag.link.method': ex.link.method, 'duo_diag.link.confidence': ex.link.confidence }
}

function hrTime (ms: number): HrTime {
  const s = Math.floor(ms / 1000)
  const ns = Math.round((ms - s * 1000) * 1e6)
  return ns >= 1e9 ? [s + 1, ns - 1e9] : [s, ns]
}

function header (ex: Exchange, name: string): string | undefined {
  const v = ex.request.headers[name]
  const first = Array.isArray(v) ? v[0] : v
  return first === undefined || first === '' ? undefined : first
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** RFC 9110 methods, PATCH (RFC 5789) and QUERY: http.request.method is `_OTHER` for any other. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY'])

function methodAttributes (ex: Exchange): { method: string, attrs: Attributes } {
  if (KNOWN_METHODS.has(ex.method)) return { method: ex.method, attrs: { 'http.request.method': ex.method } }
  // The span name's {method} is `HTTP` when the method is `_OTHER`.
  return { method: 'HTTP', attrs: { 'http.request.method': '_OTHER', 'http.request.method_original': ex.method } }
}

/** A path segment as OpenAI-compatible servers are mounted (`/v1`, `/openai/v1`, none). */
const PREFIX = /^(?:\/[\w.-]{1,40}){0,3}$/

/**
 * The low-cardinality route template of the path, as the upstream's router declares it (the
 * AI gateway's FastAPI routes, the OpenAI API's): static segments kept, dynamic ones as
 * placeholders. Unknown when the path is not one of those APIs' (no http.route then: the
 * conventions forbid using the raw path instead).
 */
export function routeTemplate (ex: Exchange): string | undefined {
  const path = ex.path.length > 1 ? ex.path.replace(/\/+$/, '') : ex.path
  switch (ex.meta.feature) {
    case 'code_completions':
    case 'code_generations':
    case 'code_suggestions':
      return /^\/v\d{1,2}\/(?:code\/)?(?:completions|generations|suggestions)$/.test(path) ? path : undefined
    case 'chat': {
      // ai_gateway/api/v1/chat/agent.py: POST /v1/chat/{chat_invokable}; api/v2/chat/agent.py: /v2/chat/agent.
      if (/^\/v1\/chat\/[\w-]+$/.test(path)) return '/v1/chat/{chat_invokable}'
      return /^\/v\d{1,2}\/chat\/agent$/.test(path) ? path : undefined
    }
    case 'prompts': {
      // ai_gateway/api/v1/prompts/invoke.py: POST /v1/prompts/{prompt_id:path}.
      const m = /^(\/v\d{1,2}\/prompts)\/./.exec(path)
      return m === null ? undefined : `${m[1]!}/{prompt_id}`
    }
    case 'x_ray':
      return path === '/v1/x-ray/libraries' ? path : undefined
    case 'health':
      return path === '/monitoring/healthz' || path === '/monitoring/ready' ? path : undefined
    case 'gateway_metrics':
      return '/metrics'
    case 'gateway_other':
      return path === '/v1/models/definitions' ? path : undefined
    case 'chat_completions':
    case 'completions':
    case 'embeddings': {
      const m = /^(.*?)(?:\/(deployments|engines)\/[^/]+)?\/(chat\/completions|completions|embeddings)$/.exec(path)
      if (m === null || !PREFIX.test(m[1]!)) return undefined
      // LiteLLM's Azure-style /openai/deployments/{model}/… and /engines/{model}/… name the model in the path.
      return `${m[1]!}${m[2] !== undefined ? `/${m[2]}/{model}` : ''}/${m[3]!}`
    }
    case 'models': {
      const m = /^(.*?\/models)(\/[^/]+)?$/.exec(path)
      if (m === null || !PREFIX.test(m[1]!.slice(0, -'/models'.length))) return undefined
      return m[2] === undefined ? m[1] : `${m[1]!}/{model}`
    }
    case 'model_health':
      return /^\/health(?:\/\w+)?$/.test(path) ? path : undefined
    default:
      return undefined
  }
}

/** `host[:port]` (a bracketed IPv6 literal allowed) as server.address and server.port. */
function hostPort (value: string | undefined, defaultPort: number): { address: string, port: number } | null {
  if (value === undefined) return null
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+)(?::(\d{1,5}))?$/.exec(value.trim())
  if (m === null) return null
  const address = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!
  const port = m[2] === undefined ? defaultPort : Number(m[2])
  return port > 0 && port < 65536 ? { address, port } : null
}

/** The first element's `name=` of a Forwarded header (RFC 7239), unquoted. */
function forwarded (ex: Exchange, name: string): string | undefined {
  const first = header(ex, 'forwarded')?.split(',')[0]
  const pair = first?.split(';').map((p) => p.trim()).find((p) => p.toLowerCase().startsWith(`${name}=`))
  return pair?.slice(name.length + 1).replace(/^"|"$/g, '') || undefined
}

/** The original client behind any proxies: Forwarded for=, X-Forwarded-For, else the peer. */
function clientAddress (ex: Exchange): string {
  const fwd = forwarded(ex, 'for')
  if (fwd !== undefined) {
    const hp = hostPort(fwd, 0)
    if (hp !== null && !fwd.startsWith('_') && fwd.toLowerCase() !== 'unknown') return hp.address
  }
  const xff = header(ex, 'x-forwarded-for')?.split(',')[0]?.trim()
  if (xff !== undefined && xff !== '' && xff.length <= 64) return xff
  return ex.client_ip
}

/** The scheme of the original request (Forwarded proto=, X-Forwarded-Proto), else the proxy's own: plain HTTP. */
function inboundScheme (ex: Exchange): string {
  const proto = (forwarded(ex, 'proto') ?? header(ex, 'x-forwarded-proto')?.split(',')[0])?.trim().toLowerCase()
  return proto === 'https' || proto === 'http' ? proto : 'http'
}

/**
 * The status the proxy answered the caller with itself, when the upstream gave none: a failed
 * transport is answered 502 or 504 (proxy/forward.ts), an oversized body 413. Other refusals
 * are answered with statuses the record does not keep.
 */
function answeredStatus (ex: Exchange): number | undefined {
  if (ex.status !== null) return ex.status
  if (!ex.proxy_answered || ex.error === null) return undefined
  if (ex.error.code === 'DDP_BODY_TOO_LARGE') return 413
  if (ex.flags.includes('request_rejected')) return undefined
  if (ex.error.code === 'ERR_INVALID_CHAR' || ex.error.code === 'ERR_HTTP_INVALID_HEADER_VALUE') return 502
  return classifyTransport(ex.error.code, false).status
}

/**
 * Flags that name a failure of the exchange whatever its status: transport, timeouts, broken
 * streams. They are error.type's values (documented with the flags, diagnosis/flags.ts); an
 * error status without one is reported as the status code, as the HTTP conventions recommend.
 */
const FAILURE_FLAGS: ReadonlySet<Flag> = new Set<Flag>([
  'connection_refused', 'network_unreachable', 'dns_failure', 'connect_timeout', 'headers_timeout', 'body_timeout',
  'model_timeout', 'tls_error', 'connection_reset', 'stream_aborted', 'stream_truncated', 'stream_error'
])

/**
 * error.type of a span of this kind, or undefined when it did not end in an error. A 4xx is
 * an error of the CLIENT span (the upstream refused the proxy's call), not of the SERVER span
 * (the caller's mistake: the HTTP conventions leave its status unset). The caller hanging up
 * is a cancellation, no error.
 */
function errorType (ex: Exchange, kind: SpanKind.SERVER | SpanKind.CLIENT): string | undefined {
  const failure = ex.flags.find((f) => FAILURE_FLAGS.has(f))
  if (failure !== undefined) return failure
  const status = kind === SpanKind.SERVER ? answeredStatus(ex) : ex.status
  if (status !== undefined && status !== null && status >= (kind === SpanKind.SERVER ? 500 : 400)) return String(status)
  // A transport failure with no specific flag (upstream_error without a status), or a bare timeout.
  if (ex.status === null && ex.error !== null && !ex.flags.includes('client_aborted') && !ex.flags.includes('request_rejected')) {
    return ex.flags.find((f) => f === 'upstream_error' || f === 'timeout') ?? '_OTHER'
  }
  return undefined
}

function spanStatus (ex: Exchange, error: string | undefined): ReadableSpan['status'] {
  if (error === undefined) return { code: SpanStatusCode.UNSET }
  // The diagnosis says more than the status code; with none, the description is left out.
  return ex.diagnosis === null ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message: ex.diagnosis.cause }
}

/** The proxy's own attributes: what the exchange is in the store and what diagnosis made of it. */
function diagAttributes (ex: Exchange): Attributes {
  const a: Attributes = {
    'gitlab.correlation_id': ex.correlation_id,
    'duo_diag.exchange_id': ex.id,
    'duo_diag.route': ex.route,
    'duo_diag.hop': ex.hop,
    'duo_diag.feature': ex.meta.feature
  }
  if (ex.flags.length > 0) a['duo_diag.flags'] = ex.flags
  if (ex.diagnosis !== null) {
    a['duo_diag.diagnosis.code'] = ex.diagnosis.code
    a['duo_diag.diagnosis.cause'] = ex.diagnosis.cause
    if (ex.diagnosis.root_cause !== undefined) a['duo_diag.diagnosis.root_cause'] = ex.diagnosis.root_cause.cause
  }
  if (ex.link !== null) {
    a['duo_diag.link.method'] = ex.link.method
    a['duo_diag.link.confidence'] = ex.link.confidence
  }
  if (ex.parent_id !== null) a['duo_diag.parent_exchange_id'] = ex.parent_id
  // What GitLab asked the gateway for (its names, not the model server's: gen_ai.* is for the model hop).
  if (ex.hop === 'gateway') {
    if (ex.meta.model_provider !== undefined) a['duo_diag.model.provider'] = ex.meta.model_provider
    if (ex.meta.model_name !== undefined) a['duo_diag.model.name'] = ex.meta.model_name
    if (ex.meta.model_identifier !== undefined) a['duo_diag.model.identifier'] = ex.meta.model_identifier
  }
  if (ex.meta.fault !== undefined) a['duo_diag.fault'] = ex.meta.fault
  return a
}

/** HTTP server span attributes: the request as the caller sent it to the proxy. */
function serverAttributes (ex: Exchange, route: string | undefined, methodAttrs: Attributes): Attributes {
  const scheme = inboundScheme(ex)
  const a: Attributes = { ...methodAttrs, 'url.path': ex.path, 'url.scheme': scheme }
  if (ex.query !== '') a['url.query'] = ex.query
  if (route !== undefined) a['http.route'] = route
  const status = answeredStatus(ex)
  if (status !== undefined) a['http.response.status_code'] = status
  if (ex.http_version !== undefined) a['network.protocol.version'] = ex.http_version
  const host = hostPort(forwarded(ex, 'host') ?? header(ex, 'x-forwarded-host')?.split(',')[0] ?? header(ex, 'host'), scheme === 'https' ? 443 : 80)
  if (host !== null) {
    a['server.address'] = host.address
    a['server.port'] = host.port
  }
  a['client.address'] = clientAddress(ex)
  a['network.peer.address'] = ex.client_ip
  const ua = header(ex, 'user-agent')
  if (ua !== undefined) a['user_agent.original'] = ua
  return { ...a, ...diagAttributes(ex) }
}

// ---------------------------------------------------------------------------------------------
// GenAI

/** gen_ai.operation.name of the OpenAI API calls on the model hop (the conventions' well-known values). */
const OPERATIONS: Partial<Record<Exchange['meta']['feature'], 'chat' | 'text_completion' | 'embeddings'>> = {
  chat_completions: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings'
}

/**
 * gen_ai.provider.name from the host the OpenAI-compatible API was called at: the well-known
 * value of a provider's own endpoint, else `openai`. The conventions define the attribute as the
 * telemetry flavour of the API in use, set from the instrumentation's best knowledge ("Multiple
 * providers ... are accessible using the OpenAI REST API"), with gen_ai.request.model,
 * gen_ai.response.model and server.address telling the actual system; self-hosted servers
 * (vLLM, Ollama, LiteLLM) have no value of their own and speak that API, as OpenTelemetry's
 * OpenAI instrumentations report them.
 */
const PROVIDER_HOSTS: ReadonlyArray<[RegExp, string]> = [
  [/(^|\.)openai\.azure\.com$/, 'azure.ai.openai'],
  [/(^|\.)(services\.ai\.azure\.com|models\.ai\.azure\.com|inference\.ai\.azure\.com)$/, 'azure.ai.inference'],
  [/^api\.openai\.com$/, 'openai'],
  [/^api\.mistral\.ai$/, 'mistral_ai'],
  [/^api\.deepseek\.com$/, 'deepseek'],
  [/^api\.groq\.com$/, 'groq'],
  [/^api\.x\.ai$/, 'x_ai'],
  [/^api\.perplexity\.ai$/, 'perplexity'],
  [/^api\.anthropic\.com$/, 'anthropic'],
  [/^api\.cohere\.(ai|com)$/, 'cohere'],
  [/^generativelanguage\.googleapis\.com$/, 'gcp.gemini'],
  [/(^|-)aiplatform\.googleapis\.com$/, 'gcp.vertex_ai'],
  [/^bedrock-runtime(-fips)?\.[\w-]+\.amazonaws\.com$/, 'aws.bedrock'],
  [/\.ml\.cloud\.ibm\.com$/, 'ibm.watsonx.ai']
]

export function providerName (host: string): string {
  const h = host.toLowerCase()
  for (const [re, name] of PROVIDER_HOSTS) if (re.test(h)) return name
  return 'openai'
}

function tokens (usage: Record<string, number> | undefined, ...keys: string[]): number | undefined {
  if (usage === undefined) return undefined
  for (const k of keys) {
    const v = usage[k]
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v
  }
  return undefined
}

/**
 * GenAI client span attributes (inference, embeddings), from metadata capture only: names,
 * numbers and switches. Never prompt or completion text (gen_ai.input/output.messages and
 * gen_ai.system_instructions are opt-in in the conventions, and the proxy's metadata mode
 * promises none leaves it).
 */
function genAiAttributes (ex: Exchange, operation: string, provider: string): Attributes {
  const m = ex.meta
  const a: Attributes = { 'gen_ai.operation.name': operation, 'gen_ai.provider.name': provider }
  if (m.model !== undefined) a['gen_ai.request.model'] = m.model
  if (m.response_model !== undefined) a['gen_ai.response.model'] = m.response_model
  if (m.response_id !== undefined) a['gen_ai.response.id'] = m.response_id
  const input = tokens(m.usage, 'prompt_tokens', 'input_tokens')
  if (input !== undefined) a['gen_ai.usage.input_tokens'] = input
  if (operation !== 'embeddings') {
    const output = tokens(m.usage, 'completion_tokens', 'output_tokens')
    if (output !== undefined) a['gen_ai.usage.output_tokens'] = output
    if (m.finish_reason !== undefined) a['gen_ai.response.finish_reasons'] = [m.finish_reason]
    if (m.stream === true) a['gen_ai.request.stream'] = true
    if (m.max_tokens !== undefined) a['gen_ai.request.max_tokens'] = m.max_tokens
    if (m.temperature !== undefined) a['gen_ai.request.temperature'] = m.temperature
    if (m.n !== undefined && m.n !== 1) a['gen_ai.request.choice.count'] = m.n
    if (typeof m.stop === 'string') a['gen_ai.request.stop_sequences'] = [m.stop]
    else if (Array.isArray(m.stop)) a['gen_ai.request.stop_sequences'] = m.stop.filter((s): s is string => typeof s === 'string')
    // openai.md: the API flavour, on spans whose provider is openai.
    if (provider === 'openai' && operation === 'chat') a['openai.api.type'] = 'chat_completions'
  }
  return a
}

// ---------------------------------------------------------------------------------------------
// Spans

/** The proxy's upstream client is undici's HTTP/1.1 pool (proxy/upstream.ts): no other version is spoken. */
const UPSTREAM_PROTOCOL_VERSION = '1.1'

export const SCOPE = { name: 'duo-diag-proxy', version: VERSION }

interface SpanParts {
  name: string
  kind: SpanKind
  context: SpanContext
  parent?: SpanContext
  start: number
  end: number
  status: ReadableSpan['status']
  attributes: Attributes
  links: Link[]
  events: ReadableSpan['events']
}

function readable (p: SpanParts, resource: Resource): ReadableSpan {
  return {
    name: p.name,
    kind: p.kind,
    spanContext: () => p.context,
    ...(p.parent !== undefined ? { parentSpanContext: p.parent } : {}),
    startTime: hrTime(p.start),
    endTime: hrTime(p.end),
    duration: hrTime(p.end - p.start),
    status: p.status,
    attributes: p.attributes,
    links: p.links,
    events: p.events,
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0
  }
}

/** The upstream call's attributes and name (HTTP client, or GenAI client on the model hop). */
function clientSpan (ex: Exchange, route: string | undefined, method: string, methodAttrs: Attributes): { name: string, attributes: Attributes } {
  const a: Attributes = { ...methodAttrs, 'url.full': ex.query === '' ? ex.upstream : `${ex.upstream}?${ex.query}` }
  let host = ''
  try {
    const u = new URL(ex.upstream)
    host = u.hostname.replace(/^\[|\]$/g, '')
    a['server.address'] = host
    a['server.port'] = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
    a['url.scheme'] = u.protocol.slice(0, -1)
    // The upstream's path is the route's base path and the caller's path.
    if (route !== undefined && u.pathname.endsWith(ex.path)) a['url.template'] = u.pathname.slice(0, u.pathname.length - ex.path.length) + route
  } catch {
    // an unparsable upstream leaves the server attributes out
  }
  if (ex.status !== null) a['http.response.status_code'] = ex.status
  a['network.protocol.version'] = UPSTREAM_PROTOCOL_VERSION
  const error = errorType(ex, SpanKind.CLIENT)
  if (error !== undefined) a['error.type'] = error
  a['gitlab.correlation_id'] = ex.correlation_id
  a['duo_diag.exchange_id'] = ex.id
  const operation = ex.hop === 'model' ? OPERATIONS[ex.meta.feature] : undefined
  if (operation !== undefined) {
    Object.assign(a, genAiAttributes(ex, operation, providerName(host)))
    // gen-ai-spans.md: `{gen_ai.operation.name} {gen_ai.request.model}`.
    return { name: ex.meta.model === undefined ? operation : `${operation} ${ex.meta.model}`, attributes: a }
  }
  const template = a['url.template']
  return { name: typeof template === 'string' ? `${method} ${template}` : method, attributes: a }
}

/**
 * An exchange's spans: the SERVER span, then (when the request went upstream) its CLIENT child.
 * A placement without `parentSpanId` makes the SERVER span a root.
 */
export function toSpans (ex: Exchange, placement: Placement, resource: Resource): ReadableSpan[] {
  const start = Date.parse(ex.started_at)
  const end = start + ex.timings.duration_ms
  const route = routeTemplate(ex)
  const { method, attrs: methodAttrs } = methodAttributes(ex)
  const server: SpanContext = { traceId: placement.traceId, spanId: serverSpanId(ex), traceFlags: TraceFlags.SAMPLED }
  const serverAttrs = serverAttributes(ex, route, methodAttrs)
  const serverError = errorType(ex, SpanKind.SERVER)
  if (serverError !== undefined) serverAttrs['error.type'] = serverError
  const spans = [readable({
    // http-spans.md: `{method} {http.route}`, or `{method}` alone: never the raw path.
    name: route === undefined ? method : `${method} ${route}`,
    kind: SpanKind.SERVER,
    context: server,
    ...(placement.parentSpanId !== undefined ? { parent: { traceId: placement.traceId, spanId: placement.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } } : {}),
    start,
    end,
    status: spanStatus(ex, serverError),
    attributes: serverAttrs,
    links: placement.links ?? [],
    events: []
  }, resource)]
  if (ex.flags.includes('request_rejected')) return spans

  const { name, attributes } = clientSpan(ex, route, method, methodAttrs)
  const links: Link[] = []
  // The proxy told the upstream a span id in a trace this exchange did not end up in (it was
  // linked to a gateway request after it was sent): the upstream's own spans are over there.
  const told = started(ex)
  if (told !== null && told.traceId !== placement.traceId) links.push({ context: { ...told, traceFlags: TraceFlags.SAMPLED, isRemote: true }, attributes: { 'duo_diag.link.method': 'traceparent_sent' } })
  spans.push(readable({
    name,
    kind: SpanKind.CLIENT,
    context: { traceId: placement.traceId, spanId: told !== null && told.traceId === placement.traceId ? told.spanId : derivedClientSpanId(ex), traceFlags: TraceFlags.SAMPLED },
    parent: server,
    start,
    end,
    status: spanStatus(ex, attributes['error.type'] as string | undefined),
    attributes,
    links,
    events: ex.timings.ttfb_ms === null ? [] : [{ name: 'first_byte', time: hrTime(start + ex.timings.ttfb_ms), droppedAttributesCount: 0 }]
  }, resource))
  return spans
}
