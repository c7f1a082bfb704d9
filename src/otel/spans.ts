import { createHash } from 'node:crypto'
import { type Attributes, type HrTime, type SpanContext, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import type { Exchange } from '../capture/exchange.js'
import { NOT_ERRORS } from '../store/summary.js'
import { VERSION } from '../version.js'

export interface TraceIds {
  traceId: string
  spanId: string
  /** The caller's span (W3C traceparent) or the gateway-hop exchange's span. */
  parentSpanId?: string
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/

function hex (text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length)
}

/**
 * An exchange's ids: its span id from its own id; its trace from the caller's W3C traceparent
 * when one came in, else from the correlation id — so both hops of one GitLab request share a
 * trace even though the model server never saw the correlation id.
 */
export function traceIdsOf (ex: Exchange, parent?: TraceIds): TraceIds {
  // A trace the proxy started: the upstream was told this span id is its parent's.
  const started = ex.trace_started === undefined ? null : TRACEPARENT.exec(ex.trace_started)
  const spanId = started !== null ? started[2]! : hex(ex.id, 16)
  if (parent !== undefined) return { traceId: parent.traceId, spanId, parentSpanId: parent.spanId }
  if (started !== null) return { traceId: started[1]!, spanId }
  const tp = ex.request.headers.traceparent
  const m = typeof tp === 'string' ? TRACEPARENT.exec(tp.trim()) : null
  if (m !== null && !/^0+$/.test(m[1]!)) return { traceId: m[1]!, spanId, parentSpanId: m[2]! }
  return { traceId: hex(`duo-diag-proxy:${ex.correlation_id}`, 32), spanId }
}

function hrTime (ms: number): HrTime {
  const s = Math.floor(ms / 1000)
  return [s, Math.round((ms - s * 1000) * 1e6)]
}

/** HTTP and GenAI semantic conventions, plus the proxy's own diagnosis. */
function attributes (ex: Exchange): Attributes {
  const a: Attributes = {
    'http.request.method': ex.method,
    'url.path': ex.path,
    'url.full': ex.upstream,
    'gitlab.correlation_id': ex.correlation_id,
    'duo_diag.exchange_id': ex.id,
    'duo_diag.route': ex.route,
    'duo_diag.hop': ex.hop,
    'duo_diag.feature': ex.meta.feature
  }
  try {
    const u = new URL(ex.upstream)
    a['server.address'] = u.hostname
    a['server.port'] = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
  } catch {
    // an unparsable upstream leaves the server attributes out
  }
  if (ex.status !== null) a['http.response.status_code'] = ex.status
  const model = ex.meta.model ?? ex.meta.model_name
  if (model !== undefined) a['gen_ai.request.model'] = model
  if (ex.meta.model_provider !== undefined) a['gen_ai.system'] = ex.meta.model_provider
  const u = ex.meta.usage
  if (u !== undefined) {
    const input = u.prompt_tokens ?? u.input_tokens
    const output = u.completion_tokens ?? u.output_tokens
    if (input !== undefined) a['gen_ai.usage.input_tokens'] = input
    if (output !== undefined) a['gen_ai.usage.output_tokens'] = output
  }
  if (ex.meta.finish_reason !== undefined) a['gen_ai.response.finish_reasons'] = [ex.meta.finish_reason]
  if (ex.flags.length > 0) a['duo_diag.flags'] = ex.flags
  const failure = ex.flags.find((f) => !NOT_ERRORS.includes(f))
  if (failure !== undefined) a['error.type'] = failure
  if (ex.diagnosis !== null) {
    a['duo_diag.diagnosis.cause'] = ex.diagnosis.cause
    if (ex.diagnosis.root_cause !== undefined) a['duo_diag.diagnosis.root_cause'] = ex.diagnosis.root_cause.cause
  }
  if (ex.link !== null) a['duo_diag.link.confidence'] = ex.link.confidence
  return a
}

export const SCOPE = { name: 'duo-diag-proxy', version: VERSION }

/** One exchange as an OTLP span (CLIENT: the proxy's call to the upstream). */
export function toSpan (ex: Exchange, ids: TraceIds, resource: Resource): ReadableSpan {
  const start = Date.parse(ex.started_at)
  const end = start + ex.timings.duration_ms
  const context: SpanContext = { traceId: ids.traceId, spanId: ids.spanId, traceFlags: TraceFlags.SAMPLED }
  const failed = ex.flags.some((f) => !NOT_ERRORS.includes(f))
  return {
    name: `${ex.method} ${ex.meta.feature}`,
    kind: SpanKind.CLIENT,
    spanContext: () => context,
    ...(ids.parentSpanId !== undefined ? { parentSpanContext: { traceId: ids.traceId, spanId: ids.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } } : {}),
    startTime: hrTime(start),
    endTime: hrTime(end),
    duration: hrTime(ex.timings.duration_ms),
    status: failed ? { code: SpanStatusCode.ERROR, message: ex.diagnosis?.cause ?? ex.flags.join(',') } : { code: SpanStatusCode.UNSET },
    attributes: attributes(ex),
    links: [],
    events: ex.timings.ttfb_ms === null ? [] : [{ name: 'first_byte', time: hrTime(start + ex.timings.ttfb_ms), droppedAttributesCount: 0 }],
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0
  }
}
