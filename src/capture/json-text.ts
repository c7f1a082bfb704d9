import { FILTERED, type SecretSink } from './redact.js'
import type { RuleSet } from './redact-rules.js'

/**
 * The body rules on JSON that does not parse: a body cut at the sample bound (the 64 KiB head of
 * a larger error body), a truncated stream line, an error text that quotes JSON. Reads the text
 * as JSON tokens from its start, tolerating the cut, and replaces the value of every
 * `"key": value` whose key matches a rule with "[FILTERED]" — a string up to its closing quote,
 * an object or array up to its closing bracket, or to the end of the text when the cut came
 * first. The rest of the text is left as it is (the caller scrubs it of tokens and echoes).
 *
 * It does not see keys of JSON nested in a string (`"detail": "{\"prompt\": …}"`): echo
 * filtering (echo.ts) covers those, as the request's values are known.
 */
export function redactJsonText (text: string, rules: RuleSet, sink?: SecretSink): string {
  if (text.indexOf('"') < 0) return text
  let out = ''
  let last = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c !== QUOTE) {
      i++
      continue
    }
    const end = stringEnd(text, i)
    let j = skipSpace(text, end)
    if (end > n || text.charCodeAt(end - 1) !== QUOTE || j >= n || text.charCodeAt(j) !== COLON) {
      i = end
      continue
    }
    const key = unescapeJson(text.slice(i + 1, end - 1))
    j = skipSpace(text, j + 1)
    if (j >= n || !rules.matches(key)) {
      i = j
      continue
    }
    const valueEnd = valueEndAt(text, j)
    const value = text.slice(j, valueEnd)
    if (value !== 'null' && value !== '""') {
      if (sink !== undefined) collectStrings(value, sink)
      out += text.slice(last, j) + JSON.stringify(FILTERED)
      last = valueEnd
    }
    i = valueEnd
  }
  return last === 0 ? text : out + text.slice(last)
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a

/** Index after the closing quote of the string opening at `at`; the text's length when cut. */
function stringEnd (text: string, at: number): number {
  let k = at + 1
  const n = text.length
  while (k < n) {
    const c = text.charCodeAt(k)
    if (c === BACKSLASH) k += 2
    else if (c === QUOTE) return k + 1
    else k++
  }
  return n
}

function skipSpace (text: string, at: number): number {
  let k = at
  while (k < text.length) {
    const c = text.charCodeAt(k)
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break
    k++
  }
  return k
}

/** Where the JSON value starting at `at` ends: its closing quote or bracket, or the cut. */
function valueEndAt (text: string, at: number): number {
  const first = text.charCodeAt(at)
  if (first === QUOTE) return stringEnd(text, at)
  if (first === 0x7b || first === 0x5b) {
    let depth = 0
    let k = at
    while (k < text.length) {
      const c = text.charCodeAt(k)
      if (c === QUOTE) {
        k = stringEnd(text, k)
        continue
      }
      if (c === 0x7b || c === 0x5b) depth++
      else if (c === 0x7d || c === 0x5d) {
        depth--
        if (depth === 0) return k + 1
      }
      k++
    }
    return text.length
  }
  // A number or literal: up to the next delimiter.
  let k = at
  while (k < text.length) {
    const c = text.charCodeAt(k)
    if (c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break
    k++
  }
  return k
}

/** Every string inside a (possibly cut) JSON value, unescaped, to the sink. */
function collectStrings (value: string, sink: SecretSink): void {
  if (value.charCodeAt(0) !== QUOTE && value.charCodeAt(0) !== 0x7b && value.charCodeAt(0) !== 0x5b) {
    sink(value)
    return
  }
  let k = 0
  while (k < value.length) {
    if (value.charCodeAt(k) !== QUOTE) {
      k++
      continue
    }
    const end = stringEnd(value, k)
    const closed = value.charCodeAt(end - 1) === QUOTE && end - 1 > k
    // Keys name fields; only values were sent as content.
    const isKey = closed && value.charCodeAt(skipSpace(value, end)) === COLON
    if (!isKey) sink(unescapeJson(value.slice(k + 1, closed ? end - 1 : end)))
    k = end
  }
}

/** The content of a JSON string; tolerant of a cut in the middle of an escape. */
export function unescapeJson (inner: string): string {
  if (inner.indexOf('\\') < 0) return inner
  try {
    return JSON.parse(`"${inner}"`) as string
  } catch {
    const trimmed = inner.replace(/\\(?:u[0-9A-Fa-f]{0,3})?$/, '')
    try {
      return JSON.parse(`"${trimmed}"`) as string
    } catch {
      return inner
    }
  }
}
