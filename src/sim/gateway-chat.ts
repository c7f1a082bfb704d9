/**
 * The AI gateway simulator's Duo Chat endpoints.
 * /v2/chat/agent (ai_gateway/api/v2/chat/agent.py, chat/agents/react.py, chat/agents/typing.py):
 * always 200 `application/x-ndjson; charset=utf-8`, one `json.dumps({"type", "data"})` line per
 * event; the ReAct parser emits `final_answer_delta` after the model writes "Final Answer:", or
 * one `unknown` line with the whole text; 2025 adds `finish_reason` to deltas, a last empty
 * delta with the model's finish reason and a `usage` line. A model failure is one `error` line
 * `{"message": str(litellm error), "retryable": false}`, then the connection drops (react.py
 * re-raises after yielding it). The older /v1/chat/{chat_invokable} answers JSON or raw text.
 */
import type { Claims } from './gateway-auth.js'
import { collectText, dropStream, generate, internalServerError, metadataModel, RAW_STREAM_HEADERS, registryAttempts, relay, resolveTarget, type RouteContext } from './gateway-generate.js'
import { describeError, litellmMessage, type ChatMessage, type ModelFailure, type Piece } from './gateway-model.js'
import { asRecord, asString, isRecord } from './json.js'
import { pyJson } from './py-json.js'
import { sendJson } from './sim-server.js'
import { validationError } from './gateway-validation.js'

const CHAT_SYSTEM: ChatMessage = { role: 'system', content: 'You are GitLab Duo Chat, an AI assistant for software development. Answer in the format "Thought: ... Final Answer: ...".' }

/** model_selection/models.yml: the self-hosted families the 2025 gateway knows. */
const SELF_HOSTED_2025 = ['mistral', 'mixtral', 'codestral', 'llama3', 'codellama', 'gpt', 'codegemma', 'deepseekcoder', 'claude_3', 'gemini', 'qwen', 'general']

function chatMessages (value: unknown): ChatMessage[] | undefined {
  if (typeof value === 'string') return [{ role: 'user', content: value }]
  if (!Array.isArray(value)) return undefined
  const messages: ChatMessage[] = []
  for (const item of value) {
    if (!isRecord(item)) return undefined
    const role = asString(item.role)
    if (role === undefined) return undefined
    messages.push({ role, content: asString(item.content) ?? '' })
  }
  return messages
}

function line (type: string, data: Record<string, unknown>): string {
  return pyJson({ type, data }) + '\n'
}

/** react.py: `retryable` only for Anthropic's overloaded errors. */
function errorLine (failure: ModelFailure, version: RouteContext['env']['version'], provider: string): string {
  const message = litellmMessage(failure, version, provider)
  return line('error', { message, retryable: /overloaded_error|AnthropicError - Overloaded/.test(message) })
}

/** The 2025 get_agent check: Duo Core holders lose classic chat unless they call @GitLabDuo. */
function duoCoreOnly (claims: Claims | undefined, messages: ChatMessage[]): boolean {
  if (claims === undefined) return false
  const scopes = Array.isArray(claims.scopes) ? claims.scopes : []
  const last = [...messages].reverse().find((m) => m.role === 'user')
  return scopes.includes('duo_chat') && !scopes.includes('duo_classic_chat') && !(last?.content.includes('@GitLabDuo') ?? false)
}

