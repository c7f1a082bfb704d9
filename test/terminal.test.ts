/**
 * The CLI in a pseudo-terminal at 80 and 200 columns, as a person runs it, and piped, as a script
 * does: tables fit the width (the widest column cut with …, optional columns left out), colour on
 * the terminal only (NO_COLOR, FORCE_COLOR), Japanese text aligned by display width; did-you-mean;
 * export and bundle saying what they wrote. (test/terminal-proxy.test.ts: the commands that need
 * a running proxy or a server.)
 */
import { join } from 'node:path'
import t from 'tap'
import type { Exchange } from '../src/capture/exchange.js'
import { openStore } from '../src/store/open.js'
import { runDir } from './helpers/cli-process.js'
import { columnsOf, ptyUnavailable, runInPty, runPiped, screenLines } from './helpers/pty.js'
import { exchange } from './helpers/stores.js'

const skip = ptyUnavailable()
if (skip !== null) t.plan(0, skip)

// Escape sequences, as strings (a regular expression with control characters is a lint error).
const ESC = '\u001b['
const sgr = (code: number, text: string): string => `${ESC}${code}m${text}`
const LONG_CAUSE = 'The model endpoint URL lacks the /v1 suffix: GitLab sends /chat/completions to the model server, which answers 404 for every request until the endpoint in the GitLab model settings ends in /v1; nothing else is wrong with the model server itself.'
const JA_CAUSE = 'モデルサーバーが応答しませんでした（タイムアウト）。AI ゲートウェイのログとモデルサーバーの負荷を確認してください。'
const JA_PATH = '/v1/モデル/chat/completions'
/** Causes as stored, under a code this version has no catalog entry for: shown as stored, in any language. */
const stored = (cause: string): NonNullable<Exchange['diagnosis']> => ({ code: 'terminal_fixture', params: {}, cause, evidence: [], next_steps: [] })
/** English, whatever the runner's locale (LANG=ja_JP.UTF-8 would make these runs Japanese). */
const EN = { LANG: 'C.UTF-8', LC_ALL: '', LC_MESSAGES: '' }

const { dir, remove } = runDir('ddp-terminal-')
t.teardown(remove)
const db = join(dir, 'exchanges.db')

t.before(async () => {
  const store = await openStore(db)
  const at = (minutesAgo: number): string => new Date(Date.now() - minutesAgo * 60_000).toISOString()
  await store.insert([
    exchange({ started_at: at(9), hop: 'model', route: 'model', correlation_id: '0f3a9c1e2b4d5f60718293a4b5c6d7e8', status: 404, path: '/chat/completions', flags: ['not_found'], timings: { ttfb_ms: 12.3, duration_ms: 15.7 }, diagnosis: stored(LONG_CAUSE) }),
    exchange({ started_at: at(8), hop: 'model', route: 'model', correlation_id: 'ja-1', status: 502, path: JA_PATH, flags: ['model_error', 'slow'], timings: { ttfb_ms: 30012.4, duration_ms: 30500 }, diagnosis: stored(JA_CAUSE) }),
    exchange({ started_at: at(7), route: 'gitlab-aigw', correlation_id: 'down-1', status: null, flags: ['connection_refused'], timings: { ttfb_ms: null, duration_ms: 1.2 }, diagnosis: stored('The AI gateway is not reachable: nothing listens on 127.0.0.1:5052.') })
  ])
  await store.close()
})

/** The display column where `cell` starts in `line` (escapes stripped). */
function columnOf (line: string, cell: string): number {
  const i = line.indexOf(cell)
  return i < 0 ? -1 : columnsOf(line.slice(0, i))
}

for (const cols of [80, 200]) {
  t.test(`failures in a ${cols}-column terminal`, async (t) => {
    const run = runInPty(['failures', '--db', db], { cols, env: EN })
    const { code, output } = await run.exit()
    t.equal(code, 0, output)
    const lines = screenLines(output)
    for (const line of lines) t.ok(columnsOf(line) <= cols, `${columnsOf(line)} <= ${cols} columns: ${line}`)
    t.ok(output.includes(ESC), 'colour on a terminal')
    t.ok(output.includes(sgr(33, '404')), '4xx in yellow')
    t.ok(output.includes(sgr(31, 'not_found')), 'failure flags in red')
    t.ok(output.includes(sgr(33, 'slow')), 'flags that are not errors in yellow')
    const header = lines.find((l) => l.startsWith('time'))!
    t.ok(header, 'a header row')
    t.match(lines.join('\n'), /…/, 'the widest column is cut with …')
    const rows = lines.filter((l) => /^\d{4}-\d\d-\d\d /.test(l))
    t.equal(rows.length, 3)
    const causeAt = columnOf(header, 'cause')
    for (const [row, start] of [[rows[0]!, 'The AI gateway'], [rows[1]!, 'モデルサーバー'], [rows[2]!, 'The model endpoint']] as const) {
      t.equal(columnOf(row, start), causeAt, `the cause starts under its header: ${row}`)
    }
    if (cols === 80) {
      t.notMatch(header, /ttfb ms|correlation id/, 'optional columns left out at 80')
      t.match(lines.join('\n'), /not shown at 80 columns: correlation id, method, path, duration ms, ttfb ms/, 'and it says so')
    } else {
      t.match(header, /^time\s+route\s+correlation id\s+status\s+method\s+path\s+duration ms\s+ttfb ms\s+flags\s+cause$/, 'every column, units in the headers')
      // After the Japanese path (2 columns a character), the next columns still line up.
      const ja = rows.find((r) => r.includes(JA_PATH))!
      t.ok(ja, 'the Japanese path is whole at 200 columns')
      t.equal(columnOf(ja, 'model_error'), columnOf(header, 'flags'), 'flags align after a Japanese path')
      t.equal(columnOf(ja, '30500') + 5, columnOf(header, 'duration ms') + 'duration ms'.length, 'right-aligned numbers end under their header')
    }
  })
}

