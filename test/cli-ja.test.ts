/**
 * The CLI in Japanese (issue 17), as real processes against a real proxy with captured failures:
 * `LANG=ja_JP.UTF-8`, `--lang ja` and `DUO_DIAG_LANG=ja` make failures, show, summary, doctor and
 * --help Japanese — catalog text, no English catalog sentence left, the diagnosis as the admin API
 * renders it in Japanese — with tables aligned by display width (full-width characters take two
 * columns) in a pseudo-terminal at 80 and 200 columns and piped. LANG=C and en_US give today's
 * English. The language's sources rank --lang, DUO_DIAG_LANG, LC_ALL, LC_MESSAGES, LANG.
 */
import { spawn } from 'node:child_process'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { t as tr } from '../src/i18n/translate.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { runCli } from './helpers/command.js'
import { refusedPort } from './helpers/fault-servers.js'
import {
  assertNoEnglish, assertTablesAligned, EN, ENGLISH_FRAGMENTS, env, ja, JA, JA_TEXT, JA_WAYS, jaText, pattern
} from './helpers/ja-output.js'
import { sendChat, startFailureStack } from './helpers/failure-stack.js'
import { startHarness } from './helpers/proxy-harness.js'
import { columnsOf, ptyUnavailable, runInPty, screenLines } from './helpers/pty.js'
import { displayWidth } from '../src/cli/output.js'
import { CLI_ARGS } from './helpers/cli-entry.js'

const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })
const noPty = ptyUnavailable()

