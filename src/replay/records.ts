import type { Exchange } from '../capture/exchange.js'
import type { QueryClient } from '../cli/query-client.js'

export interface Wanted {
  requestId: string
  /** The path as the target received it (its base path included). */
  path: string
  sentAt: number
}

const POLL_MS = 100

/**
 * The replays as the proxy in front of the target recorded them, found by their X-Request-ID.
 * Records are written just after forwarding, so this polls until each shows up or `waitMs` ends;
 * the newest match wins (an earlier run may have used the same id).
 */
export async function findRecords (client: QueryClient, wanted: Wanted[], waitMs: number): Promise<Map<string, Exchange>> {
  const found = new Map<string, Exchange>()
  const deadline = Date.now() + waitMs
  for (;;) {
    for (const w of wanted) {
      if (found.has(w.requestId)) continue
      const page = await client.list({ correlation_id: w.requestId }, 20, null)
      const match = page.items.find((e) => e.path === w.path && Date.parse(e.started_at) >= w.sentAt - 2_000)
      if (match !== undefined) found.set(w.requestId, match)
    }
    if (found.size === wanted.length || Date.now() >= deadline) return found
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}
