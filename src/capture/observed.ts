/**
 * What an observation already says before capture builds it: shared by the builder (the flags
 * it records) and by shedding on the data plane (src/capture/shed.ts), which must judge an
 * exchange exactly as the builder would. Small on purpose: the data plane loads it.
 */

export type BodyKind = 'json' | 'sse' | 'ndjson' | 'form' | 'text' | 'binary'

/** How a body is read, from its content type. */
export function bodyKind (contentType: string | null): BodyKind {
  if (contentType === null) return 'binary'
  const ct = contentType.toLowerCase()
  if (ct.includes('event-stream')) return 'sse'
  if (ct.includes('ndjson') || ct.includes('jsonl')) return 'ndjson'
  if (ct.includes('json')) return 'json'
  if (ct.includes('x-www-form-urlencoded')) return 'form'
  if (ct.startsWith('text/') || ct.includes('xml')) return 'text'
  return 'binary'
}

/** Flag `slow`: past the route's thresholds (a tunnel's or an abandoned exchange's length is not its answer's). */
export function isSlow (t: { ttfbMs: number | null, durationMs: number, upgraded: boolean, clientAborted: boolean }, slow: { ttfbMs: number, durationMs: number }): boolean {
  return (t.ttfbMs ?? 0) > slow.ttfbMs || (t.durationMs > slow.durationMs && !t.upgraded && !t.clientAborted)
}

/** Flag `tls_unverified`: an https upstream on a route that skips certificate checks. */
export function tlsUnverified (upstream: string, insecureTls: boolean): boolean {
  return insecureTls && upstream.startsWith('https:')
}
