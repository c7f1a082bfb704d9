import { createHash } from 'node:crypto'
import { decodeEscapes, type DecodedText, mayBeEscaped, originalSpan } from './decode.js'
import type { RuleSet } from './redact-rules.js'

export const FILTERED = '[FILTERED]'

/** Receives each value redaction filters (the original text), for echo filtering (echo.ts). */
export type SecretSink = (value: string) => void

/**
 * Token-shaped strings, wherever they appear in text the proxy keeps (error bodies, verbose
 * prompts, paths, unknown headers): JWTs, GitLab tokens, OpenAI-style keys, credentials after
 * an auth scheme, AWS access keys, PEM private keys. Every match becomes "[FILTERED]".
 *
 * Matched on the decoded text (decode.ts), so `%3Dglpat-…` and `\u0067lpat-…` are found too.
 * No `\b` anchors: a token glued to what precedes it (`x_glpat-…`, `=sk-…`) is still a token.
 * The distinctive prefixes (gl*-, JWTs, PEM) match wherever they start. The short, common ones
 * refuse only a letter or digit right before them, so words stay words ("risk-assessment-…"
 * is no `sk-` key) while `_sk-…`, `=sk-…` and `%3Dsk-…` (decoded: `=sk-…`) are keys.
 */
const TOKEN_PATTERNS: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  /gl(?:pat|dt|oas|rt|ptt|ft|imt|agent|cbt|soat|ffct|wt|cd|sa)-[A-Za-z0-9_.-]{8,}/g,
  /(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/g,
  /(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])/g,
  // The credential only: the scheme stays readable ("Bearer [FILTERED]").
  /(?<=\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{8,}/gi
]

/** Quick pre-check so ordinary text skips the replacements entirely. */
const MAYBE_TOKEN = /eyJ|gl[a-z]{1,5}-|sk-|AKIA|PRIVATE KEY|bearer|basic|token/i

/**
 * The text with every token-shaped string, plain or escaped, replaced by "[FILTERED]". The
 * sink, when given, receives each filtered span as it stood in the text, and decoded.
 */
export function scrubText (text: string, sink?: SecretSink): string {
  const escaped = mayBeEscaped(text)
  const plain = MAYBE_TOKEN.test(text)
  if (!escaped && !plain) return text
  const found: Array<[number, number]> = []
  // As written, and (when there are escapes) decoded: decoding can also hide a token, as
  // `%6eyJ…` decodes to `nyJ…`; the union of both finds it either way.
  if (plain) findTokenSpans({ text, start: null, end: null }, found)
  if (escaped) {
    const decoded = decodeEscapes(text)
    if (MAYBE_TOKEN.test(decoded.text)) findTokenSpans(decoded, found, sink)
  }
  if (found.length === 0) return text
  return replaceSpans(text, found, sink)
}

function findTokenSpans (d: DecodedText, found: Array<[number, number]>, sink?: SecretSink): void {
  for (const pattern of TOKEN_PATTERNS) {
    pattern.lastIndex = 0
    for (let m = pattern.exec(d.text); m !== null; m = pattern.exec(d.text)) {
      if (m[0].length === 0) {
        pattern.lastIndex++
        continue
      }
      found.push(originalSpan(d, m.index, m.index + m[0].length))
      // The decoded token too: a response may repeat it decoded.
      sink?.(m[0])
    }
  }
}

/** Replaces the given spans of `text` (any order, may overlap) with "[FILTERED]". */
export function replaceSpans (text: string, spans: Array<[number, number]>, sink?: SecretSink): string {
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1])
  let out = ''
  let last = 0
  let openFrom = -1
  let openTo = -1
  const close = (): void => {
    if (openFrom < 0) return
    sink?.(text.slice(openFrom, openTo))
    out += text.slice(last, openFrom) + FILTERED
    last = openTo
  }
  for (const [from, to] of spans) {
    if (openFrom >= 0 && from <= openTo) {
      if (to > openTo) openTo = to
      continue
    }
    close()
    openFrom = from
    openTo = to
  }
  close()
  return out + text.slice(last)
}

