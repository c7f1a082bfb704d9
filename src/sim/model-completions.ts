/**
 * The model server simulator's completions: request validation with vLLM's error bodies, and
 * the answer — one JSON body, or SSE chunks ending in `data: [DONE]` (with a usage chunk when
 * stream_options.include_usage) — for /v1/chat/completions and legacy /v1/completions.
 */
import { randomBytes } from 'node:crypto'
import type { FaultyWriter } from './faulty-writer.js'
import { asNumber, asString, isRecord, parseJson, type JsonRecord } from './json.js'
import { sendJson, type SimContext } from './sim-server.js'
import { sseData } from './sse.js'

export const DEFAULT_MODEL = 'mistral-7b-instruct'
export const DEFAULT_COMPLETION = ['Sure', ', here', ' is', ' the', ' answer', '.']

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export interface CompletionRequest {
  model: string
  /** true: /v1/chat/completions (messages), false: legacy /v1/completions (prompt). */
  chat: boolean
  body: JsonRecord
  promptTokens: number
  maxTokens?: number
  stream: boolean
  includeUsage: boolean
}

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }

/** Validate a chat/legacy completion body; answers the error itself and returns undefined. */
export function parseCompletionRequest (ctx: SimContext, models: string[]): CompletionRequest | undefined {
  const parsed = parseJson(ctx.body)
  if (!parsed.ok || !isRecord(parsed.value)) {
    const message = parsed.ok ? 'Request body must be a JSON object' : `Invalid JSON body: ${parsed.message}`
    sendJson(ctx.res, 400, { object: 'error', message, type: 'BadRequestError', code: 400 })
    return undefined
  }
  const body = parsed.value
  const model = asString(body.model) ?? models[0] ?? DEFAULT_MODEL
  if (!models.includes(model)) {
    sendJson(ctx.res, 404, {
      object: 'error', message: `The model \`${model}\` does not exist.`, type: 'NotFoundError', param: null, code: 404
    })
    return undefined
  }
  const chat = ctx.pathname === '/v1/chat/completions'
  const prompt = chat ? body.messages : body.prompt
  if (chat ? !Array.isArray(prompt) : prompt === undefined) {
    const field = chat ? 'messages' : 'prompt'
    sendJson(ctx.res, 400, { object: 'error', message: `${field}: Field required`, type: 'BadRequestError', code: 400 })
    return undefined
  }
  const streamOptions = body.stream_options
  return {
    model,
    chat,
    body,
    promptTokens: countPromptTokens(prompt),
    maxTokens: asNumber(body.max_completion_tokens) ?? asNumber(body.max_tokens),
    stream: body.stream === true,
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true
  }
}

/** Answer with `completion`, one piece per token; max_tokens below the piece count cuts it short. */
export async function answerCompletion (writer: FaultyWriter, request: CompletionRequest, completion: string[]): Promise<void> {
  const { chat } = request
  const limited = request.maxTokens !== undefined && request.maxTokens < completion.length
  const pieces = limited ? completion.slice(0, Math.max(0, request.maxTokens ?? 0)) : completion
  const finishReason = limited ? 'length' : 'stop'
  const usage: Usage = {
    prompt_tokens: request.promptTokens,
    completion_tokens: pieces.length,
    total_tokens: request.promptTokens + pieces.length
  }
  const base = {
    id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(16).toString('hex')}`,
    object: chat ? 'chat.completion' : 'text_completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model
  }

  if (!request.stream) {
    const text = pieces.join('')
    const choice = chat
      ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finishReason }
      : { index: 0, text, logprobs: null, finish_reason: finishReason }
    return writer.sendWhole(200, 'application/json', JSON.stringify({ ...base, choices: [choice], usage }))
  }

  writer.start(200, SSE_HEADERS)
  const chunkBase = { ...base, object: chat ? 'chat.completion.chunk' : 'text_completion' }
  // Zero pieces (max_tokens 0) still needs one chunk to carry finish_reason.
  const sent = pieces.length > 0 ? pieces : ['']
  for (const [i, piece] of sent.entries()) {
    const last = i === sent.length - 1
    const finish = last && !writer.truncate ? finishReason : null
    const choice = chat
      ? { index: 0, delta: i === 0 ? { role: 'assistant', content: piece } : { content: piece }, logprobs: null, finish_reason: finish }
      : { index: 0, text: piece, logprobs: null, finish_reason: finish }
    if (!(await writer.write(sseData({ ...chunkBase, choices: [choice] })))) return
  }
  if (!writer.truncate) {
    if (request.includeUsage && !(await writer.write(sseData({ ...chunkBase, choices: [], usage })))) return
    if (!(await writer.write(sseData('[DONE]')))) return
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
