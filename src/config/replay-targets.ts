import { ConfigError } from './errors.js'
import { parseUpstreamUrl } from './parse.js'
import { SecretHeaders } from './secret-headers.js'
import type { ReplayTarget } from './types.js'

/** replay.targets[] once config/schema.json has checked it and filled its defaults. */
export interface RawReplayTarget {
  name: string
  url: string
  headers_from_env: Record<string, string>
  model_endpoint: string | null
  timeout_ms: number
}

/** Headers the replay writes itself (per connection, the new body's, its correlation) or that undici refuses. */
const SET_BY_REPLAY = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer',
  'expect', 'x-request-id'
])

/** A field value as RFC 9110 allows it: no control characters but tab (a newline would split the header). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * What the schema cannot say of replay targets: URLs, names used twice, and each header's value
 * from the environment — a variable that is not set stops start-up here, rather than a replay
 * going out without its credential. Messages name variables, never their values.
 */
export function validateReplayTargets (raw: RawReplayTarget[], env: NodeJS.ProcessEnv, userIndex: (i: number) => number): ReplayTarget[] {
  const names = new Set<string>()
  return raw.map((r, i) => {
    const at = `replay.targets[${userIndex(i)}]`
    if (names.has(r.name)) throw new ConfigError(`replay.targets: the name "${r.name}" is used twice`)
    names.add(r.name)
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(r.url)) throw new ConfigError(`${at}.url: no credentials in the URL: give them as a header in headers_from_env`)
    const url = parseUpstreamUrl(r.url, `${at}.url`)
    if (r.model_endpoint !== null) parseUpstreamUrl(r.model_endpoint, `${at}.model_endpoint`)
    const values: Array<[string, string]> = []
    for (const [header, variable] of Object.entries(r.headers_from_env)) {
      const where = `${at}.headers_from_env.${header}`
      const name = header.toLowerCase()
      if (values.some(([n]) => n === name)) throw new ConfigError(`${where}: the header is given twice (names ignore case)`)
      if (SET_BY_REPLAY.has(name) || name.startsWith('x-duo-diag-')) throw new ConfigError(`${where}: the replay sets this header itself`)
      // The loader reads every DUO_DIAG_* variable as a configuration key: it would be refused there.
      if (variable.startsWith('DUO_DIAG_')) throw new ConfigError(`${where}: ${variable} would be read as configuration (DUO_DIAG_*): name the variable otherwise`)
      const value = env[variable]
      if (value === undefined) throw new ConfigError(`${where}: the environment variable ${variable} is not set`)
      if (value.trim() === '') throw new ConfigError(`${where}: the environment variable ${variable} is empty`)
      if (!HEADER_VALUE.test(value)) throw new ConfigError(`${where}: the environment variable ${variable} holds characters a header value cannot (a newline?)`)
      values.push([name, value.trim()])
    }
    return {
      name: r.name,
      url,
      headersFromEnv: { ...r.headers_from_env },
      headers: new SecretHeaders(values),
      modelEndpoint: r.model_endpoint,
      timeoutMs: r.timeout_ms
    }
  })
}
