/**
 * Fault injection rules: make a customer's failure happen again in staging. Off unless the
 * configuration enables it; every injected response carries `x-duo-diag-fault` and its
 * exchange the flag `fault_injected`.
 */

/** What a matching request suffers. Exactly one action per rule. */
export type FaultAction =
  /** The proxy answers itself: status, body and headers. */
  | { respond: { status: number, body: string, headers: Record<string, string> } }
  /** Wait before forwarding (delays the response headers). */
  | { delay_ms: number }
  /** No answer at all until the route's headers timeout, then the proxy's own 504. */
  | { timeout: true }
  /** As if nothing listened upstream: the proxy's own 502 connection_refused. */
  | { refuse: true }
  /** Forward, then hold the first body chunk this long. */
  | { first_chunk_delay_ms: number }
  /** Forward, then stop relaying after this many body bytes (the caller sees a stall). */
  | { stall_after_bytes: number }
  /** Close the caller's connection: before anything is sent, or right after the headers. */
  | { reset: 'before_headers' | 'after_headers' }
  /** End the response cleanly after this many chunks: a stream without its end marker. */
  | { truncate_after_chunks: number }
  /** Relay the body at most this many bytes per second. */
  | { bandwidth_bps: number }

export interface FaultMatch {
  route?: string
  method?: string
  /** Path prefix. */
  path?: string
  /** `name: value` — the request must carry the header with exactly this value. */
  header?: { name: string, value: string }
  /** Share of matching requests affected, 0-100. */
  percent: number
}

export interface FaultRule {
  name: string
  match: FaultMatch
  action: FaultAction
}

export class FaultRuleError extends Error {
  readonly code = 'DDP_FAULT_RULE_INVALID'
  readonly statusCode = 400
}

/** Marks every response a fault shaped. */
export const FAULT_HEADER = 'x-duo-diag-fault'

const json = (value: unknown): string => JSON.stringify(value)
const JSON_TYPE = { 'content-type': 'application/json' }

/**
 * The gateway's and model servers' exact error bodies, by name (GATEWAY-WIRE.md §4 and §6: the
 * 401 bodies of ai_gateway/api/middleware.py, the 403 details of the routes, FastAPI's 422, the
 * 2025 gateway's 429, Starlette's bare 500, the 503 of api/server.py; vLLM's 404s).
 */
export const ERROR_BODIES: Record<string, { status: number, body: string, headers?: Record<string, string> }> = {
  not_found_v1: { status: 404, body: json({ detail: 'Not Found' }) },
  model_does_not_exist: { status: 404, body: json({ object: 'error', message: 'The model `unknown` does not exist.', type: 'NotFoundError', param: null, code: 404 }) },
  no_authorization_header: { status: 401, body: json({ error: 'No authorization header presented' }) },
  invalid_authorization_header: { status: 401, body: json({ error: 'Invalid authorization header' }) },
  oidc_only: { status: 401, body: json({ error: 'Invalid authentication token type - only OIDC is supported' }) },
  forbidden_by_auth_provider: { status: 401, body: json({ error: 'Forbidden by auth provider' }) },
  header_mismatch_instance: { status: 401, body: json({ error: "Header mismatch 'X-Gitlab-Instance-Id'" }) },
  unauthorized_duo_chat: { status: 403, body: json({ detail: 'Unauthorized to access duo chat' }) },
  unauthorized_code_suggestions: { status: 403, body: json({ detail: 'Unauthorized to access code completions' }) },
  duo_core_classic_chat: { status: 403, body: json({ detail: 'Duo Core no longer authorized to access Duo Classic Chat' }) },
  validation_error: { status: 422, body: json({ detail: 'Validation error' }) },
  rate_limited: { status: 429, body: json({ detail: 'Too many requests. Please try again later.' }), headers: { 'retry-after': '30' } },
  model_error_404: { status: 421, body: json({ detail: '404: Not Found' }) },
  internal_server_error: { status: 500, body: 'Internal Server Error', headers: { 'content-type': 'text/plain; charset=utf-8' } },
  inference_failed: { status: 503, body: json({ detail: 'Inference failed' }) }
}

