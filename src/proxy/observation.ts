import type { BodySample } from './body-sample.js'

/** How the correlation id of an exchange came to be. */
export type CorrelationSource = 'caller' | 'minted' | 'replaced'

/** Transport-level failure as the data plane saw it, before diagnosis names it. */
export interface TransportFailure {
  /** Node / undici / OpenSSL error code, e.g. ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, CERT_HAS_EXPIRED. */
  code: string
  message: string
  /** Whether response headers had been forwarded when it happened. */
  afterHeaders: boolean
}

/**
 * Everything the data plane learned about one exchange, handed to capture when the exchange
 * is over. Plain data built up during forwarding with no processing: redaction, parsing and
 * diagnosis happen later, in capture, off the request path.
 */
export interface Observation {
  route: string
  /** Upstream origin + base path. */
  upstream: string
  startedAt: number
  method: string
  /** Path and query as the caller sent them. */
  url: string
  httpVersion: string
  clientIp: string
  correlationId: string
  correlationSource: CorrelationSource
  /** The caller's id when it was replaced (not yet escaped). */
  originalCorrelationId: string | null
  /** Flat [name, value, ...] as received from the caller. */
  requestHeaders: string[]
  requestBody: BodySample
  /** null when no upstream response arrived. */
  status: number | null
  responseHeaders: string[] | null
  responseBody: BodySample
  ttfbMs: number | null
  durationMs: number
  failure: TransportFailure | null
  clientAborted: boolean
  /** The proxy answered the caller itself (upstream unreachable, request rejected). */
  proxyAnswered: { status: number, flag: string } | null
  /** Response was a protocol switch (WebSocket) that the proxy tunnelled. */
  upgraded: boolean
  /** Name of the fault-injection rule applied, when one was. */
  faultInjected: string | null
  /** The traceparent the proxy added (otel.start_traces), when the caller sent none. */
  startedTraceparent: string | null
}

/** Where the data plane hands finished observations. Must never throw or block. */
export interface ObservationSink {
  record (observation: Observation): void
}
