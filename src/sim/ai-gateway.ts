/**
 * GitLab AI gateway simulator (the FastAPI service, port 5052 here), read in GitLab's source:
 * the 2024 line (renovate-bot/khulnasoft-lab-_-ai-assist) and the 2025 one (movax01h/ai-gateway),
 * chosen with `version`. It has the auth middleware (gateway-auth.ts), the correlation id
 * (asgi_correlation_id with validator=None: any X-Request-ID is kept, else uuid4().hex, echoed
 * with X-Process-Time; ai_gateway/structured_logging.py, api/middleware.py), /monitoring/healthz
 * and /ready (api/monitoring.py, fastapi-health: 200 `{}` or 503 `{}`), no /metrics on the API
 * port (api/server.py _SKIP_ENDPOINTS, then 404), the feature endpoints (gateway-routes.ts),
 * and x-sim-fault / x-sim-model-fault injection.
 */
import { randomUUID, type KeyObject } from 'node:crypto'
import { STATUS_CODES, type ServerResponse } from 'node:http'
import { applyEarlyFaults, type FaultReply } from './fault-plan.js'
import { FaultyWriter } from './faulty-writer.js'
import { authenticate, checkScope, type Claims } from './gateway-auth.js'
import { type GatewayVersion, ModelClient } from './gateway-model.js'
import { outsideMiddleware } from './gateway-generate.js'
import { ROUTES, type GatewayEnv } from './gateway-routes.js'
import { isRecord, parseJson } from './json.js'
import { DEFAULT_MODEL } from './model-completions.js'
import { sendJson, startSimServer, type ListenOptions, type SimContext, type SimServer, type TlsOptions } from './sim-server.js'

export const MODEL_FAULT_HEADER = 'x-sim-model-fault'
export const CANNED_COMPLETION = ['    return ', 'a + b', '\n']
export type { GatewayVersion } from './gateway-model.js'

export interface AiGatewayOptions {
  /** The gateway's release line; default 2025. */
  version?: GatewayVersion
  /** When set, every non-monitoring request must carry a valid GitLab JWT. */
  jwtPublicKey?: KeyObject | string
  /** Model endpoint used when the request names none (e.g. http://127.0.0.1:PORT/v1). */
  modelEndpoint?: string
  /** Model name used when the request names none; default DEFAULT_MODEL. */
  modelName?: string
  tls?: TlsOptions
  /** Default: 127.0.0.1 on an ephemeral port. */
  listen?: ListenOptions
  /** Keep every request in `requests` (default true). */
  record?: boolean
  /** GET /monitoring/ready answers 503 when false; default true. */
  ready?: boolean
  /** Answer pieces when no model endpoint is known (the GitLab-managed default model). */
  completion?: string[]
  /** Delay between streamed chunks of answers. */
  chunkDelayMs?: number
  /** litellm's model timeout (per read), ms; default 30 000 like the real gateway. */
  modelTimeoutMs?: number
  /** The OpenAI SDK's retries inside litellm; default 2 (3 attempts), like the real gateway. */
  sdkRetries?: number
  /** Multiplies the retry waits (SDK backoff, 4 s tenacity, 3/9/27 s); default 1. */
  retryWaitScale?: number
  /** Extra CA (PEM) to trust when the model endpoint is https. */
  modelCa?: string
}

export interface AiGateway extends SimServer {
  setReady (ready: boolean): void
}

