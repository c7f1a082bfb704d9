import { FILTERED, replaceSpans } from './redact.js'

/**
 * Echo filtering: what the request's redaction filtered (prompt and code text in metadata mode,
 * secrets and credentials always) is filtered again wherever a response repeats it — an error
 * body quoting the prompt (FastAPI's 422 `msg`, litellm's 400 text, a body over the sample bound
 * that no JSON parser read), an SSE error body, a stream's error event, a header of an error
 * response. The proxy saw the request, so it knows exactly what must not come back; no pattern
 * has to guess.
 *
 * Each value is looked for as it was sent and in the forms a server writes it back in: JSON
 * string escaping (also Python's ASCII-only json.dumps, and JSON escaped twice, as in JSON
 * quoted inside a JSON string), Python's repr (litellm's messages), and for query-sized values
 * percent- and form-encoding. Values of 8 to 31 characters are matched whole. Longer ones are
 * indexed by 16-character windows every 8 characters, so any repeated run of 23 characters or
 * more is found — also a part of a prompt, or a prompt cut by a sample bound — and each hit is
 * widened to all of the run the response shares with the value.
 *
 * The values are collected on first use, as the request was redacted: an exchange that keeps
 * no response text (most of them, in metadata mode) pays nothing for them. The first few texts
 * are looked up from their own side (scanFromText); the forms are indexed only past those.
 */

/** Values shorter than this are not worth matching: too many innocent coincidences. */
export const ECHO_MIN_CHARS = 8
/** Values at least this long are matched by windows, shorter ones whole. */
const WHOLE_BELOW = 32
const WINDOW = 16
const STRIDE = 8
/** A window of fewer distinct characters (indentation, `========`) matches too much innocent text. */
const MIN_DISTINCT = 6
/** Values longer than this are not looked for URL-encoded. */
const URL_FORM_MAX = 2048
/**
 * Bound on the characters indexed for one exchange (forms of the values included): about 50 ms
 * of indexing at most (measured ~40 ns a character), for the rare request with huge prompts.
 */
const MAX_INDEXED_CHARS = 1024 * 1024
/**
 * The first texts filtered are looked up the other way round (the text's windows in a small
 * table, each form's windows hashed at its strides): an error body of a few hundred characters
 * against a 1.5 KB prompt's six forms costs a fifth of indexing the forms. Past this many texts
 * (a JSON error body's strings each count), the forms are indexed once.
 */
const SCANS_BEFORE_INDEX = 4

export class EchoFilter {
  private readonly pending: string[] = []
  private readonly deferred: Array<() => void> = []
  private whole: string[] = []
  /** The forms indexed by windows. */
  private readonly forms: string[] = []
  /**
   * The windows: an open-addressing table of rolling hashes (integers; no substring, no Map
   * entry per window, so indexing a 64 KiB prompt stays in the low milliseconds). `slots` holds
   * entry + 1 (0: free); an entry is a form and a position, and chains to the next entry of the
   * same hash (a collision, or the same window text met again).
   */
  private slots: Int32Array | null = null
  private hashes: Int32Array | null = null
  private entryForm: number[] = []
  private entryAt: number[] = []
  private entryNext: number[] = []
  /** Characters of the forms matched by windows. */
  private formChars = 0
  private prepared = false
  private indexed = false
  private scans = 0
  private strideTable: { hashes: Int32Array, formOf: Int32Array, atOf: Int32Array } | null = null

  /** `scansBeforeIndex`: how many texts are scanned before the forms are indexed (tests set 0 to index at once). */
  constructor (private readonly scansBeforeIndex = SCANS_BEFORE_INDEX) {}

  /** A value the request's redaction filtered. */
  readonly add = (value: string): void => {
    if (value.length >= ECHO_MIN_CHARS) this.pending.push(value)
  }

  /** Collects values only if some response text is to be filtered (a request body walk costs). */
  defer (collect: () => void): void {
    this.deferred.push(collect)
  }

  /** Nothing to look for: filtering would change nothing. */
  get empty (): boolean {
    this.prepare()
    return this.whole.length === 0 && this.forms.length === 0
  }

