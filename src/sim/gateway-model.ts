/**
 * The AI gateway simulator's outgoing hop: an OpenAI-compatible chat call to the model
 * endpoint, the way litellm makes it (no X-Request-ID: the real gateway loses it).
 */
import { Agent, request } from 'undici'
import { FAULT_HEADER } from './fault-plan.js'
import { asNumber, asRecord, asString, isRecord, parseJson } from './json.js'
import { SseParser } from './sse.js'

export interface ModelTarget {
  /** Base URL as configured in GitLab, normally ending in /v1. */
  endpoint: string
  model: string
  apiKey?: string
}

export interface ChatMessage {
  role: string
  content: string
}

export interface TokenUsage {
  input_tokens: number
  output_tokens: number
}

export type ModelFailure =
  | { kind: 'http', status: number, body: string }
  | { kind: 'timeout', message: string }
  | { kind: 'network', code: string, message: string }
  | { kind: 'invalid', message: string }

export interface ModelCall {
  messages: ChatMessage[]
  maxTokens: number
  temperature: number
  stream: boolean
  /** Sent to the model as x-sim-fault (from the gateway request's x-sim-model-fault). */
  fault?: string
  /** Aborts the call, e.g. when the gateway's own client went away. */
  signal: AbortSignal
}

export type ModelResult =
  | { ok: true, pieces: AsyncIterable<string> | Iterable<string>, usage: () => TokenUsage | undefined }
  | { ok: false, failure: ModelFailure }

/** The litellm/OpenAI python client identifies itself like this. */
const USER_AGENT = 'AsyncOpenAI/Python 1.99.1'

export class ModelClient {
  private readonly agent: Agent

  constructor (private readonly timeoutMs: number, ca?: string) {
    this.agent = new Agent(ca === undefined ? {} : { connect: { ca } })
  }

  close (): Promise<void> {
    return this.agent.destroy()
  }

  /**
   * Call `${endpoint}/chat/completions`. Failures before the answer starts are returned;
   * a failure while streaming surfaces as an error thrown from `pieces`.
   */
  async call (target: ModelTarget, call: ModelCall): Promise<ModelResult> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: call.stream ? 'text/event-stream' : 'application/json',
      'user-agent': USER_AGENT
    }
    if (target.apiKey !== undefined) headers.authorization = `Bearer ${target.apiKey}`
    if (call.fault !== undefined) headers[FAULT_HEADER] = call.fault
    const body: Record<string, unknown> = {
      model: target.model,
      messages: call.messages,
      max_tokens: call.maxTokens,
      stream: call.stream,
      temperature: call.temperature
    }
    if (call.stream) body.stream_options = { include_usage: true }

    let response: Awaited<ReturnType<typeof request>>
    try {
      response = await request(`${target.endpoint.replace(/\/+$/, '')}/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: call.signal
      })
    } catch (err) {
      return { ok: false, failure: describeError(err) }
    }

    if (response.statusCode < 200 || response.statusCode >= 300) {
      const text = await response.body.text().catch(() => '')
      return { ok: false, failure: { kind: 'http', status: response.statusCode, body: text } }
    }
    if (call.stream) return streamPieces(response.body)

    let text: string
    try {
      text = await response.body.text()
    } catch (err) {
      return { ok: false, failure: describeError(err) }
    }
    const parsed = parseJson(text)
    const message = parsed.ok && isRecord(parsed.value) && Array.isArray(parsed.value.choices)
      ? asRecord(asRecord(parsed.value.choices[0])?.message)
      : undefined
    const content = asString(message?.content)
    if (!parsed.ok || content === undefined) {
      return { ok: false, failure: { kind: 'invalid', message: 'model answer has no choices[0].message.content' } }
    }
    const usage = readUsage(isRecord(parsed.value) ? parsed.value.usage : undefined)
    return { ok: true, pieces: [content], usage: () => usage }
  }
}

/** Relay the `delta.content` of each SSE chunk; stops at [DONE] (or when the body ends). */
function streamPieces (body: AsyncIterable<Buffer>): ModelResult {
  let usage: TokenUsage | undefined
  async function * pieces (): AsyncGenerator<string> {
    const parser = new SseParser()
    for await (const chunk of body) {
      for (const event of parser.push(chunk.toString())) {
        if (event.data === '[DONE]') return
        const parsed = parseJson(event.data)
        if (!parsed.ok || !isRecord(parsed.value)) continue
        usage = readUsage(parsed.value.usage) ?? usage
        const choices = Array.isArray(parsed.value.choices) ? parsed.value.choices : []
        const content = asString(asRecord(asRecord(choices[0])?.delta)?.content)
        if (content) yield content
      }
    }
  }
  return { ok: true, pieces: pieces(), usage: () => usage }
}

function readUsage (value: unknown): TokenUsage | undefined {
  const usage = asRecord(value)
  const input = asNumber(usage?.prompt_tokens)
  const output = asNumber(usage?.completion_tokens)
  return input === undefined || output === undefined ? undefined : { input_tokens: input, output_tokens: output }
}

export function describeError (err: unknown): ModelFailure {
  const e = err as { code?: unknown, message?: unknown }
  const code = typeof e.code === 'string' ? e.code : 'UNKNOWN'
  const message = typeof e.message === 'string' ? e.message : String(err)
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { kind: 'timeout', message }
  }
  return { kind: 'network', code, message }
}

/** One line for logs and NDJSON error events, e.g. "model returned HTTP 404". */
export function failureMessage (failure: ModelFailure): string {
  switch (failure.kind) {
    case 'http': return `model returned HTTP ${failure.status}`
    case 'timeout': return `model request timed out: ${failure.message}`
    case 'network': return `model connection failed (${failure.code}): ${failure.message}`
    case 'invalid': return `model answer invalid: ${failure.message}`
  }
}
