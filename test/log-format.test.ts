/**
 * The proxy's log reads like GitLab's (issue 16): a reader of api_json.log / llm.log lines
 * (`severity`, `time`, `message`, `correlation_id`, `duration_s`, `remote_ip`, `method`, `path`,
 * `status`) and a playbook-style `jq` filter work on it unchanged, for the capture worker's
 * per-exchange lines and the main thread's start-up lines alike.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { exchangeLevel, msToRoundSec } from '../src/log/exchange-line.js'
import { createLogger, severityOf } from '../src/log/logger.js'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { startHarness } from './helpers/proxy-harness.js'

/** Labkit::Logging::JsonLogger: `timestamp.utc.iso8601(3)`. */
const GITLAB_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const SEVERITIES = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']

type Line = Record<string, unknown>

/** How a reader of GitLab's JSON logs takes a file: one JSON object a line, nothing else. */
function readGitlabJsonLog (file: string): Line[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const parsed = JSON.parse(l) as unknown
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`not a JSON object: ${l}`)
    return parsed as Line
  })
}

function hasJq (): Promise<boolean> {
  return new Promise((resolve) => execFile('sh', ['-c', 'command -v jq'], (err) => resolve(err === null)))
}

function jq (filter: string, file: string): Promise<string> {
  return new Promise((resolve, reject) => execFile('jq', ['-r', filter, file], (err, stdout, stderr) => {
    if (err !== null) reject(new Error(`jq ${filter}: ${err.message} ${stderr}`))
    else resolve(stdout)
  }))
}

/** An upstream answering by path: 200, 404, 500, and a 200 that takes its time. */
async function startUpstream (): Promise<{ url: string, close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume()
    const path = (req.url ?? '/').split('?')[0]
    const answer = (status: number): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ status }))
    }
    if (path === '/v1/models') answer(200)
    else if (path === '/v1/missing') answer(404)
    else if (path === '/v1/boom') answer(500)
    else if (path === '/v1/slow') setTimeout(() => answer(200), 120)
    else answer(400)
  })
  const port = await listenEphemeral(server)
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) }
}

/** A loopback port nothing listens on: bound, then closed. */
async function refusedPort (): Promise<number> {
  const server = createServer()
  const port = await listenEphemeral(server)
  await closeServer(server)
  return port
}

