import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from '../log/logger.js'
import type { Metrics } from '../metrics/registry.js'
import { QueryError } from '../store/query-language.js'
import { InvalidCursorError, type StoreReader } from '../store/types.js'
import { tokenMatches } from './auth.js'
import { scrubText } from '../capture/redact.js'
import type { RequestGuard } from './request-guard.js'
import type { LiveTails } from './live-tail.js'
import { registerOpenApi } from './openapi.js'
import { OPERATIONS } from './schemas.js'
import { registerExchangeRoutes } from './routes/exchanges.js'
import { registerStreamRoutes } from './routes/stream.js'
import { registerLogEventRoutes } from './routes/log-events.js'
import { registerFaultRoutes } from './routes/faults.js'
import { registerDoctorRoutes } from './routes/doctor.js'
import type { DoctorTarget } from './doctor-run.js'
import { requestLang } from '../i18n/locale.js'
import { errorMessageIn } from '../i18n/query-errors.js'
import type { Lang } from '../i18n/message.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The language this answer's texts are rendered in. */
    lang: Lang
  }
}

/** `lang` from the raw query string (read before fastify parses and validates it). */
function langParam (url: string): string | undefined {
  const q = url.indexOf('?')
  if (q < 0) return undefined
  return new URLSearchParams(url.slice(q + 1)).get('lang') ?? undefined
}
import type { FaultRules } from '../faults/rules.js'
import type { Exchange } from '../capture/exchange.js'
import type { ObservationRecord } from '../capture/record.js'
import { registerReplayRoutes } from './routes/replays.js'
import { registerReplayRunRoutes } from './routes/replay-run.js'
import type { TargetReplays } from '../replay/targets.js'
import { isUiPath, registerUiRoutes } from './ui.js'

export interface AdminDeps {
  store: StoreReader
  metrics: Metrics
  token: string | null
  /** Host, Origin and request-shape checks (DNS rebinding, cross-site requests). */
  guard: RequestGuard
  logger: Logger
  version: string
  /** Fault injection's rule set; null when not enabled. */
  faults: FaultRules | null
  /** Records exchanges no route carried (replays reported by the CLI); null when capture is off. */
  replays: { ingest (record: ObservationRecord): Promise<Exchange> } | null
  /** Replays to the configured staging targets (the browser view's Replay button); none configured: off. */
  targetReplays: TargetReplays
  /** The live tails (GET /api/stream), bounded per reader. */
  tails: LiveTails
  /** Readiness: listeners up and the store writable. */
  ready: () => { ready: boolean, checks: Record<string, string> }
  /** The routes POST /api/doctor checks: their upstreams from the running configuration, never a caller's URL. */
  doctor: DoctorTarget[]
  /** The browser view's built files (dist/ui/ by default; tests point it elsewhere). */
  uiDir?: string
}

/** Tails (16) and the CLI, a browser, a Prometheus scraper: far fewer than this. */
const MAX_ADMIN_CONNECTIONS = 64

/** Paths anyone on the network may read: liveness and readiness carry no data. */
const OPEN_PATHS = new Set(['/healthz', '/readyz'])

/**
 * The admin and query API. Local-only by default; token-protected when bound elsewhere (the
 * start-up refuses a non-loopback address without a token). No CORS, and request-guard.ts
 * refuses foreign Host names, other origins and state changes a page could send unasked.
 */
