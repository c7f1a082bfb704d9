import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from '../log/logger.js'
import type { Metrics } from '../metrics/registry.js'
import { type ExchangeFilter, InvalidCursorError, type StoreReader } from '../store/types.js'
import { tokenMatches } from './auth.js'
import { parseTimeBound } from './time.js'

export interface AdminDeps {
  store: StoreReader
  metrics: Metrics
  token: string | null
  logger: Logger
  /** Readiness: listeners up and the store writable. */
  ready: () => { ready: boolean, checks: Record<string, string> }
}

interface ListQuery {
  route?: string
  method?: string
  path?: string
  status?: string
  flag?: string[]
  feature?: string
  correlation_id?: string
  since?: string
  until?: string
  min_duration_ms?: number
  limit: number
  cursor?: string
}

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      route: { type: 'string', maxLength: 64 },
      method: { type: 'string', pattern: '^[A-Za-z]{1,16}$' },
      path: { type: 'string', maxLength: 2048 },
      status: { type: 'string', pattern: '^([1-5][0-9][0-9]|[1-5]xx)$' },
      flag: { type: 'array', items: { type: 'string', pattern: '^[a-z_]{1,64}$' }, maxItems: 32 },
      feature: { type: 'string', maxLength: 64 },
      correlation_id: { type: 'string', maxLength: 256 },
      since: { type: 'string', maxLength: 64 },
      until: { type: 'string', maxLength: 64 },
      min_duration_ms: { type: 'number', minimum: 0 },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      cursor: { type: 'string', maxLength: 128 }
    }
  }
} as const

class BadParameterError extends Error {
  readonly statusCode = 400
  readonly code = 'DDP_BAD_PARAMETER'
}

function toFilter (q: ListQuery): ExchangeFilter {
  const f: ExchangeFilter = {}
  if (q.route !== undefined) f.route = q.route
  if (q.method !== undefined) f.method = q.method
  if (q.path !== undefined) f.path = q.path
  if (q.status !== undefined) {
    if (q.status.endsWith('xx')) f.statusClass = Number(q.status[0])
    else f.status = Number(q.status)
  }
  if (q.flag !== undefined && q.flag.length > 0) f.flags = q.flag
  if (q.feature !== undefined) f.feature = q.feature
  if (q.correlation_id !== undefined) f.correlationId = q.correlation_id
  for (const key of ['since', 'until'] as const) {
    const text = q[key]
    if (text === undefined) continue
    const t = parseTimeBound(text)
    if (t === null) throw new BadParameterError(`querystring/${key} must be an ISO 8601 time or a relative duration like 15m, 2h, 7d`)
    f[key] = t
  }
  if (q.min_duration_ms !== undefined) f.minDurationMs = q.min_duration_ms
  return f
}

/** The admin and query API. Local-only by default; token-protected when bound elsewhere. */
export function buildAdminServer (deps: AdminDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    // Admin bodies are small; refuse anything large outright.
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false } }
  })

  app.addHook('onRequest', async (req, reply) => {
    if (deps.token === null || req.url === '/healthz' || req.url === '/readyz') return
    if (!tokenMatches(req.headers.authorization, deps.token)) {
      deps.logger.warn({ ip: req.ip, url: req.url.split('?')[0] }, 'admin API: missing or wrong token')
      return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <admin token>' })
    }
  })

  app.setErrorHandler((err: { statusCode?: number, code?: string, message: string }, _req, reply) => {
    const status = err instanceof InvalidCursorError ? 400 : err.statusCode ?? 500
    if (status >= 500) deps.logger.error({ err: { message: err.message } }, 'admin API error')
    return reply.code(status).send({ error: err.code ?? 'error', message: status >= 500 ? 'internal error' : err.message })
  })

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_req, reply) => {
    const r = deps.ready()
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks })
  })

  app.get<{ Querystring: ListQuery }>('/api/exchanges', { schema: listSchema }, async (req) => {
    const q = req.query
    return deps.store.list(toFilter(q), { limit: q.limit, cursor: q.cursor ?? null })
  })

  app.get<{ Params: { id: string } }>('/api/exchanges/:id', {
    schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9a-f]{20}$' } }, required: ['id'] } }
  }, async (req, reply) => {
    const ex = await deps.store.get(req.params.id)
    if (ex === null) return reply.code(404).send({ error: 'not_found', message: `no exchange ${req.params.id}` })
    return ex
  })

  app.get<{ Params: { correlation_id: string } }>('/api/traces/:correlation_id', {
    schema: { params: { type: 'object', properties: { correlation_id: { type: 'string', minLength: 1, maxLength: 256 } }, required: ['correlation_id'] } }
  }, async (req, reply) => {
    const trace = await deps.store.trace(req.params.correlation_id)
    if (trace === null) return reply.code(404).send({ error: 'not_found', message: `no exchange with correlation id ${req.params.correlation_id}` })
    return trace
  })

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.metrics.registry.metrics()
    return reply.type(deps.metrics.registry.contentType).send(text)
  })

  return app
}
