import type { HeaderMap } from '../capture/redact.js'

/** Sent so the replay is findable, and so a proxy in front of the target links it to the original. */
export const REPLAY_OF_HEADER = 'x-duo-diag-replay-of'

/** Never copied: per-connection (RFC 9110), recomputed for the new body, or describing the old hop. */
const NOT_COPIED = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'content-length', 'expect', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded'
])

/** Correlation ids the proxy accepts (src/proxy/correlation.ts); a longer one would be replaced. */
const MAX_ID = 128

/** `replay-<original correlation id>-<n>`, cut to what the proxy accepts as a caller's id. */
export function replayRequestId (correlationId: string, n: number): string {
  const suffix = `-${n}`
  const room = MAX_ID - 'replay-'.length - suffix.length
  return `replay-${correlationId.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, room)}${suffix}`
}

export interface ReplayHeaders {
  headers: Record<string, string | string[]>
  /** Names of headers dropped because capture had redacted their value (credentials). */
  dropped: string[]
}

/**
 * The original request headers minus credentials: a value redacted at capture ("[FILTERED…]")
 * cannot be sent back, so the header goes; `extra` (the user's `--header`s) supplies staging
 * credentials and wins over anything copied.
 */
export function replayHeaders (original: HeaderMap, extra: Array<[string, string]>, requestId: string, replayOf: string, now = Date.now()): ReplayHeaders {
  const headers: Record<string, string | string[]> = {}
  const dropped: string[] = []
  for (const [name, value] of Object.entries(original)) {
    if (NOT_COPIED.has(name) || name.startsWith('x-duo-diag-')) continue
    const values = Array.isArray(value) ? value : [value]
    if (values.some((v) => v.includes('[FILTERED'))) {
      dropped.push(name)
      continue
    }
    headers[name] = value
  }
  // GitLab's send time feeds the waterfall: the old one would put the replay hours in the past.
  if (headers['x-gitlab-rails-send-start'] !== undefined) headers['x-gitlab-rails-send-start'] = (now / 1000).toFixed(3)
  for (const [name, value] of extra) headers[name.toLowerCase()] = value
  headers['x-request-id'] = requestId
  headers[REPLAY_OF_HEADER] = replayOf
  return { headers, dropped: dropped.filter((d) => !extra.some(([n]) => n.toLowerCase() === d)) }
}

/** `Name: value` from `--header`. */
export function parseHeaderArg (text: string): [string, string] | null {
  const colon = text.indexOf(':')
  if (colon <= 0) return null
  const name = text.slice(0, colon).trim()
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return null
  return [name, text.slice(colon + 1).trim()]
}
