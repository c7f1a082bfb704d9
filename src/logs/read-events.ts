/**
 * `duo-diag-proxy logs import` reads one stream here: physical lines (line-reader.ts), cleaned
 * of the runtime's prefix and colours (line-clean.ts), recognised by content — a JSON line by
 * its keys, anything else as the gateway's plain text (text-records.ts) — and turned into
 * redacted, bounded LogEvents. Every line is counted in `counts`; bad input is counted, never
 * thrown. Nothing is buffered beyond one record and the few events that wait for a time.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { RuleSet } from '../capture/redact-rules.js'
import { type ImportCounts, LOG_LIMITS, type LogEvent } from './event.js'
import { cleanLine } from './line-clean.js'
import { readPhysicalLines } from './line-reader.js'
import { isGatewayJsonLine, parseGatewayJson } from './parse-gateway-json.js'
import { isLlmLogLine, parseLlmLog } from './parse-llm-log.js'
import { isRailsRequestLine, parseRailsRequest } from './parse-rails-request.js'
import { parseTextRecord } from './parse-text.js'
import { isRecord, type ParsedRecord, type ParseOptions } from './record.js'
import { TextRecordAssembler, type TextOutcome } from './text-records.js'
import { isoTime } from './time.js'

export interface ReadOptions {
  /** The file as given to the import (`-` for stdin): LogEvent.origin.file. */
  file: string
  /** Keep prompt-bearing fields, redacted (verbose capture's rules). */
  verbose: boolean
  rules: RuleSet
}

/** Lines read before any time is known wait for the first one; beyond this they take the epoch. */
const MAX_WAITING = 1_000
const EPOCH = new Date(0).toISOString()

/** A recognised JSON line's parser, or why it has none. */
function parseJsonLine (text: string, opts: ParseOptions): ParsedRecord | 'unknown' | 'not_json' {
  const first = text.trimStart().charCodeAt(0)
  if (first !== 0x7b /* { */ && first !== 0x5b /* [ */) return 'not_json'
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'not_json'
  }
  if (!isRecord(value)) return 'unknown'
  if (isGatewayJsonLine(value)) return parseGatewayJson(value, opts)
  if (isLlmLogLine(value)) return parseLlmLog(value, opts)
  if (isRailsRequestLine(value)) return parseRailsRequest(value, opts)
  return 'unknown'
}

export async function * readLogEvents (input: Readable, opts: ReadOptions, counts: ImportCounts): AsyncGenerator<LogEvent> {
  const assembler = new TextRecordAssembler()
  const outcomes: TextOutcome[] = []
  const ready: LogEvent[] = []
  // Events with no time of their own, no runtime prefix, and none before them in the file.
  const waiting: LogEvent[] = []
  let lastTime: string | null = null

  const keep = (parsed: ParsedRecord, raw: string, line: number, prefixTime: string | null): void => {
    if (parsed.kind === 'skip') {
      counts.skipped++
      return
    }
    const event: LogEvent = {
      fingerprint: createHash('sha256').update(parsed.source).update('\n').update(raw).digest('hex'),
      source: parsed.source,
      kind: parsed.kind,
      // The writer's time; else the runtime's prefix; else the event before it in the file (a
      // traceback, a litellm print, run.sh's echo carry none); else, at the file's start, the
      // first time that follows.
      time: parsed.time ?? isoTime(prefixTime) ?? lastTime ?? '',
      correlation_id: parsed.correlation_id,
      level: parsed.level,
      message: parsed.message,
      fields: parsed.fields,
      origin: { file: opts.file, line }
    }
    counts.events++
    counts.by_source[parsed.source] = (counts.by_source[parsed.source] ?? 0) + 1
    if (event.time === '') {
      if (waiting.length < MAX_WAITING) {
        waiting.push(event)
        return
      }
      event.time = EPOCH
    } else {
      lastTime = event.time
      for (const w of waiting.splice(0)) ready.push(dated(w, event.time))
    }
    ready.push(parsed.time === null ? dated(event, event.time) : event)
  }

  const drain = (): void => {
    for (const o of outcomes.splice(0)) {
      if ('unknown' in o) counts.unknown += o.unknown
      else if ('skipped' in o) counts.skipped += o.skipped
      else keep(parseTextRecord(o.record, opts), o.record.text, o.record.firstLine, o.record.prefixTime)
    }
  }

  for await (const physical of readPhysicalLines(input, LOG_LIMITS.lineBytes)) {
    counts.lines++
    if (physical.kind === 'too_long') {
      assembler.flush(outcomes)
      drain()
      counts.too_long++
    } else {
      const clean = cleanLine(physical.text)
      const parsed = parseJsonLine(clean.text, opts)
      if (parsed === 'not_json') {
        assembler.line({ text: clean.text, number: physical.number, prefixTime: clean.prefixTime }, outcomes)
        drain()
      } else {
        assembler.flush(outcomes)
        drain()
        if (parsed === 'unknown') counts.unknown++
        else keep(parsed, clean.text, physical.number, clean.prefixTime)
      }
    }
    yield * ready.splice(0)
  }
  assembler.flush(outcomes)
  drain()
  for (const w of waiting.splice(0)) ready.push(dated(w, EPOCH))
  yield * ready.splice(0)
}

/**
 * A record without a time of its own, given one. Such records (a litellm print, run.sh's echo)
 * repeat word for word each time they are written: the time they were given (the runtime
 * prefix, or the lines around them) goes into the fingerprint, so each occurrence stays one
 * event while importing the same file again still adds nothing.
 */
function dated (event: LogEvent, time: string): LogEvent {
  return { ...event, time, fingerprint: createHash('sha256').update(event.fingerprint).update('\n').update(time).digest('hex') }
}

/** Zeroed counts for one import. */
export function emptyImportCounts (): ImportCounts {
  return { lines: 0, events: 0, duplicates: 0, unknown: 0, too_long: 0, skipped: 0, by_source: {} }
}
