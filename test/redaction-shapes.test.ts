/**
 * Issue 15, item 4, unit by unit: token shapes behind escapes and glued to what precedes them
 * (scrubText), the same shapes in the secret audit (findTokens) and in `bundle`, nameless
 * cookies, filtered values collected for echo filtering, JSON cut at the sample bound
 * (redactJsonText), and echo filtering of the request's filtered values in response text.
 */
import { join } from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { findTokens } from '../src/audit/scan.js'
import { decodeEscapes } from '../src/capture/decode.js'
import { EchoFilter } from '../src/capture/echo.js'
import { redactJsonText } from '../src/capture/json-text.js'
import { FILTERED, redactHeaders, redactJson, redactQuery, scrubText } from '../src/capture/redact.js'
import { buildHeaderRuleSet, buildRuleSet } from '../src/capture/redact-rules.js'
import { openStore } from '../src/store/open.js'
import { runCommand } from './helpers/command.js'
import { exchange } from './helpers/stores.js'

const BODY = 'Q7xK2mP9vL4nR8tW3yZ6bC1d'
const PAT = `glpat-${BODY}`
const SK = `sk-${BODY}`
const JWT = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.${BODY}`

/** The shapes that leaked past `\b`-anchored patterns, and a few more encodings of them. */
const LEAK_SHAPES: Array<[string, string]> = [
  ['percent-encoded = before a PAT', `/api/v4/x%3D${PAT}/y`],
  ['PAT after x_', `x_${PAT}`],
  ['PAT after a digit', `ref1${PAT}`],
  ['percent-encoded = before sk-', `q=%3D${SK}`],
  ['double percent-encoding', `q=x%253D${SK}`],
  ['JSON \\u escape', `\\u0067lpat-${BODY}`],
  ['JSON \\u escape, escaped again', `{"a":"\\\\u0067lpat-${BODY}"}`],
  ['every character percent-encoded', `%67%6c%70%61%74%2d${BODY}`],
  ['one letter percent-encoded', `gl%70at-${BODY}`],
  ['HTML character reference', `&#103;lpat-${BODY}`],
  ['percent-encoded backslash-u', `/x/%5Cu0067lpat-${BODY}`],
  ['JWT glued to a letter', `tokenX${JWT}`],
  ['JWT after percent-encoded =', `jwt%3D${JWT}`],
  ['bearer, percent-encoded space', `Authorization: Bearer%20${BODY}`],
  ['AWS key after =', 'k=AKIAQ7XK2MP9VL4NR8TW'],
  ['AWS key after percent-encoded =', 'k%3DAKIAQ7XK2MP9VL4NR8TW'],
  ['a percent escape eating the first letter', `x%6${JWT}`]
]

/** Text that merely looks a little like a token: it must survive. */
const INNOCENT = [
  'risk-assessment-document-final-version',
  'task-management-dashboard-v2-2024-release',
  'desk-reservation-system-backend-service',
  'ask-question-about-something-long-enough',
  'Use 50% of the budget; 100%25 means all',
  'C:\\users\\dev\\source\\repos',
  'glpat-short',
  'sk-tooShort12',
  'the value \\u00e9t\\u00e9 is French',
  'AKIAXXXXXXXXXXXXXXXX1',
  'max_tokens=256&temperature=0.2'
]

t.test('scrubText: escaped and glued tokens are filtered, the text around them stays', async (t) => {
  for (const [what, text] of LEAK_SHAPES) {
    const out = scrubText(text)
    t.notOk(out.includes(BODY) || out.includes('Q7XK2MP9VL4NR8TW'), `${what}: ${out}`)
    t.ok(out.includes(FILTERED), `${what}: marked`)
    t.equal(scrubText(out), out, `${what}: idempotent`)
    t.same(findTokens(out), [], `${what}: the audit finds nothing left`)
  }
  t.equal(scrubText(`/api/v4/x%3D${PAT}/y`), '/api/v4/x%3D[FILTERED]/y', 'only the token\'s own span goes')
  t.equal(scrubText(`x_${PAT}`), 'x_[FILTERED]')
  t.equal(scrubText(`q=%3D${SK}&b=1`), 'q=%3D[FILTERED]&b=1')
  t.equal(scrubText(`say \\u0067lpat-${BODY} now`), 'say [FILTERED] now', 'the whole escape goes with the token')
  t.equal(scrubText(`Authorization: Bearer%20${BODY}`), 'Authorization: Bearer%20[FILTERED]', 'the scheme stays readable')
})