/** First 8 hex of SHA-256: lets a reader tell two credentials apart without seeing either. */
export function fingerprint (value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8)
}

/**
 * The fingerprints of the credentials seen last: the same token comes with request after request
 * (GitLab reuses a gateway token for its hour), and hashing it was ~2 % of a capture record
 * (issue 20). Bounded; emptied when full. Holds nothing the record it came with did not.
 */
const recentFingerprints = new Map<string, string>()
const RECENT_FINGERPRINTS_MAX = 256

function credentialFingerprint (value: string): string {
  let fp = recentFingerprints.get(value)
  if (fp === undefined) {
    if (recentFingerprints.size >= RECENT_FINGERPRINTS_MAX) recentFingerprints.clear()
    fp = fingerprint(value)
    recentFingerprints.set(value, fp)
  }
  return fp
}

/** Limits that keep redaction of hostile JSON bounded in stack and time. */
const MAX_DEPTH = 64
const MAX_NODES = 50_000

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export interface RedactOptions {
  /** Receives every filtered value: strings under matching keys, token-shaped spans. */
  sink?: SecretSink
  /**
   * What becomes of each string that is kept; scrubText by default. Capture passes one that
   * also filters echoes of the request's filtered values (echo.ts) before scrubbing.
   */
  text?: (value: string) => string
}

/**
 * GitLab-style filtering of a parsed JSON value: a value whose key matches a rule becomes
 * "[FILTERED]" whole (as Rails' ParameterFilter does), the structure around it stays, and every
 * remaining string (and key) is scrubbed of token-shaped text. Never throws, never recurses
 * unbounded; returns a new value.
 */
export function redactJson (value: unknown, rules: RuleSet, opts: RedactOptions = {}): Json {
  const sink = opts.sink
  const text = opts.text ?? (sink === undefined ? scrubText : (s: string) => scrubText(s, sink))
  return walk(value, { rules, sink, text, nodes: 0 }, 0)
}

interface WalkState {
  rules: RuleSet
  sink: SecretSink | undefined
  text: (value: string) => string
  nodes: number
}

function walk (value: unknown, st: WalkState, depth: number): Json {
  if (++st.nodes > MAX_NODES) return '[TRUNCATED: too many values]'
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (typeof value === 'string') return st.text(value)
  if (typeof value !== 'object') return null
  if (depth >= MAX_DEPTH) return '[TRUNCATED: nested too deep]'
  if (Array.isArray(value)) return value.map((v) => walk(v, st, depth + 1))
  const out: { [key: string]: Json } = {}
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = scrubText(k, st.sink)
    if (st.rules.matches(k) && v !== null && v !== '') {
      if (st.sink !== undefined) collectValues(v, st.sink, { nodes: 0 }, depth + 1)
      out[key] = FILTERED
    } else {
      out[key] = walk(v, st, depth + 1)
    }
  }
  return out
}

/** Every string (and number) inside a filtered value, to the sink: its echoes are filtered too. */
function collectValues (value: unknown, sink: SecretSink, budget: { nodes: number }, depth: number): void {
  if (++budget.nodes > MAX_NODES || depth >= MAX_DEPTH) return
  if (typeof value === 'string') sink(value)
  else if (typeof value === 'number') sink(String(value))
  else if (Array.isArray(value)) for (const v of value) collectValues(v, sink, budget, depth + 1)
  else if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value as Record<string, unknown>)) collectValues(v, sink, budget, depth + 1)
  }
}

