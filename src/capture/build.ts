import { randomFillSync } from 'node:crypto'
import type { HopKind } from '../config/types.js'
import { classify } from '../diagnosis/classify.js'
import { explain } from '../diagnosis/explain.js'
import type { Flag } from '../diagnosis/flags.js'
import type { ChainSummary } from '../diagnosis/tls-chain.js'
import { checkToken } from '../diagnosis/token.js'
import { headerValue } from '../proxy/headers.js'
import { type BodyRecord, EXCHANGE_ID, type Exchange, type ExchangeMeta } from './exchange.js'
import { classifyPath } from './features.js'
import { type BodyKind, bodyKind, isSlow, tlsUnverified } from './observed.js'
import { headText, isComplete, type ObservationRecord, type SampledBody, tailText } from './record.js'
import { completionResponseMeta, gatewayRequestMeta, gitlabInstance, openaiRequestMeta, openaiResponseMeta } from './metadata.js'
import { EchoFilter } from './echo.js'
import { redactJsonText } from './json-text.js'
import { type Json, redactForm, redactHeaders, redactJson, redactQuery, scrubText, type SecretSink } from './redact.js'
import type { RuleSet } from './redact-rules.js'
import { requestShape } from './shape.js'
import { readNdjson, readSse, type StreamFacts } from './streams.js'

/** What diagnosis needs to know of a route. */
export interface RouteSettings {
  hop: HopKind
  timeouts: { connectMs: number, headersMs: number, bodyIdleMs: number }
  slow: { ttfbMs: number, durationMs: number }
  insecureTls: boolean
}

export interface BuildOptions {
  /** This proxy's name in a shared store. */
  proxyInstance: string
  /** Body rules for the capture mode (content rules off in verbose mode). */
  bodyRules: RuleSet
  headerRules: RuleSet
  /** Keep (redacted) request and response bodies. */
  verbose: boolean
  errorBodyBytes: number
  routes: ReadonlyMap<string, RouteSettings>
  expectedIssuer: string | null
  clockSkewS: number
  /** The AI gateway's model timeouts, seconds (diagnosis.gateway_model_timeouts_s). */
  gatewayModelTimeoutsS: readonly number[]
  /** Certificate chains presented by upstreams, by origin (filled by the engine's TLS probe). */
  tlsChains: ReadonlyMap<string, ChainSummary>
}

const DEFAULT_ROUTE_SETTINGS: RouteSettings = {
  hop: 'auto',
  timeouts: { connectMs: 10_000, headersMs: 90_000, bodyIdleMs: 90_000 },
  slow: { ttfbMs: 15_000, durationMs: 30_000 },
  insecureTls: false
}

// Random suffixes drawn from a pooled buffer: one syscall per 1024 ids, not one per record.
// 48 random bits after the start time: unique across the instances writing one shared database.
const ID_RANDOM_BYTES = 6
const ID_COUNT = 1024
const ID_POOL = Buffer.allocUnsafe(ID_RANDOM_BYTES * ID_COUNT)
let idNext = ID_COUNT

/** Sortable, unique: 12 hex of milliseconds + 12 random hex. */
export function newExchangeId (startedAt: number): string {
  if (idNext === ID_COUNT) {
    randomFillSync(ID_POOL)
    idNext = 0
  }
  const at = ID_RANDOM_BYTES * idNext++
  return startedAt.toString(16).padStart(12, '0') + ID_POOL.toString('hex', at, at + ID_RANDOM_BYTES)
}

/** Parses a complete JSON body sample; notes why not otherwise. */
function parseJsonSample (sample: SampledBody, what: string, notes: string[]): unknown {
  if (sample.total === 0) return undefined
  if (!isComplete(sample)) {
    notes.push(`${what} body of ${sample.total} bytes is over the sample bound (${sample.headLimit}): not parsed`)
    return undefined
  }
  try {
    return JSON.parse(headText(sample))
  } catch (err) {
    notes.push(`${what} body is not valid JSON (${err instanceof RangeError ? 'nested too deep' : 'parse error'})`)
    return undefined
  }
}

function truncate (text: string, bytes: number): { text: string, truncated: boolean } {
  if (Buffer.byteLength(text) <= bytes) return { text, truncated: false }
  return { text: Buffer.from(text).subarray(0, bytes).toString('utf8'), truncated: true }
}

