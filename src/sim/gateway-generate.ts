/**
 * How the AI gateway simulator's feature endpoints get their answer and fail: which model is
 * called with what (the served-name rule, api_base, the key placeholder), the gateway's own
 * retries, and the failure shapes that reach GitLab (GATEWAY-WIRE.md §3-4, read in
 * ai_gateway/api/server.py, api/v2/code/completions.py, models/litellm.py, models/base.py,
 * model_metadata.py, prompts/base.py, vendor/langchain_litellm/litellm.py).
 */
import { STATUS_CODES, type ServerResponse } from 'node:http'
import { sleep } from './fault-plan.js'
import type { FaultyWriter } from './faulty-writer.js'
import { type ChatMessage, type GatewayVersion, type ModelCall, type ModelClient, type ModelFailure, type ModelResult, type ModelTarget, type Piece, type TokenUsage } from './gateway-model.js'
import { asNonEmptyString, type JsonRecord } from './json.js'
import type { SimContext } from './sim-server.js'

export interface GatewayEnv {
  version: GatewayVersion
  client: ModelClient
  /** Model endpoint used when a request names none (the simulator's stand-in default model). */
  modelEndpoint?: string
  modelName: string
  /** Canned answer when no model endpoint is known (the GitLab-managed default model). */
  completion: string[]
  /** Multiplies the gateway's retry waits (tests shorten them). */
  waitScale: number
}

export interface RouteContext {
  sim: SimContext
  writer: FaultyWriter
  body: JsonRecord
  /** Regex captures of the route pattern. */
  params: string[]
  env: GatewayEnv
  /** x-sim-model-fault of the incoming request, sent on as the model call's x-sim-fault. */
  modelFault?: string
  /** The caller's verified token claims, when the gateway authenticates. */
  claims?: Record<string, unknown>
}

/** The self-hosted model as a request names it: flat model_* fields, or model_metadata. */
export interface ModelChoice {
  endpoint?: string
  name?: string
  apiKey?: string
  identifier?: string
  /** model_metadata.provider (GitLab sends `openai`). */
  provider?: string
}

export function flatModel (body: JsonRecord): ModelChoice {
  return {
    endpoint: asNonEmptyString(body.model_endpoint),
    name: asNonEmptyString(body.model_name),
    apiKey: asNonEmptyString(body.model_api_key),
    identifier: asNonEmptyString(body.model_identifier)
  }
}

export function metadataModel (meta: JsonRecord | undefined): ModelChoice | undefined {
  if (meta === undefined) return undefined
  return {
    endpoint: asNonEmptyString(meta.endpoint),
    name: asNonEmptyString(meta.name),
    apiKey: asNonEmptyString(meta.api_key),
    identifier: asNonEmptyString(meta.identifier),
    provider: asNonEmptyString(meta.provider)
  }
}

/**
 * The two ways the gateway calls litellm:
 * - `legacy`: models/litellm.py LiteLlmChatModel (generations without prompt_id): model
 *   `custom_openai/<model_name>`, the identifier ignored, key `stubbed-api-key` when none;
 * - `registry`: the prompt registry's ChatLiteLLM (completions, chat, prompts): the provider and
 *   model from the identifier (`p/m` → provider p, model m; no slash → custom_openai), else
 *   2024: model_metadata.provider (or `text-completion-openai` for code completions) with the
 *   family name, 2025: no provider, which litellm cannot resolve for a self-hosted family.
 */
export type CallPath = 'legacy' | 'registry-completion' | 'registry'

export type Resolved = { ok: true, target: ModelTarget } | { ok: false, failure: ModelFailure } | { ok: true, target: undefined }

export function resolveTarget (env: GatewayEnv, choice: ModelChoice | undefined, path: CallPath): Resolved {
  if (choice?.endpoint === undefined) {
    // No self-hosted endpoint in the request: the gateway's default model. The simulator's
    // stand-in for it is modelEndpoint (an OpenAI-compatible server serving modelName), or
    // a canned answer.
    if (env.modelEndpoint === undefined) return { ok: true, target: undefined }
    return { ok: true, target: { endpoint: env.modelEndpoint, model: env.modelName, apiKey: 'dummy_key', provider: 'custom_openai' } }
  }
  const endpoint = choice.endpoint
  const name = choice.name ?? env.modelName
  const key = choice?.apiKey
  if (path === 'legacy') {
    return { ok: true, target: { endpoint, model: name, apiKey: key ?? 'stubbed-api-key', provider: 'custom_openai' } }
  }
  const identifier = choice?.identifier
  if (identifier !== undefined) {
    const slash = identifier.indexOf('/')
    const provider = slash < 0 ? 'custom_openai' : identifier.slice(0, slash)
    const model = slash < 0 ? identifier : identifier.slice(slash + 1)
    // prompts/base.py (2024): str(api_key) → "None"; model_metadata.py (2025): "dummy_key" for custom_openai.
    return { ok: true, target: { endpoint, model, apiKey: key ?? (env.version === '2024' ? 'None' : 'dummy_key'), provider } }
  }
  if (env.version === '2025') {
    // model_metadata.py to_params sets no custom_llm_provider without an identifier; litellm's
    // get_llm_provider cannot place a bare family name (litellm_core_utils/get_llm_provider_logic.py).
    return { ok: false, failure: { kind: 'provider', message: `GetLLMProvider Exception - LLM Provider NOT provided. Pass in the LLM provider you are trying to call. You passed model=${name}` } }
  }
  const provider = path === 'registry-completion' ? 'text-completion-openai' : choice?.provider ?? 'custom_openai'
  return { ok: true, target: { endpoint, model: name, apiKey: key ?? 'None', provider } }
}