export function buildAdminServer (deps: AdminDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    // A slow or flooding client must not hold the API (it is how you look at a flooded route).
    connectionTimeout: 0,
    requestTimeout: 30_000,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 300 },
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } }
  })
  app.server.maxConnections = MAX_ADMIN_CONNECTIONS
  app.server.headersTimeout = 10_000
  // Before the routes: the document is generated from them as they are added.
  registerOpenApi(app, deps.version)

  app.decorateRequest('lang', 'en')
  app.addHook('onRequest', async (req, reply) => {
    if (OPEN_PATHS.has(req.url.split('?')[0] ?? '')) return
    // Texts (diagnoses) in the reader's language: ?lang=, then Accept-Language (issue 17).
    req.lang = requestLang(langParam(req.url), req.headers['accept-language'])
    reply.header('content-language', req.lang).header('vary', 'Accept-Language')
    const refusal = deps.guard.check(req)
    if (refusal !== null) {
      warnRateLimited(deps.logger, req.ip, req.url.split('?')[0] ?? '', refusal.error)
      return reply.code(refusal.status).send({ error: refusal.error, message: refusal.message })
    }
    // The view's static files carry no data (its login form is among them); the API needs the token.
    if (deps.token === null || isUiPath(req.url.split('?')[0] ?? '')) return
    if (!tokenMatches(req.headers.authorization, deps.token)) {
      warnRateLimited(deps.logger, req.ip, req.url.split('?')[0] ?? '', 'unauthorized')
      return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <admin token>' })
    }
  })

  // ajv coerces "1e309" to Infinity and lets it through `maximum` (a number that is no number):
  // every query parameter the schema made a number must be a finite one before a route sees it.
  app.addHook('preHandler', async (req, reply) => {
    const query = req.query as Record<string, unknown> | undefined
    if (query === undefined || query === null) return
    for (const [key, value] of Object.entries(query)) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        return reply.code(400).send({ error: 'FST_ERR_VALIDATION', message: `querystring/${key} must be a finite number` })
      }
    }
  })

  app.setErrorHandler((err: { statusCode?: number, code?: string, message: string, validation?: unknown }, req, reply) => {
    const status = err instanceof InvalidCursorError ? 400 : err.statusCode ?? 500
    if (status >= 500) deps.logger.error({ err: { message: err.message, code: err.code } }, 'admin API error')
    // A bad `q` says where: {error: 'invalid_query', message, column}. A bad query or filter
    // parameter is said in the reader's language (its codes: the query catalog); `error` stays a code.
    const column = err instanceof QueryError ? { column: err.column } : {}
    return reply.code(status).send({ error: err.code ?? 'error', message: status >= 500 ? 'internal error' : errorMessageIn(err, req.lang), ...column })
  })
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }))

  // A plugin of their own, so that they are added once @fastify/swagger is loaded and listening.
  void app.register(async (app) => {
    app.get('/healthz', { schema: OPERATIONS.getLiveness }, async () => ({ status: 'ok' }))
    app.get('/readyz', { schema: OPERATIONS.getReadiness }, async (_req, reply) => {
      const r = deps.ready()
      return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks })
    })
    app.get('/metrics', { schema: OPERATIONS.getMetrics }, async (_req, reply) => {
      const text = await deps.metrics.registry.metrics()
      return reply.type(deps.metrics.registry.contentType).send(text)
    })
    registerExchangeRoutes(app, deps)
    registerLogEventRoutes(app, deps)
    registerStreamRoutes(app, deps)
    registerFaultRoutes(app, deps)
    registerReplayRoutes(app, deps)
    registerDoctorRoutes(app, deps)
    registerReplayRunRoutes(app, deps)
    app.get('/api/openapi.json', { schema: OPERATIONS.getOpenApi }, async () => app.swagger())
    registerUiRoutes(app, deps.uiDir)
  })
  return app
}

let lastWarn = 0
let suppressed = 0

/** A refused request is logged, but at most once a second: a scanner must not flood the log. */
function warnRateLimited (logger: Logger, ip: string, path: string, reason: string): void {
  const now = Date.now()
  if (now - lastWarn < 1_000) {
    suppressed++
    return
  }
  // The path is the stranger's text: a token pasted into a URL must not reach the log.
  logger.warn({ ip, path: scrubText(path.slice(0, 200)), reason, suppressed_since_last: suppressed }, 'admin API: request refused')
  lastWarn = now
  suppressed = 0
}
