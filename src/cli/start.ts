import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { type RunningProxy, startProxy } from '../app.js'
import { type FlagOverrides, type ConfigSources, loadConfig } from '../config/load.js'
import type { Config, RouteConfig } from '../config/types.js'
import { createLogger } from '../log/logger.js'
import { describeLocation, parseStoreLocation } from '../store/store.js'
import { err, type ExitCode, out, terminal, UsageError } from './output.js'

export const START_HELP = `Usage: duo-diag-proxy start [flags]

Runs the proxy. Defaults: route gitlab-aigw on 0.0.0.0:5053 -> http://127.0.0.1:5052, admin API
on 127.0.0.1:5099, store ./data/exchanges.db. Point GitLab's AI gateway URL at the proxy's listen
address (and, optionally, a self-hosted model's endpoint at a second route). Traffic is forwarded
unchanged; each exchange is recorded, redacted the way GitLab redacts its logs, and queryable at
http://127.0.0.1:5099/api/exchanges.

Flags (each overrides the config file and DUO_DIAG_* environment variables):
  --config FILE          YAML configuration (see config/default.yaml); also DUO_DIAG_CONFIG
  --listen HOST:PORT     listen address of the one-route quick form      [0.0.0.0:5053]
  --upstream URL         upstream of the one-route quick form            [http://127.0.0.1:5052]
  --route NAME[:HOP]=LISTEN=UPSTREAM
                         add a route, e.g. model=127.0.0.1:5054=http://127.0.0.1:8000;
                         HOP is gateway, model or auto (by path); a route named model or
                         gateway sits on that hop, e.g. vllm:model=0.0.0.0:5054=http://vllm:8000
                         (repeatable; flags-defined routes replace the file's routes)
  --admin HOST:PORT|URL  admin/query API address (or http://HOST:PORT), or "off" [127.0.0.1:5099]
  --admin-token TOKEN    require "Authorization: Bearer TOKEN" on the admin API (needed to
                         bind it to a non-loopback address); also DUO_DIAG_ADMIN__TOKEN
  --db PATH|URL          the store: a SQLite file (or sqlite:PATH, :memory:), or a shared
                         PostgreSQL database postgres://user:pass@host:5432/db [./data/exchanges.db]
  --proxy-instance NAME  this proxy's name in its records (several share one PostgreSQL store)
                                                                         [the host name]
  --capture-bodies       verbose capture: keep prompt and completion text (secrets are still
                         redacted). Off by default, like GitLab's verbose AI logging.
  --no-capture           forward only, record nothing (a kill switch; the benchmark baseline)
  --ca-file FILE         extra CA bundle (PEM) trusted for https upstreams
  --insecure-skip-verify do not verify upstream TLS certificates (logged loudly; staging only)
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent         [info]

While reproducing a problem (each applies to every route):
  --connect-timeout D    upstream TCP + TLS handshake (500ms, 10s, 2m)    [10s]
  --headers-timeout D    request sent -> upstream response headers        [90s]
  --body-timeout D       longest silence between two response chunks      [90s]
  --slow-ttfb D          flag \`slow\` past this time to first byte          [15s]
  --slow-duration D      flag \`slow\` past this duration                    [30s]
  --max-body SIZE        larger request bodies get 413 (bytes, 512KiB, 64MiB) [64MiB]
  --faults / --no-faults fault injection on or off (staging only)
  --set KEY=VALUE        any configuration key, e.g. --set store.flush_interval_ms=10,
                         --set routes.0.timeouts.connect_ms=5000 (value read as YAML; repeatable)

Once started, each route's upstream is tried once (a TCP connect, in the background): when it
does not answer, a warning says so in plain words (also on stderr, on a terminal).

Stopping: SIGTERM/SIGINT lets in-flight exchanges finish (shutdown_grace_ms, 10 s) and writes
every record. A second signal stops waiting (those exchanges are cut and recorded as aborted,
every record is still written); a third exits at once.

Environment: DUO_DIAG_<SECTION>__<KEY>, nested with "__" like the AI gateway's AIGW_* variables,
e.g. DUO_DIAG_STORE__PATH=/data/x.db, DUO_DIAG_CAPTURE__BODIES=true, DUO_DIAG_PROXY_INSTANCE=aigw-0,
DUO_DIAG_ROUTES__0__UPSTREAM=https://aigw.example.com.
`

