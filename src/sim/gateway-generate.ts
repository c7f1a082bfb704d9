/**
 * How the AI gateway simulator's feature endpoints get their answer: from the model endpoint
 * when one is configured (in the request body or as the gateway's default), else from a
 * canned completion; and how they relay it to their own client.
 */
import { STATUS_CODES } from 'node:http'
import type { FaultyWriter } from './faulty-writer.js'
import type { ChatMessage, ModelClient, ModelResult, ModelTarget, TokenUsage } from './gateway-model.js'
import { asNonEmptyString, type JsonRecord } from './json.js'
import { sendJson, type SimContext } from './sim-server.js'

export interface GatewayEnv {
  client: ModelClient
  modelEndpoint?: string
  modelName: string
  completion: string[]
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
}

export const VALIDATION_ERROR = { detail: 'Validation error' }
export const INFERENCE_FAILED = { detail: 'Inference failed' }
/** The gateway's raw-text streams: an SSE content type without SSE framing. */
export const RAW_STREAM_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }

/** The model to call: the request's endpoint (or the gateway's default), or none (canned answer). */
export function modelTarget (env: GatewayEnv, endpoint: unknown, model: unknown, apiKey: unknown): ModelTarget | undefined {
  const resolved = asNonEmptyString(endpoint) ?? env.modelEndpoint
  if (resolved === undefined) return undefined
  return { endpoint: resolved, model: asNonEmptyString(model) ?? env.modelName, apiKey: asNonEmptyString(apiKey) }
}

function countWords (messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + m.content.split(/\s+/).filter((w) => w !== '').length, 0)
}

export async function generate (
  rc: RouteContext,
  target: ModelTarget | undefined,
  messages: ChatMessage[],
  maxTokens: number,
  stream: boolean
): Promise<ModelResult> {
  const estimate = (): TokenUsage => ({ input_tokens: countWords(messages), output_tokens: rc.env.completion.length })
  if (target === undefined) return { ok: true, pieces: rc.env.completion, usage: estimate }
  const result = await rc.env.client.call(target, {
    messages, maxTokens, temperature: 0.2, stream, fault: rc.modelFault, signal: rc.sim.signal
  })
  return result.ok ? { ...result, usage: () => result.usage() ?? estimate() } : result
}

export type RelayEnd = 'ended' | 'stopped' | 'failed'

/** Write each piece rendered; 'stopped' = client gone or fault reset, 'failed' = model stream broke. */
export async function relay (
  writer: FaultyWriter,
  pieces: AsyncIterable<string> | Iterable<string>,
  render: (piece: string) => string,
  stopAfterFirst = false
): Promise<RelayEnd> {
  try {
    for await (const piece of pieces) {
      if (!(await writer.write(render(piece)))) return 'stopped'
      if (stopAfterFirst) return 'ended'
    }
    return 'ended'
  } catch {
    return 'failed'
  }
}

/** The whole answer, or undefined when the model stream broke. */
export async function collectText (pieces: AsyncIterable<string> | Iterable<string>): Promise<string | undefined> {
  let text = ''
  try {
    for await (const piece of pieces) text += piece
    return text
  } catch {
    return undefined
  }
}

/**
 * Raw-text stream or one JSON reply (chat v1, prompts). HTTP errors from the model become
 * 421 "<code>: <phrase>", other model failures 503 "Inference failed".
 */
export async function serveText (
  rc: RouteContext,
  target: ModelTarget | undefined,
  messages: ChatMessage[],
  stream: boolean,
  render: (text: string) => string
): Promise<void> {
  const { res } = rc.sim
  const result = await generate(rc, target, messages, 2048, stream)
  if (!result.ok) {
    const { failure } = result
    if (failure.kind === 'http') return sendJson(res, 421, { detail: `${failure.status}: ${STATUS_CODES[failure.status] ?? 'Error'}` })
    return sendJson(res, 503, INFERENCE_FAILED)
  }
  if (stream) {
    rc.writer.start(200, RAW_STREAM_HEADERS)
    const end = await relay(rc.writer, result.pieces, (piece) => piece, rc.writer.truncate)
    // uvicorn drops the connection when a streaming generator raises.
    if (end === 'failed') return void res.destroy()
    if (end === 'ended') rc.writer.end()
    return
  }
  const text = await collectText(result.pieces)
  if (text === undefined) return sendJson(res, 503, INFERENCE_FAILED)
  return rc.writer.sendWhole(200, 'application/json', render(text))
}
