import * as nodeHttp from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { CLIENT_ABORTED_CODE, classifyTransport, PROXY_STOPPED_CODE, transportHint } from '../diagnosis/transport.js'
import { BodySample } from './body-sample.js'
import { resolveCorrelation } from './correlation.js'
import { downstreamResponseHeaders, findRequestId, upstreamRequestHeaders } from './headers.js'
import type { Observation, ObservationSink } from './observation.js'
import { type ProxyAnswer, writeProxyAnswer, writeProxyAnswerToSocket } from './proxy-response.js'
import { hasTraceparent, type TraceStarter } from './trace-start.js'
import type { Upstream } from './upstream.js'
import { FAULT_HEADER, type FaultAction, type FaultRule, type FaultRules } from '../faults/rules.js'

/** What a route's forwarders share. */
export interface RouteRuntime {
  name: string
  upstream: Upstream
  preserveHost: boolean
  maxBodyBytes: number
  sampleBytes: number
  tailBytes: number
  sink: ObservationSink
  /** Exchanges under way, for graceful shutdown and the inflight gauge. */
  inflight: number
  /** Fault injection, or null when it is not enabled (the normal case: one null check). */
  faults: FaultRules | null
  /** Starts a W3C trace when the caller sent none (otel.start_traces), or null. */
  traces: TraceStarter | null
  /** A WebSocket tunnel silent both ways this long is closed. */
  websocketIdleMs: number
  /** Set when a forced stop (a second signal) cuts the exchanges still in flight. */
  forcedStop: boolean
}

class ClientAbortedError extends Error {
  readonly code = CLIENT_ABORTED_CODE
  constructor () {
    super('the caller closed the connection')
  }
}

class BodyTooLargeError extends Error {
  readonly code = 'DDP_BODY_TOO_LARGE'
  constructor (limit: number) {
    super(`request body is over the route's limit of ${limit} bytes`)
  }
}

const kHandler = Symbol('duo-diag-proxy.handler')
type WithHandler = { [kHandler]?: HttpForward }

function errorCode (err: unknown): string {
  const e = err as { code?: unknown, cause?: { code?: unknown } }
  if (typeof e?.code === 'string') return e.code
  if (typeof e?.cause?.code === 'string') return e.cause.code
  return 'UNKNOWN'
}

function clientIpOf (req: IncomingMessage): string {
  const ip = req.socket.remoteAddress ?? ''
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip
}

/** Origin-form path of the request; absolute-form targets are reduced to their path. */
function targetPath (url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url
  if (url === '*') return url
  try {
    const u = new URL(url)
    return u.pathname + u.search
  } catch {
    return '/' + url
  }
}

function hasHost (raw: string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host') return true
  }
  return false
}

/** Does the request carry a body, by its framing headers? Reads rawHeaders, not the lazy `headers`. */
function requestBodyLength (raw: string[]): number {
  // -1: no body; -2: chunked; otherwise the content length.
  let length = -1
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 14 && name.toLowerCase() === 'content-length') length = Number(raw[i + 1])
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return -2
  }
  return length
}

/** All Transfer-Encoding lines of a request, joined and lower-cased ('' when none). */
function transferCodings (raw: string[]): string {
  let codings = ''
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') codings = codings === '' ? raw[i + 1] as string : `${codings}, ${raw[i + 1] as string}`
  }
  return codings.trim().toLowerCase()
}

/**
 * Is this upgrade request a WebSocket handshake the proxy may tunnel? RFC 6455 §4.1: a GET with
 * `Upgrade: websocket`, and no body: the tunnel starts right after the head, so body bytes
 * would reach the upstream as WebSocket frames. Anything else (h2c, another protocol, a POST, a
 * body) is forwarded as a plain request instead.
 */
function isWebSocketHandshake (req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false
  const raw = req.rawHeaders
  let upgrade: string | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase()
    const value = raw[i + 1] as string
    if (lower === 'upgrade') {
      if (upgrade !== null) return false
      upgrade = value
    } else if (lower === 'transfer-encoding' || (lower === 'content-length' && Number(value) !== 0)) {
      return false
    }
  }
  return upgrade !== null && upgrade.trim().toLowerCase() === 'websocket'
}

