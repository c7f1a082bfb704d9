/**
 * A writer's time field as ISO 8601 UTC with milliseconds, or null when it is none. Rails writes
 * `iso8601(3)` with Z (labkit JsonLogger), the gateway `…:04.654000Z` (structlog TimeStamper,
 * UTC) or `+00:00` (`request_arrived_at`), structlog's unconfigured default
 * `2026-08-25 08:00:07` (no zone: read as UTC, the gateway container's zone), the runtime
 * prefix nanoseconds. Parsed by hand: Date.parse differs between engines on these shapes.
 */
const ISO = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s?(Z|[+-]\d\d:?\d\d)?$/

export function isoTime (value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 40) return null
  const m = ISO.exec(value.trim())
  if (m === null) return null
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number]
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000)
  let at = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  const zone = m[8]
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    at -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000
  }
  if (!Number.isFinite(at) || year < 1970) return null
  return new Date(at).toISOString()
}
