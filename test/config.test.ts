/**
 * Configuration loading, called directly: embedded defaults, config/default.yaml, DUO_DIAG_*
 * environment variables nested with "__", CLI flag overrides, and errors that name the exact key.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import { DEFAULTS, DEFAULT_ROUTE, ROUTE_DEFAULTS } from '../src/config/defaults.js'
import { ConfigError } from '../src/config/errors.js'
import { loadConfig, type ConfigSources } from '../src/config/load.js'
import type { Config } from '../src/config/types.js'

const DEFAULT_YAML = new URL('../config/default.yaml', import.meta.url)
const dir = mkdtempSync(join(tmpdir(), 'ddp-config-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
/** Writes a YAML file into the temp dir and returns its path. */
function yamlFile (text: string): string {
  const file = join(dir, `c${files++}.yaml`)
  writeFileSync(file, text)
  return file
}

/** URLs compare by href: t.same() sees no own properties on a URL object. */
function plain (config: Config): unknown {
  return JSON.parse(JSON.stringify(config))
}

/** Loading fails with a ConfigError whose one-line message starts with the key (or matches). */
function rejects (t: Test, sources: ConfigSources, expected: RegExp | string, what: string, extra: { todo?: string } = {}): void {
  let error: unknown = null
  try {
    loadConfig(sources)
  } catch (err) {
    error = err
  }
  if (!(error instanceof ConfigError)) {
    t.fail(`${what}: expected a ConfigError, got ${error === null ? 'no error' : String(error)}`, extra)
    return
  }
  t.equal(error.code, 'DDP_CONFIG_INVALID', `${what}: code`, extra)
  t.notMatch(error.message, /\n/, `${what}: one line`, extra)
  if (typeof expected === 'string') {
    t.ok(error.message.startsWith(`${expected}: `), `${what}: names ${expected} (got "${error.message}")`, extra)
  } else {
    t.match(error.message, expected, `${what}: ${error.message}`, extra)
  }
}

t.test('embedded defaults', async (t) => {
  const c = loadConfig()
  t.equal(c.routes.length, 1, 'one route')
  const r = c.routes[0]!
  t.equal(r.name, 'gitlab-aigw')
  t.same(r.listen, { host: '0.0.0.0', port: 5053 })
  t.equal(r.upstream.href, 'http://127.0.0.1:5052/')
  t.equal(r.hop, 'auto')
  t.equal(r.preserveHost, false)
  t.same(r.tls, { caFile: null, insecureSkipVerify: false })
  t.same(r.timeouts, { connectMs: 10_000, headersMs: 90_000, bodyIdleMs: 90_000, clientHeadersMs: 10_000, clientRequestMs: 60_000, websocketIdleMs: 600_000 })
  t.equal(r.maxBodyBytes, 64 * 1024 * 1024)
  t.equal(r.maxConnections, null, 'connection cap derived from the descriptor limit')
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 5099 }, token: null, allowedHosts: [] })
  t.equal(c.store.path, './data/exchanges.db')
  t.equal(c.store.flushIntervalMs, 25)
  t.same(c.store.retention, { maxRows: 1_000_000, maxAgeHours: 168 })
  t.equal(c.capture.bodies, false, 'metadata-only capture by default')
  t.same(c.capture.redaction, { add: [], remove: [] })
  t.same(c.log, { level: 'info', file: null })
  t.equal(c.shutdownGraceMs, 10_000)
  t.same(plain(loadConfig({ env: {} })), plain(c), 'an empty environment changes nothing')
  t.same(plain(loadConfig({ file: yamlFile('') })), plain(c), 'an empty file changes nothing')
  t.same(plain(loadConfig({ file: yamlFile('# only comments\n') })), plain(c), 'a file of comments changes nothing')
})

t.test('config/default.yaml is exactly the embedded defaults', async (t) => {
  const raw = parseYaml(readFileSync(DEFAULT_YAML, 'utf8')) as Record<string, unknown>
  const { routes, ...rest } = raw
  const { routes: _defaultRoutes, ...defaultRest } = DEFAULTS
  t.same(rest, defaultRest, 'every section and value written out as in defaults.ts (no more keys, no fewer)')
  t.same(routes, [{ ...DEFAULT_ROUTE, ...ROUTE_DEFAULTS }], 'the route: DEFAULT_ROUTE plus every route default')
  const fromFile = loadConfig({ file: DEFAULT_YAML.pathname, env: {} })
  t.same(plain(fromFile), plain(loadConfig()), 'loading the file yields the embedded defaults')
  const viaEnv = loadConfig({ env: { DUO_DIAG_CONFIG: DEFAULT_YAML.pathname } })
  t.same(plain(viaEnv), plain(loadConfig()), 'DUO_DIAG_CONFIG names the file too')
})