  /** The text with every echo of a filtered value replaced by "[FILTERED]". */
  filter (text: string): string {
    if (text.length < ECHO_MIN_CHARS || this.empty) return text
    const spans: Array<[number, number]> = []
    for (const needle of this.whole) {
      for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) spans.push([at, at + needle.length])
    }
    if (this.forms.length > 0) this.findWindows(text, spans)
    if (spans.length === 0) return text
    return replaceSpans(text, spans)
  }

  /** A JSON value with each string filtered (keys are left: they name fields, they are not sent values). */
  filterJson<T> (value: T, depth = 0): T {
    if (this.empty) return value
    if (typeof value === 'string') return this.filter(value) as T
    if (typeof value !== 'object' || value === null || depth > 64) return value
    if (Array.isArray(value)) return value.map((v) => this.filterJson(v, depth + 1)) as T
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = this.filterJson(v, depth + 1)
    return out as T
  }

  private findWindows (text: string, spans: Array<[number, number]>): void {
    const last = text.length - WINDOW
    if (last < 0) return
    if (!this.indexed && this.scans < this.scansBeforeIndex && text.length <= this.formChars) {
      this.scans++
      this.scanFromText(text, spans)
      return
    }
    this.index()
    let h = windowHash(text, 0)
    let i = 0
    while (i <= last) {
      let from = -1
      let to = -1
      for (let e = this.lookup(h); e >= 0; e = this.entryNext[e]!) {
        const form = this.forms[this.entryForm[e]!]!
        const at = this.entryAt[e]!
        if (!sameWindow(text, i, form, at)) continue
        const [a, c] = widen(text, i, form, at)
        if (from < 0 || a < from) from = a
        if (c > to) to = c
      }
      if (from < 0) {
        if (i < last) h = rollHash(h, text.charCodeAt(i), text.charCodeAt(i + WINDOW))
        i++
        continue
      }
      spans.push([from, to])
      i = to
      if (i <= last) h = windowHash(text, i)
    }
  }

  /** The first entry of a hash; -1 when none. */
  private lookup (h: number): number {
    const slots = this.slots
    const hashes = this.hashes
    if (slots === null || hashes === null) return -1
    const mask = slots.length - 1
    for (let k = mix(h) & mask; ; k = (k + 1) & mask) {
      const slot = slots[k]!
      if (slot === 0) return -1
      if (hashes[k] === h) return slot - 1
    }
  }

  /**
   * The same windows findWindows finds, without indexing the forms: the text's windows (every
   * position) go in a small table, each form's indexable windows (every STRIDE characters and
   * the last, enough distinct characters) are looked up in it. A window text met in several
   * forms is widened from each, so a span is never shorter than the index would give.
   */
  private scanFromText (text: string, spans: Array<[number, number]>): void {
    const last = text.length - WINDOW
    const table = TextWindows.of(text, last)
    const hits = new Map<number, Array<[number, number]>>()
    const { hashes, formOf, atOf } = this.strides()
    for (let s = 0; s < hashes.length; s++) {
      const first = table.first(hashes[s]!)
      if (first < 0) continue
      const f = formOf[s]!
      const at = atOf[s]!
      const form = this.forms[f]!
      if (!distinct(form, at, at + WINDOW, MIN_DISTINCT)) continue
      for (let i = first; i >= 0; i = table.next(i)) {
        if (!sameWindow(text, i, form, at)) continue
        const here = hits.get(i)
        if (here === undefined) hits.set(i, [[f, at]])
        else here.push([f, at])
      }
    }
    if (hits.size === 0) return
    for (let i = 0; i <= last;) {
      const here = hits.get(i)
      if (here === undefined) {
        i++
        continue
      }
      let from = -1
      let to = -1
      for (const [f, at] of here) {
        const [a, c] = widen(text, i, this.forms[f]!, at)
        if (from < 0 || a < from) from = a
        if (c > to) to = c
      }
      spans.push([from, to])
      i = to
    }
  }

  /**
   * The forms' indexable windows (every STRIDE characters, and the last), hashed once per
   * exchange: an error response's texts (its body, or each string of a JSON body, and each
   * header) are scanned one after another against the same forms, and hashing every stride
   * again for each was most of a failure's capture cost (a 404 with four headers: ~200 µs).
   */
  private strides (): { hashes: Int32Array, formOf: Int32Array, atOf: Int32Array } {
    if (this.strideTable !== null) return this.strideTable
    let n = 0
    for (const form of this.forms) {
      const lastAt = form.length - WINDOW
      if (lastAt >= 0) n += Math.floor(lastAt / STRIDE) + 1 + (lastAt % STRIDE !== 0 ? 1 : 0)
    }
    const hashes = new Int32Array(n)
    const formOf = new Int32Array(n)
    const atOf = new Int32Array(n)
    let s = 0
    for (const [f, form] of this.forms.entries()) {
      const lastAt = form.length - WINDOW
      // A window at a stride is two 8-character chunks, each shared with the next window:
      // windowHash(form, at) = chunk(at) * BASE^8 + chunk(at + 8), modulo 2^32 like the rest.
      let next = lastAt >= 0 ? chunkHash(form, 0) : 0
      for (let at = 0; at <= lastAt; at += STRIDE) {
        const head = next
        next = chunkHash(form, at + STRIDE)
        hashes[s] = (Math.imul(head, HASH_CHUNK_TOP) + next) | 0
        formOf[s] = f
        atOf[s++] = at
      }
      if (lastAt >= 0 && lastAt % STRIDE !== 0) {
        hashes[s] = windowHash(form, lastAt)
        formOf[s] = f
        atOf[s++] = lastAt
      }
    }
    this.strideTable = { hashes, formOf, atOf }
    return this.strideTable
  }

  /** The values and their forms: what is matched whole, what by windows. */
  private prepare (): void {
    if (this.prepared) return
    this.prepared = true
    for (const collect of this.deferred.splice(0)) collect()
    const whole = new Set<string>()
    let indexed = 0
    for (const value of new Set(this.pending.splice(0))) {
      if (value === FILTERED) continue
      for (const form of forms(value)) {
        if (form.length < WHOLE_BELOW) {
          if (distinct(form, 0, form.length, 4)) whole.add(form)
        } else if (indexed + form.length <= MAX_INDEXED_CHARS) {
          indexed += form.length
          this.forms.push(form)
        }
      }
    }
    // Longest first: a value containing another is filtered whole.
    this.whole = [...whole].sort((a, b) => b.length - a.length)
    this.formChars = indexed
  }

  /** The forms' windows in the hash table. */
  private index (): void {
    if (this.indexed) return
    this.indexed = true
    this.prepare()
    const indexed = this.formChars
    if (this.forms.length === 0) return
    let capacity = 64
    while (capacity < (indexed / STRIDE + this.forms.length) * 2) capacity *= 2
    const slots = this.slots = new Int32Array(capacity)
    const hashes = this.hashes = new Int32Array(capacity)
    const mask = capacity - 1
    for (const [f, form] of this.forms.entries()) {
      const last = form.length - WINDOW
      let h = windowHash(form, 0)
      for (let at = 0; at <= last; at++) {
        if (at > 0) h = rollHash(h, form.charCodeAt(at - 1), form.charCodeAt(at + WINDOW - 1))
        // Every STRIDE characters, and the last window: a value's tail is covered like its head.
        if ((at % STRIDE !== 0 && at !== last) || !distinct(form, at, at + WINDOW, MIN_DISTINCT)) continue
        let k = mix(h) & mask
        while (slots[k] !== 0 && hashes[k] !== h) k = (k + 1) & mask
        const head = slots[k]! - 1
        // The same window text is indexed once (another form, a repeated line): one place to
        // widen from is enough, and a repetitive value does not grow long chains.
        if (this.known(head, form, at)) continue
        const entry = this.entryAt.push(at) - 1
        this.entryForm.push(f)
        this.entryNext.push(head)
        slots[k] = entry + 1
        hashes[k] = h
      }
    }
  }

  /** Is this window's text already indexed (in the chain from `head`)? */
  private known (head: number, form: string, at: number): boolean {
    let n = 0
    for (let e = head; e >= 0; e = this.entryNext[e]!) {
      if (sameWindow(form, at, this.forms[this.entryForm[e]!]!, this.entryAt[e]!)) return true
      // Many different texts of one hash: a pathological input; stop indexing it.
      if (++n >= 8) return true
    }
    return false
  }
}

