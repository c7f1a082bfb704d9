import type { HeldExchanges } from '../store/store.js'
import type { Exchange } from './exchange.js'

/**
 * The exchanges this capture thread wrote last, as the objects it wrote. Linking reads back the
 * gateway requests and model calls written moments before (a late model call's possible parents,
 * a gateway request's unlinked calls): up to 500 documents a batch, each read and JSON-parsed
 * again, were most of the capture thread's time under a mix of both hops (~250 µs of its 320 µs
 * a record, bench/run.ts --phases store). Held here, only older ones are read.
 *
 * Bounded by count and by age: ~2 000 exchanges are a fraction of a second of saturating traffic
 * and a few MB of heap, which covers the late window (a model call's record comes at most ~50 ms
 * after its gateway request's); the age bound keeps a document another writer changed since
 * (a log import rewriting a diagnosis) from being taken in its older form for long.
 */
export class RecentExchanges {
  private readonly byId = new Map<string, { ex: Exchange, at: number }>()

  constructor (private readonly capacity = 2_048, private readonly maxAgeMs = 10_000) {}

  /** A slice as written. Linking changes these objects in place and writes them: they stay current. */
  add (written: readonly Exchange[]): void {
    const at = performance.now()
    for (const ex of written) {
      this.byId.delete(ex.id)
      this.byId.set(ex.id, { ex, at })
    }
    // A Map iterates in insertion order: the oldest go first.
    for (const id of this.byId.keys()) {
      if (this.byId.size <= this.capacity) break
      this.byId.delete(id)
    }
  }

  readonly held: HeldExchanges = (id) => {
    const entry = this.byId.get(id)
    return entry !== undefined && performance.now() - entry.at <= this.maxAgeMs ? entry.ex : undefined
  }
}
