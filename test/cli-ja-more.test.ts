/**
 * The rest of the CLI in Japanese (issue 17), as real processes: `replay` (its help, usage errors
 * and the side-by-side output against a real proxy and simulators, aligned by display width),
 * `demo`, `bundle` (its terminal lines Japanese, its files English for GitLab support), and query
 * and filter errors (with the column) on the command line and in the admin API's answers.
 * LANG=C keeps today's English, word for word. The query errors' codes cover every reason and hint
 * the parser gives, and English rendered from the catalog is the errors' own `message`.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stripVTControlCharacters as stripAnsi } from 'node:util'
import t, { type Test } from 'tap'
import { x as untar } from 'tar'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { displayWidth, truncate } from '../src/cli/output.js'
import { query as enQuery } from '../src/i18n/catalogs/en/query.js'
import { filterParamErrorText, queryErrorText } from '../src/i18n/query-errors.js'
import { t as tr } from '../src/i18n/translate.js'
import { FilterParamError, type FilterParams, toFilter } from '../src/store/filter-params.js'
import { parseQuery, QueryError } from '../src/store/query-language.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { runCli, type Run } from './helpers/command.js'
import { refusedPort } from './helpers/fault-servers.js'
import { assertNoEnglish, assertTablesAligned, displayColumns, env, ja, JA, JA_WAYS, jaText, pattern } from './helpers/ja-output.js'
import { startHarness } from './helpers/proxy-harness.js'

const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })
const english = (args: string[]): Promise<Run> => runCli(args, env({ LANG: 'C' }))
const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/

/** The demo takes a while (its scripted timeouts): started now, beside the other tests, and read at the end. */
const demoRun = runCli(['demo', '--once', '--admin', '127.0.0.1:0'], env({ LANG: 'ja_JP.UTF-8' }), 90_000)
/** A Japanese catalog line as a pattern, its placeholders matching anything. */
const template = (key: string): RegExp => pattern(JA.get(key) ?? JA.get(`${key}_other`)!)
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

// ---------------------------------------------------------------------------------------------
// Query and filter errors: codes, the English message, Japanese.

/** The QueryError a query throws. */
function queryError (q: string): QueryError {
  try {
    parseQuery(q)
  } catch (err) {
    if (err instanceof QueryError) return err
    throw err
  }
  throw new Error(`${JSON.stringify(q)} parsed`)
}

