/**
 * The model server simulator's completions: request validation and the answer — one JSON
 * body, or SSE chunks ending in `data: [DONE]` (a usage chunk only with
 * stream_options.include_usage) — for chat and legacy completions. The bodies, ids and error
 * replies are the flavour's (model-flavors.ts); this file holds what the three share.
 */
import type { FaultyWriter } from './faulty-writer.js'
import { asNumber, asString, isRecord, parseJson, type JsonRecord } from './json.js'
import type { Flavor, Reply } from './model-flavors.js'
import type { SimContext } from './sim-server.js'

export const DEFAULT_MODEL = 'mistral-7b-instruct'
export const DEFAULT_COMPLETION = ['Sure', ', here', ' is', ' the', ' answer', '.']

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export interface CompletionRequest {
  /** The model name as the request gave it (or the path, for LiteLLM's Azure-style routes). */
  model: string
  /** The served model it selected. */
  served: string
  /** true: chat completions (messages), false: legacy completions (prompt). */
  chat: boolean
  body: JsonRecord
  promptTokens: number
  maxTokens?: number
  stream: boolean
  includeUsage: boolean
}

export interface CompletionRoute {
  chat: boolean
  /** The model named by the path (LiteLLM /engines/{model}/..., /openai/deployments/{model}/...). */
  pathModel?: string
}

/** Write a complete reply (errors, health answers) with content-length. */
export function sendReply (ctx: SimContext, reply: Reply): void {
  ctx.res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body)) })
  ctx.res.end(reply.body)
}

/**
 * Validate a chat/legacy completion body against the served models; answers the flavour's
 * error itself and returns undefined. Every server checks the body's shape (messages/prompt)
 * before it looks the model up.
 */
export function parseCompletionRequest (ctx: SimContext, models: string[], flavor: Flavor, route: CompletionRoute = { chat: ctx.pathname.endsWith('/chat/completions') }): CompletionRequest | undefined {
  const { chat } = route
  const parsed = parseJson(ctx.body)
  if (!parsed.ok || !isRecord(parsed.value)) {
    const message = parsed.ok ? 'Request body must be a JSON object' : `Invalid JSON body: ${parsed.message}`
    sendReply(ctx, flavor.invalidJson(message, chat))
    return undefined
  }
  const body = parsed.value
  const missingPrompt = flavor.missingPrompt(chat, body)
  if (missingPrompt !== undefined) {
    sendReply(ctx, missingPrompt)
    return undefined
  }
  const requested = route.pathModel ?? asString(body.model)
  let model: string
  if (requested === undefined || requested === '') {
    const missing = flavor.missingModel(chat)
    if (missing !== undefined) {
      sendReply(ctx, missing)
      return undefined
    }
    model = models[0] ?? DEFAULT_MODEL
  } else {
    model = requested
  }
  const served = flavor.resolveModel(model, models)
  if (served === undefined) {
    sendReply(ctx, flavor.unknownModel(model, chat))
    return undefined
  }
  const streamOptions = body.stream_options
  return {
    model,
    served,
    chat,
    body,
    promptTokens: countPromptTokens(chat ? body.messages : body.prompt),
    maxTokens: asNumber(body.max_completion_tokens) ?? asNumber(body.max_tokens),
    stream: body.stream === true,
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true
  }
}

/** Answer with `completion`, one piece per token; max_tokens below the piece count cuts it short. */
export async function answerCompletion (writer: FaultyWriter, request: CompletionRequest, completion: string[], flavor: Flavor, models: string[]): Promise<void> {
  const limited = request.maxTokens !== undefined && request.maxTokens < completion.length
  const pieces = limited ? completion.slice(0, Math.max(0, request.maxTokens ?? 0)) : completion
  const usage: Usage = {
    prompt_tokens: request.promptTokens,
    completion_tokens: pieces.length,
    total_tokens: request.promptTokens + pieces.length
  }
  const parts = { request, pieces, finishReason: limited ? 'length' as const : 'stop' as const, usage, truncate: writer.truncate }
  const meta = flavor.newMeta(request.chat, request.model, request.served, models)

  if (!request.stream) {
    const { contentType, body } = flavor.whole(meta, parts)
    return writer.sendWhole(200, contentType, body)
  }

  const plan = flavor.stream(meta, parts)
  writer.start(200, plan.headers)
  for (const frame of plan.frames) {
    if (!(await writer.write(frame))) return
  }
  writer.end()
}

/** Crude token count: whitespace-separated words of every prompt string. */
function countPromptTokens (prompt: unknown): number {
  const texts: string[] = []
  const visit = (value: unknown): void => {
    if (typeof value === 'string') texts.push(value)
    else if (Array.isArray(value)) value.forEach(visit)
    else if (isRecord(value)) visit(value.content)
  }
  visit(prompt)
  return texts.reduce((n, text) => n + text.split(/\s+/).filter((w) => w !== '').length, 0) || 1
}