t.test('scrubText: no false positives on words and ordinary escapes', async (t) => {
  for (const text of INNOCENT) t.equal(scrubText(text), text, text)
  for (const text of INNOCENT) t.same(findTokens(text), [], `audit: ${text}`)
})

t.test('scrubText: a secret in any mix of encodings never survives (property)', async (t) => {
  const secretArb = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9_-]{20,30}$/).map((s) => `glpat-${s}`),
    fc.stringMatching(/^[A-Za-z0-9_-]{20,40}$/).map((s) => `sk-${s}`),
    fc.stringMatching(/^[A-Z0-9]{16}$/).map((s) => `AKIA${s}`)
  )
  // Each character of the secret as itself, %XX, %25XX (double), \uXXXX or \\uXXXX.
  const encodeArb = (s: string): fc.Arbitrary<string> => fc.array(fc.integer({ min: 0, max: 4 }), { minLength: s.length, maxLength: s.length }).map((how) => [...s].map((ch, i) => {
    const hex = ch.charCodeAt(0).toString(16).padStart(2, '0')
    switch (how[i]) {
      case 1: return `%${hex}`
      case 2: return `%25${hex}`
      case 3: return `\\u00${hex}`
      case 4: return `\\\\u00${hex}`
      default: return ch
    }
  }).join(''))
  const glue = fc.constantFrom('', '=', '%3D', 'x_', '/', '"', '\\u003d')
  fc.assert(fc.property(fc.string(), glue, secretArb.chain((s) => fc.tuple(fc.constant(s), encodeArb(s))), fc.string(), (a, g, [secret, encoded], b) => {
    const out = scrubText(`${a} ${g}${encoded} ${b}`)
    const decoded = decodeEscapes(out).text
    return !decoded.includes(secret) && findTokens(out).length === 0
  }), { numRuns: 500 })
  t.pass('500 encoded secrets')
})

t.test('findTokens: the audit sees the encoded shapes', async (t) => {
  for (const [what, text] of LEAK_SHAPES) t.ok(findTokens(text).length > 0, what)
  t.same(findTokens(`{"path":"/x%3D${PAT}"}`).map((f) => f.kind), ['gitlab-token'])
  t.same(findTokens(`"note":"\\\\u0067lpat-${BODY}"`).map((f) => f.kind), ['gitlab-token'], 'a \\u escape inside stored JSON')
  t.same(findTokens(`k=%253Dsk-${BODY}`).map((f) => f.kind), ['api-key'])
  t.same(findTokens(`x_${PAT}`)[0]?.preview, 'glpat-…', 'the preview shows only the prefix')
})

t.test('cookies: a pair without a name is a value, fingerprinted like the others', async (t) => {
  const rules = buildHeaderRuleSet()
  const collected: string[] = []
  const h = redactHeaders([
    'Cookie', `a=x; ${PAT}; opaque-session-value-1234;; ${PAT}=1`,
    'Set-Cookie', `${PAT}; Path=/; HttpOnly`,
    'Set-Cookie', `sid=abc123; Path=/x/${PAT}`,
    'Authorization', `${PAT} trailing`,
    'Authorization', 'Bearer abcdefghijklmnop'
  ], rules, (v) => collected.push(v))
  t.match(h.cookie, /^a=\[FILTERED sha256:[0-9a-f]{8}\]; \[FILTERED sha256:[0-9a-f]{8}\]; \[FILTERED sha256:[0-9a-f]{8}\]; ; \[FILTERED\]=\[FILTERED sha256:[0-9a-f]{8}\]$/)
  const [nameless, named] = h['set-cookie'] as string[]
  t.match(nameless, /^\[FILTERED sha256:[0-9a-f]{8}\]; Path=\/; HttpOnly$/)
  t.match(named, /^sid=\[FILTERED sha256:[0-9a-f]{8}\]; Path=\/x\/\[FILTERED\]$/)
  const [tokenScheme, bearer] = h.authorization as string[]
  t.match(tokenScheme, /^\[FILTERED sha256:[0-9a-f]{8}\]$/, 'a token where the scheme goes is no scheme')
  t.match(bearer, /^Bearer \[FILTERED sha256:[0-9a-f]{8}\]$/)
  t.notOk(JSON.stringify(h).includes(BODY))
  t.ok(collected.includes(PAT) && collected.includes('opaque-session-value-1234') && collected.includes('abcdefghijklmnop'), 'credential values collected for echo filtering')
})

