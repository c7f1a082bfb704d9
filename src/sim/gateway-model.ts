/**
 * The AI gateway simulator's outgoing hop: the model call as litellm makes it for an
 * OpenAI-compatible server, through the OpenAI Python SDK (no X-Request-ID: the real gateway
 * loses it). Facts and their sources: /work/shared/GATEWAY-WIRE.md §3 and
 * - litellm/llms/openai/openai.py: AsyncOpenAI(base_url=api_base, max_retries=2) and
 *   chat.completions.with_raw_response.create(...); `stream` only on streaming calls;
 * - openai-python src/openai/_base_client.py: User-Agent `AsyncOpenAI/Python <v>`, the
 *   X-Stainless-* headers, retries on timeouts, connection errors, 408/409/429/>=500 with
 *   min(0.5·2^n, 8)·(1-0.25·rand) s waits;
 * - litellm exception_mapping_utils.py / exceptions.py: the text of the error the gateway
 *   passes on (`litellm.NotFoundError: NotFoundError: OpenAIException - …`).
 */
import { Agent, request } from 'undici'
import { FAULT_HEADER, sleep } from './fault-plan.js'
import { asNumber, asRecord, asString, isRecord, parseJson } from './json.js'
import { SseParser } from './sse.js'

/** The gateway's release line: 2024 (ai-assist, litellm 1.55.9) or 2025 (ai-gateway, litellm 1.88). */
export type GatewayVersion = '2024' | '2025'

export interface ModelTarget {
  /** api_base: the endpoint as configured in GitLab, nothing appended (it must end in /v1). */
  endpoint: string
  /** The `model` sent: the served name. */
  model: string
  /** Authorization: Bearer <apiKey>, a placeholder when none is configured. */
  apiKey: string
  /** litellm's provider: custom_openai and openai call /chat/completions, text-completion-openai /completions. */
  provider: string
}

export interface ChatMessage {
  role: string
  content: string
}

export interface TokenUsage {
  input_tokens: number
  output_tokens: number
}

/** How the model call failed, as litellm raises it. */
export type ModelFailure =
  | { kind: 'http', status: number, body: string }
  | { kind: 'timeout' }
  | { kind: 'connection', code: string }
  /** litellm refused before any HTTP (an unknown provider: `LLM Provider NOT provided`). */
  | { kind: 'provider', message: string }

export interface ModelCall {
  messages: ChatMessage[]
  /** Body parameters besides model, messages and stream (max_tokens, temperature, top_p, stop, n, stream_options). */
  params: Record<string, unknown>
  stream: boolean
  /** Sent to the model as x-sim-fault (from the gateway request's x-sim-model-fault). */
  fault?: string
  /** Aborts the call, e.g. when the gateway's own client went away. */
  signal: AbortSignal
}

export type ModelResult =
  | { ok: true, pieces: AsyncIterable<Piece> | Iterable<Piece>, usage: () => TokenUsage | undefined }
  | { ok: false, failure: ModelFailure }

/** A piece of the answer, with the model's finish reason on the last one. */
export interface Piece {
  text: string
  finishReason?: string
}

export interface ModelClientOptions {
  version: GatewayVersion
  /** litellm's timeout: httpx's per-read timeout, 30 s for chat and code (ms). */
  timeoutMs: number
  /** The OpenAI SDK's max_retries inside litellm (2). */
  sdkRetries: number
  /** Multiplies every retry wait (tests shorten them; 1 = the real waits). */
  waitScale: number
  /** Extra CA (PEM) to trust when the model endpoint is https. */
  ca?: string
}

/** openai-python's version per gateway line (poetry.lock): 1.57.0 and 2.54.0. */
const SDK_VERSION: Record<GatewayVersion, string> = { 2024: '1.57.0', 2025: '2.54.0' }
const PYTHON_VERSION: Record<GatewayVersion, string> = { 2024: '3.11.11', 2025: '3.12.13' }

export class ModelClient {
  private readonly agent: Agent

  constructor (readonly opts: ModelClientOptions) {
    this.agent = new Agent(opts.ca === undefined ? {} : { connect: { ca: opts.ca } })
  }

