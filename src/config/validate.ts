import { accessSync, constants, statSync } from 'node:fs'
import { hostname } from 'node:os'
import { DEFAULT_ROUTE } from './defaults.js'
import { ConfigError } from './errors.js'
import { parseHostPort, parseUpstreamUrl } from './parse.js'
import { type RawReplayTarget, validateReplayTargets } from './replay-targets.js'
import { validateAgainstSchema } from './schema.js'
import { parseFaultRule } from '../faults/rules.js'
import { parseStoreLocation } from '../store/store.js'
import type { Config, HopKind, LogLevel, RouteConfig } from './types.js'

/** The YAML-shaped configuration once config/schema.json has checked it and filled its defaults. */
interface RawRoute {
  name?: string
  listen?: string
  upstream: string
  hop?: HopKind
  preserve_host: boolean
  tls: { ca_file: string | null, insecure_skip_verify: boolean }
  timeouts: { connect_ms: number, headers_ms: number, body_idle_ms: number, client_headers_ms: number, client_request_ms: number, websocket_idle_ms: number }
  max_body_bytes: number
  max_connections: number | null
  slow: { ttfb_ms: number, duration_ms: number }
}

interface RawConfig {
  routes: RawRoute[]
  admin: { listen: string | null, token: string | null, allowed_hosts: string[] }
  store: { path: string, flush_interval_ms: number, max_queue: number, max_queue_bytes: number, max_queue_healthy: number, retention: { max_rows: number, max_age_hours: number } }
  capture: { enabled: boolean, bodies: boolean, sample_bytes: number, tail_bytes: number, error_body_bytes: number, thread_nice: number, redaction: { add: string[], remove: string[] } }
  log: { level: LogLevel, file: string | null }
  diagnosis: { expected_gitlab_url: string | null, clock_skew_s: number, gateway_model_timeouts_s: number[] }
  otel: { enabled: boolean, endpoint: string, headers: Record<string, string>, service_name: string, max_queue: number, hold_ms: number, start_traces: boolean }
  faults: { enabled: boolean, rules: unknown[] }
  replay: { targets: RawReplayTarget[] }
  shutdown_grace_ms: number
  proxy_instance: string | null
}

/**
 * The merged raw configuration to a Config: first the schema (types, ranges, unknown keys,
 * defaults), then what a schema cannot say — addresses, URLs, files, names used twice, and the
 * environment variables replay targets read their headers from (`env`).
 */
