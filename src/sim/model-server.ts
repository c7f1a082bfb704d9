/**
 * OpenAI/vLLM-compatible model server simulator: /v1/chat/completions (JSON and SSE),
 * legacy /v1/completions, /v1/models, /health, with vLLM's error bodies and x-sim-fault.
 */
import { STATUS_CODES } from 'node:http'
import { applyEarlyFaults, type FaultReply } from './fault-plan.js'
import { FaultyWriter } from './faulty-writer.js'
import type { JsonRecord } from './json.js'
import { answerCompletion, DEFAULT_COMPLETION, DEFAULT_MODEL, parseCompletionRequest } from './model-completions.js'
import { sendEmpty, sendJson, startSimServer, type ListenOptions, type SimContext, type SimServer, type TlsOptions } from './sim-server.js'

export { DEFAULT_COMPLETION, DEFAULT_MODEL, type Usage } from './model-completions.js'

export interface ModelServerOptions {
  tls?: TlsOptions
  /** Default: 127.0.0.1 on an ephemeral port. */
  listen?: ListenOptions
  /** Keep every request in `requests` (default true). */
  record?: boolean
  /** Served model ids; default [DEFAULT_MODEL]. Requests without `model` use the first. */
  models?: string[]
  /** Pieces of the answer: one SSE chunk (and one completion token) each. */
  completion?: string[]
  /** Delay between streamed chunks (default 0). */
  chunkDelayMs?: number
  /** When set, /v1/* requires `Authorization: Bearer <apiKey>`. */
  apiKey?: string
}

export type ModelServer = SimServer

export function startModelServer (opts: ModelServerOptions = {}): Promise<ModelServer> {
  const models = opts.models ?? [DEFAULT_MODEL]
  const completion = opts.completion ?? DEFAULT_COMPLETION
  const chunkDelayMs = opts.chunkDelayMs ?? 0

  const handle = async (ctx: SimContext): Promise<void> => {
    const plan = await applyEarlyFaults(ctx, vllmStatusReply)
    if (plan === undefined) return
    const { method, pathname, res } = ctx

    if (pathname === '/health') return method === 'GET' ? sendEmpty(res, 200) : methodNotAllowed(ctx)
    // vLLM serves the OpenAI API under /v1 only; a base URL without /v1 lands here.
    if (!pathname.startsWith('/v1/')) return sendJson(res, 404, { detail: 'Not Found' })
    if (opts.apiKey !== undefined && ctx.req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return sendJson(res, 401, {
        error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' }
      })
    }

    const writer = new FaultyWriter(res, plan, ctx.signal, chunkDelayMs)
    switch (pathname) {
      case '/v1/models':
        if (method !== 'GET') return methodNotAllowed(ctx)
        return writer.sendWhole(200, 'application/json', JSON.stringify(modelList(models)))
      case '/v1/chat/completions':
      case '/v1/completions': {
        if (method !== 'POST') return methodNotAllowed(ctx)
        const request = parseCompletionRequest(ctx, models)
        if (request === undefined) return
        return answerCompletion(writer, request, completion)
      }
      default:
        return sendJson(res, 404, { detail: 'Not Found' })
    }
  }

  return startSimServer(handle, { tls: opts.tls, listen: opts.listen, record: opts.record, serverHeader: 'uvicorn' })
}

function modelList (models: string[]): JsonRecord {
  const created = Math.floor(Date.now() / 1000)
  return {
    object: 'list',
    data: models.map((id) => ({ id, object: 'model', created, owned_by: 'vllm', root: id, parent: null, max_model_len: 32768 }))
  }
}

function methodNotAllowed (ctx: SimContext): void {
  sendJson(ctx.res, 405, { detail: 'Method Not Allowed' })
}

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

/** x-sim-fault status:CODE body, shaped like vLLM's ErrorResponse. */
function vllmStatusReply (code: number): FaultReply {
  return {
    body: {
      object: 'error',
      message: STATUS_CODES[code] ?? 'Error',
      type: VLLM_ERROR_TYPES[code] ?? (code >= 500 ? 'InternalServerError' : 'BadRequestError'),
      param: null,
      code
    }
  }
}
