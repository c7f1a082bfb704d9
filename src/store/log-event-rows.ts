/**
 * A LogEvent (src/logs/event.ts) as a row of `log_events`, checked first. The importer builds
 * events from files a customer sent: the store still refuses one that breaks the type's promises
 * (an unreadable time, an unknown source, a document far over the importer's bounds), naming it,
 * so a bug upstream becomes a clear error and never a row every reader then trips over.
 */
import { LOG_EVENT_KINDS, LOG_LIMITS, LOG_SOURCES, type LogEvent, type LogLevel } from '../logs/event.js'
import type { SqlParam } from './sql.js'

/** The columns a log event row carries besides its JSON document (for lookups and retention). */
export const LOG_EVENT_COLUMNS = ['fingerprint', 'correlation_id', 'time', 'source', 'kind', 'level', 'import_id', 'data'] as const

const LEVELS: ReadonlyArray<LogLevel | null> = ['debug', 'info', 'warn', 'error', null]

/**
 * The largest document one event may be: every bounded text at its limit with room to spare
 * (message 4 KiB, a backtrace 16 KiB, fields of 1 KiB each). Far above what the importer makes,
 * far below what would hurt a page of 1 000.
 */
export const LOG_EVENT_MAX_BYTES = 256 * 1024

/** The import run's id: what `importedCorrelationIds` pages by. */
const IMPORT_ID_MAX = 128

/** A batch the store will not write: `index` is the event's place in it. Nothing of the batch was written. */
export class LogEventError extends Error {
  readonly code = 'DDP_LOG_EVENT_INVALID'
  constructor (readonly index: number, reason: string) {
    super(`log event ${index}: ${reason}`)
  }
}

/** Why an event cannot be stored, or null when it can. */
function problem (ev: LogEvent): string | null {
  if (typeof ev !== 'object' || ev === null) return 'not an object'
  if (typeof ev.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(ev.fingerprint)) return 'fingerprint must be a sha256 in hex'
  if (!LOG_SOURCES.includes(ev.source)) return `unknown source ${JSON.stringify(String(ev.source)).slice(0, 40)}`
  if (!LOG_EVENT_KINDS.includes(ev.kind)) return `unknown kind ${JSON.stringify(String(ev.kind)).slice(0, 40)}`
  if (!LEVELS.includes(ev.level)) return `unknown level ${JSON.stringify(String(ev.level)).slice(0, 40)}`
  if (typeof ev.time !== 'string' || !Number.isFinite(Date.parse(ev.time))) return 'time is not an ISO 8601 time'
  if (ev.correlation_id !== null && (typeof ev.correlation_id !== 'string' || ev.correlation_id === '' || ev.correlation_id.length > LOG_LIMITS.fieldChars)) {
    return `correlation_id must be null or 1 to ${LOG_LIMITS.fieldChars} characters`
  }
  if (typeof ev.message !== 'string') return 'message is not a string'
  if (typeof ev.fields !== 'object' || ev.fields === null || Array.isArray(ev.fields)) return 'fields is not an object'
  if (typeof ev.origin !== 'object' || ev.origin === null || typeof ev.origin.file !== 'string' || !Number.isInteger(ev.origin.line)) return 'origin must be {file, line}'
  return null
}

/** The import run's id, checked: printable, bounded. */
export function checkImportId (importId: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof importId !== 'string' || importId === '' || importId.length > IMPORT_ID_MAX || /[\u0000-\u001f]/.test(importId)) {
    throw new LogEventError(-1, `import id must be 1 to ${IMPORT_ID_MAX} printable characters`)
  }
  return importId
}

/** Every event of a batch as a row of LOG_EVENT_COLUMNS; throws LogEventError on the first that cannot be. */
export function logEventRows (events: readonly LogEvent[], importId: string): SqlParam[][] {
  checkImportId(importId)
  return events.map((ev, i) => {
    const why = problem(ev)
    if (why !== null) throw new LogEventError(i, why)
    const data = JSON.stringify(ev)
    if (Buffer.byteLength(data) > LOG_EVENT_MAX_BYTES) throw new LogEventError(i, `the event is over ${LOG_EVENT_MAX_BYTES} bytes as JSON`)
    return [ev.fingerprint, ev.correlation_id, Date.parse(ev.time), ev.source, ev.kind, ev.level, importId, data]
  })
}
