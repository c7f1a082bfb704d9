/**
 * The query language (issue 16): the parser construct by construct and its error columns; the
 * parser never throws anything but QueryError (arbitrary strings, random token sequences) and
 * is bounded; random queries evaluated in memory (the live tail's matches()) agree with the
 * store's SQL on the same stored exchanges, on SQLite and PostgreSQL; and end to end, `?q=`
 * through a running proxy's admin API (list, summary, live tail) and `failures '<query>'`.
 */
import { get as httpGet, type IncomingMessage } from 'node:http'
import fc from 'fast-check'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type { Flag } from '../src/diagnosis/flags.js'
import { toFilter } from '../src/store/filter-params.js'
import {
  caretLines, evaluateQuery, impliedTimeBounds, MAX_QUERY_LENGTH, MAX_QUERY_TERMS, parseQuery, QueryError, type QueryNode, queryFields, queryToSql
} from '../src/store/query-language.js'
import { matches } from '../src/store/query.js'
import type { ExchangeStore } from '../src/store/store.js'
import type { Summary } from '../src/store/summary.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { refusedPort } from './helpers/fault-servers.js'
import { startHarness } from './helpers/proxy-harness.js'
import { BACKENDS, exchange, freshStore } from './helpers/stores.js'
import { runCli, type Run } from './helpers/command.js'

const T0 = 1_800_000_000_000 // 2027-01-15T08:00:00.000Z
const NOW = T0 + 100_000

function parse (q: string): QueryNode | null {
  return parseQuery(q, { now: NOW })
}

/** The QueryError a query throws (fails the test when it parses). */
function error (q: string): QueryError {
  try {
    parse(q)
  } catch (err) {
    if (err instanceof QueryError) return err
    throw err
  }
  throw new Error(`expected ${JSON.stringify(q)} to be refused`)
}

// ---------------------------------------------------------------------------------------------
// The parser, construct by construct.

