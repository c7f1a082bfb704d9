/**
 * `duo-diag-proxy bundle`: the archive unpacked and every file checked, from a running proxy and
 * from a store file; a store holding a planted secret is refused (exit 1) and nothing is written.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { extract } from 'tar'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { maskConfig } from '../src/bundle/mask.js'
import type { Config } from '../src/config/types.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { runCommand, type Run } from './helpers/command.js'
import { harValidator } from './helpers/har.js'
import { startHarness } from './helpers/proxy-harness.js'

const bundle = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => runCommand('bundle', args, { env })

const PAT = 'glpat-PlantedSecret0123456789'
const ADMIN_SECRET = 'bundle-admin-token-do-not-ship'

/** Unpacks with the tar package; returns the bundle's folder and its file names. */
async function unpack (archive: string, into: string): Promise<{ dir: string, files: string[] }> {
  await extract({ file: archive, cwd: into })
  const [folder, ...more] = readdirSync(into)
  if (folder === undefined || more.length > 0) throw new Error(`expected one top folder, got ${readdirSync(into).join(', ')}`)
  const dir = join(into, folder)
  return { dir, files: readdirSync(dir).sort() }
}

async function post (url: string, body: unknown, id: string): Promise<void> {
  const res = await request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-request-id': id, authorization: 'Bearer customer-credential-0123456789' } })
  await res.body.text()
}

t.test('config masking: secret-named keys, URL credentials, token-shaped strings', async (t) => {
  const masked = maskConfig({
    admin: { listen: null, token: 'admin-token-value' },
    routes: [{ upstream: new URL('http://svc:hunter2@aigw.internal:5052') }],
    faults: { rules: [{ match: { header: { authorization: 'Bearer abcdefghijklmnopqrstuvwxyz' } }, model_api_key: 'k', note: `use ${'glpat-'}abcdefghijklmnop0123` }] },
    capture: { redaction: { add: ['api_key', 'token$'] } }
  } as unknown as Config)
  t.same(masked, {
    admin: { listen: null, token: '[FILTERED]' },
    routes: [{ upstream: 'http://[FILTERED]:[FILTERED]@aigw.internal:5052/' }],
    faults: { rules: [{ match: { header: { authorization: 'Bearer [FILTERED]' } }, model_api_key: '[FILTERED]', note: 'use [FILTERED]' }] },
    capture: { redaction: { add: ['api_key', 'token$'] } }
  })
})

