import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { LANG_PARAM } from '../../store/filter-params.js'
import { countLines, type DoctorLine, runDoctorOnRoutes } from '../doctor-run.js'
import type { AdminDeps } from '../server.js'
import { OPERATIONS } from '../schemas.js'

export const DOCTOR_LIMITS = {
  /** Each network step (connect, TLS handshake, response headers, body): the CLI's default. */
  checkTimeoutMs: 5_000,
  /**
   * The whole run. A step with no timeout of its own (a DNS lookup) must not hold the answer
   * open: past this the answer ends, saying so, and another run may start.
   */
  runDeadlineMs: 60_000
} as const

const LANG_QUERY = { type: 'object', additionalProperties: false, properties: { lang: LANG_PARAM } } as const

interface DoctorBody { model_name?: string }

/**
 * POST /api/doctor: the playbook's quick checks against this proxy's own upstreams, streamed as
 * NDJSON, one result per line as each check completes, then a `{"done": true, …}` line. The
 * body names no URL (the schema refuses any other field): the admin API must not become a way
 * to probe hosts of the caller's choosing. One run at a time: each run opens connections to the
 * upstreams, and a second one would only race the first.
 */
export function registerDoctorRoutes (app: FastifyInstance, deps: AdminDeps): void {
  let running = false
  app.post<{ Body: DoctorBody, Querystring: { lang?: string } }>('/api/doctor', {
    schema: { ...OPERATIONS.runDoctor, querystring: LANG_QUERY, body: { $ref: 'DoctorRequest#' } }
  }, async (req, reply) => {
    if (running) return reply.code(409).send({ error: 'doctor_busy', message: 'the doctor checks are already running: wait for that run to finish' })
    running = true
    const out = new Readable({ read () {} })
    const lines: DoctorLine[] = []
    let ended = false
    const write = (value: unknown): void => {
      // A reader that went away loses the rest; the run still ends within its bounds.
      if (!out.destroyed) out.push(JSON.stringify(value) + '\n')
    }
    const finish = (outcome: { timed_out: boolean, error?: string, message?: string }): void => {
      if (ended) return
      ended = true
      running = false
      clearTimeout(deadline)
      write({ done: true, counts: countLines(lines), ...outcome })
      if (!out.destroyed) out.push(null)
    }
    const deadline = setTimeout(() => finish({ timed_out: true }), DOCTOR_LIMITS.runDeadlineMs)
    deadline.unref()
    deps.logger.info({ routes: deps.doctor.map((d) => d.route), model_name: req.body.model_name ?? null }, 'doctor checks started from the admin API')
    runDoctorOnRoutes({
      targets: deps.doctor,
      modelName: req.body.model_name ?? null,
      lang: req.lang,
      timeoutMs: DOCTOR_LIMITS.checkTimeoutMs,
      onLine (line) {
        if (ended) return
        lines.push(line)
        write(line)
      }
    }).then(() => finish({ timed_out: false }), (err: Error) => {
      deps.logger.error({ err: { message: err.message } }, 'doctor checks failed')
      finish({ timed_out: false, error: 'doctor_failed', message: err.message })
    })
    return reply
      .type('application/x-ndjson; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no')
      .send(out)
  })
}
