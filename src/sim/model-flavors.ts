/**
 * What tells the three simulated model servers apart on the wire: routes, status codes, error
 * bodies, health answers, model lists and the JSON/SSE shapes of chat completions. Each
 * behaviour names the upstream source file it copies; /tmp/facts/model-servers.md (written
 * with this file) lists the facts with the commits they were read at.
 *
 *   vllm     vllm-project/vllm, the OpenAI-compatible API server (FastAPI on uvicorn)
 *   litellm  BerriAI/litellm, the proxy (litellm/proxy/proxy_server.py, FastAPI on uvicorn)
 *   ollama   ollama/ollama, its OpenAI layer (openai/openai.go, middleware/openai.go) on gin
 *
 * `version` picks between behaviours that changed upstream (see `atLeast` calls).
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { FaultReply } from './fault-plan.js'
import type { CompletionRequest, Usage } from './model-completions.js'

export const MODEL_SERVER_FLAVORS = ['vllm', 'litellm', 'ollama'] as const
export type ModelServerFlavor = typeof MODEL_SERVER_FLAVORS[number]

/**
 * Simulated upstream versions. vLLM 0.10.0 is the last release with the flat ErrorResponse
 * this simulator always served; Ollama 0.33 is the source read; LiteLLM only reports its.
 */
export const DEFAULT_SERVER_VERSIONS: Record<ModelServerFlavor, string> = { vllm: '0.10.0', litellm: '1.80.0', ollama: '0.33.0' }

/** The ports the real servers listen on by default (vllm serve, litellm --port, OLLAMA_HOST). */
export const DEFAULT_PORTS: Record<ModelServerFlavor, number> = { vllm: 8000, litellm: 4000, ollama: 11434 }

export function isModelServerFlavor (value: unknown): value is ModelServerFlavor {
  return typeof value === 'string' && (MODEL_SERVER_FLAVORS as readonly string[]).includes(value)
}

/** A complete non-streamed answer. */
export interface Reply {
  status: number
  headers: Record<string, string>
  body: string
}

export type Endpoint =
  | { kind: 'chat' | 'completions', pathModel?: string }
  | { kind: 'models' }
  | { kind: 'model', id: string }
  | { kind: 'health' | 'liveness' | 'readiness' | 'root' | 'version' }

/** A route lookup: the endpoint, or the methods the path allows when the method is wrong. */
export interface RouteMatch {
  endpoint?: Endpoint
  allowed?: string[]
}

/** Per-response identity, fixed before the first byte. */
export interface AnswerMeta {
  id: string
  created: number
  model: string
}

export interface Rendered {
  contentType: string
  body: string
}

export interface StreamPlan {
  headers: Record<string, string>
  /** Complete SSE frames (`data: ...\n\n`), in order. */
  frames: string[]
}

export interface AnswerParts {
  request: CompletionRequest
  pieces: string[]
  finishReason: 'stop' | 'length'
  usage: Usage
  /** x-sim-fault truncate: leave out the terminal parts (finish reason, usage, [DONE]). */
  truncate: boolean
}

export interface Flavor {
  readonly name: ModelServerFlavor
  readonly version: string
  /** `server` response header; undefined when the real server sends none. */
  readonly serverHeader?: string
  match (method: string, pathname: string): RouteMatch
  /** Whether a request needs the API key (when one is configured); decided before 404/405 for vLLM. */
  needsKey (pathname: string, match: RouteMatch): boolean
  /** The rejection for a missing or wrong key, or undefined when `authorization` carries `apiKey`. */
  checkKey (authorization: string | undefined, apiKey: string): Reply | undefined
  notFound (): Reply
  methodNotAllowed (allowed: string[]): Reply
  statusReply (code: number): FaultReply
  invalidJson (message: string, chat: boolean): Reply
  missingPrompt (chat: boolean, body: Record<string, unknown>): Reply | undefined
  /** The reply to a request without a model, or undefined to use the first served model. */
  missingModel (chat: boolean): Reply | undefined
  /** The served model a requested name selects, or undefined. */
  resolveModel (requested: string, served: string[]): string | undefined
  unknownModel (requested: string, chat: boolean): Reply
  /** Headers on every completion answer and its errors (LiteLLM's x-litellm-*), set before answering. */
  answerHeaders (): Record<string, string>
  simple (endpoint: Endpoint, models: string[]): Reply
  newMeta (chat: boolean, requested: string, resolved: string, served: string[]): AnswerMeta
  whole (meta: AnswerMeta, parts: AnswerParts): Rendered
  stream (meta: AnswerMeta, parts: AnswerParts): StreamPlan
}