/** The playbook's symptoms, ready to inject by name. */
export const PRESETS: Record<string, FaultAction> = {
  'missing-v1': respondWith('not_found_v1'),
  'jwt-forbidden': respondWith('forbidden_by_auth_provider'),
  'instance-mismatch': respondWith('header_mismatch_instance'),
  'no-seat': respondWith('unauthorized_code_suggestions'),
  'gateway-down': { refuse: true },
  'model-timeout': { timeout: true },
  'stream-cut': { reset: 'after_headers' },
  'inference-failed': respondWith('inference_failed'),
  // What GitLab sees for most model failures on code paths: an exception the gateway does not map.
  'model-unhandled': respondWith('internal_server_error')
}

function respondWith (name: string): FaultAction {
  const e = ERROR_BODIES[name]!
  return { respond: { status: e.status, body: e.body, headers: { ...JSON_TYPE, ...e.headers } } }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const ACTIONS = ['respond', 'error_body', 'preset', 'delay_ms', 'timeout', 'refuse', 'first_chunk_delay_ms', 'stall_after_bytes', 'reset', 'truncate_after_chunks', 'bandwidth_bps'] as const

function int (v: unknown, where: string, min: number, max: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new FaultRuleError(`${where}: a whole number from ${min} to ${max}`)
  return n
}

/**
 * A rule from configuration or the API (snake_case, YAML-shaped). Throws FaultRuleError naming
 * the field. Shape: `{ name, route?, method?, path?, header?: "Name: value", percent?, <action> }`
 * with one action: `preset`, `error_body` (a name from ERROR_BODIES), `respond: {status, body,
 * headers}`, `delay_ms`, `timeout: true`, `refuse: true`, `first_chunk_delay_ms`, `stall_after_bytes`,
 * `reset: before_headers|after_headers`, `truncate_after_chunks`, `bandwidth_bps`.
 */
export function parseFaultRule (raw: unknown, where: string): FaultRule {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new FaultRuleError(`${where}: expected a mapping`)
  const r = raw as Record<string, unknown>
  for (const k of Object.keys(r)) {
    if (!['name', 'route', 'method', 'path', 'header', 'percent', ...ACTIONS].includes(k)) throw new FaultRuleError(`${where}.${k}: unknown key`)
  }
  const name = typeof r.name === 'string' ? r.name : typeof r.preset === 'string' ? r.preset : ''
  if (!NAME.test(name)) throw new FaultRuleError(`${where}.name: letters, digits, . _ -`)
  const match: FaultMatch = { percent: r.percent === undefined ? 100 : int(r.percent, `${where}.percent`, 0, 100) }
  for (const k of ['route', 'method', 'path'] as const) {
    if (r[k] === undefined) continue
    if (typeof r[k] !== 'string' || (r[k] as string).length > 2048) throw new FaultRuleError(`${where}.${k}: a string`)
    match[k] = k === 'method' ? (r[k] as string).toUpperCase() : r[k] as string
  }
  if (r.header !== undefined) {
    const m = typeof r.header === 'string' ? /^([A-Za-z0-9!#$%&'*+.^_`|~-]+):\s*(.*)$/.exec(r.header) : null
    if (m === null) throw new FaultRuleError(`${where}.header: "Name: value"`)
    match.header = { name: m[1]!.toLowerCase(), value: m[2]!.trim() }
  }
  const given = ACTIONS.filter((a) => r[a] !== undefined)
  if (given.length !== 1) throw new FaultRuleError(`${where}: exactly one action (${ACTIONS.join(', ')}), got ${given.length === 0 ? 'none' : given.join(', ')}`)
  return { name, match, action: parseAction(given[0]!, r, where) }
}

function parseAction (kind: typeof ACTIONS[number], r: Record<string, unknown>, where: string): FaultAction {
  const at = `${where}.${kind}`
  switch (kind) {
    case 'preset': {
      const p = PRESETS[String(r.preset)]
      if (p === undefined) throw new FaultRuleError(`${at}: one of ${Object.keys(PRESETS).join(', ')}`)
      return p
    }
    case 'error_body': {
      if (ERROR_BODIES[String(r.error_body)] === undefined) throw new FaultRuleError(`${at}: one of ${Object.keys(ERROR_BODIES).join(', ')}`)
      return respondWith(String(r.error_body))
    }
    case 'respond': {
      const o = r.respond as Record<string, unknown> | null
      if (typeof o !== 'object' || o === null) throw new FaultRuleError(`${at}: {status, body, headers}`)
      const status = int(o.status, `${at}.status`, 200, 599)
      const body = o.body === undefined ? '' : typeof o.body === 'string' ? o.body : JSON.stringify(o.body)
      const headers: Record<string, string> = typeof o.body === 'string' ? {} : { ...JSON_TYPE }
      if (o.headers !== undefined) {
        if (typeof o.headers !== 'object' || o.headers === null) throw new FaultRuleError(`${at}.headers: a mapping`)
        for (const [k, v] of Object.entries(o.headers)) headers[k.toLowerCase()] = String(v)
      }
      return { respond: { status, body, headers } }
    }
    case 'delay_ms': return { delay_ms: int(r.delay_ms, at, 0, 600_000) }
    case 'timeout':
      if (r.timeout !== true) throw new FaultRuleError(`${at}: true`)
      return { timeout: true }
    case 'refuse':
      if (r.refuse !== true) throw new FaultRuleError(`${at}: true`)
      return { refuse: true }
    case 'first_chunk_delay_ms': return { first_chunk_delay_ms: int(r.first_chunk_delay_ms, at, 0, 600_000) }
    case 'stall_after_bytes': return { stall_after_bytes: int(r.stall_after_bytes, at, 0, Number.MAX_SAFE_INTEGER) }
    case 'reset':
      if (r.reset !== 'before_headers' && r.reset !== 'after_headers') throw new FaultRuleError(`${at}: before_headers or after_headers`)
      return { reset: r.reset }
    case 'truncate_after_chunks': return { truncate_after_chunks: int(r.truncate_after_chunks, at, 0, 1_000_000) }
    case 'bandwidth_bps': return { bandwidth_bps: int(r.bandwidth_bps, at, 1, 10_000_000_000) }
  }
}

/** The rule set one running proxy applies, shared by every route and changed by the admin API. */
export class FaultRules {
  private rules: FaultRule[] = []
  private random: () => number

  constructor (initial: readonly FaultRule[] = [], random: () => number = Math.random) {
    this.rules = [...initial]
    this.random = random
  }

  list (): FaultRule[] {
    return [...this.rules]
  }

  /** Adds or replaces (by name). */
  put (rule: FaultRule): void {
    this.rules = [...this.rules.filter((r) => r.name !== rule.name), rule]
  }

  remove (name?: string): number {
    const before = this.rules.length
    this.rules = name === undefined ? [] : this.rules.filter((r) => r.name !== name)
    return before - this.rules.length
  }

  /** The first rule that matches the request, after its percentage draw. Cheap when empty. */
  match (route: string, method: string, url: string, rawHeaders: readonly string[]): FaultRule | null {
    if (this.rules.length === 0) return null
    for (const rule of this.rules) {
      const m = rule.match
      if (m.route !== undefined && m.route !== route) continue
      if (m.method !== undefined && m.method !== method) continue
      if (m.path !== undefined && !url.startsWith(m.path)) continue
      if (m.header !== undefined && !hasHeader(rawHeaders, m.header.name, m.header.value)) continue
      if (m.percent < 100 && this.random() * 100 >= m.percent) continue
      return rule
    }
    return null
  }
}

function hasHeader (raw: readonly string[], name: string, value: string): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name && raw[i + 1] === value) return true
  }
  return false
}
