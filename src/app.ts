import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { resolve as resolvePath } from 'node:path'
import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { buildAdminServer } from './api/server.js'
import { isLoopback } from './api/auth.js'
import { createRequestGuard } from './api/request-guard.js'
import { LiveTails } from './api/live-tail.js'
import { doctorTargets } from './api/doctor-run.js'
import { CapturePipeline } from './capture/pipeline.js'
import { buildRuleSet, InvalidRuleError } from './capture/redact-rules.js'
import { ConfigError } from './config/errors.js'
import { formatHostPort } from './config/parse.js'
import type { Config } from './config/types.js'
import type { Logger } from './log/logger.js'
import { Metrics } from './metrics/registry.js'
import type { RouteRuntime } from './proxy/forward.js'
import type { ObservationSink } from './proxy/observation.js'
import { createRouteServer } from './proxy/server.js'
import { autoMaxConnections, type ConnectionStats } from './proxy/connections.js'
import { createUpstream } from './proxy/upstream.js'
import { describeLocation, parseStoreLocation, StoreOpenError } from './store/store.js'
import { FaultRules } from './faults/rules.js'
import { TargetReplays } from './replay/targets.js'
import { TraceStarter } from './proxy/trace-start.js'
import { VERSION } from './version.js'

/** Capture switched off: observations are dropped on the floor, uncounted. */
const DISCARD: ObservationSink = { record () {} }

export interface RunningRoute {
  name: string
  runtime: RouteRuntime
  server: Server
  /** Callers' connections: open, the cap, refused and evicted. */
  connections: ConnectionStats
  /** Actual bound address (port 0 in config → the OS-chosen port). */
  address: AddressInfo
  upstream: string
}

export interface RunningProxy {
  routes: RunningRoute[]
  admin: { app: FastifyInstance, address: AddressInfo } | null
  pipeline: CapturePipeline
  metrics: Metrics
  /** Graceful stop: no new connections, in-flight exchanges finish (bounded), records flushed. */
  close (reason?: string): Promise<void>
}

