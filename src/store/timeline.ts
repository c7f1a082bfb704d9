/**
 * One request's timeline: the steps of its exchanges (what the proxy saw, or what the logs let us
 * reconstruct) and the log lines imported for it (GitLab's llm.log, the AI gateway's logs),
 * merged by time. What `show <correlation id>` prints and the trace page lists.
 */
import type { LogEvent, LogLevel, LogSource } from '../logs/event.js'

/** A step of an exchange (`gateway_request_received`, `model_failed`, …), at its absolute time. */
export interface TimelineStep {
  type: 'step'
  /** ISO 8601, UTC, to the millisecond. */
  time: string
  /** Milliseconds since the timeline's first item. */
  at_ms: number
  event: string
  exchange_id: string | null
  route: string | null
}

/** A log line: its place in the trace's `log_events` (the line itself is there, not repeated). */
export interface TimelineLog {
  type: 'log'
  time: string
  at_ms: number
  /** Index into the trace's `log_events`. */
  index: number
  source: LogSource
  level: LogLevel | null
}

export type TimelineItem = TimelineStep | TimelineLog

/** A waterfall step before it is made relative: its absolute time in epoch ms. */
export interface AbsoluteStep {
  event: string
  exchange_id: string | null
  route: string | null
  at: number
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000

/**
 * Steps and log lines in time order. On the same millisecond a step comes before a log line (the
 * proxy sees a request before the writer behind it logs it), and each keeps its own order.
 */
export function buildTimeline (steps: readonly AbsoluteStep[], logEvents: readonly LogEvent[]): TimelineItem[] {
  const items: Array<{ at: number, rank: number, item: Omit<TimelineStep, 'at_ms'> | Omit<TimelineLog, 'at_ms'> }> = []
  for (const s of steps) {
    // A step with no readable time cannot be placed (the waterfall keeps it).
    if (!Number.isFinite(s.at)) continue
    items.push({ at: s.at, rank: 0, item: { type: 'step', time: new Date(Math.floor(s.at)).toISOString(), event: s.event, exchange_id: s.exchange_id, route: s.route } })
  }
  logEvents.forEach((ev, index) => {
    items.push({ at: Date.parse(ev.time), rank: 1, item: { type: 'log', time: ev.time, index, source: ev.source, level: ev.level } })
  })
  // Array.prototype.sort is stable: equal keys keep their order (steps as built, lines as stored).
  items.sort((a, b) => a.at - b.at || a.rank - b.rank)
  const t0 = items[0]?.at ?? 0
  return items.map(({ at, item }) => ({ ...item, at_ms: round3(at - t0) }) as TimelineItem)
}
