import type { HopKind } from '../config/types.js'

export type Hop = 'gateway' | 'model'

/** What an exchange was for, from its path. Stable names (metrics labels, API filters). */
export type Feature =
  | 'code_completions' | 'code_generations' | 'code_suggestions' | 'chat' | 'prompts'
  | 'x_ray' | 'health' | 'gateway_metrics' | 'gateway_other'
  | 'chat_completions' | 'completions' | 'embeddings' | 'models' | 'model_health' | 'model_other'

/**
 * The OpenAI API paths no gateway route ends in: checked first on an `auto` route, whatever
 * prefix the model endpoint has (`/v1`, `/openai/v1`, or none when `/v1` is missing). The
 * gateway's own chat routes are `/v1/chat/{chat_invokable}` and `/v2/chat/agent`
 * (ai_gateway/api/v1/chat/agent.py, api/v2/chat/agent.py): never `…/chat/completions`.
 */
const OPENAI_FIRST: ReadonlyArray<[RegExp, Feature]> = [
  [/\/chat\/completions\/?$/, 'chat_completions'],
  [/\/embeddings\/?$/, 'embeddings']
]

/** The rest of the OpenAI API: after the gateway's paths, which include `/v2/completions`. */
const OPENAI_REST: ReadonlyArray<[RegExp, Feature]> = [
  [/\/completions\/?$/, 'completions'],
  [/\/models(?:\/[^/]+)?\/?$/, 'models'],
  // vLLM GET /health; LiteLLM proxy /health/liveliness and /health/readiness.
  [/^\/health(?:\/\w+)?\/?$/, 'model_health']
]

/** The AI gateway's routes (ai_gateway/api/v1..v4 routers, api/monitoring.py). */
const GATEWAY_PATHS: ReadonlyArray<[RegExp, Feature]> = [
  [/^\/v\d+\/code\/completions\/?$/, 'code_completions'],
  [/^\/v2\/completions\/?$/, 'code_completions'],
  [/^\/v\d+\/code\/generations\/?$/, 'code_generations'],
  [/^\/v\d+\/code\/suggestions\/?$/, 'code_suggestions'],
  [/^\/v\d+\/chat\/[\w-]+\/?$/, 'chat'],
  [/^\/v\d+\/prompts\//, 'prompts'],
  [/^\/v\d+\/x-ray\//, 'x_ray'],
  [/^\/monitoring\//, 'health'],
  [/^\/metrics\/?$/, 'gateway_metrics'],
  // 2025 gateway: GET /v1/models/definitions (ai_gateway/api/v1/models/definitions.py).
  [/^\/v1\/models\/definitions\/?$/, 'gateway_other']
]

function match (path: string, table: ReadonlyArray<[RegExp, Feature]>): Feature | null {
  for (const [re, feature] of table) if (re.test(path)) return feature
  return null
}

/**
 * Which hop and feature a request belongs to. A route set to `gateway` or `model` decides the
 * hop; on an `auto` route the path does: OpenAI's `…/chat/completions` and `…/embeddings`
 * first, then the gateway's API paths, then the rest of OpenAI's.
 */
export function classifyPath (path: string, hop: HopKind): { hop: Hop, feature: Feature } {
  if (hop === 'model') {
    return { hop: 'model', feature: match(path, OPENAI_FIRST) ?? match(path, OPENAI_REST) ?? 'model_other' }
  }
  if (hop === 'gateway') return { hop: 'gateway', feature: match(path, GATEWAY_PATHS) ?? 'gateway_other' }
  const first = match(path, OPENAI_FIRST)
  if (first !== null) return { hop: 'model', feature: first }
  const gateway = match(path, GATEWAY_PATHS)
  if (gateway !== null) return { hop: 'gateway', feature: gateway }
  const rest = match(path, OPENAI_REST)
  if (rest !== null) return { hop: 'model', feature: rest }
  return { hop: 'gateway', feature: 'gateway_other' }
}