/**
 * The head of an upgrade request as a plain request: the same line and headers, byte for byte,
 * with the `upgrade` token taken out of Connection (a Connection left empty goes). Without it
 * Node's parser sees no upgrade (llhttp needs both Upgrade and `Connection: upgrade`).
 * Upgrade itself stays, for the capture; the forwarder drops it as hop-by-hop. null when no
 * Connection header names `upgrade` as this reads it: rewriting would change nothing, and the
 * parser would hand the same request back as an upgrade again (a loop).
 */
function plainRequestHead (req: IncomingMessage): string | null {
  let head = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`
  let changed = false
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    let value = raw[i + 1] as string
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const tokens = value.split(',').map((t) => t.trim()).filter((t) => t !== '')
      const kept = tokens.filter((t) => t.toLowerCase() !== 'upgrade')
      if (kept.length !== tokens.length) changed = true
      value = kept.join(', ')
      if (value === '') continue
    }
    head += `${name}: ${value}\r\n`
  }
  return changed ? head + '\r\n' : null
}

/** node:http's exported (undocumented, long-stable) listener that sets its parser on a socket. */
const connectionListener = (nodeHttp as unknown as { _connectionListener?: (this: Server, socket: Duplex) => void })._connectionListener

type WithServer = { server?: Server }
/** The proxy refused a request on this connection and closes it once that answer is out. */
const kRefused = Symbol('duo-diag-proxy.refused')
type WithRefused = { [kRefused]?: true }
/** node:http's response being written on a socket (Node sets it; null between responses). */
type WithHttpMessage = { _httpMessage?: ServerResponse | null }

/** What a 405 to CONNECT allows: the methods GitLab and the gateways use (any other is forwarded too). */
const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'

/**
 * One exchange in flight, as an undici dispatch handler. undici's core speaks this (legacy)
 * handler interface natively (lib/core/request.js): no adapter, raw header buffers, and
 * `onBodySent` hands us each request-body chunk as it goes out — a tee with no extra stream.
 * Subclasses differ only in how bytes reach the caller (a ServerResponse or a raw socket).
 */
abstract class ForwardBase implements Dispatcher.DispatchHandler {
  readonly obs: Observation
  protected readonly t0: number
  protected abortUpstream: ((err?: Error) => void) | null = null
  protected resumeUpstream: (() => void) | null = null
  protected headersSent = false
  protected done = false
  /** A fault acting on the response, while one does. */
  protected fault: FaultAction | null = null
  private chunks = 0

  constructor (protected readonly route: RouteRuntime, req: IncomingMessage) {
    this.t0 = performance.now()
    const raw = req.rawHeaders
    const correlation = resolveCorrelation(findRequestId(raw))
    this.obs = {
      route: route.name,
      upstream: route.upstream.display,
      startedAt: Date.now(),
      method: req.method ?? 'GET',
      // Absolute-form targets (a client using the proxy as HTTP_PROXY) become origin-form here,
      // so forwarding and capture see the same path (and never the credentials of such a URL).
      url: targetPath(req.url ?? '/'),
      httpVersion: req.httpVersion,
      clientIp: clientIpOf(req),
      correlationId: correlation.id,
      correlationSource: correlation.source,
      originalCorrelationId: correlation.original,
      requestHeaders: raw,
      requestBody: new BodySample(route.sampleBytes, 0),
      status: null,
      responseHeaders: null,
      responseBody: new BodySample(route.sampleBytes, route.tailBytes),
      ttfbMs: null,
      durationMs: 0,
      failure: null,
      clientAborted: false,
      proxyAnswered: null,
      upgraded: false,
      faultInjected: null,
      startedTraceparent: null
    }
    route.inflight++
  }

  protected upstreamHeaders (req: IncomingMessage): string[] {
    const up = this.route.upstream
    const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
    const headers = upstreamRequestHeaders(req.rawHeaders, this.obs.correlationId, this.obs.clientIp, this.route.preserveHost ? null : up.host, proto)
    if (this.route.traces !== null && !hasTraceparent(req.rawHeaders)) {
      const traceparent = this.route.traces.traceparent()
      headers.push('traceparent', traceparent)
      this.obs.startedTraceparent = traceparent
    }
    return headers
  }

  protected upstreamPath (): string {
    return this.route.upstream.basePath + this.obs.url
  }

  protected abstract sendHead (status: number, statusText: string, headers: string[]): void
  protected abstract sendChunk (chunk: Buffer): boolean
  protected abstract sendEnd (): void
  /** Cuts the response off so the caller sees the failure rather than a clean end. */
  protected abstract cut (): void
  protected abstract answer (a: ProxyAnswer, statusText: string): void
  protected abstract onDrain (resume: () => void): void
  /** Sends the response head now, without waiting for body bytes. */
  protected abstract flushHead (): void

  /** Drops the exchange: neither answered nor recorded here (someone else does, or no one should). */
  protected abandon (): void {
    this.done = true
    this.route.inflight--
  }

  /** Answers the request itself without forwarding it, and records why. */
  protected reject (status: number, statusText: string, error: string, hint: string, req: IncomingMessage, headers?: string[]): void {
    const a: ProxyAnswer = { status, flag: 'request_rejected', error, hint, correlationId: this.obs.correlationId }
    if (headers !== undefined) a.headers = headers
    this.answer(a, statusText)
    this.obs.proxyAnswered = { status, flag: 'request_rejected' }
    req.resume()
    this.finish()
  }

  onConnect (abort: (err?: Error) => void): void {
    // The caller may have left while the request waited for a pooled connection.
    if (this.done) abort(new ClientAbortedError())
    else this.abortUpstream = abort
  }

  onBodySent (chunk: unknown): void {
    if (!Buffer.isBuffer(chunk)) return
    const body = this.obs.requestBody
    body.add(chunk)
    // A chunked body has no length up front: stop it when it outgrows the route's limit.
    if (body.total > this.route.maxBodyBytes && this.abortUpstream !== null) this.abortUpstream(new BodyTooLargeError(this.route.maxBodyBytes))
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx: Node already answered `Expect: 100-continue` to the caller; nothing to relay.
    if (statusCode < 200 || this.done) return true
    const obs = this.obs
    obs.status = statusCode
    obs.ttfbMs = performance.now() - this.t0
    const headers = downstreamResponseHeaders(rawHeaders, obs.correlationId)
    if (obs.faultInjected !== null) headers.push(FAULT_HEADER, obs.faultInjected)
    obs.responseHeaders = headers
    this.resumeUpstream = resume
    try {
      this.sendHead(statusCode, statusText, headers)
    } catch (err) {
      // Node refused a header value the upstream sent (invalid characters): say so.
      this.abortUpstream?.(err as Error)
      return false
    }
    this.headersSent = true
    if (this.fault !== null && 'reset' in this.fault) {
      // The caller must see the head before the connection drops.
      this.flushHead()
      setImmediate(() => this.injectedFailure('ECONNRESET', 'connection reset after the response headers (injected fault)'))
      return false
    }
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.done) return true
    if (this.fault !== null) return this.faultyData(chunk, this.fault)
    this.obs.responseBody.add(chunk)
    if (this.sendChunk(chunk)) return true
    this.onDrain(this.resumeUpstream as () => void)
    return false
  }

  /** The response-side faults: slow first chunk, stall, truncation, low bandwidth. */
  private faultyData (chunk: Buffer, fault: FaultAction): boolean {
    const body = this.obs.responseBody
    const resume = this.resumeUpstream as () => void
    this.chunks++
    if ('first_chunk_delay_ms' in fault && this.chunks === 1) {
      setTimeout(() => {
        if (this.done) return
        body.add(chunk)
        this.sendChunk(chunk)
        resume()
      }, fault.first_chunk_delay_ms)
      return false
    }
    if ('stall_after_bytes' in fault && body.total + chunk.length > fault.stall_after_bytes) {
      // Relay up to the limit, then hold: the caller sees a stream that stops, until it gives up.
      const part = chunk.subarray(0, Math.max(0, fault.stall_after_bytes - body.total))
      if (part.length > 0) {
        body.add(part)
        this.sendChunk(part)
      }
      return false
    }
    if ('truncate_after_chunks' in fault && this.chunks > fault.truncate_after_chunks) {
      // End cleanly without the rest: the stream's end marker never arrives.
      this.sendEnd()
      this.finish()
      this.abortUpstream?.(new Error('response truncated (injected fault)'))
      return false
    }
    body.add(chunk)
    const flowing = this.sendChunk(chunk)
    if ('bandwidth_bps' in fault) {
      setTimeout(() => { if (!this.done) resume() }, Math.ceil((chunk.length / fault.bandwidth_bps) * 1000))
      return false
    }
    if (flowing) return true
    this.onDrain(resume)
    return false
  }

  /** Fails the exchange as if the transport had: the same answer and record as the real thing. */
  protected injectedFailure (code: string, message: string): void {
    const err = Object.assign(new Error(message), { code })
    if (this.headersSent) this.abortUpstream?.(err)
    this.onError(err)
  }

  onComplete (): void {
    if (this.done) return
    this.sendEnd()
    this.finish()
  }

  onError (err: Error): void {
    if (this.done) return
    const code = errorCode(err)
    const obs = this.obs
    obs.failure = { code, message: err.message, afterHeaders: this.headersSent }
    if (this.headersSent) {
      this.cut()
    } else if (code === 'DDP_BODY_TOO_LARGE') {
      this.answer({ status: 413, flag: 'request_rejected', error: err.message, hint: 'Raise routes[].max_body_bytes if such bodies are expected.', correlationId: obs.correlationId }, 'Payload Too Large')
      obs.proxyAnswered = { status: 413, flag: 'request_rejected' }
    } else {
      const cls = classifyTransport(code, false)
      const flag = cls.flags[0] as string
      const up = this.route.upstream.display
      const status = code === 'ERR_INVALID_CHAR' || code === 'ERR_HTTP_INVALID_HEADER_VALUE' ? 502 : cls.status
      this.answer({ status, flag, error: `${code}: ${err.message}`, hint: transportHint(cls.flags[0]!, up), correlationId: obs.correlationId },
        status === 504 ? 'Gateway Timeout' : 'Bad Gateway')
      obs.proxyAnswered = { status, flag }
    }
    this.finish()
  }

  /** The caller went away before the exchange completed. */
  clientGone (): void {
    if (this.done) return
    const aborted = new ClientAbortedError()
    this.obs.clientAborted = true
    this.obs.failure = this.route.forcedStop
      ? { code: PROXY_STOPPED_CODE, message: 'the proxy was stopped with this exchange in flight', afterHeaders: this.headersSent }
      : { code: aborted.code, message: aborted.message, afterHeaders: this.headersSent }
    // Finish first: undici calls onError synchronously from abort(), which must find the
    // exchange done (else it is recorded twice and the inflight count goes negative).
    this.finish()
    this.abortUpstream?.(aborted)
  }

  protected finish (): void {
    this.done = true
    this.obs.durationMs = performance.now() - this.t0
    this.route.inflight--
    try {
      this.route.sink.record(this.obs)
    } catch {
      // The sink counts its own failures; live traffic never depends on it.
    }
  }
}

function onResponseClose (this: ServerResponse & WithHandler): void {
  const h = this[kHandler]
  if (h !== undefined) {
    this[kHandler] = undefined
    h.clientGone()
  }
}

function flushHeadIfIdle (h: HttpForward): void {
  h.flushHeadIfIdle()
}

function onRequestError (): void {
  // Errors on the caller's request stream surface through undici (the body stream fails) and
  // through the response's 'close'; this listener only keeps them from being unhandled.
}

/** A normal request: bytes go back through Node's ServerResponse. */
export class HttpForward extends ForwardBase {
  constructor (route: RouteRuntime, req: IncomingMessage, private readonly res: ServerResponse) {
    super(route, req)
  }

  start (req: IncomingMessage): void {
    const route = this.route
    // Pipelined after a request the proxy refused: that refusal closes the connection, and what
    // the caller sent after it is not trusted (nginx too stops reading after such an error).
    if ((req.socket as Duplex & WithRefused)[kRefused] === true) {
      this.abandon()
      req.resume()
      return
    }
    const length = requestBodyLength(req.rawHeaders)
    if (this.refusedAsSent(req, length)) return
    // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's own check would answer without a record.
    if (req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && !hasHost(req.rawHeaders)) {
      this.obs.failure = { code: 'HPE_MISSING_HOST', message: 'HTTP/1.1 request without a Host header', afterHeaders: false }
      this.reject(400, 'Bad Request', 'HTTP/1.1 request without a Host header', 'The request is not valid HTTP/1.1; it was not forwarded.', req)
      return
    }
    if (this.obs.url === '*') {
      this.obs.failure = { code: 'DDP_ASTERISK_FORM', message: 'OPTIONS * cannot be forwarded to a single upstream path', afterHeaders: false }
      this.reject(400, 'Bad Request', 'asterisk-form request target (OPTIONS *) is not forwarded', 'Send OPTIONS to a path instead.', req)
      return
    }
    if (length > route.maxBodyBytes) {
      this.reject(413, 'Payload Too Large', `request body of ${length} bytes is over the route's limit of ${route.maxBodyBytes}`, 'Raise routes[].max_body_bytes if such bodies are expected.', req)
      return
    }
    const res = this.res as ServerResponse & WithHandler
    res[kHandler] = this
    res.on('close', onResponseClose)
    req.on('error', onRequestError)
    if (route.faults !== null) {
      const rule = route.faults.match(route.name, this.obs.method, this.obs.url, req.rawHeaders)
      if (rule !== null && this.injectFault(rule, req, length)) return
    }
    this.dispatch(req, length)
  }

  /**
   * What Node's parser lets through but a reverse proxy must not pass on as it is (issue 15;
   * nginx's defaults are the reference). Each refusal is recorded (request_rejected, with a
   * DDP_ code the diagnosis explains) and closes the connection, as nginx does after such an
   * error: a caller sending these is out of step with HTTP/1.1, its next bytes are not trusted.
   */
  private refusedAsSent (req: IncomingMessage, length: number): boolean {
    // `GET /path` with no version: llhttp takes it for HTTP/0.9 (and even reads headers after
    // it). Forwarded, it became an HTTP/1.1 request the caller never sent. nginx still serves
    // 0.9 (a bare body, no status line); nothing that talks to this proxy speaks 0.9, so no.
    if (req.httpVersionMajor === 0) {
      return this.refuse(req, 400, 'Bad Request', 'DDP_HTTP09', 'HTTP/0.9 request line (no HTTP version)', 'The request line has no HTTP version; it was not forwarded.')
    }
    // A fragment never goes on the wire (RFC 9110 §4.2.4, RFC 9112 §3.2: the request-target has
    // none). Servers disagree on `/a#b?c` (path `/a#b`, or `/a` with no query): forwarding it
    // invites path confusion past the proxy's and the gateway's checks. Stripping it would
    // hide what the caller sent; refusing shows it. (nginx cuts $uri at `#`, but proxy_pass
    // without a URI part sends the target unchanged, fragment included: not a model here.)
    if ((req.url ?? '').includes('#')) {
      return this.refuse(req, 400, 'Bad Request', 'DDP_URL_FRAGMENT', 'request target with a #fragment', 'A client never sends the #fragment of a URL; it was not forwarded.')
    }
    if (length === -2) {
      const codings = transferCodings(req.rawHeaders)
      // Chunked not last (`xchunked`, `chunked, gzip`): the body has no knowable end (RFC 9112
      // §6.3: 400 and close). llhttp refuses it too, but only after Node emitted this request.
      if (!/(?:^|,)\s*chunked$/.test(codings)) {
        return this.refuse(req, 400, 'Bad Request', 'DDP_TE_NOT_CHUNKED', `Transfer-Encoding "${codings}" does not end in chunked`, 'The body has no knowable end; it was not forwarded.')
      }
      // llhttp accepts any coding list ending in chunked (`gzip, chunked`), de-chunks it and
      // forgets the rest: the upstream got a still-gzipped body with nothing saying so. nginx
      // accepts exactly `chunked` and answers 501 to anything else; so does the proxy.
      if (codings !== 'chunked') {
        return this.refuse(req, 501, 'Not Implemented', 'DDP_TRANSFER_CODING', `unsupported Transfer-Encoding "${codings}" (only "chunked" is accepted)`, 'Send the body with Transfer-Encoding: chunked alone (or a Content-Length); it was not forwarded.')
      }
      // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing (no 1.0
      // hop can have chunked it); llhttp de-chunks it anyway. nginx answers 400.
      if (req.httpVersionMinor === 0) {
        return this.refuse(req, 400, 'Bad Request', 'DDP_TE_HTTP10', 'HTTP/1.0 request with Transfer-Encoding', 'HTTP/1.0 has no chunked framing; it was not forwarded.')
      }
    }
    return false
  }

  /**
   * A refusal of refusedAsSent: recorded with its code, and the connection closed after it.
   * Bytes the parser reads after it are not a request of their own (rejectMalformed).
   */
  private refuse (req: IncomingMessage, status: number, statusText: string, code: string, message: string, hint: string): true {
    this.obs.failure = { code, message, afterHeaders: false }
    this.res.shouldKeepAlive = false
    ;(req.socket as Duplex & WithRefused)[kRefused] = true
    this.reject(status, statusText, message, hint, req)
    return true
  }

  private dispatch (req: IncomingMessage, length: number): void {
    this.route.upstream.pool.dispatch({
      path: this.upstreamPath(),
      method: this.obs.method as Dispatcher.HttpMethod,
      headers: this.upstreamHeaders(req),
      body: length === -1 || length === 0 ? null : req
    }, this)
  }

  /**
   * Applies a fault-injection rule. Returns true when the fault took the exchange over (the
   * request is not forwarded now); false when forwarding goes on with a response-side fault.
   */
  private injectFault (rule: FaultRule, req: IncomingMessage, length: number): boolean {
    const obs = this.obs
    const action = rule.action
    obs.faultInjected = rule.name
    if ('respond' in action) {
      // Recorded as if the upstream had answered this: the same flags and diagnosis.
      const { status, body, headers } = action.respond
      const list: string[] = []
      for (const [k, v] of Object.entries(headers)) list.push(k, v)
      list.push('content-length', String(Buffer.byteLength(body)), 'x-request-id', obs.correlationId, FAULT_HEADER, rule.name)
      obs.status = status
      obs.ttfbMs = performance.now() - this.t0
      obs.responseHeaders = list
      obs.responseBody.add(Buffer.from(body))
      req.resume()
      this.detach()
      this.res.writeHead(status, list)
      this.res.end(body)
      this.finish()
      return true
    }
    if ('refuse' in action) {
      req.resume()
      this.injectedFailure('ECONNREFUSED', `connect ECONNREFUSED ${this.route.upstream.display} (injected fault)`)
      return true
    }
    if ('timeout' in action) {
      req.resume()
      setTimeout(() => {
        if (!this.done) this.injectedFailure('UND_ERR_HEADERS_TIMEOUT', `Headers Timeout Error (injected fault after ${this.route.upstream.headersTimeoutMs} ms)`)
      }, this.route.upstream.headersTimeoutMs)
      return true
    }
    if ('delay_ms' in action) {
      setTimeout(() => {
        if (!this.done) this.dispatch(req, length)
      }, action.delay_ms)
      return true
    }
    if ('reset' in action && action.reset === 'before_headers') {
      req.resume()
      obs.failure = { code: 'ECONNRESET', message: 'connection reset before the response (injected fault)', afterHeaders: false }
      this.detach()
      this.res.destroy()
      this.finish()
      return true
    }
    this.fault = action
    return false
  }

  protected sendHead (status: number, statusText: string, headers: string[]): void {
    this.res.writeHead(status, statusText, headers)
    // Node holds the head until the first body write. When the body is in the same socket read
    // (most responses) it goes out with it; otherwise (a stream whose first chunk is slow) the
    // caller must see the headers as soon as the upstream sent them.
    process.nextTick(flushHeadIfIdle, this)
  }

  /** After the tick of the head: nothing written yet, so send the head alone. */
  flushHeadIfIdle (): void {
    const res = this.res
    if (this.obs.responseBody.total === 0 && !res.destroyed && !res.writableEnded) res.flushHeaders()
  }

  protected sendChunk (chunk: Buffer): boolean {
    return this.res.write(chunk)
  }

  protected sendEnd (): void {
    this.detach()
    this.res.end()
  }

  protected cut (): void {
    this.detach()
    this.res.destroy()
  }

  protected answer (a: ProxyAnswer, _statusText?: string): void {
    this.detach()
    if (this.res.headersSent || this.res.destroyed) return
    writeProxyAnswer(this.res, a, this.obs.faultInjected)
  }

  protected onDrain (resume: () => void): void {
    this.res.once('drain', resume)
  }

  protected flushHead (): void {
    this.res.flushHeaders()
  }

  private detach (): void {
    (this.res as ServerResponse & WithHandler)[kHandler] = undefined
  }
}

