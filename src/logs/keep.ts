/**
 * Every string a LogEvent keeps passes through here: scrubbed of token-shaped text (scrubText,
 * as capture scrubs), then bounded. Scrubbing comes first, so a bound never cuts a token into a
 * prefix the patterns no longer recognise; the text is pre-cut far beyond the bound so a huge
 * value costs little.
 */
import type { Json } from '../capture/redact.js'
import { redactJson, redactQuery, scrubText } from '../capture/redact.js'
import type { RuleSet } from '../capture/redact-rules.js'
import { LOG_LIMITS } from './event.js'

const ELLIPSIS = '…'

export function keepText (text: string, max: number): string {
  const scrubbed = scrubText(text.length > max * 4 ? text.slice(0, max * 4) : text)
  return scrubbed.length > max ? scrubbed.slice(0, max - 1) + ELLIPSIS : scrubbed
}

/** A traceback: its head (the first frames, the chained cause) and its tail (the exception). */
export function keepBacktrace (text: string): string {
  const max = LOG_LIMITS.backtraceChars
  const scrubbed = scrubText(text.length > LOG_LIMITS.recordChars ? text.slice(0, LOG_LIMITS.recordChars) : text)
  if (scrubbed.length <= max) return scrubbed
  const half = Math.floor((max - 3) / 2)
  return `${scrubbed.slice(0, half)}\n${ELLIPSIS}\n${scrubbed.slice(scrubbed.length - half)}`
}

/** A scalar JSON value kept as it is (strings scrubbed and bounded); undefined for anything else. */
export function keepScalar (value: unknown, max: number = LOG_LIMITS.fieldChars): Json | undefined {
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string') return keepText(value, max)
  return undefined
}

/**
 * A URL a log names (the gateway's `url`, a model endpoint): credentials in it filtered, its
 * query redacted by the rules, the rest scrubbed. Text that is no URL is kept as text.
 */
export function keepUrl (value: unknown, rules: RuleSet): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined
  let url: URL
  try {
    url = new URL(value.slice(0, LOG_LIMITS.fieldChars * 4))
  } catch {
    return keepText(value, LOG_LIMITS.fieldChars)
  }
  if (url.username !== '' || url.password !== '') {
    url.username = '[FILTERED]'
    url.password = ''
  }
  const query = url.search === '' ? '' : `?${redactQuery(url.search.slice(1), rules)}`
  const bare = `${url.protocol}//${url.username === '' ? '' : `${url.username}@`}${url.host}${url.pathname}`
  return keepText(bare + query, LOG_LIMITS.fieldChars)
}

/**
 * A prompt-bearing value, kept only in verbose import: redacted like verbose capture redacts
 * bodies (the rules by key, token-shaped text everywhere), then bounded. Wrapped under its own
 * key so a rule on that key applies to it too.
 */
export function keepPromptValue (key: string, value: unknown, rules: RuleSet): Json {
  const redacted = (redactJson({ [key]: value }, rules) as Record<string, Json>)[key] ?? null
  if (typeof redacted === 'string') return redacted.length > LOG_LIMITS.backtraceChars ? redacted.slice(0, LOG_LIMITS.backtraceChars - 1) + ELLIPSIS : redacted
  // Redacted values are depth-bounded (redactJson): stringifying them is safe.
  const text = JSON.stringify(redacted)
  return text.length > LOG_LIMITS.backtraceChars ? text.slice(0, LOG_LIMITS.backtraceChars - 1) + ELLIPSIS : redacted
}