/**
 * Observation → Exchange: redaction, metadata, stream facts and flags. Runs in the capture
 * pipeline after the bytes have been forwarded; may throw on a bug (the pipeline catches).
 */
export function buildExchange (obs: ObservationRecord, opts: BuildOptions): Exchange {
  const q = obs.url.indexOf('?')
  const path = q < 0 ? obs.url : obs.url.slice(0, q)
  const query = q < 0 ? '' : obs.url.slice(q + 1)
  const route = opts.routes.get(obs.route) ?? DEFAULT_ROUTE_SETTINGS
  const { hop, feature } = classifyPath(path, obs.reportedReplay?.hop ?? route.hop)
  const notes: string[] = []
  const meta: ExchangeMeta = { feature }

  const reqType = headerValue(obs.requestHeaders, 'content-type')
  const reqKind = bodyKind(reqType)
  const reqJson = reqKind === 'json' ? parseJsonSample(obs.requestBody, 'request', notes) : undefined
  // What the request's redaction filters must not come back through the response: every kept
  // response text (error bodies, stream errors, error headers) goes through `echo` (echo.ts).
  // The request body is walked for its values only when some response text is kept.
  const echo = new EchoFilter()
  const safePath = scrubText(path, echo.add)
  const safeQuery = redactQuery(query, opts.bodyRules, echo.add)
  echo.defer(() => collectBodyValues(obs.requestBody, reqKind, reqJson, opts.bodyRules, echo.add))
  const keepText = (text: string): string => scrubText(echo.filter(text))
  if (hop === 'gateway') {
    gatewayRequestMeta(reqJson, meta)
    const gitlab = gitlabInstance(obs.requestHeaders)
    if (gitlab !== undefined) meta.gitlab = gitlab
  } else {
    openaiRequestMeta(reqJson, meta)
  }

  const request: BodyRecord = {
    headers: redactHeaders(obs.requestHeaders, opts.headerRules, echo.add),
    bytes: obs.requestBody.total,
    content_type: reqType
  }
  // The request's own body, in verbose capture: only the rules apply (its text is what was sent).
  if (opts.verbose) keepBody(request, obs.requestBody, reqKind, reqJson, opts, obs.requestBody.headLimit, scrubText)
  // No body text kept: its shape (names and types, no values) lets `replay` build one like it.
  if (reqJson !== undefined && (!opts.verbose || request.body_truncated === true)) {
    const shape = requestShape(reqJson, opts.bodyRules)
    if (shape !== undefined) meta.request_shape = shape
  }

  let response: BodyRecord | null = null
  let stream: StreamFacts | null = null
  if (obs.responseHeaders !== null) {
    const resType = headerValue(obs.responseHeaders, 'content-type')
    const resKind = bodyKind(resType)
    const sample = obs.responseBody
    let resJson: unknown
    if (resKind === 'sse' || resKind === 'ndjson') {
      const { text, fromStart } = tailText(sample)
      stream = resKind === 'sse' ? readSse(text, fromStart) : readNdjson(text, fromStart)
      if (stream.usage !== null) meta.usage = stream.usage
      if (stream.finishReason !== null) meta.finish_reason = stream.finishReason
      if (hop === 'model') openaiResponseMeta({ model: stream.responseModel, id: stream.responseId }, meta)
      meta.stream_complete = stream.complete
      if (stream.error !== null) meta.stream_error = keepText(looksLikeJson(stream.error) ? redactJsonText(stream.error, opts.bodyRules) : stream.error)
    } else if (resKind === 'json' && !obs.upgraded) {
      resJson = parseJsonSample(sample, 'response', notes)
      completionResponseMeta(resJson, meta)
      if (hop === 'model') openaiResponseMeta(resJson, meta)
    }
    response = {
      headers: redactHeaders(obs.responseHeaders, opts.headerRules),
      bytes: sample.total,
      content_type: resType
    }
    const status = obs.status ?? 0
    if (status >= 400) {
      keepBody(response, sample, resKind, resJson, opts, opts.errorBodyBytes, keepText)
      // An error page may say it in a header too (a reason, a Location back with the query).
      response.headers = echo.filterJson(response.headers)
    } else if (opts.verbose) {
      keepBody(response, sample, resKind, resJson, opts, sample.headLimit, keepText)
    }
  }
  if (notes.length > 0) meta.notes = notes
  if (obs.faultInjected !== null) meta.fault = obs.faultInjected
  const replayOf = headerValue(obs.requestHeaders, 'x-duo-diag-replay-of')
  if (replayOf !== null && EXCHANGE_ID.test(replayOf)) meta.replay_of = replayOf
  if (obs.reportedReplay !== undefined) meta.reported_by = 'replay'

  const findings = checkToken(headerValue(obs.requestHeaders, 'authorization'), (n) => headerValue(obs.requestHeaders, n), {
    expectedIssuer: opts.expectedIssuer,
    skewS: opts.clockSkewS,
    now: obs.startedAt
  })
  if (findings.token !== null) meta.token = findings.token

  const flags: Flag[] = classify({
    status: obs.status,
    failureCode: obs.failure?.code ?? null,
    failureAfterHeaders: obs.failure?.afterHeaders ?? false,
    proxyAnsweredFlag: obs.proxyAnswered?.flag ?? null,
    clientAborted: obs.clientAborted,
    streamComplete: stream?.complete ?? null,
    streamError: stream?.error != null,
    faultInjected: obs.faultInjected !== null
  })
  flags.push(...findings.flags)
  if (hop === 'model' && obs.clientAborted && atGatewayModelTimeout(obs, opts.gatewayModelTimeoutsS)) flags.push('timeout', 'model_timeout')
  if (isSlow(obs, route.slow)) flags.push('slow')
  if (tlsUnverified(obs.upstream, route.insecureTls)) flags.push('tls_unverified')

  const ex: Exchange = {
    id: newExchangeId(obs.startedAt),
    proxy_instance: opts.proxyInstance,
    route: obs.route,
    hop,
    correlation_id: obs.correlationId,
    correlation_source: obs.correlationSource,
    original_correlation_id: obs.originalCorrelationId === null ? null : JSON.stringify(scrubText(obs.originalCorrelationId.slice(0, 256))),
    started_at: new Date(obs.startedAt).toISOString(),
    method: obs.method,
    http_version: obs.httpVersion,
    path: safePath,
    query: safeQuery,
    status: obs.status,
    flags,
    timings: { ttfb_ms: round(obs.ttfbMs), duration_ms: round(obs.durationMs) as number },
    request,
    response,
    client_ip: obs.clientIp,
    // The scrubbed path, like `path`: never the one the caller sent.
    upstream: obs.upstream + safePath,
    // Written by Node, undici or the proxy, never the upstream's bytes: no echo to look for.
    error: obs.failure === null ? null : { code: obs.failure.code, message: scrubText(obs.failure.message) },
    proxy_answered: obs.proxyAnswered !== null,
    upgraded: obs.upgraded,
    meta,
    diagnosis: null,
    parent_id: null,
    link: null
  }
  if (obs.startedTraceparent !== null) ex.trace_started = obs.startedTraceparent
  ex.diagnosis = explain(ex, {
    timeouts: route.timeouts,
    slow: route.slow,
    // Chains are only known after a TLS failure was probed: no URL parse per exchange otherwise.
    tlsChain: opts.tlsChains.size === 0 ? null : opts.tlsChains.get(new URL(obs.upstream).origin) ?? null,
    tokenEvidence: findings.evidence,
    insecureTls: route.insecureTls,
    modelRouted: hasModelRoute(opts.routes),
    gatewayModelTimeoutsS: opts.gatewayModelTimeoutsS
  })
  return ex
}

