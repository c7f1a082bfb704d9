/**
 * OpenAI-compatible model server simulator in three flavours, each copying its upstream's
 * wire behaviour (model-flavors.ts names the source of every answer):
 *
 *   vllm     /v1/chat/completions, /v1/completions, /v1/models, /health, /version;
 *            --api-key guards /v1/* with 401 {"error":"Unauthorized"}
 *   litellm  the same with and without /v1, /health/liveliness|readiness; a master key
 *            (apiKey) rejects requests the way LiteLLM's user_api_key_auth does
 *   ollama   /v1/chat/completions, /v1/completions, /v1/models, GET / and /api/version;
 *            no authentication at all
 *
 * x-sim-fault (fault-plan.ts) works the same on every flavour.
 */
import { applyEarlyFaults } from './fault-plan.js'
import { FaultyWriter } from './faulty-writer.js'
import { answerCompletion, DEFAULT_COMPLETION, DEFAULT_MODEL, parseCompletionRequest, sendReply } from './model-completions.js'
import { createFlavor, type ModelServerFlavor } from './model-flavors.js'
import { startSimServer, type ListenOptions, type SimContext, type SimServer, type TlsOptions } from './sim-server.js'

export { DEFAULT_COMPLETION, DEFAULT_MODEL, type Usage } from './model-completions.js'
export { DEFAULT_PORTS, DEFAULT_SERVER_VERSIONS, MODEL_SERVER_FLAVORS, isModelServerFlavor, type ModelServerFlavor } from './model-flavors.js'

export interface ModelServerOptions {
  tls?: TlsOptions
  /** Default: 127.0.0.1 on an ephemeral port. */
  listen?: ListenOptions
  /** Keep every request in `requests` (default true). */
  record?: boolean
  /** Which server to be (default 'vllm'). */
  flavor?: ModelServerFlavor
  /**
   * The upstream version simulated, for behaviour that changed between releases (default
   * DEFAULT_SERVER_VERSIONS[flavor]): vLLM >= 0.10.1 nests its ErrorResponse under "error";
   * Ollama < 0.12.0 says "try pulling it first", < 0.32.6 streams the old chunk shape.
   */
  serverVersion?: string
  /**
   * Served model ids; default [DEFAULT_MODEL]. vLLM and Ollama answer requests without
   * `model` with the first; LiteLLM rejects them. Ollama lists names with their tag
   * (":latest" when none is given) and matches them case-insensitively.
   */
  models?: string[]
  /** Pieces of the answer: one SSE chunk (and one completion token) each. */
  completion?: string[]
  /** Delay between streamed chunks (default 0). */
  chunkDelayMs?: number
  /**
   * vLLM --api-key: /v1/* requires `Authorization: Bearer <apiKey>`. LiteLLM master key: every
   * non-health route requires it. Ollama has no authentication and ignores it.
   */
  apiKey?: string
}

export interface ModelServer extends SimServer {
  flavor: ModelServerFlavor
  serverVersion: string
}

export async function startModelServer (opts: ModelServerOptions = {}): Promise<ModelServer> {
  const flavor = createFlavor(opts.flavor ?? 'vllm', opts.serverVersion)
  const models = opts.models ?? [DEFAULT_MODEL]
  const completion = opts.completion ?? DEFAULT_COMPLETION
  const chunkDelayMs = opts.chunkDelayMs ?? 0

  const handle = async (ctx: SimContext): Promise<void> => {
    const plan = await applyEarlyFaults(ctx, (code) => flavor.statusReply(code))
    if (plan === undefined) return
    const { method, pathname, res } = ctx

    const match = flavor.match(method, pathname)
    if (opts.apiKey !== undefined && flavor.needsKey(pathname, match)) {
      const denied = flavor.checkKey(ctx.req.headers.authorization, opts.apiKey)
      if (denied !== undefined) return sendReply(ctx, denied)
    }
    if (match.endpoint === undefined) {
      return sendReply(ctx, match.allowed === undefined ? flavor.notFound() : flavor.methodNotAllowed(match.allowed))
    }

    const { endpoint } = match
    if (endpoint.kind !== 'chat' && endpoint.kind !== 'completions') return sendReply(ctx, flavor.simple(endpoint, models))

    for (const [name, value] of Object.entries(flavor.answerHeaders())) res.setHeader(name, value)
    const request = parseCompletionRequest(ctx, models, flavor, { chat: endpoint.kind === 'chat', pathModel: endpoint.pathModel })
    if (request === undefined) return
    const writer = new FaultyWriter(res, plan, ctx.signal, chunkDelayMs)
    return answerCompletion(writer, request, completion, flavor, models)
  }

  const server = await startSimServer(handle, { tls: opts.tls, listen: opts.listen, record: opts.record, serverHeader: flavor.serverHeader })
  return Object.assign(server, { flavor: flavor.name, serverVersion: flavor.version })
}
