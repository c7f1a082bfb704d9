import type { FastifyInstance } from 'fastify'
import { FILTER_SCHEMA_PROPERTIES, type FilterParams, toFilter } from '../../store/filter-params.js'
import type { AdminDeps } from '../server.js'
import { OPERATIONS } from '../schemas.js'

/** GET /api/stream: live exchanges as server-sent events (`event: exchange`), same filters. */
export function registerStreamRoutes (app: FastifyInstance, deps: AdminDeps): void {
  const tails = deps.tails
  app.get<{ Querystring: FilterParams }>('/api/stream', {
    schema: { ...OPERATIONS.streamExchanges, querystring: { type: 'object', additionalProperties: false, properties: FILTER_SCHEMA_PROPERTIES } }
  }, async (req, reply) => {
    const filter = toFilter(req.query)
    // `since` would only ever be in the past for a live tail; it bounds nothing here.
    delete filter.since
    if (tails.full) return reply.code(503).send({ error: 'too_many_tails', message: `at most ${tails.limits.maxClients} live tails at once` })
    reply.hijack()
    tails.open(reply.raw, filter, req.lang)
  })
}
