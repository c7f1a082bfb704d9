/**
 * The duo-diag-proxy CLI as a real process, run from source (node --import tsx src/cli/main.ts):
 * help and version, exit code 2 with one clear stderr line and no listener for every start-up
 * problem, and a full run — traffic, the admin API, SIGTERM with a stream in flight — that
 * leaves its records in the SQLite file.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { startModelServer } from './fixtures/model-server.js'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { CLI_ARGS } from './helpers/cli-entry.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const SLOW_COMPLETION = ['One', ' chunk', ' at', ' a', ' time', ',', ' slowly', ',', ' until', ' the', ' end', '.']
const dir = mkdtempSync(join(tmpdir(), 'ddp-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/**
 * The environment a user's shell would give: none of ours or the runner's settings leak in, and
 * an English locale (these tests read English messages; test/cli-ja.test.ts has the Japanese).
 */
function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DUO_DIAG_') && k !== 'NODE_OPTIONS' && !k.startsWith('TAP') && !k.startsWith('LC_')) env[k] = v
  }
  return { ...env, LANG: 'C.UTF-8', ...extra }
}

interface Cli {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** JSON log lines written to stdout so far. */
  logs: () => Array<Record<string, unknown>>
  /** Resolves with the log line whose msg is `msg`; rejects after timeoutMs. */
  waitForLog: (msg: string, timeoutMs?: number) => Promise<Record<string, unknown>>
  /** Resolves with the exit code; kills the process and rejects after timeoutMs. */
  exit: (timeoutMs?: number) => Promise<number | null>
}

function spawnCli (args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
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
  const logs = (): Array<Record<string, unknown>> => {
    const lines: Array<Record<string, unknown>> = []
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        // a line still being written
      }
    }
    return lines
  }
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs,
    waitForLog (msg, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs)
        const check = (): void => {
          const line = logs().find((l) => l.message === msg)
          if (line !== undefined) {
            clearTimeout(timer)
            resolve(line)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer)
            reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before "${msg}"; stdout: ${out}; stderr: ${err}`))
          } else {
            waiters.push(check)
          }
        }
        check()
      })
    },
    exit (timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`still running after ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`))
        }, timeoutMs)
      })
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer))
    }
  }
}

/** Runs the CLI to completion (bounded). */
async function runCli (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string, logs: Array<Record<string, unknown>> }> {
  const cli = spawnCli(args, env)
  const code = await cli.exit()
  return { code, stdout: cli.stdout(), stderr: cli.stderr(), logs: cli.logs() }
}

/** A port nothing listens on right now (bound to 0, then released). */
async function freePort (): Promise<number> {
  const server = createServer()
  const port = await listenEphemeral(server)
  await closeServer(server)
  return port
}

/** True when a TCP connect to 127.0.0.1:port is refused (bounded). */
function refused (port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`connect to ${port} neither succeeded nor failed in 2 s`))
    }, 2000)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(e.code === 'ECONNREFUSED')
    })
  })
}

function countRows (dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n
  } finally {
    db.close()
  }
}

function storedExchanges (dbPath: string): Exchange[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare('SELECT data FROM exchanges ORDER BY seq').all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as Exchange)
  } finally {
    db.close()
  }
}

/** The long flags the parser accepts, read from its options block so a new flag cannot go undocumented. */
/** The flags a command's parser accepts, read from its source so an undocumented new flag fails. */
function parserFlags (file: string): string[] {
  const source = readFileSync(join(ROOT, 'src', 'cli', file), 'utf8')
  const block = /parseArgs\(\{[\s\S]*?options: \{([\s\S]*?)\n {4,6}\}/.exec(source)?.[1] ?? ''
  return [...block.matchAll(/^\s+'?([a-z][a-z-]*)'?: \{/gm)].map((m) => `--${m[1]}`)
}

t.test('--help documents every flag, --version prints the version', async (t) => {
  const [help, startHelp, doctorHelp, none, version, v] = await Promise.all([
    runCli(['--help']), runCli(['start', '--help']), runCli(['doctor', '--help']), runCli([]), runCli(['--version']), runCli(['-v'])
  ])
  t.equal(help.code, 0, '--help exits 0')
  t.equal(help.stderr, '', 'nothing on stderr')
  t.match(help.stdout, /^duo-diag-proxy \S+ — /, 'starts with the name and version')
  t.match(help.stdout, /start\s+run the proxy/)
  t.match(help.stdout, /doctor\s+/)
  for (const [file, res, min] of [['start.ts', startHelp, 13], ['doctor.ts', doctorHelp, 8]] as const) {
    const flags = parserFlags(file)
    t.ok(flags.length >= min, `found ${file}'s flags (${flags.join(' ')})`)
    t.equal(res.code, 0, `${file}: --help exits 0`)
    for (const flag of flags) {
      if (flag === '--help') continue
      t.ok(new RegExp(`(^|[\\s,])${flag}\\b`, 'm').test(res.stdout), `${file} help mentions ${flag}`)
    }
  }
  t.equal(none.code, 2, 'no command: exit 2')
  t.match(none.stdout + none.stderr, /Usage:/, 'and the usage')
  t.equal(version.code, 0, '--version exits 0')
  t.equal(version.stdout, `${VERSION}\n`, '--version prints package.json\'s version')
  t.equal(v.code, 0, '-v exits 0')
  t.equal(v.stdout, `${VERSION}\n`, '-v too')
})

