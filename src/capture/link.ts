import type { Exchange, ExchangeLink } from './exchange.js'

/** Flags on a gateway exchange that a failing model call behind it would explain. */
const EXPLAINED_BY_CHILD = new Set(['upstream_error', 'model_error', 'stream_error', 'stream_truncated', 'stream_aborted', 'headers_timeout', 'body_timeout', 'slow', 'not_found'])

/** What linking needs of the store (the SQLite store, or anything else that can answer). */
export interface LinkStore {
  unlinkedModelExchanges (from: number, to: number): Exchange[]
  gatewaysSpanning (from: number, to: number): number
  setParent (id: string, parentId: string, link: ExchangeLink): void
}

const start = (e: Exchange): number => Date.parse(e.started_at)
const end = (e: Exchange): number => start(e) + e.timings.duration_ms

/** The gateway's call must sit inside its request; a little slack for clock rounding. */
const SLACK_MS = 5

function hostOf (url: string | undefined): string | null {
  if (url === undefined) return null
  try {
    return new URL(url).host
  } catch {
    return null
  }
}

/**
 * Ties model-hop exchanges to the gateway-hop exchange that caused them. Model providers never
 * see the correlation id, so unless a header carries it, the link is inferred: the model call
 * lies within the gateway request's span, and its model name and endpoint agree with what the
 * gateway request asked for; confidence is shared among the gateway requests in flight then.
 * Runs in the capture worker before the batch is written: children already stored are updated
 * there, children in the batch in memory. A failing gateway exchange takes its failing child's
 * cause as its root cause.
 */
export function linkBatch (batch: Exchange[], store: LinkStore): void {
  const gateways = batch.filter((e) => e.hop === 'gateway' && e.meta.feature !== 'health' && e.meta.feature !== 'gateway_metrics')
  if (gateways.length === 0) return
  const batchModels = batch.filter((e) => e.hop === 'model')
  gateways.sort((a, b) => end(a) - end(b))
  for (const g of gateways) {
    const from = start(g) - SLACK_MS
    const to = end(g) + SLACK_MS
    const stored = store.unlinkedModelExchanges(from, to)
    const candidates = [...batchModels.filter((c) => c.parent_id === null && start(c) >= from && start(c) <= to), ...stored]
    const children: Exchange[] = []
    for (const c of candidates) {
      const link = score(g, c, from, to, () => store.gatewaysSpanning(start(c), end(c)) + gateways.filter((o) => o !== g && start(o) <= start(c) && end(o) >= end(c)).length)
      if (link === null) continue
      c.parent_id = g.id
      c.link = link
      if (stored.includes(c)) store.setParent(c.id, g.id, link)
      children.push(c)
    }
    const failing = children.find((c) => c.diagnosis !== null && c.flags.some((f) => f !== 'client_aborted' && f !== 'slow' && !f.startsWith('token_')))
    if (failing !== undefined && g.diagnosis !== null && g.flags.some((f) => EXPLAINED_BY_CHILD.has(f))) {
      g.diagnosis.root_cause = { exchange_id: failing.id, route: failing.route, cause: failing.diagnosis!.cause }
      g.diagnosis.evidence.unshift(`the model call behind it (exchange ${failing.id} on route ${failing.route}) failed: ${failing.diagnosis!.cause}`)
    }
  }
}

function score (g: Exchange, c: Exchange, from: number, to: number, parentsInFlight: () => number): ExchangeLink | null {
  const forwardedId = c.request.headers['x-request-id']
  if (c.correlation_source === 'caller' && forwardedId === g.correlation_id) return { method: 'header', confidence: 1 }
  if (start(c) < from || end(c) > to) return null
  // The gateway request named a different model: not its call.
  if (g.meta.model_name !== undefined && c.meta.model !== undefined && g.meta.model_name !== c.meta.model) return null
  let s = 0.5
  if (g.meta.model_name !== undefined && g.meta.model_name === c.meta.model) s += 0.25
  const endpointHost = hostOf(g.meta.model_endpoint)
  const calledHost = c.request.headers.host
  if (endpointHost !== null && endpointHost === calledHost) s += 0.25
  const rivals = Math.max(1, parentsInFlight() + 1)
  const confidence = Math.round((s / rivals) * 100) / 100
  return confidence >= 0.2 ? { method: 'inferred', confidence } : null
}