export function createFlavor (name: ModelServerFlavor, version?: string): Flavor {
  const v = version ?? DEFAULT_SERVER_VERSIONS[name]
  switch (name) {
    case 'vllm': return new VllmFlavor(v)
    case 'litellm': return new LitellmFlavor(v)
    case 'ollama': return new OllamaFlavor(v)
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** "1.2.3" >= "1.2.0"; missing or non-numeric parts count as 0. */
export function atLeast (version: string, min: string): boolean {
  const parse = (s: string): number[] => s.replace(/^v/, '').split(/[.+-]/).slice(0, 3).map((p) => Number.parseInt(p, 10) || 0)
  const a = parse(version)
  const b = parse(min)
  for (let i = 0; i < 3; i += 1) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d > 0
  }
  return true
}

function json (status: number, payload: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(payload) }
}

function now (): number {
  return Math.floor(Date.now() / 1000)
}

function sse (payload: string): string {
  return `data: ${payload}\n\n`
}

/**
 * Python's repr() of a str (single quotes unless the text has ' and no "), as
 * str({'error': ...}) produces it in LiteLLM's error messages.
 */
export function pythonRepr (text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'"
  let out = quote
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0
    if (ch === '\\') out += '\\\\'
    else if (ch === quote) out += `\\${quote}`
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`
    else out += ch
  }
  return out + quote
}

/**
 * Go's encoding/json output: JSON.stringify plus the HTML-safe escapes json.Marshal and
 * json.Encoder apply by default (<, >, & and U+2028/U+2029 as \u00XX).
 */
export function goJson (value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Starlette's default answers (starlette/routing.py not_found, fastapi/exception_handlers.py). */
function starletteNotFound (): Reply {
  return json(404, { detail: 'Not Found' })
}

function starletteMethodNotAllowed (allowed: string[]): Reply {
  return json(405, { detail: 'Method Not Allowed' }, { allow: allowed.join(', ') })
}

/** Starlette adds HEAD to every GET route (starlette/routing.py Route.__init__). */
function starletteAllowed (method: string, routeMethods: string[]): boolean {
  return routeMethods.includes(method) || (method === 'HEAD' && routeMethods.includes('GET'))
}

// ---------------------------------------------------------------------------------------------
// vLLM

const VLLM_ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  403: 'PermissionDeniedError',
  404: 'NotFoundError',
  408: 'RequestTimeoutError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  502: 'BadGatewayError',
  503: 'ServiceUnavailableError',
  504: 'GatewayTimeoutError'
}

class VllmFlavor implements Flavor {
  readonly name = 'vllm'
  // uvicorn sets `server: uvicorn` (uvicorn/protocols/http/*: server_header on by default).
  readonly serverHeader = 'uvicorn'

  constructor (readonly version: string) {}

  /** ErrorResponse: flat before v0.10.1, {"error": ErrorInfo} since (vllm PR #22099). */
  private error (status: number, message: string, type: string): Reply {
    // vllm/entrypoints/openai/serving_engine.py create_error_response; protocol.py ErrorResponse
    const info = { message, type, param: null, code: status }
    return json(status, atLeast(this.version, '0.10.1') ? { error: info } : { object: 'error', ...info })
  }

  match (method: string, pathname: string): RouteMatch {
    // vllm/entrypoints/openai/api_server.py (router: /health, /version, /v1/models,
    // /v1/chat/completions, /v1/completions); no route without the /v1 prefix.
    const routes: Record<string, [string[], Endpoint]> = {
      '/health': [['GET'], { kind: 'health' }],
      '/version': [['GET'], { kind: 'version' }],
      '/v1/models': [['GET'], { kind: 'models' }],
      '/v1/chat/completions': [['POST'], { kind: 'chat' }],
      '/v1/completions': [['POST'], { kind: 'completions' }]
    }
    const route = routes[pathname]
    if (route === undefined) return {}
    const [methods, endpoint] = route
    return starletteAllowed(method, methods) ? { endpoint } : { allowed: methods.includes('GET') ? ['GET', 'HEAD'] : methods }
  }

  needsKey (pathname: string): boolean {
    // AuthenticationMiddleware runs before routing and guards every path under /v1
    // (vllm/entrypoints/openai/api_server.py; server_utils.py GUARDED_PREFIX adds /v2, /inference).
    return /^\/(v1|v2|inference)(\/|$)/.test(pathname)
  }

  checkKey (authorization: string | undefined, apiKey: string): Reply | undefined {
    // vllm/entrypoints/openai/server_utils.py AuthenticationMiddleware.verify_token (the
    // scheme compared case-insensitively; older api_server.py compared "Bearer " + key).
    const [scheme = '', ...rest] = (authorization ?? '').split(' ')
    if (authorization !== undefined && scheme.toLowerCase() === 'bearer' && rest.join(' ') === apiKey) return undefined
    return json(401, { error: 'Unauthorized' })
  }

  notFound (): Reply {
    return starletteNotFound()
  }

  methodNotAllowed (allowed: string[]): Reply {
    return starletteMethodNotAllowed(allowed)
  }

  statusReply (code: number): FaultReply {
    const type = VLLM_ERROR_TYPES[code] ?? (code >= 500 ? 'InternalServerError' : 'BadRequestError')
    return { body: JSON.parse(this.error(code, STATUS_CODES[code] ?? 'Error', type).body) as unknown }
  }

  invalidJson (message: string): Reply {
    // api_server.py validation_exception_handler: create_error_response(str(exc)), 400.
    return this.error(400, message, 'BadRequestError')
  }

  missingPrompt (chat: boolean, body: Record<string, unknown>): Reply | undefined {
    const field = chat ? 'messages' : 'prompt'
    if (chat ? Array.isArray(body.messages) : body.prompt !== undefined) return undefined
    return this.error(400, `${field}: Field required`, 'BadRequestError')
  }

  missingModel (): undefined {
    // protocol.py ChatCompletionRequest.model: Optional[str] = None; serving_engine.py
    // _is_model_supported treats no model as the served one.
    return undefined
  }

  resolveModel (requested: string, served: string[]): string | undefined {
    return served.includes(requested) ? requested : undefined
  }

  unknownModel (requested: string): Reply {
    // vllm/entrypoints/openai/serving_engine.py _check_model
    return this.error(404, `The model \`${requested}\` does not exist.`, 'NotFoundError')
  }

  answerHeaders (): Record<string, string> {
    return {}
  }

  simple (endpoint: Endpoint, models: string[]): Reply {
    switch (endpoint.kind) {
      // api_server.py health(): Response(status_code=200), an empty body without content-type.
      case 'health': return { status: 200, headers: { 'content-length': '0' }, body: '' }
      // api_server.py show_version(): {"version": VLLM_VERSION}
      case 'version': return json(200, { version: this.version })
      case 'models': return json(200, this.modelList(models))
      default: return this.notFound()
    }
  }

  /** serving_models.py show_available_models: ModelCard per served name, root = the model path. */
  private modelList (models: string[]): unknown {
    const created = now()
    return {
      object: 'list',
      data: models.map((id) => ({
        id,
        object: 'model',
        created,
        owned_by: 'vllm',
        root: models[0] ?? id,
        parent: null,
        max_model_len: 32768,
        permission: [{
          // protocol.py ModelPermission defaults
          id: `modelperm-${randomBytes(16).toString('hex')}`,
          object: 'model_permission',
          created,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: '*',
          group: null,
          is_blocking: false
        }]
      }))
    }
  }

  newMeta (chat: boolean, _requested: string, resolved: string, served: string[]): AnswerMeta {
    // serving_chat.py: request_id = f"chatcmpl-{random_uuid()}" (uuid4 hex); model_name is
    // the first served name (serving_models.py model_name()) whatever alias was asked for.
    return { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(16).toString('hex')}`, created: now(), model: served[0] ?? resolved }
  }

  whole (meta: AnswerMeta, parts: AnswerParts): Rendered {
    const text = parts.pieces.join('')
    const { usage } = parts
    // protocol.py UsageInfo field order: prompt_tokens, total_tokens, completion_tokens, details
    const usageInfo = { prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens, completion_tokens: usage.completion_tokens, prompt_tokens_details: null }
    if (!parts.request.chat) {
      return {
        contentType: 'application/json',
        body: JSON.stringify({ ...base(meta, 'text_completion'), choices: [{ index: 0, text, logprobs: null, finish_reason: parts.finishReason, stop_reason: null }], usage: usageInfo })
      }
    }
    // serving_chat.py chat_completion_full_generator -> JSONResponse(model_dump()):
    // every field of ChatCompletionResponse, nulls included.
    return {
      contentType: 'application/json',
      body: JSON.stringify({
        ...base(meta, 'chat.completion'),
        choices: [{
          index: 0,
          message: { role: 'assistant', reasoning_content: null, content: text, tool_calls: [] },
          logprobs: null,
          finish_reason: parts.finishReason,
          stop_reason: null
        }],
        usage: usageInfo,
        prompt_logprobs: null,
        kv_transfer_params: null
      })
    }
  }

  stream (meta: AnswerMeta, parts: AnswerParts): StreamPlan {
    const { request, pieces, truncate } = parts
    const frames: string[] = []
    const head = base(meta, request.chat ? 'chat.completion.chunk' : 'text_completion')
    // Chunks are model_dump_json(exclude_unset=True): only the fields the code sets.
    if (request.chat) {
      // serving_chat.py chat_completion_stream_generator: the first chunk carries the role
      // and an empty content, then one chunk per output, the last with finish_reason and
      // stop_reason.
      frames.push(sse(JSON.stringify({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] })))
    }
    const sent = pieces.length > 0 ? pieces : ['']
    for (const [i, piece] of sent.entries()) {
      const last = i === sent.length - 1 && !truncate
      const delta = request.chat ? { delta: { content: piece } } : { text: piece }
      const choice = last
        ? { index: 0, ...delta, logprobs: null, finish_reason: parts.finishReason, stop_reason: null }
        : { index: 0, ...delta, logprobs: null, finish_reason: null }
      frames.push(sse(JSON.stringify({ ...head, choices: [choice] })))
    }
    if (!truncate) {
      // Only with stream_options.include_usage (serving_chat.py should_include_usage); the
      // usage chunk is dumped with exclude_none, so no prompt_tokens_details.
      if (request.includeUsage) {
        const { usage } = parts
        frames.push(sse(JSON.stringify({ ...head, choices: [], usage: { prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens, completion_tokens: usage.completion_tokens } })))
      }
      frames.push(sse('[DONE]'))
    }
    // StreamingResponse(media_type="text/event-stream"): Starlette appends the charset.
    return { headers: { 'content-type': 'text/event-stream; charset=utf-8' }, frames }
  }
}

function base (meta: AnswerMeta, object: string): { id: string, object: string, created: number, model: string } {
  return { id: meta.id, object, created: meta.created, model: meta.model }
}

// ---------------------------------------------------------------------------------------------
// LiteLLM proxy

/** litellm/constants.py DEFAULT_MODEL_CREATED_AT_TIME, the `created` of every /v1/models entry. */
const LITELLM_MODEL_CREATED = 1677610602

const LITELLM_ERROR_CLASSES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  403: 'PermissionDeniedError',
  404: 'NotFoundError',
  408: 'Timeout',
  422: 'UnprocessableEntityError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError'
}

class LitellmFlavor implements Flavor {
  readonly name = 'litellm'
  readonly serverHeader = 'uvicorn'

  constructor (readonly version: string) {}

  /**
   * ProxyException as the proxy's exception handler renders it: {"error": to_dict()}, the
   * status from `code`, and `code` itself a string (litellm/proxy/_types.py ProxyException,
   * proxy_server.py openai_exception_handler).
   */
  private proxyError (status: number, message: string, type: string, param: string | null, headers: Record<string, string> = {}): Reply {
    return json(status, { error: { message, type, param, code: String(status) } }, headers)
  }

  match (method: string, pathname: string): RouteMatch {
    // litellm/proxy/proxy_server.py: chat_completion and completion are mounted with and
    // without /v1, plus the Azure-style paths that carry the model; model_list on /v1/models
    // and /models; health_endpoints/_health_endpoints.py; the Swagger UI on / (docs_url).
    const engine = /^\/(?:engines|openai\/deployments)\/(.+?)\/(chat\/completions|completions)$/.exec(pathname)
    let methods: string[]
    let endpoint: Endpoint
    if (engine !== null) {
      methods = ['POST']
      endpoint = { kind: engine[2] === 'completions' ? 'completions' : 'chat', pathModel: engine[1] }
    } else {
      const routes: Record<string, [string[], Endpoint]> = {
        '/v1/chat/completions': [['POST'], { kind: 'chat' }],
        '/chat/completions': [['POST'], { kind: 'chat' }],
        '/v1/completions': [['POST'], { kind: 'completions' }],
        '/completions': [['POST'], { kind: 'completions' }],
        '/v1/models': [['GET'], { kind: 'models' }],
        '/models': [['GET'], { kind: 'models' }],
        '/health/liveliness': [['GET', 'OPTIONS'], { kind: 'liveness' }],
        '/health/liveness': [['GET', 'OPTIONS'], { kind: 'liveness' }],
        '/health/readiness': [['GET', 'OPTIONS'], { kind: 'readiness' }],
        '/': [['GET'], { kind: 'root' }]
      }
      const route = routes[pathname]
      if (route === undefined) return {}
      ;[methods, endpoint] = route
    }
    return starletteAllowed(method, methods) ? { endpoint } : { allowed: methods.includes('GET') ? [...methods, 'HEAD'] : methods }
  }

  needsKey (_pathname: string, match: RouteMatch): boolean {
    // user_api_key_auth is a route dependency, so unknown paths 404 and wrong methods 405
    // first; /health/liveliness, /health/readiness and / are public routes
    // (litellm/proxy/_types.py LiteLLMRoutes.public_routes).
    const kind = match.endpoint?.kind
    return kind !== undefined && !['liveness', 'readiness', 'root'].includes(kind)
  }

  checkKey (authorization: string | undefined, apiKey: string): Reply | undefined {
    // litellm/proxy/auth/user_api_key_auth.py: no header -> "No api key passed in.", a header
    // without the Bearer scheme -> "" -> "Malformed API Key ...", both raised as Exception and
    // wrapped by auth/auth_exception_handler.py as 401 auth_error "Authentication Error, ...".
    if (authorization === undefined) {
      return this.proxyError(401, 'Authentication Error, No api key passed in.', 'auth_error', 'None')
    }
    const bearer = /^[Bb]earer (.*)$/.exec(authorization)
    const key = bearer?.[1] ?? ''
    if (key === '') {
      return this.proxyError(401, 'Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.', 'auth_error', 'None')
    }
    if (key === apiKey) return undefined
    // Not the master key and no database to look virtual keys up in (the GitLab docs' setup):
    // ProxyException("No connected db.", no_db_connection, code=400), re-raised unchanged.
    return this.proxyError(400, 'No connected db.', 'no_db_connection', null)
  }

  notFound (): Reply {
    return starletteNotFound()
  }

  methodNotAllowed (allowed: string[]): Reply {
    return starletteMethodNotAllowed(allowed)
  }

  statusReply (code: number): FaultReply {
    // An upstream error mapped by litellm (litellm/exceptions.py classes, "litellm.X: ...")
    // and re-raised by common_request_processing.py _handle_llm_api_exception.
    const cls = LITELLM_ERROR_CLASSES[code] ?? (code >= 500 ? 'InternalServerError' : 'BadRequestError')
    const reply = this.proxyError(code, `litellm.${cls}: ${STATUS_CODES[code] ?? 'Error'}`, 'None', 'None')
    return { body: JSON.parse(reply.body) as unknown, headers: this.answerHeaders() }
  }

  invalidJson (_message: string, chat: boolean): Reply {
    // common_utils/http_parsing_utils.py _read_request_body answers {} for a body it cannot
    // parse; the request then fails like one without messages.
    return this.missingPrompt(chat, {}) ?? this.notFound()
  }

  missingPrompt (chat: boolean, body: Record<string, unknown>): Reply | undefined {
    // route_llm_request.py ProxyMissingRequiredParamError (REQUIRED_BODY_PARAMS_BY_ROUTE).
    const [route, param] = chat ? ['/chat/completions', 'messages'] : ['/completions', 'prompt']
    if (chat ? body.messages !== undefined && body.messages !== null : body.prompt !== undefined) return undefined
    return this.proxyError(400, `${route}: Missing required parameter: '${param}'.`, 'invalid_request_error', param)
  }

  missingModel (chat: boolean): Reply {
    const route = chat ? '/chat/completions' : '/completions'
    return this.proxyError(400, `${route}: Missing required parameter: 'model'.`, 'invalid_request_error', 'model')
  }

  resolveModel (requested: string, served: string[]): string | undefined {
    return served.includes(requested) ? requested : undefined
  }

  unknownModel (requested: string, chat: boolean): Reply {
    // route_llm_request.py ProxyModelNotFoundError: HTTPException(400, detail={"error": ...}),
    // turned into ProxyException(message=detail) by _handle_llm_api_exception, so the message
    // is str() of the dict (a Python repr) and type/param are the string "None".
    const route = chat ? '/chat/completions' : '/completions'
    const detail = `${route}: Invalid model name passed in model=${requested}. Call \`/v1/models\` to view available models for your key.`
    return this.proxyError(400, `{'error': ${pythonRepr(detail)}}`, 'None', 'None')
  }

  answerHeaders (): Record<string, string> {
    // common_request_processing.py get_custom_headers (the ones set without a database).
    return { 'x-litellm-call-id': randomUUID(), 'x-litellm-version': this.version }
  }

  simple (endpoint: Endpoint, models: string[]): Reply {
    switch (endpoint.kind) {
      // health_endpoints/_health_endpoints.py health_liveliness: return "I'm alive!" (JSON)
      case 'liveness': return json(200, "I'm alive!")
      // health_readiness without a database (prisma_client None)
      case 'readiness': return json(200, {
        status: 'healthy',
        db: 'Not connected',
        cache: null,
        litellm_version: this.version,
        success_callbacks: [],
        use_aiohttp_transport: true,
        log_level: 'WARNING',
        is_detailed_debug: false
      })
      // proxy_server.py model_list: dict(data=[...], object="list")
      case 'models': return json(200, {
        data: models.map((id) => ({ id, object: 'model', created: LITELLM_MODEL_CREATED, owned_by: 'openai' })),
        object: 'list'
      })
      // FastAPI(docs_url="/"): the Swagger UI page (here a stub of it).
      case 'root': return {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: '<!DOCTYPE html>\n<html>\n<head>\n<title>LiteLLM API - Swagger UI</title>\n</head>\n<body>\n<div id="swagger-ui"></div>\n</body>\n</html>'
      }
      default: return this.notFound()
    }
  }

  newMeta (chat: boolean, requested: string): AnswerMeta {
    // litellm/utils.py _generate_id(): "chatcmpl-" + str(uuid.uuid4()) when the backend's
    // answer carries no id of its own.
    return { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`, created: now(), model: requested }
  }

  whole (meta: AnswerMeta, parts: AnswerParts): Rendered {
    const text = parts.pieces.join('')
    const { usage } = parts
    // ModelResponse field order (litellm/types/utils.py): id, created, model, object,
    // system_fingerprint, choices, usage; Choices: finish_reason, index, message.
    const head = { id: meta.id, created: meta.created, model: meta.model, object: parts.request.chat ? 'chat.completion' : 'text_completion', system_fingerprint: null }
    const choice = parts.request.chat
      ? { finish_reason: parts.finishReason, index: 0, message: { content: text, role: 'assistant', tool_calls: null, function_call: null } }
      : { finish_reason: parts.finishReason, index: 0, text, logprobs: null }
    return {
      contentType: 'application/json',
      body: JSON.stringify({ ...head, choices: [choice], usage: { completion_tokens: usage.completion_tokens, prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens } })
    }
  }

  stream (meta: AnswerMeta, parts: AnswerParts): StreamPlan {
    const { request, pieces, truncate } = parts
    // proxy_server.py async_data_generator: chunk.model_dump_json(exclude_none=True,
    // exclude_unset=True) per ModelResponseStream, then "data: [DONE]". The role is only on
    // the first delta (streaming_handler.py CustomStreamWrapper), finish_reason comes in its
    // own chunk with an empty delta.
    const head = { id: meta.id, created: meta.created, model: meta.model, object: request.chat ? 'chat.completion.chunk' : 'text_completion' }
    const frames: string[] = []
    for (const [i, piece] of pieces.entries()) {
      const choice = request.chat
        ? { index: 0, delta: i === 0 ? { content: piece, role: 'assistant' } : { content: piece } }
        : { index: 0, text: piece }
      frames.push(sse(JSON.stringify({ ...head, choices: [choice] })))
    }
    if (!truncate) {
      const empty = request.chat ? { index: 0, delta: {} } : { index: 0, text: '' }
      frames.push(sse(JSON.stringify({ ...head, choices: [{ finish_reason: parts.finishReason, ...empty }] })))
      if (request.includeUsage) {
        // The synthetic usage chunk keeps a choice with an empty delta (litellm issues #8450,
        // #28735: not OpenAI's choices: []).
        const { usage } = parts
        frames.push(sse(JSON.stringify({ ...head, choices: [empty], usage: { completion_tokens: usage.completion_tokens, prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens } })))
      }
      frames.push(sse('[DONE]'))
    }
    return { headers: { 'content-type': 'text/event-stream; charset=utf-8' }, frames }
  }
}

// ---------------------------------------------------------------------------------------------
// Ollama

interface OllamaName {
  namespace: string
  /** Model name with its tag, e.g. "mistral:latest". */
  display: string
}

/** types/model/name.go ParseName: default host/namespace "library", default tag "latest". */
function ollamaName (name: string): OllamaName {
  const parts = name.split('/')
  const last = parts.at(-1) ?? name
  const namespace = parts.length >= 2 ? parts.at(-2) ?? 'library' : 'library'
  const display = last.includes(':') ? name : `${name}:latest`
  return { namespace, display }
}

class OllamaFlavor implements Flavor {
  readonly name = 'ollama'
  // Go's net/http sends no Server header.
  readonly serverHeader = undefined
  private readonly started = now()

  constructor (readonly version: string) {}

  /** openai/openai.go NewError, written by middleware/openai.go BaseWriter.writeError (json.Encoder: trailing newline). */
  private error (status: number, message: string): Reply {
    const type = status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error'
    return { status, headers: { 'content-type': 'application/json' }, body: goJson({ error: { message, type, param: null, code: null } }) + '\n' }
  }

  private plain (status: number, text: string, headers: Record<string, string> = {}): Reply {
    return { status, headers: { ...headers, 'content-type': 'text/plain' }, body: text }
  }

  match (method: string, pathname: string): RouteMatch {
    // server/routes.go GenerateRoutes (gin): HEAD and GET registered separately.
    const model = /^\/v1\/models\/(.+)$/.exec(pathname)
    const routes: Record<string, [string[], Endpoint]> = {
      '/': [['HEAD', 'GET'], { kind: 'root' }],
      '/api/version': [['HEAD', 'GET'], { kind: 'version' }],
      '/v1/chat/completions': [['POST'], { kind: 'chat' }],
      '/v1/completions': [['POST'], { kind: 'completions' }],
      '/v1/models': [['GET'], { kind: 'models' }]
    }
    const route = model !== null ? [['GET'], { kind: 'model', id: decodeURIComponent(model[1] ?? '') }] as [string[], Endpoint] : routes[pathname]
    if (route === undefined) return {}
    const [methods, endpoint] = route
    return methods.includes(method) ? { endpoint } : { allowed: methods }
  }

  needsKey (): boolean {
    // Ollama has no API keys: the Authorization header is never looked at.
    return false
  }

  checkKey (): undefined {
    return undefined
  }

  notFound (): Reply {
    // gin (gin.go serveError with default404Body, mimePlain); routes.go sets no NoRoute.
    return this.plain(404, '404 page not found')
  }

  methodNotAllowed (allowed: string[]): Reply {
    // routes.go: r.HandleMethodNotAllowed = true -> gin default405Body with an Allow header.
    return this.plain(405, '405 method not allowed', { allow: allowed.join(', ') })
  }

  statusReply (code: number): FaultReply {
    const reply = this.error(code, STATUS_CODES[code] ?? 'Error')
    return { body: JSON.parse(reply.body) as unknown }
  }

  invalidJson (message: string): Reply {
    // middleware/openai.go ChatMiddleware: ShouldBindJSON error -> NewError(400, err.Error())
    return this.error(400, message)
  }

  missingPrompt (chat: boolean, body: Record<string, unknown>): Reply | undefined {
    // middleware/openai.go ChatMiddleware: len(req.Messages) == 0
    if (!chat) return undefined
    return Array.isArray(body.messages) && body.messages.length > 0 ? undefined : this.error(400, "[] is too short - 'messages'")
  }

  missingModel (): Reply {
    // server/routes.go ChatHandler: parseAndValidateModelRef -> "model is required"
    return this.error(400, 'model is required')
  }

  resolveModel (requested: string, served: string[]): string | undefined {
    // server/routes.go getExistingName: names are matched case-insensitively, tag "latest" implied.
    const want = ollamaName(requested).display.toLowerCase()
    return served.find((m) => ollamaName(m).display.toLowerCase() === want)
  }

  unknownModel (requested: string): Reply {
    // v0.12.0 moved GetModel ahead of scheduling in server/routes.go ChatHandler:
    // "model 'x' not found"; before, handleScheduleError said "model %q not found, try pulling it first".
    return atLeast(this.version, '0.12.0')
      ? this.error(404, `model '${requested}' not found`)
      : this.error(404, `model ${JSON.stringify(requested)} not found, try pulling it first`)
  }

  answerHeaders (): Record<string, string> {
    return {}
  }

  simple (endpoint: Endpoint, models: string[]): Reply {
    switch (endpoint.kind) {
      // routes.go: c.String(http.StatusOK, "Ollama is running")
      case 'root': return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Ollama is running' }
      // routes.go: c.JSON(http.StatusOK, gin.H{"version": version.Version})
      case 'version': return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: goJson({ version: this.version }) }
      // openai/openai.go ToListCompletion via middleware/openai.go ListWriter
      case 'models': return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: goJson({ object: 'list', data: models.length === 0 ? null : models.map((m) => this.model(m)) }) + '\n'
      }
      case 'model': {
        // RetrieveMiddleware + ShowHandler: 404 "model 'x' not found" for an unknown name.
        const found = this.resolveModel(endpoint.id, models)
        if (found === undefined) return this.error(404, `model '${endpoint.id}' not found`)
        return { status: 200, headers: { 'content-type': 'application/json' }, body: goJson({ ...this.model(found), id: endpoint.id }) + '\n' }
      }
      default: return this.notFound()
    }
  }

  private model (name: string): Record<string, unknown> {
    const parsed = ollamaName(name)
    return { id: parsed.display, object: 'model', created: this.started, owned_by: parsed.namespace }
  }

  newMeta (chat: boolean, requested: string): AnswerMeta {
    // middleware/openai.go: fmt.Sprintf("chatcmpl-%d", rand.Intn(999)) ("cmpl-%d" for
    // completions); the model is the request's name as sent (routes.go Model: req.Model).
    return { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomInt(999)}`, created: now(), model: requested }
  }

  whole (meta: AnswerMeta, parts: AnswerParts): Rendered {
    const text = parts.pieces.join('')
    const { usage } = parts
    const usageOut = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens }
    // openai/openai.go ToChatCompletion / ToCompletion, json.Encoder (trailing newline).
    const body = parts.request.chat
      ? { id: meta.id, object: 'chat.completion', created: meta.created, model: meta.model, system_fingerprint: 'fp_ollama', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: parts.finishReason }], usage: usageOut }
      : { id: meta.id, object: 'text_completion', created: meta.created, model: meta.model, system_fingerprint: 'fp_ollama', choices: [{ text, index: 0, finish_reason: parts.finishReason }], usage: usageOut }
    return { contentType: 'application/json', body: goJson(body) + '\n' }
  }

  stream (meta: AnswerMeta, parts: AnswerParts): StreamPlan {
    const frames = parts.request.chat ? this.chatFrames(meta, parts) : this.completionFrames(meta, parts)
    // middleware/openai.go: Header().Set("Content-Type", "text/event-stream"), nothing else.
    return { headers: { 'content-type': 'text/event-stream' }, frames }
  }

  private chatFrames (meta: AnswerMeta, parts: AnswerParts): string[] {
    const { pieces, truncate, usage } = parts
    const usageOut = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens }
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      sse(goJson({ id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, system_fingerprint: 'fp_ollama', choices, ...extra }))
    const frames: string[] = []
    if (atLeast(this.version, '0.32.6')) {
      // openai/openai.go ToStreamChunks + FinishChunk, middleware/openai.go ChatWriter (since
      // v0.32.6, #17485): role only on the first delta, one `created` for the stream, the
      // finish reason in its own chunk with an empty delta, the Done trailer not echoed.
      for (const [i, piece] of pieces.entries()) {
        frames.push(chunk([{ index: 0, delta: i === 0 ? { role: 'assistant', content: piece } : { content: piece }, finish_reason: null }]))
      }
      if (pieces.length === 0) frames.push(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]))
      if (truncate) return frames
      frames.push(chunk([{ index: 0, delta: {}, finish_reason: parts.finishReason }]))
    } else {
      // Before v0.32.6 (openai/openai.go toChunk): every delta is a full Message with
      // role "assistant"; the Done response (empty content) carries the finish reason.
      for (const piece of pieces) frames.push(chunk([{ index: 0, delta: { role: 'assistant', content: piece }, finish_reason: null }]))
      if (truncate) return frames
      frames.push(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: parts.finishReason }]))
    }
    // The usage chunk repeats the last chunk with choices [] (only with include_usage).
    if (parts.request.includeUsage) frames.push(chunk([], { usage: usageOut }))
    frames.push(sse('[DONE]'))
    return frames
  }

  private completionFrames (meta: AnswerMeta, parts: AnswerParts): string[] {
    const { pieces, truncate, usage, request } = parts
    // openai/openai.go ToCompleteChunk; middleware/openai.go CompleteWriter puts an all-zero
    // usage on every chunk when include_usage is set.
    const zero = request.includeUsage ? { usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } } : {}
    const chunk = (choices: unknown[], extra: Record<string, unknown>): string =>
      sse(goJson({ id: meta.id, object: 'text_completion', created: meta.created, choices, model: meta.model, system_fingerprint: 'fp_ollama', ...extra }))
    const frames = pieces.map((piece) => chunk([{ text: piece, index: 0, finish_reason: null }], zero))
    if (truncate) return frames
    frames.push(chunk([{ text: '', index: 0, finish_reason: parts.finishReason }], zero))
    if (request.includeUsage) {
      frames.push(chunk([], { usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens } }))
    }
    frames.push(sse('[DONE]'))
    return frames
  }
}