export function validate (input: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Config {
  const userIndex = validateAgainstSchema(input)
  const raw = input as unknown as RawConfig
  const routes = raw.routes.map((r, i) => validateRoute(r, i, userIndex('routes', i)))
  const names = new Set<string>()
  const listens = new Set<string>()
  for (const r of routes) {
    if (names.has(r.name)) throw new ConfigError(`routes: the name "${r.name}" is used twice`)
    names.add(r.name)
    const l = `${r.listen.host}:${r.listen.port}`
    if (r.listen.port !== 0 && listens.has(l)) throw new ConfigError(`routes: two routes listen on ${l}`)
    listens.add(l)
  }

  const { admin, store, capture, log, diagnosis, otel, faults } = raw
  try {
    parseStoreLocation(store.path)
  } catch (err) {
    throw new ConfigError(`store.path: ${(err as Error).message}`)
  }
  if (diagnosis.expected_gitlab_url !== null) parseUpstreamUrl(diagnosis.expected_gitlab_url, 'diagnosis.expected_gitlab_url')
  parseUpstreamUrl(otel.endpoint, 'otel.endpoint')
  const rules = faults.rules.map((rule, i) => {
    try {
      return parseFaultRule(rule, `faults.rules[${userIndex('faults/rules', i)}]`)
    } catch (err) {
      throw new ConfigError((err as Error).message)
    }
  })
  if (rules.length > 0 && !faults.enabled) throw new ConfigError('faults.rules: set faults.enabled: true to inject faults (never on by accident)')
  const replayTargets = validateReplayTargets(raw.replay.targets, env, (i) => userIndex('replay/targets', i))

  return {
    routes,
    admin: {
      listen: admin.listen === null || admin.listen === 'off' ? null : parseHostPort(admin.listen, 'admin.listen'),
      token: admin.token,
      allowedHosts: admin.allowed_hosts
    },
    store: {
      path: store.path,
      flushIntervalMs: store.flush_interval_ms,
      maxQueue: store.max_queue,
      maxQueueBytes: store.max_queue_bytes,
      maxQueueHealthy: store.max_queue_healthy,
      retention: { maxRows: store.retention.max_rows, maxAgeHours: store.retention.max_age_hours }
    },
    capture: {
      enabled: capture.enabled,
      bodies: capture.bodies,
      sampleBytes: capture.sample_bytes,
      tailBytes: capture.tail_bytes,
      errorBodyBytes: capture.error_body_bytes,
      threadNice: capture.thread_nice,
      redaction: { add: capture.redaction.add, remove: capture.redaction.remove }
    },
    log: { level: log.level, file: log.file },
    diagnosis: {
      expectedGitlabUrl: diagnosis.expected_gitlab_url,
      clockSkewS: diagnosis.clock_skew_s,
      gatewayModelTimeoutsS: diagnosis.gateway_model_timeouts_s
    },
    otel: otel.enabled
      ? { endpoint: otel.endpoint, headers: otel.headers, serviceName: otel.service_name, maxQueue: otel.max_queue, holdMs: otel.hold_ms, startTraces: otel.start_traces }
      : null,
    faults: { enabled: faults.enabled, rules },
    replay: { targets: replayTargets },
    shutdownGraceMs: raw.shutdown_grace_ms,
    proxyInstance: raw.proxy_instance ?? hostname()
  }
}

/** A route named like a hop sits on it unless its `hop` says otherwise. */
function defaultHop (name: string): HopKind {
  return name === 'model' || name === 'gateway' ? name : 'auto'
}

function validateRoute (r: RawRoute, index: number, userIndex: number): RouteConfig {
  const at = `routes[${userIndex}]`
  const name = r.name ?? (index === 0 ? DEFAULT_ROUTE.name : '')
  if (name === '') throw new ConfigError(`${at}.name: missing (every route but the first needs a name)`)
  const listen = parseHostPort(r.listen ?? (index === 0 ? DEFAULT_ROUTE.listen : ''), `${at}.listen`)
  if (r.upstream.trim() === '') throw new ConfigError(`${at}.upstream: missing (e.g. http://127.0.0.1:5052)`)
  const upstream = parseUpstreamUrl(r.upstream, `${at}.upstream`)
  const caFile = r.tls.ca_file
  if (caFile !== null) {
    try {
      accessSync(caFile, constants.R_OK)
      if (!statSync(caFile).isFile()) throw Object.assign(new Error('not a file'), { code: 'not a regular file' })
    } catch (err) {
      throw new ConfigError(`${at}.tls.ca_file: ${caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
    }
  }
  const t = r.timeouts
  if (t.client_headers_ms > t.client_request_ms) {
    throw new ConfigError(`${at}.timeouts.client_headers_ms: ${t.client_headers_ms} is longer than client_request_ms (${t.client_request_ms}), which includes the headers`)
  }
  return {
    name,
    listen,
    upstream,
    hop: r.hop ?? defaultHop(name),
    preserveHost: r.preserve_host,
    tls: { caFile, insecureSkipVerify: r.tls.insecure_skip_verify },
    timeouts: {
      connectMs: t.connect_ms,
      headersMs: t.headers_ms,
      bodyIdleMs: t.body_idle_ms,
      clientHeadersMs: t.client_headers_ms,
      clientRequestMs: t.client_request_ms,
      websocketIdleMs: t.websocket_idle_ms
    },
    maxBodyBytes: r.max_body_bytes,
    maxConnections: r.max_connections,
    slow: { ttfbMs: r.slow.ttfb_ms, durationMs: r.slow.duration_ms }
  }
}
