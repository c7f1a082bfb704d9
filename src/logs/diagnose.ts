/**
 * Diagnosis from logs (issue 19): the events of one correlation id — every imported file joined
 * — and the exchanges the proxy captured under it give the same flags, cause and next steps the
 * live proxy gives for the failure, with the log lines as evidence.
 *
 * The cause always comes from the proxy's own builders: explain() on the exchange as the proxy
 * would have recorded it (with the gateway's answer the logs quote standing in for its body),
 * then, where the proxy could only say "it failed", modelFailureFromText() on the model's error
 * text the gateway logged, or the TLS cause a traceback names. Nothing here decides a cause.
 */
import type { Exchange } from '../capture/exchange.js'
import type { Json } from '../capture/redact.js'
import { buildRuleSet, type RuleSet } from '../capture/redact-rules.js'
import { DEFAULTS, ROUTE_DEFAULTS } from '../config/defaults.js'
import { fromCause } from '../diagnosis/codes.js'
import type { Diagnosis } from '../diagnosis/diagnosis.js'
import { explain, type ExplainContext, tlsFailureCause, tlsNextSteps } from '../diagnosis/explain.js'
import type { Flag } from '../diagnosis/flags.js'
import { modelChecks, modelFailureFromText } from '../diagnosis/model-failure.js'
import type { LogEvent } from './event.js'
import { appendNew, evidenceEvents, logLine } from './log-evidence.js'
import { modelFailureTexts, tlsInTracebacks } from './log-failure.js'
import { gatherFacts, inFlight, type LogFacts, pickAccess, str, touchesGateway } from './log-facts.js'
import { defaultProxyInstance, type HopStory, reconstructHop } from './reconstruct.js'

export interface LogDiagnosisOptions {
  /** `proxy_instance` of a reconstructed exchange; the host name by default (as capture). */
  proxyInstance?: string
  /** Some route of this proxy sits on the model hop (drops "route the model hop" steps). */
  modelRouted?: boolean
  /** diagnosis.gateway_model_timeouts_s. */
  gatewayModelTimeoutsS?: readonly number[]
  /** The route's slow thresholds (routes[].slow). */
  slow?: { ttfbMs: number, durationMs: number }
  /** Rules for a reconstructed exchange's query; metadata mode's by default. */
  rules?: RuleSet
}

export interface LogDiagnosisUpdate {
  id: string
  flags: Flag[]
  diagnosis: Diagnosis
}

export interface LogDiagnosis {
  /** The gateway-hop exchange rebuilt from the logs, when the proxy captured none. */
  reconstructed: Exchange | null
  /** Captured (or earlier reconstructed) exchanges whose diagnosis the logs sharpen or back. */
  updates: LogDiagnosisUpdate[]
}

interface Resolved {
  proxyInstance: string
  modelRouted: boolean
  gatewayModelTimeoutsS: readonly number[]
  slow: { ttfbMs: number, durationMs: number }
  rules: RuleSet
}

/**
 * Rails' own read timeout for the gateway: Gitlab::AiGateway.timeout, the `Ai::Setting`
 * ai_gateway_timeout_seconds, 60 s by default (ee/lib/gitlab/ai_gateway.rb; docs §1.2 A1000).
 */
const RAILS_READ_TIMEOUT_MS = 60_000

/**
 * The causes that say only that something failed, or how it reached the caller: the logs may
 * name what failed behind them (the model's error text, a TLS reason).
 */
const UNSPECIFIC = new Set([
  'unclassified', 'gateway_500_model_error', 'gateway_failed', 'chat_error_event', 'chat_error_event_dropped',
  'stream_error_event', 'stream_error_event_dropped', 'stream_aborted', 'stream_truncated', 'client_aborted',
  'connection_reset', 'gateway_headers_timeout', 'gateway_body_timeout', 'prompt_model_error',
  'prompt_model_error_no_detail', 'unauthenticated', 'slow'
])

function resolve (o: LogDiagnosisOptions): Resolved {
  return {
    proxyInstance: o.proxyInstance ?? defaultProxyInstance(),
    modelRouted: o.modelRouted ?? false,
    gatewayModelTimeoutsS: o.gatewayModelTimeoutsS ?? DEFAULTS.diagnosis.gateway_model_timeouts_s,
    slow: o.slow ?? { ttfbMs: ROUTE_DEFAULTS.slow.ttfb_ms, durationMs: ROUTE_DEFAULTS.slow.duration_ms },
    rules: o.rules ?? buildRuleSet(false)
  }
}

function explainContext (opts: Resolved, railsTimedOut: boolean): ExplainContext {
  const t = ROUTE_DEFAULTS.timeouts
  return {
    // When Rails gave up, its read timeout is the limit the hop ran into.
    timeouts: railsTimedOut
      ? { connectMs: t.connect_ms, headersMs: RAILS_READ_TIMEOUT_MS, bodyIdleMs: RAILS_READ_TIMEOUT_MS }
      : { connectMs: t.connect_ms, headersMs: t.headers_ms, bodyIdleMs: t.body_idle_ms },
    slow: opts.slow,
    tlsChain: null,
    tokenEvidence: [],
    insecureTls: false,
    modelRouted: opts.modelRouted,
    gatewayModelTimeoutsS: opts.gatewayModelTimeoutsS
  }
}

/**
 * The exchange as explain() reads it: the gateway's error answer, which the logs quote, in the
 * place of the body the proxy would have kept (401 `{"error": auth_error_details}`, other
 * HTTPExceptions `{"detail": …}`, Starlette's bare text/plain 500 where the access line says
 * `content_type: unknown`; docs §3.2). Only for explain(): the exchange itself keeps no body.
 */