  close (): Promise<void> {
    return this.agent.destroy()
  }

  /**
   * One litellm call: up to 1 + sdkRetries HTTP attempts (the SDK's own retries). Failures
   * before the answer starts are returned; a failure while streaming is thrown from `pieces`.
   */
  async call (target: ModelTarget, call: ModelCall): Promise<ModelResult> {
    let last: ModelFailure = { kind: 'connection', code: 'UNKNOWN' }
    for (let attempt = 0; attempt <= this.opts.sdkRetries; attempt++) {
      if (attempt > 0) {
        const wait = Math.min(0.5 * 2 ** (attempt - 1), 8) * (1 - 0.25 * Math.random())
        await sleep(wait * 1000 * this.opts.waitScale, call.signal)
      }
      const result = await this.attempt(target, call, attempt)
      if (result.ok || !sdkRetries(result.failure) || call.signal.aborted) return result
      last = result.failure
    }
    return { ok: false, failure: last }
  }

  private async attempt (target: ModelTarget, call: ModelCall, attempt: number): Promise<ModelResult> {
    const { version } = this.opts
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/json',
      'user-agent': `AsyncOpenAI/Python ${SDK_VERSION[version]}`,
      'x-stainless-lang': 'python',
      'x-stainless-package-version': SDK_VERSION[version],
      'x-stainless-os': 'Linux',
      'x-stainless-arch': 'x64',
      'x-stainless-runtime': 'CPython',
      'x-stainless-runtime-version': PYTHON_VERSION[version],
      'x-stainless-async': 'async:asyncio',
      'x-stainless-raw-response': 'true',
      'x-stainless-retry-count': String(attempt),
      authorization: `Bearer ${target.apiKey}`
    }
    if (version === '2025') headers['x-stainless-read-timeout'] = (this.opts.timeoutMs / 1000).toFixed(1)
    if (call.fault !== undefined) headers[FAULT_HEADER] = call.fault
    const text = target.provider === 'text-completion-openai'
    const body: Record<string, unknown> = text
      ? { model: target.model, prompt: call.messages.map((m) => m.content).join('\n'), ...call.params }
      : { model: target.model, messages: call.messages, ...call.params }
    // litellm pops `stream` and sets it only on streaming calls.
    if (call.stream) body.stream = true
    else delete body.stream_options

