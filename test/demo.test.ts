/**
 * `duo-diag-proxy demo` end to end, as a real process: the scripted traffic runs through the
 * simulators and the proxy, and the printed failures table names every scripted failure with
 * its flag on the right route; `--once` exits 0, and without it the demo stays up until SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MAIN = join(ROOT, 'src', 'cli', 'main.ts')
const DEMO = pathToFileURL(join(ROOT, 'src', 'cli', 'demo.ts')).href

/**
 * Through the CLI once main.ts registers the command; until then demoCommand itself, called
 * from a one-line module in the child (same output, same exit code).
 */
const REGISTERED = /\bdemo: demoCommand\b/.test(readFileSync(MAIN, 'utf8'))

function spawnDemo (args: string[]): ChildProcess {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DUO_DIAG_') && k !== 'NODE_OPTIONS' && !k.startsWith('TAP')) env[k] = v
  }
  const argv = REGISTERED
    ? ['--import', 'tsx', MAIN, 'demo', ...args]
    : ['--import', 'tsx', '--input-type=module', '-e',
        `import { demoCommand } from ${JSON.stringify(DEMO)}\nprocess.exitCode = await demoCommand(${JSON.stringify(args)})`]
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
  const find = (route: string, flag: string): Row | undefined => rows.find((r) => r.route === route && r.flags.includes(flag))
  const expected: Array<[scenario: string | null, route: string, flag: string]> = [
    ['expired GitLab token (401)', 'gitlab-aigw', 'unauthorized'],
    [null, 'model', 'not_found'],
    ['model endpoint without /v1', 'gitlab-aigw', 'upstream_error'],
    ['gateway hangs (headers timeout)', 'gitlab-aigw', 'headers_timeout'],
    ['self-signed gateway certificate', 'aigw-self-signed', 'tls_error'],
    ['chat stream cancelled by the IDE', 'gitlab-aigw', 'client_aborted']
  ]
  for (const [scenario, route, flag] of expected) {
    const row = find(route, flag)
    t.ok(row, `a ${route} row flagged ${flag}`)
    if (row === undefined) continue
    t.not(row.cause, '', `${route} ${flag}: the diagnosis' cause is printed`)
    // The model hop loses the correlation id: its row carries the one the proxy minted.
    if (scenario !== null) t.equal(row.correlationId, requestId(stdout, scenario), `${route} ${flag}: under the request's X-Request-ID`)
  }
  t.equal(find('gitlab-aigw', 'unauthorized')?.status, '401')
  t.equal(find('model', 'not_found')?.status, '404')
  t.equal(find('gitlab-aigw', 'upstream_error')?.status, '503')
  t.equal(find('gitlab-aigw', 'headers_timeout')?.status, 'proxy', 'no upstream answer: the proxy answered')
  t.match(find('model', 'not_found')?.cause, /\/v1/)
  t.match(find('aigw-self-signed', 'tls_error')?.cause, /self-signed/)
  t.equal(rows.filter((r) => r.flags.includes('client_aborted') && r.route === 'gitlab-aigw').length, 1, 'the cancelled stream is recorded once')
  t.equal(rows.length, 7, 'the healthy traffic is not in the table')

  t.match(stdout, /Summary: \d+ exchanges recorded/)
  t.match(stdout, /\/api\/exchanges\?flag=unauthorized/)
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
  demo.child.kill('SIGTERM')
  t.equal(await demo.exit(15_000), 0, `exit 0 on SIGTERM; stderr: ${demo.stderr()}`)
})