t.test('bundle from a running proxy and from its store file', async (t) => {
  const model = await startModelServer()
  const gateway = await startAiGateway({ modelEndpoint: `${model.url}/v1` })
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: gateway.url }, { name: 'model', upstream: model.url, hop: 'model' }] })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
    await model.close()
  })
  const code = { current_file: { file_name: 'a.py', language_identifier: 'python', content_above_cursor: 'def f():\n', content_below_cursor: '' }, model_name: DEFAULT_MODEL, model_identifier: `custom_openai/${DEFAULT_MODEL}`, model_endpoint: `${h.url('model')}/v1`, model_api_key: 'sk-proj-abcdefghijklmnopqrstuvwx' }
  await post(`${h.url()}/v2/code/completions`, code, 'bundle-ok-1')
  await post(`${h.url('model')}/chat/completions`, { model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] }, 'bundle-nov1-1')
  const recorded = await h.exchanges()
  t.equal(recorded.length, 3, 'gateway, its model call, and the 404')

  const dir = t.testdir({})
  const config = join(dir, 'proxy.yaml')
  writeFileSync(config, [
    'routes:',
    '  - name: gitlab-aigw',
    '    listen: 127.0.0.1:5053',
    '    upstream: http://aigw.internal:5052',
    'admin:',
    '  listen: 0.0.0.0:5099',
    `  token: ${ADMIN_SECRET}`,
    'capture:',
    '  bodies: true',
    ''
  ].join('\n'))

  t.test('--admin: every file, checked', async (t) => {
    const out = join(dir, 'case-1.tar.gz')
    const run = await bundle(['--admin', h.adminUrl, '--since', '2h', '--out', out, '--config', config, '--gateway', gateway.url, '--model', `${model.url}/v1`], { DUO_DIAG_LOG__LEVEL: 'warn' })
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /^bundle: 3 exchange\(s\) since 2h/)
    t.match(run.stdout, /audit: 9 files scanned, no token-shaped strings found/)
    t.match(run.stderr, /wrote .*case-1\.tar\.gz \(3 exchanges, 9 files, .*; unpacks into case-1\/\)/, 'what was written, on stderr')
    t.equal(statSync(out).mode & 0o777, 0o600, 'owner-only')
    t.notOk(existsSync(`${out}.partial`))

    const { dir: b, files } = await unpack(out, t.testdir({}))
    t.same(files, ['README.txt', 'config.json', 'doctor.json', 'exchanges.har', 'exchanges.ndjson', 'metrics.txt', 'summary.json', 'summary.txt', 'version.json'])
    const text = (name: string): string => readFileSync(join(b, name), 'utf8')
    const json = <T> (name: string): T => JSON.parse(text(name)) as T

    const readme = text('README.txt')
    for (const f of files.filter((f) => f !== 'README.txt')) t.match(readme, new RegExp(`^  ${f.replace('.', '\\.')} +\\S`, 'm'), `README.txt says what ${f} is`)
    t.match(readme, /3 exchange\(s\) matching: since=2h/)

    const har = json<{ log: { entries: Array<{ _duo_diag: { correlation_id: string } }> } }>('exchanges.har')
    t.ok(harValidator()(har), 'valid HAR 1.2')
    t.equal(har.log.entries.length, 3)
    t.ok(har.log.entries.some((e) => e._duo_diag.correlation_id === 'bundle-nov1-1'))
    const lines = text('exchanges.ndjson').trim().split('\n').map((l) => JSON.parse(l) as Exchange)
    t.same(lines.map((e) => e.id).sort(), recorded.map((e) => e.id).sort(), 'NDJSON: the same exchanges')
    t.match(lines.find((e) => e.correlation_id === 'bundle-ok-1')?.request.headers.authorization, /^Bearer \[FILTERED sha256:[0-9a-f]{8}\]$/, 'redacted as stored')

    const summary = json<{ total: number, by_flag: Record<string, number> }>('summary.json')
    t.equal(summary.total, 3)
    t.equal(summary.by_flag.not_found, 1)
    t.match(text('summary.txt'), /3 exchanges, 1 failed/)
    t.match(text('metrics.txt'), /^duo_diag_exchanges_total\{/m)

    const cfg = json<{ source: string, config: { routes: Array<{ upstream: string }>, admin: { token: string }, capture: { bodies: boolean } } }>('config.json')
    t.match(cfg.source, /proxy\.yaml/)
    t.equal(cfg.config.admin.token, '[FILTERED]')
    t.equal(cfg.config.routes[0]?.upstream, 'http://aigw.internal:5052/')
    t.equal(cfg.config.capture.bodies, true, 'the file was applied')
    t.equal((cfg.config as unknown as { log: { level: string } }).log.level, 'warn', 'and the DUO_DIAG_* environment')

    const doctor = json<{ ok: boolean, checks: Array<{ check: string, status: string }> }>('doctor.json')
    t.equal(doctor.ok, true)
    t.ok(doctor.checks.some((c) => c.check === 'gateway.healthz' && c.status === 'pass'))
    t.ok(doctor.checks.some((c) => c.check === 'model.url_v1' && c.status === 'pass'))

    const version = json<{ duo_diag_proxy: string, node: string, platform: string, store: { read_from: string } }>('version.json')
    t.equal(version.duo_diag_proxy, (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version)
    t.equal(version.node, process.version)
    t.equal(version.platform, process.platform)
    t.equal(version.store.read_from, 'admin API')

    for (const f of files) {
      const content = text(f)
      for (const secret of [ADMIN_SECRET, 'customer-credential-0123456789', 'sk-proj-abcdefghijklmnopqrstuvwx']) t.notOk(content.includes(secret), `${f} holds no ${secret.slice(0, 8)}…`)
    }
  })

  t.test('--db: no metrics (said so), doctor not run (said so)', async (t) => {
    const out = join(dir, 'case-2.tar.gz')
    const run = await bundle(['--db', h.dbPath, '--out', out, '--route', 'model'])
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /metrics\.txt +not included: made from a store file/)
    const { dir: b, files } = await unpack(out, t.testdir({}))
    t.notOk(files.includes('metrics.txt'))
    t.match(readFileSync(join(b, 'README.txt'), 'utf8'), /metrics\.txt +not included: made from a store file \(--db\)/)
    t.match(JSON.parse(readFileSync(join(b, 'doctor.json'), 'utf8')), { note: /doctor was not run: give bundle --gateway URL/ })
    t.equal(readFileSync(join(b, 'exchanges.ndjson'), 'utf8').trim().split('\n').length, 2, '--route model: the model hop only')
    t.match(JSON.parse(readFileSync(join(b, 'version.json'), 'utf8')), { store: { read_from: 'file', path: h.dbPath } })
    t.match(JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')), { source: 'embedded defaults < DUO_DIAG_* environment' })
  })

  t.test('a planted secret: refused, exit 1, file and record named, nothing written', async (t) => {
    // A copy of a real record with a GitLab token where redaction would have stopped it.
    const store = join(t.testdir({}), 'planted.db')
    new SqliteStore(store).close()
    const db = new Database(store)
    const insert = db.prepare(`INSERT INTO exchanges (id, started_at, route, hop, correlation_id, method, path, status, feature, duration_ms, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    const clean = recorded[0]!
    const planted: Exchange = { ...clean, id: '0000000000000000beef', request: { ...clean.request, headers: { ...clean.request.headers, 'x-note': `token ${PAT}` } } }
    for (const ex of [clean, planted]) insert.run(ex.id, Date.parse(ex.started_at), ex.route, ex.hop, ex.correlation_id, ex.method, ex.path, ex.status, ex.meta.feature, ex.timings.duration_ms, JSON.stringify(ex))
    db.close()

    const out = join(dir, 'refused.tar.gz')
    const run = await bundle(['--db', store, '--out', out])
    t.equal(run.code, 1)
    t.match(run.stderr, /refused: the secret audit found \d+ token-shaped string\(s\); nothing was written/)
    t.match(run.stderr, /exchanges\.har\s+0000000000000000beef\s+gitlab-token/)
    t.match(run.stderr, /exchanges\.ndjson\s+0000000000000000beef\s+gitlab-token/)
    t.notMatch(run.stderr, new RegExp(clean.id), 'the clean record is not named')
    t.notMatch(run.stderr + run.stdout, /PlantedSecret/, 'the secret itself is not printed')
    t.notOk(existsSync(out), 'no bundle')
    t.notOk(existsSync(`${out}.partial`), 'no partial bundle')
  })

  t.test('usage errors: exit 2', async (t) => {
    t.equal((await bundle(['--since', 'yesterday', '--db', h.dbPath])).code, 2)
    t.equal((await bundle(['--admin', h.adminUrl, '--db', h.dbPath])).code, 2)
    t.equal((await bundle(['--gateway', 'aigw:5052', '--db', h.dbPath])).code, 2)
    const help = await bundle(['--help'])
    t.equal(help.code, 0)
    t.match(help.stdout, /^Usage: duo-diag-proxy bundle/)
  })
})
