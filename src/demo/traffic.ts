/**
 * The demo's scripted traffic: what GitLab would send the AI gateway through the proxy, healthy
 * and broken, with real HTTP clients. Bounded: a dozen requests, a few seconds. The failures are
 * the support playbook's real ones, in the shapes the gateway's source gives them.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request, type Dispatcher } from 'undici'
import type { Flag } from '../diagnosis/flags.js'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'
import { MODEL_FAULT_HEADER } from '../sim/ai-gateway.js'
import { FAULT_HEADER } from '../sim/fault-plan.js'
import { gatewayClaims, gitlabHeaders, signJwt } from '../sim/jwt.js'
import { DEFAULT_MODEL } from '../sim/model-completions.js'
import { DOWN_ROUTE, GATEWAY_ROUTE, MODEL_ROUTE, TLS_ROUTE, type DemoStack } from './stack.js'

/** A flag the scenario must leave on some exchange of a route. */
export interface Expectation {
  route: string
  flag: Flag
}

export interface Scenario {
  /** Its name is the cli catalog's `demo.scenario.<key>`, in the command's language. */
  key: string
  /** Empty for healthy traffic. */
  expect: Expectation[]
  run (ctx: TrafficContext): Promise<Outcome>
}

export interface Outcome {
  /**
   * What the client saw, in the command's language, e.g. "200", "401", "504 from the proxy
   * (headers_timeout)", "200, hung up after 1 chunk".
   */
  result: string
  correlationId: string
}

export interface ScenarioResult extends Outcome {
  scenario: Scenario
}

interface TrafficContext {
  stack: DemoStack
  dispatcher: Dispatcher
  token: string
  lang: Lang
}

/** A line of the cli catalog's `demo.result`, in `lang`. */
const say = (lang: Lang, key: string, params: Record<string, string | number> = {}): string => t(lang, `cli:demo.result.${key}`, params)

/**
 * Between two scenarios, like a person at a keyboard. It also keeps the model calls of
 * back-to-back requests from overlapping their neighbours' spans: model calls carry no
 * correlation id, and the proxy links them to their gateway request by time.
 */
const PAUSE_MS = 100

const CODE_ABOVE = 'def add(a, b):\n    """Return the sum of a and b."""\n'

/** The self-hosted model's family, as GitLab's admin picks it (ee/app/models/ai/self_hosted_model.rb enum `model`). */
const MODEL_FAMILY = 'mistral'
const MODEL_API_KEY = 'sk-demo0123456789abcdefghijklmnop'

/**
 * The model identifier as an admin types it for a vLLM server: `custom_openai/<served name>`
 * (doc/administration/gitlab_duo_self_hosted/configure_duo_features.md); GitLab sends it as
 * typed. The 2025 gateway takes the served name from it (ai_gateway/model_metadata.py to_params).
 */
function identifier (served = DEFAULT_MODEL): string {
  return `custom_openai/${served}`
}

interface ModelSettings {
  endpoint: string
  /** The served name in the identifier; a typo here is the "unknown model" failure. */
  served?: string
}

/**
 * Body of a /v2/code/completions request for a self-hosted model, as GitLab sends it: the
 * IDE's fields merged with ee/lib/code_suggestions/prompts/code_completion/
 * ai_gateway_code_completion_message.rb request_params (model_provider litellm, prompt_version
 * 2, prompt nil, the flat model_* fields; no language_identifier on v2).
 */
function completionBody (model: ModelSettings, stream = false): Record<string, unknown> {
  return {
    current_file: { file_name: 'app/calc.py', content_above_cursor: CODE_ABOVE, content_below_cursor: '' },
    telemetry: [],
    stream,
    model_provider: 'litellm',
    prompt_version: 2,
    prompt: null,
    model_endpoint: model.endpoint,
    model_name: MODEL_FAMILY,
    model_api_key: MODEL_API_KEY,
    model_identifier: identifier(model.served)
  }
}

/**
 * Body of a /v2/chat/agent request, as ee/lib/gitlab/duo/chat/react_executor.rb step_params
 * builds it: the user message with its (empty) context, model_metadata from
 * ee/lib/gitlab/llm/ai_gateway/model_metadata.rb (provider hard-coded `openai`, name the
 * family), and the resources this instance does not offer.
 */
function chatBody (model: ModelSettings, question: string): Record<string, unknown> {
  return {
    messages: [{ role: 'user', content: question, context: null, current_file: null, additional_context: [] }],
    model_metadata: { provider: 'openai', name: MODEL_FAMILY, endpoint: model.endpoint, api_key: MODEL_API_KEY, identifier: identifier(model.served) },
    unavailable_resources: ['Pipelines', 'Vulnerabilities']
  }
}