t.test('queries and JSON: keys scrubbed too, filtered values collected', async (t) => {
  const rules = buildRuleSet(false)
  const q: string[] = []
  t.equal(redactQuery(`${PAT}=1&prompt=hello%20world%20prompt&ref=x%253D${SK}`, rules, (v) => q.push(v)), '[FILTERED]=1&prompt=[FILTERED]&ref=x%253D[FILTERED]')
  t.ok(q.includes('hello world prompt'), 'the filtered query value')
  const j: string[] = []
  const out = redactJson({ [PAT]: 1, content_above_cursor: 'def secret_function(): pass', nested: { password: ['hunter2hunter2', 42_424_242] }, note_ref: `x_${PAT}` }, rules, { sink: (v) => j.push(v) })
  t.same(out, { [FILTERED]: 1, content_above_cursor: FILTERED, nested: { password: FILTERED }, note_ref: `x_${FILTERED}` })
  for (const v of ['def secret_function(): pass', 'hunter2hunter2', '42424242', PAT]) t.ok(j.includes(v), `collected ${v.slice(0, 8)}…`)
})

t.test('redactJsonText: the rules on JSON no parser read', async (t) => {
  const rules = buildRuleSet(false)
  const collected: string[] = []
  const text = '{"detail":[{"loc":["body","prompt"],"msg":"bad \\"content\\": x","input":{"content_above_cursor":"def f(): pass","n":1}}],' +
    '"model":"m","messages":[{"role":"user","content":"write me a \\"sorting\\" function\\n"}],"content_above_cursor":"cut inside the val'
  const out = redactJsonText(text, rules, (v) => collected.push(v))
  t.equal(out, '{"detail":[{"loc":["body","prompt"],"msg":"bad \\"content\\": x","input":"[FILTERED]"}],' +
    '"model":"m","messages":[{"role":"user","content":"[FILTERED]"}],"content_above_cursor":"[FILTERED]"')
  t.same(collected, ['def f(): pass', 'write me a "sorting" function\n', 'cut inside the val'], 'values (not keys) collected, unescaped')
  t.equal(redactJsonText('{"variables":{"a":[1,2,{"b":"c"', rules), '{"variables":"[FILTERED]"', 'a cut object filtered to the end')
  t.equal(redactJsonText('{"prompt":null,"text":"","ok":true}', rules), '{"prompt":null,"text":"","ok":true}', 'empty values stay, as redactJson leaves them')
  t.equal(redactJsonText('{"content":"a\\u00', rules), '{"content":"[FILTERED]"', 'cut inside an escape')
  t.equal(redactJsonText('plain text, no JSON', rules), 'plain text, no JSON')
  t.equal(redactJsonText('{"password" : 12345678, "x": "y"}', rules), '{"password" : "[FILTERED]", "x": "y"}')
})

