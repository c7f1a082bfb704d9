/**
 * The AI gateway simulator's code suggestion endpoints, as ai_gateway/api/v2/code/completions.py
 * (v2 completions and generations), api/v3/code/completions.py and api/v4/code/suggestions.py
 * serve a self-hosted (litellm) model:
 * - v2 body: current_file + flat model_* fields (api/v2/code/typing.py); GitLab sends
 *   prompt_version 2 with prompt null for completions (ee/lib/code_suggestions/prompts/
 *   code_completion/ai_gateway_code_completion_message.rb);
 * - v3/v4 body: prompt_components[0].payload + model_metadata; v4 streams sse-starlette events
 *   stream_start / content_chunk / stream_end (api/v4/code/typing.py StreamEvent);
 * - a model failure is unhandled: Starlette's 500 text/plain, or, for a stream whose response
 *   had started, a dropped connection (see gateway-generate.ts).
 */
import type { Scope } from './gateway-auth.js'
import {
  collectText, dropStream, flatModel, generate, internalServerError, metadataModel, type ModelChoice, RAW_STREAM_HEADERS,
  registryAttempts, relay, resolveTarget, type CallPath, type RouteContext
} from './gateway-generate.js'
import type { ChatMessage } from './gateway-model.js'
import { asNumber, asRecord, asString, type JsonRecord } from './json.js'
import { validationError } from './gateway-validation.js'
import { sseEvent } from './sse.js'

type CodeKind = 'completion' | 'generation'
export type CodeFormat = 'v2' | 'v3' | 'v4'

interface CodeRequest {
  kind: CodeKind
  fileName: string
  language: string
  above: string
  below: string
  model: ModelChoice
  /** models/base.py KindModelProvider (v2 flat field). */
  provider?: string
  promptVersion: number
  promptId?: string
  stream: boolean
}

function codeRequest (kind: CodeKind, file: JsonRecord, model: ModelChoice, extra: JsonRecord, stream: unknown): CodeRequest | undefined {
  const fileName = asString(file.file_name)
  const above = asString(file.content_above_cursor)
  if (fileName === undefined || above === undefined) return undefined
  return {
    kind,
    fileName,
    language: (asString(file.language_identifier) ?? '').toLowerCase(),
    above,
    below: asString(file.content_below_cursor) ?? '',
    model,
    provider: asString(extra.model_provider),
    promptVersion: asNumber(extra.prompt_version) ?? 1,
    promptId: asString(extra.prompt_id),
    stream: stream === true
  }
}

