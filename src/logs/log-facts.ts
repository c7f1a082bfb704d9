/**
 * The events of one correlation id, sorted by what they say: the gateway's access line(s), its
 * exceptions and model-call lines, Rails' error answers and gateway errors, and the model
 * settings any of them names. Diagnosis reads these, never the raw lines.
 */
import type { Json } from '../capture/redact.js'
import type { LogEvent } from './event.js'

export interface LogFacts {
  /** Non-probe access lines, oldest first. */
  access: LogEvent[]
  exceptions: LogEvent[]
  modelCalls: LogEvent[]
  /** llm.log: Duo Chat's error answers (duo_chat_error_code). */
  errorAnswers: LogEvent[]
  /** llm.log: "Failed to request to v2/chat/agent", "Error response from AI Gateway". */
  gatewayErrors: LogEvent[]
  /** llm.log lines of the classes that call the gateway. */
  gatewayCalls: LogEvent[]
  /** Every event, oldest first. */
  all: LogEvent[]
  model: { endpoint?: string, identifier?: string, name?: string, provider?: string }
}

// ee/lib/gitlab/duo/chat/step_executor.rb, ee/lib/gitlab/llm/ai_gateway/client.rb,
// ee/lib/gitlab/llm/chain/requests/ai_gateway.rb: the callers of the gateway.
const GATEWAY_CALLERS = new Set(['Gitlab::Duo::Chat::StepExecutor', 'Gitlab::Llm::AiGateway::Client', 'Gitlab::Llm::Chain::Requests::AiGateway'])

export function str (e: LogEvent, key: string): string | undefined {
  const v: Json | undefined = e.fields[key]
  return typeof v === 'string' ? v : undefined
}

export function num (e: LogEvent, key: string): number | undefined {
  const v: Json | undefined = e.fields[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

export function timeMs (e: LogEvent): number {
  const t = Date.parse(e.time)
  return Number.isFinite(t) ? t : 0
}

export function gatherFacts (events: readonly LogEvent[]): LogFacts {
  const all = [...events].sort((a, b) => timeMs(a) - timeMs(b))
  const facts: LogFacts = { access: [], exceptions: [], modelCalls: [], errorAnswers: [], gatewayErrors: [], gatewayCalls: [], all, model: {} }
  for (const e of all) {
    switch (e.kind) {
      case 'access': facts.access.push(e); break
      case 'exception': facts.exceptions.push(e); break
      case 'model_call': facts.modelCalls.push(e); break
      case 'error_answer': facts.errorAnswers.push(e); break
      case 'gateway_error': facts.gatewayErrors.push(e); break
    }
    if (e.source === 'gitlab_llm' && GATEWAY_CALLERS.has(str(e, 'class') ?? '')) facts.gatewayCalls.push(e)
    facts.model.endpoint ??= str(e, 'model_metadata.endpoint') ?? (e.source.startsWith('gateway') ? str(e, 'endpoint') : undefined)
    facts.model.identifier ??= str(e, 'model_metadata.identifier') ?? str(e, 'model_identifier')
    facts.model.name ??= str(e, 'model_metadata.name')
    facts.model.provider ??= str(e, 'model_metadata.provider')
  }
  return facts
}

/** Rails called the gateway for this id, or the gateway logged a request: an exchange happened. */
export function touchesGateway (facts: LogFacts): boolean {
  return facts.access.length > 0 || facts.gatewayCalls.length > 0 || facts.errorAnswers.length > 0 || facts.gatewayErrors.length > 0
}

/** A failed access line: an error status or an exception that escaped the app. */
export function accessFailed (e: LogEvent): boolean {
  return (num(e, 'status_code') ?? 0) >= 400 || str(e, 'exception_class') !== undefined
}

/**
 * The access line an exchange stands for: the one nearest `at` on `path` when given (a captured
 * exchange), else the first that failed, else the last (Duo Chat's ReAct turns share one id).
 */
export function pickAccess (facts: LogFacts, path?: string, at?: number): LogEvent | null {
  if (facts.access.length === 0) return null
  if (path !== undefined && at !== undefined) {
    const same = facts.access.filter((e) => (str(e, 'path') ?? '').split('?')[0] === path)
    const pool = same.length > 0 ? same : facts.access
    return pool.reduce((best, e) => Math.abs(arrivedMs(e) - at) < Math.abs(arrivedMs(best) - at) ? e : best)
  }
  return facts.access.find(accessFailed) ?? facts.access[facts.access.length - 1]!
}

/** When the gateway got the request: `request_arrived_at`, else the line's time less its duration. */
export function arrivedMs (e: LogEvent): number {
  const arrived = Date.parse(str(e, 'request_arrived_at') ?? '')
  if (Number.isFinite(arrived)) return arrived
  return timeMs(e) - (num(e, 'duration_s') ?? 0) * 1000
}

/**
 * The events that belong to one access line when several share the id: those logged while it
 * was in flight (a second of slack each side). With one access line, all of them.
 */
export function inFlight (facts: LogFacts, access: LogEvent | null, events: readonly LogEvent[]): LogEvent[] {
  if (access === null || facts.access.length < 2) return [...events]
  const from = arrivedMs(access) - 1000
  const to = timeMs(access) + 1000
  return events.filter((e) => timeMs(e) >= from && timeMs(e) <= to)
}
