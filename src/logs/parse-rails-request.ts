/**
 * GitLab Rails request logs: `production_json.log` (Lograge, config/initializers/lograge.rb,
 * lib/gitlab/lograge/custom_options.rb) and `api_json.log` (Grape, lib/api/api.rb,
 * lib/gitlab/grape_logging/**). Recognised by Lograge's `controller` or Grape's `route` beside
 * `method`, `path` and `duration_s` (docs/log-formats.md §2). Only Duo requests are kept: the
 * rest of a production log is counted as skipped.
 */
import type { Json } from '../capture/redact.js'
import { redactQuery } from '../capture/redact.js'
import { LOG_LIMITS } from './event.js'
import { keepPromptValue, keepText } from './keep.js'
import { type FieldKind, isRecord, keepAllowed, keepCorrelationId, levelOf, type ParsedRecord, type ParseOptions } from './record.js'
import { isoTime } from './time.js'

export function isRailsRequestLine (o: Record<string, unknown>): boolean {
  return (typeof o.controller === 'string' || typeof o.route === 'string') && typeof o.method === 'string' &&
    typeof o.path === 'string' && typeof o.duration_s === 'number'
}

const ALLOWED: Readonly<Record<string, FieldKind>> = {
  method: 'scalar',
  status: 'scalar',
  duration_s: 'number',
  db_duration_s: 'number',
  view_duration_s: 'number',
  queue_duration_s: 'number',
  target_duration_s: 'number',
  request_urgency: 'scalar',
  controller: 'scalar',
  action: 'scalar',
  route: 'scalar',
  format: 'scalar',
  host: 'scalar',
  ua: 'scalar',
  token_type: 'scalar',
  content_length: 'scalar',
  api_error: 'text',
  'exception.class': 'scalar',
  'exception.message': 'text',
  'exception.cause_class': 'scalar',
  'exception.backtrace': 'backtrace',
  'meta.caller_id': 'scalar',
  'meta.root_caller_id': 'scalar',
  'meta.feature_category': 'scalar'
}

/** GitLab's parameter filter already ran on these, but they may still hold the user's words. */
const PROMPT_BEARING = ['params', 'graphql'] as const

/** The Duo feature categories and endpoints (meta.feature_category, ee/lib/api/…). */
const DUO_CATEGORIES = new Set(['duo_chat', 'ai_abstraction_layer', 'code_suggestions', 'ai_agents', 'duo_workflow', 'duo_agent_platform', 'ai_evaluation', 'self_hosted_models'])
const DUO_PATH = /^\/api\/v4\/(?:code_suggestions|ai|chat|duo_workflow)\//
const DUO_CALLER = /^graphql:(?:chat|aiAction)$/

function isDuoRequest (o: Record<string, unknown>): boolean {
  const category = o['meta.feature_category']
  if (typeof category === 'string' && DUO_CATEGORIES.has(category)) return true
  if (typeof o.path === 'string' && DUO_PATH.test(o.path)) return true
  return typeof o['meta.caller_id'] === 'string' && DUO_CALLER.test(o['meta.caller_id'])
}

export function parseRailsRequest (o: Record<string, unknown>, opts: ParseOptions): ParsedRecord {
  const fields: Record<string, Json> = {}
  keepAllowed(o, ALLOWED, opts.rules, fields)
  const path = keepPath(String(o.path), opts)
  fields.path = path
  const operation = graphqlOperation(o.graphql)
  if (operation !== undefined) fields['graphql.operation_name'] = operation
  if (opts.verbose) {
    for (const key of PROMPT_BEARING) if (Object.hasOwn(o, key)) fields[key] = keepPromptValue(key, o[key], opts.rules)
  }
  const method = typeof fields.method === 'string' ? fields.method : ''
  return {
    source: 'gitlab_request',
    kind: isDuoRequest(o) ? 'request' : 'skip',
    time: isoTime(o.time),
    correlation_id: keepCorrelationId(o.correlation_id),
    level: levelOf(o.severity) ?? (typeof o.status === 'number' && o.status >= 500 ? 'error' : 'info'),
    message: keepText(`${method} ${path} ${String(fields.status ?? '')}`.trim(), LOG_LIMITS.messageChars),
    fields
  }
}

/** The path with its query redacted by the rules (Rails filters params, not the path's query). */
function keepPath (path: string, opts: ParseOptions): string {
  const q = path.indexOf('?')
  const bare = q < 0 ? path : `${path.slice(0, q)}?${redactQuery(path.slice(q + 1, q + 1 + LOG_LIMITS.fieldChars), opts.rules)}`
  return keepText(bare, LOG_LIMITS.fieldChars)
}

function graphqlOperation (graphql: unknown): string | undefined {
  if (!Array.isArray(graphql)) return undefined
  const first: unknown = graphql[0]
  if (!isRecord(first) || typeof first.operation_name !== 'string') return undefined
  return keepText(first.operation_name, 128)
}
