/**
 * `duo-diag-proxy demo` end to end, as a real process: the scripted traffic runs through the
 * simulators and the proxy, and the printed failures table names every scripted failure with
 * its flag on the right route; `--once` exits 0, and without it the demo stays up until SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CLI_ARGS } from './helpers/cli-entry.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function spawnDemo (args: string[]): ChildProcess {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DUO_DIAG_') && k !== 'NODE_OPTIONS' && !k.startsWith('TAP')) env[k] = v
  }
  const argv = [...CLI_ARGS, 'demo', ...args]
  return spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves once stdout contains `text`. */
  waitFor: (text: string, timeoutMs: number) => Promise<void>
  exit: (timeoutMs: number) => Promise<number | null>
}

function run (args: string[]): Run {
  const child = spawnDemo(args)
  let out = ''
  let err = ''
  const waiters: Array<() => void> = []
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
    for (const w of waiters.splice(0)) w()
  })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    for (const w of waiters.splice(0)) w()
    resolve(code)
  }))
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (text, timeoutMs) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" after ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs)
      const check = (): void => {
        if (out.includes(text)) {
          clearTimeout(timer)
          resolve()
        } else if (child.exitCode !== null) {
          clearTimeout(timer)
          reject(new Error(`exited (${child.exitCode}) before "${text}"; stdout: ${out}; stderr: ${err}`))
        } else {
          waiters.push(check)
        }
      }
      check()
    }),
    exit: (timeoutMs) => Promise.race([
      exited,
      new Promise<number | null>((_resolve, reject) => setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`still running after ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`))
      }, timeoutMs).unref())
    ])
  }
}

interface Row {
  time: string
  route: string
  correlationId: string
  status: string
  flags: string[]
  cause: string
}

/** The rows of the printed failures table. */
function failureRows (stdout: string): Row[] {
  const section = stdout.split('\nFailures:\n')[1]?.split(/\n(?:Every scripted|\d+ of \d+ scripted)/)[0] ?? ''
  return section.split('\n')
    .filter((line) => /^\s+\d\d:\d\d:\d\d\.\d{3}\s/.test(line))
    .map((line) => {
      const [time = '', route = '', correlationId = '', status = '', flags = '', ...cause] = line.trim().split(/\s{2,}/)
      return { time, route, correlationId, status, flags: flags.split(','), cause: cause.join('  ') }
    })
}

/** The x-request-id printed for a scenario in the traffic section. */
function requestId (stdout: string, scenario: string): string | undefined {
  const line = stdout.split('\n').find((l) => l.trimStart().startsWith(scenario + ' ') && l.includes('x-request-id'))
  return /x-request-id ([0-9a-f]{32})/.exec(line ?? '')?.[1]
}