t.test('parser: each construct', async (t) => {
  const range = (field: string, min: number | null, max: number | null, minExclusive = false, maxExclusive = false): QueryNode =>
    ({ type: 'range', field, min, minExclusive, max, maxExclusive } as QueryNode)
  const cases: Array<[string, QueryNode | null]> = [
    ['', null],
    ['   \t ', null],
    ['route:model', { type: 'eq', field: 'route', value: 'model' }],
    ['Route:model', { type: 'eq', field: 'route', value: 'model' }],
    ['hop:gateway', { type: 'eq', field: 'hop', value: 'gateway' }],
    ['method:get', { type: 'eq', field: 'method', value: 'GET' }],
    ['path:/v1/chat', { type: 'prefix', field: 'path', value: '/v1/chat' }],
    ['flag:timeout', { type: 'eq', field: 'flag', value: 'timeout' }],
    ['feature:chat', { type: 'eq', field: 'feature', value: 'chat' }],
    ['correlation_id:abc', { type: 'eq', field: 'correlation_id', value: 'abc' }],
    ['cid:abc', { type: 'eq', field: 'correlation_id', value: 'abc' }],
    ['cause:Timeout', { type: 'contains', field: 'cause', value: 'timeout' }],
    ['cause:"not Reachable"', { type: 'contains', field: 'cause', value: 'not reachable' }],
    ['model:Mistral-7B', { type: 'eq', field: 'model', value: 'Mistral-7B' }],
    ['proxy_instance:aigw-1', { type: 'eq', field: 'proxy_instance', value: 'aigw-1' }],
    ['instance:aigw-1', { type: 'eq', field: 'proxy_instance', value: 'aigw-1' }],
    ['status:404', range('status', 404, 404)],
    ['status:5xx', range('status', 500, 599)],
    ['status:400..499', range('status', 400, 499)],
    ['status:>=500', range('status', 500, null)],
    ['status:<400', range('status', null, 400, false, true)],
    ['status:none', { type: 'none', field: 'status' }],
    ['duration:>5s', range('duration', 5000, null, true)],
    ['duration:100ms..2s', range('duration', 100, 2000)],
    ['duration:<=1.5m', range('duration', null, 90_000)],
    ['ttfb:>1s', range('ttfb', 1000, null, true)],
    ['ttfb:<250', range('ttfb', null, 250, false, true)],
    ['ttfb:none', { type: 'none', field: 'ttfb' }],
    ['since:1h', range('time', NOW - 3_600_000, null)],
    ['until:2026-12-07T10:00Z', range('time', null, Date.parse('2026-12-07T10:00:00Z'))],
    ['until:2026-12-07T10:00', range('time', null, Date.parse('2026-12-07T10:00:00Z'))],
    ['since:2026-12-07', range('time', Date.parse('2026-12-07T00:00:00Z'), null)],
    ['time:>2h', range('time', NOW - 7_200_000, null, true)],
    ['time:2026-12-07..2026-12-08T00:00+01:00', range('time', Date.parse('2026-12-07T00:00:00Z'), Date.parse('2026-12-07T23:00:00Z'))],
    ['timeout', { type: 'contains', field: 'text', value: 'timeout' }],
    ['"Not Reachable"', { type: 'contains', field: 'text', value: 'not reachable' }],
    ['"say \\"hi\\" \\\\ bye"', { type: 'contains', field: 'text', value: 'say "hi" \\ bye' }],
    ['"OR"', { type: 'contains', field: 'text', value: 'or' }],
    ['12:30', { type: 'contains', field: 'text', value: '12:30' }],
    ['-flag:slow', { type: 'not', item: { type: 'eq', field: 'flag', value: 'slow' } }],
    ['NOT flag:slow', { type: 'not', item: { type: 'eq', field: 'flag', value: 'slow' } }],
    ['NOT NOT flag:slow', { type: 'eq', field: 'flag', value: 'slow' }],
    ['-"x y"', { type: 'not', item: { type: 'contains', field: 'text', value: 'x y' } }],
    ['flag:timeout,tls_error', { type: 'or', items: [{ type: 'eq', field: 'flag', value: 'timeout' }, { type: 'eq', field: 'flag', value: 'tls_error' }] }],
    ['status:404,5xx', { type: 'or', items: [range('status', 404, 404), range('status', 500, 599)] }],
    ['path:/a,b', { type: 'prefix', field: 'path', value: '/a,b' }],
    ['route:a route:b', { type: 'and', items: [{ type: 'eq', field: 'route', value: 'a' }, { type: 'eq', field: 'route', value: 'b' }] }],
    ['route:a AND route:b', { type: 'and', items: [{ type: 'eq', field: 'route', value: 'a' }, { type: 'eq', field: 'route', value: 'b' }] }],
    // Precedence: NOT > AND > OR.
    ['a b OR c', { type: 'or', items: [{ type: 'and', items: [{ type: 'contains', field: 'text', value: 'a' }, { type: 'contains', field: 'text', value: 'b' }] }, { type: 'contains', field: 'text', value: 'c' }] }],
    ['a OR b c', { type: 'or', items: [{ type: 'contains', field: 'text', value: 'a' }, { type: 'and', items: [{ type: 'contains', field: 'text', value: 'b' }, { type: 'contains', field: 'text', value: 'c' }] }] }],
    ['(a OR b) c', { type: 'and', items: [{ type: 'or', items: [{ type: 'contains', field: 'text', value: 'a' }, { type: 'contains', field: 'text', value: 'b' }] }, { type: 'contains', field: 'text', value: 'c' }] }],
    ['NOT a OR b', { type: 'or', items: [{ type: 'not', item: { type: 'contains', field: 'text', value: 'a' } }, { type: 'contains', field: 'text', value: 'b' }] }],
    ['-(a OR b)', { type: 'not', item: { type: 'or', items: [{ type: 'contains', field: 'text', value: 'a' }, { type: 'contains', field: 'text', value: 'b' }] } }],
    ['(route:x)(route:y)', { type: 'and', items: [{ type: 'eq', field: 'route', value: 'x' }, { type: 'eq', field: 'route', value: 'y' }] }],
    ['x-ray', { type: 'contains', field: 'text', value: 'x-ray' }]
  ]
  for (const [q, want] of cases) t.same(parse(q), want, JSON.stringify(q))
  t.same(parse('flag:timeout feature:chat status:5xx since:1h'), {
    type: 'and',
    items: [{ type: 'eq', field: 'flag', value: 'timeout' }, { type: 'eq', field: 'feature', value: 'chat' }, range('status', 500, 599), range('time', NOW - 3_600_000, null)]
  }, "the issue's example")
})