t.test('query errors: a code for every reason and hint, the English message from the catalog, Japanese with the column', async (t) => {
  const queries = [
    'a'.repeat(1001), 'a\u0001b', 'a \uD800 b', 'a)', 'a - b', '"a"b', 'a or b', 'cause:"x', 'a OR', 'a AND', 'a NOT', '-)', 'OR a',
    ')', '(', `${'('.repeat(17)}a${')'.repeat(17)}`, '()', '(a', Array.from({ length: 51 }, (_, i) => `t${i}`).join(' '),
    'stauts:5xx', 'http://x', 'status:', 'duration:>', 'flag:timeout,', 'method:G3T', 'status:abc', 'status:400..4xx', 'duration:>fast',
    'since:yesterday', 'until:2026-02-30', 'hop:gw', 'flag:timout', 'flag:zzzzzzzz', 'feature:zzzzzz', 'duration:5s', 'ttfb:5s',
    'time:2026-12-07', 'ttfb:..1s', 'ttfb:1s..', 'status:500..400'
  ]
  const reasons = new Set<string>()
  const hints = new Set<string>()
  for (const q of queries) {
    const e = queryError(q)
    reasons.add(e.reason.code)
    if (e.hint !== null) hints.add(e.hint.code)
    const shown = JSON.stringify(q.slice(0, 40))
    t.equal(queryErrorText(e, 'en'), e.message, `${shown}: the English catalog, through i18next, is the message (${e.message})`)
    const jaMessage = queryErrorText(e, 'ja')
    t.ok(jaMessage.includes(`${e.column}文字目`), `${shown}: the column in Japanese (${jaMessage})`)
    t.match(jaMessage, JAPANESE)
    t.notOk(jaMessage.includes(' at column '), `${shown}: no English frame`)
  }
  // The parser's own bug guard (unreadable) and a state the grammar never reaches (unexpectedText) aside.
  t.same(Object.keys(enQuery.reason).filter((r) => !reasons.has(r)).sort(), ['unexpectedText', 'unreadable'], 'every other reason is given')
  t.same(Object.keys(enQuery.hint).filter((h) => !hints.has(h)), [], 'every hint is given')
  // Values from the query are kept as typed.
  t.equal(queryErrorText(queryError('stauts:5xx'), 'ja'), '不明なフィールド「stauts」です(1文字目。statusのことですか?)')
  t.equal(queryError('stauts:5xx').message, "unknown field 'stauts' at column 1 (did you mean status?)", 'the English message as before')

  const bad: Array<[FilterParams, string]> = [
    [{ method: 'G3T' }, 'querystring/method must be an HTTP method'],
    [{ status: '6x' }, 'querystring/status must be a status (404) or a class (4xx)'],
    [{ cause: 'Not A Code' }, 'querystring/cause must be a diagnosis code such as model_endpoint_missing_v1'],
    [{ since: 'yesterday' }, 'querystring/since must be an ISO 8601 time or a relative duration like 15m, 2h, 7d'],
    [{ until: 'later' }, 'querystring/until must be an ISO 8601 time or a relative duration like 15m, 2h, 7d'],
    [{ min_duration_ms: -1 }, 'querystring/min_duration_ms must be a number >= 0']
  ]
  for (const [params, message] of bad) {
    let error: unknown
    try {
      toFilter(params)
    } catch (err) {
      error = err
    }
    t.ok(error instanceof FilterParamError, message)
    const e = error as FilterParamError
    t.equal(e.message, message, 'the English message as before')
    t.equal(filterParamErrorText(e, 'en'), message, 'and from the catalog')
    t.equal(filterParamErrorText(e, 'ja'), `querystring/${e.param}: ${tr('ja', `query:paramReason.${e.reason}`)}`)
  }
})

// ---------------------------------------------------------------------------------------------
// A proxy with failures to replay, bundle and query.

interface Setup {
  admin: string[]
  adminUrl: string
  dbPath: string
  model: string
  staging: string
  stagingRoute: string
  down: string
  /** A gateway-hop exchange (code completion, synthesized on replay) and a model-hop one without /v1. */
  gateway: Exchange
  noV1: Exchange
  close (): Promise<void>
}

async function setup (): Promise<Setup> {
  const model = await startModelServer()
  const production = await startAiGateway({ modelEndpoint: `${model.url}/v1` })
  const staging = await startAiGateway({ modelEndpoint: `${model.url}/v1` })
  const h = await startHarness({
    routes: [{ name: 'gitlab-aigw', upstream: production.url }, { name: 'model', upstream: model.url, hop: 'model' }, { name: 'staging', upstream: staging.url }],
    extra: { faults: { enabled: true } }
  })
  const post = async (url: string, body: string, headers: Record<string, string>): Promise<void> => {
    const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
    await res.body.text()
  }
  const code = JSON.stringify({
    current_file: { file_name: 'calc.py', content_above_cursor: 'def add(a, b):\n', content_below_cursor: '' },
    model_provider: 'litellm', model_name: 'mistral', model_identifier: `custom_openai/${DEFAULT_MODEL}`, model_endpoint: `${model.url}/v1`, prompt_version: 1
  })
  await post(`${h.url('gitlab-aigw')}/v2/code/completions?private_token=glpat-abcdefghijklmnopqrst`, code, { 'x-request-id': 'code-1', authorization: 'Bearer customer-credential-0123456789' })
  await post(`${h.url('model')}/chat/completions`, CHAT, { 'x-request-id': 'nov1-1' })
  const [gateway] = await h.exchanges('correlation_id=code-1')
  const [noV1] = await h.exchanges('correlation_id=nov1-1')
  return {
    admin: ['--admin', h.adminUrl],
    adminUrl: h.adminUrl,
    dbPath: h.dbPath,
    model: model.url,
    staging: staging.url,
    stagingRoute: h.url('staging'),
    down: `http://127.0.0.1:${await refusedPort()}`,
    gateway: gateway!,
    noV1: noV1!,
    close: async () => {
      await h.close()
      await Promise.all([model.close(), production.close(), staging.close()])
    }
  }
}

