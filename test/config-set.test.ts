/**
 * The command line reaches every key: `--set section.key=value` (as mitmproxy's --set), and named
 * flags for what people change while reproducing a problem.
 */
import t from 'tap'
import { ConfigError } from '../src/config/errors.js'
import { loadConfig } from '../src/config/load.js'

t.test('--set reaches any key, above the file and the environment', async (t) => {
  const c = loadConfig({
    env: { DUO_DIAG_STORE__FLUSH_INTERVAL_MS: '50' },
    flags: {
      route: ['gw=127.0.0.1:0=http://127.0.0.1:5052', 'model=127.0.0.1:0=http://127.0.0.1:8000'],
      set: [
        'store.flush_interval_ms=10',
        'routes.1.timeouts.connect_ms=2500',
        'routes[0].slow.ttfb_ms=999',
        'diagnosis.gateway_model_timeouts_s=[30, 90]',
        'admin.allowed_hosts=[proxy.internal]',
        'capture.bodies=true',
        'routes.0.max_connections=null'
      ]
    }
  })
  t.equal(c.store.flushIntervalMs, 10, 'above the environment')
  t.equal(c.routes[1]!.timeouts.connectMs, 2500, 'list items by index')
  t.equal(c.routes[0]!.timeouts.connectMs, 10_000, 'the other route keeps its default')
  t.equal(c.routes[0]!.slow.ttfbMs, 999, 'bracket indexes too')
  t.same(c.diagnosis.gatewayModelTimeoutsS, [30, 90], 'values are YAML: lists')
  t.same(c.admin.allowedHosts, ['proxy.internal'])
  t.equal(c.capture.bodies, true, 'booleans')
  t.equal(c.routes[0]!.maxConnections, null, 'null')
  t.throws(() => loadConfig({ flags: { set: ['store.flush_interval_ms=soon'] } }), new ConfigError('store.flush_interval_ms: expected a whole number from 1 to 10000, got "soon"'), 'validated like any key')
  t.throws(() => loadConfig({ flags: { set: ['store.flush_intervall_ms=5'] } }), /store: unknown key "flush_intervall_ms"|flush_intervall_ms/, 'a typo is an error')
  t.throws(() => loadConfig({ flags: { set: ['flush_interval_ms'] } }), /--set "flush_interval_ms": expected section.key=value/)
  t.throws(() => loadConfig({ flags: { set: ['store..path=x'] } }), /expected section.key=value/)
})

t.test('named flags for reproducing a problem, on every route', async (t) => {
  const c = loadConfig({
    flags: {
      route: ['gw=127.0.0.1:0=http://127.0.0.1:5052', 'model=127.0.0.1:0=http://127.0.0.1:8000'],
      connectTimeout: '2s',
      headersTimeout: '1.5s',
      bodyTimeout: '250ms',
      slowTtfb: '3000',
      slowDuration: '1m',
      maxBody: '10MiB',
      faults: true
    }
  })
  for (const r of c.routes) {
    t.same(r.timeouts, { ...r.timeouts, connectMs: 2000, headersMs: 1500, bodyIdleMs: 250 }, `${r.name}: timeouts`)
    t.same(r.slow, { ttfbMs: 3000, durationMs: 60_000 }, `${r.name}: slow thresholds`)
    t.equal(r.maxBodyBytes, 10 * 1024 * 1024, `${r.name}: body limit`)
  }
  t.equal(c.faults.enabled, true, '--faults turns fault injection on')
  t.equal(loadConfig({ flags: { maxBody: '512k' } }).routes[0]!.maxBodyBytes, 512 * 1024)
  t.throws(() => loadConfig({ flags: { connectTimeout: 'soon' } }), new ConfigError('--connect-timeout "soon": expected a duration such as 500ms, 30s or 2m'))
  t.throws(() => loadConfig({ flags: { maxBody: 'lots' } }), new ConfigError('--max-body "lots": expected a size such as 1048576, 512KiB or 64MiB'))
})

t.test('start parses them: the command line as a user types it', async (t) => {
  const { parseStartFlags } = await import('../src/cli/start.js')
  const { sources } = parseStartFlags([
    '--route', 'model=127.0.0.1:0=http://127.0.0.1:8000',
    '--headers-timeout', '45s', '--slow-ttfb', '2s', '--max-body', '1MiB', '--faults',
    '--set', 'store.flush_interval_ms=15', '--set', 'routes.0.max_connections=100'
  ])
  const c = loadConfig({ ...sources, env: {} })
  t.equal(c.routes[0]!.timeouts.headersMs, 45_000)
  t.equal(c.routes[0]!.slow.ttfbMs, 2_000)
  t.equal(c.routes[0]!.maxBodyBytes, 1024 * 1024)
  t.equal(c.routes[0]!.maxConnections, 100)
  t.equal(c.store.flushIntervalMs, 15)
  t.equal(c.faults.enabled, true)
  t.equal(loadConfig({ ...parseStartFlags(['--no-faults']).sources, env: { DUO_DIAG_FAULTS__ENABLED: 'true' } }).faults.enabled, false, '--no-faults beats the environment')
})
