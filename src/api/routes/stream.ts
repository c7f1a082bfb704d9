import type { FastifyInstance } from 'fastify'
import type { Exchange } from '../../capture/exchange.js'
import { FILTER_SCHEMA_PROPERTIES, type FilterParams, toFilter } from '../../store/filter-params.js'
import { matches } from '../../store/query.js'
import type { AdminDeps } from '../server.js'

/** Tails are cheap but not free: each costs the capture worker a copy of every exchange. */
const MAX_TAILS = 16
const HEARTBEAT_MS = 15_000

let open = 0

/** GET /api/stream: live exchanges as server-sent events (`event: exchange`), same filters. */
export function registerStreamRoutes (app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: FilterParams }>('/api/stream', {
    config: { summary: 'Live tail as server-sent events (event: exchange), same filters' },
    schema: { querystring: { type: 'object', additionalProperties: false, properties: FILTER_SCHEMA_PROPERTIES } }
  }, async (req, reply) => {
    const filter = toFilter(req.query)
    // `since` would only ever be in the past for a live tail; it bounds nothing here.
    delete filter.since
    if (open >= MAX_TAILS) return reply.code(503).send({ error: 'too_many_tails', message: `at most ${MAX_TAILS} live tails at once` })
    open++
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
    res.write(': duo-diag-proxy live tail\n\n')
    const unsubscribe = deps.subscribe((ex: Exchange) => {
      if (matches(ex, filter)) res.write(`event: exchange\nid: ${ex.id}\ndata: ${JSON.stringify(ex)}\n\n`)
    })
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS)
    res.once('close', () => {
      clearInterval(heartbeat)
      unsubscribe()
      open--
    })
  })
}
