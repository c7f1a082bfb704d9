/**
 * The query language (issue 16): one way to ask for exchanges, the same in the CLI
 * (`duo-diag-proxy failures 'flag:timeout feature:chat status:5xx since:1h'`), the admin API
 * (`?q=`) and a browser's search box (this module imports nothing from Node, so a page can
 * bundle it to check what is typed before sending it).
 *
 *   query    := or?
 *   or       := and ( 'OR' and )*
 *   and      := unary ( 'AND'? unary )*          terms side by side are ANDed
 *   unary    := ( 'NOT' | '-' ) unary | primary
 *   primary  := '(' or ')' | field ':' value | word | "quoted text"
 *
 * Precedence is the usual boolean one, NOT > AND > OR: `a b OR c` is `(a AND b) OR c`. (GitHub
 * binds OR tighter than the implicit AND; we do not, because `status:5xx OR flag:timeout
 * route:model` then means what a reader of any other boolean syntax expects, and parentheses
 * say the rest.) AND, OR and NOT are keywords in capitals only; lower-case `and`/`or`/`not` are
 * refused rather than silently searched for as text (quote them to search for the word).
 *
 * Fields (names case-insensitive; `cid` = correlation_id, `instance` = proxy_instance):
 *   route hop method feature model correlation_id proxy_instance   equal (method any case)
 *   flag      one of the flag vocabulary            path   prefix (case-sensitive)
 *   cause     the diagnosis code (model_endpoint_missing_v1), or words the English cause contains
 *   status    404 | 5xx | 400..499 | >=500 | <400 | none (no response)
 *   duration, ttfb    >5s | >=100ms | <2s | 100ms..2s  (ms, s, m; a bare number is ms); ttfb:none
 *   since, until      15m | 2h | 7d | 2026-12-07 | 2026-12-07T10:00Z   (inclusive)
 *   time              >2h | <=2026-12-07T10:00Z | 2026-12-07..2026-12-08
 * Comma lists mean any of: `flag:timeout,tls_error`, `status:404,5xx` (route, hop, method,
 * status, flag, feature, proxy_instance). Words without a field are free text: the path or the
 * cause contains them (case-insensitive). Values with spaces or parentheses are quoted:
 * `cause:"not reachable"`; inside quotes `\"` is a quote and `\\` a backslash.
 *
 * A query is parsed once into a plain-data AST (it crosses to the store's query thread as a
 * message) and evaluated two ways that must agree: in memory on an exchange (the live tail) and
 * as a SQL condition with bound parameters only (the store, SQLite and PostgreSQL alike). Every
 * SQL leaf is written so it is never NULL (nullable columns are tested IS NOT NULL first): with
 * SQL's three-valued logic, `NOT (status >= 500)` on a row without a status would otherwise drop
 * the row that `!(null >= 500)` keeps in memory.
 *
 * Case-insensitive means ASCII letters only, everywhere: SQLite's lower() and LIKE fold nothing
 * else, nor does PostgreSQL's lower() under the C collation, so folding more in memory would make
 * the tail and the store disagree.
 *
 * The parser throws QueryError and nothing else, on any input (a property test holds it to that),
 * with the 1-based column (in characters) of what is wrong; queries are bounded: at most
 * MAX_QUERY_LENGTH characters, MAX_QUERY_TERMS terms, MAX_QUERY_DEPTH levels of parentheses.
 * What is wrong is a code and parameters (the query catalog, src/i18n/catalogs/<lang>/query.ts):
 * its `message` is English, read from the English catalog (a plain object: still nothing from
 * Node); the CLI and the admin API say it in the reader's language (src/i18n/query-errors.ts).
 */
import type { Exchange } from '../capture/exchange.js'
import type { Feature } from '../capture/features.js'
import { ALL_FLAGS } from '../diagnosis/flags.js'
import { query as EN } from '../i18n/catalogs/en/query.js'

export const MAX_QUERY_LENGTH = 1000
export const MAX_QUERY_TERMS = 50
export const MAX_QUERY_DEPTH = 16

export type QueryReason = keyof typeof EN.reason
export type QueryHint = keyof typeof EN.hint