t.test('exchange lines carry GitLab field names; failures are WARN or ERROR; jq filters them', async (t) => {
  const upstream = await startUpstream()
  const refused = await refusedPort()
  const h = await startHarness({
    routes: [
      { name: 'model', upstream: upstream.url, hop: 'model' },
      { name: 'slowpoke', upstream: upstream.url, hop: 'model', slow: { ttfb_ms: 20, duration_ms: 20 } },
      { name: 'nowhere', upstream: `http://127.0.0.1:${refused}`, hop: 'model' }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await upstream.close()
  })

  const cases = [
    { id: 'logfmt-ok', route: 'model', path: '/v1/models', status: 200, severity: 'INFO' },
    { id: 'logfmt-not-found', route: 'model', path: '/v1/missing', status: 404, severity: 'WARN' },
    { id: 'logfmt-server-error', route: 'model', path: '/v1/boom', status: 500, severity: 'ERROR' },
    { id: 'logfmt-slow', route: 'slowpoke', path: '/v1/slow', status: 200, severity: 'WARN' },
    // The proxy answers 502 itself: no upstream status (null, as stored), proxy_answered.
    { id: 'logfmt-refused', route: 'nowhere', path: '/v1/models', status: 502, severity: 'ERROR' }
  ]
  for (const c of cases) {
    const res = await request(`${h.url(c.route)}${c.path}?private_token=glpat-logfmtsecretvalue123`, { headers: { 'x-request-id': c.id } })
    await res.body.text()
    t.equal(res.statusCode, c.status, `${c.id}: the caller got ${c.status}`)
  }
  const records = await h.exchanges()
  t.equal(records.length, cases.length, 'every exchange recorded')
  await h.close()

  const lines = readGitlabJsonLog(h.logFile)
  t.ok(lines.length > cases.length, 'start-up lines and exchange lines')
  for (const l of lines) {
    const what = `line ${JSON.stringify(l).slice(0, 160)}`
    t.ok(SEVERITIES.includes(l.severity as string), `${what}: severity is one of GitLab's`)
    t.match(l.time, GITLAB_TIME, `${what}: time is UTC ISO 8601 with milliseconds`)
    t.equal(new Date(l.time as string).toISOString(), l.time, `${what}: time round-trips`)
    t.type(l.message, 'string', `${what}: message is the text`)
    t.same(Object.keys(l).slice(0, 2), ['severity', 'time'], `${what}: severity and time come first, as in GitLab's`)
    for (const pinoKey of ['level', 'msg', 'hostname', 'duration_ms']) t.notOk(pinoKey in l, `${what}: no pino ${pinoKey}`)
  }

  // The main thread's start-up lines (the capture worker writes the exchange lines).
  const listening = lines.filter((l) => l.message === 'route listening')
  t.equal(listening.length, 3, 'one start-up line per route')
  for (const l of listening) t.equal(l.severity, 'INFO')
  t.ok(lines.some((l) => l.message === 'capture ready' && l.severity === 'INFO'), 'capture ready')

  const exchanges = lines.filter((l) => l.message === 'exchange')
  t.equal(exchanges.length, cases.length, 'one exchange line each')
  for (const c of cases) {
    const l = exchanges.find((x) => x.correlation_id === c.id)
    if (l === undefined) {
      t.fail(`${c.id}: no line with correlation_id equal to the X-Request-ID sent`)
      continue
    }
    const record = records.find((r) => r.correlation_id === c.id)!
    t.equal(l.severity, c.severity, `${c.id}: ${c.severity}`)
    t.equal(l.method, 'GET', `${c.id}: method`)
    t.equal(l.path, c.path, `${c.id}: path without the query`)
    if (c.id === 'logfmt-refused') t.equal(l.status, null, `${c.id}: no upstream status`)
    else t.equal(l.status, c.status, `${c.id}: status is a number`)
    t.equal(l.remote_ip, '127.0.0.1', `${c.id}: remote_ip is the caller's address`)
    t.equal(l.route, c.route, `${c.id}: route`)
    t.equal(l.hop, 'model')
    t.type(l.feature, 'string')
    t.ok(Array.isArray(l.flags), `${c.id}: flags`)
    t.equal(l.exchange_id, record.id, `${c.id}: exchange_id names the stored exchange`)
    t.type(l.duration_s, 'number', `${c.id}: duration_s is a number`)
    const duration = l.duration_s as number
    t.ok(duration > 0 && duration < 60, `${c.id}: duration_s is in seconds (${duration})`)
    t.equal(duration, msToRoundSec(record.timings.duration_ms), `${c.id}: duration_s is the record's duration in seconds`)
    t.ok(l.ttfb_s === null || (typeof l.ttfb_s === 'number' && l.ttfb_s <= duration), `${c.id}: ttfb_s in seconds or null`)
    if (c.severity === 'INFO') t.notOk('cause' in l, `${c.id}: no cause when nothing failed`)
  }
  const line = (id: string): Line => exchanges.find((x) => x.correlation_id === id) ?? {}
  t.ok((line('logfmt-slow').flags as string[]).includes('slow'), 'the slow one is flagged slow')
  t.ok((line('logfmt-slow').duration_s as number) >= 0.1, 'the slow one took its 120 ms, in seconds')
  t.ok((line('logfmt-refused').flags as string[]).includes('connection_refused'))
  t.equal(line('logfmt-refused').error_code, 'ECONNREFUSED', 'the transport error code')
  t.equal(line('logfmt-refused').ttfb_s, null, 'no upstream byte: ttfb_s is null')
  t.equal(line('logfmt-refused').proxy_answered, true, 'the proxy answered the caller itself')
  t.notOk('proxy_answered' in line('logfmt-server-error'), 'the upstream answered the 500')
  for (const id of ['logfmt-not-found', 'logfmt-server-error', 'logfmt-refused']) t.type(line(id).cause, 'string', `${id}: the diagnosis's cause`)
  t.notMatch(readFileSync(h.logFile, 'utf8'), /logfmtsecretvalue/, 'the query string (and its token) is not logged')

  if (!(await hasJq())) {
    t.comment('jq is not installed: the jq filter sub-assertions are skipped')
    return
  }
  const errors = (await jq('select(.severity=="ERROR") | .correlation_id', h.logFile)).trim().split('\n').sort()
  t.same(errors, ['logfmt-refused', 'logfmt-server-error'], 'jq: the ERROR lines are the upstream failures')
  const byId = JSON.parse(await jq('select(.correlation_id=="logfmt-not-found") | {severity, status, method, path, remote_ip}', h.logFile)) as unknown
  t.same(byId, { severity: 'WARN', status: 404, method: 'GET', path: '/v1/missing', remote_ip: '127.0.0.1' }, 'jq: one request by its correlation id')
  const slow = (await jq('select(.duration_s > 0.1) | .correlation_id', h.logFile)).trim()
  t.equal(slow, 'logfmt-slow', 'jq: filtered by duration in seconds')
})

t.test("pino's levels map to GitLab's severities", async (t) => {
  t.same(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map(severityOf), ['DEBUG', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'])
  const file = join(t.testdir({}), 'all-levels.log')
  const logger = createLogger('trace', file)
  logger.trace('t')
  logger.debug('d')
  logger.info({ correlation_id: 'c1' }, 'i')
  logger.warn('w')
  logger.error({ err: { message: 'boom' } }, 'e')
  logger.fatal('f')
  // An asynchronous destination: the file appears and fills once it is open.
  const started = Date.now()
  let lines: Line[] = []
  while (Date.now() - started < 5000) {
    logger.flush()
    await new Promise((resolve) => setTimeout(resolve, 20))
    lines = existsSync(file) ? readGitlabJsonLog(file) : []
    if (lines.length >= 6) break
  }
  t.same(lines.map((l) => [l.severity, l.message]), [['DEBUG', 't'], ['DEBUG', 'd'], ['INFO', 'i'], ['WARN', 'w'], ['ERROR', 'e'], ['FATAL', 'f']])
  t.equal(lines[2]!.correlation_id, 'c1')
  t.match(lines[4]!.err, { message: 'boom' })
  t.equal(lines[0]!.pid, process.pid)
  t.equal(lines[0]!.name, 'duo-diag-proxy')
})

t.test('the exchange level: ERROR when the upstream failed, WARN for 4xx and slow, INFO otherwise', async (t) => {
  const cases: Array<[number | null, string[], string]> = [
    [200, [], 'info'],
    [101, [], 'info'],
    [200, ['client_aborted'], 'info'],
    [null, ['client_aborted'], 'info'],
    [200, ['tls_unverified'], 'info'],
    [200, ['slow'], 'warn'],
    [401, ['unauthorized'], 'warn'],
    [403, ['forbidden'], 'warn'],
    [404, ['not_found'], 'warn'],
    [429, ['rate_limited'], 'warn'],
    [413, ['request_rejected', 'client_error'], 'warn'],
    [200, ['token_expired'], 'warn'],
    [421, ['model_error'], 'error'],
    [500, ['upstream_error'], 'error'],
    [502, ['connection_refused'], 'error'],
    [504, ['headers_timeout', 'timeout'], 'error'],
    [200, ['stream_aborted'], 'error'],
    [200, ['stream_truncated', 'slow'], 'error'],
    [200, ['stream_error'], 'error'],
    [null, ['tls_error'], 'error'],
    [503, [], 'error']
  ]
  for (const [status, flags, level] of cases) t.equal(exchangeLevel({ status, flags: flags as never }), level, `${status} ${flags.join(',') || '(no flag)'}: ${level}`)
  t.equal(msToRoundSec(1234.5678912), 1.234568, 'ms to seconds, 6 decimals like Gitlab::Utils.ms_to_round_sec')
  t.equal(msToRoundSec(0), 0)
})
