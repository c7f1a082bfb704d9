/**
 * The self-hosted model's settings as a log names them (endpoint, identifier, name, provider):
 * names and URLs only, never the API key or the prompt beside them. Kept in every import mode,
 * like capture keeps them from request bodies (ExchangeMeta): they tell a missing `/v1` from a
 * wrong model name. Fields use GitLab's dotted names: `model_metadata.endpoint`, ….
 */
import type { ExchangeMeta } from '../capture/exchange.js'
import { gatewayRequestMeta, safeEndpoint } from '../capture/metadata.js'
import type { Json } from '../capture/redact.js'
import { keepText } from './keep.js'

export const MODEL_METADATA_FIELDS = ['model_metadata.endpoint', 'model_metadata.identifier', 'model_metadata.name', 'model_metadata.provider'] as const

/** From a parsed request body or `params` (llm.log): `model_metadata`, `model_endpoint`, …. */
export function modelMetadataFromJson (value: unknown, fields: Record<string, Json>): void {
  const meta: ExchangeMeta = { feature: 'gateway_other' }
  gatewayRequestMeta(value, meta)
  setOnce(fields, 'model_metadata.endpoint', meta.model_endpoint)
  setOnce(fields, 'model_metadata.identifier', meta.model_identifier)
  setOnce(fields, 'model_metadata.name', meta.model_name)
  setOnce(fields, 'model_metadata.provider', meta.model_provider)
}

// The gateway logs a pydantic repr for chat `inputs` (structlog's JSON fallback is repr):
// `model_metadata=ModelMetadata(name='mistral', provider='openai', endpoint=Url('http://…/v1'), …)`.
const REPR_START = 'model_metadata=ModelMetadata('
const REPR_FIELD = /\b(name|provider|identifier)='([^'\n]{1,256})'|\bendpoint=Url\('([^'\n]{1,1024})'\)/g

/** From the repr text of the gateway's request logger (`Request to V2 Chat Agent` inputs). */
export function modelMetadataFromRepr (text: string, fields: Record<string, Json>): void {
  const at = text.indexOf(REPR_START)
  if (at < 0) return
  // The first of each name after the opening is ModelMetadata's own (setOnce keeps the first).
  const slice = text.slice(at + REPR_START.length, at + REPR_START.length + 2048)
  for (const m of slice.matchAll(REPR_FIELD)) {
    if (m[3] !== undefined) setOnce(fields, 'model_metadata.endpoint', safeEndpoint(m[3]))
    else setOnce(fields, `model_metadata.${m[1]!}`, keepText(m[2]!, 256))
  }
}

/** `http://vllm:8000/chat/completions` → `http://vllm:8000`: the api_base litellm was given. */
export function endpointOfModelUrl (url: string): string | undefined {
  const m = /^(https?:\/\/[^\s?#]{1,1024}?)\/(?:chat\/completions|completions|embeddings)\/?$/.exec(url)
  return m === null ? undefined : m[1]
}

function setOnce (fields: Record<string, Json>, key: string, value: string | undefined): void {
  if (value !== undefined && fields[key] === undefined) fields[key] = value
}
