import type { FastifyInstance } from 'fastify'
import { EXCHANGE_ID_PATTERN } from '../../capture/exchange.js'
import { ReplayBusyError, ReplayNotRecordedError, type TargetReplays } from '../../replay/targets.js'
import { localizeExchange } from '../localize.js'
import type { AdminDeps } from '../server.js'
import { OPERATIONS } from '../schemas.js'

const ORIGINAL_ID = { type: 'object', properties: { id: { type: 'string', pattern: EXCHANGE_ID_PATTERN } }, required: ['id'] } as const

const DISABLED = { error: 'replay_disabled', message: 'no replay target is configured (replay.targets): replay from the page is off' }

/**
 * GET /api/replay/targets and POST /api/exchanges/{id}/replay: the browser view's Replay
 * button. A caller names a configured target and nothing else (the body schema allows no other
 * field): the proxy never sends to a URL a caller chose.
 */
export function registerReplayRunRoutes (app: FastifyInstance, deps: AdminDeps): void {
  const replays: TargetReplays = deps.targetReplays

  app.get('/api/replay/targets', { schema: OPERATIONS.listReplayTargets }, async () => ({ targets: replays.list() }))

  app.post<{ Params: { id: string }, Body: { target: string } }>('/api/exchanges/:id/replay', {
    schema: { ...OPERATIONS.runReplay, params: ORIGINAL_ID, body: { $ref: 'ReplayRunInput#' } }
  }, async (req, reply) => {
    if (!replays.enabled) return reply.code(409).send(DISABLED)
    const target = replays.find(req.body.target)
    if (target === undefined) {
      const known = replays.list().map((t) => t.name).join(', ')
      return reply.code(400).send({ error: 'unknown_target', message: `no replay target "${req.body.target}": configured are ${known}` })
    }
    if (deps.replays === null) return reply.code(409).send({ error: 'capture_off', message: 'capture is off (capture.enabled: false): a replay could not be recorded' })
    const original = await deps.store.get(req.params.id)
    if (original === null) return reply.code(404).send({ error: 'not_found', message: `no exchange ${req.params.id}` })
    try {
      const { recorded, result } = await replays.run(original, target, req.ip)
      deps.logger.info({ exchange_id: recorded.id, replay_of: original.id, target: target.name, status: recorded.status }, 'replay sent from the admin API')
      const ex = localizeExchange(recorded, req.lang)
      return await reply.code(201).send({
        replay: ex.id,
        original: original.id,
        target: target.name,
        outcome: {
          status: ex.status,
          flags: ex.flags,
          cause: ex.diagnosis?.cause ?? null,
          cause_code: ex.diagnosis?.code ?? null,
          ttfb_ms: ex.timings.ttfb_ms,
          duration_ms: ex.timings.duration_ms,
          error: ex.error
        },
        // What was sent in the original's place: its body, and the credentials it could not carry.
        sent: { request_id: result.request_id, body: result.body.mode, dropped_headers: result.dropped_headers }
      })
    } catch (err) {
      if (err instanceof ReplayBusyError) return reply.code(429).send({ error: err.code, message: err.message })
      if (err instanceof ReplayNotRecordedError) return reply.code(503).send({ error: err.code, message: err.message })
      throw err
    }
  })
}