/** `a=1&private_token=x` → `a=1&private_token=[FILTERED]`, same order. */
export function redactQuery (query: string, rules: RuleSet, sink?: SecretSink): string {
  if (query === '') return ''
  const params = new URLSearchParams(query)
  const out = new URLSearchParams()
  for (const [k, v] of params) {
    if (rules.matches(k)) {
      sink?.(v)
      out.append(scrubText(k, sink), FILTERED)
    } else {
      out.append(scrubText(k, sink), scrubText(v, sink))
    }
  }
  // URLSearchParams escapes the brackets of [FILTERED]; keep them readable.
  return out.toString().replaceAll('%5BFILTERED%5D', FILTERED)
}

/** Header names whose values are credentials whatever the rules say. */
const CREDENTIAL_HEADERS = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'private-token', 'job-token',
  'x-api-key', 'api-key', 'x-gitlab-token', 'x-goog-api-key', 'x-amz-security-token'
])

export type HeaderMap = Record<string, string | string[]>

/**
 * Flat raw headers → `{ lower-case name: value | values }`, credentials replaced:
 * `Authorization: Bearer [FILTERED sha256:1a2b3c4d]`, cookies by name with fingerprinted values,
 * other credential headers fingerprinted whole. Other values are scrubbed of token-shaped text.
 * The sink receives every credential value.
 */
export function redactHeaders (raw: readonly string[], rules: RuleSet, sink?: SecretSink): HeaderMap {
  const out: HeaderMap = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    const value = redactHeaderValue(name, raw[i + 1] as string, rules, sink)
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [prev, value]
  }
  return out
}

/** An auth scheme as schemes are written (Bearer, Basic, Digest, AWS4-HMAC-SHA256), not a token. */
const AUTH_SCHEME = /^[A-Za-z][A-Za-z0-9-]{0,31}$/

/** A credential already redacted (a report of what was sent, a record redacted again). */
const FINGERPRINT = /^\[FILTERED sha256:[0-9a-f]{8}\]$/

function fingerprinted (value: string, sink: SecretSink | undefined): string {
  // Kept as it is: it still names the same credential, and it holds none.
  if (FINGERPRINT.test(value)) return value
  sink?.(value)
  return `[FILTERED sha256:${credentialFingerprint(value)}]`
}

function redactHeaderValue (name: string, value: string, rules: RuleSet, sink: SecretSink | undefined): string {
  if (name === 'authorization' || name === 'proxy-authorization') {
    const space = value.indexOf(' ')
    const scheme = space > 0 ? value.slice(0, space) : null
    // A first word that is no scheme (a bare token with a space after it) is part of the credential.
    if (scheme === null || !AUTH_SCHEME.test(scheme) || scrubText(scheme) !== scheme) return fingerprinted(value, sink)
    sink?.(value)
    return `${scheme} ${fingerprinted(value.slice(space + 1).trim(), sink)}`
  }
  if (name === 'cookie') {
    return value.split(';').map((part) => {
      const pair = part.trim()
      if (pair === '') return pair
      const eq = pair.indexOf('=')
      // A pair without "=" is a value (browsers read `Cookie: glpat-…` as a nameless cookie).
      if (eq < 0) return fingerprinted(pair, sink)
      return `${scrubText(pair.slice(0, eq).trim(), sink)}=${fingerprinted(pair.slice(eq + 1).trim(), sink)}`
    }).join('; ')
  }
  if (name === 'set-cookie') {
    const semi = value.indexOf(';')
    const pair = semi < 0 ? value : value.slice(0, semi)
    const attributes = semi < 0 ? '' : scrubText(value.slice(semi), sink)
    const eq = pair.indexOf('=')
    // Nameless, as above: the whole pair is the value.
    if (eq < 0) return `${fingerprinted(pair.trim(), sink)}${attributes}`
    return `${scrubText(pair.slice(0, eq).trim(), sink)}=${fingerprinted(pair.slice(eq + 1), sink)}${attributes}`
  }
  if (CREDENTIAL_HEADERS.has(name) || rules.matches(name)) return fingerprinted(value, sink)
  return scrubText(value, sink)
}

/** `application/x-www-form-urlencoded` bodies filter like queries. */
export const redactForm = redactQuery
