import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { exportChunks, type ExportFormat, harDocument } from '../../store/export.js'
import type { TraceNode } from '../../store/trace.js'
import type { Exchange } from '../../capture/exchange.js'
import { FILTER_SCHEMA_PROPERTIES, type FilterParams, isEmptyFilter, LANG_PARAM, toFilter } from '../../store/filter-params.js'
import { localizeExchange, localizePage, localizeSummary, localizeTrace } from '../localize.js'
import type { AdminDeps } from '../server.js'
import { EXCHANGE_ID_PATTERN } from '../../capture/exchange.js'
import { OPERATIONS } from '../schemas.js'

const filterQuery = (extra: Record<string, unknown> = {}) => ({
  type: 'object',
  additionalProperties: false,
  properties: { ...FILTER_SCHEMA_PROPERTIES, ...extra }
})

const LANG_QUERY = { type: 'object', additionalProperties: false, properties: { lang: LANG_PARAM } } as const

const EXCHANGE_ID = { type: 'object', properties: { id: { type: 'string', pattern: EXCHANGE_ID_PATTERN } }, required: ['id'] } as const

/** Exchanges, traces, summary, export and purge: all through the store's one query module. */
export function registerExchangeRoutes (app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: FilterParams & { limit: number, cursor?: string } }>('/api/exchanges', {
    schema: {
      ...OPERATIONS.listExchanges,
      querystring: filterQuery({
        limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'page size' },
        cursor: { type: 'string', maxLength: 128, description: "the previous page's next_cursor" }
      })
    }
  }, async (req) => {
    const { limit, cursor, ...params } = req.query
    return localizePage(await deps.store.list(toFilter(params), { limit, cursor: cursor ?? null }), req.lang)
  })

  app.get<{ Params: { id: string } }>('/api/exchanges/:id', {
    schema: { ...OPERATIONS.getExchange, params: EXCHANGE_ID, querystring: LANG_QUERY }
  }, async (req, reply) => {
    const ex = await deps.store.get(req.params.id)
    if (ex === null) return reply.code(404).send({ error: 'not_found', message: `no exchange ${req.params.id}` })
    return localizeExchange(ex, req.lang)
  })

  app.delete<{ Querystring: FilterParams & { all?: boolean } }>('/api/exchanges', {
    schema: { ...OPERATIONS.purgeExchanges, querystring: filterQuery({ all: { type: 'boolean', description: 'with no filter: delete everything' } }) }
  }, async (req, reply) => {
    const { all, ...params } = req.query
    const filter = toFilter(params)
    if (isEmptyFilter(filter) && all !== true) {
      return reply.code(400).send({ error: 'DDP_BAD_PARAMETER', message: 'querystring: give at least one filter, or all=true to delete everything' })
    }
    const removed = await deps.store.purge(filter)
    deps.logger.info({ removed, filter: params }, 'exchanges purged')
    return { removed }
  })

  app.get<{ Params: { correlation_id: string } }>('/api/traces/:correlation_id', {
    schema: { ...OPERATIONS.getTrace, params: { type: 'object', properties: { correlation_id: { type: 'string', minLength: 1, maxLength: 256 } }, required: ['correlation_id'] }, querystring: LANG_QUERY }
  }, async (req, reply) => {
    const trace = await deps.store.trace(req.params.correlation_id)
    if (trace === null) return reply.code(404).send({ error: 'not_found', message: `no exchange or log line with correlation id ${req.params.correlation_id}` })
    return localizeTrace(trace, req.lang)
  })

  app.get<{ Params: { correlation_id: string } }>('/api/traces/:correlation_id/har', {
    schema: { ...OPERATIONS.exportTrace, params: { type: 'object', properties: { correlation_id: { type: 'string', minLength: 1, maxLength: 256 } }, required: ['correlation_id'] }, querystring: LANG_QUERY }
  }, async (req, reply) => {
    const trace = await deps.store.trace(req.params.correlation_id)
    if (trace === null) return reply.code(404).send({ error: 'not_found', message: `no exchange or log line with correlation id ${req.params.correlation_id}` })
    const all: Exchange[] = []
    const walk = (nodes: TraceNode[]): void => {
      for (const n of nodes) {
        all.push(localizeExchange(n.exchange, req.lang))
        walk(n.children)
      }
    }
    walk(trace.roots)
    const name = req.params.correlation_id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80)
    return reply
      .type('application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="duo-diag-trace-${name}.har"`)
      .send(harDocument(all, deps.version, req.lang, trace.log_events))
  })

  app.get<{ Querystring: FilterParams }>('/api/summary', {
    schema: { ...OPERATIONS.getSummary, querystring: filterQuery() }
  }, async (req) => localizeSummary(await deps.store.summary(toFilter(req.query)), req.lang))

  app.get<{ Querystring: FilterParams & { step: number } }>('/api/timeseries', {
    schema: {
      ...OPERATIONS.getTimeSeries,
      querystring: filterQuery({ step: { type: 'integer', minimum: 1, maximum: 86_400, default: 60, description: 'bucket width in seconds' } })
    }
  }, async (req) => {
    const { step, ...params } = req.query
    return deps.store.timeseries(toFilter(params), step * 1000)
  })

  app.get<{ Querystring: FilterParams & { format: ExportFormat, max?: number } }>('/api/export', {
    schema: {
      ...OPERATIONS.exportExchanges,
      querystring: filterQuery({
        format: { type: 'string', enum: ['har', 'ndjson'], default: 'har', description: 'har: oldest first; ndjson: newest first' },
        max: { type: 'integer', minimum: 1, maximum: 10_000_000, description: 'at most this many (the newest); 1 000 000 by default' }
      })
    }
  }, async (req, reply) => {
    const { format, max, ...params } = req.query
    const filter = toFilter(params)
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    reply
      .type(format === 'har' ? 'application/json; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="duo-diag-${stamp}.${format === 'har' ? 'har' : 'ndjson'}"`)
    return reply.send(Readable.from(exportChunks(deps.store, format, filter, { max: max ?? 1_000_000, version: deps.version, localize: (ex) => localizeExchange(ex, req.lang), lang: req.lang })))
  })
}