export function parseStartFlags (argv: string[]): { help: boolean, sources: ConfigSources } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      upstream: { type: 'string' },
      route: { type: 'string', multiple: true },
      admin: { type: 'string' },
      'admin-token': { type: 'string' },
      db: { type: 'string' },
      'proxy-instance': { type: 'string' },
      'capture-bodies': { type: 'boolean' },
      'no-capture': { type: 'boolean' },
      'ca-file': { type: 'string' },
      'insecure-skip-verify': { type: 'boolean' },
      'log-level': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'headers-timeout': { type: 'string' },
      'body-timeout': { type: 'string' },
      'slow-ttfb': { type: 'string' },
      'slow-duration': { type: 'string' },
      'max-body': { type: 'string' },
      faults: { type: 'boolean' },
      'no-faults': { type: 'boolean' },
      set: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' }
    }
  })
  const flags: FlagOverrides = {}
  if (values.listen !== undefined) flags.listen = values.listen
  if (values.upstream !== undefined) flags.upstream = values.upstream
  if (values.route !== undefined) flags.route = values.route
  if (values.admin !== undefined) flags.admin = adminListen(values.admin)
  if (values['admin-token'] !== undefined) flags.adminToken = values['admin-token']
  if (values.db !== undefined) flags.db = values.db
  if (values['proxy-instance'] !== undefined) flags.proxyInstance = values['proxy-instance']
  if (values['capture-bodies'] !== undefined) flags.captureBodies = values['capture-bodies']
  if (values['no-capture'] !== undefined) flags.capture = !values['no-capture']
  if (values['ca-file'] !== undefined) flags.caFile = values['ca-file']
  if (values['insecure-skip-verify'] !== undefined) flags.insecureSkipVerify = values['insecure-skip-verify']
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level']
  if (values['connect-timeout'] !== undefined) flags.connectTimeout = values['connect-timeout']
  if (values['headers-timeout'] !== undefined) flags.headersTimeout = values['headers-timeout']
  if (values['body-timeout'] !== undefined) flags.bodyTimeout = values['body-timeout']
  if (values['slow-ttfb'] !== undefined) flags.slowTtfb = values['slow-ttfb']
  if (values['slow-duration'] !== undefined) flags.slowDuration = values['slow-duration']
  if (values['max-body'] !== undefined) flags.maxBody = values['max-body']
  if (values.faults !== undefined) flags.faults = values.faults
  if (values['no-faults'] !== undefined) flags.faults = !values['no-faults']
  if (values.set !== undefined) flags.set = values.set
  return { help: values.help ?? false, sources: { file: values.config ?? null, env: process.env, flags } }
}

/**
 * `--admin` as the address to listen on: HOST:PORT and "off" as they are (the configuration checks
 * them), or the URL the query commands take, http://HOST:PORT, turned into HOST:PORT.
 */
export function adminListen (value: string): string {
  const text = value.trim()
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return value
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`--admin: "${value}" is neither HOST:PORT nor a URL`)
  }
  if (url.protocol !== 'http:') throw new UsageError(`--admin: "${value}": the admin API serves plain http; give HOST:PORT or http://HOST:PORT`)
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') throw new UsageError(`--admin: "${value}": a listen address is a host and a port, with no path`)
  return `${url.hostname}:${url.port || '80'}`
}

/** What an upstream that does not answer means, in plain words. */
export function upstreamProblem (route: Pick<RouteConfig, 'name' | 'hop'>, host: string, port: number, code: string): string {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`
  switch (code) {
    case 'ECONNREFUSED': {
      const model = route.hop === 'model' || (route.hop === 'auto' && /model|llm|vllm|ollama|litellm|tgi/i.test(route.name))
      return `nothing listens on ${address} — is the ${model ? 'model server' : 'AI gateway'} running?`
    }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `the name ${host} does not resolve`
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${address} does not answer (firewall?)`
    default:
      return `${address} cannot be reached (${code})`
  }
}

