import type { Diagnosis } from '../diagnosis/diagnosis.js'
import type { Flag } from '../diagnosis/flags.js'
import type { TokenSummary } from '../diagnosis/token.js'
import type { CorrelationSource } from '../proxy/observation.js'
import type { Feature, Hop } from './features.js'
import type { HeaderMap, Json } from './redact.js'

/** GitLab instance identity, from the X-Gitlab-* headers GitLab sends the gateway. */
export interface GitlabInstance {
  instance_id?: string
  realm?: string
  version?: string
  host_name?: string
  global_user_id?: string
  /** X-Gitlab-Rails-Send-Start: when GitLab sent the request (epoch ms). */
  rails_send_start_ms?: number
}

/** What capture read from the bodies: never text, only names, numbers and switches. */
export interface ExchangeMeta {
  feature: Feature
  file_name?: string
  language?: string
  model_provider?: string
  model_name?: string
  model_endpoint?: string
  model_identifier?: string
  /** OpenAI request `model`. */
  model?: string
  stream?: boolean
  max_tokens?: number
  temperature?: number
  n?: number
  stop?: Json
  usage?: Record<string, number>
  finish_reason?: string
  /** Model hop: the OpenAI response's `model`, the model that answered. */
  response_model?: string
  /** Model hop: the OpenAI response's `id` (`chatcmpl-…`, `cmpl-…`). */
  response_id?: string
  /** Stream end marker seen ([DONE], finish reason, NDJSON usage); null when unknowable. */
  stream_complete?: boolean | null
  /** First error event of a 200 stream. */
  stream_error?: string
  gitlab?: GitlabInstance
  /** The caller's GitLab JWT, decoded (claims only; never the token or its signature). */
  token?: TokenSummary
  /** Why a body was not read (too large, not JSON, ...). */
  notes?: string[]
  /** The fault-injection rule that shaped this exchange (staging). */
  fault?: string
  /** The exchange this one replays (`duo-diag-proxy replay` sends x-duo-diag-replay-of). */
  replay_of?: string
  /**
   * Set when no route of this proxy carried the exchange: `replay`, sent by `duo-diag-proxy
   * replay` straight to its target and reported to the admin API (POST /api/exchanges/{id}/replays);
   * `logs`, reconstructed by `duo-diag-proxy logs import` from log lines alone (src/logs/).
   */
  reported_by?: 'replay' | 'logs'
  /** The request body's JSON shape, when its text was not kept (shape.ts): names and types, no values. */
  request_shape?: Json
}

export interface BodyRecord {
  headers: HeaderMap
  bytes: number
  content_type: string | null
  /** Redacted body: error responses always (bounded), everything in verbose capture. */
  body?: Json
  body_truncated?: boolean
}

/** One request/response through the proxy, as stored and served. */
export interface Exchange {
  id: string
  /** The proxy instance that recorded it (`proxy_instance`; the host name by default). */
  proxy_instance: string
  route: string
  hop: Hop
  correlation_id: string
  correlation_source: CorrelationSource
  /** The caller's id when it was not acceptable, JSON-escaped and cut to 256 chars. */
  original_correlation_id: string | null
  started_at: string
  method: string
  /** The caller's HTTP version (`1.1`, `1.0`); absent in records written before it was kept. */
  http_version?: string
  path: string
  /** Redacted query string, without '?'; '' when none. */
  query: string
  status: number | null
  flags: Flag[]
  timings: { ttfb_ms: number | null, duration_ms: number }
  request: BodyRecord
  response: BodyRecord | null
  client_ip: string
  /** The upstream URL the request went to (no query). */
  upstream: string
  error: { code: string, message: string } | null
  /** The proxy answered the caller itself. */
  proxy_answered: boolean
  upgraded: boolean
  meta: ExchangeMeta
  diagnosis: Diagnosis | null
  /** The gateway-hop exchange that caused this model-hop exchange, when known. */
  parent_id: string | null
  link: ExchangeLink | null
  /** The W3C traceparent the proxy added upstream (otel.start_traces); absent when it added none. */
  trace_started?: string
}

export interface ExchangeLink {
  /** header: a correlation id tied them; inferred: time containment and model/endpoint match. */
  method: 'header' | 'inferred'
  confidence: number
}

/** Exchange ids: 12 hex of start time and 12 random hex (8 in stores written before 0.2). */
export const EXCHANGE_ID_PATTERN = '^[0-9a-f]{20}(?:[0-9a-f]{4})?$'
export const EXCHANGE_ID = new RegExp(EXCHANGE_ID_PATTERN)