/** Starts every route, the capture worker and the admin API. Throws ConfigError on set-up problems. */
export async function startProxy (config: Config, logger: Logger): Promise<RunningProxy> {
  if (config.admin.listen !== null && !isLoopback(config.admin.listen.host) && config.admin.token === null) {
    throw new ConfigError(`admin.listen: ${formatHostPort(config.admin.listen)} is not a loopback address; set an admin token (--admin-token or DUO_DIAG_ADMIN__TOKEN) to expose the admin API`)
  }
  try {
    buildRuleSet(config.capture.bodies, config.capture.redaction.add, config.capture.redaction.remove)
  } catch (err) {
    if (err instanceof InvalidRuleError) throw new ConfigError(`capture.redaction: ${err.message}`)
    throw err
  }
  const upstreams = config.routes.map((r, i) => {
    try {
      return createUpstream(r)
    } catch (err) {
      throw new ConfigError(`routes[${i}] (${r.name}): ${(err as Error).message}`)
    }
  })

  // Looked at before the pipeline opens the store, which creates a missing SQLite file and its directory.
  const storeCreated = isNewSqliteFile(config.store.path)
  let metrics: Metrics | null = null
  const runtimes: RouteRuntime[] = []
  let pipeline: CapturePipeline
  try {
    pipeline = await CapturePipeline.start({
      init: {
        storeLocation: config.store.path,
        proxyInstance: config.proxyInstance,
        retention: config.store.retention,
        logLevel: config.log.level,
        logFile: config.log.file,
        verbose: config.capture.bodies,
        redactionAdd: config.capture.redaction.add,
        redactionRemove: config.capture.redaction.remove,
        errorBodyBytes: config.capture.errorBodyBytes,
        threadNice: config.capture.threadNice,
        routes: config.routes.map((r) => [r.name, {
          hop: r.hop,
          timeouts: r.timeouts,
          slow: r.slow,
          insecureTls: r.tls.insecureSkipVerify
        }]),
        expectedIssuer: config.diagnosis.expectedGitlabUrl,
        clockSkewS: config.diagnosis.clockSkewS,
        gatewayModelTimeoutsS: config.diagnosis.gatewayModelTimeoutsS,
        pruneIntervalMs: 60_000,
        otel: config.otel
      },
      flushIntervalMs: config.store.flushIntervalMs,
      maxQueue: config.store.maxQueue,
      maxQueueBytes: config.store.maxQueueBytes,
      maxQueueHealthy: config.store.maxQueueHealthy,
      logger,
      onSummaries: (s) => metrics?.observe(s)
    })
  } catch (err) {
    await Promise.all(upstreams.map((u) => u.pool.destroy()))
    if (err instanceof StoreOpenError) throw new ConfigError(`store.path: ${err.message}`)
    throw err
  }
  const tails = new LiveTails((listener) => pipeline.subscribe(listener))
  const m = new Metrics({
    inflight: () => runtimes.map((r) => ({ route: r.name, inflight: r.inflight })),
    capture: () => pipeline.getStats(),
    storeRows: () => pipeline.count(),
    tails: () => tails.stats(),
    connections: () => routes.map((r) => ({ route: r.name, ...r.connections }))
  })
  metrics = m

  // One rule set for every route (rules match on the route name); null keeps the hot path bare.
  const faults = config.faults.enabled ? new FaultRules(config.faults.rules) : null
  const traces = config.otel?.startTraces === true ? new TraceStarter() : null
  const routes: RunningRoute[] = []
  const cleanup = async (): Promise<void> => {
    for (const r of routes) r.server.close()
    await Promise.all(upstreams.map((u) => u.pool.destroy()))
    await pipeline.close()
  }
  for (const [i, rc] of config.routes.entries()) {
    const upstream = upstreams[i]!
    const runtime: RouteRuntime = {
      name: rc.name,
      upstream,
      preserveHost: rc.preserveHost,
      maxBodyBytes: rc.maxBodyBytes,
      // Forwarding only: nobody reads the samples, so none are kept.
      sampleBytes: config.capture.enabled ? config.capture.sampleBytes : 0,
      tailBytes: config.capture.enabled ? config.capture.tailBytes : 0,
      sink: config.capture.enabled ? pipeline : DISCARD,
      inflight: 0,
      faults,
      traces,
      websocketIdleMs: rc.timeouts.websocketIdleMs,
      forcedStop: false
    }
    runtimes.push(runtime)
    const { server, connections } = createRouteServer(runtime, {
      headersMs: rc.timeouts.clientHeadersMs,
      requestMs: rc.timeouts.clientRequestMs,
      maxConnections: rc.maxConnections ?? autoMaxConnections(config.routes.length)
    })
    try {
      await listen(server, rc.listen.host, rc.listen.port)
    } catch (err) {
      await cleanup()
      throw new ConfigError(`routes[${i}].listen: cannot listen on ${formatHostPort(rc.listen)} (${describeListenError(err)})`)
    }
    routes.push({ name: rc.name, runtime, server, connections: connections.stats, address: server.address() as AddressInfo, upstream: upstream.display })
  }

  let admin: RunningProxy['admin'] = null
  if (config.admin.listen !== null) {
    const app = buildAdminServer({
      store: pipeline,
      metrics: m,
      token: config.admin.token,
      guard: createRequestGuard(config.admin.listen.host, config.admin.allowedHosts),
      logger,
      version: VERSION,
      faults,
      replays: config.capture.enabled ? pipeline : null,
      targetReplays: new TargetReplays(config.replay.targets, config.capture.enabled ? pipeline : null),
      tails,
      doctor: doctorTargets(config.routes),
      ready: () => {
        const stats = pipeline.getStats()
        const listening = routes.every((r) => r.server.listening)
        const storeOk = stats.storeError === null
        return {
          ready: listening && storeOk,
          checks: { listeners: listening ? 'ok' : 'not listening', store: storeOk ? 'ok' : `failing: ${stats.storeError}` }
        }
      }
    })
    try {
      await app.listen({ host: config.admin.listen.host, port: config.admin.listen.port })
    } catch (err) {
      await cleanup()
      throw new ConfigError(`admin.listen: cannot listen on ${formatHostPort(config.admin.listen)} (${describeListenError(err)})`)
    }
    admin = { app, address: app.server.address() as AddressInfo }
  }

  for (const r of routes) {
    logger.info({ route: r.name, listen: `${r.address.address}:${r.address.port}`, upstream: r.upstream, max_connections: r.connections.max }, 'route listening')
    const rc = config.routes.find((c) => c.name === r.name)!
    if (rc.tls.insecureSkipVerify) {
      logger.warn({ route: r.name, upstream: r.upstream }, 'TLS VERIFICATION IS OFF for this upstream (tls.insecure_skip_verify): certificates are not checked')
    }
  }
  if (faults !== null) logger.warn({ rules: faults.list().map((r) => r.name) }, 'FAULT INJECTION IS ENABLED: matching requests get injected failures (staging only)')
  if (admin !== null) logger.info({ listen: `${admin.address.address}:${admin.address.port}`, token_required: config.admin.token !== null }, 'admin API listening')
  const store = parseStoreLocation(config.store.path)
  logger.info({
    // Absolute: a relative path (the default ./data/exchanges.db) depends on where the proxy was started.
    store: store.kind === 'sqlite' && store.path !== ':memory:' ? resolvePath(store.path) : describeLocation(store),
    ...(storeCreated ? { store_created: true } : {}),
    proxy_instance: config.proxyInstance,
    capture_mode: !config.capture.enabled
      ? 'off (forwarding only, nothing recorded)'
      : config.capture.bodies ? 'verbose (prompt and completion text kept, secrets redacted)' : 'metadata (no prompt or completion text)'
  }, 'capture ready')

  let closing: Promise<void> | null = null
  /** Set while a stop waits for in-flight exchanges; called (a second signal), it stops waiting. */
  let stopWaiting: ((reason: string) => void) | null = null
  return {
    routes,
    admin,
    pipeline,
    metrics: m,
    /**
     * Called again while stopping (a second SIGTERM/SIGINT): stops waiting for in-flight
     * exchanges — their connections are cut and they are recorded as aborted — and still writes
     * every record captured before the store is closed.
     */
    close (reason?: string) {
      if (closing !== null) {
        stopWaiting?.(reason ?? 'close')
        return closing
      }
      closing = (async () => {
        const inflight = (): number => runtimes.reduce((n, r) => n + r.inflight, 0)
        for (const r of routes) r.server.close()
        logger.info({ reason: reason ?? 'close', inflight: inflight() }, 'stopping: listeners closed, finishing in-flight exchanges')
        const deadline = Date.now() + config.shutdownGraceMs
        const forcedBy = await new Promise<string | null>((resolve) => {
          stopWaiting = resolve
          const poll = (): void => {
            if (inflight() === 0 || Date.now() >= deadline) resolve(null)
            else setTimeout(poll, 20)
          }
          poll()
        })
        stopWaiting = null
        if (forcedBy !== null) logger.warn({ reason: forcedBy, inflight: inflight() }, 'stopping now: in-flight exchanges are cut and recorded as aborted; every record captured is still written')
        if (forcedBy !== null) for (const r of runtimes) r.forcedStop = true
        for (const r of routes) r.server.closeAllConnections()
        // A cut exchange is recorded when its connection's close event runs: let those reach capture.
        const cutDeadline = Date.now() + 1_000
        while (inflight() > 0 && Date.now() < cutDeadline) await sleep(5)
        tails.closeAll()
        await admin?.app.close()
        await Promise.all(upstreams.map((u) => forcedBy !== null ? u.pool.destroy() : u.pool.close().catch(() => u.pool.destroy())))
        await pipeline.close()
        logger.info({ stored: pipeline.stats.stored, dropped: pipeline.stats.dropped, ...(forcedBy !== null ? { forced: true } : {}) }, 'stopped')
      })()
      return closing
    }
  }
}

function listen (server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

function describeListenError (err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EADDRINUSE') return 'address already in use'
  if (code === 'EACCES') return 'permission denied'
  if (code === 'EADDRNOTAVAIL') return 'no such local address'
  return (err as Error).message
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A SQLite file that does not exist yet: opening the store creates it. */
function isNewSqliteFile (location: string): boolean {
  try {
    const loc = parseStoreLocation(location)
    return loc.kind === 'sqlite' && loc.path !== ':memory:' && !existsSync(loc.path)
  } catch {
    return false // the pipeline reports a bad location
  }
}
