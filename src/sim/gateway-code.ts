/**
 * The AI gateway simulator's code suggestion endpoints: /v2/code/completions and
 * /v2/code/generations (current_file body), /v3/code/completions and /v4/code/suggestions
 * (prompt_components body; v4 streams real SSE).
 */
import type { Scope } from './gateway-auth.js'
import { collectText, generate, INFERENCE_FAILED, modelTarget, RAW_STREAM_HEADERS, relay, VALIDATION_ERROR, type GatewayEnv, type RouteContext } from './gateway-generate.js'
import type { ChatMessage, ModelTarget } from './gateway-model.js'
import { asNonEmptyString, asRecord, asString, type JsonRecord } from './json.js'
import { sendJson } from './sim-server.js'
import { sseEvent } from './sse.js'

type CodeKind = 'completion' | 'generation'
export type CodeFormat = 'v2' | 'v3' | 'v4'

interface CodeRequest {
  kind: CodeKind
  fileName: string
  language: string
  above: string
  below: string
  target?: ModelTarget
  modelName: string
  stream?: boolean
}

function codeRequest (env: GatewayEnv, kind: CodeKind, file: JsonRecord, model: JsonRecord, stream: unknown): CodeRequest | undefined {
  const fileName = asString(file.file_name)
  const above = asString(file.content_above_cursor)
  if (fileName === undefined || above === undefined) return undefined
  return {
    kind,
    fileName,
    language: (asString(file.language_identifier) ?? '').toLowerCase(),
    above,
    below: asString(file.content_below_cursor) ?? '',
    target: modelTarget(env, model.model_endpoint, model.model_name, model.model_api_key),
    modelName: asNonEmptyString(model.model_name) ?? env.modelName,
    stream: typeof stream === 'boolean' ? stream : undefined
  }
}

/** v2 body: current_file + model_* fields at the top level. */
function v2Request (rc: RouteContext, kind: CodeKind): CodeRequest | undefined {
  const file = asRecord(rc.body.current_file)
  return file && codeRequest(rc.env, kind, file, rc.body, rc.body.stream)
}

/** v3/v4 body: prompt_components[0].payload holds file and model fields. */
function v3Request (rc: RouteContext): CodeRequest | undefined {
  const components = Array.isArray(rc.body.prompt_components) ? rc.body.prompt_components : []
  const component = asRecord(components[0])
  const payload = asRecord(component?.payload)
  if (component === undefined || payload === undefined) return undefined
  const kind = component.type === 'code_editor_generation' ? 'generation' : 'completion'
  return codeRequest(rc.env, kind, payload, payload, payload.stream ?? rc.body.stream)
}

/** v3/v4: generation or completion, by the first prompt component's type. */
export function v3Scope (body: JsonRecord): Scope {
  const components = Array.isArray(body.prompt_components) ? body.prompt_components : []
  return asRecord(components[0])?.type === 'code_editor_generation' ? 'generate_code' : 'complete_code'
}

function codeMessages (code: CodeRequest): ChatMessage[] {
  if (code.kind === 'completion') {
    return [
      { role: 'system', content: 'You are a code completion tool that performs Fill-in-the-middle. Return only the code that goes between the prefix and the suffix.' },
      { role: 'user', content: `<SUFFIX>\n${code.below}\n</SUFFIX>\n<PREFIX>\n${code.above}\n</PREFIX>` }
    ]
  }
  return [
    { role: 'system', content: `You are a skilled ${code.language || 'software'} engineer. Generate code for ${code.fileName} at {{cursor}}.` },
    { role: 'user', content: `<existing_code>\n${code.above}{{cursor}}${code.below}\n</existing_code>` }
  ]
}

async function serveCode (rc: RouteContext, code: CodeRequest | undefined, format: CodeFormat): Promise<void> {
  const { res } = rc.sim
  if (code === undefined) return sendJson(res, 422, VALIDATION_ERROR)
  const stream = code.stream ?? format === 'v4'
  const result = await generate(rc, code.target, codeMessages(code), code.kind === 'completion' ? 64 : 2048, stream)
  if (!result.ok) return sendJson(res, 503, INFERENCE_FAILED)
  const model = { engine: 'litellm', name: code.modelName, lang: code.language }
  const { writer } = rc

  if (stream && format === 'v4') {
    writer.start(200, { ...RAW_STREAM_HEADERS, 'x-streaming-format': 'sse' })
    if (!(await writer.write(sseEvent('stream_start', { metadata: { model, timestamp: Math.floor(Date.now() / 1000) } })))) return
    const end = await relay(writer, result.pieces, (piece) => sseEvent('content_chunk', { choices: [{ delta: { content: piece } }] }))
    if (end === 'failed') return void res.destroy()
    if (end === 'stopped') return
    if (!writer.truncate && !(await writer.write(sseEvent('stream_end', {})))) return
    return writer.end()
  }

  if (stream) {
    // Raw text chunks despite the SSE content type; truncate ends after the first chunk.
    writer.start(200, RAW_STREAM_HEADERS)
    const end = await relay(writer, result.pieces, (piece) => piece, writer.truncate)
    // uvicorn drops the connection when a streaming generator raises.
    if (end === 'failed') return void res.destroy()
    if (end === 'ended') writer.end()
    return
  }

  const text = await collectText(result.pieces)
  if (text === undefined) return sendJson(res, 503, INFERENCE_FAILED)
  const choices = [{ text, index: 0, finish_reason: 'length' }]
  const reply = format === 'v2'
    ? { id: 'id', model, object: 'text_completion', created: Math.floor(Date.now() / 1000), choices }
    : { choices, metadata: { model, timestamp: Math.floor(Date.now() / 1000) } }
  return writer.sendWhole(200, 'application/json', JSON.stringify(reply))
}

/** POST /v2/code/completions (and /v2/completions), /v2/code/generations. */
export function codeV2 (kind: CodeKind): (rc: RouteContext) => Promise<void> {
  return (rc) => serveCode(rc, v2Request(rc, kind), 'v2')
}

/** POST /v3/code/completions, /v4/code/suggestions. */
export function codeV3 (format: 'v3' | 'v4'): (rc: RouteContext) => Promise<void> {
  return (rc) => serveCode(rc, v3Request(rc), format)
}