/** v3/v4 body: prompt_components[0].payload holds the file; model_metadata the model. */
function v3Request (rc: RouteContext): CodeRequest | undefined {
  const components = Array.isArray(rc.body.prompt_components) ? rc.body.prompt_components : []
  const component = asRecord(components[0])
  const payload = asRecord(component?.payload)
  if (component === undefined || payload === undefined) return undefined
  const kind = component.type === 'code_editor_generation' ? 'generation' : 'completion'
  const model = metadataModel(asRecord(rc.body.model_metadata)) ?? flatModel(payload)
  return codeRequest(kind, payload, model, { prompt_id: payload.prompt_id, prompt_version: 2 }, payload.stream ?? rc.body.stream)
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

/**
 * Which call path serves the request (api/v2/code/completions.py): 2024 completions with
 * prompt_version 1 use LiteLlmTextGenModel, whose model string `text-completion-custom_openai/
 * <name>` litellm cannot place (no HTTP is sent); generations without prompt_id use
 * LiteLlmChatModel; everything else goes through the prompt registry.
 */
function callPath (rc: RouteContext, code: CodeRequest, format: CodeFormat): CallPath | 'text-gen' {
  if (code.kind === 'generation') return code.promptId === undefined && format === 'v2' ? 'legacy' : 'registry'
  if (format === 'v2' && rc.env.version === '2024' && code.promptVersion === 1) return 'text-gen'
  return 'registry-completion'
}

/** Body parameters per path: models/litellm.py (legacy), prompt YAML / models.yml (registry). */
function callParams (rc: RouteContext, path: CallPath, kind: CodeKind): Record<string, unknown> {
  if (path === 'legacy') return { max_tokens: 2048, temperature: 0.2, top_p: 0.95 }
  // completions/codestral: max_tokens 64; generations: 512 (2024) / 256 (2025); 2024's
  // langchain-community ChatLiteLLM adds n: 1, 2025's vendored one sends neither n nor top_p.
  const maxTokens = kind === 'completion' ? 64 : rc.env.version === '2024' ? 512 : 256
  return rc.env.version === '2024' ? { max_tokens: maxTokens, temperature: 0.32, n: 1 } : { max_tokens: maxTokens, temperature: 0 }
}

async function serveCode (rc: RouteContext, code: CodeRequest | undefined, format: CodeFormat): Promise<void> {
  const { res } = rc.sim
  if (code === undefined) return validationError(rc, [{ loc: ['body', 'current_file'], msg: 'Field required', type: 'missing' }])
  const invalid = format === 'v2' ? checkV2Model(rc, code) : null
  if (invalid !== null) return validationError(rc, [invalid])
  const stream = code.stream || format === 'v4'
  const path = callPath(rc, code, format)
  const messages = codeMessages(code)
  const resolved = path === 'text-gen'
    ? { ok: false as const, failure: { kind: 'provider' as const, message: `LLM Provider NOT provided. Pass in the LLM provider you are trying to call. You passed model=text-completion-custom_openai/${code.model.name ?? rc.env.modelName}` } }
    : resolveTarget(rc.env, code.model, path)
  const { writer } = rc
  const modelInfo = { engine: 'litellm', name: code.model.name ?? rc.env.modelName, lang: code.language }

  // The legacy models await the model before answering; registry streams start the response
  // first (StreamingResponse over a lazy generator) and call the model inside it.
  const lazyStream = stream && path !== 'legacy' && path !== 'text-gen'
  // v4: sse-starlette's EventSourceResponse headers plus X-Streaming-Format: sse
  // (api/v4/code/suggestions.py handle_stream).
  if (lazyStream) writer.start(200, format === 'v4' ? { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-streaming-format': 'sse' } : RAW_STREAM_HEADERS)
  const params = path === 'text-gen' ? {} : callParams(rc, path, code.kind)
  const result = await generate(rc, resolved, messages, params, stream, path === 'legacy' ? { inner: 1, outer: 1 } : registryAttempts(rc.env, stream))
  if (!result.ok) return lazyStream ? dropStream(res) : internalServerError(res)

  if (stream && format === 'v4') {
    if (!(await writer.write(sseEvent('stream_start', { metadata: { model: modelInfo, timestamp: Math.floor(Date.now() / 1000) } })))) return
    const { end } = await relay(writer, result.pieces, (piece) => piece.text === '' ? null : sseEvent('content_chunk', { choices: [{ delta: { content: piece.text } }] }))
    if (end === 'failed') return dropStream(res)
    if (end === 'stopped') return
    if (!writer.truncate && !(await writer.write(sseEvent('stream_end', {})))) return
    return writer.end()
  }

  if (stream) {
    if (!lazyStream) writer.start(200, RAW_STREAM_HEADERS)
    // Raw text chunks despite the SSE content type; truncate ends after the first chunk.
    const { end } = await relay(writer, result.pieces, (piece) => piece.text === '' ? null : piece.text, writer.truncate)
    if (end === 'failed') return dropStream(res)
    if (end === 'ended') writer.end()
    return
  }

  const answer = await collectText(result.pieces)
  if (!answer.ok) return internalServerError(res)
  const choices = [{ text: answer.text, index: 0, finish_reason: answer.finishReason ?? 'length' }]
  const reply = format === 'v2'
    ? { id: 'id', model: modelInfo, experiments: [], object: 'text_completion', created: Math.floor(Date.now() / 1000), choices }
    : { choices, metadata: { model: modelInfo, timestamp: Math.floor(Date.now() / 1000) } }
  return writer.sendWhole(200, 'application/json', JSON.stringify(reply))
}

/** models/base.py KindModelProvider and models/litellm.py KindLiteLlmModel (2024 field validators). */
const PROVIDERS = ['anthropic', 'vertex-ai', 'litellm', 'codestral', 'fireworks_ai']
const LITELLM_MODELS_2024 = ['codegemma', 'codellama', 'codestral', 'mistral', 'mixtral', 'deepseekcoder', 'claude_3', 'claude_3.5', 'gpt', 'qwen2p5-coder-7b']
const LITELLM_MODELS_2025 = ['codegemma', 'codellama', 'codestral', 'codestral-2501', 'codestral-2508', 'mistral', 'mixtral', 'deepseekcoder', 'claude_3', 'gpt', 'qwen2p5-coder-7b', 'llama3', 'general']

/** The v2 model_name check (api/v2/code/typing.py _validate_model_name), as a FastAPI field error. */
function checkV2Model (rc: RouteContext, code: CodeRequest): { loc: Array<string | number>, msg: string, type: string, input?: unknown } | null {
  const provider = code.provider
  if (provider !== undefined && !PROVIDERS.includes(provider) && !(rc.env.version === '2025' && provider === 'gitlab')) {
    return { loc: ['body', code.promptVersion, 'model_provider'], msg: `Input should be ${PROVIDERS.map((p) => `'${p}'`).join(', ')}`, type: 'enum', input: provider }
  }
  const name = code.model.name
  if (provider === 'litellm' && name !== undefined && !(rc.env.version === '2024' ? LITELLM_MODELS_2024 : LITELLM_MODELS_2025).includes(name)) {
    const useCase = code.kind === 'completion' ? 'code completions' : 'code generations'
    return { loc: ['body', code.promptVersion, 'model_name'], msg: `Value error, model ${name} is not supported by use case ${useCase} and provider ${provider}`, type: 'value_error', input: name }
  }
  return null
}

/** POST /v2/code/completions (and /v2/completions), /v2/code/generations. */
export function codeV2 (kind: CodeKind): (rc: RouteContext) => Promise<void> {
  return (rc) => {
    const file = asRecord(rc.body.current_file)
    const code = file && codeRequest(kind, file, flatModel(rc.body), rc.body, rc.body.stream)
    return serveCode(rc, code, 'v2')
  }
}

/** POST /v3/code/completions, /v4/code/suggestions. */
export function codeV3 (format: 'v3' | 'v4'): (rc: RouteContext) => Promise<void> {
  return (rc) => serveCode(rc, v3Request(rc), format)
}