/**
 * A request with `Upgrade:` (WebSocket). On 101 the two sockets are spliced together; any other
 * answer is relayed on the raw socket with close-delimited framing.
 */
export class UpgradeForward extends ForwardBase {
  private readonly upgradeProtocol: string

  constructor (route: RouteRuntime, req: IncomingMessage, private readonly socket: Duplex, private readonly head: Buffer) {
    super(route, req)
    this.upgradeProtocol = req.headers.upgrade ?? 'websocket'
  }

  start (req: IncomingMessage): void {
    if (!isWebSocketHandshake(req)) {
      this.asPlainRequest(req)
      return
    }
    this.socket.on('error', noop)
    this.socket.once('close', () => this.clientGone())
    this.route.upstream.pool.dispatch({
      path: this.upstreamPath(),
      method: this.obs.method as Dispatcher.HttpMethod,
      headers: this.upstreamHeaders(req),
      body: null,
      upgrade: this.upgradeProtocol
    }, this)
  }

  /**
   * An upgrade the proxy does not tunnel, handed back to the route's HTTP server as a plain
   * request: the head rewritten without the upgrade (plainRequestHead), then the bytes that
   * followed it, then the socket. Node's parser then reads the body with its usual framing and
   * HttpForward forwards it like any request (Upgrade and HTTP2-Settings dropped as hop-by-hop),
   * the body intact, the connection kept alive. Before, `Upgrade: h2c` reached the upstream (a
   * server speaking h2c would switch, and the proxy spliced the caller onto HTTP/2 unchecked),
   * and a POST's body was left behind (the upstream saw content-length: 0).
   * nginx forwards Upgrade only when configured to, and then for every protocol; tunnelling
   * WebSocket alone is the narrower reading.
   */
  private asPlainRequest (req: IncomingMessage): void {
    const socket = this.socket as Duplex & WithServer
    const head = plainRequestHead(req)
    const server = socket.server
    if (head === null || server === undefined) {
      socket.on('error', noop)
      this.obs.failure = { code: 'DDP_UPGRADE_UNSUPPORTED', message: `upgrade request that is not a WebSocket handshake (Upgrade: ${this.upgradeProtocol})`, afterHeaders: false }
      this.reject(400, 'Bad Request', this.obs.failure.message, 'Only WebSocket upgrades (GET, no body) are tunnelled; it was not forwarded.', req)
      return
    }
    // Not an exchange of its own: the plain request will be one.
    this.abandon()
    if (socket.destroyed) return
    // Nothing reads the socket until a parser is back on it: these bytes come first.
    socket.unshift(Buffer.concat([Buffer.from(head, 'latin1'), this.head]))
    reattachParser(server, socket)
  }