t.test('a file overrides the defaults, key by key', async (t) => {
  const file = yamlFile([
    'routes:',
    '  - name: aigw',
    '    listen: 127.0.0.1:6053',
    '    upstream: https://aigw.example.com:8443/base/',
    '    hop: gateway',
    '    timeouts: { headers_ms: 1500 }',
    '  - name: model',
    '    listen: "[::1]:6054"',
    '    upstream: http://vllm:8000',
    '    hop: model',
    'store:',
    '  retention: { max_rows: 10 }',
    'capture:',
    '  redaction: { add: [foo, "bar$"] }'
  ].join('\n'))
  const c = loadConfig({ file })
  t.equal(c.routes.length, 2)
  t.equal(c.routes[0]!.name, 'aigw')
  t.same(c.routes[0]!.listen, { host: '127.0.0.1', port: 6053 })
  t.equal(c.routes[0]!.upstream.href, 'https://aigw.example.com:8443/base/')
  t.equal(c.routes[0]!.hop, 'gateway')
  t.same(c.routes[0]!.timeouts, { connectMs: 10_000, headersMs: 1500, bodyIdleMs: 90_000, clientHeadersMs: 10_000, clientRequestMs: 60_000, websocketIdleMs: 600_000 }, 'unset timeouts keep their defaults')
  t.same(c.routes[1]!.listen, { host: '::1', port: 6054 }, 'bracketed IPv6 listen address')
  t.equal(c.routes[1]!.hop, 'model')
  t.same(c.store.retention, { maxRows: 10, maxAgeHours: 168 }, 'nested mapping merged, not replaced')
  t.equal(c.store.path, './data/exchanges.db')
  t.same(c.capture.redaction.add, ['foo', 'bar$'])
})

t.test('environment overrides, nested with __', async (t) => {
  const c = loadConfig({
    env: {
      DUO_DIAG_ROUTES__0__UPSTREAM: 'https://aigw.example.com',
      DUO_DIAG_ROUTES__0__TIMEOUTS__CONNECT_MS: '250',
      DUO_DIAG_ROUTES__0__PRESERVE_HOST: 'yes',
      DUO_DIAG_CAPTURE__BODIES: 'true',
      DUO_DIAG_CAPTURE__REDACTION__ADD: 'foo, bar$',
      DUO_DIAG_STORE__PATH: '/var/lib/ddp/x.db',
      DUO_DIAG_STORE__RETENTION__MAX_ROWS: '50',
      DUO_DIAG_ADMIN__LISTEN: '127.0.0.1:6099',
      DUO_DIAG_ADMIN__TOKEN: 's3cret',
      DUO_DIAG_LOG__LEVEL: 'debug',
      DUO_DIAG_SHUTDOWN_GRACE_MS: '500',
      PATH: '/usr/bin',
      AIGW_LOGGING__LEVEL: 'debug'
    }
  })
  const r = c.routes[0]!
  t.equal(r.upstream.href, 'https://aigw.example.com/', 'DUO_DIAG_ROUTES__0__UPSTREAM indexes the list')
  t.equal(r.name, 'gitlab-aigw', 'the rest of routes[0] kept')
  t.same(r.listen, { host: '0.0.0.0', port: 5053 })
  t.equal(r.timeouts.connectMs, 250, 'three levels deep, integer coerced')
  t.equal(r.preserveHost, true, 'boolean coerced from "yes"')
  t.equal(c.capture.bodies, true, 'DUO_DIAG_CAPTURE__BODIES=true')
  t.same(c.capture.redaction.add, ['foo', 'bar$'], 'lists from comma-separated text')
  t.equal(c.store.path, '/var/lib/ddp/x.db')
  t.equal(c.store.retention.maxRows, 50)
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 6099 }, token: 's3cret', allowedHosts: [] })
  t.equal(c.log.level, 'debug')
  t.equal(c.shutdownGraceMs, 500, 'single underscores stay inside a key')

  const two = loadConfig({
    env: {
      DUO_DIAG_ROUTES__1__NAME: 'model',
      DUO_DIAG_ROUTES__1__LISTEN: '127.0.0.1:6054',
      DUO_DIAG_ROUTES__1__UPSTREAM: 'http://127.0.0.1:8000',
      DUO_DIAG_ROUTES__1__HOP: 'model'
    }
  })
  t.same(two.routes.map((x) => [x.name, x.upstream.href, x.hop]), [
    ['gitlab-aigw', 'http://127.0.0.1:5052/', 'auto'],
    ['model', 'http://127.0.0.1:8000/', 'model']
  ], 'a second route added from the environment alone')

  const file = yamlFile('store:\n  path: /from/file.db\ncapture:\n  bodies: true\n')
  const layered = loadConfig({ file, env: { DUO_DIAG_STORE__PATH: '/from/env.db' } })
  t.equal(layered.store.path, '/from/env.db', 'environment beats the file')
  t.equal(layered.capture.bodies, true, 'keys the environment does not set come from the file')
  const named = loadConfig({ env: { DUO_DIAG_CONFIG: file, DUO_DIAG_STORE__PATH: '/from/env.db' } })
  t.equal(named.store.path, '/from/env.db', 'DUO_DIAG_CONFIG is a file name, not a key')
  t.equal(named.capture.bodies, true)
})

