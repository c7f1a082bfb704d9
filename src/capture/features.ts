import type { HopKind } from '../config/types.js'

export type Hop = 'gateway' | 'model'

/** What an exchange was for, from its path. Stable names (metrics labels, API filters). */
export type Feature =
  | 'code_completions' | 'code_generations' | 'code_suggestions' | 'chat' | 'prompts'
  | 'x_ray' | 'health' | 'gateway_metrics' | 'gateway_other'
  | 'chat_completions' | 'completions' | 'embeddings' | 'models' | 'model_health' | 'model_other'

const MODEL_PATHS: ReadonlyArray<[RegExp, Feature]> = [
  [/\/chat\/completions\/?$/, 'chat_completions'],
  [/\/completions\/?$/, 'completions'],
  [/\/embeddings\/?$/, 'embeddings'],
  [/\/models(?:\/[^/]+)?\/?$/, 'models'],
  [/^\/health(?:\/\w+)?\/?$/, 'model_health']
]

const GATEWAY_PATHS: ReadonlyArray<[RegExp, Feature]> = [
  [/^\/v\d+\/code\/completions\/?$/, 'code_completions'],
  [/^\/v2\/completions\/?$/, 'code_completions'],
  [/^\/v\d+\/code\/generations\/?$/, 'code_generations'],
  [/^\/v\d+\/code\/suggestions\/?$/, 'code_suggestions'],
  [/^\/v\d+\/chat\/[\w-]+\/?$/, 'chat'],
  [/^\/v\d+\/prompts\//, 'prompts'],
  [/^\/v\d+\/x-ray\//, 'x_ray'],
  [/^\/monitoring\//, 'health'],
  [/^\/metrics\/?$/, 'gateway_metrics']
]

/**
 * Which hop and feature a request belongs to. On an `auto` route the path decides: the
 * gateway's API paths are known, and OpenAI paths (`.../chat/completions`) are the model hop.
 */
export function classifyPath (path: string, hop: HopKind): { hop: Hop, feature: Feature } {
  if (hop !== 'model') {
    for (const [re, feature] of GATEWAY_PATHS) if (re.test(path)) return { hop: 'gateway', feature }
  }
  if (hop !== 'gateway') {
    for (const [re, feature] of MODEL_PATHS) if (re.test(path)) return { hop: 'model', feature }
  }
  return hop === 'model' ? { hop: 'model', feature: 'model_other' } : { hop: 'gateway', feature: 'gateway_other' }
}
