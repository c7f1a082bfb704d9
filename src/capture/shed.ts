import type { Observation } from '../proxy/observation.js'
import { headerValue } from '../proxy/headers.js'
import type { RouteSettings } from './build.js'
import type { ExchangeSummary } from './engine.js'
import { classifyPath } from './features.js'
import { bodyKind, isSlow, tlsUnverified } from './observed.js'

/**
 * An exchange the data plane can already tell was unremarkable — answered below 400 within the
 * route's slow thresholds, no transport failure, no abort, no fault, not a stream (a stream can
 * fail inside a 200: only capture can tell) — summarized for the request metrics as capture would
 * have (src/capture/observed.ts); null for any other. Under a backlog such exchanges are the ones
 * capture sheds first (store.max_queue_healthy): what the metrics count of them is all that is
 * lost, while every failure still gets the queue. A healthy exchange's token findings (a 200 whose
 * token will fail next) are lost with it; the next exchanges carry the same token.
 */
export function healthySummary (obs: Observation, route: RouteSettings | undefined): ExchangeSummary | null {
  if (obs.status === null || obs.status >= 400 || obs.failure !== null || obs.clientAborted || obs.proxyAnswered !== null || obs.faultInjected !== null) return null
  if (route === undefined || isSlow(obs, route.slow)) return null
  const kind = bodyKind(headerValue(obs.responseHeaders, 'content-type'))
  if (kind === 'sse' || kind === 'ndjson') return null
  const q = obs.url.indexOf('?')
  const { hop, feature } = classifyPath(q < 0 ? obs.url : obs.url.slice(0, q), route.hop)
  const flags = tlsUnverified(obs.upstream, route.insecureTls) ? ['tls_unverified'] : []
  return { route: obs.route, hop, feature, status: obs.status, flags, ttfbMs: obs.ttfbMs, durationMs: obs.durationMs, cause: null }
}
