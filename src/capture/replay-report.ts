import { resolveCorrelation } from '../proxy/correlation.js'
import type { Exchange } from './exchange.js'
import type { ObservationRecord, SampledBody } from './record.js'

/**
 * What `duo-diag-proxy replay` saw of a replay it sent straight to its target, with no proxy in
 * front to record it: the body of POST /api/exchanges/{id}/replays (schema: src/api/schemas.ts,
 * ReplayReport). Nothing in it is trusted: capture redacts it all like live traffic.
 */
export interface ReplayReport {
  /** When the request was sent (ISO 8601). */
  sent_at: string
  /** The target's base URL (origin and base path); the request's path is below it. */
  target: string
  request: {
    method: string
    /** Path and query as sent, below the target's base path. */
    path: string
    /** As sent (credentials fingerprinted by the CLI). */
    headers: ReportedHeaders
    /** Body bytes sent. */
    bytes: number
    /** The body's text, or its start when longer than the report bound; absent when none. */
    body?: string
  }
  /** null when no response came. */
  response: {
    status: number
    headers: ReportedHeaders
    /** Body bytes received. */
    bytes: number
    /** The body's first bytes. */
    head: string
    /** Its last bytes, when the body was longer than `head` ('' otherwise). */
    tail: string
  } | null
  timings: { ttfb_ms: number | null, duration_ms: number }
  /** The transport failure: before any response (`response` null), or after its headers. */
  error: { code: string, message: string } | null
}

export type ReportedHeaders = Record<string, string | string[]>

/** Bounds of a report (the API schema enforces them; the admin API takes 1 MiB at most in all). */
export const REPORT_LIMITS = {
  /** Characters of request body text. */
  requestBody: 256 * 1024,
  /** Characters of response head, and of tail. */
  responseSample: 64 * 1024,
  headers: 100,
  headerValues: 16,
  headerChars: 8 * 1024,
  pathChars: 8 * 1024,
  /** How far back `sent_at` may be: a replay is reported right after it is sent. */
  maxAgeMs: 24 * 60 * 60 * 1000,
  /** How far ahead of this clock `sent_at` may be (another machine's clock). */
  maxAheadMs: 60 * 1000
} as const

export class ReplayReportError extends Error {
  readonly code = 'DDP_BAD_REPORT'
}

const REPLAY_OF_HEADER = 'x-duo-diag-replay-of'

/**
 * The report as an observation for the capture worker: on the original's route and hop, linked
 * to it by the replay header the replay carried — set here from the verified original, whatever
 * the report says. Throws ReplayReportError on what the schema cannot check.
 */
export function replayObservation (report: ReplayReport, original: Exchange, clientIp: string, now = Date.now()): ObservationRecord {
  const startedAt = Date.parse(report.sent_at)
  if (!Number.isFinite(startedAt)) throw new ReplayReportError('sent_at: not an ISO 8601 time')
  if (startedAt < now - REPORT_LIMITS.maxAgeMs || startedAt > now + REPORT_LIMITS.maxAheadMs) {
    throw new ReplayReportError('sent_at: a replay is reported when it was sent, not more than a day ago (or ahead of this clock)')
  }
  const flat = dropReplayOf(flatHeaders(report.request.headers))
  flat.push(REPLAY_OF_HEADER, original.id)
  const correlation = resolveCorrelation(headerOf(report.request.headers, 'x-request-id'))
  const res = report.response
  return {
    route: original.route,
    upstream: targetBase(report.target),
    startedAt,
    method: report.request.method.toUpperCase(),
    url: report.request.path,
    httpVersion: '1.1',
    clientIp,
    correlationId: correlation.id,
    correlationSource: correlation.source,
    originalCorrelationId: correlation.original,
    requestHeaders: flat,
    requestBody: sampled(report.request.body ?? '', '', report.request.bytes, REPORT_LIMITS.requestBody),
    status: res?.status ?? null,
    responseHeaders: res === null ? null : flatHeaders(res.headers),
    responseBody: res === null ? sampled('', '', 0, 0) : sampled(res.head, res.tail, res.bytes, REPORT_LIMITS.responseSample),
    ttfbMs: res === null ? null : report.timings.ttfb_ms,
    durationMs: report.timings.duration_ms,
    failure: report.error === null ? null : { ...report.error, afterHeaders: res !== null },
    clientAborted: false,
    proxyAnswered: null,
    upgraded: false,
    faultInjected: null,
    startedTraceparent: null,
    reportedReplay: { hop: original.hop }
  }
}

/** Origin and base path, no trailing slash: where the replay went (`upstream` of the record). */
function targetBase (target: string): string {
  let url: URL
  try {
    url = new URL(target)
  } catch {
    throw new ReplayReportError('target: not a URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ReplayReportError('target: not an http(s) URL')
  // Credentials in the URL are not the record's business (nor are a query or fragment).
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

/** Flat [name, value, …] as a route hands them to capture. */
function flatHeaders (headers: ReportedHeaders): string[] {
  const flat: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) flat.push(name, v)
  }
  return flat
}

function dropReplayOf (flat: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i]!.toLowerCase() !== REPLAY_OF_HEADER) out.push(flat[i]!, flat[i + 1]!)
  }
  return out
}

function headerOf (headers: ReportedHeaders, name: string): string | null {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return (Array.isArray(v) ? v[0] : v) ?? null
  }
  return null
}

/**
 * A body sample as a route takes one: `head` the first bytes, `tail` the last ones when the body
 * was longer. A text decoded from bytes may re-encode longer than it was sent (a cut character):
 * the size is never less than what is held.
 */
function sampled (head: string, tail: string, bytes: number, headLimit: number): SampledBody {
  const h = Buffer.from(head, 'utf8')
  const t = tail === '' ? new Uint8Array(0) : Buffer.from(tail, 'utf8')
  return { head: h, tail: t, total: Math.max(bytes, h.byteLength), headLimit: Math.max(headLimit, h.byteLength) }
}
