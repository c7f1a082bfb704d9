/**
 * `show <correlation id>` and `bundle` with imported log lines (issue 19), as a user runs them:
 * the real CLI against a running proxy's admin API and straight from its store file. show: one
 * timeline, GitLab's lines, the proxy's steps and the gateway's lines in time order, each
 * `time  source  level  message`, fitted to the terminal, levels in colour, reconstructed
 * exchanges marked, in English and Japanese. bundle: the window's log lines in log-events.ndjson.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { stripVTControlCharacters as stripAnsi } from 'node:util'
import t from 'tap'
import { extract } from 'tar'
import { displayWidth } from '../src/cli/output.js'
import type { LogEvent } from '../src/logs/event.js'
import type { Trace } from '../src/store/trace.js'
import { runCli, runCommand } from './helpers/command.js'
import { assertNoEnglish, assertTablesAligned, env } from './helpers/ja-output.js'
import { BARE_CID, CAPTURED_CID, RECONSTRUCTED_CID, startLogStack } from './helpers/log-stack.js'

const english = (args: string[], vars: Record<string, string> = {}) => runCli(args, env({ LANG: 'C', ...vars }))

/** The timeline's rows: the lines after its title and header, up to the blank line. */
function timelineRows (stdout: string, title: RegExp): string[] {
  const lines = stripAnsi(stdout).split('\n')
  const start = lines.findIndex((l) => title.test(l))
  if (start < 0) return []
  const rows: string[] = []
  for (let i = start + 3; i < lines.length && lines[i] !== ''; i++) rows.push(lines[i]!)
  return rows
}