t.test('flags override the environment and the file', async (t) => {
  const ca = join(dir, 'ca.pem')
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n')
  const env = {
    DUO_DIAG_ROUTES__0__UPSTREAM: 'http://env-upstream:1',
    DUO_DIAG_STORE__PATH: '/env.db',
    DUO_DIAG_CAPTURE__BODIES: 'true',
    DUO_DIAG_ADMIN__LISTEN: '127.0.0.1:6099',
    DUO_DIAG_ADMIN__TOKEN: 'env-token',
    DUO_DIAG_LOG__LEVEL: 'debug'
  }
  const c = loadConfig({
    env,
    flags: {
      upstream: 'http://flag-upstream:2',
      db: '/flag.db',
      captureBodies: false,
      admin: '127.0.0.1:7099',
      adminToken: 'flag-token',
      logLevel: 'warn',
      caFile: ca,
      insecureSkipVerify: true
    }
  })
  t.equal(c.routes[0]!.upstream.href, 'http://flag-upstream:2/')
  t.equal(c.store.path, '/flag.db')
  t.equal(c.capture.bodies, false, '--capture-bodies=false beats DUO_DIAG_CAPTURE__BODIES=true')
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 7099 }, token: 'flag-token', allowedHosts: [] })
  t.equal(c.log.level, 'warn')
  t.same(c.routes[0]!.tls, { caFile: ca, insecureSkipVerify: true })

  const off = loadConfig({ env, flags: { admin: 'off' } })
  t.equal(off.admin.listen, null, '--admin off disables the admin API')
  t.equal(off.store.path, '/env.db', 'what no flag sets still comes from the environment')
})

t.test('--route NAME=LISTEN=UPSTREAM, repeated, replaces the routes', async (t) => {
  const file = yamlFile('routes:\n  - name: from-file\n    listen: 127.0.0.1:6000\n    upstream: http://127.0.0.1:6001\n')
  const ca = join(dir, 'ca2.pem')
  writeFileSync(ca, 'pem')
  const c = loadConfig({
    file,
    flags: {
      route: ['aigw=127.0.0.1:7053=http://127.0.0.1:5052', 'model=:7054=http://127.0.0.1:8000/v1'],
      caFile: ca
    }
  })
  t.same(c.routes.map((r) => r.name), ['aigw', 'model'], 'both flag routes, none from the file')
  t.same(c.routes[0]!.listen, { host: '127.0.0.1', port: 7053 })
  t.same(c.routes[1]!.listen, { host: '0.0.0.0', port: 7054 }, '":PORT" is all interfaces')
  t.equal(c.routes[1]!.upstream.href, 'http://127.0.0.1:8000/v1')
  t.same(c.routes.map((r) => r.tls.caFile), [ca, ca], '--ca-file applies to every route')
  t.same(c.routes.map((r) => r.hop), ['auto', 'model'], 'a route named model sits on the model hop; others are auto')

  const hops = loadConfig({ flags: { route: ['vllm:model=127.0.0.1:7001=http://127.0.0.1:8000', 'aigw:gateway=127.0.0.1:7002=http://127.0.0.1:5052', 'model:auto=127.0.0.1:7003=http://127.0.0.1:8001'] } })
  t.same(hops.routes.map((r) => [r.name, r.hop]), [['vllm', 'model'], ['aigw', 'gateway'], ['model', 'auto']], 'NAME:HOP sets the hop, over the name')
  rejects(t, { flags: { route: ['vllm:llm=127.0.0.1:7001=http://127.0.0.1:8000'] } }, /hop "llm" is not one of auto, gateway, model/, 'an unknown hop')
  const named = loadConfig({ file: yamlFile('routes:\n  - name: model\n    listen: 127.0.0.1:6000\n    upstream: http://127.0.0.1:6001\n') })
  t.equal(named.routes[0]!.hop, 'model', 'a file route named model is a model route too')

  const both = loadConfig({ flags: { listen: '127.0.0.1:7000', route: ['model=127.0.0.1:7001=http://127.0.0.1:8000'] } })
  t.same(both.routes.map((r) => [r.name, r.listen.port]), [['gitlab-aigw', 7000], ['model', 7001]], 'quick form first, then --route')

  rejects(t, { flags: { route: ['aigw=127.0.0.1:7053'] } }, '--route "aigw=127.0.0.1:7053"', 'two parts')
  rejects(t, { flags: { route: ['a==http://x'] } }, '--route "a==http://x"', 'an empty part')
  rejects(t, { flags: { route: ['a=127.0.0.1:1=http://h:1', 'a=127.0.0.1:2=http://h:2'] } }, /^routes: the name "a" is used twice$/, 'duplicate names from flags')
  rejects(t, { flags: { route: ['a=127.0.0.1:1=ftp://h'] } }, 'routes[0].upstream', 'a flag route is validated like a file route')
})