t.test('echo filtering: the request\'s filtered values, in the forms a server writes them back', async (t) => {
  const prompt = 'PROMPT-MARKER-7f3a9c def handler(event):\n    """Summarise the customer\'s "ticket" — ünïcode"""\n    return compute(event)  # the end'
  const echo = new EchoFilter()
  echo.add(prompt)
  echo.add('hunter2hunter2')
  echo.add('short')
  echo.add(' '.repeat(40) + 'x')
  const check = (what: string, text: string, gone: string[]): void => {
    const out = echo.filter(text)
    for (const g of gone) t.notOk(out.includes(g), `${what}: "${g.slice(0, 20)}" filtered`)
    t.ok(out.includes(FILTERED), `${what}: marked`)
  }
  check('as sent', `error: ${prompt} end`, ['PROMPT-MARKER', 'compute(event)'])
  check('JSON-escaped', `{"detail":${JSON.stringify(prompt)}}`, ['PROMPT-MARKER', 'compute(event)'])
  check('JSON-escaped twice', JSON.stringify(JSON.stringify({ detail: prompt })), ['PROMPT-MARKER', 'compute(event)'])
  check('Python repr', `{'content': '${prompt.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'}`, ['PROMPT-MARKER', 'compute(event)'])
  check('ASCII-only JSON (json.dumps)', JSON.stringify(prompt).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), ['PROMPT-MARKER', 'compute(event)'])
  check('percent-encoded', `GET /search?q=${encodeURIComponent(prompt)}`, ['PROMPT-MARKER', 'compute%28event%29'])
  check('a part of it', `got '${prompt.slice(8, 45)}'`, ['MARKER-7f3a9c def handler'])
  check('cut by a sample bound', `..."detail_at_cut":"${prompt.slice(0, 30)}`, ['PROMPT-MARKER-7f3a9c'])
  check('a short secret', 'password hunter2hunter2 rejected', ['hunter2hunter2'])
  t.equal(echo.filter('a short word and 40 spaces:' + ' '.repeat(40) + 'y'), 'a short word and 40 spaces:' + ' '.repeat(40) + 'y', 'short values and low-variety runs are not matched')
  t.equal(echo.filter('Input should be a valid dictionary'), 'Input should be a valid dictionary', 'unrelated text stays')
  t.same(echo.filterJson({ detail: [{ loc: ['body', 'prompt'], msg: `bad: ${prompt}`, n: 1 }] }), { detail: [{ loc: ['body', 'prompt'], msg: `bad: ${FILTERED}`, n: 1 }] })
  const none = new EchoFilter()
  none.add('tiny')
  t.ok(none.empty, 'nothing of 8 characters or more: nothing to look for')
  const lazy = new EchoFilter()
  let walked = 0
  lazy.defer(() => { walked++; lazy.add('deferred-value-abcdefgh') })
  t.equal(walked, 0, 'deferred collection waits')
  t.equal(lazy.filter('x deferred-value-abcdefgh y'), `x ${FILTERED} y`)
  t.equal(walked, 1, 'and runs once')
})

t.test('bundle and audit refuse a store holding an encoded token', async (t) => {
  const dir = t.testdir({})
  const db = join(dir, 'dirty.db')
  const store = await openStore(db)
  await store.insert([
    { ...exchange(), id: '000000000000000000000011', path: `/api/v4/x%3D${PAT}/files` },
    { ...exchange(), id: '000000000000000000000012', meta: { feature: 'code_completions', notes: [`ref \\u0067lpat-${BODY}`] } },
    { ...exchange(), id: '000000000000000000000013', upstream: `http://gw/x_${PAT}` }
  ])
  await store.close()
  const audit = await runCommand('audit', ['--db', db])
  t.equal(audit.code, 1, 'audit: exit 1')
  for (const id of ['000000000000000000000011', '000000000000000000000012', '000000000000000000000013']) t.match(audit.stdout, new RegExp(`${id}\\s+gitlab-token`))
  t.notOk(audit.stdout.includes(BODY), 'the audit does not print the secret')
  const out = join(dir, 'b.tar.gz')
  const bundle = await runCommand('bundle', ['--db', db, '--since', '100000h', '--out', out], { env: { DUO_DIAG_LOG__LEVEL: 'warn' } })
  t.equal(bundle.code, 1, 'bundle: refused')
  t.match(bundle.stderr, /refused: the secret audit found/)
  t.notOk(bundle.stderr.includes(BODY))
})
