/**
 * What the AI gateway's model call failed on, read from the text the gateway passes on (its
 * chat `error` event, a 421 detail) and from the request's model endpoint. The gateway calls
 * the model through litellm, whose exception names survive in that text
 * (`litellm.NotFoundError: …`, `litellm.Timeout: …`, `litellm.APIConnectionError: …`).
 */

export interface ModelSideCause {
  cause: string
  next_steps: string[]
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
export function modelChecks (ctx: ModelCallContext): string[] {
  return [
    ...(ctx.modelRouted ? [] : ['Route the model endpoint through this proxy to see the model\'s own answer: start it with --route model=0.0.0.0:5054=<model server URL> and set the model endpoint in GitLab to http://<proxy-host>:5054/v1.']),
    'Read the gateway\'s own error: docker logs <ai-gateway-container> 2>&1 | grep -iE "litellm|NotFoundError|AuthenticationError|Timeout|APIConnectionError" | tail -n 20.',
    `From the gateway container, list the served model names: curl ${endpointUrl(ctx.endpoint, 'models')}; and call the model as the gateway does: curl ${endpointUrl(ctx.endpoint, 'chat/completions')} -H 'Content-Type: application/json' -d '{"model":"<served name>","messages":[{"role":"user","content":"hi"}]}'.`
  ]
}

const FIX_V1 = (endpoint: string): string => `Set the model endpoint in GitLab to ${endpoint.replace(/\/+$/, '')}/v1: the gateway appends only /chat/completions, so /v1 must be part of the endpoint.`

/** A model-side cause from an error text the gateway passed on; null when it names none. */
export function modelFailureFromText (text: string, ctx: ModelCallContext): ModelSideCause | null {
  const t = text
  if (/NotFoundError|\b404\b/i.test(t)) {
    if (/does not exist|not found, try pulling|model[^.]*not found|invalid model|no such model|model_not_found/i.test(t)) {
      return {
        cause: 'The model server does not serve the model name the gateway asked for: the model identifier configured in GitLab differs from the served name.',
        next_steps: [`List the served names: curl ${endpointUrl(ctx.endpoint, 'models')}; set the self-hosted model's identifier in GitLab to one of them (custom_openai/<served name>).`]
      }
    }
    return {
      cause: lacksV1(ctx.endpoint) ? 'The model endpoint URL lacks the /v1 suffix: the model server answered 404.' : 'The model server answered 404 at the endpoint\'s /chat/completions: the model endpoint URL is wrong (most often it lacks /v1).',
      next_steps: ctx.endpoint !== undefined && lacksV1(ctx.endpoint) ? [FIX_V1(ctx.endpoint)] : ['Check the model endpoint URL in GitLab: it must be the OpenAI API base, ending in /v1 (e.g. http://vllm:8000/v1).']
    }
  }
  if (/AuthenticationError|\b401\b|Incorrect API key|invalid_api_key|Unauthorized/i.test(t)) {
    return {
      cause: 'The model server rejected the API key the gateway sent (the self-hosted model\'s API key in GitLab).',
      next_steps: ['Set the self-hosted model\'s API key in GitLab to one the model server accepts (vLLM --api-key, the LiteLLM proxy\'s keys); with no key the gateway still sends a placeholder.']
    }
  }
  if (/Timeout|timed out/i.test(t)) {
    return {
      cause: 'The model did not answer within the AI gateway\'s model timeout (litellm\'s, 30 s for chat and code).',
      next_steps: MODEL_TIMEOUT_STEPS
    }
  }
  if (/APIConnectionError|Connection refused|ConnectError|connect(ion)? error|Cannot connect|Name or service not known|nodename nor servname/i.test(t)) {
    return {
      cause: 'The gateway could not connect to the model server at the model endpoint.',
      next_steps: [
        `From the gateway container: curl ${endpointUrl(ctx.endpoint, 'models')}; a localhost endpoint is the gateway container itself, not the model server.`,
        'Check the model server runs and listens on that address, and firewalls between the gateway and it.'
      ]
    }
  }
  if (/RateLimitError|\b429\b/i.test(t)) {
    return { cause: 'The model server rate-limited the gateway.', next_steps: ['Raise the model server\'s limits, or reduce concurrent requests.'] }
  }
  if (/InternalServerError|ServiceUnavailable|\b50[0-4]\b/i.test(t)) {
    return { cause: 'The model server failed (5xx).', next_steps: ['Check the model server\'s logs at this time (out of GPU memory, crashed worker).'] }
  }
  return null
}

/** What to do about a model that does not answer within the gateway's timeout. */
export const MODEL_TIMEOUT_STEPS = [
  'Check the model server\'s load when it happened: GPU memory and utilisation, its request queue (vLLM: vllm:num_requests_waiting on /metrics).',
  'Reduce the tokens asked for (max_tokens) or the context sent, or serve a smaller or quantised model, or add GPUs.',
  'For Duo Chat on the 2025 gateway, the model timeout is AIGW_DUO_CHAT__MODEL_REQUEST_TIMEOUT (30 s by default); raise it only if GitLab\'s own chat timeout allows.'
]

/** The model-side failures that the gateway turns into a bare 500, and how to tell them apart. */
export function unhandledModelFailure (ctx: ModelCallContext & { identifier: string | undefined }, durationMs: number, timeoutsS: readonly number[]): ModelSideCause {
  const likely: string[] = []
  const steps: string[] = []
  if (lacksV1(ctx.endpoint)) {
    likely.push('the model endpoint URL lacks the /v1 suffix, so the model server answers 404')
    steps.push(FIX_V1(ctx.endpoint!))
  }
  if (ctx.endpoint !== undefined && ctx.identifier === undefined) {
    // ai_gateway/model_metadata.py to_params: without an identifier the 2025 gateway names no
    // litellm provider, and litellm fails before calling the model ("LLM Provider NOT provided").
    likely.push('the self-hosted model has no model identifier, which the 2025 gateway needs to call it (litellm fails with "LLM Provider NOT provided" before any model call)')
    steps.push('Set the self-hosted model\'s identifier in GitLab to custom_openai/<served model name> (the name the model server lists at /v1/models).')
  }
  // The longest timeout the request outlasted (a retried call takes a multiple of it).
  const nearTimeout = [...timeoutsS].sort((a, b) => b - a).find((t) => durationMs >= t * 980 - 20)
  if (nearTimeout !== undefined) {
    likely.push(`the model did not answer within the gateway's ${nearTimeout} s model timeout (litellm's)`)
    steps.push(...MODEL_TIMEOUT_STEPS)
  }
  if (likely.length > 0) {
    return {
      cause: `The gateway's model call failed with an error it does not handle (a bare 500); most likely ${likely.join(', or ')}.`,
      next_steps: [...steps, ...modelChecks(ctx)]
    }
  }
  return {
    cause: 'The gateway\'s model call failed with an error it does not handle (a bare 500): the model endpoint lacks /v1, the model name is not served, the model server rejected the API key, or the model timed out.',
    next_steps: modelChecks(ctx)
  }
}