/** A part of a query error: a key of the query catalog's `reason` or `hint` group, and its parameters. */
export interface QueryErrorText<Code extends string = string> {
  code: Code
  params: Record<string, string | number>
}

/** `{{name}}` in an English template, filled (the English catalog's texts are plain: no plurals, no formats). */
export function fillTemplate (template: string, params: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole))
}

/**
 * What is wrong with a query, and where: `column` is 1-based, in characters. `reason` and `hint`
 * are codes of the query catalog; `message` says them in English, exactly as before they were.
 */
export class QueryError extends Error {
  /** The admin API answers it 400 `{error: 'invalid_query', message, column}`. */
  readonly statusCode = 400
  readonly code = 'invalid_query'
  constructor (readonly reason: QueryErrorText<QueryReason>, readonly column: number, readonly hint: QueryErrorText<QueryHint> | null = null) {
    const text = fillTemplate(EN.reason[reason.code], reason.params)
    super(hint === null
      ? fillTemplate(EN.at, { reason: text, column })
      : fillTemplate(EN.atHint, { reason: text, column, hint: fillTemplate(EN.hint[hint.code], hint.params) }))
  }
}

const hintOf = (code: QueryHint, params: Record<string, string | number> = {}): QueryErrorText<QueryHint> => ({ code, params })

export type EqField = 'route' | 'hop' | 'method' | 'feature' | 'model' | 'correlation_id' | 'proxy_instance' | 'flag'
export type RangeField = 'status' | 'duration' | 'ttfb' | 'time'

/** The parsed query: plain data (structured-cloneable, JSON-able). */
export type QueryNode =
  | { type: 'and', items: QueryNode[] }
  | { type: 'or', items: QueryNode[] }
  | { type: 'not', item: QueryNode }
  /** Equal (`method` is stored upper-case: the value is too); `flag`: the exchange has it. */
  | { type: 'eq', field: EqField, value: string }
  | { type: 'prefix', field: 'path', value: string }
  /** Contains, ASCII case-insensitive; `value` is already folded. `text`: path or cause. */
  | { type: 'contains', field: 'cause' | 'text', value: string }
  /** Bounds in the field's unit (ms; epoch ms for time); a null bound is open. */
  | { type: 'range', field: RangeField, min: number | null, minExclusive: boolean, max: number | null, maxExclusive: boolean }
  /** No value: no response status, or no first byte. */
  | { type: 'none', field: 'status' | 'ttfb' }

// Every Feature, checked both ways by the compiler: a feature added to the type must be added here.
const FEATURES = ['code_completions', 'code_generations', 'code_suggestions', 'chat', 'prompts', 'x_ray', 'health', 'gateway_metrics', 'gateway_other',
  'chat_completions', 'completions', 'embeddings', 'models', 'model_health', 'model_other'] as const satisfies readonly Feature[]
type MissingFeature = Exclude<Feature, (typeof FEATURES)[number]>
const featuresComplete: [MissingFeature] extends [never] ? true : false = true
void featuresComplete

const HOPS = ['gateway', 'model'] as const

type FieldName = 'route' | 'hop' | 'method' | 'path' | 'status' | 'flag' | 'feature' | 'correlation_id' | 'cause' | 'model' | 'proxy_instance' |
  'duration' | 'ttfb' | 'since' | 'until' | 'time'

const FIELDS: readonly FieldName[] = ['route', 'hop', 'method', 'path', 'status', 'flag', 'feature', 'correlation_id', 'cause', 'model', 'proxy_instance',
  'duration', 'ttfb', 'since', 'until', 'time']
const ALIASES: Readonly<Record<string, FieldName>> = { cid: 'correlation_id', instance: 'proxy_instance' }
/** Fields whose values are names, never text: a comma separates alternatives there. */
const LISTABLE = new Set<FieldName>(['route', 'hop', 'method', 'status', 'flag', 'feature', 'proxy_instance'])

export interface ParseOptions {
  /** What relative times (`since:1h`) count back from; epoch ms. */
  now?: number
}

