import pino, { type Logger } from 'pino'
import type { LogLevel } from '../config/types.js'

export type { Logger }

/**
 * GitLab's severity names (Ruby's Logger: DEBUG, INFO, WARN, ERROR, FATAL) for pino's levels.
 * pino's `trace` has no Ruby counterpart and is written as DEBUG.
 */
const SEVERITY: Readonly<Record<string, string>> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'FATAL'
}

export function severityOf (label: string): string {
  return SEVERITY[label] ?? label.toUpperCase()
}

/** The key of a line's text, as GitLab's JSON logs and the AI gateway's name it. */
export const MESSAGE_KEY = 'message'

/**
 * JSON lines on stdout (fd 1, written directly so worker threads log without a hop through the
 * main thread). Values that could carry credentials are censored as a second line of defence:
 * the capture pipeline only ever logs redacted fields.
 *
 * The lines follow GitLab's JSON log conventions, so they sit beside `api_json.log`, `llm.log` and
 * the AI gateway's lines in one pipeline and the same `jq` filters:
 * - `severity` ("DEBUG", "INFO", "WARN", "ERROR", "FATAL") and `time` (UTC ISO 8601 with
 *   milliseconds, "2025-01-02T03:04:05.678Z"), the first two keys, as
 *   Labkit::Logging::JsonLogger#format_message writes them (`data[:severity] = severity`,
 *   `data[:time] = timestamp.utc.iso8601(3)`), which gitlabhq's lib/gitlab/json_logger.rb (the
 *   base of llm.log's Gitlab::Llm::Logger) extends; lib/gitlab/grape_logging/formatters/
 *   lograge_with_timestamp.rb writes api_json.log the same way.
 * - `message` for the text (JsonLogger: `data[:message] = message`; the AI gateway's
 *   ai_gateway/structured_logging.py renames structlog's `event` to `message` for the same reason:
 *   "Elasticsearch looks for the `message` key").
 * - Per-request fields named as GitLab names them (correlation_id, method, path, status,
 *   duration_s, remote_ip): see src/log/exchange-line.ts.
 * - `pid` and `name` stay (GitLab's Sidekiq JSON lines carry `pid` too); no `hostname`: an
 *   exchange's `proxy_instance` is in the store, and a log shipper adds the host.
 */
export function createLogger (level: LogLevel, file: string | null = null, name = 'duo-diag-proxy'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    messageKey: MESSAGE_KEY,
    // `,"time":"<Date#toISOString()>"`: always UTC, always milliseconds, like iso8601(3).
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ severity: severityOf(label) })
    },
    redact: {
      paths: ['authorization', '*.authorization', 'headers.cookie', 'token', '*.token'],
      censor: '[FILTERED]'
    }
  }, pino.destination({ dest: file ?? 1, sync: false, mkdir: file !== null, append: true }))
}
