import type { Exchange, ExchangeMeta } from '../capture/exchange.js'
import type { Hop } from '../capture/features.js'
import type { HeaderMap, Json } from '../capture/redact.js'

/** What a replay needs of a captured exchange, whether it came from the store or a HAR export. */
export interface ReplayOriginal {
  id: string
  correlation_id: string
  route: string
  hop: Hop
  started_at: string
  method: string
  path: string
  /** Redacted at capture: filtered values stay "[FILTERED]". */
  query: string
  status: number | null
  flags: string[]
  cause: string | null
  timings: { ttfb_ms: number | null, duration_ms: number }
  request: {
    headers: HeaderMap
    bytes: number
    content_type: string | null
    /** Present only when the proxy captured bodies (verbose mode). */
    body?: Json
    body_truncated: boolean
  }
  response_bytes: number | null
  meta: ExchangeMeta
}

export function fromExchange (ex: Exchange): ReplayOriginal {
  return {
    id: ex.id,
    correlation_id: ex.correlation_id,
    route: ex.route,
    hop: ex.hop,
    started_at: ex.started_at,
    method: ex.method,
    path: ex.path,
    query: ex.query,
    status: ex.status,
    flags: ex.flags,
    cause: ex.diagnosis?.cause ?? null,
    timings: ex.timings,
    request: {
      headers: ex.request.headers,
      bytes: ex.request.bytes,
      content_type: ex.request.content_type,
      ...(ex.request.body !== undefined ? { body: ex.request.body } : {}),
      body_truncated: ex.request.body_truncated === true
    },
    response_bytes: ex.response?.bytes ?? null,
    meta: ex.meta
  }
}
