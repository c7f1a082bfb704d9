import type { Diagnosis } from '../diagnosis/diagnosis.js'
import type { Exchange } from '../capture/exchange.js'
import type { LogEvent } from '../logs/event.js'
import { type AbsoluteStep, buildTimeline, type TimelineItem } from './timeline.js'

export interface WaterfallStep {
  /** What happened: `gitlab_sent`, `proxy_received`, `first_byte`, `done`, for each exchange. */
  event: string
  exchange_id: string | null
  route: string | null
  /** Milliseconds since the trace's first event. */
  at_ms: number
}

export interface TraceNode {
  exchange: Exchange
  children: TraceNode[]
  /** Among several model calls of one gateway request (its retries), this call's place: 1, 2, … */
  attempt?: number
}

export interface Trace {
  correlation_id: string
  roots: TraceNode[]
  waterfall: WaterfallStep[]
  /** The deepest failing exchange's cause, when the trace failed. */
  root_cause: NonNullable<Diagnosis['root_cause']> | null
  /** The log lines imported for this correlation id, oldest first (at most LOG_EVENTS_DEFAULT). */
  log_events: LogEvent[]
  /** More log lines are stored than `log_events` holds (GET /api/log-events?correlation_id= pages them all). */
  log_events_truncated: boolean
  /** The waterfall's steps and the log lines, merged by time. */
  timeline: TimelineItem[]
}

/**
 * Builds the tree (gateway hop → model calls), the waterfall and the timeline from a correlation
 * id's exchanges and log lines. null when it has neither.
 */
export function buildTrace (correlationId: string, exchanges: readonly Exchange[], logEvents: readonly LogEvent[] = [], logEventsTruncated = false): Trace | null {
  if (exchanges.length === 0 && logEvents.length === 0) return null
  const byId = new Map(exchanges.map((e) => [e.id, e]))
  const nodes = new Map(exchanges.map((e) => [e.id, { exchange: e, children: [] as TraceNode[] }]))
  const roots: TraceNode[] = []
  for (const node of nodes.values()) {
    const parent = node.exchange.parent_id === null ? undefined : nodes.get(node.exchange.parent_id)
    if (parent !== undefined) parent.children.push(node)
    else roots.push(node)
  }
  const start = (e: Exchange): number => Date.parse(e.started_at)
  const order = (a: TraceNode, b: TraceNode): number => start(a.exchange) - start(b.exchange)
  roots.sort(order)
  for (const n of nodes.values()) {
    n.children.sort(order)
    if (n.children.length > 1) n.children.forEach((c, i) => { c.attempt = i + 1 })
  }

  const events: AbsoluteStep[] = []
  for (const e of byId.values()) {
    const s = start(e)
    if (e.meta.gitlab?.rails_send_start_ms !== undefined) events.push({ event: 'gitlab_sent', exchange_id: e.id, route: e.route, at: e.meta.gitlab.rails_send_start_ms })
    events.push({ event: `${e.hop}_request_received`, exchange_id: e.id, route: e.route, at: s })
    if (e.timings.ttfb_ms !== null) events.push({ event: `${e.hop}_first_byte`, exchange_id: e.id, route: e.route, at: s + e.timings.ttfb_ms })
    events.push({ event: e.flags.length > 0 && e.diagnosis !== null ? `${e.hop}_failed` : `${e.hop}_done`, exchange_id: e.id, route: e.route, at: s + e.timings.duration_ms })
  }
  events.sort((a, b) => a.at - b.at)
  const t0 = events[0]?.at ?? 0
  const waterfall = events.map(({ at, ...rest }) => ({ ...rest, at_ms: Math.round((at - t0) * 1000) / 1000 }))

  return {
    correlation_id: correlationId,
    roots,
    waterfall,
    root_cause: traceRootCause(roots),
    log_events: [...logEvents],
    log_events_truncated: logEventsTruncated,
    timeline: buildTimeline(events, logEvents)
  }
}

/** The deepest failing exchange's cause: a root's own root cause (its model call), else the first failing root's. */
export function traceRootCause (roots: readonly TraceNode[]): Trace['root_cause'] {
  let rootCause: Trace['root_cause'] = null
  for (const r of roots) {
    const d = r.exchange.diagnosis
    if (d?.root_cause) rootCause = d.root_cause
    else if (d !== null && d !== undefined && rootCause === null) rootCause = { exchange_id: r.exchange.id, route: r.exchange.route, code: d.code, params: d.params, cause: d.cause }
  }
  return rootCause
}