/**
 * A text's windows at every position, by hash: an open-addressing table of typed arrays, reused
 * from one text to the next (the capture thread filters one text at a time), chained by position.
 */
class TextWindows {
  private static shared = new TextWindows(64, 64)
  private readonly hashes: Int32Array
  /** Position + 1 of the latest window of a hash; 0: free. */
  private readonly heads: Int32Array
  /** The position before it with the same hash, or -1. */
  private readonly chain: Int32Array
  private mask: number

  private constructor (capacity: number, positions: number) {
    this.hashes = new Int32Array(capacity)
    this.heads = new Int32Array(capacity)
    this.chain = new Int32Array(positions)
    this.mask = capacity - 1
  }

  static of (text: string, last: number): TextWindows {
    const n = last + 1
    let capacity = 64
    while (capacity < n * 2) capacity *= 2
    let t = TextWindows.shared
    if (t.heads.length < capacity || t.chain.length < n) t = TextWindows.shared = new TextWindows(capacity, Math.max(n, capacity / 2))
    t.mask = capacity - 1
    t.heads.fill(0, 0, capacity)
    let h = windowHash(text, 0)
    for (let i = 0; i <= last; i++) {
      if (i > 0) h = rollHash(h, text.charCodeAt(i - 1), text.charCodeAt(i + WINDOW - 1))
      let k = mix(h) & t.mask
      while (t.heads[k] !== 0 && t.hashes[k] !== h) k = (k + 1) & t.mask
      t.chain[i] = t.heads[k]! - 1
      t.heads[k] = i + 1
      t.hashes[k] = h
    }
    return t
  }

