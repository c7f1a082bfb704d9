/**
 * The AI gateway's fields, the same in its JSON and console output (ai_gateway/
 * structured_logging.py renders one event dict either way): which are kept, how, and what kind
 * of event a logger's line is. Names are the gateway's own (docs/log-formats.md §3).
 */
import type { Json } from '../capture/redact.js'
import type { LogEventKind } from './event.js'
import { keepPromptValue, keepUrl } from './keep.js'
import { endpointOfModelUrl, modelMetadataFromRepr } from './model-metadata.js'
import { type FieldKind, isRecord, keepField, type ParseOptions } from './record.js'

/** The access line (api/middleware), exceptions, model-call and retry lines; identity left out. */
const ALLOWED: Readonly<Record<string, FieldKind>> = {
  logger: 'scalar',
  url: 'url',
  path: 'scalar',
  method: 'scalar',
  http_version: 'scalar',
  status_code: 'number',
  client_ip: 'scalar',
  duration_s: 'number',
  duration_request: 'number',
  request_arrived_at: 'scalar',
  response_start_duration_s: 'number',
  first_chunk_duration_s: 'number',
  cpu_s: 'number',
  content_type: 'scalar',
  user_agent: 'scalar',
  gitlab_instance_id: 'scalar',
  gitlab_host_name: 'scalar',
  gitlab_version: 'scalar',
  gitlab_realm: 'scalar',
  gitlab_language_server_version: 'scalar',
  gitlab_feature_enablement_type: 'scalar',
  'enabled-instance-verbose-ai-logs': 'scalar',
  enabled_feature_flags: 'scalar',
  auth_duration_s: 'number',
  token_issuer: 'scalar',
  auth_error_details: 'text',
  http_exception_details: 'text',
  exception_message: 'text',
  exception_class: 'scalar',
  exception_backtrace: 'backtrace',
  backtrace: 'backtrace',
  exception: 'backtrace',
  model_engine: 'scalar',
  model_name: 'scalar',
  model_provider: 'scalar',
  model_identifier: 'scalar',
  endpoint: 'url',
  request_url: 'url',
  prompt_length: 'number',
  inference_duration_s: 'number',
  lang: 'scalar',
  editor_lang: 'scalar',
  model_exception_message: 'text',
  model_exception_status_code: 'number',
  post_processing_duration_s: 'number',
  source: 'scalar',
  duration: 'number',
  error: 'scalar',
  error_type: 'scalar',
  streaming: 'scalar',
  finish_reason: 'scalar',
  unit_primitive: 'scalar',
  feature_category: 'scalar',
  input_tokens: 'number',
  output_tokens: 'number',
  total_tokens: 'number',
  attempt: 'number',
  max_attempts: 'number',
  attempt_duration_s: 'number',
  total_elapsed_s: 'number',
  timeout_suspected: 'scalar',
  sleep_before_retry_s: 'number',
  prompt_name: 'scalar',
  bound_timeout: 'number',
  model_factory_request_timeout: 'number',
  model_factory_timeout_attr: 'scalar',
  stream: 'scalar'
}

/** The request loggers' content (get_request_logger, §3.5): raw code and prompts. */
const PROMPT_BEARING = new Set(['inputs', 'prompt', 'prefix', 'suffix', 'request_content_json', 'streamed_event', 'messages', 'content', 'current_file_name'])

/**
 * Keeps the allowlisted fields of one gateway event (`get` reads a key, already parsed from JSON
 * or from the console's `k=v`), the model settings the request logger names, and in verbose
 * import the request loggers' content, redacted.
 */
