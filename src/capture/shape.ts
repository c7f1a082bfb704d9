import { safeEndpoint } from './metadata.js'
import { type Json, scrubText } from './redact.js'
import type { RuleSet } from './redact-rules.js'

/**
 * A request body's shape, kept in metadata capture so that `replay` can send a body built like
 * the original's when its text was not kept. It is the body's JSON with every value replaced by
 * its type, never a prompt:
 *
 *   "<string N>"   a string of N characters        "<number>"     a number
 *   true, false, null  switches, as sent            "<key N>"      the Nth key that is no name (data used as a key)
 *   "<object>", "<array N>"  past the depth or node bound, not followed
 *   [a, b, "<+N more>"]  an array longer than the bound: N more elements like the last
 *   {"<more>": N}  N more keys past the node bound (not replayable)
 *
 * Kept as sent: the generation parameters (prompt_version — a number, or a constraint such as
 * `^1.0.0` —, choices_count, max_tokens, temperature, …), which say how to generate and nothing
 * of what, and identifier-like values of the vocabulary keys (role, type, prompt_id, model names
 * and providers, file and language names, model endpoints without credentials or query), which a
 * gateway validates. No value under a key the redaction rules filter is kept, nor any value
 * holding something token-shaped.
 */
export type Shape = Json

/** How deep objects and arrays are followed; GitLab's deepest request (chat tool steps) is 5. */
const MAX_DEPTH = 8
/** Values recorded at most, keys and elements: a few hundred bytes for GitLab's requests. */
const MAX_NODES = 200
/** Elements recorded of an array; the rest are counted. */
const MAX_ELEMENTS = 8
const MAX_KEY_CHARS = 64

/** Numbers that say how to generate, not what. */
const KEPT_NUMBERS = new Set([
  'prompt_version', 'choices_count', 'max_tokens', 'max_completion_tokens', 'max_new_tokens', 'temperature', 'top_p', 'top_k',
  'n', 'frequency_penalty', 'presence_penalty', 'seed', 'logprobs', 'top_logprobs', 'best_of', 'timeout'
])

/** Names a gateway or model server validates against its vocabulary (a made-up one is a 422). */
const KEPT_NAMES = new Set([
  'role', 'type', 'prompt_id', 'model', 'model_name', 'model_provider', 'model_identifier', 'provider', 'identifier',
  'language_identifier', 'file_name', 'agent_type', 'feature_setting'
])
/** `model_metadata.name` is the model family; a `name` elsewhere (context items) may be anything. */
const MODEL_METADATA_NAMES = new Set(['name'])
const ENDPOINT_KEYS = new Set(['model_endpoint', 'endpoint'])

const IDENTIFIER = /^[A-Za-z0-9_][A-Za-z0-9_.:/@+-]{0,127}$/
/** prompt_version is a number on the code routes, a version constraint (`^1.0.0`) on the prompt routes. */
const VERSION_CONSTRAINT = /^[\^~=>!*0-9][\^~<>=!*.,\s0-9A-Za-z-]{0,31}$/
const KEY_NAME = /^[A-Za-z0-9_$@][A-Za-z0-9_$@.-]*$/

interface Walk {
  rules: RuleSet
  nodes: number
  unnamedKeys: number
}

/** The shape of a parsed request body, or undefined for a body that is no JSON object or array. */
export function requestShape (body: unknown, rules: RuleSet): Shape | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  return shapeOf(body, null, null, { rules, nodes: 0, unnamedKeys: 0 }, 0)
}

function shapeOf (value: unknown, key: string | null, parent: string | null, w: Walk, depth: number): Shape {
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') return key !== null && KEPT_NUMBERS.has(key) && Number.isFinite(value) && !w.rules.matches(key) ? value : '<number>'
  if (typeof value === 'string') return keptName(value, key, parent, w.rules) ?? `<string ${value.length}>`
  if (Array.isArray(value)) {
    if (depth >= MAX_DEPTH || w.nodes >= MAX_NODES) return `<array ${value.length}>`
    const out: Shape[] = []
    for (const item of value.slice(0, MAX_ELEMENTS)) {
      if (w.nodes++ >= MAX_NODES) break
      out.push(shapeOf(item, key, parent, w, depth + 1))
    }
    if (value.length > out.length) out.push(`<+${value.length - out.length} more>`)
    return out
  }
  if (typeof value !== 'object' || depth >= MAX_DEPTH || w.nodes >= MAX_NODES) return '<object>'
  const out: { [key: string]: Shape } = {}
  const entries = Object.entries(value as Record<string, unknown>)
  let recorded = 0
  for (const [k, v] of entries) {
    if (w.nodes++ >= MAX_NODES) break
    out[keyName(k, w)] = shapeOf(v, k, key, w, depth + 1)
    recorded++
  }
  if (recorded < entries.length) out['<more>'] = entries.length - recorded
  return out
}

/** A key as a name, or `<key N>` when it is data (a path, a sentence, a token) rather than a name. */
function keyName (k: string, w: Walk): string {
  if (k.length <= MAX_KEY_CHARS && KEY_NAME.test(k) && scrubText(k) === k) return k
  return `<key ${++w.unnamedKeys}>`
}

/** The value itself, when it is a vocabulary name or an endpoint the shape may keep. */
function keptName (value: string, key: string | null, parent: string | null, rules: RuleSet): string | undefined {
  if (key === null || rules.matches(key)) return undefined
  if (ENDPOINT_KEYS.has(key)) return safeEndpoint(value)
  if (key === 'prompt_version') return VERSION_CONSTRAINT.test(value) ? value : undefined
  const named = KEPT_NAMES.has(key) || (parent === 'model_metadata' && MODEL_METADATA_NAMES.has(key))
  if (!named || !IDENTIFIER.test(value) || scrubText(value) !== value) return undefined
  return value
}
