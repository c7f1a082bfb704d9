import { query as EN } from '../i18n/catalogs/en/query.js'
import { fillTemplate, impliedTimeBounds, MAX_QUERY_LENGTH, parseQuery } from './query-language.js'
import { parseTimeBound } from './time.js'
import type { ExchangeFilter } from './types.js'

/** The filter parameters every reader accepts: the API's query string and the CLI's flags. */
export interface FilterParams {
  route?: string
  /** gateway or model. */
  hop?: string
  method?: string
  path?: string
  /** `404` or a class `4xx`. */
  status?: string
  flag?: string[]
  /** Only failures (true) or only the rest (false), as the summary counts its `errors`. */
  failed?: boolean
  feature?: string
  correlation_id?: string
  /** The diagnosed cause's stable code, e.g. model_endpoint_missing_v1. */
  cause?: string
  /** ISO 8601 or relative (`15m`, `2h`, `7d`). */
  since?: string
  until?: string
  min_duration_ms?: number
  /** The proxy instance that recorded it (a shared PostgreSQL store holds several). */
  proxy_instance?: string
  /** A query in the query language (src/store/query-language.ts), ANDed with the rest. */
  q?: string
  /** Not a filter: the language of the answer's texts (the API reads it, see api/server.ts). */
  lang?: string
}

export type FilterParamReason = keyof typeof EN.paramReason

/**
 * A filter parameter that is wrong: `param` names it (`since`, `min_duration_ms`), `reason` is a
 * code of the query catalog's `paramReason`. `message` is the English the API has always said
 * (`querystring/since must be ...`); the CLI and the API render it in the reader's language
 * (src/i18n/query-errors.ts).
 */
export class FilterParamError extends Error {
  readonly statusCode = 400
  readonly code = 'DDP_BAD_PARAMETER'
  constructor (readonly param: string, readonly reason: FilterParamReason) {
    super(fillTemplate(EN.param, { param: `querystring/${param}`, reason: EN.paramReason[reason] }))
  }
}

/** `?lang=`: the language of diagnosis texts in the answer; Accept-Language otherwise. */
export const LANG_PARAM = { type: 'string', maxLength: 35, description: 'language of the answer\'s texts: en or ja (else Accept-Language, else en)' } as const

/** JSON schema of the filter parameters (fastify validates with it; the OpenAPI document shows it). */
export const FILTER_SCHEMA_PROPERTIES = {
  route: { type: 'string', maxLength: 64, description: 'route name' },
  hop: { type: 'string', enum: ['gateway', 'model'], description: 'the hop: gateway (GitLab → AI gateway) or model (AI gateway → model server)' },
  method: { type: 'string', pattern: '^[A-Za-z]{1,16}$' },
  path: { type: 'string', maxLength: 2048, description: 'path prefix' },
  status: { type: 'string', pattern: '^([1-5][0-9][0-9]|[1-5]xx)$', description: 'exact status (404) or class (4xx)' },
  flag: { type: 'array', items: { type: 'string', pattern: '^[a-z_]{1,64}$' }, maxItems: 32, description: 'any of these flags (repeatable)' },
  failed: { type: 'boolean', description: 'true: only failures (a flag other than client_aborted, slow, tls_unverified and the token_* warnings), as the summary counts errors; false: only the rest' },
  feature: { type: 'string', maxLength: 64 },
  correlation_id: { type: 'string', maxLength: 256 },
  cause: { type: 'string', pattern: '^[a-z0-9_]{1,64}$', description: 'the diagnosed cause\'s stable code (README, "Diagnosis codes"), e.g. model_endpoint_missing_v1' },
  since: { type: 'string', maxLength: 64, description: 'ISO 8601, or relative: 15m, 2h, 7d' },
  until: { type: 'string', maxLength: 64, description: 'ISO 8601, or relative: 15m, 2h, 7d' },
  min_duration_ms: { type: 'number', minimum: 0 },
  proxy_instance: { type: 'string', maxLength: 128, description: 'the proxy instance that recorded it' },
  lang: LANG_PARAM,
  // The parser bounds it (MAX_QUERY_LENGTH) and answers 400 invalid_query with the column; the
  // schema's looser bound only keeps absurd strings from reaching it.
  q: {
    type: 'string',
    maxLength: 4 * MAX_QUERY_LENGTH,
    description: `query language, ANDed with the other filters (at most ${MAX_QUERY_LENGTH} characters): ` +
      'field:value terms side by side are ANDed; OR, NOT or -term, parentheses; fields route, hop, method, path (prefix), ' +
      'status (404, 5xx, 400..499, >=500, none), flag, feature, correlation_id (cid), cause (a code, or words of the cause), model, proxy_instance, ' +
      'duration and ttfb (>5s, 100ms..2s), since/until (1h, ISO 8601), time (>2h, A..B); bare words search path and cause. ' +
      'Example: flag:timeout feature:chat status:5xx since:1h. A bad query gets 400 {error: "invalid_query", message, column}'
  }
} as const