t.test('usage errors exit 2 with a message on stderr', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['start', '--bogus'], /--bogus/],
    [['start', '--listen'], /--listen/],
    [['stop'], /unknown command "stop"/]
  ]
  const results = await Promise.all(cases.map(([args]) => runCli(args)))
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`)
    t.match(r.stderr, message, `${args.join(' ')}: says what is wrong`)
    t.match(r.stderr, /^duo-diag-proxy( [a-z]+)?: /, 'prefixed with the program name')
    t.equal(r.stdout, '', 'nothing on stdout')
  }
})

interface BadStart {
  what: string
  args: string[]
  env?: Record<string, string>
  /** The whole stderr. */
  stderr: RegExp
  /** Ports that must refuse connections afterwards. */
  free: number[]
  /** A store file that must not have been created (refused before the store opens). */
  noDb?: string
}

/** Runs every bad start-up at once (they are CPU-bound on tsx), then checks each. */
async function assertBadStarts (t: Test, cases: BadStart[]): Promise<void> {
  const results = await Promise.all(cases.map((c) => runCli(c.args, c.env)))
  for (const [i, c] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, 2, `${c.what}: exit 2`)
    t.match(r.stderr, c.stderr, `${c.what}: ${r.stderr.trim()}`)
    t.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${c.what}: exactly one stderr line`)
    t.notOk(r.logs.some((l) => l.message === 'route listening' || l.message === 'admin API listening'), `${c.what}: no listener logged`)
    for (const port of c.free) t.ok(await refused(port), `${c.what}: port ${port} refuses connections`)
    if (c.noDb !== undefined) t.notOk(existsSync(c.noDb), `${c.what}: no store file created`)
  }
}

async function portsAndDb (name: string): Promise<{ listen: number, admin: number, db: string, args: string[] }> {
  const listen = await freePort()
  const admin = await freePort()
  const db = join(dir, name, 'x.db')
  return { listen, admin, db, args: ['start', '--listen', `127.0.0.1:${listen}`, '--admin', `127.0.0.1:${admin}`, '--db', db] }
}

t.test('invalid configuration: exit 2, the key named, no listener opened', async (t) => {
  const yamlRun = await portsAndDb('bad-yaml')
  const yaml = join(dir, 'unknown-key.yaml')
  writeFileSync(yaml, [
    'routes:',
    '  - name: aigw',
    `    listen: 127.0.0.1:${yamlRun.listen}`,
    '    upstream: http://127.0.0.1:5052',
    '    upsteam_timeout: 5',
    'admin:',
    `  listen: 127.0.0.1:${yamlRun.admin}`,
    'store:',
    `  path: ${yamlRun.db}`,
    ''
  ].join('\n'))
  const urlRun = await portsAndDb('bad-url')
  const caRun = await portsAndDb('bad-ca')
  await assertBadStarts(t, [{
    what: 'unknown key in a YAML file',
    args: ['start', '--config', yaml],
    stderr: /^duo-diag-proxy: routes\[0\]\.upsteam_timeout: unknown key\n$/,
    free: [yamlRun.listen, yamlRun.admin],
    noDb: yamlRun.db
  }, {
    what: 'bad upstream URL',
    args: [...urlRun.args, '--upstream', 'http//127.0.0.1:5052'],
    stderr: /^duo-diag-proxy: routes\[0\]\.upstream: "http\/\/127\.0\.0\.1:5052" is not a URL/,
    free: [urlRun.listen, urlRun.admin],
    noDb: urlRun.db
  }, {
    what: 'unreadable CA file',
    args: [...caRun.args, '--upstream', 'https://127.0.0.1:5052', '--ca-file', join(dir, 'no-such-ca.pem')],
    stderr: /^duo-diag-proxy: routes\[0\]\.tls\.ca_file: .*no-such-ca\.pem cannot be read \(ENOENT\)\n$/,
    free: [caRun.listen, caRun.admin],
    noDb: caRun.db
  }])
})

