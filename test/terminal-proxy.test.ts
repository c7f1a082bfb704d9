/**
 * The CLI against a running proxy and servers, in a pseudo-terminal and piped: --admin as a URL or
 * HOST:PORT for start and the query commands; tail --route for a route that does not exist; start
 * saying what it does and warning about an upstream that refuses; doctor printing each check as it
 * completes. (test/terminal.test.ts: tables, colour and did-you-mean.)
 */
import { createServer } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { freePort, runDir, spawnCli } from './helpers/cli-process.js'
import { refusedPort } from './helpers/fault-servers.js'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { ptyUnavailable, runInPty, runPiped, screenLines } from './helpers/pty.js'

const skip = ptyUnavailable()
if (skip !== null) t.plan(0, skip)

const ESC = '\u001b['
const sgr = (code: number, text: string): string => `${ESC}${code}m${text}`

const { dir, remove } = runDir('ddp-terminal-proxy-')
t.teardown(remove)

t.test('--admin as a URL or HOST:PORT, for start and the query commands; tail --route that does not exist', async (t) => {
  const admin = await freePort()
  const upstream = await refusedPort()
  const proxy = spawnCli(['start', '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${upstream}`, '--admin', `http://127.0.0.1:${admin}`, '--db', join(dir, 'admin.db')])
  t.teardown(async () => {
    if (proxy.child.exitCode === null) proxy.child.kill('SIGKILL')
  })
  await waitForHttp(`http://127.0.0.1:${admin}/healthz`)
  t.pass('start --admin http://HOST:PORT listens there')
  const forms = [`http://127.0.0.1:${admin}`, `127.0.0.1:${admin}`, `http://127.0.0.1:${admin}/`]
  const [bad, nope, typo, ...summaries] = await Promise.all([
    runPiped(['summary', '--admin', 'not an address']),
    runPiped(['tail', '--route', 'nope', '--admin', `127.0.0.1:${admin}`]),
    runPiped(['tail', '--route', 'gitlab-aigx', '--admin', `127.0.0.1:${admin}`]),
    ...forms.map((form) => runPiped(['summary', '--admin', form]))
  ])
  for (const [i, r] of summaries.entries()) {
    t.equal(r!.code, 0, `summary --admin ${forms[i]}: ${r!.stderr}`)
    t.match(r!.stdout, /0 exchanges/)
  }
  t.equal(bad!.code, 2)
  t.match(bad!.stderr, /--admin: "not an address" is neither a URL nor HOST:PORT/)
  t.equal(nope!.code, 2, 'tail --route nope exits instead of waiting')
  t.match(nope!.stderr, /this proxy has no route "nope" \(its routes: gitlab-aigw\)/)
  t.match(typo!.stderr, /no route "gitlab-aigx" — did you mean "gitlab-aigw"\?/)

  proxy.child.kill('SIGTERM')
  t.equal((await proxy.exit()).code, 0)
})

t.test('start in a terminal: says what it does, warns in plain words when the upstream refuses', async (t) => {
  const upstream = await refusedPort()
  const run = runInPty(['start', '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${upstream}`, '--admin', '127.0.0.1:0', '--db', join(dir, 'first.db')], { cols: 120 })
  t.teardown(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL') })
  await run.waitFor(new RegExp(`warning: route gitlab-aigw -> http://127\\.0\\.0\\.1:${upstream}: nothing listens on 127\\.0\\.0\\.1:${upstream} — is the AI gateway running\\?`))
  await run.waitFor(/"code":"ECONNREFUSED"/)
  const output = screenLines(run.output()).join('\n')
  t.match(output, /starting: 1 route, store .*first\.db \(first start: creating it\)/, 'the first start says it creates the store')
  t.match(output, /route gitlab-aigw: listening on 127\.0\.0\.1:\d+ -> http:\/\/127\.0\.0\.1:\d+/)
  t.match(output, /"code":"ECONNREFUSED".*upstream check: nothing listens on 127\.0\.0\.1:\d+ — is the AI gateway running\?/, 'and logs it')
  run.type('\u0003') // Ctrl-C
  t.equal((await run.exit()).code, 0, 'Ctrl-C stops it')
})

t.test('start piped: the warning is a log line, stderr stays empty', async (t) => {
  const upstream = await refusedPort()
  const proxy = spawnCli(['start', '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${upstream}`, '--admin', '127.0.0.1:0', '--db', ':memory:'])
  const deadline = Date.now() + 15_000
  while (!proxy.stdout().includes('upstream check:') && Date.now() < deadline && proxy.child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50))
  const line = proxy.logs().find((l) => String(l.message ?? l.msg).startsWith('upstream check:'))
  t.same(line && { route: line.route, code: line.code, severity: line.severity }, { route: 'gitlab-aigw', code: 'ECONNREFUSED', severity: 'WARN' })
  proxy.child.kill('SIGTERM')
  t.equal((await proxy.exit()).code, 0)
  t.equal(proxy.stderr(), '', 'nothing on stderr when it is not a terminal')
})

t.test('doctor prints each check as it completes', async (t) => {
  // /monitoring/ready takes 1.5 s: the checks before it are on screen well before the end.
  const server = createServer((req, res) => {
    const answer = (): void => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}') }
    if (req.url === '/monitoring/ready') setTimeout(answer, 1_500)
    else answer()
  })
  const port = await listenEphemeral(server)
  t.teardown(() => closeServer(server))
  const run = runInPty(['doctor', '--gateway', `http://127.0.0.1:${port}`], { cols: 100 })
  const { code, output } = await run.exit()
  t.equal(code, 0, output)
  const lines = screenLines(output)
  const order = ['gateway.dns', 'gateway.tcp', 'gateway.healthz', 'gateway.ready'].map((c) => lines.findIndex((l) => l.includes(c)))
  t.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `checks in order: ${order.join(', ')}`)
  const arrived = (text: string): number => {
    let seen = ''
    for (const c of run.chunks) {
      seen += c.text
      if (seen.includes(text)) return c.at
    }
    return -1
  }
  const healthz = arrived('gateway.healthz')
  const end = arrived('All checks passed')
  t.ok(healthz >= 0 && end - healthz >= 1_000, `healthz printed ${end - healthz} ms before the end, as it completed`)
  t.match(output, new RegExp(`\r\u001b\\[2K[-\\\\|/] checking http://127\\.0\\.0\\.1:\\d+`), 'a status line while checks run')
  t.ok(output.includes(`${sgr(32, 'ok  ')}${ESC}39m  gateway.healthz`), 'ok in green')

  const piped = await runPiped(['doctor', '--gateway', `http://127.0.0.1:${port}`])
  t.equal(piped.stderr, '', 'no status line into a pipe')
  t.match(piped.stdout, /^ok\s+gateway\.healthz\s+GET \/monitoring\/healthz 200$/m)
})

async function waitForHttp (url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const res = await request(url)
      await res.body.text()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}