  /** The last position whose window has this hash, or -1. */
  first (h: number): number {
    for (let k = mix(h) & this.mask; this.heads[k] !== 0; k = (k + 1) & this.mask) {
      if (this.hashes[k] === h) return this.heads[k]! - 1
    }
    return -1
  }

  next (i: number): number {
    return this.chain[i]!
  }
}

/** A window of `text` at `i` equal to one of `form` at `at`, widened to all the run they share. */
function widen (text: string, i: number, form: string, at: number): [number, number] {
  let a = i
  let b = at
  while (a > 0 && b > 0 && text.charCodeAt(a - 1) === form.charCodeAt(b - 1)) {
    a--
    b--
  }
  let c = i + WINDOW
  let d = at + WINDOW
  while (c < text.length && d < form.length && text.charCodeAt(c) === form.charCodeAt(d)) {
    c++
    d++
  }
  return [a, c]
}

/** Spreads a hash over the table's low bits. */
function mix (h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b)
  return h ^ (h >>> 16)
}

/** Has text[from, to) at least `atLeast` different characters? */
function distinct (text: string, from: number, to: number, atLeast: number): boolean {
  const seen = DISTINCT_BITS
  seen.fill(0)
  let count = 0
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    // A bit set for ASCII; other characters each count.
    if (c >= 128) count++
    else {
      const bit = 1 << (c & 31)
      const word = c >> 5
      if ((seen[word]! & bit) !== 0) continue
      seen[word]! |= bit
      count++
    }
    if (count >= atLeast) return true
  }
  return false
}

const HASH_BASE = 0x01000193
/** HASH_BASE to the power WINDOW - 1, modulo 2^32: what the leaving character weighs. */
const HASH_TOP = (() => {
  let p = 1
  for (let i = 1; i < WINDOW; i++) p = Math.imul(p, HASH_BASE)
  return p
})()

/** HASH_BASE to the power STRIDE: what a window's first chunk weighs (strides()). */
const HASH_CHUNK_TOP = (() => {
  let p = 1
  for (let i = 0; i < STRIDE; i++) p = Math.imul(p, HASH_BASE)
  return p
})()

/** Polynomial hash of the STRIDE characters from `at`: half a window (WINDOW = 2 * STRIDE). */
function chunkHash (text: string, at: number): number {
  let h = 0
  for (let i = at; i < at + STRIDE; i++) h = (Math.imul(h, HASH_BASE) + text.charCodeAt(i)) | 0
  return h
}

/** Polynomial hash of the WINDOW characters from `at` (modulo 2^32). */
function windowHash (text: string, at: number): number {
  let h = 0
  for (let i = at; i < at + WINDOW; i++) h = (Math.imul(h, HASH_BASE) + text.charCodeAt(i)) | 0
  return h
}

/** The hash of the next window: one character leaves, one comes in. */
function rollHash (h: number, out: number, into: number): number {
  return (Math.imul((h - Math.imul(out, HASH_TOP)) | 0, HASH_BASE) + into) | 0
}

function sameWindow (a: string, i: number, b: string, j: number): boolean {
  for (let k = 0; k < WINDOW; k++) if (a.charCodeAt(i + k) !== b.charCodeAt(j + k)) return false
  return true
}

const DISTINCT_BITS = new Int32Array(4)

/** The value as sent, and as servers write it back. */
function forms (value: string): Set<string> {
  const out = new Set<string>([value])
  const json = JSON.stringify(value).slice(1, -1)
  out.add(json)
  // Python's json.dumps: ASCII only, \uXXXX in lower case.
  out.add(json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))
  out.add(JSON.stringify(json).slice(1, -1))
  out.add(pythonRepr(value))
  // URL forms: a query or form value quoted back (a 404 naming the URL). Query-sized values
  // only: a prompt is not sent in a URL, and each form costs indexing time.
  if (value.length <= URL_FORM_MAX) {
    try {
      const url = encodeURIComponent(value)
      out.add(url)
      out.add(url.replaceAll('%20', '+'))
    } catch {
      // a lone surrogate: no URL form
    }
  }
  return out
}

/** The inside of Python's repr() of a str (single-quoted form), as litellm's errors quote messages. */
function pythonRepr (value: string): string {
  return value.replace(/[\\'\p{Cc}]/gu, (c) => {
    switch (c) {
      case '\\': return '\\\\'
      case '\'': return '\\\''
      case '\n': return '\\n'
      case '\r': return '\\r'
      case '\t': return '\\t'
      default: return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
    }
  })
}
