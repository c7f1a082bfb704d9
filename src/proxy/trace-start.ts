import { randomFillSync } from 'node:crypto'

/** 16 bytes of trace id and 8 of span id per traceparent. */
const IDS_BYTES = 24
const POOL_COUNT = 1024

/**
 * Starts W3C traces for requests that arrive without a `traceparent` (otel.start_traces):
 * the upstream sees the proxy's span as its parent, so the gateway's and model server's own
 * spans join the proxy's trace. Random ids come from a pooled buffer: one syscall per 1024.
 */
export class TraceStarter {
  private readonly pool = Buffer.allocUnsafe(IDS_BYTES * POOL_COUNT)
  private next = POOL_COUNT

  /** A new sampled traceparent: `00-<trace id>-<span id>-01`. */
  traceparent (): string {
    if (this.next === POOL_COUNT) {
      randomFillSync(this.pool)
      this.next = 0
    }
    const at = IDS_BYTES * this.next++
    // An all-zero id is invalid; with 64 random bits or more it is never drawn in practice,
    // but setting one bit costs nothing and makes it impossible.
    this.pool[at + 15]! |= 1
    this.pool[at + 23]! |= 1
    return `00-${this.pool.toString('hex', at, at + 16)}-${this.pool.toString('hex', at + 16, at + 24)}-01`
  }
}

/** Whether a raw header list ([name, value, ...]) has a traceparent. */
export function hasTraceparent (raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 11 && name.toLowerCase() === 'traceparent') return true
  }
  return false
}
