/**
 * GitLab Rails `llm.log`: Gitlab::Llm::Logger JSON lines (ee/lib/gitlab/llm/logger.rb over
 * labkit's JsonLogger). Recognised by the keys `Gitlab::Llm::Logger#info/error/…` always adds:
 * `message`, `class`, and `ai_event_name` or `ai_component` (docs/log-formats.md §1).
 */
import type { Json } from '../capture/redact.js'
import type { LogEventKind } from './event.js'
import { LOG_LIMITS } from './event.js'
import { keepPromptValue, keepText } from './keep.js'
import { modelMetadataFromJson } from './model-metadata.js'
import { type FieldKind, keepAllowed, keepCorrelationId, levelOf, type ParsedRecord, type ParseOptions } from './record.js'
import { isoTime } from './time.js'

export function isLlmLogLine (o: Record<string, unknown>): boolean {
  return typeof o.class === 'string' && (typeof o.ai_event_name === 'string' || typeof o.ai_component === 'string') &&
    (typeof o.message === 'string' || typeof o.correlation_id === 'string')
}

/**
 * The scalar keys diagnosis reads, by GitLab's names (Concerns::Logger::RESERVED_OPTIONS and
 * labkit's context). Identity (`meta.user`, `user_id`, `meta.remote_ip`) is left out.
 */
const ALLOWED: Readonly<Record<string, FieldKind>> = {
  class: 'scalar',
  ai_event_name: 'scalar',
  ai_component: 'scalar',
  duo_chat_error_code: 'scalar',
  ai_error_code: 'scalar',
  error: 'text',
  error_message: 'text',
  error_type: 'scalar',
  status: 'scalar',
  ai_response_server: 'scalar',
  source: 'scalar',
  resource_class: 'scalar',
  completion_service_name: 'scalar',
  unit_primitive: 'scalar',
  ai_request_type: 'scalar',
  event_type: 'scalar',
  event_json_size: 'scalar',
  react_turn: 'scalar',
  tool_name: 'scalar',
  duo_chat_tool: 'scalar',
  picked_tool: 'scalar',
  action_name: 'scalar',
  timeout: 'scalar',
  stream: 'scalar',
  url: 'url',
  'meta.caller_id': 'scalar',
  'meta.root_caller_id': 'scalar',
  'meta.feature_category': 'scalar'
}

/** Options that carry the user's text or the model's, or model_metadata's api_key in clear (§1). */
const PROMPT_BEARING = ['params', 'body', 'prompt', 'fragment', 'inputs', 'ai_event', 'llm_answer_content', 'response_from_llm', 'options', 'graphql_variables', 'graphql_query', 'graphql_query_string'] as const

const GATEWAY_ERROR_MESSAGES = /^(?:Error response from AI Gateway|Failed to request to \S{1,100}|LLM completion error)$/

export function parseLlmLog (o: Record<string, unknown>, opts: ParseOptions): ParsedRecord {
  const message = typeof o.message === 'string' ? o.message : ''
  const fields: Record<string, Json> = {}
  keepAllowed(o, ALLOWED, opts.rules, fields)
  // `Error response from AI Gateway` logs the gateway's `detail` as `body` (log_server_error):
  // the gateway's own words, not the request's. Every other `body` is the request (verbose).
  if (o.ai_event_name === 'error_response_received' && (typeof o.body === 'string' || o.body === null)) {
    fields.body = o.body === null ? null : keepText(o.body, LOG_LIMITS.fieldChars)
  }
  for (const source of [o.params, o.body]) modelMetadataFromJson(source, fields)
  if (opts.verbose) {
    for (const key of PROMPT_BEARING) {
      if (Object.hasOwn(o, key) && fields[key] === undefined) fields[key] = keepPromptValue(key, o[key], opts.rules)
    }
  }
  return {
    source: 'gitlab_llm',
    kind: kindOf(o, message),
    time: isoTime(o.time),
    correlation_id: keepCorrelationId(o.correlation_id),
    level: levelOf(o.severity),
    message: keepText(message, LOG_LIMITS.messageChars),
    fields
  }
}

function kindOf (o: Record<string, unknown>, message: string): LogEventKind {
  // Answer.error_answer (ee/lib/gitlab/llm/chain/answer.rb): the user saw an error.
  if (typeof o.duo_chat_error_code === 'string') return 'error_answer'
  if (GATEWAY_ERROR_MESSAGES.test(message)) return message === 'LLM completion error' ? 'error_answer' : 'gateway_error'
  return 'info'
}
