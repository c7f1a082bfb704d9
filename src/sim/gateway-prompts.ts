/**
 * The AI gateway simulator's prompt endpoints (ai_gateway/api/v1/prompts/invoke.py,
 * api/v2/prompts/invoke.py, 2025 only): `inputs` rendered into the prompt; the answer a JSON
 * string (v1) or `{"content", "usage"}` (v2); a model error with a status becomes
 * 421 `{"detail": "<code>: <phrase>"}`; a stream starts before the model is called, so its
 * failures drop the connection.
 */
import type { Scope } from './gateway-auth.js'
import { collectText, dropStream, failureStatus, generate, internalServerError, metadataModel, RAW_STREAM_HEADERS, registryAttempts, relay, resolveTarget, statusPhrase, type RouteContext } from './gateway-generate.js'
import type { ChatMessage } from './gateway-model.js'
import { asRecord, asString, type JsonRecord } from './json.js'
import { sendJson } from './sim-server.js'
import { validationError } from './gateway-validation.js'

export async function prompt (rc: RouteContext): Promise<void> {
  const [apiVersion = 'v1', id = ''] = rc.params
  if (apiVersion === 'v2' && rc.env.version === '2024') return sendJson(rc.sim.res, 404, { detail: 'Not Found' })
  const inputs = asRecord(rc.body.inputs)
  if (inputs === undefined) return validationError(rc, [{ loc: ['body', 'inputs'], msg: 'Field required', type: 'missing' }])
  const resolved = resolveTarget(rc.env, metadataModel(asRecord(rc.body.model_metadata)), 'registry')
  const messages: ChatMessage[] = [
    { role: 'system', content: `Prompt ${id} (version ${asString(rc.body.prompt_version) ?? 'latest'})` },
    { role: 'user', content: Object.entries(inputs).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n') }
  ]
  const stream = rc.body.stream === true
  const { res } = rc.sim
  if (stream) rc.writer.start(200, RAW_STREAM_HEADERS)
  const params = rc.env.version === '2024' ? { max_tokens: 2048, temperature: 0.1, n: 1 } : { max_tokens: 4096, temperature: 0 }
  const result = await generate(rc, resolved, messages, params, stream, registryAttempts(rc.env, stream))
  if (!result.ok) {
    if (stream) return dropStream(res)
    const status = failureStatus(result.failure)
    return status === null ? internalServerError(res) : sendJson(res, 421, { detail: `${status}: ${statusPhrase(status)}` })
  }
  if (stream) {
    const { end } = await relay(rc.writer, result.pieces, (piece) => piece.text === '' ? null : piece.text, rc.writer.truncate)
    if (end === 'failed') return dropStream(res)
    if (end === 'ended') rc.writer.end()
    return
  }
  const answer = await collectText(result.pieces)
  if (!answer.ok) return internalServerError(res)
  const body = apiVersion === 'v2' ? { content: answer.text, usage: result.usage() ?? null } : answer.text
  return rc.writer.sendWhole(200, 'application/json', JSON.stringify(body))
}

/** The scope a prompt id needs; other features' unit primitives are not simulated. */
export function promptScope (_body: JsonRecord, params: string[]): Scope | undefined {
  const id = params[1] ?? ''
  if (id.startsWith('chat/')) return 'duo_chat'
  if (id.startsWith('code_suggestions/completions')) return 'complete_code'
  if (id.startsWith('code_suggestions/')) return 'generate_code'
  return undefined
}
