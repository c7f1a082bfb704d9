import { FILTERED, scrubText } from '../capture/redact.js'
import type { Config } from '../config/types.js'

/** Key names whose values are secrets: the admin token, API keys, passwords, credentials. */
const SECRET_KEY = /key|token|secret|passw|credential/i

/**
 * The effective configuration as JSON, secrets masked: secret-named keys become "[FILTERED]",
 * URLs lose their user info, and every other string is scrubbed of token-shaped text.
 */
export function maskConfig (config: Config): unknown {
  // Through JSON first: URL objects become their href.
  return mask(JSON.parse(JSON.stringify(config)) as unknown, 0)
}

function mask (value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskString(value)
  if (typeof value !== 'object' || value === null || depth > 32) return value
  if (Array.isArray(value)) return value.map((v) => mask(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== null && v !== '' && !Array.isArray(v) && typeof v !== 'object' ? FILTERED : mask(v, depth + 1)
  }
  return out
}

function maskString (text: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(text)) {
    try {
      const url = new URL(text)
      if (url.username !== '' || url.password !== '') {
        url.username = url.username === '' ? '' : FILTERED
        url.password = url.password === '' ? '' : FILTERED
        return url.toString().replaceAll('%5BFILTERED%5D', FILTERED)
      }
    } catch {
      // not a URL after all
    }
  }
  return scrubText(text)
}
