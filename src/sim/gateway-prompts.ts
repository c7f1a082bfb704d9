/**
 * The AI gateway simulator's prompt endpoints, /v1|v2/prompts/<id>: `inputs` rendered into a
 * chat, the answer a JSON string; a model HTTP error becomes the gateway's 421.
 */
import type { Scope } from './gateway-auth.js'
import { modelTarget, serveText, VALIDATION_ERROR, type RouteContext } from './gateway-generate.js'
import type { ChatMessage } from './gateway-model.js'
import { asRecord, asString, type JsonRecord } from './json.js'
import { sendJson } from './sim-server.js'

export async function prompt (rc: RouteContext): Promise<void> {
  const inputs = asRecord(rc.body.inputs)
  if (inputs === undefined) return sendJson(rc.sim.res, 422, VALIDATION_ERROR)
  const [, id = ''] = rc.params
  const meta = asRecord(rc.body.model_metadata) ?? {}
  const target = modelTarget(rc.env, meta.endpoint, meta.name, meta.api_key)
  const messages: ChatMessage[] = [
    { role: 'system', content: `Prompt ${id} (version ${asString(rc.body.prompt_version) ?? 'latest'})` },
    { role: 'user', content: Object.entries(inputs).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n') }
  ]
  return serveText(rc, target, messages, rc.body.stream === true, (text) => JSON.stringify(text))
}

/** The scope a prompt id needs; other features' unit primitives are not simulated. */
export function promptScope (_body: JsonRecord, params: string[]): Scope | undefined {
  const id = params[1] ?? ''
  if (id.startsWith('chat/')) return 'duo_chat'
  if (id.startsWith('code_suggestions/completions')) return 'complete_code'
  if (id.startsWith('code_suggestions/')) return 'generate_code'
  return undefined
}