export interface Attempts {
  /** ChatLiteLLM's tenacity attempts (2025: max_retries + 1 = 2; 2024: 1), 4 s apart. */
  inner: number
  /** Prompt.ainvoke's outer retry (2025, non-stream: 4 attempts, 3/9/27 s). */
  outer: number
}

/**
 * vendor/langchain_litellm/litellm.py _create_retry_decorator (2025 only: 2024 makes one
 * attempt): litellm.Timeout, APIError, APIConnectionError, RateLimitError. In litellm 1.88 a
 * refused connection and a 500 are InternalServerError, which is none of them.
 */
function innerRetries (f: ModelFailure): boolean {
  return f.kind === 'timeout' || (f.kind === 'http' && (f.status === 429 || f.status === 408 || f.status === 504))
}

/** prompts/base.py _ainvoke_with_retry: InternalServerError, ServiceUnavailableError, httpx connect/read errors. */
function outerRetries (f: ModelFailure): boolean {
  return f.kind === 'connection' || (f.kind === 'http' && (f.status === 500 || f.status === 503))
}

export function registryAttempts (env: GatewayEnv, stream: boolean): Attempts {
  return env.version === '2025' ? { inner: 2, outer: stream ? 1 : 4 } : { inner: 1, outer: 1 }
}

/** The model call with the gateway's own retry layers around litellm's. */
export async function generate (rc: RouteContext, resolved: Resolved, messages: ChatMessage[], params: Record<string, unknown>, stream: boolean, attempts: Attempts): Promise<ModelResult> {
  if (!resolved.ok) return resolved
  const target = resolved.target
  if (target === undefined) {
    const pieces = rc.env.completion.map((text, i, all): Piece => ({ text, finishReason: i === all.length - 1 ? 'stop' : undefined }))
    const usage: TokenUsage = { input_tokens: messages.reduce((n, m) => n + m.content.split(/\s+/).filter(Boolean).length, 0), output_tokens: pieces.length }
    return { ok: true, pieces, usage: () => usage }
  }
  const call: ModelCall = { messages, params, stream, fault: rc.modelFault, signal: rc.sim.signal }
  let result: ModelResult = { ok: false, failure: { kind: 'connection', code: 'UNKNOWN' } }
  const outerWaits = [3, 9, 27]
  for (let outer = 0; outer < attempts.outer; outer++) {
    if (outer > 0) await sleep((outerWaits[outer - 1] ?? 27) * 1000 * rc.env.waitScale, rc.sim.signal)
    for (let inner = 0; inner < attempts.inner; inner++) {
      if (inner > 0) await sleep(4000 * rc.env.waitScale, rc.sim.signal)
      result = await rc.env.client.call(target, call)
      if (result.ok || !innerRetries(result.failure) || rc.sim.signal.aborted) break
    }
    if (result.ok || !outerRetries(result.failure) || rc.sim.signal.aborted) break
  }
  return result
}

export type RelayEnd = 'ended' | 'stopped' | 'failed'

/** Write each piece rendered; 'stopped' = client gone or fault reset, 'failed' = model stream broke. */
export async function relay (
  writer: FaultyWriter,
  pieces: AsyncIterable<Piece> | Iterable<Piece>,
  render: (piece: Piece) => string | null,
  stopAfterFirst = false
): Promise<{ end: RelayEnd, error?: unknown }> {
  try {
    for await (const piece of pieces) {
      const text = render(piece)
      if (text === null) continue
      if (!(await writer.write(text))) return { end: 'stopped' }
      if (stopAfterFirst) return { end: 'ended' }
    }
    return { end: 'ended' }
  } catch (error) {
    return { end: 'failed', error }
  }
}

/** The whole answer, or the error that broke the model stream. */
export async function collectText (pieces: AsyncIterable<Piece> | Iterable<Piece>): Promise<{ ok: true, text: string, finishReason?: string } | { ok: false, error: unknown }> {
  let text = ''
  let finishReason: string | undefined
  try {
    for await (const piece of pieces) {
      text += piece.text
      finishReason = piece.finishReason ?? finishReason
    }
    return { ok: true, text, finishReason }
  } catch (error) {
    return { ok: false, error }
  }
}

/** Responses sent by Starlette's outermost middleware: the gateway's own headers are not added. */
export const outsideMiddleware = new WeakSet<ServerResponse>()

/**
 * Starlette's ServerErrorMiddleware answer to an exception no handler maps (ai_gateway/api/
 * server.py maps only ModelAPIError): 500 text/plain "Internal Server Error", sent outside the
 * correlation-id and access-log middlewares (so no X-Request-ID, no X-Process-Time), after which
 * uvicorn closes the connection.
 */
export function internalServerError (res: ServerResponse): void {
  outsideMiddleware.add(res)
  for (const name of res.getHeaderNames()) if (name !== 'server') res.removeHeader(name)
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '21', connection: 'close' })
  res.end('Internal Server Error')
}

/** A streamed response whose generator raised: headers sent, no terminating chunk (uvicorn closes). */
export function dropStream (res: ServerResponse): void {
  res.socket?.destroy()
  res.destroy()
}

/** prompts invoke: any error with a status → 421 "<code>: <phrase>" (api/v1/prompts/invoke.py). */
export function failureStatus (f: ModelFailure): number | null {
  switch (f.kind) {
    case 'http': return f.status
    case 'timeout': return 408
    // 2024 litellm APIError / 2025 InternalServerError both carry status_code 500.
    case 'connection': return 500
    case 'provider': return 400
  }
}

export function statusPhrase (status: number): string {
  return STATUS_CODES[status] ?? 'Error'
}

/** The gateway's raw-text streams: an SSE content type without SSE framing. */
export const RAW_STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8' }