/** The model endpoint as an admin sets it in GitLab: the proxy's model route, with /v1 (or without, by mistake). */
function modelEndpoint (ctx: TrafficContext, withV1 = true): string {
  return ctx.stack.routeUrl(MODEL_ROUTE) + (withV1 ? '/v1' : '')
}

function model (ctx: TrafficContext, opts: { withV1?: boolean, served?: string } = {}): ModelSettings {
  return { endpoint: modelEndpoint(ctx, opts.withV1 ?? true), served: opts.served }
}

async function post (
  ctx: TrafficContext,
  route: string,
  path: string,
  body: unknown,
  opts: { token?: string, headers?: Record<string, string>, signal?: AbortSignal } = {}
): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: Dispatcher.ResponseData['body'], correlationId: string }> {
  const headers = { ...gitlabHeaders(opts.token ?? ctx.token), ...opts.headers }
  const res = await request(ctx.stack.routeUrl(route) + path, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    dispatcher: ctx.dispatcher,
    signal: opts.signal
  })
  return { status: res.statusCode, headers: res.headers, body: res.body, correlationId: headers['x-request-id'] ?? '' }
}

/** Status, and for the proxy's own answers the flag it names; the gateway's bare 500 is marked. */
function describe (status: number, headers: Record<string, string | string[] | undefined>, lang: Lang): string {
  const flag = headers['x-duo-diag-flag']
  if (headers['x-duo-diag-origin'] === 'proxy' && typeof flag === 'string') return say(lang, 'fromProxy', { status, flag })
  const type = headers['content-type']
  // Starlette's ServerErrorMiddleware answer to an unhandled exception (ai_gateway/api/server.py maps none).
  if (status === 500 && typeof type === 'string' && type.startsWith('text/plain')) return '500 Internal Server Error'
  return String(status)
}

/** The whole body, or what arrived before the connection dropped. */
async function readAll (body: Dispatcher.ResponseData['body']): Promise<{ text: string, dropped: boolean }> {
  let text = ''
  try {
    for await (const chunk of body) text += String(chunk)
    return { text, dropped: false }
  } catch {
    return { text, dropped: true }
  }
}

/**
 * A chat stream in a few words: the NDJSON line types (ai_gateway/chat/agents/typing.py), an
 * error line's message, and whether the connection dropped (chat/agents/react.py re-raises after
 * the error line).
 */
function describeChat (text: string, dropped: boolean, lang: Lang): string {
  const counts = new Map<string, number>()
  let error: string | undefined
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    let event: { type?: unknown, data?: { message?: unknown } }
    try {
      event = JSON.parse(line) as typeof event
    } catch {
      continue
    }
    const type = typeof event.type === 'string' ? event.type : '?'
    counts.set(type, (counts.get(type) ?? 0) + 1)
    if (type === 'error' && typeof event.data?.message === 'string') error = event.data.message
  }
  const parts = [...counts.entries()].map(([type, n]) => (n > 1 ? `${n} ${type}` : type))
  const summary = error === undefined ? parts.join(', ') : say(lang, 'chatError', { error: error.split(':')[0] ?? '' })
  const lines = summary || say(lang, 'noLines')
  return dropped ? say(lang, 'thenDropped', { lines }) : lines
}

/** A whole request: post, read the body, describe the status (and a chat stream's lines). */
async function exchange (ctx: TrafficContext, route: string, path: string, body: unknown, opts: Parameters<typeof post>[4] = {}): Promise<Outcome> {
  const res = await post(ctx, route, path, body, opts)
  const { text, dropped } = await readAll(res.body)
  const status = describe(res.status, res.headers, ctx.lang)
  const ndjson = String(res.headers['content-type'] ?? '').startsWith('application/x-ndjson')
  const result = ndjson ? say(ctx.lang, 'chat', { status, chat: describeChat(text, dropped, ctx.lang) }) : dropped ? say(ctx.lang, 'dropped', { status }) : status
  return { result, correlationId: res.correlationId }
}

/** A served name the model server does not have: the identifier's typo. */
const WRONG_SERVED_NAME = 'Mistral-7B-Instruct-v0.3'