/** /v2/chat/agent: always 200 NDJSON once started; model failures become an `error` line, then a drop. */
export async function chatAgentV2 (rc: RouteContext): Promise<void> {
  const { version } = rc.env
  const messages = chatMessages(rc.body.messages)
  if (messages === undefined || messages.length === 0) return validationError(rc, [{ loc: ['body', 'messages'], msg: 'Field required', type: 'missing' }])
  if (version === '2025' && duoCoreOnly(rc.claims, messages)) return sendJson(rc.sim.res, 403, { detail: 'Duo Core no longer authorized to access Duo Classic Chat' })
  const raw = asRecord(rc.body.model_metadata)
  let meta = metadataModel(raw)
  if (version === '2024' && raw !== undefined && meta?.endpoint === undefined) {
    // prompts/typing.py ModelMetadata: endpoint is a required AnyUrl.
    return validationError(rc, [{ loc: ['body', 'model_metadata', 'endpoint'], msg: 'Field required', type: 'missing', input: raw }])
  }
  // 2025 api/middleware/model_config.py: invalid metadata is dropped silently and the chat runs
  // on its default (GitLab-managed) model.
  if (version === '2025' && meta !== undefined && (meta.name === undefined || !SELF_HOSTED_2025.includes(meta.name))) meta = undefined
  // No (valid) metadata: the gateway's default model, whose stand-in is modelEndpoint, as on the code paths.
  const resolved = resolveTarget(rc.env, meta, 'registry')
  if (version === '2025' && !resolved.ok) return internalServerError(rc.sim.res)
  const provider = resolved.ok && resolved.target !== undefined ? resolved.target.provider : meta?.provider ?? 'openai'
  const { writer } = rc
  writer.start(200, { 'content-type': 'application/x-ndjson; charset=utf-8' })

  // chat/react prompt: stop at "Observation:"; 2024 max_tokens 4096, temperature 0.1, n 1;
  // 2025 max_tokens 8192, temperature 0, stream_options include_usage (vendored ChatLiteLLM).
  const params = version === '2024'
    ? { max_tokens: 4096, temperature: 0.1, stop: ['Observation:'], n: 1 }
    : { max_tokens: 8192, temperature: 0, stop: ['Observation:'], stream_options: { include_usage: true } }
  const result = await generate(rc, resolved, [CHAT_SYSTEM, ...messages], params, true, registryAttempts(rc.env, true))
  if (!result.ok) {
    // 2024 builds the agent inside the generator: a bad model ends the stream with no line.
    if (result.failure.kind === 'provider') return dropStream(rc.sim.res)
    return writer.writeThenDrop(errorLine(result.failure, version, provider))
  }
  const parser = new ReactParser()
  let finishReason: string | undefined
  const { end, error } = await relay(writer, result.pieces, (piece: Piece) => {
    finishReason = piece.finishReason ?? finishReason
    const delta = parser.push(piece.text)
    if (delta === '') return null
    return line('final_answer_delta', version === '2025' ? { text: delta, finish_reason: null } : { text: delta })
  })
  if (end === 'stopped') return
  if (end === 'failed') {
    return writer.writeThenDrop(errorLine(describeError(error), version, provider))
  }
  if (writer.truncate) return writer.end()
  if (!parser.answering) {
    if (!(await writer.write(line('unknown', { text: parser.text })))) return
  } else if (version === '2025' && finishReason !== undefined) {
    if (!(await writer.write(line('final_answer_delta', { text: '', finish_reason: finishReason })))) return
  }
  if (version === '2025') {
    const usage = result.usage() ?? { input_tokens: 0, output_tokens: 0 }
    const model = resolved.ok && resolved.target !== undefined ? resolved.target.model : rc.env.modelName
    if (!(await writer.write(line('usage', { usage: { [model]: usage } })))) return
  }
  writer.end()
}

/** The ReAct output parser's view of a growing answer: deltas of the text after "Final Answer:". */
class ReactParser {
  text = ''
  private sent = 0
  answering = false

  push (piece: string): string {
    this.text += piece
    const at = this.text.indexOf('Final Answer:')
    if (at < 0) return ''
    this.answering = true
    const answer = this.text.slice(at + 'Final Answer:'.length).replace(/^\s+/, '')
    const delta = answer.slice(this.sent)
    this.sent = answer.length
    return delta
  }
}

/** /v1/chat/{chat_invokable} (older): prompt_components[0].payload{content, provider, model, model_endpoint, model_api_key}. */
export async function chatAgentV1 (rc: RouteContext): Promise<void> {
  const components = Array.isArray(rc.body.prompt_components) ? rc.body.prompt_components : []
  const payload = asRecord(asRecord(components[0])?.payload)
  const messages = chatMessages(payload?.content)
  if (payload === undefined || messages === undefined) return validationError(rc, [{ loc: ['body', 'prompt_components'], msg: 'Field required', type: 'missing' }])
  const choice = { endpoint: asString(payload.model_endpoint), name: asString(payload.model), apiKey: asString(payload.model_api_key), identifier: asString(payload.model_identifier), provider: asString(payload.provider) }
  const resolved = resolveTarget(rc.env, choice, 'registry')
  const stream = rc.body.stream === true
  if (stream) rc.writer.start(200, RAW_STREAM_HEADERS)
  const result = await generate(rc, resolved, [CHAT_SYSTEM, ...messages], { max_tokens: 2048, temperature: 0.1 }, stream, registryAttempts(rc.env, stream))
  if (!result.ok) return stream ? dropStream(rc.sim.res) : internalServerError(rc.sim.res)
  if (stream) {
    const { end } = await relay(rc.writer, result.pieces, (piece) => piece.text === '' ? null : piece.text, rc.writer.truncate)
    if (end === 'failed') return dropStream(rc.sim.res)
    if (end === 'ended') rc.writer.end()
    return
  }
  const answer = await collectText(result.pieces)
  if (!answer.ok) return internalServerError(rc.sim.res)
  const metadata = { provider: choice.provider ?? 'litellm', model: choice.name ?? rc.env.modelName, timestamp: Math.floor(Date.now() / 1000) }
  return rc.writer.sendWhole(200, 'application/json', JSON.stringify({ response: answer.text, metadata }))
}
