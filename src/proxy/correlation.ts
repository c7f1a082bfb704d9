import { randomFillSync } from 'node:crypto'
import type { CorrelationSource } from './observation.js'

/** What the proxy accepts as a correlation id; anything else is replaced by a minted one. */
const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/

// Minting draws from a pooled random buffer: one syscall per 256 ids instead of one per request.
const POOL_IDS = 256
const pool = Buffer.allocUnsafe(16 * POOL_IDS)
let next = POOL_IDS

/** 32 lowercase hex characters, as the AI gateway mints them (uuid4().hex). */
export function mintRequestId (): string {
  if (next === POOL_IDS) {
    randomFillSync(pool)
    next = 0
  }
  const start = 16 * next++
  return pool.toString('hex', start, start + 16)
}

export interface Correlation {
  id: string
  source: CorrelationSource
  /** The rejected caller id, when one was replaced. */
  original: string | null
}

export function resolveCorrelation (callerId: string | null): Correlation {
  if (callerId === null) return { id: mintRequestId(), source: 'minted', original: null }
  if (VALID_ID.test(callerId)) return { id: callerId, source: 'caller', original: null }
  return { id: mintRequestId(), source: 'replaced', original: callerId }
}