/** An exchange's diagnosis as the admin API renders it in `lang`. */
async function cause (adminUrl: string, id: string, lang: string): Promise<string> {
  const res = await request(`${adminUrl}/api/exchanges/${id}`, { headers: { 'accept-language': lang } })
  return ((await res.body.json()) as Exchange).diagnosis!.cause
}

// ---------------------------------------------------------------------------------------------
// replay.

const ROWS = ['start', 'status', 'flags', 'cause', 'ttfb', 'receive', 'chunks', 'duration', 'response']

/**
 * Each side-by-side table of a replay's output lines up by display width: every row's original
 * cell starts under the header's "original", its replay cell under "replay", two blank columns
 * before it, no wide character cut at either edge. Returns the rows by label, per block.
 */
function sideBySide (t: Test, stdout: string, lang: 'en' | 'ja', what: string): Array<Map<string, [string, string]>> {
  const say = (key: string): string => tr(lang, `cli:replay.render.${key}`)
  const labels = new Map(ROWS.map((r) => [say(`row.${r}`), r]))
  const lines = stdout.split('\n')
  const blocks: Array<Map<string, [string, string]>> = []
  for (const [i, header] of lines.entries()) {
    if (!header.startsWith('   ') || !header.includes(say('column.original')) || !header.includes(say('column.replay'))) continue
    const originalAt = displayWidth(header.slice(0, header.indexOf(say('column.original'))))
    const replayAt = displayWidth(header.slice(0, header.lastIndexOf(say('column.replay'))))
    const rows = new Map<string, [string, string]>()
    for (const line of lines.slice(i + 1)) {
      const label = line.slice(2).split(' ')[0]!
      if (!line.startsWith('  ') || !labels.has(label)) break
      const cols = displayColumns(line)
      const ok = cols.slice(2 + displayWidth(label), originalAt).every((c) => c === ' ') && cols[originalAt] !== ' ' && cols[originalAt] !== '' &&
        cols[replayAt - 2] === ' ' && cols[replayAt - 1] === ' ' && cols[replayAt] !== ' ' && cols[replayAt] !== ''
      t.ok(ok, `${what}: "${label}" lines up (original at ${originalAt}, replay at ${replayAt})\n${header}\n${line}`)
      rows.set(labels.get(label)!, [cols.slice(originalAt, replayAt).join('').trimEnd(), cols.slice(replayAt).join('')])
    }
    t.ok(rows.size >= 6, `${what}: ${rows.size} rows side by side`)
    blocks.push(rows)
  }
  t.ok(blocks.length > 0, `${what}: a side-by-side table`)
  return blocks
}

