/**
 * The gateway-hop exchange the proxy would have recorded, rebuilt from logs when it recorded
 * none: from the gateway's access line, or from llm.log alone when the request never reached the
 * gateway (connection refused, TLS). No bodies (the logs hold none); flags as capture sets them
 * (diagnosis/classify.ts) for the status and transport failure the logs show.
 */
import { hostname } from 'node:os'
import { newExchangeId } from '../capture/build.js'
import type { BodyRecord, Exchange, ExchangeMeta, GitlabInstance } from '../capture/exchange.js'
import { classifyPath } from '../capture/features.js'
import { redactQuery } from '../capture/redact.js'
import type { RuleSet } from '../capture/redact-rules.js'
import { classify } from '../diagnosis/classify.js'
import type { Flag } from '../diagnosis/flags.js'
import type { LogEvent } from './event.js'
import { type Found, modelFailureTexts, railsReadTimeout, railsTransport } from './log-failure.js'
import { type LogFacts, num, str, timeMs } from './log-facts.js'
import type { RailsTransportFailure } from './rails-failure.js'

export interface ReconstructOptions {
  proxyInstance: string
  slow: { ttfbMs: number, durationMs: number }
  rules: RuleSet
}

/** What the logs say happened on the hop, beside the exchange itself (for its diagnosis). */
export interface HopStory {
  exchange: Exchange
  access: LogEvent | null
  transport: Found<RailsTransportFailure> | null
  readTimeout: LogEvent | null
  /** The events of this request, when several share the id (access-line scope). */
  scoped: LogEvent[]
}

// ee/lib/gitlab/duo/chat/step_executor.rb posts to the gateway's v2/chat/agent.
const STEP_EXECUTOR_PATH = '/v2/chat/agent'

function pathOf (facts: LogFacts, access: LogEvent | null): string {
  const logged = access === null ? undefined : str(access, 'path')
  if (logged !== undefined) return logged
  if (facts.gatewayCalls.some((e) => str(e, 'class') === 'Gitlab::Duo::Chat::StepExecutor')) return STEP_EXECUTOR_PATH
  for (const e of facts.gatewayCalls) {
    const url = str(e, 'url')
    if (url === undefined) continue
    try {
      return new URL(url).pathname
    } catch {
      // Not a URL: keep looking.
    }
  }
  return '/'
}

function gitlabOf (access: LogEvent | null): GitlabInstance | undefined {
  if (access === null) return undefined
  const g: GitlabInstance = {}
  const set = (key: keyof Omit<GitlabInstance, 'rails_send_start_ms'>, field: string): void => {
    const v = str(access, field)
    if (v !== undefined && v !== '') g[key] = v
  }
  set('instance_id', 'gitlab_instance_id')
  set('realm', 'gitlab_realm')
  set('version', 'gitlab_version')
  set('host_name', 'gitlab_host_name')
  return Object.keys(g).length === 0 ? undefined : g
}

/** Rails saw the gateway answer (chunks, a response, the end of the stream) without an access line. */
function railsSawAnswer (facts: LogFacts): boolean {
  return facts.all.some((e) => e.source === 'gitlab_llm' && ['chunk_received', 'event_received', 'streaming_finished', 'response_received'].includes(str(e, 'ai_event_name') ?? ''))
}

/** The gateway's uncaught exception ended a response it had started (uvicorn's "Exception in ASGI application"). */
function droppedAfterStart (scoped: readonly LogEvent[], access: LogEvent | null): boolean {
  if (access !== null && str(access, 'exception_class') !== undefined) return true
  return scoped.some((e) => e.kind === 'exception' && /^Exception in ASGI application/.test(e.message))
}

