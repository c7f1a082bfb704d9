/**
 * config/schema.json: the one JSON Schema for the YAML file. Checked here with a fresh ajv that
 * knows nothing of the proxy (as an editor's YAML language server would), and through the
 * loader, whose errors come from it.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { DEFAULTS, DEFAULT_ROUTE, ROUTE_DEFAULTS } from '../src/config/defaults.js'
import { ConfigError } from '../src/config/errors.js'
import { loadConfig } from '../src/config/load.js'
import { ERROR_BODIES, PRESETS } from '../src/faults/rules.js'

const SCHEMA_FILE = new URL('../config/schema.json', import.meta.url)
const DEFAULT_YAML = new URL('../config/default.yaml', import.meta.url)
type Node = Record<string, unknown> & { properties?: Record<string, Node>, definitions?: Record<string, Node>, default?: unknown }
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Node

/** A plain validator: no coercion, no defaults, unknown annotation keywords allowed. */
function plainValidator (): ReturnType<Ajv['compile']> {
  const ajv = new Ajv({ allErrors: true, strict: false })
  return ajv.compile(schema)
}

function message (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    return `not a ConfigError: ${String(err)}`
  }
  return 'no error'
}

t.test('config/default.yaml names the schema for editors, and validates against it', async (t) => {
  const text = readFileSync(DEFAULT_YAML, 'utf8')
  t.match(text.split('\n')[0], /^# yaml-language-server: \$schema=\.\/schema\.json$/, 'first line: the yaml-language-server modeline')
  const validate = plainValidator()
  const doc = parseYaml(text) as unknown
  t.ok(validate(doc), `default.yaml is valid: ${JSON.stringify(validate.errors)}`)
  t.notOk(validate({ ...(doc as object), bogus: 1 }), 'an unknown key is not')
  t.notOk(validate({ store: { flush_interval_ms: 'soon' } }), 'a word where a number goes is not')
  t.notOk(validate({ routes: [{ name: 'x', listen: ':1' }] }), 'a route without an upstream is not')
})

t.test('the schema\'s defaults are the embedded defaults', async (t) => {
  /** Leaf defaults of an object schema, as a nested object. */
  const defaultsOf = (node: Node): unknown => {
    if (node.properties === undefined) return node.default
    const out: Record<string, unknown> = {}
    for (const [k, child] of Object.entries(node.properties)) {
      const v = defaultsOf(child)
      if (v !== undefined) out[k] = v
    }
    return out
  }
  const { routes: _routes, ...rest } = DEFAULTS
  const top = defaultsOf(schema) as Record<string, unknown>
  delete top.routes
  t.same(top, JSON.parse(JSON.stringify(rest)), 'every section')
  const route = schema.definitions!.route!
  const { hop: _hop, ...routeDefaults } = ROUTE_DEFAULTS
  t.same(defaultsOf(route), JSON.parse(JSON.stringify(routeDefaults)), 'every route setting (hop follows the route name, so has none)')
  t.same(Object.keys(route.properties!).sort(), [...Object.keys(DEFAULT_ROUTE), ...Object.keys(ROUTE_DEFAULTS)].sort(), 'a route\'s keys')
})

t.test('the fault rule schema lists every preset and error body', async (t) => {
  const rule = schema.definitions!.faultRule!.properties!
  t.same((rule.preset as { enum: string[] }).enum, Object.keys(PRESETS))
  t.same((rule.error_body as { enum: string[] }).enum, Object.keys(ERROR_BODIES))
})

t.test('loading validates with the schema, and errors name the key as written', async (t) => {
  t.equal(message(() => loadConfig({ flags: { set: ['store.flush_interval_ms=soon'] } })),
    'store.flush_interval_ms: expected a whole number from 1 to 10000, got "soon"')
  t.equal(message(() => loadConfig({ flags: { set: ['x=1'] } })), 'x: unknown key')
  t.equal(message(() => loadConfig({ env: { DUO_DIAG_ROUTES__0__TIMEOUTS__CONNECT_MS: '0' } })),
    'routes[0].timeouts.connect_ms: expected a whole number from 1 to 3600000, got "0"')
  t.equal(message(() => loadConfig({ env: { DUO_DIAG_ROUTES__0__MAX_CONNECTIONS: 'many' } })),
    'routes[0].max_connections: expected a whole number from 1 to 1000000 or null, got "many"')
  t.equal(message(() => loadConfig({ flags: { set: ['routes[0].hop=both'] } })),
    'routes[0].hop: expected one of auto, gateway, model, got "both"')
  t.equal(message(() => loadConfig({ flags: { set: ['proxy_instance=a b'] } })),
    'proxy_instance: "a b" must be 1-128 letters, digits or . _ - : @')
  t.equal(message(() => loadConfig({ flags: { set: ['diagnosis.gateway_model_timeouts_s=30,0'] } })),
    'diagnosis.gateway_model_timeouts_s[1]: expected a number from 0.1 to 3600, got 0')
  t.equal(message(() => loadConfig({ flags: { set: ['routes=[]'] } })), 'routes: at least one route is needed')
  t.equal(message(() => loadConfig({ flags: { set: ['faults.enabled=true', 'faults.rules[0].preset=nope'] } })),
    'faults.rules[0].preset: expected one of missing-v1, jwt-forbidden, instance-mismatch, no-seat, gateway-down, model-timeout, stream-cut, inference-failed, model-unhandled, got "nope"')
  t.equal(message(() => loadConfig({ env: { DUO_DIAG_ROUTES__3__NAME: 'm', DUO_DIAG_ROUTES__3__UPSTREAM: 'http://h:1', DUO_DIAG_ROUTES__3__TIMEOUTS__HEADERS_MS: 'x' } })),
    'routes[3].timeouts.headers_ms: expected a whole number from 1 to 3600000, got "x"', 'a gap in an environment list keeps the index written')
})

t.test('text from the environment is coerced the way people write it', async (t) => {
  const c = loadConfig({
    env: {
      DUO_DIAG_CAPTURE__BODIES: 'yes',
      DUO_DIAG_OTEL__ENABLED: 'on',
      DUO_DIAG_STORE__FLUSH_INTERVAL_MS: '40',
      DUO_DIAG_ADMIN__ALLOWED_HOSTS: 'ddp.internal, proxy.example',
      DUO_DIAG_DIAGNOSIS__GATEWAY_MODEL_TIMEOUTS_S: '15,45.5',
      DUO_DIAG_ADMIN__TOKEN: '',
      DUO_DIAG_ROUTES__0__MAX_CONNECTIONS: ''
    }
  })
  t.equal(c.capture.bodies, true)
  t.not(c.otel, null)
  t.equal(c.store.flushIntervalMs, 40)
  t.same(c.admin.allowedHosts, ['ddp.internal', 'proxy.example'])
  t.same(c.diagnosis.gatewayModelTimeoutsS, [15, 45.5])
  t.equal(c.admin.token, null, 'empty text for a nullable key is null')
  t.equal(c.routes[0]!.maxConnections, null)
})

t.test('a route the file adds gets every route default from the schema', async (t) => {
  const c = loadConfig({ flags: { set: ['routes[1]={name: model, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:8000"}'] } })
  const model = c.routes[1]!
  t.equal(model.hop, 'model', 'named model: the model hop')
  t.same(model.timeouts, { connectMs: 10_000, headersMs: 90_000, bodyIdleMs: 90_000, clientHeadersMs: 10_000, clientRequestMs: 60_000, websocketIdleMs: 600_000 })
  t.same(model.slow, { ttfbMs: 15_000, durationMs: 30_000 })
  t.equal(model.maxConnections, null)
})
