import type { BodySample } from '../proxy/body-sample.js'
import type { Observation } from '../proxy/observation.js'
import type { Hop } from './features.js'

/** A body sample flattened for the trip to the capture thread. */
export interface SampledBody {
  head: Uint8Array
  /** Last bytes of the body when more than the head went past; empty otherwise. */
  tail: Uint8Array
  total: number
  headLimit: number
}

/** An Observation as plain, structured-cloneable data. */
export type ObservationRecord = Omit<Observation, 'requestBody' | 'responseBody'> & {
  requestBody: SampledBody
  responseBody: SampledBody
  /**
   * Set for an exchange no route carried: a replay `duo-diag-proxy replay` sent straight to its
   * target and reported (replay-report.ts). Its hop is its original's, whatever the path says.
   */
  reportedReplay?: { hop: Hop }
}

function flatten (s: BodySample): SampledBody {
  return {
    head: s.headBytes === 0 ? EMPTY : s.headBuffer(),
    tail: s.tail.length === 0 ? EMPTY : s.tailBuffer(),
    total: s.total,
    headLimit: s.headLimit
  }
}

const EMPTY = new Uint8Array(0)

export function toRecord (o: Observation): ObservationRecord {
  return { ...o, requestBody: flatten(o.requestBody), responseBody: flatten(o.responseBody) }
}

/** Helpers over a SampledBody (received as Uint8Array after cloning). */
export function isComplete (b: SampledBody): boolean {
  return b.total === b.head.byteLength
}

export function headText (b: SampledBody): string {
  return Buffer.from(b.head.buffer, b.head.byteOffset, b.head.byteLength).toString('utf8')
}

/** The body's last bytes: the tail window, or the head when the body fit in it. */
export function tailText (b: SampledBody): { text: string, fromStart: boolean } {
  const src = b.tail.byteLength > 0 ? b.tail : b.head
  return { text: Buffer.from(src.buffer, src.byteOffset, src.byteLength).toString('utf8'), fromStart: b.tail.byteLength === 0 }
}