/** The query's AST, or null when it is empty (matches everything). Throws QueryError only. */
export function parseQuery (input: string, opts: ParseOptions = {}): QueryNode | null {
  try {
    return new Parser(String(input), opts.now ?? Date.now()).parse()
  } catch (err) {
    if (err instanceof QueryError) throw err
    // A bug here must still answer as a query error (400 with a place), never a 500.
    throw new QueryError({ code: 'unreadable', params: { error: (err as Error)?.message ?? String(err) } }, 1)
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { t: 'lparen' | 'rparen' | 'neg' | 'or' | 'and' | 'not' | 'eof', at: number }
  /** `field` null: free text. Offsets are UTF-16 indexes into the input. */
  | { t: 'term', at: number, field: string | null, value: string, valueAt: number, quoted: boolean }

const SPACE = /\s/
const FIELD_PREFIX = /([A-Za-z_][A-Za-z0-9_]*):/y
// C0 controls (bar tab, CR, LF, which are spaces here) and DEL: nobody types them, and
// PostgreSQL cannot even bind a NUL.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/ // eslint-disable-line no-control-regex
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

class Parser {
  private tokens: Token[] = []
  private pos = 0
  private terms = 0
  private depth = 0

  constructor (private readonly input: string, private readonly now: number) {}

  /** 1-based column, in characters (code points), of a UTF-16 offset. */
  private col (offset: number): number {
    let n = 1
    for (let i = 0; i < offset && i < this.input.length; i++) {
      const c = this.input.charCodeAt(i)
      if (c >= 0xD800 && c <= 0xDBFF && i + 1 < offset) {
        const d = this.input.charCodeAt(i + 1)
        if (d >= 0xDC00 && d <= 0xDFFF) i++
      }
      n++
    }
    return n
  }

  private fail (offset: number, reason: QueryReason, params: Record<string, string | number> = {}, hint: QueryErrorText<QueryHint> | null = null): never {
    throw new QueryError({ code: reason, params }, this.col(offset), hint)
  }

  parse (): QueryNode | null {
    const s = this.input
    if (s.length > MAX_QUERY_LENGTH) this.fail(MAX_QUERY_LENGTH, 'tooLong', { max: MAX_QUERY_LENGTH })
    const control = CONTROL.exec(s)
    if (control !== null) this.fail(control.index, 'control', { char: `U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}` })
    const lone = LONE_SURROGATE.exec(s)
    if (lone !== null) this.fail(lone.index, 'loneSurrogate')
    this.tokens = this.lex()
    if (this.peek().t === 'eof') return null
    const node = this.parseOr()
    const rest = this.peek()
    if (rest.t !== 'eof') this.fail(rest.at, rest.t === 'rparen' ? 'unmatchedClose' : 'unexpectedText')
    return node
  }

  // -- lexer ----------------------------------------------------------------------------------

  private lex (): Token[] {
    const s = this.input
    const out: Token[] = []
    let i = 0
    while (i < s.length) {
      const c = s[i]!
      if (SPACE.test(c)) {
        i++
        continue
      }
      if (c === '(' || c === ')') {
        out.push({ t: c === '(' ? 'lparen' : 'rparen', at: i })
        i++
        continue
      }
      if (c === '-') {
        const next = s[i + 1]
        if (next === undefined || SPACE.test(next)) this.fail(i, 'negationSpace', {}, hintOf('noSpace'))
        out.push({ t: 'neg', at: i })
        i++
        continue
      }
      if (c === '"') {
        const q = this.quoted(i)
        out.push({ t: 'term', at: i, field: null, value: q.value, valueAt: i, quoted: true })
        i = q.end
        continue
      }
      FIELD_PREFIX.lastIndex = i
      const field = FIELD_PREFIX.exec(s)
      if (field !== null) {
        const valueAt = i + field[0].length
        if (s[valueAt] === '"') {
          const q = this.quoted(valueAt)
          out.push({ t: 'term', at: i, field: field[1]!, value: q.value, valueAt, quoted: true })
          i = q.end
        } else {
          const end = this.wordEnd(valueAt)
          out.push({ t: 'term', at: i, field: field[1]!, value: s.slice(valueAt, end), valueAt, quoted: false })
          i = end
        }
        continue
      }
      const end = this.wordEnd(i)
      const word = s.slice(i, end)
      if (word === 'OR' || word === 'AND' || word === 'NOT') out.push({ t: word === 'OR' ? 'or' : word === 'AND' ? 'and' : 'not', at: i })
      else if (word === 'or' || word === 'and' || word === 'not') this.fail(i, 'ambiguous', { word }, hintOf('operator', { operator: word.toUpperCase(), word }))
      else out.push({ t: 'term', at: i, field: null, value: word, valueAt: i, quoted: false })
      i = end
    }
    out.push({ t: 'eof', at: s.length })
    return out
  }

  /** An unquoted word or value runs to a space or a parenthesis. */
  private wordEnd (from: number): number {
    const s = this.input
    let i = from
    while (i < s.length && s[i] !== '(' && s[i] !== ')' && !SPACE.test(s[i]!)) i++
    return i
  }

  /** `"…"` from its opening quote: the text (with \" and \\ undone) and the offset after it. */
  private quoted (open: number): { value: string, end: number } {
    const s = this.input
    let value = ''
    let i = open + 1
    while (i < s.length) {
      const c = s[i]!
      if (c === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) {
        value += s[i + 1]
        i += 2
        continue
      }
      if (c === '"') {
        const after = s[i + 1]
        if (after !== undefined && after !== '(' && after !== ')' && !SPACE.test(after)) this.fail(i + 1, 'spaceAfterQuote')
        return { value, end: i + 1 }
      }
      value += c
      i++
    }
    return this.fail(open, 'unterminatedQuote', {}, hintOf('closeQuote'))
  }

  // -- parser ---------------------------------------------------------------------------------

  private peek (): Token {
    return this.tokens[this.pos]!
  }

  private next (): Token {
    const tok = this.tokens[this.pos]!
    if (tok.t !== 'eof') this.pos++
    return tok
  }

  private startsUnary (tok: Token): boolean {
    return tok.t === 'term' || tok.t === 'lparen' || tok.t === 'neg' || tok.t === 'not'
  }

  private parseOr (): QueryNode {
    const items = [this.parseAnd()]
    while (this.peek().t === 'or') {
      const or = this.next()
      if (!this.startsUnary(this.peek())) this.fail(or.at, 'termAfter', { operator: 'OR' })
      items.push(this.parseAnd())
    }
    return items.length === 1 ? items[0]! : { type: 'or', items }
  }

  private parseAnd (): QueryNode {
    const first = this.peek()
    if (!this.startsUnary(first)) {
      if (first.t === 'or' || first.t === 'and') this.fail(first.at, 'termBefore', { operator: first.t.toUpperCase() })
      if (first.t === 'rparen') this.fail(first.at, 'unexpectedClose')
      this.fail(first.at, 'expectedTerm')
    }
    const items = [this.parseUnary()]
    for (;;) {
      const tok = this.peek()
      if (tok.t === 'and') {
        this.next()
        if (!this.startsUnary(this.peek())) this.fail(tok.at, 'termAfter', { operator: 'AND' })
        items.push(this.parseUnary())
      } else if (this.startsUnary(tok)) {
        items.push(this.parseUnary())
      } else {
        break
      }
    }
    return items.length === 1 ? items[0]! : { type: 'and', items }
  }

  /** NOT and '-' chains are read in a loop (no recursion): an odd count negates. */
  private parseUnary (): QueryNode {
    let negations = 0
    while (this.peek().t === 'not' || this.peek().t === 'neg') {
      const op = this.next()
      if (!this.startsUnary(this.peek())) this.fail(op.at, 'termAfter', { operator: op.t === 'not' ? 'NOT' : "'-'" })
      negations++
    }
    const node = this.parsePrimary()
    return negations % 2 === 1 ? { type: 'not', item: node } : node
  }

  private parsePrimary (): QueryNode {
    const tok = this.next()
    if (tok.t === 'lparen') {
      if (++this.depth > MAX_QUERY_DEPTH) this.fail(tok.at, 'tooDeep', { max: MAX_QUERY_DEPTH })
      if (this.peek().t === 'rparen') this.fail(tok.at, 'emptyParentheses')
      const inner = this.parseOr()
      if (this.peek().t !== 'rparen') this.fail(tok.at, 'missingClose')
      this.next()
      this.depth--
      return inner
    }
    if (tok.t !== 'term') return this.fail(tok.at, 'expectedTerm')
    return this.term(tok)
  }

  // -- terms ----------------------------------------------------------------------------------

  private count (at: number): void {
    if (++this.terms > MAX_QUERY_TERMS) this.fail(at, 'tooManyTerms', { max: MAX_QUERY_TERMS })
  }

  private term (tok: Extract<Token, { t: 'term' }>): QueryNode {
    if (tok.field === null) {
      this.count(tok.at)
      return { type: 'contains', field: 'text', value: foldAscii(tok.value) }
    }
    const name = tok.field.toLowerCase()
    const field = (FIELDS as readonly string[]).includes(name) ? name as FieldName : ALIASES[name]
    if (field === undefined) {
      const guess = suggest(name, [...FIELDS, ...Object.keys(ALIASES)])
      this.fail(tok.at, 'unknownField', { field: tok.field }, guess !== null ? hintOf('didYouMean', { name: guess }) : hintOf('fields', { fields: FIELDS.join(', ') }))
    }
    if (!tok.quoted && tok.value === '') this.fail(tok.valueAt, 'missingValue', { after: `${tok.field}:` })
    if (tok.quoted || !LISTABLE.has(field) || !tok.value.includes(',')) {
      this.count(tok.at)
      return this.value(field, tok.value, tok.valueAt, tok.quoted)
    }
    // A comma list: any of its values.
    const items: QueryNode[] = []
    let at = tok.valueAt
    for (const piece of tok.value.split(',')) {
      if (piece === '') this.fail(at, 'emptyListValue', { field: tok.field })
      this.count(at)
      items.push(this.value(field, piece, at, false))
      at += piece.length + 1
    }
    return { type: 'or', items }
  }

  /** One value of a field; `at` is where it starts (for errors). */
  private value (field: FieldName, v: string, at: number, quoted: boolean): QueryNode {
    switch (field) {
      case 'route':
      case 'model':
      case 'correlation_id':
      case 'proxy_instance':
        return { type: 'eq', field, value: v }
      case 'hop':
        return { type: 'eq', field, value: this.oneOf(v, at, 'hop', HOPS) }
      case 'feature':
        return { type: 'eq', field, value: this.oneOf(v, at, 'feature', FEATURES) }
      case 'flag':
        return { type: 'eq', field, value: this.oneOf(v, at, 'flag', ALL_FLAGS) }
      case 'method':
        if (!/^[A-Za-z]{1,16}$/.test(v)) this.fail(at, 'invalid', { what: 'method', value: v }, hintOf('method'))
        return { type: 'eq', field, value: v.toUpperCase() }
      case 'path':
        return { type: 'prefix', field, value: v }
      case 'cause':
        return { type: 'contains', field, value: foldAscii(v) }
      case 'status':
        return this.status(v, at, quoted)
      case 'duration':
      case 'ttfb':
        if (field === 'ttfb' && v === 'none') return { type: 'none', field }
        return this.range(field, v, at, (text, offset) => this.milliseconds(field, text, offset), hintOf(field === 'ttfb' ? 'ttfbRange' : 'durationRange'))
      case 'since':
        return { type: 'range', field: 'time', min: this.instant(v, at), minExclusive: false, max: null, maxExclusive: false }
      case 'until':
        return { type: 'range', field: 'time', min: null, minExclusive: false, max: this.instant(v, at), maxExclusive: false }
      case 'time':
        return this.range('time', v, at, (text, offset) => this.instant(text, offset), hintOf('timeRange'))
    }
  }

  private oneOf (v: string, at: number, what: string, allowed: readonly string[]): string {
    if (allowed.includes(v)) return v
    const guess = suggest(v, allowed)
    return this.fail(at, 'unknownValue', { what, value: v },
      guess !== null ? hintOf('didYouMean', { name: guess }) : allowed.length <= 16 ? hintOf('oneOf', { values: allowed.join(', ') }) : hintOf('flagTable'))
  }

  private status (v: string, at: number, quoted: boolean): QueryNode {
    const hint = hintOf('status')
    if (v === 'none' && !quoted) return { type: 'none', field: 'status' }
    const cls = /^([1-5])xx$/i.exec(v)
    if (cls !== null) {
      const c = Number(cls[1]) * 100
      return { type: 'range', field: 'status', min: c, minExclusive: false, max: c + 99, maxExclusive: false }
    }
    const code = (text: string, offset: number): number => {
      if (!/^[1-5][0-9][0-9]$/.test(text)) this.fail(offset, 'invalid', { what: 'status', value: text }, hint)
      return Number(text)
    }
    if (/^[0-9]+$/.test(v)) {
      const n = code(v, at)
      return { type: 'range', field: 'status', min: n, minExclusive: false, max: n, maxExclusive: false }
    }
    if (!/^(?:[<>]=?|.*\.\.)/.test(v)) this.fail(at, 'invalid', { what: 'status', value: v }, hint)
    return this.range('status', v, at, code, hint)
  }

  /** `>x`, `>=x`, `<x`, `<=x` or `x..y` (inclusive), each bound read by `bound`. */
  private range (field: RangeField, v: string, at: number, bound: (text: string, offset: number) => number, hint: QueryErrorText<QueryHint>): QueryNode {
    const cmp = /^([<>]=?)/.exec(v)
    if (cmp !== null) {
      const op = cmp[1]!
      const text = v.slice(op.length)
      if (text === '') this.fail(at + op.length, 'missingValue', { after: op }, hint)
      const n = bound(text, at + op.length)
      return op.startsWith('>')
        ? { type: 'range', field, min: n, minExclusive: op === '>', max: null, maxExclusive: false }
        : { type: 'range', field, min: null, minExclusive: false, max: n, maxExclusive: op === '<' }
    }
    const dots = v.indexOf('..')
    if (dots < 0) this.fail(at, 'needsRange', { field }, hint)
    const lo = v.slice(0, dots)
    const hi = v.slice(dots + 2)
    if (lo === '') this.fail(at, 'rangeNoStart', {}, hint)
    if (hi === '') this.fail(at + dots + 2, 'rangeNoEnd', {}, hint)
    const min = bound(lo, at)
    const max = bound(hi, at + dots + 2)
    if (min > max) this.fail(at, 'rangeEmpty', {}, hint)
    return { type: 'range', field, min, minExclusive: false, max, maxExclusive: false }
  }

  private milliseconds (field: string, text: string, at: number): number {
    const m = /^([0-9]{1,9}(?:\.[0-9]{1,3})?)(ms|s|m)?$/.exec(text)
    if (m === null) return this.fail(at, 'invalid', { what: field, value: text }, hintOf('durationValue'))
    return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm']
  }

  /**
   * A point in time: relative (`15m`, `2h`, `7d`, `30s`, `500ms`: that long before now) or ISO
   * 8601. A time of day without a zone is UTC, so the CLI, the API and a browser (each with its
   * own time zone) read the same query the same way.
   */
  private instant (text: string, at: number): number {
    const hint = hintOf('timeValue')
    const rel = /^([0-9]{1,9})(ms|s|m|h|d)$/.exec(text)
    if (rel !== null) return this.now - Number(rel[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'ms' | 's' | 'm' | 'h' | 'd']
    const iso = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text)
    if (iso === null) return this.fail(at, 'invalidTime', { value: text }, hint)
    // Date.parse rolls 2026-02-30 over into March: the calendar is checked first.
    const [y, mo, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number]
    if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return this.fail(at, 'invalidDate', { value: text.slice(0, 10) }, hint)
    const t = Date.parse(text.includes('T') && iso[1] === undefined ? `${text}Z` : text)
    if (!Number.isFinite(t)) return this.fail(at, 'invalidTime', { value: text }, hint)
    return t
  }
}

/** A-Z → a-z and nothing else (see the module's comment). */
export function foldAscii (s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase())
}

/** The closest candidate within a small edit distance, or one the input begins; null when none is close. */
function suggest (input: string, candidates: readonly string[]): string | null {
  const word = input.toLowerCase().slice(0, 64)
  let best: string | null = null
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(word, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  if (best !== null && bestDistance <= Math.min(2, Math.max(1, Math.floor(word.length / 3)))) return best
  if (word.length >= 2) return candidates.find((c) => c.startsWith(word)) ?? null
  return null
}

/** Levenshtein distance, a swap of two neighbours counting as one edit (stauts → status). */
function editDistance (a: string, b: string): number {
  let before: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1)
      cur[j] = d
    }
    before = prev
    prev = cur
  }
  return prev[b.length]!
}

