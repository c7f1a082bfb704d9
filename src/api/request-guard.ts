import { hostname } from 'node:os'
import { isIP } from 'node:net'

/**
 * Who may talk to the admin API from a browser. Three checks, each closing one hole:
 *
 * - Host. A page on evil.example whose name is re-pointed at 127.0.0.1 (DNS rebinding) talks to
 *   us as same-origin, but its requests still say `Host: evil.example`. Only names that can
 *   really lead here are accepted: IP literals (a browser that connected by address has that
 *   address as its origin, so no rebinding is involved), `localhost` and `*.localhost`, the
 *   address the API listens on, this machine's host name, and the names in
 *   `admin.allowed_hosts` (for a reverse proxy or a DNS name in front of the API).
 * - Origin / Sec-Fetch-Site. A browser names the page that made a request; anything but this
 *   very origin is refused, reads included (the live tail is a read that costs us memory).
 * - Shape. A state change must be a request no page can send without a CORS preflight, which
 *   we never grant: DELETE by its method, POST only with `Content-Type: application/json`.
 */
export interface RequestGuard {
  /** null when acceptable; otherwise why not. */
  check (req: GuardedRequest): GuardRefusal | null
}

export interface GuardedRequest {
  method: string
  headers: Record<string, string | string[] | undefined>
}

export interface GuardRefusal {
  status: 403 | 415 | 421
  error: 'host_not_allowed' | 'cross_origin' | 'unsupported_media_type'
  message: string
}

const WILDCARD = new Set(['0.0.0.0', '::', ''])

export function createRequestGuard (listenHost: string, allowedHosts: readonly string[]): RequestGuard {
  const names = new Set<string>(['localhost', hostname().toLowerCase()])
  if (!WILDCARD.has(listenHost)) names.add(normalise(listenHost))
  for (const h of allowedHosts) names.add(normalise(h))
  const allowed = (name: string): boolean => isIP(name) !== 0 || names.has(name) || name.endsWith('.localhost')

  return {
    check (req) {
      const host = single(req.headers.host)
      // HTTP/1.0 tools may omit Host; browsers never do, so there is nothing to rebind.
      if (host !== undefined && !allowed(hostnameOf(host))) {
        return {
          status: 421,
          error: 'host_not_allowed',
          message: `Host "${host.slice(0, 100)}" is not a name of this admin API; add it to admin.allowed_hosts if it is yours`
        }
      }
      const site = single(req.headers['sec-fetch-site'])
      if (site !== undefined && site !== 'same-origin' && site !== 'none') return crossOrigin(site)
      const origin = single(req.headers.origin)
      if (origin !== undefined && (host === undefined || !sameOrigin(origin, host))) return crossOrigin(origin.slice(0, 100))
      if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
        const type = single(req.headers['content-type'])?.split(';')[0]?.trim().toLowerCase()
        if (type !== 'application/json') {
          return { status: 415, error: 'unsupported_media_type', message: 'send the body as Content-Type: application/json' }
        }
      }
      return null
    }
  }
}

function crossOrigin (from: string): GuardRefusal {
  return { status: 403, error: 'cross_origin', message: `cross-origin requests are refused (from ${from})` }
}

/** `Origin: http://127.0.0.1:5099` against `Host: 127.0.0.1:5099`: same scheme-less authority. */
function sameOrigin (origin: string, host: string): boolean {
  try {
    const u = new URL(origin)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false
    const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80'
    const h = splitHost(host)
    return normalise(u.hostname) === h.name && port === (h.port ?? (u.protocol === 'https:' ? '443' : '80'))
  } catch {
    return false
  }
}

function hostnameOf (host: string): string {
  return splitHost(host).name
}

function splitHost (host: string): { name: string, port: string | null } {
  const h = host.trim()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    const rest = end < 0 ? '' : h.slice(end + 1)
    return { name: normalise(h.slice(1, end < 0 ? undefined : end)), port: rest.startsWith(':') ? rest.slice(1) : null }
  }
  const colon = h.lastIndexOf(':')
  // Two colons without brackets: a bare IPv6 address, no port.
  if (colon < 0 || h.indexOf(':') !== colon) return { name: normalise(h), port: null }
  return { name: normalise(h.slice(0, colon)), port: h.slice(colon + 1) }
}

function normalise (name: string): string {
  const n = name.trim().toLowerCase()
  const bare = n.startsWith('[') && n.endsWith(']') ? n.slice(1, -1) : n
  return bare.endsWith('.') ? bare.slice(0, -1) : bare
}

function single (v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}
