import pino, { type Logger } from 'pino'
import type { LogLevel } from '../config/types.js'

export type { Logger }

/**
 * JSON lines on stdout (fd 1, written directly so worker threads log without a hop through the
 * main thread). Values that could carry credentials are censored as a second line of defence:
 * the capture pipeline only ever logs redacted fields.
 */
export function createLogger (level: LogLevel, file: string | null = null, name = 'duo-diag-proxy'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['authorization', '*.authorization', 'headers.cookie', 'token', '*.token'],
      censor: '[FILTERED]'
    }
  }, pino.destination({ dest: file ?? 1, sync: false, mkdir: file !== null, append: true }))
}