t.test('replay in Japanese: help, usage errors, the side-by-side output aligned; LANG=C as today', async (t) => {
  const s = await setup()
  t.teardown(s.close)
  const say = (key: string, params: Record<string, string | number> = {}): string => jaText(`cli:replay.${key}`, params)

  await t.test('--help and usage errors', async (t) => {
    const runs = await Promise.all(JA_WAYS.map((way) => ja(['replay', '--help'], way)))
    for (const r of runs) t.equal(r.stdout, jaText('cli:help.replay'), 'the Japanese help, however Japanese is asked for')
    assertNoEnglish(t, runs[0]!.stdout, 'replay --help')
    const en = await english(['replay', '--help'])
    t.match(en.stdout, /^Usage: duo-diag-proxy replay <exchange id> \| --correlation-id ID \| --har FILE {2}--target URL \[flags\]\n/)
    t.equal(en.stdout, tr('en', 'cli:help.replay'))

    const help = (command: string): string => jaText('cli:main.runCommandHelp', { command })
    const cases: Array<[string[], string, string]> = [
      [['replay'], say('exactlyOne'), 'give exactly one of: an exchange id, --correlation-id ID, --har FILE'],
      [['replay', 'a', 'b', '--target', s.staging], say('oneId'), 'replay takes one exchange id (or --correlation-id, or --har)'],
      [['replay', 'a'], say('needTarget'), '--target URL is required (the staging gateway or model server)'],
      [['replay', 'a', '--target', 'ftp://x'], jaText('cli:admin.notHttp', { flag: '--target', value: 'ftp://x' }), '--target: "ftp://x" is not an http(s) URL'],
      [['replay', 'a', '--target', 'nope'], say('notUrl', { flag: '--target', value: 'nope' }), '--target: "nope" is not a URL'],
      [['replay', '--har', 'x', '--db', 'y', '--target', s.staging], say('dbOrHar'), '--db and --har both name where the originals are: give one'],
      [['replay', 'a', '--target', s.staging, '--header', 'nocolon'], say('badHeader', { value: 'nocolon' }), '--header "nocolon": expected \'Name: value\''],
      [['replay', 'a', '--target', s.staging, '--timeout-ms', '5'], say('badTimeout'), '--timeout-ms: a whole number from 100 to 3600000']
    ]
    const [jaRuns, enRuns] = await Promise.all([Promise.all(cases.map(([args]) => ja(args))), Promise.all(cases.map(([args]) => english(args)))])
    for (const [i, [args, jaLine, enLine]] of cases.entries()) {
      t.equal(jaRuns[i]!.code, 2, args.join(' '))
      t.equal(jaRuns[i]!.stderr, `duo-diag-proxy replay: ${jaLine}\n${help('replay')}\n`, `ja: ${jaLine}`)
      t.equal(enRuns[i]!.stderr, `duo-diag-proxy replay: ${enLine}\nRun duo-diag-proxy replay --help for usage.\n`, `LANG=C: ${enLine}`)
    }
    const missing = await ja(['replay', '00000000000000000000', '--target', s.staging, ...s.admin])
    t.equal(missing.code, 1)
    t.equal(missing.stderr, `duo-diag-proxy replay: ${say('noExchangeId', { id: '00000000000000000000' })}\n`)
    const dir = mkdtempSync(join(tmpdir(), 'ddp-har-'))
    const har = await ja(['replay', '--har', join(dir, 'none.har'), '--target', s.staging])
    t.equal(har.code, 2)
    t.equal(har.stderr, `duo-diag-proxy replay: ${say('har.notJson', { file: join(dir, 'none.har'), error: 'ENOENT' })}\n${help('replay')}\n`)
  })

  await t.test('a synthesized gateway request, straight to staging: recorded in the originals\' store', async (t) => {
    const r = await ja(['replay', s.gateway.id, '--target', s.staging, ...s.admin])
    t.equal(r.code, 0, r.stderr)
    const [rows] = sideBySide(t, r.stdout, 'ja', 'straight to staging')
    t.same(rows?.get('status'), ['200', '200'])
    t.match(rows?.get('ttfb')?.[0], /^\d+\.\dミリ秒$/, 'milliseconds in Japanese')
    t.match(rows?.get('response')?.[1], /^\d+バイト、1チャンク$/)
    const render = (key: string, params: Record<string, string | number> = {}): string => say(`render.${key}`, params)
    const original = render('originalLine', { id: s.gateway.id, correlation: 'code-1', route: 'gitlab-aigw', time: s.gateway.started_at.replace('T', ' ') })
    t.match(r.stdout, new RegExp(`^  ${render('label.original')} +${escape(original)}$`, 'm'), `the original: ${original}`)
    t.match(r.stdout, pattern(render('body', { mode: render('mode.synthesized'), detail: say('shape.recorded', { fields: 9 }), bytes: s.gateway.request.bytes, original: s.gateway.request.bytes })))
    t.match(r.stdout, template('cli:replay.render.recordedReport'), 'no proxy recorded it: said in Japanese')
    for (const note of [say('note.synthesized', { why: say('why.notCaptured') }), say('note.filteredQuery'), say('note.droppedCredentials', { headers: 'authorization' })]) {
      t.ok(r.stdout.includes(`  ${render('note', { text: note })}\n`), `note: ${note}`)
    }
    t.ok(r.stdout.includes(`${render('summary', { total: 1, target: s.staging, answered: 1, unreached: 0 })}\n`))
    t.ok(r.stdout.includes(render('records', { id: 'replay-code-1-1', more: '' })))
    assertNoEnglish(t, r.stdout, 'replay')

    // LANG=C: today's English, laid out as before (label 9 wide, original 46 wide).
    const en = await english(['replay', s.gateway.id, '--target', s.staging, ...s.admin])
    t.equal(en.code, 0, en.stderr)
    t.notMatch(en.stdout + en.stderr, JAPANESE)
    t.ok(en.stdout.includes(`\n  ${' '.repeat(9)} ${'original'.padEnd(46)}  replay (as recorded in the originals' store)\n  status    ${'200'.padEnd(46)}  200\n`), 'the English header and status rows')
    t.match(en.stdout, /^ {2}original {2}[0-9a-f]{24} {2}correlation code-1 {2}route gitlab-aigw {2}\d{4}-/m)
    t.match(en.stdout, /^ {2}body {6}synthesized: the original's recorded shape \(9 fields\), \d+ bytes \(original \d+\)$/m)
    t.match(en.stdout, /^ {2}response {2}\d+ bytes {36,}\d+ bytes, 1 chunk$/m)
    t.match(en.stdout, /^ {2}note: body synthesized: bodies were not captured \(verbose capture off\)$/m)
    t.match(en.stdout, /^1 replayed to http:\/\/127\.0\.0\.1:\d+: 1 answered, 0 not answered\.$/m)
    sideBySide(t, en.stdout, 'en', 'LANG=C')
  })

  await t.test('through the staging proxy with --timing: every row, aligned', async (t) => {
    const r = await ja(['replay', s.gateway.id, '--target', s.stagingRoute, '--timing', ...s.admin])
    t.equal(r.code, 0, r.stderr)
    const [rows] = sideBySide(t, r.stdout, 'ja', '--timing')
    t.same([...rows!.keys()], ROWS, 'start, receive and chunks too')
    t.match(rows?.get('start'), [/^\+0ミリ秒$/, /^\+\d+ミリ秒$/])
    t.equal(rows?.get('chunks')?.[0], say('render.notRecorded'))
    t.ok(r.stdout.includes(say('render.sourceProxy')), 'recorded by the staging proxy')
    t.ok(r.stdout.includes(say('render.timing')))
    t.match(r.stdout, template('cli:replay.note.delayed'), 'the timing rule, in Japanese')
    assertNoEnglish(t, r.stdout, 'replay --timing')
  })

  await t.test('a model request without /v1: the cause in Japanese on both sides; an unreachable target', async (t) => {
    const r = await ja(['replay', s.noV1.id, '--target', s.model, ...s.admin, '--json'])
    t.equal(r.code, 0, r.stderr)
    const json = JSON.parse(r.stdout) as { replays: Array<{ notes: string[], body: { detail: string }, replay: { cause: string, recorded_id: string } }> }
    const jaCause = await cause(s.adminUrl, s.noV1.id, 'ja')
    t.equal(jaCause, jaText('diagnosis:cause.model_endpoint_missing_v1'))
    t.equal(json.replays[0]!.replay.cause, jaCause, 'the recorded replay\'s cause, as the API renders it in Japanese')
    t.equal(await cause(s.adminUrl, json.replays[0]!.replay.recorded_id, 'en'), await cause(s.adminUrl, s.noV1.id, 'en'), 'stored once, English on request')
    t.same(json.replays[0]!.notes, [say('note.synthesized', { why: say('why.notCaptured') })], '--json: the notes in the language asked for')

    const table = await ja(['replay', s.noV1.id, '--target', s.model, ...s.admin])
    const [rows] = sideBySide(t, table.stdout, 'ja', 'model')
    t.same(rows?.get('cause'), [truncate(jaCause, 46), jaCause], 'the Japanese cause on both sides (the original\'s cut at 46 display columns, whole characters)')
    t.same(rows?.get('status'), ['404', '404'])

    const down = await ja(['replay', s.gateway.id, '--target', s.down, ...s.admin])
    t.equal(down.code, 1)
    t.equal(down.stderr, `duo-diag-proxy replay: ${say('notAnswered', { unreached: 1, total: 1, target: s.down, code: 'ECONNREFUSED' })}\n`)
    const [downRows] = sideBySide(t, down.stdout, 'ja', 'unreachable')
    t.equal(downRows?.get('status')?.[1], jaText('cli:trace.noResponse'))
    t.match(down.stdout, new RegExp(`^  ${say('render.label.error')} +ECONNREFUSED: `, 'm'))
    assertNoEnglish(t, down.stdout + down.stderr, 'unreachable')
    const enDown = await english(['replay', s.gateway.id, '--target', s.down, ...s.admin])
    t.match(enDown.stderr, /^duo-diag-proxy replay: 1 of 1 not answered: http:\/\/127\.0\.0\.1:\d+ could not be reached \(ECONNREFUSED\)\n$/)
    t.match(enDown.stdout, /^ {2}error {5}ECONNREFUSED: /m)
  })
})

// ---------------------------------------------------------------------------------------------
// Query and filter errors on the command line and in the API.

t.test('a bad query or filter: Japanese with the column on the command line and from the API; English as today', async (t) => {
  const s = await setup()
  t.teardown(s.close)
  const help = jaText('cli:main.runCommandHelp', { command: 'failures' })

  const [bad, en, typo, since, enSince, enDuration, bundleSince] = await Promise.all([
    ja(['failures', 'cause:"x', ...s.admin]),
    english(['failures', 'cause:"x', ...s.admin]),
    ja(['summary', 'flag:timeout stauts:5xx', ...s.admin]),
    ja(['failures', '--since', 'yesterday', ...s.admin]),
    english(['failures', '--since', 'yesterday', ...s.admin]),
    english(['failures', '--min-duration-ms', 'abc', ...s.admin]),
    ja(['bundle', '--since', 'x', ...s.admin])
  ])
  t.equal(bad.code, 2)
  const reason = jaText('query:atHint', { reason: jaText('query:reason.unterminatedQuote'), column: 7, hint: jaText('query:hint.closeQuote') })
  t.equal(reason, '引用符が閉じられていません(7文字目。"で閉じてください)')
  t.equal(bad.stderr, `duo-diag-proxy failures: ${jaText('cli:filter.invalidQuery', { message: reason })}\n  cause:"x\n        ^\n${help}\n`, 'the reason, the column and the caret')
  t.equal(en.stderr, 'duo-diag-proxy failures: invalid query: unterminated quote at column 7 (close it with ")\n  cause:"x\n        ^\nRun duo-diag-proxy failures --help for usage.\n')

  t.equal(typo.stderr, `duo-diag-proxy summary: 無効なクエリです: 不明なフィールド「stauts」です(14文字目。statusのことですか?)\n  flag:timeout stauts:5xx\n               ^\n${jaText('cli:main.runCommandHelp', { command: 'summary' })}\n`)

  t.equal(since.stderr, `duo-diag-proxy failures: --since: ${jaText('query:paramReason.time')}\n${help}\n`)
  t.equal(enSince.stderr, 'duo-diag-proxy failures: --since must be an ISO 8601 time or a relative duration like 15m, 2h, 7d\nRun duo-diag-proxy failures --help for usage.\n')
  t.equal(enDuration.stderr, 'duo-diag-proxy failures: --min-duration-ms must be a number >= 0\nRun duo-diag-proxy failures --help for usage.\n', 'the option as typed')
  t.equal(bundleSince.stderr, `duo-diag-proxy bundle: --since: ${jaText('query:paramReason.time')}\n${jaText('cli:main.runCommandHelp', { command: 'bundle' })}\n`)
  assertNoEnglish(t, bad.stderr + typo.stderr + since.stderr + bundleSince.stderr, 'query errors')

  // The admin API: the message in the reader's language; error code and column as they were.
  const api = async (query: string, headers: Record<string, string> = {}): Promise<{ status: number, body: Record<string, unknown> }> => {
    const res = await request(`${s.adminUrl}/api/exchanges?${query}`, { headers })
    return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> }
  }
  const q = `q=${encodeURIComponent('flag:timeout stauts:5xx')}`
  t.same(await api(q), { status: 400, body: { error: 'invalid_query', message: "unknown field 'stauts' at column 14 (did you mean status?)", column: 14 } }, 'English by default, as before')
  t.same(await api(q, { 'accept-language': 'ja' }), { status: 400, body: { error: 'invalid_query', message: '不明なフィールド「stauts」です(14文字目。statusのことですか?)', column: 14 } })
  t.same(await api(`${q}&lang=ja`), await api(q, { 'accept-language': 'ja' }), '?lang=ja too')
  t.same(await api('since=zz&lang=ja'), { status: 400, body: { error: 'DDP_BAD_PARAMETER', message: `querystring/since: ${jaText('query:paramReason.time')}` } })
  t.same(await api('since=zz'), { status: 400, body: { error: 'DDP_BAD_PARAMETER', message: 'querystring/since must be an ISO 8601 time or a relative duration like 15m, 2h, 7d' } })
})

