/**
 * What a writer's parser makes of one record, before the reader adds where and when it was
 * read (the LogEvent), and the helpers every parser shares to keep a field.
 */
import type { Json } from '../capture/redact.js'
import type { RuleSet } from '../capture/redact-rules.js'
import type { LogEventKind, LogLevel, LogSource } from './event.js'
import { LOG_LIMITS } from './event.js'
import { keepBacktrace, keepScalar, keepText, keepUrl } from './keep.js'

export interface ParseOptions {
  /** Verbose import: prompt-bearing fields kept, redacted (LogEvent.fields). */
  verbose: boolean
  rules: RuleSet
}

export interface ParsedRecord {
  source: LogSource
  /** `skip`: recognised noise (a health probe), counted and not kept. */
  kind: LogEventKind | 'skip'
  /** The writer's own time, ISO UTC ms; null when the record has none. */
  time: string | null
  correlation_id: string | null
  level: LogLevel | null
  message: string
  fields: Record<string, Json>
}

/** How a kept field is bounded and redacted. */
export type FieldKind = 'scalar' | 'number' | 'url' | 'text' | 'backtrace'

export function keepField (kind: FieldKind, value: unknown, rules: RuleSet): Json | undefined {
  switch (kind) {
    case 'scalar':
      return keepScalar(value)
    case 'number': {
      const n = typeof value === 'string' && /^-?\d{1,15}(?:\.\d{1,15})?$/.test(value) ? Number(value) : value
      return typeof n === 'number' && Number.isFinite(n) ? n : undefined
    }
    case 'url':
      return keepUrl(value, rules)
    case 'text':
      return keepScalar(value, LOG_LIMITS.messageChars)
    case 'backtrace':
      if (typeof value === 'string') return keepBacktrace(value)
      // Rails' exception.backtrace is an array of frames (ExceptionLogFormatter).
      if (Array.isArray(value)) return keepBacktrace(value.slice(0, LOG_LIMITS.recordLines).filter((v) => typeof v === 'string').join('\n'))
      return undefined
  }
}

/** Copies the allowlisted keys of `source` into `fields`, each kept as its kind says. */
export function keepAllowed (source: Record<string, unknown>, allowed: Readonly<Record<string, FieldKind>>, rules: RuleSet, fields: Record<string, Json>): void {
  for (const [key, kind] of Object.entries(allowed)) {
    if (!Object.hasOwn(source, key)) continue
    const kept = keepField(kind, source[key], rules)
    if (kept !== undefined) fields[key] = kept
  }
}

const CORRELATION_ID = /^[\w.:@/+=-]{1,128}$/

/** A correlation id as the writer logged it; null when it is absent or not id-shaped. */
export function keepCorrelationId (value: unknown): string | null {
  if (typeof value !== 'string' || !CORRELATION_ID.test(value)) return null
  const kept = keepText(value, 128)
  return kept === value ? value : null
}

/** Rails severities (DEBUG…FATAL), structlog and Python levels (debug…critical). */
export function levelOf (value: unknown): LogLevel | null {
  if (typeof value !== 'string') return null
  switch (value.trim().toLowerCase()) {
    case 'debug':
    case 'trace':
      return 'debug'
    case 'info':
    case 'notice':
      return 'info'
    case 'warn':
    case 'warning':
      return 'warn'
    case 'error':
    case 'err':
    case 'critical':
    case 'fatal':
    case 'exception':
      return 'error'
  }
  return null
}

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