t.test('parser: errors point at the column that is wrong', async (t) => {
  const cases: Array<[string, number, RegExp]> = [
    ['stauts:5xx', 1, /^unknown field 'stauts' at column 1 \(did you mean status\?\)$/],
    ['flag:timeout stauts:5xx', 14, /unknown field 'stauts'.*did you mean status/],
    ['flag:timout', 6, /unknown flag 'timout' at column 6 \(did you mean timeout\?\)/],
    ['flag:timeout,tls_eror', 14, /unknown flag 'tls_eror'.*did you mean tls_error/],
    ['feature:chta', 9, /unknown feature 'chta'.*did you mean chat/],
    ['hop:gw', 5, /unknown hop 'gw'.*one of gateway, model/],
    ['http://example.com', 1, /unknown field 'http'.*quote text/],
    ['dur:>5s', 1, /did you mean duration/],
    ['status:', 8, /missing value after 'status:'/],
    ['status:abc', 8, /invalid status 'abc'/],
    ['status:404 status:699', 19, /invalid status '699'/],
    ['status:400..4xx', 13, /invalid status '4xx'/],
    ['status:500..400', 8, /range is empty/],
    ['flag:timeout,', 14, /empty value in the list/],
    ['duration:5s', 10, /duration needs a comparison or a range/],
    ['duration:>', 11, /missing value after '>'/],
    ['duration:>fast', 11, /invalid duration 'fast'/],
    ['ttfb:1s..', 10, /the range has no end/],
    ['ttfb:..1s', 6, /the range has no start/],
    ['since:yesterday', 7, /invalid time 'yesterday'/],
    ['until:2026-02-30', 7, /invalid date '2026-02-30'/],
    ['time:2026-12-07', 6, /time needs a comparison or a range/],
    ['method:G3T', 8, /invalid method 'G3T'/],
    ['(flag:timeout', 1, /missing '\)' for this '\('/],
    ['flag:timeout)', 13, /unexpected '\)'/],
    ['()', 1, /empty parentheses/],
    ['a OR', 3, /OR needs a term after it/],
    ['OR a', 1, /OR needs a term before it/],
    ['a OR OR b', 3, /OR needs a term after it/],
    ['a AND', 3, /AND needs a term after it/],
    ['a NOT', 3, /NOT needs a term after it/],
    ['a - b', 3, /'-' must be written right before/],
    ['a -', 3, /'-' must be written right before/],
    ['-)', 1, /'-' needs a term after it/],
    ['a or b', 3, /'or' is ambiguous.*write OR/],
    ['cause:"unterminated', 7, /unterminated quote/],
    ['"a"b', 4, /expected a space after the closing quote/],
    ['😀 😀 stauts:1', 5, /unknown field/],
    ['a\u0000b', 2, /control character U\+0000/],
    ['a \uD800 b', 3, /lone UTF-16 surrogate/]
  ]
  for (const [q, column, message] of cases) {
    const e = error(q)
    t.equal(e.column, column, `${JSON.stringify(q)}: column ${column} (${e.message})`)
    t.match(e.message, message, JSON.stringify(q))
    t.equal(e.code, 'invalid_query')
    t.equal(e.statusCode, 400)
  }
  t.equal(caretLines('flag:timeout stauts:5xx', 14), '  flag:timeout stauts:5xx\n               ^', 'the caret sits under the column')
})

t.test('parser: bounded in length, terms and nesting', async (t) => {
  t.ok(parse('a'.repeat(MAX_QUERY_LENGTH)), `${MAX_QUERY_LENGTH} characters are fine`)
  const long = error('a'.repeat(MAX_QUERY_LENGTH + 1))
  t.equal(long.column, MAX_QUERY_LENGTH + 1)
  t.match(long.message, /longer than 1000 characters/)
  const terms = (n: number): string => Array.from({ length: n }, (_, i) => `t${i}`).join(' ')
  t.ok(parse(terms(MAX_QUERY_TERMS)), `${MAX_QUERY_TERMS} terms are fine`)
  const many = error(terms(MAX_QUERY_TERMS + 1))
  t.match(many.message, /more than 50 terms/)
  t.equal(many.column, terms(MAX_QUERY_TERMS).length + 2, 'at the 51st term')
  t.match(error(`status:${Array(51).fill('404').join(',')}`).message, /more than 50 terms/, 'comma lists count each value')
  t.ok(parse(`${'('.repeat(16)}a${')'.repeat(16)}`), '16 levels of parentheses')
  t.match(error(`${'('.repeat(17)}a${')'.repeat(17)}`).message, /nested more than 16 deep/)
  t.same(parse(`${'-'.repeat(501)}a`.slice(0, 1000)), parse('-a'), 'a long negation chain is read without recursion')
})