function viewFor (story: HopStory, facts: LogFacts): Exchange {
  const ex = story.exchange
  if (ex.response === null || ex.status === null || ex.status < 400) return ex
  const access = story.access
  const details = access === null ? undefined : str(access, 'http_exception_details')?.replace(/^\d{3}: /, '')
  const railsBody = facts.gatewayErrors.map((e) => e.fields.body).find((b): b is string => typeof b === 'string')
  let body: Json | undefined
  let contentType = ex.response.content_type
  if (ex.status === 401) {
    const reason = (access === null ? undefined : str(access, 'auth_error_details')) ?? details
    if (reason !== undefined) body = { error: reason }
  } else if (ex.status === 500 && access !== null && str(access, 'content_type') === 'unknown') {
    contentType = 'text/plain; charset=utf-8'
    body = 'Internal Server Error'
  } else {
    const detail = details ?? (access === null ? undefined : str(access, 'exception_message')) ?? railsBody
    if (detail !== undefined) body = { detail }
  }
  if (body === undefined) return ex
  return { ...ex, response: { ...ex.response, content_type: contentType, body } }
}

/**
 * A cause the logs name where the proxy's could not: the TLS failure a gateway traceback shows
 * behind "Connection error.", or the model's failure in the error text the gateway logged.
 */
function sharpen (d: Diagnosis | null, view: Exchange, facts: LogFacts, scoped: readonly LogEvent[], ctx: ExplainContext): Diagnosis | null {
  const tls = tlsInTracebacks(scoped)
  if (tls !== null && (d === null || UNSPECIFIC.has(d.code) || d.code === 'model_server_unreachable_via_gateway')) {
    return fromCause(tlsFailureCause(tls.value.code, tls.value.reason), { evidence: d?.evidence ?? [], next_steps: tlsNextSteps() })
  }
  if (d !== null && !UNSPECIFIC.has(d.code)) return d
  const call = { endpoint: view.meta.model_endpoint, modelRouted: ctx.modelRouted }
  for (const text of modelFailureTexts(facts, scoped)) {
    const side = modelFailureFromText(text.value, call)
    if (side !== null) return fromCause(side.cause, { evidence: d?.evidence ?? [], next_steps: [...side.next_steps, ...modelChecks(call)] })
  }
  return d
}

function withLogLines (d: Diagnosis, facts: LogFacts, access: LogEvent | null, scoped: readonly LogEvent[]): Diagnosis {
  return { ...d, evidence: appendNew(d.evidence, evidenceEvents(facts, access, scoped).map(logLine)) }
}

function diagnoseStory (story: HopStory, facts: LogFacts, opts: Resolved): Diagnosis | null {
  const ctx = explainContext(opts, story.readTimeout !== null)
  const view = viewFor(story, facts)
  const d = sharpen(explain(view, ctx), view, facts, story.scoped, ctx)
  return d === null ? null : withLogLines(d, facts, story.access, story.scoped)
}

/** A captured exchange: a sharper cause from the logs when its own says only that it failed; else its own, with the log lines. */
function updateCaptured (ex: Exchange, facts: LogFacts, opts: Resolved): LogDiagnosisUpdate | null {
  const access = pickAccess(facts, ex.path, Date.parse(ex.started_at))
  const scoped = inFlight(facts, access, facts.all)
  const own = ex.diagnosis
  const sharper = sharpen(own, ex, facts, scoped, explainContext(opts, false))
  if (sharper === null) return null
  const base: Diagnosis = sharper === own || own?.root_cause === undefined ? sharper : { ...sharper, root_cause: own.root_cause }
  const d = withLogLines(base, facts, access, scoped)
  if (sharper === own && d.evidence.length === own.evidence.length) return null
  return { id: ex.id, flags: ex.flags, diagnosis: d }
}

function same (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * `events`: every event of one correlation id (all files); `captured`: the exchanges stored
 * under it (possibly none). Pure: reads nothing, writes nothing.
 */
export function diagnoseFromLogs (events: readonly LogEvent[], captured: readonly Exchange[], options: LogDiagnosisOptions = {}): LogDiagnosis {
  const opts = resolve(options)
  const facts = gatherFacts(events)
  const gatewayHop = captured.filter((ex) => ex.hop === 'gateway')
  if (gatewayHop.length === 0) {
    if (!touchesGateway(facts)) return { reconstructed: null, updates: [] }
    const access = pickAccess(facts)
    const story = reconstructHop(facts, access, inFlight(facts, access, facts.all), opts)
    story.exchange.diagnosis = diagnoseStory(story, facts, opts)
    return { reconstructed: story.exchange, updates: [] }
  }
  const updates: LogDiagnosisUpdate[] = []
  for (const ex of gatewayHop) {
    if (ex.meta.reported_by !== 'logs') {
      const update = updateCaptured(ex, facts, opts)
      if (update !== null) updates.push(update)
      continue
    }
    // Reconstructed by an earlier import: rebuilt from everything known now.
    const access = pickAccess(facts, ex.path, Date.parse(ex.started_at))
    const story = reconstructHop(facts, access, inFlight(facts, access, facts.all), opts, ex)
    const d = diagnoseStory(story, facts, opts)
    if (d !== null && !(same(d, ex.diagnosis) && same(story.exchange.flags, ex.flags))) updates.push({ id: ex.id, flags: story.exchange.flags, diagnosis: d })
  }
  return { reconstructed: null, updates }
}