const modelRouteCache = new WeakMap<ReadonlyMap<string, RouteSettings>, boolean>()

/** Some route sits on the model hop (asked per record; the route table never changes). */
function hasModelRoute (routes: ReadonlyMap<string, RouteSettings>): boolean {
  let known = modelRouteCache.get(routes)
  if (known === undefined) {
    known = [...routes.values()].some((r) => r.hop === 'model')
    modelRouteCache.set(routes, known)
  }
  return known
}

/**
 * The gateway hung up on the model at one of its model timeouts: litellm's timeout in the
 * gateway is httpx's read timeout (ai_gateway/models/litellm.py, prompts/base.py), so it runs
 * from the request until the first byte, or from the headers when no body byte came after them.
 * A stream that stalls after some bytes cannot be told apart (no per-chunk times are kept).
 */
function atGatewayModelTimeout (obs: ObservationRecord, timeoutsS: readonly number[]): boolean {
  const silentMs = obs.ttfbMs === null ? obs.durationMs : obs.responseBody.total === 0 ? obs.durationMs - obs.ttfbMs : null
  if (silentMs === null) return false
  return timeoutsS.some((t) => silentMs >= t * 980 - 20 && silentMs <= t * 1000 + 2_000)
}

function round (ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1000
}

/**
 * Stores a redacted body: JSON structurally, forms by key, text scrubbed, binary as a size.
 * `keep` is what becomes of every kept string (scrubbing, and for responses echo filtering).
 */