// A few exchanges to check the evaluation of each construct in memory.
t.test('evaluation in memory of each construct', async (t) => {
  const ok = exchange({ correlation_id: 'ok', startMs: 10_000, status: 200, timings: { ttfb_ms: 50, duration_ms: 900 }, meta: { feature: 'chat', model: 'mistral' } })
  const down = exchange({ correlation_id: 'down', startMs: 20_000, status: null, flags: ['connection_refused', 'upstream_error'], timings: { ttfb_ms: null, duration_ms: 3 }, diagnosis: { code: 'model_server_unreachable', params: {}, cause: 'The model server is NOT reachable', evidence: [], next_steps: [] } })
  const slow = exchange({ correlation_id: 'slow', startMs: 90_000, hop: 'model', status: 504, flags: ['timeout', 'headers_timeout', 'upstream_error'], timings: { ttfb_ms: 6000, duration_ms: 6001 }, meta: { feature: 'chat_completions', model_name: 'codestral' } })
  const all = [ok, down, slow]
  const ids = (q: string): string[] => {
    const node = parse(q)
    return all.filter((e) => node === null || evaluateQuery(node, e)).map((e) => e.correlation_id)
  }
  t.same(ids(''), ['ok', 'down', 'slow'])
  t.same(ids('status:5xx'), ['slow'])
  t.same(ids('-status:5xx'), ['ok', 'down'], 'negating a status test keeps the exchange without a status')
  t.same(ids('status:none'), ['down'])
  t.same(ids('ttfb:none'), ['down'])
  t.same(ids('ttfb:>1s'), ['slow'])
  t.same(ids('-ttfb:>1s'), ['ok', 'down'])
  t.same(ids('duration:100ms..1s'), ['ok'])
  t.same(ids('flag:timeout OR flag:connection_refused'), ['down', 'slow'])
  t.same(ids('flag:upstream_error -flag:timeout'), ['down'])
  t.same(ids('"not reachable"'), ['down'], 'free text searches the cause, case-insensitively')
  t.same(ids('v1/chat'), ['slow'], 'free text searches the path')
  t.same(ids('cause:reachable'), ['down'])
  t.same(ids('cause:model_server_unreachable'), ['down'], 'a diagnosis code matches')
  t.same(ids('-cause:model_server_unreachable'), ['ok', 'slow'], 'and its negation')
  t.same(ids('model:codestral'), ['slow'], 'model is meta.model or meta.model_name')
  t.same(ids('hop:model'), ['slow'])
  t.same(ids(`since:${NOW - T0 - 20_000}ms`), ['down', 'slow'], 'since: inclusive')
  t.same(ids(`until:${NOW - T0 - 20_000}ms`), ['ok', 'down'], 'until: inclusive')
  t.same(ids(`time:>${NOW - T0 - 20_000}ms`), ['slow'])
  t.same(ids('(feature:chat OR hop:model) -status:5xx'), ['ok'])
  t.same([...queryFields(parse('flag:slow OR (since:1h -"x")'))].sort(), ['flag', 'text', 'time'])
  t.same([...queryFields(parse('-flag:slow NOT (route:a -status:5xx)'), { positive: true })].sort(), ['status'], 'positive: not under an odd number of NOTs')
  t.same(impliedTimeBounds(parse('since:1m until:10s a OR b')), {}, 'bounds under an OR are not implied')
  t.same(impliedTimeBounds(parse('since:1m (until:10s x) time:<5s')), { since: NOW - 60_000, until: NOW - 10_000 })
  const filter = toFilter({ q: 'since:1m status:5xx', since: '2m' }, NOW)
  t.equal(filter.since, NOW - 60_000, "the query's since narrows the filter's (the summary reports it)")
  t.equal(toFilter({ q: '  ' }, NOW).query, undefined, 'a blank query is no query')
})

// ---------------------------------------------------------------------------------------------
// Properties of the parser.

/** Pieces of queries: valid terms, near misses, operators, punctuation, and hostile text. */
const TOKENS = [
  'status:5xx', 'status:404', 'status:400..499', 'status:>=500', 'status:none', 'status:', 'status:abc', 'stauts:5xx', 'flag:timeout', 'flag:timeout,tls_error',
  'flag:timout', 'flag:,', 'feature:chat', 'route:model', 'hop:gateway', 'method:get', 'path:/v1', 'cause:"not reachable"', 'cid:abc', 'model:x', 'duration:>5s',
  'duration:100ms..2s', 'duration:5s', 'ttfb:none', 'ttfb:>1s', 'since:1h', 'until:2026-12-07T10:00Z', 'time:1h..2h', 'time:2h..1h', 'since:2026-02-30',
  'OR', 'AND', 'NOT', 'or', '-', '(', ')', '"', '\\', '\\"', ':', '..', ',', '>', '>=', '<', '*', '%', '_', "'", ';', '--', 'DROP TABLE exchanges',
  "' OR 1=1 --", 'word', 'É', '😀', '\uD800', '\u0000', '\t', '\n', 'a'.repeat(200)
]

