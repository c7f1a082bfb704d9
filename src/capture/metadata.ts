import type { ExchangeMeta, GitlabInstance } from './exchange.js'
import { headerValue } from '../proxy/headers.js'
import { scrubText } from './redact.js'

type Obj = Record<string, unknown>

function obj (v: unknown): Obj | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : null
}

/**
 * Only short identifier-like strings make it into metadata, scrubbed like any kept text: these
 * keys are not filtered, so a token-shaped file or model name would otherwise be stored as sent.
 */
function name (v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= 256 ? scrubText(v) : undefined
}

// Every request of an instance names the same few endpoints: remember each answer (bounded).
const endpointCache = new Map<string, string | undefined>()

/** A model endpoint URL without credentials, query or fragment. */
export function safeEndpoint (v: unknown): string | undefined {
  const text = name(v)
  if (text === undefined) return undefined
  if (endpointCache.has(text)) return endpointCache.get(text)
  const safe = parseEndpoint(text)
  if (endpointCache.size < 1_000) endpointCache.set(text, safe)
  return safe
}

function parseEndpoint (text: string): string | undefined {
  try {
    const url = new URL(text)
    url.username = ''
    url.password = ''
    url.search = ''
    url.hash = ''
    return scrubText(url.toString())
  } catch {
    return undefined
  }
}

function set<K extends keyof ExchangeMeta> (meta: ExchangeMeta, key: K, value: ExchangeMeta[K] | undefined): void {
  if (value !== undefined && meta[key] === undefined) meta[key] = value
}

/** Request metadata of the gateway's APIs (v1-v4 code, chat, prompts). */
export function gatewayRequestMeta (body: unknown, meta: ExchangeMeta): void {
  const b = obj(body)
  if (b === null) return
  const file = obj(b.current_file)
  if (file !== null) {
    set(meta, 'file_name', name(file.file_name))
    set(meta, 'language', name(file.language_identifier))
  }
  set(meta, 'model_provider', name(b.model_provider))
  set(meta, 'model_name', name(b.model_name))
  set(meta, 'model_endpoint', safeEndpoint(b.model_endpoint))
  set(meta, 'model_identifier', name(b.model_identifier))
  if (typeof b.stream === 'boolean') set(meta, 'stream', b.stream)
  const mm = obj(b.model_metadata)
  if (mm !== null) {
    set(meta, 'model_provider', name(mm.provider))
    set(meta, 'model_name', name(mm.name))
    set(meta, 'model_endpoint', safeEndpoint(mm.endpoint))
    set(meta, 'model_identifier', name(mm.identifier))
  }
  // v3 completions and v1 chat: prompt_components[].payload
  const components = Array.isArray(b.prompt_components) ? b.prompt_components : []
  for (const c of components.slice(0, 8)) {
    const p = obj(obj(c)?.payload)
    if (p === null) continue
    set(meta, 'file_name', name(p.file_name))
    set(meta, 'language', name(p.language_identifier))
    set(meta, 'model_provider', name(p.model_provider) ?? name(p.provider))
    set(meta, 'model_name', name(p.model_name) ?? name(p.model))
    set(meta, 'model_endpoint', safeEndpoint(p.model_endpoint))
    set(meta, 'model_identifier', name(p.model_identifier))
    if (typeof p.stream === 'boolean') set(meta, 'stream', p.stream)
  }
}

/** Request metadata of the OpenAI API. */
export function openaiRequestMeta (body: unknown, meta: ExchangeMeta): void {
  const b = obj(body)
  if (b === null) return
  set(meta, 'model', name(b.model))
  if (typeof b.stream === 'boolean') set(meta, 'stream', b.stream)
  const maxTokens = b.max_tokens ?? b.max_completion_tokens
  if (typeof maxTokens === 'number') set(meta, 'max_tokens', maxTokens)
  if (typeof b.temperature === 'number') set(meta, 'temperature', b.temperature)
  if (typeof b.n === 'number') set(meta, 'n', b.n)
  if (typeof b.stop === 'string' || Array.isArray(b.stop)) {
    set(meta, 'stop', Array.isArray(b.stop) ? b.stop.filter((s): s is string => typeof s === 'string').slice(0, 8).map((s) => scrubText(s)) : scrubText(b.stop as string))
  }
}

/** Usage and finish reason of a non-streamed OpenAI (or gateway code) response. */
export function completionResponseMeta (body: unknown, meta: ExchangeMeta): void {
  const b = obj(body)
  if (b === null) return
  const usage = obj(b.usage)
  if (usage !== null) {
    const nums: Record<string, number> = {}
    for (const [k, v] of Object.entries(usage)) if (typeof v === 'number') nums[k] = v
    if (Object.keys(nums).length > 0) meta.usage = nums
  }
  const choices = Array.isArray(b.choices) ? b.choices : []
  const reason = obj(choices[0])?.finish_reason
  if (typeof reason === 'string') meta.finish_reason = reason
}

/** The OpenAI response's `model` and `id` (model hop; a gateway's `model` is an object, its `id` a placeholder). */
export function openaiResponseMeta (body: unknown, meta: ExchangeMeta): void {
  const b = obj(body)
  if (b === null) return
  set(meta, 'response_model', name(b.model))
  set(meta, 'response_id', name(b.id))
}

const GITLAB_HEADERS: ReadonlyArray<[string, Exclude<keyof GitlabInstance, 'rails_send_start_ms'>]> = [
  ['x-gitlab-instance-id', 'instance_id'],
  ['x-gitlab-realm', 'realm'],
  ['x-gitlab-version', 'version'],
  ['x-gitlab-host-name', 'host_name'],
  ['x-gitlab-global-user-id', 'global_user_id']
]

export function gitlabInstance (rawHeaders: readonly string[]): GitlabInstance | undefined {
  let out: GitlabInstance | undefined
  for (const [header, key] of GITLAB_HEADERS) {
    const v = name(headerValue(rawHeaders, header))
    if (v !== undefined) (out ??= {})[key] = v
  }
  const sent = Number(headerValue(rawHeaders, 'x-gitlab-rails-send-start'))
  if (Number.isFinite(sent) && sent > 1e9 && sent < 1e11) (out ??= {}).rails_send_start_ms = Math.round(sent * 1000)
  return out
}
