import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startProxy, type RunningProxy } from '../../src/app.js'
import type { Exchange } from '../../src/capture/exchange.js'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/log/logger.js'

export interface HarnessRoute {
  name: string
  upstream: string
  hop?: 'auto' | 'gateway' | 'model'
  preserve_host?: boolean
  tls?: { ca_file?: string, insecure_skip_verify?: boolean }
  timeouts?: { connect_ms?: number, headers_ms?: number, body_idle_ms?: number, client_headers_ms?: number, client_request_ms?: number, websocket_idle_ms?: number }
  max_connections?: number
  max_body_bytes?: number
  slow?: { ttfb_ms?: number, duration_ms?: number }
}

export interface HarnessOptions {
  routes: HarnessRoute[]
  /** A file path to persist across restarts; a fresh temp file otherwise. */
  db?: string
  captureBodies?: boolean
  /** Extra raw config merged at the top level (YAML shape). */
  extra?: Record<string, unknown>
  /** The environment the configuration is loaded with (replay targets read headers from it); empty by default. */
  env?: NodeJS.ProcessEnv
}

export interface Harness {
  proxy: RunningProxy
  dir: string
  dbPath: string
  logFile: string
  /** Base URL of a route (the first when unnamed). */
  url (route?: string): string
  adminUrl: string
  /** Waits until everything recorded so far is written, then lists (newest first). */
  exchanges (query?: string): Promise<Exchange[]>
  /** Log lines written so far (parsed JSON). Call after close() for all of them. */
  logs (): Array<Record<string, unknown>>
  close (): Promise<void>
}

/** Under `npm test`, stores and logs go here, and test/setup/after.mjs audits them all for secrets. */
const CAPTURE_ROOT = join(import.meta.dirname, '..', '..', '.tap', 'ddp-captures')

/** The real proxy, in-process, on 127.0.0.1 ephemeral ports, with a temp store and log file. */
export async function startHarness (opts: HarnessOptions): Promise<Harness> {
  const dir = mkdtempSync(join(existsSync(CAPTURE_ROOT) ? CAPTURE_ROOT : tmpdir(), 'ddp-test-'))
  const dbPath = opts.db ?? join(dir, 'exchanges.db')
  const logFile = join(dir, 'proxy.log')
  const raw = {
    routes: opts.routes.map((r) => ({ listen: '127.0.0.1:0', ...r })),
    admin: { listen: '127.0.0.1:0' },
    store: { path: dbPath, flush_interval_ms: 5 },
    capture: { bodies: opts.captureBodies ?? false },
    log: { level: 'info', file: logFile },
    shutdown_grace_ms: 3000
  }
  deepMerge(raw, opts.extra ?? {})
  const file = join(dir, 'config.yaml')
  writeFileSync(file, stringify(raw))
  const config = loadConfig({ file, env: opts.env ?? {} })
  const logger = createLogger(config.log.level, config.log.file)
  const proxy = await startProxy(config, logger)
  const adminUrl = `http://127.0.0.1:${proxy.admin!.address.port}`
  let closed = false
  return {
    proxy,
    dir,
    dbPath,
    logFile,
    adminUrl,
    url (route?: string) {
      const r = route === undefined ? proxy.routes[0] : proxy.routes.find((x) => x.name === route)
      if (r === undefined) throw new Error(`no route ${route}`)
      return `http://127.0.0.1:${r.address.port}`
    },
    async exchanges (query = '') {
      await proxy.pipeline.drain()
      const res = await fetch(`${adminUrl}/api/exchanges?limit=1000${query ? '&' + query : ''}`)
      if (res.status !== 200) throw new Error(`admin API answered ${res.status}: ${await res.text()}`)
      return ((await res.json()) as { items: Exchange[] }).items
    },
    logs () {
      let text = ''
      try {
        text = readFileSync(logFile, 'utf8')
      } catch {
        return []
      }
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    },
    async close () {
      if (closed) return
      closed = true
      await proxy.close()
      logger.flush()
      // Give pino's async destinations a moment to reach the file.
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

export function removeDir (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

function deepMerge (target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    const cur = target[k]
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof cur === 'object' && cur !== null && !Array.isArray(cur)) {
      deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
    } else {
      target[k] = v
    }
  }
}