/** One TCP connect to a route's upstream: null when it answers, else the error code. */
function tryConnect (host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    // Neither keeps a stopping proxy alive.
    socket.unref()
    const timer = setTimeout(() => finish('ETIMEDOUT'), timeoutMs)
    timer.unref()
    function finish (result: string | null): void {
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    socket.once('connect', () => finish(null))
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message))
  })
}

/**
 * Once, after the start and off the request path: does each upstream answer? A warning in plain
 * words for each one that does not (a log line; on a terminal, stderr too). Never throws.
 */
export async function checkUpstreams (config: Config, proxy: RunningProxy, logger: Logger, timeoutMs = 3_000): Promise<void> {
  const warn = terminal(process.stderr)
  await Promise.all(config.routes.map(async (rc) => {
    const host = rc.upstream.hostname.replace(/^\[|\]$/g, '')
    const port = Number(rc.upstream.port || (rc.upstream.protocol === 'https:' ? 443 : 80))
    const code = await tryConnect(host, port, Math.min(timeoutMs, rc.timeouts.connectMs))
    if (code === null) return
    const problem = upstreamProblem(rc, host, port, code)
    const upstream = proxy.routes.find((r) => r.name === rc.name)?.upstream ?? rc.upstream.origin
    logger.warn({ route: rc.name, upstream, code }, `upstream check: ${problem}`)
    if (warn.tty) err(`${warn.c.yellow('warning')}: route ${rc.name} -> ${upstream}: ${problem}\n`)
  }))
}

/** On a terminal: what start is doing (the JSON log on stdout says it too, for machines). */
function announce (text: string): void {
  const term = terminal(process.stderr)
  if (term.tty) err(term.c.dim(text) + '\n')
}

/** Runs until SIGTERM/SIGINT; throws ConfigError (exit 2) on configuration or start-up problems. */
export async function startCommand (argv: string[]): Promise<ExitCode> {
  const { help, sources } = parseStartFlags(argv)
  if (help) {
    out(START_HELP)
    return 0
  }
  const config = loadConfig(sources)
  const logger = createLogger(config.log.level, config.log.file)
  const store = (() => {
    try {
      const location = parseStoreLocation(config.store.path)
      const fresh = location.kind === 'sqlite' && location.path !== ':memory:' && !existsSync(location.path)
      return `${describeLocation(location)}${fresh ? ' (first start: creating it)' : ''}`
    } catch {
      return config.store.path // startProxy reports the problem
    }
  })()
  announce(`starting: ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, store ${store}`)
  let proxy: RunningProxy
  try {
    proxy = await startProxy(config, logger)
  } finally {
    logger.flush()
  }
  const at = (a: { address: string, port: number }): string => `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
  for (const r of proxy.routes) announce(`route ${r.name}: listening on ${at(r.address)} -> ${r.upstream}`)
  if (proxy.admin !== null) announce(`admin API: http://${at(proxy.admin.address)} (duo-diag-proxy failures, tail, summary read it)`)
  announce('ready; Ctrl-C stops')
  void checkUpstreams(config, proxy, logger).catch(() => {})
  return new Promise<ExitCode>((resolve) => {
    // First SIGTERM/SIGINT: a graceful stop (in-flight exchanges finish, within shutdown_grace_ms).
    // Second: stop waiting for them — cut and recorded as aborted — but still write every record
    // captured. Third: exit at once.
    let signals = 0
    const stop = (signal: NodeJS.Signals): void => {
      signals++
      if (signals === 1) {
        proxy.close(signal).then(() => {
          logger.flush()
          resolve(0)
        }, (error: Error) => {
          logger.error({ err: { message: error.message } }, 'error while stopping')
          logger.flush()
          resolve(1)
        })
      } else if (signals === 2) {
        logger.warn({ signal }, `second ${signal}: not waiting for in-flight exchanges; writing the records captured, then exiting (again to exit at once)`)
        void proxy.close(signal)
      } else {
        logger.error({ signal }, `${signal} again: exiting at once; records not yet written are lost`)
        logger.flush()
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
      }
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}