t.test('the quick form (--listen / --upstream) keeps what it does not set', async (t) => {
  const listenOnly = loadConfig({ flags: { listen: '127.0.0.1:7000' } })
  t.equal(listenOnly.routes.length, 1)
  t.equal(listenOnly.routes[0]!.name, 'gitlab-aigw')
  t.same(listenOnly.routes[0]!.listen, { host: '127.0.0.1', port: 7000 })
  t.equal(listenOnly.routes[0]!.upstream.href, 'http://127.0.0.1:5052/', 'default upstream kept')

  const upstreamOnly = loadConfig({ flags: { upstream: 'http://127.0.0.1:9000' } })
  t.same(upstreamOnly.routes[0]!.listen, { host: '0.0.0.0', port: 5053 }, 'default listen kept')
  t.equal(upstreamOnly.routes[0]!.upstream.href, 'http://127.0.0.1:9000/')

  const file = yamlFile([
    'routes:',
    '  - name: aigw',
    '    listen: 127.0.0.1:6053',
    '    upstream: http://127.0.0.1:6052',
    '  - name: model',
    '    listen: 127.0.0.1:6054',
    '    upstream: http://127.0.0.1:8000'
  ].join('\n'))
  const overFile = loadConfig({ file, flags: { upstream: 'http://127.0.0.1:9000' } })
  t.same(overFile.routes.map((r) => r.name), ['aigw'], 'one route, named like the file\'s first')
  t.same(overFile.routes[0]!.listen, { host: '127.0.0.1', port: 6053 }, 'listen from the file')
  t.equal(overFile.routes[0]!.upstream.href, 'http://127.0.0.1:9000/')

  const overEnv = loadConfig({ env: { DUO_DIAG_ROUTES__0__UPSTREAM: 'http://127.0.0.1:9100' }, flags: { listen: '127.0.0.1:7000' } })
  t.equal(overEnv.routes[0]!.upstream.href, 'http://127.0.0.1:9100/', 'upstream from the environment')
})

t.test('the quick form keeps the first route\'s other settings', async (t) => {
  const file = yamlFile([
    'routes:',
    '  - name: model',
    '    listen: 127.0.0.1:6054',
    '    upstream: http://127.0.0.1:8000',
    '    hop: model',
    '    timeouts: { headers_ms: 1500 }'
  ].join('\n'))
  const c = loadConfig({ file, flags: { listen: '127.0.0.1:7054' } })
  t.same(c.routes[0]!.listen, { host: '127.0.0.1', port: 7054 })
  t.equal(c.routes[0]!.hop, 'model', '--listen does not reset hop')
  t.equal(c.routes[0]!.timeouts.headersMs, 1500, '--listen does not reset timeouts')
})

