import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { type RunningProxy, startProxy } from '../app.js'
import { type FlagOverrides, type ConfigSources, loadConfig } from '../config/load.js'
import type { Config, RouteConfig } from '../config/types.js'
import type { Lang } from '../i18n/message.js'
import { createLogger } from '../log/logger.js'
import { describeLocation, parseStoreLocation } from '../store/store.js'
import { err, type ExitCode, msg, out, terminal, UsageError } from './output.js'

export const startHelp = (lang: Lang): string => msg(lang, 'help.start')

export function parseStartFlags (argv: string[], lang: Lang = 'en'): { help: boolean, sources: ConfigSources } {
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
  if (values.admin !== undefined) flags.admin = adminListen(values.admin, lang)
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
export function adminListen (value: string, lang: Lang = 'en'): string {
  const text = value.trim()
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return value
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(msg(lang, 'start.adminNotAddress', { value }))
  }
  if (url.protocol !== 'http:') throw new UsageError(msg(lang, 'start.adminNotHttp', { value }))
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') throw new UsageError(msg(lang, 'start.adminPath', { value }))
  return `${url.hostname}:${url.port || '80'}`
}

/** What an upstream that does not answer means, in plain words (English for the log, `lang` for a person). */
export function upstreamProblem (route: Pick<RouteConfig, 'name' | 'hop'>, host: string, port: number, code: string, lang: Lang = 'en'): string {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`
  switch (code) {
    case 'ECONNREFUSED': {
      const model = route.hop === 'model' || (route.hop === 'auto' && /model|llm|vllm|ollama|litellm|tgi/i.test(route.name))
      return msg(lang, model ? 'upstream.refusedModel' : 'upstream.refusedGateway', { address })
    }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return msg(lang, 'upstream.notResolved', { host })
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return msg(lang, 'upstream.noAnswer', { address })
    default:
      return msg(lang, 'upstream.unreachable', { address, code })
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
export async function checkUpstreams (config: Config, proxy: RunningProxy, logger: Logger, timeoutMs = 3_000, lang: Lang = 'en'): Promise<void> {
  const warn = terminal(process.stderr)
  await Promise.all(config.routes.map(async (rc) => {
    const host = rc.upstream.hostname.replace(/^\[|\]$/g, '')
    const port = Number(rc.upstream.port || (rc.upstream.protocol === 'https:' ? 443 : 80))
    const code = await tryConnect(host, port, Math.min(timeoutMs, rc.timeouts.connectMs))
    if (code === null) return
    const upstream = proxy.routes.find((r) => r.name === rc.name)?.upstream ?? rc.upstream.origin
    // The log stays English (it sits beside GitLab's logs); the terminal gets `lang`.
    logger.warn({ route: rc.name, upstream, code }, `upstream check: ${upstreamProblem(rc, host, port, code)}`)
    if (warn.tty) {
      const problem = upstreamProblem(rc, host, port, code, lang)
      err(`${warn.c.yellow(msg(lang, 'start.warning'))}: ${msg(lang, 'start.upstreamProblem', { route: rc.name, upstream, problem })}\n`)
    }
  }))
}

/** On a terminal: what start is doing (the JSON log on stdout says it too, for machines). */
function announce (text: string): void {
  const term = terminal(process.stderr)
  if (term.tty) err(term.c.dim(text) + '\n')
}

/** Runs until SIGTERM/SIGINT; throws ConfigError (exit 2) on configuration or start-up problems. */
export async function startCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { help, sources } = parseStartFlags(argv, lang)
  if (help) {
    out(startHelp(lang))
    return 0
  }
  const config = loadConfig(sources)
  const logger = createLogger(config.log.level, config.log.file)
  const store = (() => {
    try {
      const location = parseStoreLocation(config.store.path)
      const fresh = location.kind === 'sqlite' && location.path !== ':memory:' && !existsSync(location.path)
      return `${describeLocation(location)}${fresh ? msg(lang, 'start.firstStart') : ''}`
    } catch {
      return config.store.path // startProxy reports the problem
    }
  })()
  announce(msg(lang, 'start.starting', { count: config.routes.length, store }))
  let proxy: RunningProxy
  try {
    proxy = await startProxy(config, logger)
  } finally {
    logger.flush()
  }
  const at = (a: { address: string, port: number }): string => `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
  for (const r of proxy.routes) announce(msg(lang, 'start.listening', { route: r.name, address: at(r.address), upstream: r.upstream }))
  if (proxy.admin !== null) announce(msg(lang, 'start.admin', { address: at(proxy.admin.address) }))
  announce(msg(lang, 'start.ready'))
  void checkUpstreams(config, proxy, logger, undefined, lang).catch(() => {})
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