t.test('the catalogs: en and ja have the same keys and placeholders; ja is Japanese', async (t) => {
  const base = (k: string): string => k.replace(/_(one|other)$/, '')
  const enKeys = new Set([...EN.keys()].map(base))
  const jaKeys = new Set([...JA.keys()].map(base))
  t.same([...enKeys].filter((k) => !jaKeys.has(k)), [], 'every English key is translated')
  t.same([...jaKeys].filter((k) => !enKeys.has(k)), [], 'no Japanese key without an English source')
  t.same([...JA.keys()].filter((k) => k.endsWith('_one')), [], 'Japanese has one plural form (_other)')
  const placeholders = (s: string): string[] => [...new Set([...s.matchAll(/\{\{(\w+)/g)].map((m) => m[1]!))].sort()
  for (const [key, text] of EN) {
    const jaValue = JA.get(key) ?? JA.get(key.replace(/_one$/, '_other'))
    if (jaValue === undefined) continue
    // `count` may be left out of a Japanese sentence that says the number another way; no other placeholder may.
    t.same(placeholders(jaValue).filter((p) => p !== 'count'), placeholders(text).filter((p) => p !== 'count'), `${key}: same placeholders`)
  }
  // Ambiguous-width characters (→, ×, “”) would misalign Japanese terminals that draw them wide.
  t.notMatch(JA_TEXT, /[\u2190-\u21ff\u00d7\u201c\u201d\u2018\u2019\u25cb\u203b]/, 'no ambiguous-width symbols in Japanese text')
  t.ok(ENGLISH_FRAGMENTS.length > 200, `${ENGLISH_FRAGMENTS.length} English fragments to look for`)
})

t.test('failures, show, summary: Japanese, the diagnosis from the API in Japanese, aligned', async (t) => {
  const h = await startFailureStack(t)
  const admin = ['--admin', h.adminUrl]

  // What the admin API renders for each language: the CLI must show the Japanese one.
  const api = async (lang: string): Promise<Map<string, NonNullable<Exchange['diagnosis']>>> => {
    const res = await request(`${h.adminUrl}/api/exchanges?limit=100`, { headers: { 'accept-language': lang } })
    const items = ((await res.body.json()) as { items: Exchange[] }).items
    return new Map(items.filter((e) => e.diagnosis !== null).map((e) => [e.correlation_id, e.diagnosis!]))
  }
  const [enDiag, jaDiag] = await Promise.all([api('en'), api('ja')])
  t.equal(jaDiag.size, 2, 'two failures diagnosed')

  // The three ways of asking give the same Japanese output.
  const [byLocale, byEnv, byFlag] = await Promise.all(JA_WAYS.map((way) => ja(['failures', ...admin], way)))
  for (const r of [byLocale!, byEnv!, byFlag!]) t.equal(r.code, 0, r.stderr)
  t.equal(byEnv!.stdout, byLocale!.stdout, 'DUO_DIAG_LANG=ja: the same as LANG=ja_JP.UTF-8')
  t.equal(byFlag!.stdout, byLocale!.stdout, '--lang ja: the same')
  const failures = byLocale!.stdout
  const lines = failures.trimEnd().split('\n')
  const header = lines[0]!
  for (const column of ['time', 'route', 'correlationId', 'status', 'method', 'path', 'durationMs', 'ttfbMs', 'flags', 'cause']) {
    t.ok(header.includes(jaText(`cli:columns.${column}`)), `failures header: ${jaText(`cli:columns.${column}`)}`)
  }
  t.match(header, /所要時間\(ミリ秒\).*TTFB\(ミリ秒\)/, 'units in the Japanese headers')
  for (const id of ['nov1-1', 'down-1']) {
    const cause = jaDiag.get(id)!.cause
    t.ok(failures.includes(cause), `${id}: the Japanese cause from the API (${cause})`)
    if (enDiag.get(id)!.cause !== cause) t.notOk(failures.includes(enDiag.get(id)!.cause), `${id}: not the English one`)
  }
  t.notMatch(failures, /good-1/)
  assertNoEnglish(t, failures, 'failures')
  t.equal(assertTablesAligned(t, lines, 'failures piped'), 1)

  // show: cause with its code, evidence and next steps as the API renders them in Japanese.
  const show = await ja(['show', 'nov1-1', ...admin])
  t.equal(show.code, 0, show.stderr)
  const d = jaDiag.get('nov1-1')!
  t.match(show.stdout, new RegExp(`^${jaText('cli:trace.correlationId', { id: 'nov1-1' })}$`, 'm'))
  t.ok(show.stdout.includes(jaText('cli:trace.causeCode', { code: d.code, cause: d.cause })), `原因 [${d.code}]: …`)
  for (const line of d.evidence) t.ok(show.stdout.includes(jaText('cli:trace.evidence', { text: line.text })), `根拠: ${line.text}`)
  for (const line of d.next_steps) t.ok(show.stdout.includes(jaText('cli:trace.next', { text: line.text })), `次の手順: ${line.text}`)
  t.ok(d.next_steps.length > 0 && d.evidence.length > 0, 'the diagnosis has evidence and next steps')
  for (const line of [...enDiag.get('nov1-1')!.evidence, ...enDiag.get('nov1-1')!.next_steps]) {
    if (![...d.evidence, ...d.next_steps].some((l) => l.text === line.text)) t.notOk(show.stdout.includes(line.text), `not the English "${line.text}"`)
  }
  t.ok(show.stdout.includes(jaText('cli:trace.waterfall')), 'the waterfall, in Japanese')
  t.ok(show.stdout.includes(jaText('cli:trace.event.model_failed')), 'its events too')
  assertNoEnglish(t, show.stdout, 'show')
  const missing = await ja(['show', 'no-such-id', ...admin])
  t.equal(missing.code, 1)
  t.equal(missing.stderr, `duo-diag-proxy show: ${jaText('cli:show.notFound', { key: 'no-such-id' })}\n`)

  // summary: every table aligned; the head line from the catalog.
  const summary = await ja(['summary', ...admin])
  t.equal(summary.code, 0, summary.stderr)
  const failed = jaText('cli:summary.failed', { errors: 2, rate: '66.7' })
  t.match(summary.stdout, pattern(jaText('cli:summary.head', { total: 3, failed })), `「${failed}」`)
  t.ok(summary.stdout.includes(failed))
  for (const column of ['route', 'feature', 'status', 'flag', 'cause', 'count', 'ttfbP50Ms', 'durationP50Ms']) {
    t.ok(summary.stdout.includes(jaText(`cli:columns.${column}`)), `summary: ${jaText(`cli:columns.${column}`)}`)
  }
  assertNoEnglish(t, summary.stdout, 'summary')
  t.equal(assertTablesAligned(t, summary.stdout.split('\n'), 'summary piped'), 6, 'six tables')

  // tail: the status line and the live rows, the cause in Japanese.
  const tail = spawn(process.execPath, [...CLI_ARGS, 'tail', ...admin, '--route', 'model'], { env: env({ LANG: 'ja_JP.UTF-8' }) })
  let tailOut = ''
  let tailErr = ''
  const tailExit = new Promise<number | null>((resolve) => tail.once('close', resolve))
  const killer = setTimeout(() => tail.kill('SIGKILL'), 30_000)
  await new Promise<void>((resolve) => {
    tail.stderr.on('data', (d: Buffer) => {
      tailErr += d.toString()
      if (tailErr.includes(jaText('cli:tail.started'))) resolve()
    })
    void tailExit.then(() => resolve())
  })
  await new Promise<void>((resolve) => {
    tail.stdout.on('data', (d: Buffer) => {
      tailOut += d.toString()
      if (tailOut.includes('tail-1')) resolve()
    })
    void tailExit.then(() => resolve())
    void sendChat(h, 'model', '/chat/completions', 'tail-1')
  })
  tail.kill('SIGINT')
  t.equal(await tailExit, 0, 'Ctrl-C ends tail')
  clearTimeout(killer)
  t.equal(tailErr, `${jaText('cli:tail.started')}\n`, 'tail says it is tailing, in Japanese')
  t.ok(tailOut.includes(jaDiag.get('nov1-1')!.cause), `the live row has the Japanese cause: ${tailOut}`)

  // Errors too: a usage error and its pointer to --help.
  const bad = await ja(['failures', ...admin, '--limit', '0'])
  t.equal(bad.code, 2)
  t.equal(bad.stderr, `duo-diag-proxy failures: ${jaText('cli:failures.badLimit')}\n${jaText('cli:main.runCommandHelp', { command: 'failures' })}\n`)
  const typo = await ja(['failures', ...admin, '--flag', 'conection_refused'])
  t.equal(typo.code, 2)
  t.match(typo.stderr, /不明なフラグ「conection_refused」です。「connection_refused」のことですか\?/)
  assertNoEnglish(t, typo.stderr, 'a usage error')

  // In a terminal: fitted to 80 and 200 columns, aligned by display width, the note in Japanese.
  for (const cols of noPty === null ? [80, 200] : []) {
    for (const [command, tablesExpected] of [['failures', 1], ['summary', 6]] as const) {
      const { code, output } = await runInPty([command, ...admin], { cols, env: { LANG: 'ja_JP.UTF-8', LC_ALL: '', LC_MESSAGES: '' } }).exit()
      t.equal(code, 0, output)
      // The note on the columns left out (stderr) arrives in the same terminal, after the table.
      const note = jaText('cli:failures.notShown', { width: cols, columns: '' }).slice(0, 8)
      const screen = screenLines(output).filter((l) => !l.startsWith(note))
      t.equal(screen.length, screenLines(output).length - (command === 'failures' && cols === 80 ? 1 : 0), 'the note only when columns are left out')
      for (const line of screen) t.ok(columnsOf(line) <= cols, `${command} at ${cols}: ${columnsOf(line)} <= ${cols}: ${line}`)
      t.equal(assertTablesAligned(t, screen, `${command} at ${cols} columns`), tablesExpected)
      assertNoEnglish(t, output, `${command} at ${cols} columns`)
      if (command === 'failures' && cols === 80) {
        const left = ['correlationId', 'method', 'path', 'durationMs', 'ttfbMs'].map((c) => jaText(`cli:columns.${c}`)).join('、')
        const full = jaText('cli:failures.notShown', { width: 80, columns: left })
        const shown = screenLines(output).find((l) => l.startsWith(note))
        t.ok(shown !== undefined && full.startsWith(shown.replace(/…$/, '')), `the columns left out, said in Japanese: ${shown}`)
      }
      if (command === 'failures' && cols === 200) {
        const row = screen.find((l) => l.includes('nov1-1'))!
        t.ok(row.includes(jaDiag.get('nov1-1')!.cause), 'at 200 columns the Japanese cause is whole')
      }
    }
  }
})

t.test('doctor in Japanese: check names, marks, evidence and next steps; aligned', async (t) => {
  const model = await startModelServer()
  const gateway = await startAiGateway({ ready: false })
  const port = await refusedPort()
  t.teardown(async () => { await Promise.all([model.close(), gateway.close()]) })
  const args = ['doctor', '--gateway', gateway.url, '--model', model.url, '--model-name', 'llama-3', '--timeout-ms', '2000']
  const runs = await Promise.all(JA_WAYS.map((way) => ja(args, way)))
  const r = runs[0]!
  t.equal(r.code, 1, 'a check failed: exit 1')
  t.equal(runs[1]!.stdout, r.stdout, 'DUO_DIAG_LANG=ja: the same')
  t.equal(runs[2]!.stdout, r.stdout, '--lang ja: the same')
  const lines = r.stdout.trimEnd().split('\n')
  const say = (key: string, params: Record<string, string | number> = {}): string => jaText(`doctor:${key}`, params)
  const line = (id: string): string => lines.find((l) => l.includes(say(`check.${id}`) + ' '))!
  t.match(line('gateway.healthz'), new RegExp(`^${say('mark.pass')}\\s+${say('check.gateway.healthz')}\\s+GET /monitoring/healthz 200$`))
  t.match(line('gateway.ready'), new RegExp(`^${say('mark.fail')}\\s+${say('check.gateway.ready')}\\s+GET /monitoring/ready 503`))
  t.ok(r.stdout.includes(`-> ${say('step.gatewayReady')}`), 'the next step, in Japanese')
  t.ok(line('model.url_v1').endsWith(say('evidence.notEndsV1', { url: model.url })))
  t.ok(r.stdout.includes(`-> ${say('step.setV1', { url: `${model.url}/v1` })}`))
  t.ok(line('model.name').endsWith(say('evidence.nameNotServed', { name: 'llama-3', models: DEFAULT_MODEL })))
  t.match(line('model.chat_completion'), new RegExp(`^${say('mark.skip')}\\s+${say('check.model.chat_completion')}\\s+${say('evidence.chatSkipped').replace(/[()]/g, '\\$&')}$`))
  t.ok(r.stdout.endsWith(`\n${jaText('cli:doctor.someFailed')}\n`))
  assertNoEnglish(t, r.stdout, 'doctor')
  // The evidence starts at one display column on every line (names are padded by display
  // width), and each next step's arrow under it.
  const names = [...JA.entries()].filter(([k]) => k.startsWith('doctor:check.')).map(([, v]) => v).sort((x, y) => y.length - x.length)
  const checkLines = lines.filter((l) => /^\S/.test(l) && l !== jaText('cli:doctor.someFailed'))
  t.ok(checkLines.length >= 10, `${checkLines.length} check lines`)
  const evidenceAt = checkLines.map((l) => {
    const name = names.find((n) => l.includes(`${n} `))
    if (name === undefined) return -1
    const end = l.indexOf(name) + name.length
    return displayWidth(l.slice(0, end)) + (l.slice(end).length - l.slice(end).trimStart().length)
  })
  t.notOk(evidenceAt.includes(-1), 'every line names its check in Japanese')
  t.same([...new Set(evidenceAt)], [evidenceAt[0]], `the evidence starts at column ${evidenceAt[0]} on every line`)
  for (const l of lines.filter((x) => x.trimStart().startsWith('->'))) t.equal(l.indexOf('->'), evidenceAt[0], `next step under the evidence: ${l}`)

  const refused = await ja(['doctor', '--model', `http://127.0.0.1:${port}/v1`, '--timeout-ms', '2000'])
  t.ok(refused.stdout.includes(say('step.refused', { host: '127.0.0.1', port })), 'connection refused: the Japanese next step')
  // --json keeps the stable ids and statuses; the texts are in the language asked for.
  const json = JSON.parse((await ja([...args, '--json'])).stdout) as { checks: Array<{ check: string, status: string, evidence: string }> }
  t.same(json.checks.map((c) => c.check).slice(0, 4), ['gateway.dns', 'gateway.tcp', 'gateway.healthz', 'gateway.ready'], 'ids unchanged')
  t.equal(json.checks.find((c) => c.check === 'model.chat_completion')?.evidence, say('evidence.chatSkipped'))
  const usage = await ja(['doctor'])
  t.equal(usage.code, 2)
  t.ok(usage.stderr.includes(jaText('cli:doctor.needTarget')))
})

t.test('--help in Japanese: the top level and every command', async (t) => {
  const commands = ['start', 'failures', 'show', 'tail', 'summary', 'export', 'purge', 'doctor', 'audit', 'replay', 'bundle', 'demo']
  const [top, ...helps] = await Promise.all([ja(['--help'], JA_WAYS[2]), ...commands.map((c) => ja([c, '--help']))])
  t.equal(top!.code, 0)
  t.ok(top!.stdout.startsWith('duo-diag-proxy ') && top!.stdout.includes('使い方: duo-diag-proxy <command> [flags]'))
  t.match(top!.stdout, /--lang en\|ja\s+メッセージ、ヘルプ、表の言語/, '--lang documented')
  assertNoEnglish(t, top!.stdout, '--help')
  const en = await runCli(['--help'], env({ LANG: 'C' }))
  for (const [i, c] of commands.entries()) {
    const r = helps[i]!
    t.equal(r.code, 0, `${c} --help`)
    t.match(r.stdout, /^使い方: duo-diag-proxy /, `${c}: Japanese usage line`)
    assertNoEnglish(t, r.stdout, `${c} --help`)
    // Every option the English help names is in the Japanese help too.
    const enHelp = await runCli([c, '--help'], env({ LANG: 'C' }))
    const options = new Set([...enHelp.stdout.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]))
    const missing = [...options].filter((o) => !new RegExp(`(?<![\\w-])${o}(?![\\w-])`).test(r.stdout))
    t.same(missing, [], `${c}: every option of the English help (${options.size})`)
  }
  t.notOk(en.stdout.includes('使い方'), 'LANG=C: English')
})

t.test('English for everyone else: LANG=C, en_US, no locale, --lang en give today\'s output', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model' }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const res = await request(`${h.url('model')}/chat/completions`, { method: 'POST', body: CHAT, headers: { 'content-type': 'application/json', 'x-request-id': 'en-1' } })
  await res.body.text()
  await h.exchanges()
  const envs: Array<[string, NodeJS.ProcessEnv, string[]]> = [
    ['LANG=C', env({ LANG: 'C' }), []],
    ['LANG=en_US.UTF-8', env({ LANG: 'en_US.UTF-8' }), []],
    ['no locale at all', env(), []],
    ['LANG=fr_FR.UTF-8 (no catalog)', env({ LANG: 'fr_FR.UTF-8' }), []],
    ['--lang en over LANG=ja_JP.UTF-8', env({ LANG: 'ja_JP.UTF-8' }), ['--lang', 'en']]
  ]
  for (const command of [['failures', '--admin', h.adminUrl], ['show', 'en-1', '--admin', h.adminUrl], ['--help'], ['doctor'], ['failurs']]) {
    const runs = await Promise.all(envs.map(([, e, extra]) => runCli([...command, ...extra], e)))
    for (const [i, [name]] of envs.entries()) {
      t.equal(runs[i]!.stdout, runs[0]!.stdout, `${command[0]}, ${name}: the same stdout as LANG=C`)
      t.equal(runs[i]!.stderr, runs[0]!.stderr, `${command[0]}, ${name}: the same stderr`)
    }
    t.notMatch(runs[0]!.stdout + runs[0]!.stderr, /[\u3040-\u30ff\u4e00-\u9fff]/, `${command[0]}: no Japanese`)
  }
  const failures = await runCli(['failures', '--admin', h.adminUrl], env({ LANG: 'C' }))
  t.match(failures.stdout, /^time\s+route\s+correlation id\s+status\s+method\s+path\s+duration ms\s+ttfb ms\s+flags\s+cause$/m, 'today\'s English header')
  const show = await runCli(['show', 'en-1', '--admin', h.adminUrl], env({ LANG: 'C' }))
  t.match(show.stdout, /^correlation id en-1$/m)
  t.match(show.stdout, /^ {2}cause \[model_endpoint_missing_v1\]: /m, 'the cause with its stable code')
  t.match(show.stdout, /^ {4}next: Set the model endpoint in GitLab to http:\/\/127\.0\.0\.1:\d+\/v1/m)
  const help = await runCli(['--help'], env({ LANG: 'C' }))
  t.equal(help.stdout, tr('en', 'cli:main.help', { version: help.stdout.split(' ')[1]!.trim() }), 'the help is the English catalog\'s')
  const doctor = await runCli(['doctor'], env({ LANG: 'C' }))
  t.equal(doctor.stderr, 'duo-diag-proxy doctor: doctor needs --gateway URL and/or --model URL\nRun duo-diag-proxy doctor --help for usage.\n')
  const typo = await runCli(['failurs'], env({ LANG: 'C' }))
  t.equal(typo.stderr, 'duo-diag-proxy: unknown command "failurs" — did you mean "failures"?\nRun duo-diag-proxy --help for usage.\n')
})

