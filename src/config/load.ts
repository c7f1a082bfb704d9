import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { DEFAULTS, DEFAULT_ROUTE } from './defaults.js'
import { ConfigError } from './errors.js'
import type { Config, HopKind } from './types.js'
import { validate } from './validate.js'

/** CLI flags that override the file and the environment (all optional). */
export interface FlagOverrides {
  listen?: string
  upstream?: string
  /** `NAME=LISTEN=UPSTREAM`, repeatable. */
  route?: string[]
  admin?: string
  adminToken?: string
  proxyInstance?: string
  db?: string
  captureBodies?: boolean
  /** false: forward only. */
  capture?: boolean
  caFile?: string
  insecureSkipVerify?: boolean
  logLevel?: string
  /** The settings people change while reproducing a problem, applied to every route. */
  connectTimeout?: string
  headersTimeout?: string
  bodyTimeout?: string
  slowTtfb?: string
  slowDuration?: string
  maxBody?: string
  faults?: boolean
  /** `section.key=value` (mitmproxy's --set): any key, highest precedence; the value is YAML. */
  set?: string[]
}

export interface ConfigSources {
  /** YAML file; null for the embedded defaults only. */
  file?: string | null
  env?: NodeJS.ProcessEnv
  flags?: FlagOverrides
}

export const ENV_PREFIX = 'DUO_DIAG_'
/** Not a configuration key: names the file itself. */
export const ENV_CONFIG_FILE = 'DUO_DIAG_CONFIG'
/** Variables with the prefix that belong to the CLI's client commands, not to the proxy's configuration. */
const CLIENT_ENV = new Set([ENV_CONFIG_FILE, 'DUO_DIAG_ADMIN_TOKEN', 'DUO_DIAG_MODEL_API_KEY'])

type Raw = Record<string, unknown>

/** Defaults <- YAML file <- DUO_DIAG_* environment <- CLI flags, then validated. */
export function loadConfig (sources: ConfigSources = {}): Config {
  const env = sources.env ?? {}
  const raw = structuredClone(DEFAULTS) as unknown as Raw
  const file = sources.file ?? env[ENV_CONFIG_FILE] ?? null
  if (file) mergeInto(raw, readYamlFile(file))
  applyEnv(raw, env)
  if (sources.flags) applyFlags(raw, sources.flags)
  return validate(raw, env)
}

function readYamlFile (file: string): Raw {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`config file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file}: the top level must be a mapping`)
  return doc as Raw
}

/** Objects merge key by key; anything else (lists included) replaces. */
function mergeInto (target: Raw, source: Raw): void {
  for (const [k, v] of Object.entries(source)) {
    const cur = target[k]
    if (isPlainObject(v) && isPlainObject(cur)) mergeInto(cur, v)
    else target[k] = v
  }
}

function isPlainObject (v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `DUO_DIAG_STORE__PATH=x` sets store.path; `DUO_DIAG_ROUTES__0__UPSTREAM` indexes lists. */
function applyEnv (raw: Raw, env: NodeJS.ProcessEnv): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || CLIENT_ENV.has(name) || value === undefined) continue
    const path = name.slice(ENV_PREFIX.length).toLowerCase().split('__')
    if (path.some((p) => p === '')) throw new ConfigError(`${name}: malformed variable name`)
    setPath(raw, path, value)
  }
}

/** Sets raw[path[0]][path[1]]... = value, creating mappings (or lists, before an index) on the way. */
function setPath (raw: Raw, path: readonly string[], value: unknown): void {
  let node: unknown = raw
  for (let i = 0; i < path.length - 1; i++) {
    const container = node as Record<string, unknown>
    let next = container[path[i] as string]
    if (next === undefined || next === null || typeof next !== 'object') {
      next = /^\d+$/.test(path[i + 1] as string) ? [] : {}
      container[path[i] as string] = next
    }
    node = next
  }
  ;(node as Record<string, unknown>)[path[path.length - 1] as string] = value
}

