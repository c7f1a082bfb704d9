/**
 * Header handling on the hot path. Works on flat [name, value, ...] arrays as Node and undici
 * hand them over, keeps the caller's casing and order, and lower-cases a name only when its
 * length matches a header we act on — most headers are copied without a single allocation.
 */

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), plus Expect, which Node has already answered, and
 * HTTP2-Settings, which only means something with `Upgrade: h2c` (RFC 7540 §3.2.1 calls it
 * hop-by-hop). Upgrade itself is always dropped here: a WebSocket upgrade is re-added by undici.
 */
function hopByHop (lower: string): boolean {
  switch (lower.length) {
    case 2: return lower === 'te'
    case 6: return lower === 'expect'
    case 7: return lower === 'upgrade' || lower === 'trailer'
    case 10: return lower === 'connection' || lower === 'keep-alive'
    case 14: return lower === 'http2-settings'
    case 16: return lower === 'proxy-connection'
    case 17: return lower === 'transfer-encoding'
    default: return false
  }
}

/** Lengths of every name either function below looks at. */
const INTERESTING_LENGTHS = new Set([2, 4, 6, 7, 10, 12, 14, 15, 16, 17])

/**
 * Extra hop-by-hop names the Connection header lists (`Connection: close, x-foo`). The usual
 * values (`keep-alive`, `close`) allocate nothing: the set exists only when a name is listed.
 */
function connectionTokens (value: string, into: Set<string> | null): Set<string> | null {
  const v = value.length <= 10 ? value.toLowerCase() : ''
  if (v === 'keep-alive' || v === 'close' || v === 'upgrade') return into
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase()
    if (t && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade') (into ??= new Set()).add(t)
  }
  return into
}

/**
 * Builds the upstream request headers: hop-by-hop headers and names with an underscore dropped,
 * X-Request-ID replaced by `correlationId` (the caller's when valid), X-Forwarded-For appended
 * to, X-Forwarded-Proto/-Host set when no earlier proxy set them, Host rewritten to
 * `upstreamHost` unless that is null.
 */
export function upstreamRequestHeaders (
  raw: string[],
  correlationId: string,
  clientIp: string,
  upstreamHost: string | null,
  proto: string
): string[] {
  const out: string[] = []
  let xff: string | null = null
  let hasProto = false
  let hasFwdHost = false
  let host: string | null = null
  let extraHop: Set<string> | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    // `Transfer_Encoding` is a valid token, but WSGI/CGI backends (and some frameworks) fold `_`
    // and `-` into the same HTTP_TRANSFER_ENCODING variable: a header the proxy did not read as
    // framing becomes framing upstream, and an X_Forwarded_For overrides what the proxy appends.
    // nginx drops such names by default (underscores_in_headers off); so does the proxy. The
    // capture still shows them: requestHeaders is what the caller sent.
    if (name.includes('_')) continue
    if (!INTERESTING_LENGTHS.has(name.length)) {
      out.push(name, value)
      continue
    }
    const lower = name.toLowerCase()
    if (hopByHop(lower)) {
      if (lower === 'connection') extraHop = connectionTokens(value, extraHop)
      continue
    }
    switch (lower) {
      case 'host':
        host = value
        continue
      case 'x-request-id':
        continue
      case 'x-forwarded-for':
        xff = xff === null ? value : `${xff}, ${value}`
        continue
      case 'x-forwarded-proto':
        hasProto = true
        break
      case 'x-forwarded-host':
        hasFwdHost = true
        break
    }
    out.push(name, value)
  }
  if (extraHop !== null) removeNames(out, extraHop)
  out.push('x-request-id', correlationId)
  out.push('x-forwarded-for', xff === null ? clientIp : `${xff}, ${clientIp}`)
  if (!hasProto) out.push('x-forwarded-proto', proto)
  if (!hasFwdHost && host !== null) out.push('x-forwarded-host', host)
  const finalHost = upstreamHost ?? host
  if (finalHost !== null) out.push('host', finalHost)
  return out
}

/** The first X-Request-ID in a raw header list, or null. */
export function findRequestId (raw: string[]): string | null {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 12 && name.toLowerCase() === 'x-request-id') return raw[i + 1] as string
  }
  return null
}

/**
 * Turns undici's raw response headers (Buffers) into the flat string list written to the
 * caller: hop-by-hop headers dropped, X-Request-ID added when the upstream did not echo one.
 */
export function downstreamResponseHeaders (raw: ReadonlyArray<Buffer | string>, correlationId: string): string[] {
  const out: string[] = []
  let hasRequestId = false
  let extraHop: Set<string> | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as Buffer | string
    const v = raw[i + 1] as Buffer | string
    const name = typeof n === 'string' ? n : n.toString('latin1')
    const value = typeof v === 'string' ? v : v.toString('latin1')
    if (INTERESTING_LENGTHS.has(name.length)) {
      const lower = name.toLowerCase()
      if (hopByHop(lower)) {
        if (lower === 'connection') extraHop = connectionTokens(value, extraHop)
        continue
      }
      if (lower === 'x-request-id') hasRequestId = true
    }
    out.push(name, value)
  }
  if (extraHop !== null) removeNames(out, extraHop)
  if (!hasRequestId) out.push('x-request-id', correlationId)
  return out
}

function removeNames (headers: string[], names: Set<string>): void {
  let w = 0
  for (let r = 0; r < headers.length; r += 2) {
    if (names.has((headers[r] as string).toLowerCase())) continue
    headers[w++] = headers[r] as string
    headers[w++] = headers[r + 1] as string
  }
  headers.length = w
}

/** Header value lookup on a flat list (first match, case-insensitive). Not for the hot path. */
export function headerValue (raw: readonly string[] | null, name: string): string | null {
  if (raw === null) return null
  const want = name.toLowerCase()
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === want) return raw[i + 1] as string
  }
  return null
}
