/**
 * What failed, as the logs of one request say it: Rails' transport error to the gateway, Rails'
 * read timeout, the model's error text the gateway passed on or logged, and a TLS failure only
 * a traceback names. Each comes with the event that says it (the evidence).
 *
 * Read in: gitlab-ee `ee/lib/gitlab/duo/chat/react_executor.rb` (#error_answer: the A1000…A9999
 * codes and the exception's message on the Answer line), AI gateway `ai_gateway/tracking/errors.py`
 * (log_exception: the `exceptions` lines) and `ai_gateway/api/middleware` (the access line's
 * exception_* fields); commits and the litellm texts in docs/log-formats.md §1.2, §3, §4.
 */
import type { LogEvent } from './event.js'
import { type LogFacts, str } from './log-facts.js'
import { isRailsReadTimeout, railsTransportFailure, type RailsTransportFailure } from './rails-failure.js'
import { tlsFailureInTraceback } from './tls-reason.js'

export interface Found<T> {
  value: T
  event: LogEvent
}

/** Rails could not reach the gateway (A9999 with Ruby's connection error, A1003's EOF). */
export function railsTransport (facts: LogFacts): Found<RailsTransportFailure> | null {
  for (const e of [...facts.errorAnswers, ...facts.gatewayErrors]) {
    // Duo Chat's answer quotes it as `message`; other features' "LLM completion error" as `error_message`.
    for (const text of [e.message, str(e, 'error_message')]) {
      const failure = text === undefined ? null : railsTransportFailure(text)
      if (failure !== null) return { value: failure, event: e }
    }
  }
  return null
}

/** Rails gave up waiting for the gateway's bytes (A1000, Net::ReadTimeout). */
export function railsReadTimeout (facts: LogFacts): LogEvent | null {
  return facts.errorAnswers.find((e) => isRailsReadTimeout(e.message, str(e, 'duo_chat_error_code'))) ?? null
}

// A1004/A1005 (AgentEventError): `message` is the gateway's error event, the litellm text (§1.2).
const MODEL_ERROR_CODES = new Set(['A1004', 'A1005'])

/** The last line of a traceback: the exception, as Python printed it. */
function exceptionLine (traceback: string | undefined): string | undefined {
  if (traceback === undefined) return undefined
  const lines = traceback.trimEnd().split('\n')
  const last = lines[lines.length - 1]?.trim()
  return last === undefined || last === '' || last.startsWith('File ') ? undefined : last
}

/**
 * The texts that name the model's failure, most direct first: Duo Chat's error event (A1004),
 * the access line's exception, the `exceptions` lines, the HEAD retry lines, OLD's
 * model_exception_message, a traceback's exception line. Never a traceback's frames: their
 * line numbers would read as statuses.
 */
export function modelFailureTexts (facts: LogFacts, scoped: readonly LogEvent[]): Array<Found<string>> {
  const out: Array<Found<string>> = []
  const add = (text: string | undefined, event: LogEvent): void => {
    if (text !== undefined && text.trim() !== '') out.push({ value: text, event })
  }
  for (const e of facts.errorAnswers) if (MODEL_ERROR_CODES.has(str(e, 'duo_chat_error_code') ?? '')) add(e.message, e)
  for (const e of scoped) {
    if (e.kind === 'access') {
      add(str(e, 'exception_message'), e)
      add(str(e, 'model_exception_message'), e)
    }
  }
  for (const e of scoped) {
    if (e.kind !== 'exception') continue
    add(str(e, 'exception_message'), e)
    if (str(e, 'logger') === 'exceptions') add(e.message, e)
    add(exceptionLine(str(e, 'exception') ?? str(e, 'backtrace')), e)
  }
  for (const e of scoped) if (e.kind === 'model_call') add(str(e, 'exception_message'), e)
  return out
}

/** A TLS failure to the model, which only a traceback names behind "Connection error." (§5). */
export function tlsInTracebacks (scoped: readonly LogEvent[]): Found<{ code: string, reason: string }> | null {
  for (const e of scoped) {
    for (const key of ['backtrace', 'exception_backtrace', 'exception']) {
      const text = str(e, key)
      const tls = text === undefined ? null : tlsFailureInTraceback(text)
      if (tls !== null) return { value: tls, event: e }
    }
  }
  return null
}