const STATUS = /^([1-5][0-9][0-9]|[1-5]xx)$/

/** `since` / `until` as text (ISO 8601 or relative) → epoch ms; FilterParamError names the one it cannot read. */
export function timeBounds (q: { since?: string, until?: string }, now: number): { since?: number, until?: number } {
  const out: { since?: number, until?: number } = {}
  for (const key of ['since', 'until'] as const) {
    const text = q[key]
    if (text === undefined) continue
    const t = parseTimeBound(text, now)
    if (t === null) throw new FilterParamError(key, 'time')
    out[key] = t
  }
  return out
}

/**
 * Parameters → filter. Throws FilterParamError naming the parameter, or QueryError (with its
 * column) for `q`; never anything else.
 */
export function toFilter (q: FilterParams, now = Date.now()): ExchangeFilter {
  const f: ExchangeFilter = {}
  if (q.route !== undefined) f.route = q.route
  if (q.hop !== undefined) {
    if (q.hop !== 'gateway' && q.hop !== 'model') throw new FilterParamError('hop', 'hop')
    f.hop = q.hop
  }
  if (q.method !== undefined) {
    if (!/^[A-Za-z]{1,16}$/.test(q.method)) throw new FilterParamError('method', 'method')
    f.method = q.method
  }
  if (q.path !== undefined) f.path = q.path
  if (q.status !== undefined) {
    if (!STATUS.test(q.status)) throw new FilterParamError('status', 'status')
    if (q.status.endsWith('xx')) f.statusClass = Number(q.status[0])
    else f.status = Number(q.status)
  }
  if (q.flag !== undefined && q.flag.length > 0) f.flags = q.flag
  if (q.failed !== undefined) f.failed = q.failed
  if (q.feature !== undefined) f.feature = q.feature
  if (q.correlation_id !== undefined) f.correlationId = q.correlation_id
  if (q.cause !== undefined) {
    if (!/^[a-z0-9_]{1,64}$/.test(q.cause)) throw new FilterParamError('cause', 'cause')
    f.causeCode = q.cause
  }
  Object.assign(f, timeBounds(q, now))
  if (q.min_duration_ms !== undefined) {
    if (!Number.isFinite(q.min_duration_ms) || q.min_duration_ms < 0) throw new FilterParamError('min_duration_ms', 'minDuration')
    f.minDurationMs = q.min_duration_ms
  }
  if (q.proxy_instance !== undefined) f.proxyInstance = q.proxy_instance
  if (q.q !== undefined) {
    const query = parseQuery(q.q, { now })
    if (query !== null) {
      f.query = query
      // The query's own time bounds also bound the filter (the summary reports its period).
      const bounds = impliedTimeBounds(query)
      if (bounds.since !== undefined) f.since = Math.max(f.since ?? -Infinity, bounds.since)
      if (bounds.until !== undefined) f.until = Math.min(f.until ?? Infinity, bounds.until)
    }
  }
  return f
}

export function isEmptyFilter (f: ExchangeFilter): boolean {
  return Object.keys(f).length === 0
}