t.test('the parser never throws anything but QueryError (arbitrary strings, token sequences)', async (t) => {
  let parsed = 0
  let refused = 0
  const check = (q: string): boolean => {
    let node: QueryNode | null
    try {
      node = parse(q)
    } catch (err) {
      if (!(err instanceof QueryError)) return false
      refused++
      return Number.isInteger(err.column) && err.column >= 1 && err.column <= [...q].length + 1 && err.message.includes(`at column ${err.column}`)
    }
    parsed++
    if (node === null) return q.trim() === ''
    // What parses is plain data, compiles to SQL with one bound parameter per placeholder, evaluates.
    const sql = queryToSql(node)
    const again = JSON.parse(JSON.stringify(node)) as QueryNode
    evaluateQuery(node, exchange())
    return (sql.sql.match(/\?/g) ?? []).length === sql.params.length && JSON.stringify(structuredClone(node)) === JSON.stringify(again)
  }
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 80 }), fc.string({ unit: 'binary', minLength: 990, maxLength: 1100 })), check), { numRuns: 1500 })
  const sequence = fc.tuple(fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }), fc.array(fc.constantFrom(' ', '', '  '), { minLength: 40, maxLength: 40 }))
    .map(([tokens, seps]) => tokens.map((tok, i) => tok + seps[i]).join(''))
  fc.assert(fc.property(sequence, check), { numRuns: 3000 })
  t.ok(parsed > 500 && refused > 500, `${parsed} parsed, ${refused} refused with a QueryError`)
})

// ---------------------------------------------------------------------------------------------
// In memory and in SQL: the same answers, on a real store.

const pick = <T>(list: readonly T[], i: number): T => list[i % list.length]!
const ROUTES = ['gitlab-aigw', 'model', 'Model', 'aigw-2']
const PATHS = ['/v2/code/completions', '/v1/chat/completions', '/chat/completions', '/v1/models', '/V1/Models', '/a%b_c\\d', '/é/É', '/😀/x', '/v1/x-ray/libraries', '/']
const STATUSES = [200, null, 404, 500, 201, 429, 503, 499, 301, 599, 200]
const FLAG_SETS: Flag[][] = [[], ['timeout', 'model_timeout', 'upstream_error'], ['not_found'], ['upstream_error'], ['slow'], ['connection_refused', 'upstream_error'], ['tls_error'], [], ['slow', 'not_found']]
const FEATURES = ['chat', 'code_completions', 'chat_completions', 'models', 'x_ray'] as const
const MODELS: Array<{ model?: string, model_name?: string }> = [{}, { model: 'mistral' }, { model_name: 'Mistral' }, { model: 'codestral', model_name: 'other' }]
const TTFB = [null, 0.5, 5, 100, 1000, 1500.5, 6000]
const DURATION = [1, 10, 100, 999.9, 1000, 2000, 60_000, 1500.5]
const CAUSES = [null, 'The model server is not reachable', 'Model timeout: 50% of _retries_', 'The model endpoint URL lacks the /v1 suffix.', 'Ünïcode CAUSE É', 'back\\slash "quoted"', null]
const INSTANCES = ['aigw-0', 'aigw-1', '']
const METHODS = ['POST', 'GET', 'PUT']

/** 90 exchanges over 90 s, every field varied (co-prime strides so combinations differ). */
const DATA: Exchange[] = Array.from({ length: 90 }, (_, i) => {
  const cause = pick(CAUSES, i * 3)
  return exchange({
    startMs: i * 1000,
    correlation_id: `c-${i}`,
    route: pick(ROUTES, i),
    hop: i % 3 === 0 ? 'model' : 'gateway',
    method: pick(METHODS, i * 5),
    path: pick(PATHS, i * 7),
    status: pick(STATUSES, i * 11),
    flags: pick(FLAG_SETS, i * 13),
    proxy_instance: pick(INSTANCES, i * 17),
    timings: { ttfb_ms: pick(TTFB, i * 19), duration_ms: pick(DURATION, i * 23) },
    meta: { feature: pick(FEATURES, i * 29), ...pick(MODELS, i * 31) },
    diagnosis: cause === null ? null : { code: cause.toLowerCase().replace(/[^a-z0-9]+/g, '_'), params: {}, cause, evidence: [], next_steps: [] }
  })
})

