import type { FastifyInstance } from 'fastify'
import { type LogEventParams, toLogEventFilter } from '../../store/log-event-params.js'
import { LOG_EVENTS_QUERY } from '../log-event-schemas.js'
import { OPERATIONS } from '../schemas.js'
import type { AdminDeps } from '../server.js'

/** GET /api/log-events: the imported log lines, oldest first, keyset-paginated. */
export function registerLogEventRoutes (app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: LogEventParams & { limit: number, cursor?: string, lang?: string } }>('/api/log-events', {
    schema: { ...OPERATIONS.listLogEvents, querystring: LOG_EVENTS_QUERY }
  }, async (req) => {
    const { limit, cursor, lang: _lang, ...params } = req.query
    // Log lines are served as they were written (redacted at import): nothing in them is rendered per language.
    return deps.store.listLogEvents(toLogEventFilter(params), { limit, cursor: cursor ?? null })
  })
}
