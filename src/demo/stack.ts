/**
 * Everything the demo runs, on 127.0.0.1: the simulated model server, the simulated AI gateway
 * (JWT auth on), a second gateway behind a self-signed certificate, and the proxy in front of
 * them with three routes and its admin API.
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
import { startModelServer, type ModelServer } from '../sim/model-server.js'

export const GATEWAY_ROUTE = 'gitlab-aigw'
export const MODEL_ROUTE = 'model'
export const TLS_ROUTE = 'aigw-self-signed'
/** The gateway route's headers timeout: short, so the demo's hung request times out quickly. */
export const DEMO_HEADERS_TIMEOUT_MS = 2_000
/** Between streamed model chunks: slow enough to abort a stream mid-way. */
const MODEL_CHUNK_DELAY_MS = 60

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
    const model = await startModelServer({ record: false, chunkDelayMs: MODEL_CHUNK_DELAY_MS })
    started.push(model)
    const gateway = await startAiGateway({ record: false, jwtPublicKey: keys.publicKey })
    started.push(gateway)
    const tlsGateway = await startAiGateway({ record: false, jwtPublicKey: keys.publicKey, tls: selfSignedCert() })
    started.push(tlsGateway)

    const logFile = join(dir, 'proxy.log')
    const dbPath = opts.db ?? join(dir, 'exchanges.db')
    const configFile = join(dir, 'config.yaml')
    writeFileSync(configFile, stringify({
      routes: [
        { name: GATEWAY_ROUTE, listen: opts.listen, upstream: gateway.url, hop: 'gateway', timeouts: { headers_ms: DEMO_HEADERS_TIMEOUT_MS } },
        { name: MODEL_ROUTE, listen: opts.modelListen, upstream: model.url, hop: 'model' },
        { name: TLS_ROUTE, listen: '127.0.0.1:0', upstream: tlsGateway.url, hop: 'gateway' }
      ],
      admin: { listen: opts.admin },
      store: { path: dbPath, flush_interval_ms: 10 },
      log: { level: 'info', file: logFile },
      diagnosis: { expected_gitlab_url: GITLAB_URL },
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