const quote = (v: string): string => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`
const ago = (ms: number): string => `${NOW - T0 - ms}ms`

/** Well-formed queries over the fields and values DATA holds (and some it does not). */
const leafArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...ROUTES, 'nope').map((v) => `route:${v}`),
  fc.constant('route:model,aigw-2'),
  fc.constantFrom('gateway', 'model').map((v) => `hop:${v}`),
  fc.constantFrom('get', 'POST', 'Put', 'delete').map((v) => `method:${v}`),
  fc.constantFrom('/v1', '/v1/', '/V1', '/', '/a%', '/a%b_c', '/a_', '/é', '/😀', '/chat', '/v2/code/completions', '/zzz').map((v) => `path:${v}`),
  fc.constantFrom('404', '5xx', '2xx', '400..499', '>=500', '<300', '>404', '<=429', 'none', '2xx,404', '301..503').map((v) => `status:${v}`),
  fc.constantFrom('timeout', 'not_found', 'upstream_error', 'slow', 'connection_refused', 'tls_error', 'client_aborted', 'slow,tls_error').map((v) => `flag:${v}`),
  fc.constantFrom(...FEATURES, 'prompts').map((v) => `feature:${v}`),
  fc.constantFrom('c-3', 'c-42', 'c-999').map((v) => `cid:${v}`),
  fc.constantFrom('model', 'MODEL', 'the_model_server_is_not_reachable', 'not reach', '50%', '_retries_', '%', '_', 'é', 'É', 'ü', 'Ü', 'back\\slash', '"quoted"', '/v1', '').map((v) => `cause:${quote(v)}`),
  fc.constantFrom('mistral', 'Mistral', 'codestral', 'other').map((v) => `model:${v}`),
  fc.constantFrom('aigw-0', 'aigw-1', '', 'aigw-0,aigw-1').map((v) => (v === '' ? 'proxy_instance:""' : `instance:${v}`)),
  fc.constantFrom('>100ms', '<=1s', '100..2000', '>=1000', '999.9..1000', '<1.5s', '>1m', '1500.5..1500.5').map((v) => `duration:${v}`),
  fc.constantFrom('>1s', 'none', '<=5', '0.5..100', '>=1500.5', '<0.5').map((v) => `ttfb:${v}`),
  fc.integer({ min: 0, max: 95 }).map((s) => `since:${ago(s * 1000)}`),
  fc.integer({ min: 0, max: 95 }).map((s) => `until:${ago(s * 1000)}`),
  fc.tuple(fc.integer({ min: 0, max: 95 }), fc.constantFrom('>', '>=', '<', '<=')).map(([s, op]) => `time:${op}${ago(s * 1000)}`),
  fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 45 })).map(([a, b]) => `time:${new Date(T0 + a * 1000).toISOString()}..${new Date(T0 + (a + b) * 1000).toISOString()}`),
  fc.constantFrom('completions', 'MODELS', 'x-ray', 'v1', '%', '_', 'É', 'é', '😀', 'timeout', 'zzz').map((v) => v),
  fc.constantFrom('not reachable', 'URL LACKS', '50% of', 'back\\slash', '').map(quote)
)

const queryArb: fc.Arbitrary<string> = fc.letrec<{ q: string }>((tie) => ({
  q: fc.oneof(
    { maxDepth: 4, depthIdentifier: 'q' },
    leafArb,
    leafArb.map((l) => `-${l}`),
    fc.tuple(tie('q'), tie('q')).map(([a, b]) => `${a} ${b}`),
    fc.tuple(tie('q'), tie('q')).map(([a, b]) => `${a} AND ${b}`),
    fc.tuple(tie('q'), tie('q')).map(([a, b]) => `${a} OR ${b}`),
    tie('q').map((a) => `(${a})`),
    tie('q').map((a) => `NOT (${a})`),
    tie('q').map((a) => `-(${a})`),
    tie('q').map((a) => `NOT ${a}`)
  )
})).q

async function allIds (store: ExchangeStore, q: string): Promise<string[]> {
  const page = await store.list(toFilter({ q }, NOW), { limit: 1000 })
  return page.items.map((e) => e.id).sort()
}

for (const backend of BACKENDS) {
  t.test(`random queries: in memory (matches) and in SQL (list, summary) agree [${backend}]`, async (t) => {
    const store = await freshStore(t, backend)
    if (store === null) return
    await store.insert(DATA)
    let nonTrivial = 0
    const runs = backend === 'sqlite' ? 400 : 200
    await fc.assert(fc.asyncProperty(queryArb, async (q) => {
      let filter
      try {
        filter = toFilter({ q }, NOW)
      } catch (err) {
        // A generated tree may exceed the term bound; nothing else may be refused.
        fc.pre(err instanceof QueryError && /more than 50 terms/.test(err.message))
        throw err
      }
      const want = DATA.filter((e) => matches(e, filter)).map((e) => e.id).sort()
      const got = await allIds(store, q)
      if (want.length > 0 && want.length < DATA.length) nonTrivial++
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`${q}: SQL ${got.length} exchanges, in memory ${want.length} (${queryToSql(filter.query!).sql})`)
      }
      return true
    }), { numRuns: runs })
    t.ok(nonTrivial > runs / 3, `${nonTrivial} of ${runs} queries selected some but not all of the exchanges`)
    // Fixed queries that once disagreed or easily could: three-valued logic, LIKE wildcards, case folding.
    for (const q of ['-status:5xx', 'NOT ttfb:>1s', '-feature:chat', '-model:mistral', '-cause:model', 'NOT "model"', 'cause:"%"', 'cause:_', '"É"', '"é"',
      'path:/😀', 'path:/a%b_c', 'cause:"back\\\\slash"', 'proxy_instance:""', 'status:none OR -status:none']) {
      const filter = toFilter({ q }, NOW)
      t.same(await allIds(store, q), DATA.filter((e) => matches(e, filter)).map((e) => e.id).sort(), q)
    }
    const summary = await store.summary(toFilter({ q: 'status:5xx OR flag:slow' }, NOW))
    t.equal(summary.total, DATA.filter((e) => matches(e, toFilter({ q: 'status:5xx OR flag:slow' }, NOW))).length, 'the summary counts what the query selects')
  })
}

// ---------------------------------------------------------------------------------------------
// End to end: the admin API and the CLI.

const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })


function cli (args: string[]): Promise<Run> {
  return runCli(args, { ...process.env, DUO_DIAG_ADMIN_TOKEN: '', NO_COLOR: '1', COLUMNS: '400' })
}

t.test('end to end: ?q= through a running proxy, and failures \'<query>\'', async (t) => {
  const model = await startModelServer()
  const port = await refusedPort()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model' }, { name: 'down', upstream: `http://127.0.0.1:${port}`, hop: 'model' }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const send = async (route: string, path: string, id: string, fault?: string): Promise<void> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': id }
    if (fault !== undefined) headers['x-sim-fault'] = fault
    const res = await request(`${h.url(route)}${path}`, { method: 'POST', body: CHAT, headers })
    await res.body.text()
  }
  await send('model', '/v1/chat/completions', 'ok-1')
  await send('model', '/v1/chat/completions', 'ok-2')
  await send('model', '/chat/completions', 'nov1-1')
  await send('model', '/v1/chat/completions', 'err-500', 'status:500')
  await send('model', '/v1/chat/completions', 'err-503', 'status:503')
  await send('model', '/v1/chat/completions', 'err-429', 'status:429')
  await send('model', '/v1/chat/completions', 'slow-1', 'delay-headers:150')
  await send('down', '/v1/chat/completions', 'down-1')
  t.equal((await h.exchanges()).length, 8)
  const api = `${h.adminUrl}/api`
  const get = async <T>(path: string): Promise<{ status: number, body: T }> => {
    const res = await request(`${api}${path}`)
    return { status: res.statusCode, body: JSON.parse(await res.body.text()) as T }
  }
  const ids = async (q: string, extra = ''): Promise<string[]> => {
    const r = await get<{ items: Exchange[] }>(`/exchanges?q=${encodeURIComponent(q)}${extra}`)
    if (r.status !== 200) throw new Error(`GET /api/exchanges?q=${q}${extra} answered ${r.status}: ${JSON.stringify(r.body)}`)
    return r.body.items.map((e) => e.correlation_id).sort()
  }

  t.test('GET /api/exchanges?q=', async (t) => {
    t.same(await ids('status:5xx'), ['err-500', 'err-503'])
    t.same(await ids('status:5xx,429'), ['err-429', 'err-500', 'err-503'])
    t.same(await ids('status:400..499'), ['err-429', 'nov1-1'])
    t.same(await ids('status:none'), ['down-1'])
    t.same(await ids('-status:2xx'), ['down-1', 'err-429', 'err-500', 'err-503', 'nov1-1'], 'no response is not a 2xx')
    t.same(await ids('flag:connection_refused OR flag:not_found'), ['down-1', 'nov1-1'])
    t.same(await ids('route:model (status:>=500 OR flag:not_found)'), ['err-500', 'err-503', 'nov1-1'])
    t.same(await ids('ttfb:>=140ms'), ['slow-1'])
    t.same(await ids('"NOT REACHABLE"'), ['down-1'], 'free text over the cause')
    t.same(await ids('cause:"/v1 suffix"'), ['nov1-1'])
    t.same(await ids('path:/chat'), ['nov1-1'], 'path prefix')
    t.same(await ids('cid:ok-1 OR cid:ok-2'), ['ok-1', 'ok-2'])
    t.same(await ids('since:15m -route:model'), ['down-1'])
    t.same(await ids('until:2000-01-01'), [])
    t.same(await ids('status:5xx', '&route=down'), [], 'ANDed with the other parameters')
    t.same(await ids('-status:5xx', '&status=4xx'), ['err-429', 'nov1-1'])
    t.same(await ids(''), ['down-1', 'err-429', 'err-500', 'err-503', 'nov1-1', 'ok-1', 'ok-2', 'slow-1'], 'an empty query selects all')
  })

  t.test('a bad query is 400 invalid_query with the column', async (t) => {
    const r = await get<{ error: string, message: string, column: number }>(`/exchanges?q=${encodeURIComponent('flag:timeout stauts:5xx')}`)
    t.equal(r.status, 400)
    t.same(r.body, { error: 'invalid_query', message: "unknown field 'stauts' at column 14 (did you mean status?)", column: 14 })
    for (const path of ['/summary', '/export', '/stream', '/exchanges']) {
      const bad = await get<{ error: string, column: number }>(`${path}?q=${encodeURIComponent('(status:5xx')}`)
      t.equal(bad.status, 400, `${path}: 400`)
      t.equal(bad.body.error, 'invalid_query')
      t.equal(bad.body.column, 1)
    }
    const long = await get<{ error: string, column: number }>(`/exchanges?q=${'a'.repeat(1001)}`)
    t.same([long.status, long.body.error, long.body.column], [400, 'invalid_query', 1001])
    const res = await request(`${api}/exchanges?q=status:5xx`, { method: 'DELETE' })
    t.equal(res.statusCode, 200, 'a query is enough of a filter to purge with')
    t.same(JSON.parse(await res.body.text()), { removed: 2 })
    t.same(await ids('status:5xx'), [])
  })

  t.test('GET /api/summary?q= and the OpenAPI document', async (t) => {
    const s = await get<Summary>(`/summary?q=${encodeURIComponent('since:15m status:4xx')}`)
    t.equal(s.status, 200)
    t.equal(s.body.total, 2)
    t.ok(s.body.since !== null, "the query's since is the summary's")
    const doc = await get<{ paths: Record<string, { get?: { parameters?: Array<{ name: string }> } }> }>('/openapi.json')
    t.ok(doc.body.paths['/api/exchanges']?.get?.parameters?.some((p) => p.name === 'q'), 'q is documented')
  })

  t.test('GET /api/stream?q= filters the live tail in memory', async (t) => {
    // A plain socket, destroyed at the end: the proxy must not keep a tail open until it stalls.
    let text = ''
    const req = httpGet(`${api}/stream?q=${encodeURIComponent('status:5xx OR flag:connection_refused')}`)
    t.teardown(() => req.destroy())
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve)
      req.once('error', reject)
    })
    t.equal(res.statusCode, 200)
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event: ${text}`)), 10_000)
      res.on('data', (c: Buffer) => {
        text += c.toString()
        if (text.includes('"tail-down"')) {
          clearTimeout(timer)
          resolve()
        }
      })
      res.on('error', () => {})
    })
    await send('model', '/v1/chat/completions', 'tail-ok')
    await send('model', '/v1/chat/completions', 'tail-500', 'status:500')
    await send('down', '/v1/chat/completions', 'tail-down')
    await seen
    req.destroy()
    const events = [...text.matchAll(/"correlation_id":"([^"]+)"/g)].map((m) => m[1])
    t.same(events, ['tail-500', 'tail-down'], 'only the matching exchanges, in order')
  })

  t.test("CLI: failures '<query>'", async (t) => {
    const admin = ['--admin', h.adminUrl]
    const json = await cli(['failures', 'status:4xx OR flag:connection_refused', ...admin, '--json'])
    t.equal(json.code, 0, json.stderr)
    t.same((JSON.parse(json.stdout) as Exchange[]).map((e) => e.correlation_id).sort(), ['down-1', 'err-429', 'nov1-1', 'tail-down'])
    // A leading '-' term is the query's, not an option; flags AND with it.
    const negated = await cli(['failures', '-flag:connection_refused', '--route', 'model', ...admin, '--json'])
    t.equal(negated.code, 0, negated.stderr)
    t.same((JSON.parse(negated.stdout) as Exchange[]).map((e) => e.correlation_id).sort(), ['err-429', 'nov1-1', 'tail-500'])
    // A flag in the query replaces the default set of failure flags: slow is not a failure flag.
    const table = await cli(['failures', 'ttfb:>=140ms', ...admin])
    t.equal(table.code, 0, table.stderr)
    t.match(table.stdout, /No failures/, 'without a flag in the query, failures are still failures')
    const bad = await cli(['failures', 'flag:timeout stauts:5xx', ...admin])
    t.equal(bad.code, 2)
    t.match(bad.stderr, "invalid query: unknown field 'stauts' at column 14 (did you mean status?)\n  flag:timeout stauts:5xx\n               ^\n")
  })

  t.test('CLI: the query on the store file, once the proxy stopped', async (t) => {
    await h.close()
    const r = await cli(['failures', 'cause:"not reachable"', '--db', h.dbPath, '--json'])
    t.equal(r.code, 0, r.stderr)
    t.same((JSON.parse(r.stdout) as Exchange[]).map((e) => e.correlation_id).sort(), ['down-1', 'tail-down'])
    const summary = await cli(['summary', 'route:down', '--db', h.dbPath, '--json'])
    t.equal(summary.code, 0, summary.stderr)
    t.equal((JSON.parse(summary.stdout) as Summary).total, 2)
  })
})
