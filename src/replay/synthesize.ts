import type { ExchangeMeta } from '../capture/exchange.js'
import type { Json } from '../capture/redact.js'
import type { Lang } from '../i18n/message.js'
import { t as translate } from '../i18n/translate.js'
import type { ReplayOriginal } from './original.js'
import { placeholder } from './placeholder.js'
import { bodyFromShape } from './shape-body.js'

export { placeholder }

/** A request body built from the record's metadata: same shape and size, placeholder text. */
export interface Synthesized {
  text: string
  content_type: string
  /** What was built, for the output ("code completion (current_file)"), in the command's language. */
  shape: string
}

type Obj = { [key: string]: Json }

const HASH_COMMENT = new Set(['python', 'ruby', 'shell', 'bash', 'sh', 'yaml', 'r', 'perl', 'elixir', 'toml', 'dockerfile', 'makefile', 'powershell'])

/** Builds `build(placeholder)` so that its JSON is `target` bytes (or the bare shape when that is larger). */
function fit (target: number, comment: string, build: (text: string) => Obj): string {
  const skeleton = Buffer.byteLength(JSON.stringify(build('')))
  return JSON.stringify(build(placeholder(Math.max(0, target - skeleton), comment)))
}

/** Only the fields the record knows; absent ones stay absent. */
function defined (fields: Record<string, Json | undefined>): Obj {
  const out: Obj = {}
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v
  return out
}

function gatewayModel (meta: ExchangeMeta, endpoint: string | undefined): Obj {
  return defined({ model_provider: meta.model_provider, model_name: meta.model_name, model_endpoint: endpoint, model_identifier: meta.model_identifier })
}

function file (meta: ExchangeMeta, text: string): Obj {
  return { file_name: meta.file_name ?? 'replay.txt', language_identifier: meta.language ?? '', content_above_cursor: text, content_below_cursor: '' }
}

/** The body shape for an endpoint (`shape`: a key of the cli catalog's `replay.shape`), or null when the path is not one we know. */
function shapeFor (o: ReplayOriginal, endpoint: string | undefined): { shape: string, params?: Record<string, string>, build: (text: string) => Obj } | null {
  const m = o.meta
  const stream = defined({ stream: m.stream })
  const p = o.path
  if (o.hop === 'gateway') {
    if (/^\/v\d+\/(?:code\/)?completions\/?$/.test(p) && !/^\/v3\//.test(p)) {
      // What GitLab sends (ee/lib/code_suggestions/prompts/code_completion/ai_gateway_code_completion_message.rb).
      return { shape: 'codeCompletion', build: (t) => ({ current_file: file(m, t), ...gatewayModel(m, endpoint), ...stream, prompt_version: 2, prompt: null }) }
    }
    if (/^\/v\d+\/code\/generations\/?$/.test(p)) {
      // GitLab's self-hosted generation (ee/lib/code_suggestions/prompts/code_generation/ai_gateway_self_hosted_messages.rb):
      // with prompt_id the gateway goes through its prompt registry, which honours model_identifier.
      return { shape: 'codeGeneration', build: (t) => ({ current_file: file(m, t), ...gatewayModel(m, endpoint), ...stream, prompt_version: 2, prompt_id: 'code_suggestions/generations', prompt: '' }) }
    }
    if (/^\/v3\/code\/completions\/?$/.test(p) || /^\/v\d+\/code\/suggestions\/?$/.test(p)) {
      const type = m.feature === 'code_generations' ? 'code_editor_generation' : 'code_editor_completion'
      return {
        shape: 'promptComponents',
        params: { type },
        build: (t) => ({ prompt_components: [{ type, payload: { ...file(m, t), ...gatewayModel(m, endpoint), ...stream } }] })
      }
    }
    if (/^\/v2\/chat\/[\w-]+\/?$/.test(p)) {
      const metadata = defined({ provider: m.model_provider, name: m.model_name, endpoint, identifier: m.model_identifier })
      return { shape: 'chatMessages', build: (t) => ({ messages: [{ role: 'user', content: t }], ...(Object.keys(metadata).length > 0 ? { model_metadata: metadata } : {}) }) }
    }
    if (/^\/v1\/chat\/[\w-]+\/?$/.test(p)) {
      const payload = defined({ provider: m.model_provider, model: m.model_name, model_endpoint: endpoint, model_identifier: m.model_identifier })
      return { shape: 'chatPromptComponents', build: (t) => ({ prompt_components: [{ type: 'prompt', payload: { content: t, ...payload } }], ...stream }) }
    }
    if (/^\/v\d+\/prompts\//.test(p)) {
      const metadata = defined({ provider: m.model_provider, name: m.model_name, endpoint, identifier: m.model_identifier })
      return { shape: 'promptInputs', build: (t) => ({ inputs: { content: t }, ...stream, ...(Object.keys(metadata).length > 0 ? { model_metadata: metadata } : {}) }) }
    }
    return null
  }
  const params = defined({ max_tokens: m.max_tokens, temperature: m.temperature, n: m.n, stop: m.stop, stream: m.stream })
  const model = m.model ?? m.model_name ?? 'replay'
  if (/\/chat\/completions\/?$/.test(p)) return { shape: 'openaiChat', build: (t) => ({ model, messages: [{ role: 'user', content: t }], ...params }) }
  if (/\/completions\/?$/.test(p)) return { shape: 'openaiCompletion', build: (t) => ({ model, prompt: t, ...params }) }
  if (/\/embeddings\/?$/.test(p)) return { shape: 'openaiEmbeddings', build: (t) => ({ model, input: t }) }
  return null
}

/**
 * Same shape and size as the original request, with placeholder text: built from the shape
 * capture recorded (every field, src/capture/shape.ts), or for records without one (older
 * records, bodies over the capture's sample bound, HARs from elsewhere) from the metadata and
 * what the endpoint is known to take.
 */
export function synthesize (o: ReplayOriginal, modelEndpoint: string | null, lang: Lang = 'en'): Synthesized {
  const shape = (key: string, params: Record<string, string | number> = {}): string => translate(lang, `cli:replay.shape.${key}`, params)
  const comment = HASH_COMMENT.has((o.meta.language ?? '').toLowerCase()) ? '#' : '//'
  const recorded = o.meta.request_shape
  if (typeof recorded === 'object' && recorded !== null) {
    const b = bodyFromShape(recorded, o.request.bytes, comment, modelEndpoint)
    const ct = o.request.content_type !== null && /json/i.test(o.request.content_type) ? o.request.content_type : 'application/json'
    return { text: b.text, content_type: ct, shape: shape(b.cut ? 'recordedCut' : 'recorded', { fields: b.fields }) }
  }
  const known = shapeFor(o, modelEndpoint ?? o.meta.model_endpoint)
  if (known !== null) return { text: fit(o.request.bytes, comment, known.build), content_type: 'application/json', shape: shape(known.shape, known.params) }
  const ct = o.request.content_type
  if (ct !== null && /json/i.test(ct)) return { text: fit(o.request.bytes, comment, (text) => ({ placeholder: text })), content_type: ct, shape: shape('unknownJson') }
  // Raw text: a space before each newline keeps the byte count of the JSON-sized placeholder.
  return { text: placeholder(o.request.bytes, comment).replaceAll('\n', ' \n'), content_type: ct ?? 'text/plain', shape: shape('unknownText') }
}
