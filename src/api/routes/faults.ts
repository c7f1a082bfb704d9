import type { FastifyInstance } from 'fastify'
import { ERROR_BODIES, FaultRuleError, parseFaultRule, PRESETS } from '../../faults/rules.js'
import type { AdminDeps } from '../server.js'
import { OPERATIONS } from '../schemas.js'

/** GET/POST/DELETE /api/faults: change fault injection at runtime (only when enabled in config). */
export function registerFaultRoutes (app: FastifyInstance, deps: AdminDeps): void {
  const faults = deps.faults
  const disabled = { error: 'faults_disabled', message: 'fault injection is off: set faults.enabled: true in the configuration (never on by accident)' }

  app.get('/api/faults', { schema: OPERATIONS.listFaults }, async (_req, reply) => {
    if (faults === null) return reply.code(409).send(disabled)
    return { rules: faults.list(), presets: Object.keys(PRESETS), error_bodies: Object.keys(ERROR_BODIES) }
  })

  app.post<{ Body: unknown }>('/api/faults', {
    schema: { ...OPERATIONS.putFaultRule, body: { $ref: 'FaultRuleInput#' } },
    // The schema documents the body; parseFaultRule checks it, the configuration's own parser, so
    // the file and the API accept the same rules and an error names the field.
    validatorCompiler: () => (data) => ({ value: data })
  }, async (req, reply) => {
    if (faults === null) return reply.code(409).send(disabled)
    try {
      const rule = parseFaultRule(req.body, 'body')
      faults.put(rule)
      deps.logger.warn({ rule: rule.name, match: rule.match }, 'fault rule added')
      return reply.code(201).send(rule)
    } catch (err) {
      if (err instanceof FaultRuleError) return reply.code(400).send({ error: err.code, message: err.message })
      throw err
    }
  })

  app.delete<{ Querystring: { name?: string } }>('/api/faults', {
    schema: { ...OPERATIONS.removeFaultRules, querystring: { type: 'object', additionalProperties: false, properties: { name: { type: 'string', maxLength: 64, description: 'the rule to remove; all of them without it' } } } }
  }, async (req, reply) => {
    if (faults === null) return reply.code(409).send(disabled)
    const removed = faults.remove(req.query.name)
    deps.logger.info({ name: req.query.name ?? '(all)', removed }, 'fault rules removed')
    return { removed }
  })
}