// ---------------------------------------------------------------------------------------------
// bundle.

t.test('bundle in Japanese: its terminal lines Japanese, its files English (for GitLab support)', async (t) => {
  const s = await setup()
  t.teardown(s.close)
  const dir = mkdtempSync(join(tmpdir(), 'ddp-bundle-ja-'))
  const say = (key: string, params: Record<string, string | number> = {}): string => jaText(`cli:bundle.${key}`, params)

  const out = join(dir, 'db.tar.gz')
  const fromApi = join(dir, 'api.tar.gz')
  const [r, jsonRun, a, unreachable, en] = await Promise.all([
    ja(['bundle', '--db', s.dbPath, '--out', out]),
    ja(['bundle', '--db', s.dbPath, '--out', join(dir, 'db2.tar.gz'), '--json']),
    ja(['bundle', ...s.admin, '--out', fromApi]),
    ja(['bundle', '--admin', s.down, '--out', join(dir, 'x.tar.gz')]),
    english(['bundle', '--db', s.dbPath, '--out', join(dir, 'en.tar.gz')])
  ])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, template('cli:bundle.wrote'), 'what was written, in Japanese')
  t.ok(r.stderr.startsWith(`${out}を書き込みました(やり取り2件、ファイル8個、`))
  const lines = r.stdout.trimEnd().split('\n')
  t.equal(lines[0], say('report', { exchanges: 2, since: '24h', from: s.dbPath }))
  const why = say('omit.metricsFromDb')
  t.ok(lines.includes(`  ${'metrics.txt'.padEnd(18)} ${say('omitted', { why })}`), `not included, and why: ${why}`)
  t.equal(lines.at(-1), say('audited', { files: 8 }))
  assertNoEnglish(t, r.stdout + r.stderr, 'bundle')

  // The archive: README.txt says it in English.
  await untar({ file: out, cwd: dir })
  const readme = readFileSync(join(dir, 'db', 'README.txt'), 'utf8')
  t.match(readme, /^ {2}metrics\.txt {8}not included: made from a store file \(--db\): metrics live in a running proxy \(GET \/metrics on its admin API\)$/m)
  t.notMatch(readme, JAPANESE, 'README.txt: English')
  const json = JSON.parse(jsonRun.stdout) as { omitted: Record<string, string> }
  t.same(json.omitted, { 'metrics.txt': why }, '--json: the reason in the language asked for')

  // From the admin API: Japanese on the terminal, English diagnoses in the files.
  t.equal(a.code, 0, a.stderr)
  t.equal(a.stdout.split('\n')[0], say('report', { exchanges: 2, since: '24h', from: s.adminUrl }))
  await untar({ file: fromApi, cwd: dir })
  const har = JSON.parse(readFileSync(join(dir, 'api', 'exchanges.har'), 'utf8')) as { log: { _duo_diag: { lang: string }, entries: Array<{ _duo_diag: { diagnosis: { cause: string } | null } }> } }
  t.equal(har.log._duo_diag.lang, 'en', 'the HAR is English')
  t.ok(har.log.entries.some((e) => e._duo_diag.diagnosis?.cause === tr('en', 'diagnosis:cause.model_endpoint_missing_v1')), 'its diagnosis too')
  t.notMatch(readFileSync(join(dir, 'api', 'summary.txt'), 'utf8'), JAPANESE, 'summary.txt: English')
  t.equal(unreachable.code, 1)
  t.match(unreachable.stderr, pattern(jaText('cli:client.unreachable', { base: s.down, error: 'ECONNREFUSED' })), 'the client\'s errors in Japanese')

  t.ok(en.stdout.includes('\n  metrics.txt        not included: made from a store file (--db): metrics live in a running proxy (GET /metrics on its admin API)\n'), 'LANG=C: as today')
  t.notMatch(en.stdout + en.stderr, JAPANESE)
})

