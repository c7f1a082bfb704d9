import type { Observation } from '../proxy/observation.js'
import type { RouteSettings } from './build.js'
import type { ExchangeSummary } from './engine.js'
import { classifyPath } from './features.js'

/** Streams can fail inside a 200 (an error event, a cut stream): only capture can tell. */
const STREAMED = /^(?:text\/event-stream|application\/(?:x-)?ndjson)/i

function contentType (headers: string[] | null): string | null {
  if (headers === null) return null
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() === 'content-type') return headers[i + 1] ?? null
  }
  return null
}

/**
 * An exchange the data plane can already tell was unremarkable — answered below 400 within the
 * route's slow thresholds, no transport failure, no abort, no fault, not a stream — summarized for
 * the request metrics; null for any other. Under a backlog such exchanges are the ones capture
 * sheds first (store.max_queue_healthy): what the metrics count of them is all that is lost, while
 * every failure still gets the queue. A healthy exchange's token findings (a 200 whose token will
 * fail next) are lost with it; the next exchanges carry the same token.
 */
export function healthySummary (obs: Observation, route: RouteSettings | undefined): ExchangeSummary | null {
  if (obs.status === null || obs.status >= 400 || obs.failure !== null || obs.clientAborted || obs.proxyAnswered !== null || obs.faultInjected !== null) return null
  if (route === undefined) return null
  if ((obs.ttfbMs ?? 0) > route.slow.ttfbMs || (obs.durationMs > route.slow.durationMs && !obs.upgraded)) return null
  const type = contentType(obs.responseHeaders)
  if (type !== null && STREAMED.test(type)) return null
  const q = obs.url.indexOf('?')
  const { hop, feature } = classifyPath(q < 0 ? obs.url : obs.url.slice(0, q), route.hop)
  const flags = route.insecureTls && obs.upstream.startsWith('https:') ? ['tls_unverified'] : []
  return { route: obs.route, hop, feature, status: obs.status, flags, ttfbMs: obs.ttfbMs, durationMs: obs.durationMs, cause: null }
}