export async function startAiGateway (opts: AiGatewayOptions = {}): Promise<AiGateway> {
  let ready = opts.ready ?? true
  const version = opts.version ?? '2025'
  const waitScale = opts.retryWaitScale ?? 1
  const client = new ModelClient({ version, timeoutMs: opts.modelTimeoutMs ?? 30_000, sdkRetries: opts.sdkRetries ?? 2, waitScale, ca: opts.modelCa })
  const env: GatewayEnv = {
    version,
    client,
    modelEndpoint: opts.modelEndpoint,
    modelName: opts.modelName ?? DEFAULT_MODEL,
    completion: opts.completion ?? CANNED_COMPLETION,
    waitScale
  }

  const handle = async (ctx: SimContext): Promise<void> => {
    const { req, res, method, pathname } = ctx
    const header = req.headers['x-request-id']
    res.setHeader('x-request-id', typeof header === 'string' && header !== '' ? header : randomUUID().replace(/-/g, ''))
    stampProcessTime(res, process.hrtime.bigint())

    const plan = await applyEarlyFaults(ctx, gatewayStatusReply)
    if (plan === undefined) return
    const writer = new FaultyWriter(res, plan, ctx.signal, opts.chunkDelayMs ?? 0)

    // Monitoring never needs auth (api/monitoring.py; fastapi-health answers {}).
    if (method === 'GET' && pathname === '/monitoring/healthz') return sendJson(res, 200, {})
    if (method === 'GET' && pathname === '/monitoring/ready') return sendJson(res, ready ? 200 : 503, {})
    // /metrics skips auth, then matches no route: Prometheus is on its own port (8082).
    if (pathname === '/metrics') return sendJson(res, 404, { detail: 'Not Found' })

    let claims: Claims | undefined
    if (opts.jwtPublicKey !== undefined) {
      const auth = authenticate(req.headers, opts.jwtPublicKey)
      if (!auth.ok) return sendJson(res, auth.status, auth.body)
      claims = auth.claims
    }

    let params: string[] | undefined
    const route = ROUTES.find((r) => (params = r.pattern.exec(pathname)?.slice(1)) !== undefined)
    if (route === undefined || params === undefined) return sendJson(res, 404, { detail: 'Not Found' })
    if (method !== 'POST') return sendJson(res, 405, { detail: 'Method Not Allowed' })
    const parsed = parseJson(ctx.body)
    if (!parsed.ok || !isRecord(parsed.value)) {
      // FastAPI's body parsing error (2024) or the 2025 handler's generic detail.
      return sendJson(res, 422, version === '2025' ? { detail: 'Validation error' } : { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } }] })
    }
    const scope = route.scope(parsed.value, params)
    if (claims !== undefined && scope !== undefined) {
      const denied = checkScope(claims, scope)
      if (denied) return sendJson(res, denied.status, denied.body)
    }
    const modelFault = req.headers[MODEL_FAULT_HEADER]
    await route.handle({
      sim: ctx,
      writer,
      body: parsed.value,
      params,
      env,
      modelFault: Array.isArray(modelFault) ? modelFault.join(',') : modelFault,
      claims
    })
  }

  const sim = await startSimServer(handle, { tls: opts.tls, listen: opts.listen, record: opts.record, serverHeader: 'uvicorn' })
    .catch(async (err: unknown) => {
      await client.close()
      throw err
    })

  return {
    ...sim,
    setReady: (value) => {
      ready = value
    },
    close: async () => {
      await sim.close()
      await client.close()
    }
  }
}

/** X-Process-Time (seconds, float string) is measured when the headers go out. */
function stampProcessTime (res: ServerResponse, started: bigint): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse
  const patched = (...args: unknown[]): ServerResponse => {
    if (!res.headersSent && !outsideMiddleware.has(res)) res.setHeader('x-process-time', (Number(process.hrtime.bigint() - started) / 1e9).toFixed(6))
    return writeHead(...args)
  }
  res.writeHead = patched as ServerResponse['writeHead']
}

/** x-sim-fault status:CODE bodies, as the gateway words them (GATEWAY-WIRE.md §4 and §6). */
function gatewayStatusReply (code: number): FaultReply {
  switch (code) {
    case 401: return { body: { error: 'Forbidden by auth provider' } }
    case 403: return { body: { detail: 'Unauthorized to access code completions' } }
    case 422: return { body: { detail: 'Validation error' } }
    // 2025 api/server.py: a ModelAPICallError with code 429.
    case 429: return { body: { detail: 'Too many requests. Please try again later.' }, headers: { 'retry-after': '1' } }
    case 503: return { body: { detail: 'Inference failed' } }
    default: return { body: { detail: STATUS_CODES[code] ?? 'Error' } }
  }
}