t.test('start-up failures after the configuration loads: exit 2, the key named', async (t) => {
  const occupier = createServer()
  const busy = await listenEphemeral(occupier)
  t.teardown(() => closeServer(occupier))
  const routeBusy = await portsAndDb('busy')
  const adminBusy = await portsAndDb('busy-admin')
  const open = await portsAndDb('admin-open')
  const plainFile = join(dir, 'a-regular-file')
  writeFileSync(plainFile, 'not a directory')
  const store = await portsAndDb('unused')
  await assertBadStarts(t, [{
    what: 'route port already in use',
    args: ['start', '--listen', `127.0.0.1:${busy}`, '--admin', `127.0.0.1:${routeBusy.admin}`, '--db', routeBusy.db],
    stderr: new RegExp(`^duo-diag-proxy: routes\\[0\\]\\.listen: cannot listen on 127\\.0\\.0\\.1:${busy} \\(address already in use\\)\\n$`),
    free: [routeBusy.admin]
  }, {
    what: 'admin port already in use',
    args: ['start', '--listen', `127.0.0.1:${adminBusy.listen}`, '--admin', `127.0.0.1:${busy}`, '--db', adminBusy.db],
    stderr: new RegExp(`^duo-diag-proxy: admin\\.listen: cannot listen on 127\\.0\\.0\\.1:${busy} \\(address already in use\\)\\n$`),
    free: [adminBusy.listen]
  }, {
    what: 'admin API on 0.0.0.0 without a token',
    args: ['start', '--listen', `127.0.0.1:${open.listen}`, '--admin', '0.0.0.0:0', '--db', open.db],
    stderr: /^duo-diag-proxy: admin\.listen: 0\.0\.0\.0:0 is not a loopback address; set an admin token/,
    free: [open.listen],
    noDb: open.db
  }, {
    what: 'a store path that cannot be created',
    args: ['start', '--listen', `127.0.0.1:${store.listen}`, '--admin', `127.0.0.1:${store.admin}`, '--db', join(plainFile, 'sub', 'x.db')],
    stderr: /^duo-diag-proxy: store\.path: cannot open the store at .*a-regular-file\/sub\/x\.db: ENOTDIR/,
    free: [store.listen, store.admin]
  }])
  t.ok(!(await refused(busy)), 'the occupier still owns its port')
})