t.test('errors name the exact key', async (t) => {
  const missing = join(dir, 'does-not-exist.yaml')
  rejects(t, { file: missing }, new RegExp(`^config file ${missing}: cannot be read \\(ENOENT\\)$`), 'file missing')
  rejects(t, { env: { DUO_DIAG_CONFIG: missing } }, `config file ${missing}`, 'file missing (DUO_DIAG_CONFIG)')
  const badYaml = yamlFile('routes: [\n  - name: x\n')
  rejects(t, { file: badYaml }, new RegExp(`^config file ${badYaml}: invalid YAML: `), 'invalid YAML')
  const tabs = yamlFile('store:\n\tpath: x\n')
  rejects(t, { file: tabs }, `config file ${tabs}`, 'invalid YAML (tab indentation)')
  const list = yamlFile('- a\n- b\n')
  rejects(t, { file: list }, new RegExp(`^config file ${list}: the top level must be a mapping$`), 'a list at the top level')

  rejects(t, { file: yamlFile('bogus: 1\n') }, /^bogus: unknown key$/, 'unknown top-level key')
  rejects(t, { file: yamlFile('store:\n  pth: x\n') }, /^store\.pth: unknown key$/, 'unknown nested key')
  rejects(t, { file: yamlFile('store:\n  retention:\n    max_rowz: 5\n') }, /^store\.retention\.max_rowz: unknown key$/, 'unknown key two levels down')
  rejects(t, { file: yamlFile('routes:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://h:1\n    upstrem: http://h:2\n') },
    /^routes\[0\]\.upstrem: unknown key$/, 'unknown key in a route')
  rejects(t, { file: yamlFile('routes:\n  - upstream: http://h:1\n    tls: { ca: x }\n') }, /^routes\[0\]\.tls\.ca: unknown key$/, 'unknown key in a route section')
  rejects(t, { env: { DUO_DIAG_STORE__PATHH: 'x' } }, /^store\.pathh: unknown key$/, 'unknown key from the environment')
  rejects(t, { env: { DUO_DIAG_BOGUS: 'x' } }, /^bogus: unknown key$/, 'unknown top-level key from the environment')
  rejects(t, { env: { DUO_DIAG_STORE____PATH: 'x' } }, /^DUO_DIAG_STORE____PATH: malformed variable name$/, 'malformed variable name')

  rejects(t, { flags: { upstream: 'not a url' } }, /^routes\[0\]\.upstream: "not a url" is not a URL/, 'bad URL')
  rejects(t, { env: { DUO_DIAG_ROUTES__0__UPSTREAM: '127.0.0.1:5052' } }, /^routes\[0\]\.upstream: /, 'URL without a scheme')
  rejects(t, { flags: { upstream: 'ftp://127.0.0.1:21' } }, /^routes\[0\]\.upstream: "ftp:\/\/127\.0\.0\.1:21" must use http or https, not ftp$/, 'non-http scheme')
  rejects(t, { flags: { upstream: 'http://user:pw@h:1' } }, 'routes[0].upstream', 'credentials in the URL')
  rejects(t, { flags: { upstream: 'http://h:1/?x=1' } }, 'routes[0].upstream', 'query in the URL')
  rejects(t, { file: yamlFile('routes:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://h:1\n  - name: b\n    listen: 127.0.0.1:2\n    upstream: ws://h:1\n') },
    'routes[1].upstream', 'the second route\'s upstream')
  rejects(t, { file: yamlFile('routes:\n  - name: a\n    listen: 127.0.0.1:1\n') }, /^routes\[0\]\.upstream: missing/, 'route without an upstream')

  rejects(t, { flags: { listen: '127.0.0.1:99999' } }, /^routes\[0\]\.listen: "127\.0\.0\.1:99999" is not a listen address/, 'port out of range')
  rejects(t, { flags: { listen: 'localhost' } }, 'routes[0].listen', 'no port')
  rejects(t, { flags: { listen: '127.0.0.1:' } }, 'routes[0].listen', 'empty port')
  rejects(t, { flags: { admin: '127.0.0.1:http' } }, /^admin\.listen: /, 'bad admin address')

  rejects(t, { file: yamlFile('store:\n  flush_interval_ms: 0\n') }, /^store\.flush_interval_ms: expected a whole number from 1 to 10000, got 0$/, 'integer below range')
  rejects(t, { env: { DUO_DIAG_SHUTDOWN_GRACE_MS: '600001' } }, /^shutdown_grace_ms: expected a whole number from 0 to 600000, got "600001"$/, 'integer above range (env)')
  rejects(t, { env: { DUO_DIAG_ROUTES__0__TIMEOUTS__CONNECT_MS: '1.5' } }, 'routes[0].timeouts.connect_ms', 'not a whole number')
  rejects(t, { env: { DUO_DIAG_CAPTURE__SAMPLE_BYTES: 'lots' } }, 'capture.sample_bytes', 'not a number')
  rejects(t, { env: { DUO_DIAG_STORE__RETENTION__MAX_ROWS: ' ' } }, 'store.retention.max_rows', 'blank')

  rejects(t, { env: { DUO_DIAG_CAPTURE__BODIES: 'maybe' } }, /^capture\.bodies: expected true or false, got "maybe"$/, 'bad boolean (env)')
  rejects(t, { file: yamlFile('routes:\n  - upstream: http://h:1\n    preserve_host: 2\n') }, 'routes[0].preserve_host', 'bad boolean (file)')
  rejects(t, { flags: { logLevel: 'loud' } }, /^log\.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/, 'bad enum')
  rejects(t, { file: yamlFile('capture:\n  redaction:\n    add: [{ a: 1 }]\n') }, /^capture\.redaction\.add\[0\]: expected a string, got a mapping$/, 'bad list item')
  rejects(t, { file: yamlFile('store: /x.db\n') }, /^store: expected a mapping, got "\/x\.db"$/, 'a scalar where a section goes')

  rejects(t, { file: yamlFile('routes:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://h:1\n  - name: a\n    listen: 127.0.0.1:2\n    upstream: http://h:2\n') },
    /^routes: the name "a" is used twice$/, 'duplicate route names')
  rejects(t, { file: yamlFile('routes:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://h:1\n  - name: b\n    listen: 127.0.0.1:1\n    upstream: http://h:2\n') },
    /^routes: two routes listen on 127\.0\.0\.1:1$/, 'two routes on one address')
  rejects(t, { file: yamlFile('routes:\n  - name: "bad name"\n    upstream: http://h:1\n') }, 'routes[0].name', 'bad route name')
  rejects(t, { file: yamlFile('routes: []\n') }, /^routes: at least one route is needed$/, 'no routes')

  const noCa = join(dir, 'missing-ca.pem')
  rejects(t, { flags: { caFile: noCa } }, new RegExp(`^routes\\[0\\]\\.tls\\.ca_file: ${noCa} cannot be read \\(ENOENT\\)$`), 'unreadable tls.ca_file')
  rejects(t, { file: yamlFile(`routes:\n  - upstream: https://h:1\n    tls:\n      ca_file: ${noCa}\n`) }, 'routes[0].tls.ca_file', 'unreadable tls.ca_file (file)')
})