// ---------------------------------------------------------------------------------------------
// Evaluation in memory (the live tail). Field values exactly as `exchangeRow` (sql.ts) stores them.

function eqValue (ex: Exchange, field: Exclude<EqField, 'flag'>): string | null {
  switch (field) {
    case 'route': return ex.route
    case 'hop': return ex.hop
    case 'method': return ex.method
    case 'feature': return ex.meta.feature ?? null
    case 'model': {
      const m = ex.meta.model ?? ex.meta.model_name ?? null
      return m === null ? null : String(m)
    }
    case 'correlation_id': return ex.correlation_id
    // Rows written before the column existed read ''.
    case 'proxy_instance': return ex.proxy_instance ?? ''
  }
}

function rangeValue (ex: Exchange, field: RangeField): number | null {
  switch (field) {
    case 'status': return ex.status
    case 'duration': return ex.timings.duration_ms
    case 'ttfb': return ex.timings.ttfb_ms
    case 'time': return Date.parse(ex.started_at)
  }
}

function contains (text: string | null | undefined, folded: string): boolean {
  return text !== null && text !== undefined && foldAscii(text).includes(folded)
}

/** Whether an exchange matches the query: the same answer the store's SQL gives. */
export function evaluateQuery (node: QueryNode, ex: Exchange): boolean {
  switch (node.type) {
    case 'and': return node.items.every((n) => evaluateQuery(n, ex))
    case 'or': return node.items.some((n) => evaluateQuery(n, ex))
    case 'not': return !evaluateQuery(node.item, ex)
    case 'eq':
      if (node.field === 'flag') return (ex.flags as string[]).includes(node.value)
      return eqValue(ex, node.field) === node.value
    case 'prefix': return ex.path.startsWith(node.value)
    case 'contains':
      if (node.field === 'cause') return ex.diagnosis?.code === node.value || contains(ex.diagnosis?.cause, node.value)
      return contains(ex.path, node.value) || contains(ex.diagnosis?.cause, node.value)
    case 'range': {
      const v = rangeValue(ex, node.field)
      if (v === null || v === undefined) return false
      if (node.min !== null && (node.minExclusive ? !(v > node.min) : !(v >= node.min))) return false
      if (node.max !== null && (node.maxExclusive ? !(v < node.max) : !(v <= node.max))) return false
      return true
    }
    case 'none': return (node.field === 'status' ? ex.status : ex.timings.ttfb_ms) === null
  }
}

