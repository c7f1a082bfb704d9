/**
 * Everything the demo runs, on 127.0.0.1: the simulated model server (vLLM), the simulated AI
 * gateway (2025 line, JWT auth on), a second gateway behind a self-signed certificate, and the
 * proxy in front of them with its routes (one to a gateway that is down) and its admin API.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startProxy, type RunningProxy } from '../app.js'
import { loadConfig } from '../config/load.js'
import { createLogger } from '../log/logger.js'
import { startAiGateway, type AiGateway } from '../sim/ai-gateway.js'
import { selfSignedCert } from '../sim/certs.js'
import { GITLAB_URL, makeJwtKeys, type JwtKeys } from '../sim/jwt.js'
import { refusedPort } from '../sim/fault-servers.js'
import { startModelServer, type ModelServer } from '../sim/model-server.js'

export const GATEWAY_ROUTE = 'gitlab-aigw'
export const MODEL_ROUTE = 'model'
export const TLS_ROUTE = 'aigw-self-signed'
/** A route whose gateway is down: nothing listens at its upstream. */
export const DOWN_ROUTE = 'aigw-down'
/** The gateway route's headers timeout: short, so the demo's hung request times out quickly. */
export const DEMO_HEADERS_TIMEOUT_MS = 2_000
/** Between streamed model chunks: slow enough to abort a stream mid-way. */
const MODEL_CHUNK_DELAY_MS = 60
/**
 * The gateway's model timeout (litellm's per-read timeout, 30 s for chat and code in the real
 * gateway), shortened so the model-timeout scenario takes seconds; the proxy's
 * diagnosis.gateway_model_timeouts_s is set to match, as an operator would.
 */
export const DEMO_MODEL_TIMEOUT_MS = 500
/** The gateway's retry waits (SDK backoff, ChatLiteLLM's 4 s), scaled down the same way. */
const DEMO_RETRY_WAIT_SCALE = 0.01
/**
 * The model's answer, streamed one piece per chunk, in the ReAct form the gateway's chat/react
 * prompt asks for: the gateway's parser (ai_gateway/chat/agents/react.py) sends the text after
 * "Final Answer:" as final_answer_delta lines. The code paths pass the same text on as a suggestion.
 */
export const MODEL_ANSWER = [
  'Thought:', ' I can', ' answer', ' this', ' directly.', '\nFinal Answer:',
  ' Use', ' `reversed(items)`', ' for', ' an', ' iterator,', ' or', ' `items[::-1]`', ' for', ' a', ' new', ' list.'
]

export interface StackOptions {
  /** host:port strings, validated by the proxy's configuration loader. */
  admin: string
  listen: string
  modelListen: string
  /** SQLite file; null: one in the demo's temporary directory. */
  db: string | null
}

export interface DemoStack {
  proxy: RunningProxy
  keys: JwtKeys
  model: ModelServer
  gateway: AiGateway
  tlsGateway: AiGateway
  /** Base URL of a proxy route. */
  routeUrl (name: string): string
  adminUrl: string
  dir: string
  logFile: string
  dbPath: string
  /** Stops the proxy (records flushed), the simulators, and removes the temporary directory. */
  close (): Promise<void>
}

export async function startDemoStack (opts: StackOptions): Promise<DemoStack> {
  const dir = mkdtempSync(join(tmpdir(), 'duo-diag-demo-'))
  const started: Array<{ close (): Promise<void> }> = []
  const stopAll = async (): Promise<void> => {
    for (const s of started.reverse()) await s.close().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const keys = makeJwtKeys()
    const model = await startModelServer({ record: false, chunkDelayMs: MODEL_CHUNK_DELAY_MS, completion: MODEL_ANSWER })
    started.push(model)
    const gatewayOptions = { record: false, version: '2025' as const, jwtPublicKey: keys.publicKey, modelTimeoutMs: DEMO_MODEL_TIMEOUT_MS, retryWaitScale: DEMO_RETRY_WAIT_SCALE }
    const gateway = await startAiGateway(gatewayOptions)
    started.push(gateway)
    const tlsGateway = await startAiGateway({ ...gatewayOptions, tls: selfSignedCert() })
    started.push(tlsGateway)
    const downUpstream = `http://127.0.0.1:${await refusedPort()}`

    const logFile = join(dir, 'proxy.log')
    const dbPath = opts.db ?? join(dir, 'exchanges.db')
    const configFile = join(dir, 'config.yaml')
    writeFileSync(configFile, stringify({
      routes: [
        { name: GATEWAY_ROUTE, listen: opts.listen, upstream: gateway.url, hop: 'gateway', timeouts: { headers_ms: DEMO_HEADERS_TIMEOUT_MS } },
        { name: MODEL_ROUTE, listen: opts.modelListen, upstream: model.url, hop: 'model' },
        { name: TLS_ROUTE, listen: '127.0.0.1:0', upstream: tlsGateway.url, hop: 'gateway' },
        { name: DOWN_ROUTE, listen: '127.0.0.1:0', upstream: downUpstream, hop: 'gateway' }
      ],
      admin: { listen: opts.admin },
      store: { path: dbPath, flush_interval_ms: 10 },
      log: { level: 'info', file: logFile },
      diagnosis: { expected_gitlab_url: GITLAB_URL, gateway_model_timeouts_s: [DEMO_MODEL_TIMEOUT_MS / 1000] },
      shutdown_grace_ms: 2_000
    }))
    // The user's DUO_DIAG_* variables are not read: the demo is self-contained.
    const config = loadConfig({ file: configFile, env: {} })
    const logger = createLogger(config.log.level, config.log.file)
    const proxy = await startProxy(config, logger)
    started.push({
      close: async () => {
        await proxy.close('demo stopped')
        logger.flush()
      }
    })
    const adminUrl = `http://${hostForUrl(proxy.admin!.address.address)}:${proxy.admin!.address.port}`
    return {
      proxy,
      keys,
      model,
      gateway,
      tlsGateway,
      adminUrl,
      dir,
      logFile,
      dbPath,
      routeUrl (name: string) {
        const route = proxy.routes.find((r) => r.name === name)
        if (route === undefined) throw new Error(`no route ${name}`)
        return `http://${hostForUrl(route.address.address)}:${route.address.port}`
      },
      close: stopAll
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}

/** Waits until no exchange is in flight on any route and everything recorded is stored. */
export async function settle (stack: DemoStack, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const busy = (): boolean => stack.proxy.routes.some((r) => r.runtime.inflight > 0)
  while (busy() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  // A hung-up caller's upstream call (the gateway's model call) ends a moment later.
  await new Promise((resolve) => setTimeout(resolve, 100))
  while (busy() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  await stack.proxy.pipeline.drain()
}

function hostForUrl (address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1'
  if (address === '::') return '[::1]'
  return address.includes(':') ? `[${address}]` : address
}