t.test('a directory given as tls.ca_file is rejected at load, naming the key', async (t) => {
  const caDir = join(dir, 'ca-dir')
  mkdirSync(caDir, { recursive: true })
  rejects(t, { flags: { upstream: 'https://127.0.0.1:1', caFile: caDir } }, 'routes[0].tls.ca_file', 'a directory')
})

t.test('an environment route past the end of the list is named as the user wrote it', async (t) => {
  rejects(t, {
    env: { DUO_DIAG_ROUTES__2__NAME: 'model', DUO_DIAG_ROUTES__2__LISTEN: '127.0.0.1:6054', DUO_DIAG_ROUTES__2__UPSTREAM: 'ftp://h:1' }
  }, /^(routes\[2\]\.upstream|DUO_DIAG_ROUTES__2__UPSTREAM): /, 'DUO_DIAG_ROUTES__2__UPSTREAM')
})

t.test('an empty section in the file does not break the flags that set it', async (t) => {
  // "capture:" with every key commented out is what editing config/default.yaml produces.
  const file = yamlFile('admin:\n  # listen: 127.0.0.1:5099\nstore:\ncapture:\nlog:\n')
  let c: Config | null = null
  let thrown: unknown = null
  try {
    c = loadConfig({ file, flags: { admin: '127.0.0.1:7099', db: '/flag.db', captureBodies: true, logLevel: 'warn' } })
  } catch (err) {
    thrown = err
  }
  t.equal(thrown, null, 'loadConfig does not throw')
  t.equal(c?.store.path, '/flag.db', '--db applied')
  t.equal(c?.capture.bodies, true, '--capture-bodies applied')
  t.same(c?.admin.listen, { host: '127.0.0.1', port: 7099 }, '--admin applied')
  t.equal(c?.log.level, 'warn', '--log-level applied')
  t.same(plain(loadConfig({ file })), plain(loadConfig()), 'without flags the empty sections mean the defaults')
  // A scalar there is a configuration error (exit 2), never a crash (exit 1).
  rejects(t, { env: { DUO_DIAG_LOG: 'x' }, flags: { logLevel: 'warn' } }, 'log', 'a scalar section plus its flag')
})
