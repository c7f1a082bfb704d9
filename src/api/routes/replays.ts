import type { FastifyInstance } from 'fastify'
import { EXCHANGE_ID_PATTERN } from '../../capture/exchange.js'
import { CaptureUnavailableError } from '../../capture/pipeline.js'
import { type ReplayReport, ReplayReportError, replayObservation } from '../../capture/replay-report.js'
import { localizeExchange } from '../localize.js'
import type { AdminDeps } from '../server.js'
import { OPERATIONS } from '../schemas.js'

const ORIGINAL_ID = { type: 'object', properties: { id: { type: 'string', pattern: EXCHANGE_ID_PATTERN } }, required: ['id'] } as const

/**
 * POST /api/exchanges/{id}/replays: a replay `duo-diag-proxy replay` sent to a target with no
 * proxy in front, recorded here as a new exchange linked to its original (meta.replay_of),
 * through the capture worker like live traffic. The answer is the exchange as recorded, its
 * diagnosis in the reader's language like every answer (the replay command shows it).
 */
export function registerReplayRoutes (app: FastifyInstance, deps: AdminDeps): void {
  app.post<{ Params: { id: string }, Body: ReplayReport }>('/api/exchanges/:id/replays', {
    schema: { ...OPERATIONS.recordReplay, params: ORIGINAL_ID, body: { $ref: 'ReplayReport#' } }
  }, async (req, reply) => {
    const capture = deps.replays
    if (capture === null) return reply.code(409).send({ error: 'capture_off', message: 'capture is off (capture.enabled: false): nothing is recorded' })
    const original = await deps.store.get(req.params.id)
    if (original === null) {
      return reply.code(404).send({ error: 'not_found', message: `no exchange ${req.params.id} in this store: a replay is recorded where its original is` })
    }
    try {
      const ex = await capture.ingest(replayObservation(req.body, original, req.ip))
      deps.logger.info({ exchange_id: ex.id, replay_of: original.id, route: ex.route, status: ex.status }, 'replay recorded from a report')
      return await reply.code(201).send(localizeExchange(ex, req.lang))
    } catch (err) {
      if (err instanceof ReplayReportError) return reply.code(400).send({ error: err.code, message: err.message })
      if (err instanceof CaptureUnavailableError) return reply.code(503).send({ error: err.code, message: err.message })
      throw err
    }
  })
}