export function keepGatewayFields (keys: Iterable<string>, get: (key: string) => unknown, opts: ParseOptions): Record<string, Json> {
  const fields: Record<string, Json> = {}
  for (const key of keys) {
    const kind = ALLOWED[key]
    if (kind !== undefined) {
      const kept = keepField(kind, get(key), opts.rules)
      if (kept !== undefined) fields[key] = kept
    } else if (key === 'extra') {
      // `extra` of an exceptions line: the model labels (ModelRequestInstrumentator.watch).
      const extra = get(key)
      for (const label of ['model_engine', 'model_name'] as const) {
        const v = isRecord(extra) ? extra[label] : typeof extra === 'string' ? new RegExp(`'${label}': '([^'\\n]{1,256})'`).exec(extra)?.[1] : undefined
        const kept = keepField('scalar', v, opts.rules)
        if (kept !== undefined) fields[`extra.${label}`] = kept
      }
    } else if (PROMPT_BEARING.has(key)) {
      const value = get(key)
      if (key === 'inputs' && typeof value === 'string') modelMetadataFromRepr(value, fields)
      if (opts.verbose) fields[key] = keepPromptValue(key, value, opts.rules)
    }
  }
  deriveModelEndpoint(fields)
  return fields
}

/** The model URL litellm called (`request_url`) names the endpoint GitLab configured. */
export function deriveModelEndpoint (fields: Record<string, Json>): void {
  const url = fields.request_url
  if (typeof url !== 'string' || fields['model_metadata.endpoint'] !== undefined) return
  const endpoint = endpointOfModelUrl(url)
  if (endpoint !== undefined) fields['model_metadata.endpoint'] = endpoint
}

/** What kind of event a gateway line is, from its logger and message. */
export function gatewayKind (logger: string, message: string, fields: Record<string, Json>): LogEventKind | 'skip' {
  if (logger === 'api.access' || logger === 'uvicorn.access') {
    const path = typeof fields.path === 'string' ? fields.path : ''
    // Health probes carry ids the gateway minted and say nothing about Duo (§3.2).
    return path.startsWith('/monitoring/') ? 'skip' : 'access'
  }
  if (logger === 'exceptions' || fields.exception !== undefined || /^(?:Exception in ASGI application|Uncaught exception)\b/.test(message)) return 'exception'
  if (logger === 'ai_gateway.instrumentators.model_requests' || logger === 'prompts' || logger === 'LiteLLM' || logger === 'models') return 'model_call'
  return 'info'
}

const CREDENTIAL_HEADER = /(-H '(?:Authorization|api-key|x-api-key|Proxy-Authorization): ?)[^'\n]{0,2048}/gi

/**
 * A litellm debug message: its request dump carries the prompt (`-d '{…messages…}'`), kept only
 * in verbose import; the URL it called (the line after `curl -X POST \\`) is kept as a field.
 * Otherwise only its first line is kept.
 */
export function litellmMessage (message: string, opts: ParseOptions): { message: string, requestUrl: string | null } {
  const lines = message.split('\n', 64)
  const curl = lines.findIndex((l) => l.startsWith('curl -X '))
  const next = curl < 0 ? undefined : lines[curl + 1]?.trim().replace(/ ?\\$/, '')
  const requestUrl = next !== undefined && /^https?:\/\/\S{1,2048}$/.test(next) ? next : null
  // litellm masks the key in its dump only partly (`Bearer dumm*****`): the header goes whole.
  if (opts.verbose) return { message: message.replace(CREDENTIAL_HEADER, '$1[FILTERED]'), requestUrl }
  return { message: lines.map((l) => l.trim()).find((l) => l !== '') ?? '', requestUrl }
}

/**
 * A line of litellm's own logger (`LiteLLM`, JSON or console): its message as litellmMessage
 * keeps it, and the URL it called as `request_url`, which names the model endpoint.
 */
export function litellmLine (message: string, fields: Record<string, Json>, opts: ParseOptions): string {
  const litellm = litellmMessage(message, opts)
  const url = litellm.requestUrl === null ? undefined : keepUrl(litellm.requestUrl, opts.rules)
  if (url !== undefined) fields.request_url = url
  deriveModelEndpoint(fields)
  return litellm.message
}
