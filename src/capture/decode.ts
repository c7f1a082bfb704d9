/**
 * The escapes a secret hides behind in text the proxy keeps, undone for matching only:
 * percent-encoding (`%3Dglpat-…`, also double-encoded `%253D…`), JSON / JavaScript `\uXXXX`
 * escapes with any number of backslashes (each JSON re-encoding doubles them:
 * `\u0067lpat-…`, `\\u0067lpat-…`), and HTML numeric character references (`&#103;lpat-…`).
 *
 * The redactor and the secret audit both match token shapes on the decoded text, so neither
 * can be fooled by an encoding the other sees through. Each decoded character remembers the span
 * of the original text it came from: a match in the decoded text is filtered in the original.
 */

/** One escape; its decoded character replaces the whole of it. */
const ESCAPE = /%([0-9A-Fa-f]{2})|\\+u([0-9A-Fa-f]{4})|&#(?:([0-9]{1,7})|[xX]([0-9A-Fa-f]{1,6}));/g

/** Quick test: does the text hold anything decoding would change? */
const MAY_BE_ESCAPED = /%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|&#[0-9xX]/

/** Layers of encoding undone at most: double-encoding is common, deeper nesting is not. */
const MAX_ROUNDS = 3

export interface DecodedText {
  text: string
  /** For each character of `text`, where it starts in the original text; null: the identity. */
  start: Uint32Array | null
  /** For each character of `text`, where it ends (exclusive) in the original text. */
  end: Uint32Array | null
}

export function mayBeEscaped (text: string): boolean {
  return MAY_BE_ESCAPED.test(text)
}

/**
 * Decodes one layer: every escape becomes its character. A percent escape of a non-ASCII byte
 * stays as it is (tokens are ASCII, and a lone byte of a UTF-8 sequence is no character).
 */
function decodeLayer (text: string): { text: string, start: Uint32Array, end: Uint32Array } | null {
  const parts: string[] = []
  const starts: number[] = []
  const ends: number[] = []
  let last = 0
  let changed = false
  const copy = (from: number, to: number): void => {
    if (to <= from) return
    parts.push(text.slice(from, to))
    for (let i = from; i < to; i++) {
      starts.push(i)
      ends.push(i + 1)
    }
  }
  ESCAPE.lastIndex = 0
  for (let m = ESCAPE.exec(text); m !== null; m = ESCAPE.exec(text)) {
    const at = m.index
    const to = at + m[0].length
    let decoded: string | null = null
    if (m[1] !== undefined) {
      const code = parseInt(m[1], 16)
      if (code < 0x80) decoded = String.fromCharCode(code)
    } else if (m[2] !== undefined) {
      decoded = String.fromCharCode(parseInt(m[2], 16))
    } else {
      const code = m[3] !== undefined ? parseInt(m[3], 10) : parseInt(m[4] as string, 16)
      if (code <= 0x10ffff) decoded = String.fromCodePoint(code)
    }
    if (decoded === null) continue
    copy(last, at)
    parts.push(decoded)
    for (let k = 0; k < decoded.length; k++) {
      starts.push(at)
      ends.push(to)
    }
    last = to
    changed = true
  }
  if (!changed) return null
  copy(last, text.length)
  return { text: parts.join(''), start: Uint32Array.from(starts), end: Uint32Array.from(ends) }
}

/** The text with every escape undone (up to three nested layers), each character mapped to its source. */
export function decodeEscapes (text: string): DecodedText {
  let cur: DecodedText = { text, start: null, end: null }
  for (let round = 0; round < MAX_ROUNDS && mayBeEscaped(cur.text); round++) {
    const layer = decodeLayer(cur.text)
    if (layer === null) break
    if (cur.start !== null && cur.end !== null) {
      // Compose: a character of this layer spans what its source characters spanned.
      const prevStart = cur.start
      const prevEnd = cur.end
      for (let i = 0; i < layer.text.length; i++) {
        const s = layer.start[i] as number
        const e = layer.end[i] as number
        layer.start[i] = prevStart[s] as number
        layer.end[i] = prevEnd[e - 1] as number
      }
    }
    cur = layer
  }
  return cur
}

/** Maps a span of the decoded text back onto the original text. */
export function originalSpan (d: DecodedText, from: number, to: number): [number, number] {
  if (d.start === null || d.end === null) return [from, to]
  return [d.start[from] as number, d.end[to - 1] as number]
}