t.test('demo --once: the failures table names each scripted failure with its flag, exit 0', async (t) => {
  const started = Date.now()
  const demo = run(['--once', '--admin', '127.0.0.1:0'])
  const code = await demo.exit(60_000)
  const stdout = demo.stdout()
  t.equal(code, 0, `exit code 0; stderr: ${demo.stderr()}`)
  t.ok(Date.now() - started < 60_000, 'well under a minute')
  t.match(stdout, /Every scripted failure was recorded with its flag/)

  const rows = failureRows(stdout)
  const byScenario = (scenario: string, route: string, flag: string): Row | undefined => {
    const id = requestId(stdout, scenario)
    return rows.find((r) => r.route === route && r.flags.includes(flag) && r.correlationId === id)
  }
  // Gateway-hop rows, under the X-Request-ID the scenario sent.
  const expected: Array<[scenario: string, route: string, flag: string, status: string, cause: RegExp]> = [
    ['expired GitLab token (401)', 'gitlab-aigw', 'unauthorized', '401', /expired/],
    // Starlette's bare 500: the gateway maps no litellm error (the old 503 "Inference failed" is not what it sends).
    ['model endpoint without /v1', 'gitlab-aigw', 'upstream_error', '500', /\/v1/],
    ['unknown model (identifier typo)', 'gitlab-aigw', 'upstream_error', '500', /Mistral-7B-Instruct-v0\.3/],
    // The chat stream: 200, an error line, then the drop.
    ['model timeout (Duo Chat)', 'gitlab-aigw', 'stream_error', '200', /model timeout/],
    ['gateway hangs (headers timeout)', 'gitlab-aigw', 'headers_timeout', 'proxy', /did not answer in time/],
    ['gateway down (connection refused)', 'aigw-down', 'connection_refused', 'proxy', /not reachable/],
    ['self-signed gateway certificate', 'aigw-self-signed', 'tls_error', 'proxy', /self-signed/],
    ['chat stream cancelled by the IDE', 'gitlab-aigw', 'client_aborted', '200', /hung up/]
  ]
  for (const [scenario, route, flag, status, cause] of expected) {
    const row = byScenario(scenario, route, flag)
    t.ok(row, `${scenario}: a ${route} row flagged ${flag} under the request's X-Request-ID`)
    if (row === undefined) continue
    t.equal(row.status, status, `${scenario}: status ${status}`)
    t.match(row.cause, cause, `${scenario}: the diagnosis' cause is printed`)
  }
  t.ok(byScenario('model timeout (Duo Chat)', 'gitlab-aigw', 'stream_aborted'), 'the connection drops after the error line')
  t.equal(rows.filter((r) => r.flags.includes('client_aborted') && r.route === 'gitlab-aigw').length, 1, 'the cancelled stream is recorded once')

  // Model-hop rows: the model server never sees the correlation id; the proxy mints one.
  const notFound = rows.filter((r) => r.route === 'model' && r.flags.includes('not_found'))
  t.equal(notFound.length, 2, 'one model 404 each for the missing /v1 and the unknown model')
  t.ok(notFound.every((r) => r.status === '404'))
  t.ok(notFound.some((r) => /\/v1/.test(r.cause)), 'the missing /v1 named on the model hop')
  t.ok(notFound.some((r) => /Mistral-7B-Instruct-v0\.3/.test(r.cause)), 'the unserved name named on the model hop')
  const timedOut = rows.filter((r) => r.route === 'model' && r.flags.includes('model_timeout'))
  t.equal(timedOut.length, 6, "the gateway's 6 attempts (the SDK's 3, ChatLiteLLM's 2), each abandoned at its model timeout")
  t.ok(timedOut.every((r) => r.status === '-' && r.flags.includes('client_aborted')), 'no answer: the gateway hung up')
  const cancelledModel = rows.filter((r) => r.route === 'model' && r.flags.includes('client_aborted') && !r.flags.includes('model_timeout'))
  t.equal(cancelledModel.length, 1, 'the cancelled chat: the gateway hangs up on the model too')

  // 8 gateway-hop rows + 2 model 404s + 6 model timeouts + the cancelled chat's model call.
  t.equal(rows.length, 17, 'the healthy traffic is not in the table')
  for (const healthy of ['code completion', 'code completion, streamed', 'Duo Chat stream']) {
    const id = requestId(stdout, healthy)
    t.ok(id, `${healthy}: its x-request-id is printed`)
    t.notOk(rows.some((r) => r.correlationId === id), `${healthy}: not in the failures table`)
  }

  // What the client saw: the chat model's ReAct answer reaches GitLab as final_answer_delta lines.
  t.match(stdout, /Duo Chat stream\s+200: \d+ final_answer_delta, usage\s/)
  t.match(stdout, /model endpoint without \/v1\s+500 Internal Server Error\s/)
  t.match(stdout, /model timeout \(Duo Chat\)\s+200: error "litellm\.Timeout", then dropped\s/)

  t.match(stdout, /Summary: \d+ exchanges recorded/)
  t.match(stdout, /\/api\/exchanges\?flag=unauthorized/)
  t.match(stdout, /\/api\/exchanges\?flag=model_timeout/)
  t.match(stdout, /\/api\/traces\/[0-9a-f]{32}/)
})

t.test('demo without --once stays up, admin API included, until SIGTERM; then exit 0', async (t) => {
  const demo = run(['--admin', '127.0.0.1:0'])
  t.teardown(() => {
    if (demo.child.exitCode === null) demo.child.kill('SIGKILL')
  })
  await demo.waitFor('Everything stays up until Ctrl-C.', 60_000)
  const admin = /admin API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(demo.stdout())?.[1]
  t.ok(admin, 'the admin API address is printed')
  const res = await fetch(`${admin}/api/exchanges?flag=tls_error`)
  t.equal(res.status, 200)
  t.equal(((await res.json()) as { items: unknown[] }).items.length, 1, 'still queryable after the summary')
  const down = await fetch(`${admin}/api/exchanges?flag=connection_refused`)
  t.match(await down.json(), { items: [{ route: 'aigw-down', proxy_answered: true }] }, 'the gateway that is down')
  demo.child.kill('SIGTERM')
  t.equal(await demo.exit(15_000), 0, `exit 0 on SIGTERM; stderr: ${demo.stderr()}`)
})
