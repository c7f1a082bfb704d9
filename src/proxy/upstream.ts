import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { Pool } from 'undici'
import type { RouteConfig } from '../config/types.js'

/** One upstream: a keep-alive pool to its origin and how to address it. */
export interface Upstream {
  pool: Pool
  /** `http://host:port` */
  origin: string
  /** Path prefix from the upstream URL, without trailing slash ('' when none). */
  basePath: string
  /** Host header value for the upstream. */
  host: string
  /** Origin + base path, for messages and records. */
  display: string
  headersTimeoutMs: number
  bodyTimeoutMs: number
}

export function createUpstream (route: RouteConfig): Upstream {
  const url = route.upstream
  const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
  const connect: Record<string, unknown> = { timeout: route.timeouts.connectMs }
  if (url.protocol === 'https:') {
    // A custom CA replaces Node's roots in tls.connect, so keep the roots alongside it.
    if (route.tls.caFile !== null) connect.ca = [...rootCertificates, readFileSync(route.tls.caFile, 'utf8')]
    if (route.tls.insecureSkipVerify) connect.rejectUnauthorized = false
  }
  const pool = new Pool(url.origin, {
    connect,
    headersTimeout: route.timeouts.headersMs,
    bodyTimeout: route.timeouts.bodyIdleMs,
    // No cap: queueing callers behind a pool limit would add latency the caller never had.
    connections: null,
    keepAliveTimeout: 4_000
  })
  return {
    pool,
    origin: url.origin,
    basePath,
    host: url.host,
    display: url.origin + basePath,
    headersTimeoutMs: route.timeouts.headersMs,
    bodyTimeoutMs: route.timeouts.bodyIdleMs
  }
}
