/**
 * The plain-text records of the gateway's container output that are not ConsoleRenderer events
 * (text-records.ts): litellm's own handler (`HH:MM:SS - LiteLLM:DEBUG: file:line - …`, litellm
 * `_logging.py`), its `print()` after a mapped exception, uvicorn's default formatter
 * (`INFO:     …`), scripts/run.sh's echo, and bare Python tracebacks (docs/log-formats.md §3.6).
 */
import { LOG_LIMITS } from './event.js'
import { deriveModelEndpoint, gatewayKind, litellmMessage } from './gateway-fields.js'
import { keepBacktrace, keepText, keepUrl } from './keep.js'
import { parseConsoleRecord } from './parse-console.js'
import { levelOf, type ParsedRecord, type ParseOptions } from './record.js'
import type { TextRecord } from './text-records.js'
import type { Json } from '../capture/redact.js'

const LITELLM_DEBUG = /^\d\d:\d\d:\d\d - LiteLLM(?: [A-Za-z]{1,20})?:([A-Z]{4,8}): ?(?:[\w.-]{1,100}:\d{1,6} - )?/
const UVICORN = /^([A-Z]{4,8}):(?: +|([\w.]{1,100}):)/
// uvicorn's access formatter: `127.0.0.1:51022 - "GET /monitoring/healthz HTTP/1.1" 200 OK`.
const ACCESS = /^(\S{1,100}):(\d{1,5}) - "([A-Z]{1,10}) (\S{1,4096}) HTTP\/(\d(?:\.\d)?)" (\d{3})\b/

export function parseTextRecord (record: TextRecord, opts: ParseOptions): ParsedRecord {
  switch (record.type) {
    case 'console':
      return parseConsoleRecord(record.text, opts)
    case 'litellm_debug':
      return litellmDebug(record.text, opts)
    case 'litellm_feedback':
      return plain('model_call', null, firstLine(record.text), {})
    case 'runsh':
      return plain('info', 'info', firstLine(record.text), {})
    case 'uvicorn':
      return uvicorn(record.text, opts)
    case 'traceback':
      return traceback(record)
  }
}

function litellmDebug (text: string, opts: ParseOptions): ParsedRecord {
  const m = LITELLM_DEBUG.exec(text)
  const { message, requestUrl } = litellmMessage(m === null ? text : text.slice(m[0].length), opts)
  const fields: Record<string, Json> = { logger: 'LiteLLM' }
  const url = requestUrl === null ? undefined : keepUrl(requestUrl, opts.rules)
  if (url !== undefined) fields.request_url = url
  deriveModelEndpoint(fields)
  return plain('model_call', levelOf(m?.[1]), message, fields)
}

function uvicorn (text: string, opts: ParseOptions): ParsedRecord {
  const m = UVICORN.exec(text)
  const rest = m === null ? text : text.slice(m[0].length)
  const tb = rest.indexOf('\nTraceback (most recent call last):')
  const message = tb < 0 ? rest : rest.slice(0, tb)
  const fields: Record<string, Json> = { logger: m?.[2] ?? 'uvicorn' }
  if (tb >= 0) fields.exception = keepBacktrace(rest.slice(tb + 1))
  const access = ACCESS.exec(message)
  if (access !== null) {
    const status = Number(access[6])
    Object.assign(fields, { logger: 'uvicorn.access', client_ip: keepText(access[1]!, 100), method: access[3]!, path: keepUrlPath(access[4]!, opts), http_version: access[5]!, status_code: status })
  }
  const logger = String(fields.logger)
  return plain(gatewayKind(logger, message, fields), levelOf(m?.[1]), message, fields)
}

function keepUrlPath (path: string, opts: ParseOptions): string {
  return keepUrl(`http://x${path.startsWith('/') ? '' : '/'}${path}`, opts.rules)?.replace(/^http:\/\/x/, '') ?? keepText(path, LOG_LIMITS.fieldChars)
}

function traceback (record: TextRecord): ParsedRecord {
  const lines = record.text.split('\n')
  const body = record.leadLine ? lines.slice(1) : lines
  // The exception line is the traceback's last non-blank line.
  const last = [...body].reverse().find((l) => l.trim() !== '') ?? ''
  const message = record.leadLine ? lines[0]! : last
  return plain('exception', 'error', message, { exception: keepBacktrace(body.join('\n')) })
}

function plain (kind: ParsedRecord['kind'], level: ParsedRecord['level'], message: string, fields: Record<string, Json>): ParsedRecord {
  return { source: 'gateway_text', kind, time: null, correlation_id: null, level, message: keepText(message.trim(), LOG_LIMITS.messageChars), fields }
}

function firstLine (text: string): string {
  const nl = text.indexOf('\n')
  return nl < 0 ? text : text.slice(0, nl)
}
