import { createHash } from 'node:crypto'
import type { RuleSet } from './redact-rules.js'

export const FILTERED = '[FILTERED]'

/**
 * Token-shaped strings, wherever they appear in text the proxy keeps (error bodies, verbose
 * prompts, paths, unknown headers): JWTs, GitLab tokens, OpenAI-style keys, credentials after
 * an auth scheme, AWS access keys, PEM private keys.
 */
const TOKEN_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, FILTERED],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, FILTERED],
  [/\bgl(?:pat|dt|oas|rt|ptt|ft|imt|agent|cbt|soat|ffct|wt|cd|sa)-[A-Za-z0-9_.-]{8,}/g, FILTERED],
  [/\bsk-[A-Za-z0-9_-]{16,}/g, FILTERED],
  [/\bAKIA[0-9A-Z]{16}\b/g, FILTERED],
  [/\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1$2${FILTERED}`]
]

/** Quick pre-check so ordinary text skips the replacements entirely. */
const MAYBE_TOKEN = /eyJ|gl[a-z]{1,5}-|sk-|AKIA|PRIVATE KEY|bearer|basic|token/i

export function scrubText (text: string): string {
  if (!MAYBE_TOKEN.test(text)) return text
  let out = text
  for (const [pattern, replacement] of TOKEN_PATTERNS) out = out.replace(pattern, replacement)
  return out
}

/** First 8 hex of SHA-256: lets a reader tell two credentials apart without seeing either. */
export function fingerprint (value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8)
}

/** Limits that keep redaction of hostile JSON bounded in stack and time. */
const MAX_DEPTH = 64
const MAX_NODES = 50_000

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/**
 * GitLab-style filtering of a parsed JSON value: a value whose key matches a rule becomes
 * "[FILTERED]" whole (as Rails' ParameterFilter does), the structure around it stays, and every
 * remaining string is scrubbed of token-shaped text. Never throws, never recurses unbounded;
 * returns a new value.
 */
export function redactJson (value: unknown, rules: RuleSet): Json {
  const budget = { nodes: 0 }
  return walk(value, rules, 0, budget)
}

function walk (value: unknown, rules: RuleSet, depth: number, budget: { nodes: number }): Json {
  if (++budget.nodes > MAX_NODES) return '[TRUNCATED: too many values]'
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (typeof value === 'string') return scrubText(value)
  if (typeof value !== 'object') return null
  if (depth >= MAX_DEPTH) return '[TRUNCATED: nested too deep]'
  if (Array.isArray(value)) return value.map((v) => walk(v, rules, depth + 1, budget))
  const out: { [key: string]: Json } = {}
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = rules.matches(k) && v !== null && v !== '' ? FILTERED : walk(v, rules, depth + 1, budget)
  }
  return out
}

/** `a=1&private_token=x` → `a=1&private_token=[FILTERED]`, same order. */
export function redactQuery (query: string, rules: RuleSet): string {
  if (query === '') return ''
  const params = new URLSearchParams(query)
  const out = new URLSearchParams()
  for (const [k, v] of params) out.append(k, rules.matches(k) ? FILTERED : scrubText(v))
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
 */
export function redactHeaders (raw: readonly string[], rules: RuleSet): HeaderMap {
  const out: HeaderMap = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    const value = redactHeaderValue(name, raw[i + 1] as string, rules)
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [prev, value]
  }
  return out
}

function redactHeaderValue (name: string, value: string, rules: RuleSet): string {
  if (name === 'authorization' || name === 'proxy-authorization') {
    const space = value.indexOf(' ')
    const scheme = space > 0 ? value.slice(0, space) : null
    const credential = space > 0 ? value.slice(space + 1).trim() : value
    return `${scheme !== null ? scheme + ' ' : ''}[FILTERED sha256:${fingerprint(credential)}]`
  }
  if (name === 'cookie') {
    return value.split(';').map((part) => {
      const eq = part.indexOf('=')
      if (eq < 0) return part.trim()
      return `${part.slice(0, eq).trim()}=[FILTERED sha256:${fingerprint(part.slice(eq + 1).trim())}]`
    }).join('; ')
  }
  if (name === 'set-cookie') {
    const semi = value.indexOf(';')
    const pair = semi < 0 ? value : value.slice(0, semi)
    const eq = pair.indexOf('=')
    const cookieName = eq < 0 ? pair : pair.slice(0, eq)
    return `${cookieName.trim()}=[FILTERED sha256:${fingerprint(pair.slice(eq + 1))}]${semi < 0 ? '' : value.slice(semi)}`
  }
  if (CREDENTIAL_HEADERS.has(name) || rules.matches(name)) return `[FILTERED sha256:${fingerprint(value)}]`
  return scrubText(value)
}

/** `application/x-www-form-urlencoded` bodies filter like queries. */
export const redactForm = redactQuery
