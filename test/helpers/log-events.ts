/**
 * LogEvents built by hand, valid per src/logs/event.ts (the parsers that make real ones are
 * written elsewhere): what the store, the API, `show`, the page and the bundle are tested with.
 */
import { createHash } from 'node:crypto'
import type { LogEvent } from '../../src/logs/event.js'

let n = 0

/** A distinct, valid event; `over` sets what the test cares about. The fingerprint follows `key` (same key: same line). */
export function logEvent (over: Partial<LogEvent> & { key?: string } = {}): LogEvent {
  n++
  const { key, ...rest } = over
  const base: LogEvent = {
    fingerprint: createHash('sha256').update(key ?? `line-${n}`).digest('hex'),
    source: 'gateway',
    kind: 'info',
    time: new Date(1_800_000_000_000 + n).toISOString(),
    correlation_id: `corr-log-${n}`,
    level: 'info',
    message: `line ${n}`,
    fields: {},
    origin: { file: 'gateway.log', line: n }
  }
  return { ...base, ...rest }
}