t.test('a full run: traffic recorded, queryable, and kept in the file after SIGTERM', async (t) => {
  const gateway = await startAiGateway()
  const agent = new Agent({ keepAliveTimeout: 1000 })
  t.teardown(async () => {
    await agent.close()
    await gateway.close()
  })
  const listen = await freePort()
  const admin = await freePort()
  const db = join(dir, 'run', 'x.db')
  const cli = spawnCli(['start', '--listen', `127.0.0.1:${listen}`, '--upstream', gateway.url, '--admin', `127.0.0.1:${admin}`, '--db', db])
  t.teardown(() => { if (cli.child.exitCode === null) cli.child.kill('SIGKILL') })

  const routeLine = await cli.waitForLog('route listening')
  t.equal(routeLine.listen, `127.0.0.1:${listen}`, 'route listening on the port asked for')
  t.equal(routeLine.route, 'gitlab-aigw')
  t.equal(routeLine.upstream, gateway.url)
  const adminLine = await cli.waitForLog('admin API listening')
  t.equal(adminLine.listen, `127.0.0.1:${admin}`)
  const ready = await cli.waitForLog('capture ready')
  t.match(ready.capture_mode, /^metadata \(no prompt or completion text\)$/, 'start-up log says metadata capture')
  t.equal(ready.store, db)

  const res = await request(`http://127.0.0.1:${listen}/v2/code/completions`, {
    dispatcher: agent,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'cli-run-1' },
    body: JSON.stringify({
      current_file: { file_name: 'add.py', language_identifier: 'python', content_above_cursor: 'def add(a, b):\n', content_below_cursor: '' },
      stream: false
    })
  })
  const reply = (await res.body.json()) as { choices: Array<{ text: string }> }
  t.equal(res.statusCode, 200, 'answered through the proxy')
  t.equal(res.headers['x-request-id'], 'cli-run-1')
  t.ok(reply.choices[0]?.text, 'the gateway\'s completion came back')

  let items: Exchange[] = []
  for (let i = 0; i < 100 && items.length === 0; i++) {
    const list = await request(`http://127.0.0.1:${admin}/api/exchanges`, { dispatcher: agent })
    t.equal(list.statusCode, 200)
    items = ((await list.body.json()) as { items: Exchange[] }).items
    if (items.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(items.length, 1, 'GET /api/exchanges lists the exchange')
  t.equal(items[0]?.correlation_id, 'cli-run-1')
  t.equal(items[0]?.path, '/v2/code/completions')
  t.equal(items[0]?.status, 200)
  t.equal(items[0]?.request.body, undefined, 'metadata capture keeps no request body')

  cli.child.kill('SIGTERM')
  t.equal(await cli.exit(), 0, 'SIGTERM: exit code 0')
  t.equal(cli.stderr(), '', 'nothing on stderr')
  const stopped = cli.logs().find((l) => l.message === 'stopped')
  t.same(stopped && { stored: stopped.stored, dropped: stopped.dropped }, { stored: 1, dropped: 0 }, 'the last log line accounts for the record')
  t.equal(countRows(db), 1, 'the record is in the SQLite file')
  t.equal(storedExchanges(db)[0]?.correlation_id, 'cli-run-1')
  t.ok(await refused(listen), 'route port closed')
  t.ok(await refused(admin), 'admin port closed')
})

t.test('SIGTERM with a slow stream in flight: the stream completes, exit 0, stored', async (t) => {
  // 100 ms between a dozen chunks: the stream is still running well after SIGTERM lands.
  const model = await startModelServer({ chunkDelayMs: 100, completion: SLOW_COMPLETION })
  const agent = new Agent({ keepAliveTimeout: 1000 })
  t.teardown(async () => {
    await agent.close()
    await model.close()
  })
  const listen = await freePort()
  const admin = await freePort()
  const db = join(dir, 'stream', 'x.db')
  const cli = spawnCli(['start', '--listen', `127.0.0.1:${listen}`, '--upstream', model.url, '--admin', `127.0.0.1:${admin}`, '--db', db, '--capture-bodies'])
  t.teardown(() => { if (cli.child.exitCode === null) cli.child.kill('SIGKILL') })
  const ready = await cli.waitForLog('capture ready')
  t.match(ready.capture_mode, /^verbose \(prompt and completion text kept, secrets redacted\)$/, 'start-up log says verbose capture with --capture-bodies')
  await cli.waitForLog('route listening')

  const res = await request(`http://127.0.0.1:${listen}/v1/chat/completions`, {
    dispatcher: agent,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'cli-stream-1' },
    body: JSON.stringify({ model: 'mistral-7b-instruct', messages: [{ role: 'user', content: 'say something slowly' }], stream: true })
  })
  t.equal(res.statusCode, 200)
  let text = ''
  let stoppingAt = 0
  let lastChunkAt = 0
  for await (const chunk of res.body) {
    text += chunk.toString()
    lastChunkAt = Date.now()
    if (stoppingAt === 0) {
      cli.child.kill('SIGTERM')
      await cli.waitForLog('stopping: listeners closed, finishing in-flight exchanges', 5000)
      stoppingAt = Date.now()
      t.ok(await refused(listen), 'no new connections once stopping')
    }
  }
  t.ok(stoppingAt > 0, 'SIGTERM sent after the first chunk')
  // The model sends a chunk every 100 ms: the last arrives well after the process began stopping.
  t.ok(lastChunkAt - stoppingAt >= 100, `chunks kept arriving after the process began stopping (${lastChunkAt - stoppingAt} ms)`)
  const content = text.split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { choices: Array<{ delta?: { content?: string } }> }).choices[0]?.delta?.content ?? '')
    .join('')
  t.equal(content, SLOW_COMPLETION.join(''), 'the client got the whole answer')
  t.match(text, /data: \[DONE\]\s*$/, 'and the end of the stream')

  t.equal(await cli.exit(), 0, 'exit code 0')
  t.equal(cli.stderr(), '', 'nothing on stderr')
  t.equal(countRows(db), 1, 'the exchange is stored')
  const ex = storedExchanges(db)[0]!
  t.equal(ex.correlation_id, 'cli-stream-1')
  t.equal(ex.status, 200)
  t.equal(ex.meta.stream, true)
  t.equal(ex.meta.stream_complete, true, 'recorded as a complete stream, not cut off')
  t.same(ex.flags, [], 'no failure flagged')
  t.match(JSON.stringify(ex.request.body), /say something slowly/, 'verbose capture kept the prompt')
})