function applyFlags (raw: Raw, flags: FlagOverrides): void {
  const flagRoutes: Raw[] = []
  if (flags.listen !== undefined || flags.upstream !== undefined) {
    // The quick form edits the first route: its other settings (hop, timeouts, tls) stay.
    const base = (Array.isArray(raw.routes) && isPlainObject(raw.routes[0]) ? raw.routes[0] : DEFAULT_ROUTE) as Raw
    flagRoutes.push({
      ...structuredClone(base),
      name: base.name ?? DEFAULT_ROUTE.name,
      listen: flags.listen ?? base.listen ?? DEFAULT_ROUTE.listen,
      upstream: flags.upstream ?? base.upstream ?? DEFAULT_ROUTE.upstream
    })
  }
  for (const spec of flags.route ?? []) flagRoutes.push(parseRouteFlag(spec))
  if (flagRoutes.length > 0) raw.routes = flagRoutes
  const routes = Array.isArray(raw.routes) ? (raw.routes as Raw[]) : []
  if (flags.caFile !== undefined || flags.insecureSkipVerify !== undefined) {
    for (const r of routes) {
      if (!isPlainObject(r)) continue
      const tls: Raw = isPlainObject(r.tls) ? r.tls : {}
      if (flags.caFile !== undefined) tls.ca_file = flags.caFile
      if (flags.insecureSkipVerify !== undefined) tls.insecure_skip_verify = flags.insecureSkipVerify
      r.tls = tls
    }
  }
  const set = (section: string, key: string, value: unknown): void => {
    if (value === undefined) return
    const cur = raw[section]
    // An empty YAML section is null; a scalar one is left for validation to report.
    if (cur === null || cur === undefined) raw[section] = { [key]: value }
    else if (isPlainObject(cur)) cur[key] = value
  }
  set('admin', 'listen', flags.admin)
  set('admin', 'token', flags.adminToken)
  set('store', 'path', flags.db)
  if (flags.proxyInstance !== undefined) raw.proxy_instance = flags.proxyInstance
  set('capture', 'bodies', flags.captureBodies)
  set('capture', 'enabled', flags.capture)
  set('log', 'level', flags.logLevel)
  set('faults', 'enabled', flags.faults)
  const perRoute: Array<[string | undefined, string, string, string, (v: string, flag: string) => number]> = [
    [flags.connectTimeout, '--connect-timeout', 'timeouts', 'connect_ms', durationMs],
    [flags.headersTimeout, '--headers-timeout', 'timeouts', 'headers_ms', durationMs],
    [flags.bodyTimeout, '--body-timeout', 'timeouts', 'body_idle_ms', durationMs],
    [flags.slowTtfb, '--slow-ttfb', 'slow', 'ttfb_ms', durationMs],
    [flags.slowDuration, '--slow-duration', 'slow', 'duration_ms', durationMs],
    [flags.maxBody, '--max-body', '', 'max_body_bytes', byteCount]
  ]
  for (const [value, flag, section, key, convert] of perRoute) {
    if (value === undefined) continue
    const n = convert(value, flag)
    for (const r of routes) {
      if (!isPlainObject(r)) continue
      if (section === '') r[key] = n
      else r[section] = { ...(isPlainObject(r[section]) ? r[section] : {}), [key]: n }
    }
  }
  for (const spec of flags.set ?? []) applySet(raw, spec)
}

/** `--connect-timeout 5s`: ms, s, m; a bare number is milliseconds. */
function durationMs (text: string, flag: string): number {
  const m = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m)?$/.exec(text.trim())
  if (m === null) throw new ConfigError(`${flag} "${text}": expected a duration such as 500ms, 30s or 2m`)
  return Math.round(Number(m[1]) * { ms: 1, s: 1_000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm'])
}

/** `--max-body 10MiB`: bytes, KiB/MiB/GiB (K/M/G, KB/MB/GB taken as the same binary units). */
function byteCount (text: string, flag: string): number {
  const m = /^(\d{1,12})\s*(?:(k|m|g)(?:i?b)?|b)?$/i.exec(text.trim())
  if (m === null) throw new ConfigError(`${flag} "${text}": expected a size such as 1048576, 512KiB or 64MiB`)
  return Number(m[1]) * 1024 ** (m[2] === undefined ? 0 : 'kmg'.indexOf(m[2].toLowerCase()) + 1)
}

/**
 * `--set store.flush_interval_ms=10`, `--set routes.0.timeouts.connect_ms=5000` (or
 * `routes[0]...`), `--set diagnosis.gateway_model_timeouts_s=[30,90]`. The value is read as YAML
 * (numbers, booleans, lists, null), else kept as text; validation then checks it like any key.
 */
function applySet (raw: Raw, spec: string): void {
  const eq = spec.indexOf('=')
  const pathText = eq < 0 ? '' : spec.slice(0, eq).trim()
  if (eq < 0 || !/^[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+|\[\d+\])*$/i.test(pathText)) {
    throw new ConfigError(`--set "${spec}": expected section.key=value, e.g. store.flush_interval_ms=10 or routes.0.timeouts.connect_ms=5000`)
  }
  const text = spec.slice(eq + 1)
  let value: unknown = text
  try {
    value = text.trim() === '' ? '' : parseYaml(text)
  } catch {
    // not YAML: the text itself
  }
  setPath(raw, pathText.replace(/\[(\d+)\]/g, '.$1').toLowerCase().split('.'), value)
}

const HOPS: readonly HopKind[] = ['auto', 'gateway', 'model']

/**
 * `--route NAME[:HOP]=LISTEN=UPSTREAM`: `vllm:model=0.0.0.0:5054=http://vllm:8000`. Without a
 * hop, a route named `model` or `gateway` sits on that hop (see validateRoute), others are `auto`.
 */
function parseRouteFlag (spec: string): Raw {
  const parts = spec.split('=')
  if (parts.length !== 3 || parts.some((p) => p.trim() === '')) {
    throw new ConfigError(`--route "${spec}": expected NAME[:HOP]=LISTEN=UPSTREAM, e.g. model=127.0.0.1:5054=http://127.0.0.1:8000 or vllm:model=…`)
  }
  const [label, listen, upstream] = parts as [string, string, string]
  const colon = label.indexOf(':')
  if (colon < 0) return { name: label, listen, upstream }
  const hop = label.slice(colon + 1)
  if (!(HOPS as readonly string[]).includes(hop)) {
    throw new ConfigError(`--route "${spec}": hop "${hop}" is not one of ${HOPS.join(', ')} (NAME:HOP, e.g. vllm:model)`)
  }
  return { name: label.slice(0, colon), listen, upstream, hop }
}