t.test('show and bundle with imported log lines', async (t) => {
  const { h, lines } = await startLogStack(t)
  const admin = ['--admin', h.adminUrl]

  t.test('show: one timeline in time order, time  source  level  message', async (t) => {
    const run = await english(['show', CAPTURED_CID, ...admin])
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /POST \/v2\/code\/completions -> \d{3}\s+\[gitlab-aigw, gateway\]/, 'the exchanges as before')
    t.match(run.stdout, /waterfall \(ms from the first event\):/, 'and the waterfall')
    t.notMatch(run.stdout, /\(from logs\)/, 'captured exchanges are not marked')
    const day = lines[CAPTURED_CID]![0]!.time.slice(0, 10)
    t.match(run.stdout, `timeline (UTC, ${day}): GitLab and AI gateway log lines, and the proxy's exchanges`)
    const rows = timelineRows(run.stdout, /^timeline \(UTC/)
    t.ok(rows.every((r) => /^ {2}\d\d:\d\d:\d\d\.\d{3} {2}\S/.test(r)), 'each row starts with its time')
    const times = rows.map((r) => r.slice(2, 14))
    t.same(times, [...times].sort(), 'in time order')
    t.match(rows[0], /^ {2}\S+ {2}GitLab llm\.log {2}INFO {3}Performing request to AI Gateway$/, 'GitLab\'s line first')
    t.match(rows[rows.length - 1], /^ {2}\S+ {2}GitLab llm\.log {2}ERROR {2}Error response from AI Gateway$/, 'GitLab\'s error last')
    const traceback = rows.findIndex((r) => / AI gateway +ERROR +Traceback \(most recent call last\): …$/.test(r))
    t.ok(traceback > 0, 'the gateway\'s traceback: its first line, marked as cut')
    t.ok(rows.some((r) => / AI gateway +INFO +POST \/v2\/code\/completions 500$/.test(r)), 'its access line')
    const received = rows.findIndex((r) => / proxy +gateway_request_received \[gitlab-aigw\]$/.test(r))
    t.ok(received > 0 && received < traceback, 'the proxy saw the request before the gateway logged its failure')
    t.ok(rows.some((r) => / proxy +model_request_received \[model\]$/.test(r)), 'the model call\'s steps too')
    t.equal(rows.length, 4 + (JSON.parse((await english(['show', CAPTURED_CID, ...admin, '--json'])).stdout) as Trace).waterfall.length, 'every log line and every step, once')
  })

  t.test('show from the store file says the same as from the API', async (t) => {
    const fromApi = await english(['show', CAPTURED_CID, ...admin])
    const fromDb = await english(['show', CAPTURED_CID, '--db', h.dbPath])
    t.equal(fromDb.code, 0, fromDb.stderr)
    t.equal(fromDb.stdout, fromApi.stdout)
  })

  t.test('show: fitted to the terminal\'s width, levels in colour', async (t) => {
    const narrow = await english(['show', CAPTURED_CID, ...admin], { COLUMNS: '60' })
    const rows = timelineRows(narrow.stdout, /^timeline \(UTC/)
    t.ok(rows.length > 4)
    t.same(rows.filter((r) => displayWidth(r) > 60), [], 'no row wider than 60 columns')
    t.ok(rows.some((r) => r.endsWith('…')), 'long messages cut with …')
    const header = stripAnsi(narrow.stdout).split('\n').findIndex((l) => l.startsWith('timeline (UTC'))
    t.equal(assertTablesAligned(t, stripAnsi(narrow.stdout).split('\n').slice(header + 1, header + 3 + rows.length).map((l) => l.slice(2)), 'timeline'), 1)
    const colour = await english(['show', CAPTURED_CID, ...admin], { FORCE_COLOR: '1' })
    t.match(colour.stdout, '\u001b[31mERROR\u001b[39m', 'errors red')
    t.notOk(colour.stdout.includes('m INFO') || /\[\d+mINFO/.test(colour.stdout), 'info plain')
    const plain = await english(['show', CAPTURED_CID, ...admin])
    t.notOk(plain.stdout.includes('\u001b['), 'no colour into a pipe')
  })

  t.test('show: an exchange reconstructed from logs is marked; log lines alone are shown', async (t) => {
    const rebuilt = await english(['show', RECONSTRUCTED_CID, ...admin])
    t.equal(rebuilt.code, 0, rebuilt.stderr)
    t.match(rebuilt.stdout, /POST \/v2\/chat\/agent -> 401 {2}\[gitlab-aigw, gateway\] [0-9a-f]+ {2}\(from logs\)/)
    const rows = timelineRows(rebuilt.stdout, /^timeline \(UTC/)
    t.ok(rows.some((r) => / from logs +gateway_request_received \[gitlab-aigw\]$/.test(r)), 'its steps come from logs, not the proxy')
    t.notOk(rows.some((r) => / proxy /.test(r)))
    t.ok(rows.some((r) => / AI gateway +WARN +POST \/v2\/chat\/agent 401$/.test(r)))

    const bare = await english(['show', BARE_CID, ...admin])
    t.equal(bare.code, 0, bare.stderr)
    t.match(bare.stdout, /^no exchange through the proxy: only imported log lines$/m)
    t.notMatch(bare.stdout, /waterfall/, 'no waterfall without exchanges')
    const bareRows = timelineRows(bare.stdout, /^timeline \(UTC/)
    t.equal(bareRows.length, 2)
    t.match(bareRows[0], / GitLab Rails +INFO +POST \/api\/v4\/code_suggestions\/completions 200$/)
    const head = stripAnsi(bare.stdout).split('\n').find((l) => /^ {2}time +source +level +message$/.test(l)) ?? ''
    const [levelAt, messageAt] = [head.indexOf('level'), head.indexOf('message')]
    t.ok(levelAt > 0 && messageAt > levelAt, 'the header names the columns')
    t.equal(bareRows[1]!.slice(levelAt, messageAt).trim(), '', 'a line with no level: the level column blank')
    t.match(bareRows[1]!.slice(messageAt), /^INFO: {5}127\.0\.0\.1:5052 - "POST \/v2\/code\/completions HTTP\/1\.1" 200$/, 'its message as written')

    const missing = await english(['show', 'no-such-request', ...admin])
    t.equal(missing.code, 1)
    t.match(missing.stderr, /no exchange or correlation id "no-such-request"/)
  })

  t.test('show --json: the trace with its log lines and timeline', async (t) => {
    const run = await english(['show', CAPTURED_CID, ...admin, '--json'])
    const trace = JSON.parse(run.stdout) as Trace
    t.same(trace.log_events.map((e) => e.fingerprint), [...lines[CAPTURED_CID]!].sort((a, b) => a.time.localeCompare(b.time)).map((e) => e.fingerprint))
    t.ok(trace.timeline.length > 4)
  })

  t.test('show in Japanese', async (t) => {
    const run = await runCli(['show', RECONSTRUCTED_CID, ...admin], env({ LANG: 'ja_JP.UTF-8' }))
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /^タイムライン\(UTC、\d{4}-\d\d-\d\d\): GitLabとAIゲートウェイのログ行、プロキシのやり取り$/m)
    t.match(run.stdout, /\(ログから再構成\)/, 'the reconstructed exchange, marked')
    t.match(run.stdout, /^ {2}時刻 +出力元 +レベル +メッセージ$/m, 'the headers')
    const rows = timelineRows(run.stdout, /^タイムライン/)
    t.ok(rows.some((r) => / ログから再構成 +AIゲートウェイへのリクエストを受信 \[gitlab-aigw\]$/.test(r)), 'steps in Japanese')
    t.ok(rows.some((r) => / AIゲートウェイ +WARN +POST \/v2\/chat\/agent 401$/.test(r)), 'log lines as written')
    assertNoEnglish(t, run.stdout, 'show')
    const header = run.stdout.split('\n').findIndex((l) => l.startsWith('タイムライン'))
    t.equal(assertTablesAligned(t, run.stdout.split('\n').slice(header + 1, header + 3 + rows.length).map((l) => l.slice(2)), 'タイムライン'), 1)
    const bare = await runCli(['show', BARE_CID, ...admin], env({ LANG: 'ja_JP.UTF-8' }))
    t.match(bare.stdout, /プロキシを通ったやり取りはありません/)
  })

  t.test('bundle: the window\'s log lines in log-events.ndjson, README.txt says so', async (t) => {
    const every = Object.values(lines).flat().sort((a, b) => a.time.localeCompare(b.time))
    for (const [name, source] of [['admin', admin], ['db', ['--db', h.dbPath]]] as const) {
      const dir = t.testdir({})
      const out = join(dir, `${name}.tar.gz`)
      const run = await runCommand('bundle', [...source, '--since', '2h', '--out', out, '--json'], { env: { LANG: 'C' } })
      t.equal(run.code, 0, run.stderr)
      t.equal((JSON.parse(run.stdout) as { log_events: number }).log_events, 8, `${name}: --json counts them`)
      await extract({ file: out, cwd: dir })
      const folder = join(dir, name)
      t.ok(readdirSync(folder).includes('log-events.ndjson'), `${name}: the file is in the bundle`)
      const ndjson = readFileSync(join(folder, 'log-events.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogEvent)
      t.same(ndjson.map((e) => e.fingerprint), every.map((e) => e.fingerprint), `${name}: every line of the window, oldest first`)
      const readme = readFileSync(join(folder, 'README.txt'), 'utf8')
      t.match(readme, /^8 imported log line\(s\) in the same time window$/m, `${name}: README.txt counts them`)
      t.match(readme, /^ {2}log-events\.ndjson +log lines imported for this window/m, `${name}: and says what the file is`)
    }
    const dir = t.testdir({})
    const out = join(dir, 'past.tar.gz')
    const past = await runCommand('bundle', [...admin, '--since', '3h', '--until', '2h', '--out', out], { env: { LANG: 'C' } })
    t.equal(past.code, 0, past.stderr)
    await extract({ file: out, cwd: dir })
    t.notOk(existsSync(join(dir, 'past', 'log-events.ndjson')), 'no line in the window: no file')
    t.match(readFileSync(join(dir, 'past', 'README.txt'), 'utf8'), /^No imported log line in the same time window/m, 'README.txt says so')
  })
})
