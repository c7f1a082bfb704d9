/**
 * Reads what a finished stream said at its end, from the tail the data plane kept: usage,
 * finish reason, whether the final event arrived, and error events. Runs after forwarding.
 */
export interface StreamFacts {
  kind: 'sse' | 'ndjson' | 'raw'
  /** The stream's own end arrived ([DONE], a finish_reason, stream_end, NDJSON usage, an error event). */
  complete: boolean | null
  finishReason: string | null
  usage: Record<string, number> | null
  /** First error event, as text (already short). */
  error: string | null
  /** OpenAI chunks' `model` and `id` (the same on every chunk of a stream). */
  responseModel?: string
  responseId?: string
}

/** Lines of the tail; the first is dropped when the tail starts mid-body (it may be partial). */
function lines (tail: string, fromStart: boolean): string[] {
  const all = tail.split(/\r?\n/)
  return fromStart ? all : all.slice(1)
}

function tryJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function numbers (value: unknown): Record<string, number> | null {
  if (typeof value !== 'object' || value === null) return null
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(value)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v
  return Object.keys(out).length > 0 ? out : null
}

function errorText (value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > 500 ? text.slice(0, 500) + '…' : text
}

export function readSse (tail: string, fromStart: boolean): StreamFacts {
  const facts: StreamFacts = { kind: 'sse', complete: false, finishReason: null, usage: null, error: null }
  let event = ''
  let sawData = false
  for (const line of lines(tail, fromStart)) {
    if (line.startsWith('event:')) {
      event = line.slice(6).trim()
      // The gateway's /v4/code/suggestions framing.
      if (event === 'stream_end') facts.complete = true
      if (event === 'error' && facts.error === null) facts.error = 'error event'
      continue
    }
    if (!line.startsWith('data:')) continue
    sawData = true
    const data = line.slice(5).trim()
    if (data === '[DONE]') {
      facts.complete = true
      continue
    }
    const chunk = tryJson(data) as { choices?: Array<{ finish_reason?: unknown }>, usage?: unknown, error?: unknown, model?: unknown, id?: unknown } | undefined
    if (chunk === undefined || chunk === null || typeof chunk !== 'object') continue
    if (typeof chunk.model === 'string') facts.responseModel ??= chunk.model
    if (typeof chunk.id === 'string') facts.responseId ??= chunk.id
    if (chunk.error !== undefined && facts.error === null) facts.error = errorText(chunk.error)
    if (event === 'error' && facts.error === 'error event') facts.error = errorText(chunk)
    const usage = numbers(chunk.usage)
    if (usage !== null) facts.usage = usage
    for (const choice of Array.isArray(chunk.choices) ? chunk.choices : []) {
      if (typeof choice?.finish_reason === 'string') facts.finishReason = choice.finish_reason
    }
  }
  // The gateway's /v2 code streams are text/event-stream without any `data:` framing.
  if (!sawData && facts.complete === false && facts.error === null) return { ...facts, kind: 'raw', complete: null }
  if (facts.finishReason !== null || facts.error !== null) facts.complete = true
  return facts
}

/**
 * The gateway's chat stream (`/v2/chat/agent`): lines `{"type": "action"|"final_answer_delta"|
 * "unknown"|"error", "data": {...}}`, and in the 2025 gateway a last `usage` line when there was
 * usage and no error (ai_gateway/chat/agents/typing.py, api/v2/chat/agent.py). There is no end
 * marker: a clean end of the chunked body is the stream's end, so completeness is unknowable
 * (null) here; a cut connection shows as a transport failure instead.
 */
export function readNdjson (tail: string, fromStart: boolean): StreamFacts {
  const facts: StreamFacts = { kind: 'ndjson', complete: null, finishReason: null, usage: null, error: null }
  for (const line of lines(tail, fromStart)) {
    if (line.trim() === '') continue
    const event = tryJson(line) as { type?: unknown, data?: unknown } | undefined
    if (event === undefined || event === null || typeof event !== 'object') continue
    if (event.type === 'usage') {
      facts.usage = ndjsonUsage(event.data)
      facts.complete = true
    } else if (event.type === 'final_answer_delta') {
      // 2025: data.finish_reason (null, or e.g. guardrail_intervened).
      const reason = (event.data as { finish_reason?: unknown } | null)?.finish_reason
      if (typeof reason === 'string') facts.finishReason = reason
    } else if (event.type === 'error' && facts.error === null) {
      // ai_gateway/chat/agents/react.py yields AgentError{message, retryable}, then re-raises.
      const data = event.data as { message?: unknown } | null
      facts.error = errorText(typeof data?.message === 'string' ? data.message : (event.data ?? event))
    }
  }
  return facts
}

/** `{"usage": {"<model>": {"input_tokens": N, "output_tokens": M}}}`, summed over models. */
function ndjsonUsage (data: unknown): Record<string, number> | null {
  const byModel = (data as { usage?: unknown } | null)?.usage
  if (typeof byModel !== 'object' || byModel === null) return numbers(data)
  const total: Record<string, number> = {}
  for (const counts of Object.values(byModel)) {
    for (const [k, v] of Object.entries(numbers(counts) ?? {})) total[k] = (total[k] ?? 0) + v
  }
  return Object.keys(total).length > 0 ? total : null
}
