import { createHash, timingSafeEqual } from 'node:crypto'

/** Constant-time comparison of a presented bearer token with the configured one. */
export function tokenMatches (header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false
  // Hash both sides: equal lengths for timingSafeEqual, and no length leak.
  const a = createHash('sha256').update(header.slice(7).trim()).digest()
  const b = createHash('sha256').update(token).digest()
  return timingSafeEqual(a, b)
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
