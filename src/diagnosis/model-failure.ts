/**
 * What the AI gateway's model call failed on, read from the text the gateway passes on (its
 * chat `error` event, a 421 detail) and from the request's model endpoint. The gateway calls
 * the model through litellm, whose exception names survive in that text
 * (`litellm.NotFoundError: …`, `litellm.Timeout: …`, `litellm.APIConnectionError: …`).
 */
import type { Message } from '../i18n/message.js'
import { type Cause, cause, part, step } from './codes.js'
import type { DiagnosisLine } from './diagnosis.js'

export interface ModelSideCause {
  cause: Cause
  next_steps: DiagnosisLine[]
}

export interface ModelCallContext {
  /** The model endpoint the gateway was given (request body or model_metadata), redacted. */
  endpoint: string | undefined
  /** The proxy has a route on the model hop: the model's own answer is recorded. */
  modelRouted: boolean
}

/** The endpoint lacks /v1: the gateway appends only /chat/completions (api_base, nothing else). */
export function lacksV1 (endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false
  try {
    return !/\/v1\/?$/.test(new URL(endpoint).pathname)
  } catch {
    return false
  }
}

/** `<endpoint>/<path>`, the URL litellm calls (api_base with the trailing slash removed). */
export function endpointUrl (endpoint: string | undefined, path: string): string {
  return endpoint === undefined ? `<model_endpoint>/${path}` : `${endpoint.replace(/\/+$/, '')}/${path}`
}

/** The commands that tell the model-side failures apart, fitted to what the proxy sees. */
export function modelChecks (ctx: ModelCallContext): DiagnosisLine[] {
  return [
    ...(ctx.modelRouted ? [] : [step('route_model_hop_for_answer')]),
    step('read_gateway_litellm_errors'),
    step('list_and_call_model', { models_url: endpointUrl(ctx.endpoint, 'models'), completions_url: endpointUrl(ctx.endpoint, 'chat/completions') })
  ]
}

const FIX_V1 = (endpoint: string): DiagnosisLine => step('set_endpoint_v1_appends', { endpoint: endpoint.replace(/\/+$/, '') })

/**
 * A model-side cause from an error text the gateway passed on; null when it names none. Its
 * `context` parameter is empty: the caller says how the failure arrived (a chat error event).
 */
export function modelFailureFromText (text: string, ctx: ModelCallContext): ModelSideCause | null {
  const t = text
  if (/NotFoundError|\b404\b/i.test(t)) {
    if (/does not exist|not found, try pulling|model[^.]*not found|invalid model|no such model|model_not_found/i.test(t)) {
      return {
        cause: cause('model_not_found_via_gateway', { context: '' }),
        next_steps: [step('list_served_names_identifier', { url: endpointUrl(ctx.endpoint, 'models') })]
      }
    }
    return {
      cause: lacksV1(ctx.endpoint) ? cause('model_endpoint_missing_v1_via_gateway', { context: '' }) : cause('model_endpoint_wrong_via_gateway', { context: '' }),
      next_steps: ctx.endpoint !== undefined && lacksV1(ctx.endpoint) ? [FIX_V1(ctx.endpoint)] : [step('check_endpoint_ends_v1')]
    }
  }
  if (/AuthenticationError|\b401\b|Incorrect API key|invalid_api_key|Unauthorized/i.test(t)) {
    return {
      cause: cause('model_api_key_rejected_via_gateway', { context: '' }),
      next_steps: [step('set_model_api_key_placeholder')]
    }
  }
  if (/Timeout|timed out/i.test(t)) {
    return {
      cause: cause('model_timeout_via_gateway', { context: '' }),
      next_steps: modelTimeoutSteps()
    }
  }
  if (/APIConnectionError|Connection refused|ConnectError|connect(ion)? error|Cannot connect|Name or service not known|nodename nor servname/i.test(t)) {
    return {
      cause: cause('model_server_unreachable_via_gateway', { context: '' }),
      next_steps: [
        step('curl_models_from_gateway', { url: endpointUrl(ctx.endpoint, 'models') }),
        step('check_model_server_listens_firewall')
      ]
    }
  }
  if (/RateLimitError|\b429\b/i.test(t)) {
    return { cause: cause('model_rate_limited_via_gateway', { context: '' }), next_steps: [step('raise_model_server_limits')] }
  }
  if (/InternalServerError|ServiceUnavailable|\b50[0-4]\b/i.test(t)) {
    return { cause: cause('model_server_failed_via_gateway', { context: '' }), next_steps: [step('check_model_server_gpu_logs')] }
  }
  return null
}

/** What to do about a model that does not answer within the gateway's timeout. */
export function modelTimeoutSteps (): DiagnosisLine[] {
  return [step('check_model_server_load'), step('reduce_model_work'), step('raise_duo_chat_model_timeout')]
}

/** "a, or b, or c" of the likely reasons, as one nested message. */
function orList (items: Message[]): Message {
  const [a, b, c] = items
  if (c !== undefined) return part('or_3', { a: a!, b: b!, c })
  if (b !== undefined) return part('or_2', { a: a!, b })
  return a!
}

/** The model-side failures that the gateway turns into a bare 500, and how to tell them apart. */
export function unhandledModelFailure (ctx: ModelCallContext & { identifier: string | undefined }, durationMs: number, timeoutsS: readonly number[]): ModelSideCause {
  const likely: Message[] = []
  const steps: DiagnosisLine[] = []
  // The most likely reason names the cause's code; the others are listed in its text.
  let first: Cause['code'] | null = null
  if (lacksV1(ctx.endpoint)) {
    likely.push(part('likely_missing_v1'))
    steps.push(FIX_V1(ctx.endpoint!))
    first ??= 'gateway_500_missing_v1'
  }
  if (ctx.endpoint !== undefined && ctx.identifier === undefined) {
    // ai_gateway/model_metadata.py to_params: without an identifier the 2025 gateway names no
    // litellm provider, and litellm fails before calling the model ("LLM Provider NOT provided").
    likely.push(part('likely_no_identifier'))
    steps.push(step('set_model_identifier'))
    first ??= 'gateway_500_no_model_identifier'
  }
  // The longest timeout the request outlasted (a retried call takes a multiple of it).
  const nearTimeout = [...timeoutsS].sort((a, b) => b - a).find((t) => durationMs >= t * 980 - 20)
  if (nearTimeout !== undefined) {
    likely.push(part('likely_model_timeout', { timeout_s: nearTimeout }))
    steps.push(...modelTimeoutSteps())
    first ??= 'gateway_500_model_timeout'
  }
  if (first !== null) {
    return {
      cause: { code: first, params: { likely: orList(likely) } },
      next_steps: [...steps, ...modelChecks(ctx)]
    }
  }
  return {
    cause: cause('gateway_500_model_error'),
    next_steps: modelChecks(ctx)
  }
}