  /** CONNECT: this is a reverse proxy for one upstream, never a tunnel to anywhere. */
  rejectConnect (req: IncomingMessage): void {
    const socket = this.socket
    socket.on('error', noop)
    // Whatever follows (a TLS ClientHello sent early) is read and dropped, so the close that
    // follows the answer is a FIN, not a reset that could destroy the answer in flight.
    socket.resume()
    // Authority-form (`host:443`): kept as sent, not read as a URL.
    this.obs.url = req.url ?? ''
    this.obs.failure = { code: 'DDP_CONNECT_METHOD', message: `CONNECT ${this.obs.url}: the proxy is not a forward proxy`, afterHeaders: false }
    // nginx answers CONNECT with 405 too. RFC 9110 §15.5.6: a 405 names what is allowed.
    this.reject(405, 'Method Not Allowed', this.obs.failure.message, 'The caller uses this proxy as an HTTP(S) proxy: point it at the route as its base URL instead (check HTTPS_PROXY).', req, ['allow', ALLOW])
    // The answer ends our side; a caller that keeps its side open is not waited for.
    const timer = setTimeout(() => socket.destroy(), 5000)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  }

  onUpgrade (statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Duplex): void {
    const obs = this.obs
    obs.status = statusCode
    obs.ttfbMs = performance.now() - this.t0
    obs.upgraded = true
    const headers = downstreamResponseHeaders(rawHeaders ?? [], obs.correlationId)
    headers.push('connection', 'Upgrade', 'upgrade', this.upgradeProtocol)
    obs.responseHeaders = headers
    this.headersSent = true
    let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`
    const client = this.socket
    client.removeAllListeners('close')
    client.write(head + '\r\n')
    if (this.head.length > 0) upstream.write(this.head)
    upstream.on('error', noop)
    client.pipe(upstream)
    upstream.pipe(client)
    let closed = 0
    const onClose = (): void => {
      if (++closed === 1) {
        client.destroy()
        upstream.destroy()
        obs.requestBody.total = (upstream as { bytesWritten?: number }).bytesWritten ?? 0
        obs.responseBody.total = (client as { bytesWritten?: number }).bytesWritten ?? 0
        this.finish()
      }
    }
    client.once('close', onClose)
    upstream.once('close', onClose)
    // A tunnel silent both ways holds two descriptors for nothing (the client socket's timer
    // sees traffic in either direction: what it reads and what the upstream sends through it).
    const socket = client as Partial<Socket>
    if (typeof socket.setTimeout === 'function') {
      socket.setTimeout(this.route.websocketIdleMs, () => client.destroy())
    }
  }

  protected sendHead (status: number, statusText: string, headers: string[]): void {
    let head = `HTTP/1.1 ${status} ${statusText}\r\n`
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`
    this.socket.write(head + 'connection: close\r\n\r\n')
  }

