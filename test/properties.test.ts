/**
 * Property-based tests (fast-check): redaction never lets a planted secret through, always
 * yields valid JSON and is idempotent; the flag classifier is total; the filter parser never
 * throws anything but its own error; the admin API answers nonsense with 400, never 500.
 */
import fc from 'fast-check'
import t from 'tap'
import { request } from 'undici'
import { FILTERED, redactJson, redactQuery, scrubText } from '../src/capture/redact.js'
import { buildRuleSet } from '../src/capture/redact-rules.js'
import { classify } from '../src/diagnosis/classify.js'
import { ALL_FLAGS } from '../src/diagnosis/flags.js'
import { FilterParamError, toFilter } from '../src/store/filter-params.js'
import { parseTimeBound } from '../src/store/time.js'
import { startHarness } from './helpers/proxy-harness.js'

const RUNS = 300
const rules = buildRuleSet(false)
const verboseRules = buildRuleSet(true)

/** Secrets in the shapes they take in Duo traffic. */
const secretArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{20,30}$/).map((s) => `glpat-${s}`),
  fc.stringMatching(/^[A-Za-z0-9_-]{20,40}$/).map((s) => `sk-${s}`),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{10,20}$/), fc.stringMatching(/^[A-Za-z0-9_-]{10,40}$/), fc.stringMatching(/^[A-Za-z0-9_-]{10,40}$/)).map(([a, b, c]) => `eyJ${a}.${b}.${c}`),
  fc.stringMatching(/^[A-Z0-9]{16}$/).map((s) => `AKIA${s}`)
)
/** Keys GitLab filters whatever their value. */
const secretKeyArb = fc.constantFrom('private_token', 'access_token', 'password', 'client_secret', 'api_key', 'model_api_key', 'jwt', 'certificate', 'encrypted_key', 'otp_attempt')

/** A JSON document with secrets planted under secret keys and inside free text. */
const plantedArb = fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.tuple(secretKeyArb, secretArb), { minLength: 1, maxLength: 4 }), secretArb, fc.string())
  .map(([base, underKeys, inText, prose]) => {
    const doc: Record<string, unknown> = { data: base, note_text: `${prose} ${inText} ${prose}`, nested: { deeper: [{ msg: `Bearer ${inText}` }] } }
    for (const [k, v] of underKeys) doc[k] = v
    return { doc, secrets: [...underKeys.map(([, v]) => v), inText] }
  })

t.test('redaction: no planted secret survives, the output is JSON, redacting twice changes nothing', async (t) => {
  for (const rs of [rules, verboseRules]) {
    fc.assert(fc.property(plantedArb, ({ doc, secrets }) => {
      const once = redactJson(doc, rs)
      const text = JSON.stringify(once)
      for (const s of secrets) if (text.includes(s)) return false
      if (JSON.stringify(JSON.parse(text)) !== text) return false
      return JSON.stringify(redactJson(once, rs)) === text
    }), { numRuns: RUNS })
  }
  t.pass(`${RUNS * 2} documents`)
})

t.test('redaction of arbitrary JSON never throws and keeps non-secret structure', async (t) => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
    const out = redactJson(v, rules)
    JSON.parse(JSON.stringify(out))
    return Array.isArray(v) === Array.isArray(out)
  }), { numRuns: RUNS })
  t.pass()
})

t.test('scrubText removes every token shape and is idempotent', async (t) => {
  fc.assert(fc.property(fc.string(), secretArb, fc.string(), (a, secret, b) => {
    const once = scrubText(`${a}${a.length > 0 ? ' ' : ''}${secret} ${b}`)
    return !once.includes(secret) && scrubText(once) === once
  }), { numRuns: RUNS })
  t.pass()
})

t.test('query strings: secret parameters filtered, the rest kept', async (t) => {
  fc.assert(fc.property(secretKeyArb, secretArb, fc.stringMatching(/^[a-z]{1,8}$/), (key, secret, other) => {
    const out = redactQuery(`${key}=${encodeURIComponent(secret)}&page=${other}`, rules)
    return !out.includes(secret) && out.includes(`${key}=${FILTERED}`) && out.includes(`page=${other}`)
  }), { numRuns: RUNS })
  t.pass()
})

t.test('the flag classifier is total', async (t) => {
  const codes = fc.oneof(fc.constantFrom('ECONNREFUSED', 'ECONNRESET', 'UND_ERR_HEADERS_TIMEOUT', 'CERT_HAS_EXPIRED', 'ENOTFOUND', 'DDP_CLIENT_ABORTED'), fc.string())
  fc.assert(fc.property(fc.record({
    status: fc.option(fc.integer({ min: 0, max: 999 })),
    failureCode: fc.option(codes),
    failureAfterHeaders: fc.boolean(),
    proxyAnsweredFlag: fc.option(fc.constantFrom('request_rejected', 'connection_refused')),
    clientAborted: fc.boolean(),
    streamComplete: fc.option(fc.boolean()),
    streamError: fc.boolean()
  }), (input) => {
    const flags = classify(input)
    return Array.isArray(flags) && flags.every((f) => ALL_FLAGS.includes(f)) && new Set(flags).size === flags.length
  }), { numRuns: RUNS * 3 })
  t.pass()
})

t.test('the filter parser never throws anything but FilterParamError', async (t) => {
  const str = fc.option(fc.string(), { nil: undefined })
  fc.assert(fc.property(fc.record({ route: str, method: str, path: str, status: str, flag: fc.option(fc.array(fc.string()), { nil: undefined }), feature: str, correlation_id: str, since: str, until: str, min_duration_ms: fc.option(fc.double(), { nil: undefined }) }), (q) => {
    try {
      toFilter(q)
      return true
    } catch (err) {
      return err instanceof FilterParamError
    }
  }), { numRuns: RUNS * 3 })
  fc.assert(fc.property(fc.string(), (s) => {
    const v = parseTimeBound(s)
    return v === null || Number.isFinite(v)
  }), { numRuns: RUNS })
  t.pass()
})

t.test('admin API: random query strings get 200 or 400, never 500', async (t) => {
  const h = await startHarness({ routes: [{ name: 'gw', upstream: 'http://127.0.0.1:9' }] })
  t.teardown(() => h.close())
  const param = fc.constantFrom('route', 'method', 'path', 'status', 'flag', 'feature', 'correlation_id', 'since', 'until', 'min_duration_ms', 'limit', 'cursor', 'format', 'all', 'x')
  const value = fc.oneof(fc.string(), fc.stringMatching(/^[0-9]{1,5}$/), fc.constantFrom('4xx', '15m', '-1', 'null', '[]', '%00', '../../etc', "' OR 1=1 --", 'NaN', '1e309'))
  const statuses = new Set<number>()
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(param, value), { maxLength: 5 }), fc.constantFrom('/api/exchanges', '/api/summary', '/api/export', '/api/stream?x=1&', '/api/exchanges/'), async (pairs, path) => {
    const q = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')
    const url = path.endsWith('/') ? `${h.adminUrl}${path}${encodeURIComponent(pairs[0]?.[1] ?? 'x')}` : `${h.adminUrl}${path}${path.includes('?') ? '' : '?'}${q}`
    const res = await request(url, { bodyTimeout: 2000, headersTimeout: 2000 })
    statuses.add(res.statusCode)
    if (res.headers['content-type']?.toString().startsWith('text/event-stream')) res.body.destroy()
    else await res.body.text()
    return res.statusCode < 500
  }), { numRuns: 200 })
  t.ok(statuses.has(400), `nonsense was refused (${[...statuses].join(', ')})`)
})