    let response: Awaited<ReturnType<typeof request>>
    try {
      // The SDK appends the path to base_url (api_base), which must already end in /v1.
      response = await request(`${target.endpoint.replace(/\/+$/, '')}/${text ? 'completions' : 'chat/completions'}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        dispatcher: this.agent,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        signal: call.signal
      })
    } catch (err) {
      return { ok: false, failure: describeError(err) }
    }

    if (response.statusCode < 200 || response.statusCode >= 300) {
      const text = await response.body.text().catch(() => '')
      return { ok: false, failure: { kind: 'http', status: response.statusCode, body: text } }
    }
    if (call.stream) return streamPieces(response.body, text)

    let raw: string
    try {
      raw = await response.body.text()
    } catch (err) {
      return { ok: false, failure: describeError(err) }
    }
    const parsed = parseJson(raw)
    const answer = parsed.ok && isRecord(parsed.value) ? parsed.value : undefined
    const choice = Array.isArray(answer?.choices) ? asRecord(answer.choices[0]) : undefined
    const content = text ? asString(choice?.text) : asString(asRecord(choice?.message)?.content)
    if (content === undefined) return { ok: false, failure: { kind: 'http', status: 500, body: 'model answer has no choices[0] content' } }
    const usage = readUsage(answer?.usage)
    return { ok: true, pieces: [{ text: content, finishReason: asString(choice?.finish_reason) }], usage: () => usage }
  }
}

/** openai-python _base_client.py _should_retry: timeouts, connection errors, 408, 409, 429, >= 500. */
function sdkRetries (failure: ModelFailure): boolean {
  if (failure.kind === 'timeout' || failure.kind === 'connection') return true
  if (failure.kind === 'http') return failure.status === 408 || failure.status === 409 || failure.status === 429 || failure.status >= 500
  return false
}

/**
 * Each SSE chunk's delta (or text) until [DONE]; the rest of the body is still read to its end,
 * as openai-python's Stream does (src/openai/_streaming.py: "Ensure the entire stream is consumed").
 */
function streamPieces (body: AsyncIterable<Buffer>, text: boolean): ModelResult {
  let usage: TokenUsage | undefined
  async function * pieces (): AsyncGenerator<Piece> {
    const parser = new SseParser()
    let done = false
    for await (const chunk of body) {
      if (done) continue
      for (const event of parser.push(chunk.toString())) {
        if (event.data === '[DONE]') {
          done = true
          break
        }
        const parsed = parseJson(event.data)
        if (!parsed.ok || !isRecord(parsed.value)) continue
        usage = readUsage(parsed.value.usage) ?? usage
        const choice = asRecord(Array.isArray(parsed.value.choices) ? parsed.value.choices[0] : undefined)
        const content = text ? asString(choice?.text) : asString(asRecord(choice?.delta)?.content)
        const finishReason = asString(choice?.finish_reason)
        if (content || finishReason !== undefined) yield { text: content ?? '', finishReason }
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
  const e = err as { code?: unknown }
  const code = typeof e.code === 'string' ? e.code : 'UNKNOWN'
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'timeout' }
  return { kind: 'connection', code }
}

/**
 * str(exception) of the litellm error for a failure: what the chat `error` event carries and
 * the gateway logs (litellm exceptions.py: `litellm.<Class>: <Class>: <Provider>Exception - <msg>`;
 * the provider is `OpenAIException` for openai, else `<Provider>Exception`).
 */
export function litellmMessage (failure: ModelFailure, version: GatewayVersion, provider: string): string {
  const exception = provider === 'openai' ? 'OpenAIException' : `${provider.charAt(0).toUpperCase()}${provider.slice(1)}Exception`
  switch (failure.kind) {
    case 'provider': return `litellm.BadRequestError: ${failure.message}`
    case 'timeout': return 'litellm.Timeout: APITimeoutError - Request timed out. Error_str: Request timed out.'
    case 'connection': return version === '2024'
      ? `litellm.APIError: APIError: ${exception} - Connection error.`
      : `litellm.InternalServerError: InternalServerError: ${exception} - Connection error.`
  }
  const cls = litellmClass(failure.status, version)
  return `litellm.${cls}: ${cls}: ${exception} - ${sdkMessage(failure.status, failure.body, version)}`
}

/** litellm's exception class for a model status (exception_mapping_utils.py). */
export function litellmClass (status: number, version: GatewayVersion): string {
  if (status === 400 || status === 422) return 'BadRequestError'
  if (status === 401) return 'AuthenticationError'
  if (status === 403) return 'PermissionDeniedError'
  if (status === 404) return 'NotFoundError'
  if (status === 408 || status === 504) return 'Timeout'
  if (status === 429) return 'RateLimitError'
  if (status === 503) return 'ServiceUnavailableError'
  if (status === 500) return version === '2024' ? 'APIError' : 'InternalServerError'
  if (status === 502) return version === '2024' ? 'APIError' : 'BadGatewayError'
  return 'APIError'
}

/**
 * The OpenAI SDK's message: `Error code: 404 - {'detail': 'Not Found'}` (a Python repr of a JSON
 * body) or the text; the 2025 litellm prefers the body's `message` (or `error.message`).
 */
function sdkMessage (status: number, body: string, version: GatewayVersion): string {
  const parsed = parseJson(body)
  if (!parsed.ok) return body === '' ? `Error code: ${status}` : body
  if (version === '2025' && isRecord(parsed.value)) {
    const message = asString(parsed.value.message) ?? asString(asRecord(parsed.value.error)?.message)
    if (message !== undefined) return message
  }
  return `Error code: ${status} - ${pyRepr(parsed.value)}`
}

/** Python's repr of parsed JSON: single quotes, None/True/False. */
function pyRepr (v: unknown): string {
  if (v === null) return 'None'
  if (v === true) return 'True'
  if (v === false) return 'False'
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  if (typeof v === 'number') return String(v)
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`
  if (isRecord(v)) return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`
  return String(v)
}
