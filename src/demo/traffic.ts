/**
 * The demo's scripted traffic: what GitLab would send the AI gateway through the proxy, healthy
 * and broken, with real HTTP clients. Bounded: a dozen requests, a few seconds.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request, type Dispatcher } from 'undici'
import type { Flag } from '../diagnosis/flags.js'
import { FAULT_HEADER } from '../sim/fault-plan.js'
import { gatewayClaims, gitlabHeaders, signJwt } from '../sim/jwt.js'
import { DEFAULT_MODEL } from '../sim/model-completions.js'
import { GATEWAY_ROUTE, MODEL_ROUTE, TLS_ROUTE, type DemoStack } from './stack.js'

/** A flag the scenario must leave on some exchange of a route. */
export interface Expectation {
  route: string
  flag: Flag
}

export interface Scenario {
  name: string
  /** Empty for healthy traffic. */
  expect: Expectation[]
  run (ctx: TrafficContext): Promise<Outcome>
}

export interface Outcome {
  /** What the client saw, e.g. "200", "401", "504 from the proxy (headers_timeout)", "aborted after 1 chunk". */
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
}

/**
 * Between two scenarios, like a person at a keyboard. It also keeps the model calls of
 * back-to-back requests from overlapping their neighbours' spans: model calls carry no
 * correlation id, and the proxy links them to their gateway request by time.
 */
const PAUSE_MS = 100

const CODE_ABOVE = 'def add(a, b):\n    """Return the sum of a and b."""\n'

/** Body of a /v2/code/completions request for a self-hosted model, as GitLab sends it. */
function completionBody (modelEndpoint: string, stream = false): Record<string, unknown> {
  return {
    current_file: { file_name: 'app/calc.py', language_identifier: 'python', content_above_cursor: CODE_ABOVE, content_below_cursor: '' },
    model_provider: 'litellm',
    model_endpoint: modelEndpoint,
    model_name: DEFAULT_MODEL,
    model_api_key: 'sk-demo0123456789abcdefghijklmnop',
    prompt_version: 1,
    stream
  }
}

function chatBody (modelEndpoint: string, question: string): Record<string, unknown> {
  return {
    messages: [{ role: 'user', content: question }],
    model_metadata: { provider: 'openai', name: DEFAULT_MODEL, endpoint: modelEndpoint, api_key: 'sk-demo0123456789abcdefghijklmnop' }
  }
}

/** The model endpoint as an admin sets it in GitLab: the proxy's model route, with /v1 (or without, by mistake). */
function modelEndpoint (ctx: TrafficContext, withV1 = true): string {
  return ctx.stack.routeUrl(MODEL_ROUTE) + (withV1 ? '/v1' : '')
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

/** Status, and for the proxy's own answers the flag it names. */
function describe (status: number, headers: Record<string, string | string[] | undefined>): string {
  const flag = headers['x-duo-diag-flag']
  return headers['x-duo-diag-origin'] === 'proxy' && typeof flag === 'string' ? `${status} from the proxy (${flag})` : String(status)
}

/** A whole request: post, read the body, describe the status. */
async function exchange (ctx: TrafficContext, route: string, path: string, body: unknown, opts: Parameters<typeof post>[4] = {}): Promise<Outcome> {
  const res = await post(ctx, route, path, body, opts)
  await res.body.text()
  return { result: describe(res.status, res.headers), correlationId: res.correlationId }
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'code completion',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(modelEndpoint(ctx)))
  },
  {
    name: 'code completion, streamed',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(modelEndpoint(ctx), true))
  },
  {
    name: 'Duo Chat stream',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/chat/agent', chatBody(modelEndpoint(ctx), 'How do I reverse a list in Python?'))
  },
  {
    name: 'code completion',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(modelEndpoint(ctx)))
  },
  {
    name: 'Duo Chat stream',
    expect: [],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/chat/agent', chatBody(modelEndpoint(ctx), 'Explain this merge request'))
  },
  {
    name: 'expired GitLab token (401)',
    expect: [{ route: GATEWAY_ROUTE, flag: 'unauthorized' }],
    run: (ctx) => {
      const hourAgo = Math.floor(Date.now() / 1000) - 3600
      const expired = signJwt(gatewayClaims({ iat: hourAgo - 3600, nbf: hourAgo - 3600, exp: hourAgo }), ctx.stack.keys.privateKey)
      return exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(modelEndpoint(ctx)), { token: expired })
    }
  },
  {
    name: 'model endpoint without /v1',
    expect: [{ route: MODEL_ROUTE, flag: 'not_found' }, { route: GATEWAY_ROUTE, flag: 'upstream_error' }],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(modelEndpoint(ctx, false)))
  },
  {
    name: 'gateway hangs (headers timeout)',
    expect: [{ route: GATEWAY_ROUTE, flag: 'headers_timeout' }],
    run: (ctx) => exchange(ctx, GATEWAY_ROUTE, '/v2/code/completions', completionBody(modelEndpoint(ctx)), { headers: { [FAULT_HEADER]: 'hang' } })
  },
  {
    name: 'self-signed gateway certificate',
    expect: [{ route: TLS_ROUTE, flag: 'tls_error' }],
    run: (ctx) => exchange(ctx, TLS_ROUTE, '/v2/code/completions', completionBody(modelEndpoint(ctx)))
  },
  {
    name: 'chat stream cancelled by the IDE',
    expect: [{ route: GATEWAY_ROUTE, flag: 'client_aborted' }],
    run: abortedChat
  }
]

/** Reads the chat stream until its first answer chunk, then hangs up like an IDE cancelling. */
async function abortedChat (ctx: TrafficContext): Promise<Outcome> {
  const controller = new AbortController()
  const res = await post(ctx, GATEWAY_ROUTE, '/v2/chat/agent', chatBody(modelEndpoint(ctx), 'Write a long essay about tabs and spaces'), { signal: controller.signal })
  let chunks = 0
  try {
    for await (const chunk of res.body) {
      chunks += 1
      if (String(chunk).includes('final_answer_delta')) controller.abort()
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err
  }
  const result = controller.signal.aborted ? `${res.status}, hung up after ${chunks} chunk${chunks === 1 ? '' : 's'}` : `${res.status}, not aborted (the stream ended first)`
  return { result, correlationId: res.correlationId }
}

/** Runs every scenario in order; `onResult` sees each as it completes. */
export async function runTraffic (stack: DemoStack, onResult: (r: ScenarioResult) => void): Promise<ScenarioResult[]> {
  const dispatcher = new Agent({ connect: { timeout: 5_000 } })
  const ctx: TrafficContext = { stack, dispatcher, token: signJwt(gatewayClaims(), stack.keys.privateKey) }
  const results: ScenarioResult[] = []
  try {
    for (const [i, scenario] of SCENARIOS.entries()) {
      if (i > 0) await sleep(PAUSE_MS)
      let outcome: Outcome
      try {
        outcome = await scenario.run(ctx)
      } catch (err) {
        outcome = { result: `client error: ${(err as Error).message}`, correlationId: '' }
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