t.test('piped: every column, nothing cut, no colour; FORCE_COLOR forces it, COLUMNS cuts', async (t) => {
  const [piped, forced, narrow] = await Promise.all([
    runPiped(['failures', '--db', db], EN),
    runPiped(['failures', '--db', db], { ...EN, FORCE_COLOR: '1' }),
    runPiped(['failures', '--db', db], { ...EN, COLUMNS: '60' })
  ])
  t.equal(piped.code, 0, piped.stderr)
  t.notOk(piped.stdout.includes(ESC), 'no colour into a pipe')
  t.ok(piped.stdout.includes(LONG_CAUSE) && piped.stdout.includes(JA_CAUSE), 'nothing cut')
  t.match(piped.stdout, /^time\s+route\s+correlation id\s+status\s+method\s+path\s+duration ms\s+ttfb ms\s+flags\s+cause$/m)
  t.equal(piped.stderr, '', 'no note, no progress')

  t.ok(forced.stdout.includes(ESC), 'FORCE_COLOR=1: colour into a pipe')
  t.ok(forced.stdout.includes(LONG_CAUSE), 'still not cut')

  for (const line of narrow.stdout.trimEnd().split('\n')) t.ok(columnsOf(line) <= 60, `COLUMNS=60: ${line}`)
})

t.test('NO_COLOR=1 in a terminal: no colour, still fitted', async (t) => {
  const { code, output } = await runInPty(['failures', '--db', db], { cols: 80, env: { ...EN, NO_COLOR: '1' } }).exit()
  t.equal(code, 0)
  t.notOk(output.includes(ESC), 'no escape sequences')
  for (const line of screenLines(output)) t.ok(columnsOf(line) <= 80, line)
})

t.test('did you mean: flags, commands, flag values', async (t) => {
  const [flag, command, value, format] = await Promise.all([
    runPiped(['failures', '--flga', 'x', '--db', db], EN),
    runPiped(['failurs'], EN),
    runPiped(['failures', '--flag', 'conection_refused', '--db', db], EN),
    runPiped(['export', '--format', 'hra', '--db', db], EN)
  ])
  t.equal(flag.code, 2)
  t.match(flag.stderr, /unknown option --flga — did you mean --flag\?/)
  t.equal(command.code, 2)
  t.match(command.stderr, /unknown command "failurs" — did you mean "failures"\?/)
  t.equal(value.code, 2)
  t.match(value.stderr, /unknown flag "conection_refused" — did you mean "connection_refused"\?/)
  t.equal(format.code, 2)
  t.match(format.stderr, /did you mean har\?/)
})

t.test('export and bundle say what they wrote', async (t) => {
  const file = join(dir, 'out.ndjson')
  const [exp, har, bundle] = await Promise.all([
    runPiped(['export', '--format', 'ndjson', '--out', file, '--db', db], EN),
    runPiped(['export', '--format', 'har', '--db', db], EN),
    runPiped(['bundle', '--db', db, '--out', join(dir, 'case.tar.gz')], EN)
  ])
  t.equal(exp.code, 0, exp.stderr)
  t.match(exp.stderr, new RegExp(`^wrote 3 exchanges as NDJSON \\([\\d.]+ KiB\\) to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n$`))
  t.match(har.stderr, /^wrote 3 exchanges as HAR \([\d.]+ KiB\) to stdout\n$/)
  t.equal((JSON.parse(har.stdout) as { log: { entries: unknown[] } }).log.entries.length, 3)
  t.equal(bundle.code, 0, bundle.stderr)
  t.match(bundle.stderr, /wrote .*case\.tar\.gz \(3 exchanges, \d+ files, [\d.]+ KiB; unpacks into case\/\)/)
})
