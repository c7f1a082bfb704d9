/**
 * The AI gateway with AIGW_LOGGING__FORMAT_JSON=false: structlog's ConsoleRenderer
 * (ai_gateway/structured_logging.py), `TIMESTAMP [level    ] event   [logger] k=v k=v…` with the
 * keys sorted, strings unquoted, a traceback value (`backtrace=`, `exception_backtrace=`) over
 * several lines, and an exception's traceback printed after the pairs (docs/log-formats.md §3.6).
 * structlog's unconfigured default (`2026-08-25 08:00:07 [info     ] …`, no logger) too.
 */
import { LOG_LIMITS } from './event.js'
import { gatewayKind, keepGatewayFields, litellmLine } from './gateway-fields.js'
import { keepBacktrace, keepText } from './keep.js'
import { keepCorrelationId, levelOf, type ParsedRecord, type ParseOptions } from './record.js'
import { isoTime } from './time.js'

const HEAD = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) \[ ?([A-Za-z]{1,10}) *\] ?/
// ` [logger.name]` before the pairs; a name starts with a letter, so `process [1]` is no logger.
const LOGGER = /(?:^| )\[([A-Za-z_][\w.]{0,100})\](?= |$)/m
const KEY = /([A-Za-z_][\w.-]{0,100})=/y
const NEXT_PAIR = / ([A-Za-z_][\w.-]{0,100})=/g
const NEXT_PAIR_AFTER_TRACEBACK = /\n (?=[A-Za-z_][\w.-]{0,100}=)/g
const TRACEBACK = 'Traceback (most recent call last):'
const MAX_PAIRS = 200

export function isConsoleHead (line: string): boolean {
  return HEAD.test(line)
}

export function parseConsoleRecord (text: string, opts: ParseOptions): ParsedRecord {
  const head = HEAD.exec(text)
  const rest = head === null ? text : text.slice(head[0].length)
  const marker = LOGGER.exec(rest)
  let message = marker === null ? rest : rest.slice(0, marker.index)
  const logger = marker?.[1] ?? ''
  let pairs = new Map<string, string>()
  let trailing = ''
  if (marker !== null) {
    const kv = rest.slice(marker.index + marker[0].length).replace(/^ /, '')
    const nl = kv.indexOf('\n')
    const firstLine = nl < 0 ? kv : kv.slice(0, nl)
    // A traceback value runs over lines until ` key=` at a line start; otherwise the pairs are one
    // line and what follows is the exception ConsoleRenderer prints after them.
    const multiLine = nl >= 0 && firstLine.endsWith(`=${TRACEBACK}`)
    pairs = parsePairs(multiLine ? kv : firstLine)
    trailing = multiLine || nl < 0 ? '' : kv.slice(nl + 1)
  } else {
    const tb = message.indexOf(`\n${TRACEBACK}`)
    if (tb >= 0) {
      trailing = message.slice(tb + 1)
      message = message.slice(0, tb)
    }
  }
  const fields = keepGatewayFields(pairs.keys(), (k) => pythonValue(pairs.get(k)), opts)
  if (marker !== null) fields.logger = logger
  if (trailing.trim() !== '') fields.exception = keepBacktrace(trailing.trimEnd())
  message = message.trim()
  if (logger === 'LiteLLM') message = litellmLine(message, fields, opts)
  return {
    source: 'gateway_text',
    kind: gatewayKind(logger, message, fields),
    time: isoTime(head?.[1]),
    correlation_id: keepCorrelationId(pairs.get('correlation_id')),
    level: levelOf(head?.[2]),
    message: keepText(message, LOG_LIMITS.messageChars),
    fields
  }
}

/** `k=v k=v…` in ConsoleRenderer's sorted order: a ` word=` inside a value is no key unless it sorts after the last. */
function parsePairs (text: string): Map<string, string> {
  const out = new Map<string, string>()
  let at = 0
  while (at < text.length && out.size < MAX_PAIRS) {
    KEY.lastIndex = at
    const key = KEY.exec(text)
    if (key === null) break
    const start = at + key[0].length
    let end = text.length
    let next = text.length
    if (text.startsWith(TRACEBACK, start)) {
      NEXT_PAIR_AFTER_TRACEBACK.lastIndex = start
      const m = NEXT_PAIR_AFTER_TRACEBACK.exec(text)
      if (m !== null) [end, next] = [m.index, m.index + 2]
    } else {
      NEXT_PAIR.lastIndex = start
      for (let m = NEXT_PAIR.exec(text); m !== null; m = NEXT_PAIR.exec(text)) {
        if (m[1]! > key[1]!) {
          [end, next] = [m.index, m.index + 1]
          break
        }
      }
    }
    out.set(key[1]!, text.slice(start, end).trimEnd())
    at = next
  }
  return out
}

/** ConsoleRenderer prints Python values with repr for non-strings: None, True, False. */
function pythonValue (value: string | undefined): unknown {
  if (value === 'None') return null
  if (value === 'True') return true
  if (value === 'False') return false
  return value
}