  protected sendChunk (chunk: Buffer): boolean {
    return this.socket.write(chunk)
  }

  protected sendEnd (): void {
    this.socket.removeAllListeners('close')
    this.socket.end()
  }

  protected cut (): void {
    this.socket.removeAllListeners('close')
    this.socket.destroy()
  }

  protected answer (a: ProxyAnswer, statusText: string): void {
    this.socket.removeAllListeners('close')
    writeProxyAnswerToSocket(this.socket, a, statusText)
  }

  protected onDrain (resume: () => void): void {
    this.socket.once('drain', resume)
  }

  protected flushHead (): void {
    // The raw-socket head is written at once already.
  }
}

function noop (): void {}

/**
 * Puts node:http's parser back on a socket it gave up for an upgrade. Node's own connection
 * listener only (what http.Server registers for 'connection'): emitting 'connection' would show
 * the socket as new to every other listener too (the route's connection guard counts it and, at
 * its cap, would evict for it).
 */
function reattachParser (server: Server, socket: Duplex & WithHttpMessage): void {
  if (socket.destroyed) return
  // A response to an earlier, pipelined request still going out: its queue belongs to the old
  // parser's state, so the new parser starts once that queue is done (else its answers wait forever).
  const inFlight = socket._httpMessage
  if (inFlight != null) {
    inFlight.once('close', () => reattachParser(server, socket))
    return
  }
  // A response that finished after the upgrade armed the old state's keep-alive idle timer,
  // which the new parser's state does not know to clear: it would close the connection under
  // a request that waits long for its answer.
  if (typeof (socket as Partial<Socket>).setTimeout === 'function') (socket as Socket).setTimeout(0)
  if (connectionListener !== undefined) connectionListener.call(server, socket)
  else server.emit('connection', socket)
}

