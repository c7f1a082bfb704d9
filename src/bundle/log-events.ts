import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import type { QueryClient } from '../cli/query-client.js'
import type { FilterParams } from '../store/filter-params.js'

/** The most log lines one bundle carries: a day of a busy gateway's log, and a bounded file. */
export const BUNDLE_LOG_EVENTS_MAX = 100_000

const PAGE = 1_000

export interface LogEventsWritten {
  count: number
  /** More lines matched than BUNDLE_LOG_EVENTS_MAX: the file holds the oldest of them. */
  truncated: boolean
}

/**
 * The imported log lines of the bundle's window (its since/until: log lines have no route) as
 * NDJSON, oldest first, page by page: redacted when they were imported, as the store holds them.
 * null when the source cannot give them (a proxy from before log import).
 */
export async function writeLogEvents (client: QueryClient, params: FilterParams, file: string): Promise<LogEventsWritten | null> {
  const window = { ...(params.since !== undefined ? { since: params.since } : {}), ...(params.until !== undefined ? { until: params.until } : {}) }
  const dest = createWriteStream(file, { mode: 0o600 })
  let count = 0
  let truncated = false
  try {
    let cursor: string | null = null
    for (let pages = 0; pages <= BUNDLE_LOG_EVENTS_MAX / PAGE; pages++) {
      const page = await client.logEvents(window, Math.min(PAGE, BUNDLE_LOG_EVENTS_MAX - count), cursor)
      if (page === null) return null
      for (const ev of page.items) {
        if (!dest.write(JSON.stringify(ev) + '\n')) await once(dest, 'drain')
      }
      count += page.items.length
      cursor = page.next_cursor
      if (cursor === null) break
      if (count >= BUNDLE_LOG_EVENTS_MAX) {
        truncated = true
        break
      }
    }
  } finally {
    await new Promise<void>((resolve, reject) => dest.end((err?: Error | null) => (err ? reject(err) : resolve())))
  }
  return { count, truncated }
}
