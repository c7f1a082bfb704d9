import { ConfigError } from './errors.js'
import type { HostPort } from './types.js'

/** Parses `host:port`, `[v6]:port`, `:port` or `port` (all interfaces). */
export function parseHostPort (value: string, where: string): HostPort {
  const text = value.trim()
  let host = '0.0.0.0'
  let portText = text
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text)
  if (bracket) {
    host = bracket[1] as string
    portText = bracket[2] as string
  } else if (text.includes(':')) {
    const at = text.lastIndexOf(':')
    host = text.slice(0, at) || '0.0.0.0'
    portText = text.slice(at + 1)
  }
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new ConfigError(`${where}: "${value}" is not a listen address (expected host:port, e.g. 127.0.0.1:5053)`)
  }
  return { host, port }
}

export function formatHostPort (hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`
}

export function parseUpstreamUrl (value: string, where: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(`${where}: "${value}" is not a URL (expected http(s)://host:port[/base-path])`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${where}: "${value}" must use http or https, not ${url.protocol.replace(':', '')}`)
  }
  if (url.username || url.password) {
    throw new ConfigError(`${where}: credentials in the upstream URL are not supported (they would be sent nowhere)`)
  }
  if (url.search || url.hash) {
    throw new ConfigError(`${where}: the upstream URL must not carry a query or fragment`)
  }
  return url
}