/** A CONNECT request (server 'connect' event): answered 405 and recorded, nothing tunnelled. */
export function rejectConnect (route: RouteRuntime, req: IncomingMessage, socket: Duplex): void {
  new UpgradeForward(route, req, socket, Buffer.alloc(0)).rejectConnect(req)
}

/** Node's parser refused the request (malformed, smuggling-shaped, headers too large). */
export function rejectMalformed (route: RouteRuntime, err: Error & { code?: string }, socket: Duplex & { remoteAddress?: string } & WithRefused & WithHttpMessage): void {
  // What follows a request the proxy refused (HttpForward.refusedAsSent) is not parsed as a
  // request: already answered and recorded once; the connection closes after that answer.
  if (socket[kRefused] === true) {
    if (socket._httpMessage == null) socket.destroy()
    return
  }
  const code = err.code ?? 'HPE_UNKNOWN'
  const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'
  const id = resolveCorrelation(null).id
  if (socket.writable) {
    writeProxyAnswerToSocket(socket, {
      status,
      flag: 'request_rejected',
      error: `${code}: ${err.message}`,
      hint: status === 431 ? 'The request headers are larger than the proxy accepts (16 KiB).' : 'The request is not valid HTTP/1.1; it was not forwarded.',
      correlationId: id
    }, text)
  }
  socket.destroy()
  const ip = socket.remoteAddress ?? ''
  try {
    route.sink.record({
      route: route.name,
      upstream: route.upstream.display,
      startedAt: Date.now(),
      method: '-',
      url: '/',
      httpVersion: '1.1',
      clientIp: ip.startsWith('::ffff:') ? ip.slice(7) : ip,
      correlationId: id,
      correlationSource: 'minted',
      originalCorrelationId: null,
      requestHeaders: [],
      requestBody: new BodySample(0, 0),
      status: null,
      responseHeaders: null,
      responseBody: new BodySample(0, 0),
      ttfbMs: null,
      durationMs: 0,
      failure: { code, message: err.message, afterHeaders: false },
      clientAborted: false,
      proxyAnswered: { status, flag: 'request_rejected' },
      upgraded: false,
      faultInjected: null,
      startedTraceparent: null
    })
  } catch {
    // Recording never affects the connection.
  }
}
