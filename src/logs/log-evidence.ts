/**
 * Log lines as evidence of a diagnosis: each names its writer, where it was read (file:line)
 * and when, with its message and the few fields that carry the failure — all already redacted
 * and bounded when the event was made, cut shorter here.
 */
import { ev } from '../diagnosis/codes.js'
import type { DiagnosisLine } from '../diagnosis/diagnosis.js'
import type { LogEvent } from './event.js'
import { type LogFacts, str, timeMs } from './log-facts.js'

/** The fields that say what went wrong, per kind of line. */
const TELLING: Readonly<Record<LogEvent['kind'], readonly string[]>> = {
  access: ['duration_s', 'first_chunk_duration_s', 'content_type', 'auth_error_details', 'http_exception_details', 'exception_class'],
  request: ['duration_s', 'exception.class', 'exception.message'],
  exception: ['exception_class', 'extra.model_name'],
  model_call: ['error_type', 'exception_class', 'timeout_suspected', 'attempt'],
  error_answer: ['duo_chat_error_code'],
  gateway_error: ['status', 'body', 'ai_response_server'],
  info: []
}

const MAX_TEXT = 400
const MAX_LINES = 8

function clip (text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text
}

/** uvicorn's and excepthook's own words, which name no exception. */
const GENERIC = /^(?:Exception in ASGI application|Uncaught exception)\s*$/
const ERRNO_OR_SSL = /^[\w.]{1,100}(?:Error|Exception): (?:\[SSL: |\[Errno )[^\n]{0,200}$/m

/** The traceback line that names the cause: a TLS or errno failure, else (when asked) its last line. */
function traceCause (trace: string, orLast: boolean): string | undefined {
  const specific = ERRNO_OR_SSL.exec(trace)?.[0]
  if (specific !== undefined || !orLast) return specific
  const last = trace.trimEnd().split('\n').at(-1)?.trim()
  return last === undefined || last === '' ? undefined : last
}

/** `<message> [k=v, …]`; a traceback's TLS or errno line when the message hides it. */
export function eventSummary (e: LogEvent): string {
  const parts: string[] = []
  for (const key of TELLING[e.kind]) {
    const v = e.fields[key]
    if (v !== undefined && v !== null && v !== '') parts.push(`${key}=${typeof v === 'string' ? clip(v, 120) : JSON.stringify(v)}`)
  }
  const trace = str(e, 'backtrace') ?? str(e, 'exception_backtrace') ?? str(e, 'exception')
  const cause = trace === undefined ? undefined : traceCause(trace, e.kind === 'exception' && GENERIC.test(e.message))
  const message = clip(e.message.replace(/\s+/g, ' ').trim(), 240)
  return clip(`${message}${parts.length > 0 ? ` [${parts.join(', ')}]` : ''}${cause === undefined || e.message.includes(cause) ? '' : ` ← ${cause}`}`, MAX_TEXT)
}

export function logLine (e: LogEvent): DiagnosisLine {
  const params = { file: e.origin.file, line: e.origin.line, time: e.time, text: eventSummary(e) }
  switch (e.source) {
    case 'gitlab_llm': return ev('log_line_gitlab_llm', params)
    case 'gitlab_request': return ev('log_line_gitlab_request', params)
    case 'gateway': return ev('log_line_gateway', params)
    case 'gateway_text': return ev('log_line_gateway_text', params)
  }
}

/** A model-call line that reports a failure (HEAD's `error: yes`, retries, warnings). */
function failedModelCall (e: LogEvent): boolean {
  return e.fields.error === 'yes' || e.fields.timeout_suspected === true || e.level === 'warn' || e.level === 'error'
}

/**
 * The lines a diagnosis rests on: the access line, Rails' error answers and gateway errors, the
 * gateway's distinct exceptions and failed model calls while the request was in flight.
 */
export function evidenceEvents (facts: LogFacts, access: LogEvent | null, scoped: readonly LogEvent[]): LogEvent[] {
  const picked: LogEvent[] = []
  const seen = new Set<string>()
  const add = (e: LogEvent): void => {
    const key = `${e.source}\n${e.kind}\n${e.message}`
    if (seen.has(key)) return
    seen.add(key)
    picked.push(e)
  }
  if (access !== null) add(access)
  for (const e of facts.gatewayErrors) add(e)
  for (const e of facts.errorAnswers) add(e)
  for (const e of scoped) if (e.kind === 'exception') add(e)
  for (const e of scoped) if (e.kind === 'model_call' && failedModelCall(e)) add(e)
  return picked.slice(0, MAX_LINES).sort((a, b) => timeMs(a) - timeMs(b))
}

/** `lines` after `existing`, without the ones already there (a second import adds nothing). */
export function appendNew (existing: readonly DiagnosisLine[], lines: readonly DiagnosisLine[]): DiagnosisLine[] {
  const has = (l: DiagnosisLine): boolean => existing.some((x) => x.code === l.code && x.text === l.text)
  return [...existing, ...lines.filter((l) => !has(l))]
}
