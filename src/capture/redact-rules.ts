/**
 * GitLab's parameter-filter rules (config/initializers/filter_parameter_logging.rb), as the
 * instance applies them to its request logs, split in two:
 *   - secret rules, always applied;
 *   - content rules (prompt, code and completion text), lifted only in verbose capture, the way
 *     GitLab only logs prompts when verbose AI logging is on.
 *
 * Rule syntax, all case-insensitive on the key name:
 *   `word`   the key contains `word`      (GitLab: password, secret, ...)
 *   `word$`  the key ends with `word`     (GitLab: token, key)
 *   `=word`  the key is exactly `word`    (GitLab: body, text, ...)
 */
export const SECRET_RULES: readonly string[] = [
  'token$', 'password', 'secret', 'key$', 'certificate', 'encrypted_key', 'jwt', 'otp_attempt',
  'redirect', 'trace', 'sharedsecret', 'samlresponse', '=hook', 'authorization', 'cookie', 'credential'
]

export const CONTENT_RULES: readonly string[] = [
  // GitLab's own.
  'variables', 'content', 'search', 'question', 'selectedtext',
  '=body', '=description', '=note', '=text', '=title',
  // Shown filtered on GitLab's logging page (GraphQL) and the prompt/completion fields of the
  // OpenAI API and the gateway, which GitLab only logs verbosely.
  '=query', '=prompt', '=suffix', '=input', '=inputs', '=completion', '=arguments'
]

/**
 * Header names are matched with these (plus a fixed list of credential headers in redact.ts):
 * the body rules would catch Content-Type ("content") or Traceparent ("trace").
 */
export const HEADER_RULES: readonly string[] = [
  'token$', 'password', 'secret', 'key$', 'jwt', 'authorization', 'cookie', 'credential', 'session'
]

export interface RuleSet {
  /** Does a value under this key get filtered? */
  matches (key: string): boolean
  readonly rules: readonly string[]
}

export class InvalidRuleError extends Error {
  readonly code = 'DDP_REDACTION_RULE_INVALID'
}

const RULE_TEXT = /^=?[a-z0-9_.-]+\$?$/

/** Builds the effective rule set for a capture mode, with the operator's additions and removals. */
export function buildRuleSet (verbose: boolean, add: readonly string[] = [], remove: readonly string[] = []): RuleSet {
  return compileRules([...SECRET_RULES, ...(verbose ? [] : CONTENT_RULES)], add, remove)
}

export function buildHeaderRuleSet (add: readonly string[] = [], remove: readonly string[] = []): RuleSet {
  return compileRules(HEADER_RULES, add, remove)
}

function compileRules (base: readonly string[], add: readonly string[], remove: readonly string[]): RuleSet {
  const removed = new Set(remove.map((r) => r.toLowerCase()))
  const rules = [...base, ...add.map((r) => r.toLowerCase())]
    .filter((r, i, all) => !removed.has(r) && all.indexOf(r) === i)
  const exact = new Set<string>()
  const contains: string[] = []
  const suffix: string[] = []
  for (const rule of rules) {
    if (!RULE_TEXT.test(rule)) throw new InvalidRuleError(`redaction rule "${rule}": use word, word$ or =word (letters, digits, _ . -)`)
    if (rule.startsWith('=')) exact.add(rule.slice(1))
    else if (rule.endsWith('$')) suffix.push(rule.slice(0, -1))
    else contains.push(rule)
  }
  // Keys repeat endlessly (the same API fields): remember each verdict, within a bound.
  const cache = new Map<string, boolean>()
  return {
    rules,
    matches (key: string): boolean {
      let verdict = cache.get(key)
      if (verdict !== undefined) return verdict
      const k = key.toLowerCase()
      verdict = exact.has(k) || suffix.some((s) => k.endsWith(s)) || contains.some((c) => k.includes(c))
      if (cache.size < 10_000) cache.set(key, verdict)
      return verdict
    }
  }
}
