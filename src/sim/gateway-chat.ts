/**
 * The AI gateway simulator's Duo Chat endpoints: /v2/chat/agent (always 200 NDJSON, failures
 * inside the stream) and the older /v1/chat/agent (raw text or JSON).
 */
import { generate, modelTarget, relay, serveText, VALIDATION_ERROR, type RouteContext } from './gateway-generate.js'
import { failureMessage, type ChatMessage, type ModelFailure } from './gateway-model.js'
import { asRecord, asString, isRecord } from './json.js'
import { ndjsonLine } from './ndjson.js'
import { sendJson } from './sim-server.js'

const CHAT_SYSTEM: ChatMessage = { role: 'system', content: 'You are GitLab Duo Chat, an AI assistant for software development.' }

function chatMessages (value: unknown): ChatMessage[] | undefined {
  if (typeof value === 'string') return [{ role: 'user', content: value }]
  if (!Array.isArray(value)) return undefined
  const messages: ChatMessage[] = []
  for (const item of value) {
    const role = isRecord(item) ? asString(item.role) : undefined
    const content = isRecord(item) ? asString(item.content) : undefined
    if (role === undefined || content === undefined) return undefined
    messages.push({ role, content })
  }
  return messages
}

function retryable (failure: ModelFailure): boolean {
  return failure.kind === 'timeout' || (failure.kind === 'http' && (failure.status === 429 || failure.status >= 500))
}

function errorLine (failure: ModelFailure): string {
  return ndjsonLine({ type: 'error', data: { message: failureMessage(failure), retryable: retryable(failure), error_code: 'A1003' } })
}

/** /v2/chat/agent: always 200 NDJSON; model failures become an `error` line. */
export async function chatAgentV2 (rc: RouteContext): Promise<void> {
  const messages = chatMessages(rc.body.messages)
  if (messages === undefined || messages.length === 0) return sendJson(rc.sim.res, 422, VALIDATION_ERROR)
  const meta = asRecord(rc.body.model_metadata) ?? {}
  const { writer } = rc

  writer.start(200, { 'content-type': 'application/x-ndjson' })
  const action = { type: 'action', data: { thought: 'I can answer this directly.', tool: '', tool_input: '' } }
  if (!(await writer.write(ndjsonLine(action)))) return
  const target = modelTarget(rc.env, meta.endpoint, meta.name, meta.api_key)
  const result = await generate(rc, target, [CHAT_SYSTEM, ...messages], 2048, true)
  if (!result.ok) {
    if (await writer.write(errorLine(result.failure))) writer.end()
    return
  }
  const end = await relay(writer, result.pieces, (text) => ndjsonLine({ type: 'final_answer_delta', data: { text } }))
  if (end === 'stopped') return
  if (end === 'failed') {
    const failure: ModelFailure = { kind: 'network', code: 'STREAM_ERROR', message: 'model stream ended abruptly' }
    if (await writer.write(errorLine(failure))) writer.end()
    return
  }
  if (!writer.truncate && !(await writer.write(ndjsonLine({ type: 'usage', data: result.usage() })))) return
  writer.end()
}

/** /v1/chat/agent (older): prompt_components[0].payload{content, provider, model, model_endpoint, model_api_key}. */
export async function chatAgentV1 (rc: RouteContext): Promise<void> {
  const components = Array.isArray(rc.body.prompt_components) ? rc.body.prompt_components : []
  const payload = asRecord(asRecord(components[0])?.payload)
  const messages = chatMessages(payload?.content)
  if (payload === undefined || messages === undefined) return sendJson(rc.sim.res, 422, VALIDATION_ERROR)
  const target = modelTarget(rc.env, payload.model_endpoint, payload.model, payload.model_api_key)
  const metadata = { provider: asString(payload.provider) ?? 'litellm', model: target?.model ?? rc.env.modelName }
  return serveText(rc, target, [CHAT_SYSTEM, ...messages], rc.body.stream === true, (text) =>
    JSON.stringify({ response: text, metadata: { ...metadata, timestamp: Math.floor(Date.now() / 1000) } }))
}