// ---------------------------------------------------------------------------------------------
// demo.

t.test('demo --once in Japanese: set-up, traffic, summary, failures and checks; tables aligned', async (t) => {
  const r = await demoRun
  t.equal(r.code, 0, r.stderr)
  const stdout = r.stdout
  const say = (key: string, params: Record<string, string | number> = {}): string => jaText(`cli:demo.${key}`, params)
  t.ok(stdout.startsWith(`${say('title')}\n`))
  const scenarios = ['codeCompletion', 'codeCompletionStreamed', 'chatStream', 'expiredToken', 'missingV1', 'unknownModel', 'modelTimeout', 'gatewayHangs', 'gatewayDown', 'selfSigned', 'chatCancelled']
  const traffic = stdout.split(`${say('traffic')}\n`)[1]!.split('\n\n')[0]!.split('\n')
  t.equal(traffic.length, 13, 'one line per request sent')
  for (const key of scenarios) {
    t.ok(traffic.some((l) => l.startsWith(`  ${say(`scenario.${key}`)} `) && /x-request-id [0-9a-f]{32}$/.test(l)), `the scenario, in Japanese: ${say(`scenario.${key}`)}`)
  }
  // What the client saw: the scenario column is padded by display width.
  const resultAt = traffic.map((l) => displayWidth(l.slice(0, l.search(/ \d{3}/) + 1)))
  t.same([...new Set(resultAt)], [37], 'the results start at one display column')
  t.ok(traffic.some((l) => l.includes(say('result.hungUp', { status: 200, count: 1 }))), `${say('result.hungUp', { status: 200, count: 1 })}`)
  t.ok(traffic.some((l) => l.includes(say('result.fromProxy', { status: 504, flag: 'headers_timeout' }))))

  t.match(stdout, template('cli:demo.summary'))
  t.ok(stdout.includes(`\n${say('failures')}\n`))
  t.ok(stdout.includes(`${say('allRecorded', { checks: 11 })}\n`), 'every scripted failure recorded')
  t.ok(stdout.includes(jaText('diagnosis:cause.model_endpoint_missing_v1')), 'the diagnoses in Japanese, from the admin API')
  t.ok(stdout.includes(say('exploreOnce')))
  t.ok(stdout.includes(`# ${say('commentMissingV1')}`))
  const tables = assertTablesAligned(t, stdout.split('\n').map((l) => l.replace(/^ {2}/, '')), 'demo')
  t.equal(tables, 3, 'flags, failures, checks')
  for (const c of ['flag', 'exchanges', 'timeUtc', 'route', 'correlationId', 'status', 'flags', 'cause', 'scenario']) t.ok(stdout.includes(say(`column.${c}`)), `header ${say(`column.${c}`)}`)
  assertNoEnglish(t, stripAnsi(stdout), 'demo')
})
