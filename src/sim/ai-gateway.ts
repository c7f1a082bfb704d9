/**
 * GitLab AI gateway simulator (the FastAPI service on port 5052): auth middleware,
 * X-Request-ID / X-Process-Time, monitoring endpoints, feature endpoints that call the
 * model endpoint (see gateway-routes.ts), and x-sim-fault / x-sim-model-fault injection.
 */
import { randomBytes, type KeyObject } from 'node:crypto'
import { STATUS_CODES, type ServerResponse } from 'node:http'
import { applyEarlyFaults, type FaultReply } from './fault-plan.js'
import { FaultyWriter } from './faulty-writer.js'
import { authenticate, checkScope } from './gateway-auth.js'
import { ModelClient } from './gateway-model.js'
import { ROUTES, type GatewayEnv } from './gateway-routes.js'
import { isRecord, parseJson } from './json.js'
import { DEFAULT_MODEL } from './model-completions.js'
import { sendJson, startSimServer, type ListenOptions, type SimContext, type SimServer, type TlsOptions } from './sim-server.js'

export const MODEL_FAULT_HEADER = 'x-sim-model-fault'
export const CANNED_COMPLETION = ['    return ', 'a + b', '\n']

export interface AiGatewayOptions {
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
  /** Answer pieces when no model endpoint is configured. */
  completion?: string[]
  /** Delay between streamed chunks of canned answers. */
  chunkDelayMs?: number
  /** Model call headers/body timeout; default 10 000 ms like the real gateway. */
  modelTimeoutMs?: number
  /** Extra CA (PEM) to trust when the model endpoint is https. */
  modelCa?: string
}

export interface AiGateway extends SimServer {
  setReady (ready: boolean): void
}

export async function startAiGateway (opts: AiGatewayOptions = {}): Promise<AiGateway> {
  let ready = opts.ready ?? true
  let served = 0
  const client = new ModelClient(opts.modelTimeoutMs ?? 10_000, opts.modelCa)
  const env: GatewayEnv = {
    client,
    modelEndpoint: opts.modelEndpoint,
    modelName: opts.modelName ?? DEFAULT_MODEL,
    completion: opts.completion ?? CANNED_COMPLETION
  }

  const handle = async (ctx: SimContext): Promise<void> => {
    const { req, res, method, pathname } = ctx
    served += 1
    const header = req.headers['x-request-id']
    res.setHeader('x-request-id', typeof header === 'string' && header !== '' ? header : randomBytes(16).toString('hex'))
    stampProcessTime(res, process.hrtime.bigint())

    const plan = await applyEarlyFaults(ctx, gatewayStatusReply)
    if (plan === undefined) return
    const writer = new FaultyWriter(res, plan, ctx.signal, opts.chunkDelayMs ?? 0)

    // Monitoring and metrics never need auth.
    if (method === 'GET' && pathname === '/monitoring/healthz') return sendJson(res, 200, { status: 'ok' })
    if (method === 'GET' && pathname === '/monitoring/ready') {
      return ready ? sendJson(res, 200, { status: 'ok' }) : sendJson(res, 503, { status: 'unavailable' })
    }
    if (method === 'GET' && pathname === '/metrics') return sendMetrics(res, served)

    let claims: Record<string, unknown> | undefined
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
    if (!parsed.ok || !isRecord(parsed.value)) return sendJson(res, 422, { detail: 'Validation error' })
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
      modelFault: Array.isArray(modelFault) ? modelFault.join(',') : modelFault
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

function sendMetrics (res: ServerResponse, served: number): void {
  const text = `# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\nhttp_requests_total ${served}\n`
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
  res.end(text)
}

/** X-Process-Time (seconds, float string) is measured when the headers go out. */
function stampProcessTime (res: ServerResponse, started: bigint): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse
  const patched = (...args: unknown[]): ServerResponse => {
    if (!res.headersSent) res.setHeader('x-process-time', (Number(process.hrtime.bigint() - started) / 1e9).toFixed(6))
    return writeHead(...args)
  }
  res.writeHead = patched as ServerResponse['writeHead']
}

/** x-sim-fault status:CODE bodies, shaped like the gateway's own errors. */
function gatewayStatusReply (code: number): FaultReply {
  switch (code) {
    case 401: return { body: { error: 'Forbidden by auth provider' } }
    case 403: return { body: { detail: 'Unauthorized to access code suggestions' } }
    case 422: return { body: { detail: 'Validation error' } }
    case 429: return { body: { detail: 'Too many requests' } }
    case 502: return { body: { detail: 'Bad Gateway: model provider returned an invalid response' } }
    case 503: return { body: { detail: 'Inference failed' } }
    case 504: return { body: { detail: 'Timeout: model provider did not respond within 60 seconds' } }
    default: return { body: { detail: STATUS_CODES[code] ?? 'Error' } }
  }
}