t.test('which language: --lang, then DUO_DIAG_LANG, then LC_ALL, LC_MESSAGES, LANG', async (t) => {
  const JA_LINE = jaText('cli:doctor.needTarget')
  const EN_LINE = 'doctor needs --gateway URL and/or --model URL'
  const cases: Array<[string, string[], Record<string, string>, 'ja' | 'en']> = [
    ['--lang ja beats everything English', ['--lang', 'ja'], { DUO_DIAG_LANG: 'en', LC_ALL: 'en_US.UTF-8', LC_MESSAGES: 'en_US.UTF-8', LANG: 'en_US.UTF-8' }, 'ja'],
    ['--lang en beats everything Japanese', ['--lang', 'en'], { DUO_DIAG_LANG: 'ja', LC_ALL: 'ja_JP.UTF-8', LC_MESSAGES: 'ja_JP.UTF-8', LANG: 'ja_JP.UTF-8' }, 'en'],
    ['--lang=ja', ['--lang=ja'], { LANG: 'C' }, 'ja'],
    ['DUO_DIAG_LANG=ja beats LC_ALL', [], { DUO_DIAG_LANG: 'ja', LC_ALL: 'en_US.UTF-8', LANG: 'en_US.UTF-8' }, 'ja'],
    ['DUO_DIAG_LANG=en beats LC_ALL', [], { DUO_DIAG_LANG: 'en', LC_ALL: 'ja_JP.UTF-8', LANG: 'ja_JP.UTF-8' }, 'en'],
    ['DUO_DIAG_LANG with no catalog: the locale decides', [], { DUO_DIAG_LANG: 'fr', LANG: 'ja_JP.UTF-8' }, 'ja'],
    ['LC_ALL=ja beats LC_MESSAGES and LANG', [], { LC_ALL: 'ja_JP.UTF-8', LC_MESSAGES: 'en_US.UTF-8', LANG: 'en_US.UTF-8' }, 'ja'],
    ['LC_ALL=C beats LC_MESSAGES and LANG', [], { LC_ALL: 'C', LC_MESSAGES: 'ja_JP.UTF-8', LANG: 'ja_JP.UTF-8' }, 'en'],
    ['LC_MESSAGES=ja beats LANG', [], { LC_MESSAGES: 'ja_JP.UTF-8', LANG: 'en_US.UTF-8' }, 'ja'],
    ['LC_MESSAGES=en beats LANG', [], { LC_MESSAGES: 'en_US.UTF-8', LANG: 'ja_JP.UTF-8' }, 'en'],
    ['LANG=ja_JP.UTF-8', [], { LANG: 'ja_JP.UTF-8' }, 'ja'],
    ['LANG=ja_JP.eucJP', [], { LANG: 'ja_JP.eucJP' }, 'ja'],
    ['LANG=C', [], { LANG: 'C' }, 'en']
  ]
  const runs = await Promise.all(cases.map(([, args, vars]) => runCli(['doctor', ...args], env(vars))))
  for (const [i, [name,,, want]] of cases.entries()) {
    t.equal(runs[i]!.code, 2, name)
    t.ok(runs[i]!.stderr.includes(want === 'ja' ? JA_LINE : EN_LINE), `${name}: ${want}`)
  }
  // --lang anywhere before the command's own arguments end, or before the command.
  const [before, bad, missing, typo, typoTop] = await Promise.all([
    runCli(['--lang', 'ja', 'doctor'], env({ LANG: 'C' })),
    runCli(['doctor', '--lang', 'fr'], env({ LANG: 'ja_JP.UTF-8' })),
    runCli(['doctor', '--lang'], env({ LANG: 'C' })),
    runCli(['doctor', '--lnag', 'ja'], env({ LANG: 'C' })),
    runCli(['--lnag', 'ja', 'doctor'], env({ LANG: 'C' }))
  ])
  t.ok(before.stderr.includes(JA_LINE), 'duo-diag-proxy --lang ja doctor')
  t.equal(bad.code, 2, '--lang fr: a usage error')
  t.equal(bad.stderr, `duo-diag-proxy: ${jaText('cli:lang.invalid', { value: 'fr', langs: 'en, ja' })}\n${jaText('cli:main.runHelp')}\n`, 'said in the locale\'s language')
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--lang needs a value: en or ja/)
  t.match(typo.stderr, /unknown option --lnag — did you mean --lang\?/, 'did you mean --lang, for a command')
  t.match(typoTop.stderr, /unknown option "--lnag" — did you mean "--lang"\?/, 'and before the command')
})
