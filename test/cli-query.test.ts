/** The query commands as a user runs them: against a running proxy, and on the file once it stopped. */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { harValidator } from './helpers/har.js'
import { freshDatabase, pgUnavailable } from './helpers/pg.js'
import { sendChat, startFailureStack } from './helpers/failure-stack.js'
import { BACKENDS } from './helpers/stores.js'
import { CLI_ARGS } from './helpers/cli-entry.js'

const ROOT = join(import.meta.dirname, '..')

interface Run { code: number | null, stdout: string, stderr: string }

function cli (args: string[], opts: { until?: RegExp, timeoutMs?: number, onStderr?: (text: string) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    // English whatever the runner's locale (test/cli-ja.test.ts runs these in Japanese).
    const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, env: { ...process.env, DUO_DIAG_ADMIN_TOKEN: '', DUO_DIAG_LANG: 'en' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (opts.until?.test(stdout)) child.kill('SIGINT')
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      opts.onStderr?.(stderr)
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

// Through a running proxy, then straight from the store: a SQLite file, or a PostgreSQL database.
for (const backend of BACKENDS) t.test(`failures, show, summary, tail, export, purge [${backend}]`, async (t) => {
  const db = backend === 'postgres' ? await freshDatabase(t) : undefined
  if (db === null) return pgUnavailable(t)
  const h = await startFailureStack(t, db !== undefined ? { db } : {})
  const admin = ['--admin', h.adminUrl]

  const failures = await cli(['failures', ...admin])
  t.equal(failures.code, 0, failures.stderr)
  t.match(failures.stdout, /^time\s+route\s+correlation id\s+status\s+method\s+path\s+duration ms\s+ttfb ms\s+flags\s+cause$/m, 'a table with the issue\'s columns, units in the headers')
  t.match(failures.stdout, /model\s+nov1-1\s+404\s+POST\s+\/chat\/completions\s+[\d.]+\s+[\d.]+\s+not_found\s+The model endpoint URL lacks the \/v1 suffix\./)
  t.match(failures.stdout, /down\s+down-1\s+-\s+POST\s+\/v1\/chat\/completions\s+[\d.]+\s+-\s+connection_refused\s+The model server is not reachable/)
  t.notMatch(failures.stdout, /good-1/, 'healthy exchanges are not failures')

  const json = await cli(['failures', ...admin, '--flag', 'connection_refused', '--json'])
  t.same((JSON.parse(json.stdout) as Array<{ correlation_id: string }>).map((e) => e.correlation_id), ['down-1'])

  const show = await cli(['show', 'nov1-1', ...admin])
  t.equal(show.code, 0)
  t.match(show.stdout, /correlation id nov1-1/)
  t.match(show.stdout, /POST \/chat\/completions -> 404/)
  t.match(show.stdout, /next: Set the model endpoint in GitLab to http:\/\/127\.0\.0\.1:\d+\/v1/)
  t.match(show.stdout, /waterfall/)
  const missing = await cli(['show', 'no-such-id', ...admin])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no exchange or correlation id "no-such-id"/)

  const summary = await cli(['summary', ...admin])
  t.equal(summary.code, 0)
  t.match(summary.stdout, /3 exchanges, 2 failed \(66\.7%\)/)
  t.match(summary.stdout, /^not_found\s+1$/m)
  t.match(summary.stdout, /ttfb p50 ms/)

  // tail: started first, it must print the exchange that happens while it runs.
  let connected: () => void = () => {}
  const ready = new Promise<void>((resolve) => { connected = resolve })
  const tailing = cli(['tail', ...admin, '--route', 'model'], { until: /tail-1/, timeoutMs: 20_000, onStderr: (s) => { if (s.includes('tailing live exchanges')) connected() } })
  await Promise.race([ready, tailing])
  await sendChat(h, 'model', '/v1/chat/completions', 'tail-1')
  const tail = await tailing
  t.match(tail.stdout, /model\s+200\s+POST \/v1\/chat\/completions\s+tail-1/)
  t.equal(tail.code, 0, 'Ctrl-C ends tail cleanly')

  const harFile = join(h.dir, 'out.har')
  const exp = await cli(['export', '--format', 'har', '--out', harFile, ...admin])
  t.equal(exp.code, 0, exp.stderr)
  const har = JSON.parse(readFileSync(harFile, 'utf8')) as { log: { entries: unknown[] } }
  t.ok(harValidator()(har), 'valid HAR 1.2')
  t.equal(har.log.entries.length, 4)

  const purge = await cli(['purge', ...admin, '--route', 'down'])
  t.equal(purge.stdout, 'removed 1 exchanges\n')
  const refused = await cli(['purge', ...admin])
  t.equal(refused.code, 2, 'purge without a filter or --all is refused')

  await h.close()
  // The proxy is stopped: the same commands read the store itself.
  const offline = await cli(['failures', '--db', h.dbPath])
  t.equal(offline.code, 0, offline.stderr)
  t.match(offline.stdout, /nov1-1/)
  t.notMatch(offline.stdout, /down-1/, 'purged before')
  const nd = await cli(['export', '--format', 'ndjson', '--db', h.dbPath])
  t.equal(nd.stdout.trim().split('\n').length, 3)
  const offlineTail = await cli(['tail', '--db', h.dbPath])
  t.equal(offlineTail.code, 2)
  t.match(offlineTail.stderr, /tail needs a running proxy/)
  const down = await cli(['failures', '--admin', 'http://127.0.0.1:1'])
  t.equal(down.code, 1)
  t.match(down.stderr, /cannot reach the admin API .* is the proxy running\?/)
  const badFlag = await cli(['failures', '--db', h.dbPath, '--flag', 'nope'])
  t.equal(badFlag.code, 2)
  t.match(badFlag.stderr, /unknown flag "nope"/)
})