export const SCENARIOS: Scenario[] = [
  {
    key: 'codeCompletion',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(model(ctx)))
  },
  {
    key: 'codeCompletionStreamed',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(model(ctx), true))
  },
  {
    key: 'chatStream',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/chat/agent', chatBody(model(ctx), 'How do I reverse a list in Python?'))
  },
  {
    key: 'codeCompletion',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(model(ctx)))
  },
  {
    key: 'chatStream',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/chat/agent', chatBody(model(ctx), 'Explain this merge request'))
  },
  {
    // The cloud-connector authenticate() rejects an expired JWT: 401 {"error": "Forbidden by
    // auth provider"} (ai_gateway/api/middleware.py MiddlewareAuthentication.on_auth_error).
    key: 'expiredToken',
    expect: [{ route: GATEWAY_ROUTE, flag: 'unauthorized' }],
    run: (ctx) => {
      const hourAgo = Math.floor(Date.now() / 1000) - 3600
      const expired = signJwt(gatewayClaims({ iat: hourAgo - 3600, nbf: hourAgo - 3600, exp: hourAgo }), ctx.stack.keys.privateKey)
      return exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(model(ctx)), { token: expired })
    }
  },
  {
    // api_base is the endpoint as configured, nothing appended (ai_gateway/model_metadata.py
    // to_params): the model server 404s /chat/completions, litellm raises NotFoundError, which
    // no handler maps (ai_gateway/api/server.py): Starlette's bare 500.
    key: 'missingV1',
    expect: [{ route: MODEL_ROUTE, flag: 'not_found' }, { route: GATEWAY_ROUTE, flag: 'upstream_error' }],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(model(ctx, { withV1: false })))
  },
  {
    // The identifier names a model the server does not serve: vLLM's 404 "The model `x` does
    // not exist.", the same bare 500 from the gateway.
    key: 'unknownModel',
    expect: [{ route: MODEL_ROUTE, flag: 'not_found' }, { route: GATEWAY_ROUTE, flag: 'upstream_error' }],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(model(ctx, { served: WRONG_SERVED_NAME })))
  },
  {
    // The model never answers: litellm's per-read timeout (the chat/react prompt's 30 s,
    // shortened here) ends each call; the OpenAI SDK tries 3 times and the 2025 ChatLiteLLM
    // twice (vendor/langchain_litellm/litellm.py), then the stream gets the error line
    // "litellm.Timeout: ..." and drops (chat/agents/react.py).
    key: 'modelTimeout',
    expect: [{ route: MODEL_ROUTE, flag: 'model_timeout' }, { route: GATEWAY_ROUTE, flag: 'stream_error' }],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/chat/agent', chatBody(model(ctx), 'Summarize this issue'), { headers: { [MODEL_FAULT_HEADER]: 'hang' } })
  },
  {
    key: 'gatewayHangs',
    expect: [{ route: GATEWAY_ROUTE, flag: 'headers_timeout' }],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(model(ctx)), { headers: { [FAULT_HEADER]: 'hang' } })
  },
  {
    key: 'gatewayDown',
    expect: [{ route: DOWN_ROUTE, flag: 'connection_refused' }],
    run: (ctx) => exchange(ctx, DOWN_ROUTE, '/v2/code/completions', completionBody(model(ctx)))
  },
  {
    key: 'selfSigned',
    expect: [{ route: TLS_ROUTE, flag: 'tls_error' }],
    run: (ctx) => exchange(ctx, TLS_ROUTE, '/v2/code/completions', completionBody(model(ctx)))
  },
  {
    key: 'chatCancelled',
    expect: [{ route: GATEWAY_ROUTE, flag: 'client_aborted' }],
    run: abortedChat
  }
]

/** Reads the chat stream until its first answer chunk, then hangs up like an IDE cancelling. */
async function abortedChat (ctx: TrafficContext): Promise<Outcome> {
  const controller = new AbortController()
  const res = await post(ctx, GATEWAY_ROUTE, '/v2/chat/agent', chatBody(model(ctx), 'Write a long essay about tabs and spaces'), { signal: controller.signal })
  let chunks = 0
  try {
    for await (const chunk of res.body) {
      chunks += 1
      if (String(chunk).includes('final_answer_delta')) controller.abort()
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err
  }
  const result = controller.signal.aborted ? say(ctx.lang, 'hungUp', { status: res.status, count: chunks }) : say(ctx.lang, 'notAborted', { status: res.status })
  return { result, correlationId: res.correlationId }
}

/** Runs every scenario in order; `onResult` sees each as it completes. What the client saw is said in `lang`. */
export async function runTraffic (stack: DemoStack, onResult: (r: ScenarioResult) => void, lang: Lang = 'en'): Promise<ScenarioResult[]> {
  const dispatcher = new Agent({ connect: { timeout: 5_000 } })
  const ctx: TrafficContext = { stack, dispatcher, token: signJwt(gatewayClaims(), stack.keys.privateKey), lang }
  const results: ScenarioResult[] = []
  try {
    for (const [i, scenario] of SCENARIOS.entries()) {
      if (i > 0) await sleep(PAUSE_MS)
      let outcome: Outcome
      try {
        outcome = await scenario.run(ctx)
      } catch (err) {
        outcome = { result: say(lang, 'clientError', { message: (err as Error).message }), correlationId: '' }
      }
      const result = { scenario, ...outcome }
      results.push(result)
      onResult(result)
    }
  } finally {
    await dispatcher.destroy()
  }
  return results
}
