import type { Json } from '../capture/redact.js'
import { placeholder } from './placeholder.js'

/** A body rebuilt from a recorded request shape (src/capture/shape.ts describes its notation). */
export interface ShapeBody {
  text: string
  /** Keys and elements written. */
  fields: number
  /** Parts the shape did not follow (past its bounds): sent as empty objects or arrays, or left out. */
  cut: boolean
}

const STRING = /^<string (\d+)>$/
const MORE_ELEMENTS = /^<\+(\d+) more>$/
const DEEP_ARRAY = /^<array \d+>$/
const MORE_KEYS = '<more>'
const ENDPOINT_KEYS = new Set(['model_endpoint', 'endpoint'])

/** Strings this short read "[synthesized]"; longer ones placeholder text of their length. */
const SHORT = 40
/** Copies of an array's last element at most, whatever the shape says. */
const MAX_COPIES = 10_000

interface Build {
  comment: string
  endpoint: string | null
  /** The largest string's recorded length, and the length it gets (sized to fit the body's bytes). */
  largest: number
  largestSize: number
  largestTaken: boolean
  fields: number
  cut: boolean
}

/**
 * The body the shape describes: every key as recorded, strings as placeholder text of their
 * recorded length ("[synthesized]" when short), numbers 0, and the values the shape kept as
 * they were sent. The largest string is sized so that the body has exactly `bytes` bytes.
 */
export function bodyFromShape (shape: Json, bytes: number, comment: string, endpoint: string | null): ShapeBody {
  const largest = largestString(shape)
  const build = (largestSize: number): { text: string, b: Build } => {
    const b: Build = { comment, endpoint, largest, largestSize, largestTaken: false, fields: 0, cut: false }
    return { text: JSON.stringify(valueOf(shape, null, b)), b }
  }
  let { text, b } = build(largest)
  if (largest > 0) ({ text, b } = build(Math.max(0, largest + bytes - Buffer.byteLength(text))))
  return { text, fields: b.fields, cut: b.cut }
}

function valueOf (shape: Json, key: string | null, b: Build): Json {
  if (Array.isArray(shape)) return arrayOf(shape, key, b)
  if (typeof shape === 'object' && shape !== null) {
    const out: { [key: string]: Json } = {}
    for (const [k, v] of Object.entries(shape)) {
      if (k === MORE_KEYS) {
        b.cut = true
        continue
      }
      b.fields++
      out[k] = valueOf(v, k, b)
    }
    return out
  }
  if (typeof shape !== 'string') return shape
  const string = STRING.exec(shape)
  if (string !== null) return text(Number(string[1]), b)
  if (shape === '<number>') return 0
  if (shape === '<object>') {
    b.cut = true
    return {}
  }
  if (DEEP_ARRAY.test(shape)) {
    b.cut = true
    return []
  }
  // A kept value: a name as sent, or an endpoint (pointed elsewhere with --model-endpoint).
  return b.endpoint !== null && key !== null && ENDPOINT_KEYS.has(key) ? b.endpoint : shape
}

function arrayOf (shape: Json[], key: string | null, b: Build): Json[] {
  const out: Json[] = []
  for (const item of shape) {
    const more = typeof item === 'string' ? MORE_ELEMENTS.exec(item) : null
    if (more === null) {
      b.fields++
      out.push(valueOf(item, key, b))
      continue
    }
    // Elements past the bound: as many again, like the last one recorded.
    const last = shape[shape.length - 2]
    if (last === undefined) continue
    for (let i = 0; i < Math.min(Number(more[1]), MAX_COPIES); i++) {
      b.fields++
      out.push(valueOf(last, key, b))
    }
  }
  return out
}

function text (length: number, b: Build): string {
  if (!b.largestTaken && length === b.largest && length > 0) {
    b.largestTaken = true
    return placeholder(b.largestSize, b.comment)
  }
  if (length === 0) return ''
  return length <= SHORT ? '[synthesized]' : placeholder(length, b.comment)
}

/** The longest string the shape records (0 when none). */
function largestString (shape: Json): number {
  if (Array.isArray(shape)) return shape.reduce<number>((m, v) => Math.max(m, largestString(v)), 0)
  if (typeof shape === 'object' && shape !== null) return Object.values(shape).reduce<number>((m, v) => Math.max(m, largestString(v)), 0)
  const string = typeof shape === 'string' ? STRING.exec(shape) : null
  return string === null ? 0 : Number(string[1])
}
