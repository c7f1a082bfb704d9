import { parseArgs } from 'node:util'
import { startProxy } from '../app.js'
import { type FlagOverrides, type ConfigSources, loadConfig } from '../config/load.js'
import { createLogger } from '../log/logger.js'
import { type ExitCode, out } from './output.js'

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
  --admin HOST:PORT      admin/query API address, or "off"              [127.0.0.1:5099]
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
      help: { type: 'boolean', short: 'h' }
    }
  })
  const flags: FlagOverrides = {}
  if (values.listen !== undefined) flags.listen = values.listen
  if (values.upstream !== undefined) flags.upstream = values.upstream
  if (values.route !== undefined) flags.route = values.route
  if (values.admin !== undefined) flags.admin = values.admin
  if (values['admin-token'] !== undefined) flags.adminToken = values['admin-token']
  if (values.db !== undefined) flags.db = values.db
  if (values['proxy-instance'] !== undefined) flags.proxyInstance = values['proxy-instance']
  if (values['capture-bodies'] !== undefined) flags.captureBodies = values['capture-bodies']
  if (values['no-capture'] !== undefined) flags.capture = !values['no-capture']
  if (values['ca-file'] !== undefined) flags.caFile = values['ca-file']
  if (values['insecure-skip-verify'] !== undefined) flags.insecureSkipVerify = values['insecure-skip-verify']
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level']
  return { help: values.help ?? false, sources: { file: values.config ?? null, env: process.env, flags } }
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
  let proxy
  try {
    proxy = await startProxy(config, logger)
  } finally {
    logger.flush()
  }
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
