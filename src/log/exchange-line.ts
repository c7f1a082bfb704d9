import type { Exchange } from '../capture/exchange.js'

/**
 * The per-exchange log line, in GitLab's request-log vocabulary so one `jq` filter reads it beside
 * api_json.log, llm.log and the AI gateway's access log:
 * - `correlation_id`: Labkit's LOG_KEY (gitlabhq lib/gitlab/lograge/custom_options.rb,
 *   lib/gitlab/grape_logging/loggers/correlation_id_logger.rb; the gateway's
 *   ai_gateway/api/middleware/access_log.py binds the same key).
 * - `method`, `path`, `status`: lograge's names, as api_json.log writes them (the path without its
 *   query; the redacted path, as stored). `status` is the upstream's, as stored: null when no
 *   response came, and then `proxy_answered` says the proxy answered the caller itself (502/504).
 * - `duration_s`: seconds as a float rounded to 6 places, Gitlab::Utils.ms_to_round_sec
 *   (lib/gitlab/grape_logging/formatters/lograge_with_timestamp.rb); `ttfb_s` likewise (null when
 *   no response byte arrived).
 * - `remote_ip`: the caller's address, lograge's KNOWN_PAYLOAD_PARAMS name (custom_options.rb).
 *   The gateway's access log calls its own `client_ip` and its status `status_code`.
 * The rest is the proxy's own: `exchange_id` (for `duo-diag-proxy show`), `route`, `hop`, `feature`,
 * `flags`, and for failures the diagnosis's `cause` and the transport `error_code`.
 */
export interface ExchangeLine {
  correlation_id: string
  exchange_id: string
  method: string
  path: string
  status: number | null
  duration_s: number
  ttfb_s: number | null
  remote_ip: string
  route: string
  hop: string
  feature: string
  flags: string[]
  proxy_answered?: true
  cause?: string
  /** The cause's stable code (README, "Diagnosis codes"): what a log pipeline groups by. */
  cause_code?: string
  error_code?: string
}

export type ExchangeLevel = 'info' | 'warn' | 'error'

/**
 * The upstream failed: transport failures, 5xx, the gateway's 421 (its model failed) and broken
 * streams. The same set as `duo_diag_upstream_errors_total` (src/metrics/registry.ts), plus the
 * timeout phases that always come with one of them.
 */
const UPSTREAM_FAILURE: ReadonlySet<string> = new Set([
  'connection_refused', 'network_unreachable', 'dns_failure', 'timeout', 'connect_timeout',
  'headers_timeout', 'body_timeout', 'model_timeout', 'tls_error', 'connection_reset',
  'stream_aborted', 'stream_truncated', 'stream_error', 'upstream_error', 'model_error'
])

/**
 * Worth a look but not an upstream failure: the upstream's 4xx (the caller's request or its
 * credentials), requests the proxy refused, exchanges over the slow thresholds, and a token the
 * gateway is predicted to reject.
 */
const WARNING: ReadonlySet<string> = new Set([
  'unauthorized', 'forbidden', 'not_found', 'rate_limited', 'client_error', 'request_rejected', 'slow',
  'token_expired', 'token_not_yet_valid', 'token_audience_mismatch', 'token_issuer_mismatch', 'token_header_mismatch'
])

/**
 * ERROR when the upstream failed (a 5xx status, a transport failure, a broken stream); WARN for a
 * 4xx, a refused request, a slow exchange or a predicted token rejection; INFO otherwise. A caller
 * hanging up (`client_aborted`, normal for code completion), `tls_unverified` (logged loudly at
 * start) and `fault_injected` alone stay INFO.
 */
export function exchangeLevel (ex: Pick<Exchange, 'status' | 'flags'>): ExchangeLevel {
  let level: ExchangeLevel = ex.status !== null && ex.status >= 500 ? 'error' : ex.status !== null && ex.status >= 400 ? 'warn' : 'info'
  for (const f of ex.flags) {
    if (UPSTREAM_FAILURE.has(f)) return 'error'
    if (WARNING.has(f)) level = 'warn'
  }
  return level
}

/** Milliseconds to seconds, 6 decimals (Gitlab::Utils.ms_to_round_sec). */
export function msToRoundSec (ms: number): number {
  return Math.round(ms * 1000) / 1_000_000
}

export function exchangeLine (ex: Exchange): ExchangeLine {
  const line: ExchangeLine = {
    correlation_id: ex.correlation_id,
    exchange_id: ex.id,
    method: ex.method,
    path: ex.path,
    status: ex.status,
    duration_s: msToRoundSec(ex.timings.duration_ms),
    ttfb_s: ex.timings.ttfb_ms === null ? null : msToRoundSec(ex.timings.ttfb_ms),
    remote_ip: ex.client_ip,
    route: ex.route,
    hop: ex.hop,
    feature: ex.meta.feature,
    flags: ex.flags
  }
  if (ex.proxy_answered) line.proxy_answered = true
  if (ex.diagnosis !== null) {
    line.cause = ex.diagnosis.cause
    line.cause_code = ex.diagnosis.code
  }
  if (ex.error !== null) line.error_code = ex.error.code
  return line
}
