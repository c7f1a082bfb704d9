/**
 * The API's records as the view reads them (the OpenAPI document's Exchange, Trace, Summary):
 * only the fields the view uses. The server's own types are not imported where they pull Node's;
 * the summary's (src/store/summary.ts) are plain data and are.
 */
import type { Summary as StoreSummary } from '../store/summary.js'

export interface DiagnosisLine { code: string, text: string }

export interface Diagnosis {
  code: string
  cause: string
  evidence: DiagnosisLine[]
  next_steps: DiagnosisLine[]
  root_cause?: { exchange_id: string, route: string, code: string, cause: string }
}

export type HeaderMap = Record<string, string | string[]>

export interface BodyRecord {
  headers: HeaderMap
  bytes: number
  content_type: string | null
  body?: unknown
  body_truncated?: boolean
}

export interface Exchange {
  id: string
  route: string
  hop: 'gateway' | 'model'
  correlation_id: string
  correlation_source: string
  started_at: string
  method: string
  path: string
  query: string
  status: number | null
  flags: string[]
  timings: { ttfb_ms: number | null, duration_ms: number }
  request: BodyRecord
  response: BodyRecord | null
  upstream: string
  error: { code: string, message: string } | null
  proxy_answered: boolean
  meta: { feature: string, model?: string, model_name?: string, gitlab?: { rails_send_start_ms?: number }, [k: string]: unknown }
  diagnosis: Diagnosis | null
  parent_id: string | null
  link: { method: 'header' | 'inferred', confidence: number } | null
}

export interface Page { items: Exchange[], next_cursor: string | null }

export interface TraceNode { exchange: Exchange, children: TraceNode[], attempt?: number }

export interface WaterfallStep { event: string, exchange_id: string | null, route: string | null, at_ms: number }

/** An imported log line (the OpenAPI document's LogEvent). */
export interface LogEvent {
  fingerprint: string
  source: 'gitlab_llm' | 'gitlab_request' | 'gateway' | 'gateway_text'
  kind: string
  time: string
  correlation_id: string | null
  level: 'debug' | 'info' | 'warn' | 'error' | null
  message: string
  fields: Record<string, unknown>
  origin: { file: string, line: number }
}

/** One item of a trace's timeline: an exchange's step, or a log line (at `index` in `log_events`). */
export type TimelineItem =
  | { type: 'step', time: string, at_ms: number, event: string, exchange_id: string | null, route: string | null }
  | { type: 'log', time: string, at_ms: number, index: number, source: LogEvent['source'], level: LogEvent['level'] }

export interface Trace {
  correlation_id: string
  roots: TraceNode[]
  waterfall: WaterfallStep[]
  root_cause: { exchange_id: string, route: string, code: string, cause: string } | null
  log_events: LogEvent[]
  log_events_truncated: boolean
  timeline: TimelineItem[]
}

/** The summary as the API answers it: the store's, with a title per cause code in the reader's language. */
export type Summary = StoreSummary & { cause_titles: Record<string, string> }

/** A staging target from GET /api/replay/targets. */
export interface ReplayTarget { name: string, url: string }

/** POST /api/exchanges/{id}/replay's answer: the replay's record and what capture made of it. */
export interface ReplayRun {
  replay: string
  original: string
  target: string
  outcome: {
    status: number | null
    flags: string[]
    cause: string | null
    cause_code: string | null
    ttfb_ms: number | null
    duration_ms: number
    error: { code: string, message: string } | null
  }
  sent: { request_id: string, body: 'exact' | 'synthesized' | 'none', dropped_headers: string[] }
}