function keepBody (record: BodyRecord, sample: SampledBody, kind: BodyKind, parsed: unknown, opts: BuildOptions, limit: number, keep: (text: string) => string): void {
  if (sample.total === 0 || limit === 0) return
  const truncated = !isComplete(sample) || sample.head.byteLength > limit
  if (kind === 'json' && parsed !== undefined) {
    const redacted: Json = redactJson(parsed, opts.bodyRules, { text: keep })
    const text = JSON.stringify(redacted)
    if (Buffer.byteLength(text) <= limit) {
      record.body = redacted
      return
    }
    record.body = truncate(text, limit).text
    record.body_truncated = true
    return
  }
  if (kind === 'binary') {
    record.body = `[binary: ${sample.total} bytes]`
    return
  }
  let text = headText(sample)
  if (kind === 'form') text = redactForm(text, opts.bodyRules)
  else if (kind === 'sse' || kind === 'ndjson') {
    // Streams carry completion text: only their shape is kept unless verbose.
    if (!opts.verbose) text = redactStreamLines(text, opts, keep)
  } else if (kind === 'json' || looksLikeJson(text)) {
    // JSON no parser read (over the sample bound, cut, invalid, or not labelled JSON): the
    // rules still apply, by key, to the text as it stands.
    text = redactJsonText(text, opts.bodyRules)
  }
  const cut = truncate(keep(text), limit)
  record.body = cut.text
  if (truncated || cut.truncated) record.body_truncated = true
}

function looksLikeJson (text: string): boolean {
  return /^\s*[[{]/.test(text)
}

/** SSE field lines kept in metadata mode: framing, no text. */
const SSE_FRAMING = /^(?:event|id|retry):/

/**
 * Each JSON line of a stream redacted by the body rules (a cut line by key, as text); framing
 * (`event:`, `id:`, blank lines, `[DONE]`) kept; any other line — raw completion text, an error
 * message that is no JSON — becomes "[FILTERED]": in metadata mode no text is kept.
 */
function redactStreamLines (text: string, opts: BuildOptions, keep: (text: string) => string): string {
  return text.split('\n').map((line) => {
    const bare = line.endsWith('\r') ? line.slice(0, -1) : line
    if (bare.trim() === '' || SSE_FRAMING.test(bare)) return line
    const prefix = bare.startsWith('data:') ? 'data: ' : ''
    const payload = prefix ? bare.slice(5).trim() : bare.trim()
    if (payload === '' || payload === '[DONE]') return line
    if (!payload.startsWith('{') && !payload.startsWith('[')) return prefix + '[FILTERED]'
    try {
      return prefix + JSON.stringify(redactJson(JSON.parse(payload), opts.bodyRules, { text: keep }))
    } catch {
      return prefix + redactJsonText(payload, opts.bodyRules)
    }
  }).join('\n')
}

/**
 * The values the request's redaction filters in its body (rule-matched keys, token-shaped
 * text), to the sink; the redacted body itself is not needed here.
 */
function collectBodyValues (sample: SampledBody, kind: BodyKind, parsed: unknown, rules: RuleSet, sink: SecretSink): void {
  if (sample.total === 0) return
  if (parsed !== undefined) {
    redactJson(parsed, rules, { sink })
    return
  }
  const text = headText(sample)
  // JSON sent without its Content-Type (or as text) is still read as JSON here.
  if (kind === 'json' || looksLikeJson(text)) scrubText(redactJsonText(text, rules, sink), sink)
  else if (kind === 'form') redactForm(text, rules, sink)
  else if (kind !== 'binary') scrubText(text, sink)
}
