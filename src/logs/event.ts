/**
 * One line (or one multi-line record, such as a traceback) of a log someone already has, read by
 * `duo-diag-proxy logs import` (issue 19), redacted, and kept as evidence beside the exchanges of
 * its correlation ID. The formats and their field names are GitLab's own: docs/log-formats.md.
 *
 * Everything here was read from a file a customer sent: untrusted. Texts are redacted and bounded
 * before they become a LogEvent; nothing downstream re-reads the raw line.
 */
import type { Json } from '../capture/redact.js'

/** Which writer produced the line, recognised by its content, never by the file's name. */
export type LogSource =
  /** GitLab Rails `llm.log`: Gitlab::Llm::Logger JSON lines. */
  | 'gitlab_llm'
  /** GitLab Rails `production_json.log` (Lograge) or `api_json.log` (Grape) lines. */
  | 'gitlab_request'
  /** The AI gateway's structured JSON lines (structlog, `structured_logging.py`). */
  | 'gateway'
  /** The AI gateway's plain-text output: console-rendered lines, tracebacks, litellm prints. */
  | 'gateway_text'

export const LOG_SOURCES: readonly LogSource[] = ['gitlab_llm', 'gitlab_request', 'gateway', 'gateway_text']

/** What the line says, as far as the diagnosis and the timeline care. */
export type LogEventKind =
  /** The gateway's access line (`api.access`): one HTTP request, its status and timings. */
  | 'access'
  /** A Rails request line (production_json / api_json) for a Duo endpoint. */
  | 'request'
  /** An exception: the gateway's `exceptions` logger, uvicorn's "Exception in ASGI application", a plain traceback. */
  | 'exception'
  /** The gateway's word on a model call: "Request to LLM complete", token usage, retries, litellm's own lines. */
  | 'model_call'
  /** llm.log: Duo Chat's error answer (`duo_chat_error_code` A1000…A9999, M3006, …). */
  | 'error_answer'
  /** llm.log: the gateway answered with an error ("Error response from AI Gateway", "Failed to request to v2/chat/agent"). */
  | 'gateway_error'
  /** Any other line of a recognised writer (requests performed, chunks received, start-up lines). */
  | 'info'

export const LOG_EVENT_KINDS: readonly LogEventKind[] = ['access', 'request', 'exception', 'model_call', 'error_answer', 'gateway_error', 'info']

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** Bounds on what one event keeps: a hostile or broken file cannot grow the store without end. */
export const LOG_LIMITS = {
  /** The longest physical line read; longer ones are counted (`too_long`) and skipped. */
  lineBytes: 1024 * 1024,
  /** `message`, after redaction. */
  messageChars: 4096,
  /** A traceback or backtrace field, after redaction. */
  backtraceChars: 16 * 1024,
  /** Any other string field. */
  fieldChars: 1024,
  /** Lines folded into one multi-line record (a plain-text traceback). */
  recordLines: 400,
  /** Characters of one multi-line record kept for parsing and its fingerprint; later lines are still counted. */
  recordChars: 256 * 1024
} as const

export interface LogEvent {
  /**
   * sha256 (hex) of the source and the raw record as read (after a docker/kubectl timestamp
   * prefix and ANSI colours are removed): importing the same line twice adds nothing. A record
   * with no time of its own (a litellm print, run.sh's echo) repeats word for word: the time it
   * was given is hashed in too, so each occurrence stays an event (src/logs/read-events.ts).
   */
  fingerprint: string
  source: LogSource
  kind: LogEventKind
  /** When the writer says it happened: ISO 8601, UTC, milliseconds. */
  time: string
  /** The request it belongs to; null for lines outside any request (start-up, health of the process). */
  correlation_id: string | null
  level: LogLevel | null
  /** The line's message, redacted, at most LOG_LIMITS.messageChars. */
  message: string
  /**
   * The fields diagnosis and people read, under GitLab's own names (`status_code`, `duration_s`,
   * `first_chunk_duration_s`, `exception_class`, `exception_message`, `duo_chat_error_code`,
   * `ai_event_name`, `class`, `logger`, `path`, `method`, `model_name`, `auth_error_details`, …),
   * redacted and bounded. Prompt-bearing fields (`params`, `body`, `prompt`, `fragment`, `inputs`, …)
   * only in verbose capture mode, redacted like verbose capture redacts bodies.
   */
  fields: Record<string, Json>
  /** Where it was read: the file as given to the import (`-` for stdin) and its first line number. */
  origin: { file: string, line: number }
}

/** What one import read and did: every line is accounted for. */
export interface ImportCounts {
  /** Physical lines read. */
  lines: number
  /** Events made (a multi-line record is one). */
  events: number
  /** Of those, already in the store (the same line imported before). */
  duplicates: number
  /** Lines no parser recognised (counted, not fatal). */
  unknown: number
  /** Lines over LOG_LIMITS.lineBytes, skipped. */
  too_long: number
  /**
   * Health probes and other noise recognised and not kept: `/monitoring/*` access lines, blank
   * lines between records, Rails request lines that are not Duo's.
   */
  skipped: number
  /** Events by source. */
  by_source: Partial<Record<LogSource, number>>
}