export function reconstructHop (facts: LogFacts, access: LogEvent | null, scoped: LogEvent[], opts: ReconstructOptions, existing?: Exchange): HopStory {
  const transport = access === null ? railsTransport(facts) : null
  const readTimeout = railsReadTimeout(facts)
  const fullPath = pathOf(facts, access)
  const q = fullPath.indexOf('?')
  const path = q < 0 ? fullPath : fullPath.slice(0, q)
  const { feature } = classifyPath(path, 'gateway')
  const firstCall = facts.gatewayCalls[0] ?? facts.all[0]
  const startedMs = access !== null
    ? Math.round(Date.parse(str(access, 'request_arrived_at') ?? '') || timeMs(access) - (num(access, 'duration_s') ?? 0) * 1000)
    : firstCall === undefined ? 0 : timeMs(firstCall)
  const lastRails = facts.all.filter((e) => e.source === 'gitlab_llm').at(-1)
  const durationMs = access !== null ? (num(access, 'duration_s') ?? 0) * 1000 : Math.max(0, (lastRails === undefined ? startedMs : timeMs(lastRails)) - startedMs)
  const firstChunk = access === null ? undefined : num(access, 'first_chunk_duration_s')
  const ttfbMs = firstChunk !== undefined && firstChunk > 0 ? firstChunk * 1000 : null

  const railsStatus = facts.gatewayErrors.map((e) => e.fields.status).find((s) => typeof s === 'number')
  const modelError = modelFailureTexts(facts, scoped)[0] ?? null
  // Rails' read timeout fires on the gateway hop: after the headers when the gateway had sent
  // them (a stream starts at once: response_start_duration_s ≪ duration_s; Duo Chat's always
  // does), else before.
  const afterHeaders = access !== null ? (num(access, 'response_start_duration_s') ?? durationMs / 1000) * 1000 < durationMs - 1000 : feature === 'chat'
  // Without the gateway's word: Rails' (a status it logged), else a stream it read (or timed
  // out reading after the headers) was a 200.
  const status = access !== null
    ? num(access, 'status_code') ?? null
    : transport !== null ? null : typeof railsStatus === 'number' ? railsStatus : (modelError !== null || railsSawAnswer(facts) || (readTimeout !== null && afterHeaders)) ? 200 : null
  const streamStarted = status !== null && status < 300
  const dropped = streamStarted && droppedAfterStart(scoped, access)
  const failure = transport !== null
    ? { code: transport.value.code, message: transport.event.message, afterHeaders: transport.value.afterHeaders }
    : readTimeout !== null
      ? { code: afterHeaders ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT', message: readTimeout.message, afterHeaders }
      : dropped ? { code: 'UND_ERR_SOCKET', message: modelError?.value ?? '', afterHeaders: true } : null
  // The gateway's error event reached the caller: Rails did not give up first.
  const streamError = streamStarted && modelError !== null && readTimeout === null
  const flags: Flag[] = classify({
    status,
    failureCode: failure?.code ?? null,
    failureAfterHeaders: failure?.afterHeaders ?? false,
    proxyAnsweredFlag: null,
    clientAborted: false,
    streamComplete: null,
    streamError
  })
  if ((ttfbMs ?? 0) > opts.slow.ttfbMs || durationMs > opts.slow.durationMs) flags.push('slow')

  const meta: ExchangeMeta = { feature, reported_by: 'logs' }
  if (facts.model.provider !== undefined) meta.model_provider = facts.model.provider
  if (facts.model.name !== undefined) meta.model_name = facts.model.name
  if (facts.model.endpoint !== undefined) meta.model_endpoint = facts.model.endpoint
  if (facts.model.identifier !== undefined) meta.model_identifier = facts.model.identifier
  if (streamError) meta.stream_error = modelError!.value
  const gitlab = gitlabOf(access)
  if (gitlab !== undefined) meta.gitlab = gitlab

  const contentType = access === null ? undefined : str(access, 'content_type')
  const response: BodyRecord | null = status === null ? null : { headers: {}, bytes: 0, content_type: contentType === undefined || contentType === 'unknown' ? null : contentType }
  const url = access === null ? undefined : str(access, 'url')
  const exchange: Exchange = {
    id: existing?.id ?? newExchangeId(startedMs),
    proxy_instance: existing?.proxy_instance ?? opts.proxyInstance,
    route: 'logs',
    hop: 'gateway',
    correlation_id: facts.all[0]?.correlation_id ?? '',
    // Rails sends its correlation id as X-Request-ID and the gateway logs it as received.
    correlation_source: 'caller',
    original_correlation_id: null,
    started_at: new Date(startedMs).toISOString(),
    method: (access === null ? undefined : str(access, 'method')) ?? 'POST',
    path,
    query: q < 0 ? '' : redactQuery(fullPath.slice(q + 1), opts.rules),
    status,
    flags,
    timings: { ttfb_ms: ttfbMs, duration_ms: Math.round(durationMs * 1000) / 1000 },
    request: { headers: {}, bytes: 0, content_type: null },
    response,
    client_ip: (access === null ? undefined : str(access, 'client_ip')) ?? '',
    upstream: url !== undefined ? url.split('?')[0]! : transport?.value.upstream != null ? `${transport.value.upstream}${path}` : '',
    error: failure === null ? null : { code: failure.code, message: failure.message },
    proxy_answered: false,
    upgraded: false,
    meta,
    diagnosis: null,
    parent_id: null,
    link: null
  }
  const httpVersion = access === null ? undefined : str(access, 'http_version')
  if (httpVersion !== undefined) exchange.http_version = httpVersion
  return { exchange, access, transport, readTimeout, scoped }
}

export function defaultProxyInstance (): string {
  return hostname()
}