// ---------------------------------------------------------------------------------------------
// SQL (SQLite and PostgreSQL share the text): `?` placeholders, values always bound.

const COLUMNS: Readonly<Record<Exclude<EqField, 'flag'> | RangeField | 'path' | 'cause', string>> = {
  route: 'exchanges.route',
  hop: 'exchanges.hop',
  method: 'exchanges.method',
  feature: 'exchanges.feature',
  model: 'exchanges.model',
  correlation_id: 'exchanges.correlation_id',
  proxy_instance: 'exchanges.proxy_instance',
  path: 'exchanges.path',
  cause: 'exchanges.cause',
  status: 'exchanges.status',
  duration: 'exchanges.duration_ms',
  ttfb: 'exchanges.ttfb_ms',
  time: 'exchanges.started_at'
}
const NULLABLE = new Set(['feature', 'model', 'cause', 'status', 'ttfb'])

/** `%text%` for LIKE … ESCAPE '\': the input's own `%`, `_` and `\` match themselves. */
export function likeContains (folded: string): string {
  return `%${folded.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export interface QuerySql {
  sql: string
  params: Array<string | number>
}

/** The query as a SQL condition on `exchanges` (never NULL: see the module's comment). */
export function queryToSql (node: QueryNode): QuerySql {
  const params: Array<string | number> = []
  const notNull = (field: string, sql: string): string => (NULLABLE.has(field) ? `(${COLUMNS[field as keyof typeof COLUMNS]} IS NOT NULL AND ${sql})` : sql)
  const like = (field: 'path' | 'cause', folded: string): string => {
    params.push(likeContains(folded))
    return notNull(field, `lower(${COLUMNS[field]}) LIKE ? ESCAPE '\\'`)
  }
  const walk = (n: QueryNode): string => {
    switch (n.type) {
      case 'and': return `(${n.items.map(walk).join(' AND ')})`
      case 'or': return `(${n.items.map(walk).join(' OR ')})`
      case 'not': return `NOT ${walk(n.item)}`
      case 'eq':
        params.push(n.value)
        if (n.field === 'flag') return '(exchanges.seq IN (SELECT f.seq FROM exchange_flags f WHERE f.flag = ?))'
        return notNull(n.field, `${COLUMNS[n.field]} = ?`)
      case 'prefix':
        // substr counts characters (code points) in both databases; no LIKE wildcards to escape.
        params.push([...n.value].length, n.value)
        return '(substr(exchanges.path, 1, ?) = ?)'
      case 'contains':
        if (n.field === 'cause') {
          // A code (model_endpoint_missing_v1) or words of the English cause.
          params.push(n.value)
          return `((exchanges.cause_code IS NOT NULL AND exchanges.cause_code = ?) OR ${like('cause', n.value)})`
        }
        return `(${like('path', n.value)} OR ${like('cause', n.value)})`
      case 'range': {
        const column = COLUMNS[n.field]
        const parts: string[] = []
        if (NULLABLE.has(n.field)) parts.push(`${column} IS NOT NULL`)
        if (n.min !== null) {
          parts.push(`${column} ${n.minExclusive ? '>' : '>='} ?`)
          params.push(n.min)
        }
        if (n.max !== null) {
          parts.push(`${column} ${n.maxExclusive ? '<' : '<='} ?`)
          params.push(n.max)
        }
        return parts.length === 0 ? '(1 = 1)' : `(${parts.join(' AND ')})`
      }
      case 'none': return `(${COLUMNS[n.field]} IS NULL)`
    }
  }
  return { sql: walk(node), params }
}

// ---------------------------------------------------------------------------------------------
// Questions about a parsed query (the CLI's defaults, the summary's period).

/**
 * The fields a query tests (since/until are `time`, free text is `text`): anywhere, or with
 * `positive` only where not negated (`-flag:slow` asks for no flag in particular).
 */
export function queryFields (node: QueryNode | null, opts: { positive?: boolean } = {}): Set<string> {
  const out = new Set<string>()
  const walk = (n: QueryNode, negated: boolean): void => {
    if (n.type === 'and' || n.type === 'or') n.items.forEach((item) => walk(item, negated))
    else if (n.type === 'not') walk(n.item, !negated)
    else if (!negated || opts.positive !== true) out.add(n.field)
  }
  if (node !== null) walk(node, false)
  return out
}

/**
 * Time bounds every match must satisfy: those of time ranges ANDed at the top of the query
 * (inclusive, so possibly a little wider than the query's own). For the summary's "since", and
 * for the store's time index when the planner would not find them inside the condition.
 */
export function impliedTimeBounds (node: QueryNode | null): { since?: number, until?: number } {
  const out: { since?: number, until?: number } = {}
  const walk = (n: QueryNode): void => {
    if (n.type === 'and') n.items.forEach(walk)
    else if (n.type === 'range' && n.field === 'time') {
      if (n.min !== null) out.since = Math.max(out.since ?? -Infinity, n.min)
      if (n.max !== null) out.until = Math.min(out.until ?? Infinity, n.max)
    }
  }
  if (node !== null) walk(node)
  return out
}

/** The query with a caret under the column an error points at (for terminals). */
export function caretLines (query: string, column: number): string {
  // Controls and tabs would move the caret: shown as one character each.
  const shown = [...query].map((c) => (/[\u0000-\u001F\u007F]/.test(c) ? ' ' : c)).join('') // eslint-disable-line no-control-regex
  return `  ${shown}\n  ${' '.repeat(Math.max(0, column - 1))}^`
}
