#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startProxy } from '../app.js'
import { ConfigError } from '../config/errors.js'
import { type FlagOverrides, loadConfig } from '../config/load.js'
import { createLogger } from '../log/logger.js'

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

const HELP = `duo-diag-proxy ${VERSION} — diagnostic proxy for GitLab Duo Self-Hosted

Usage:
  duo-diag-proxy start [flags]      run the proxy (defaults: route gitlab-aigw on 0.0.0.0:5053
                                    -> http://127.0.0.1:5052, admin API on 127.0.0.1:5099,
                                    store ./data/exchanges.db)
  duo-diag-proxy --help | --version

Point GitLab's AI gateway URL at the proxy's listen address (and, optionally, a self-hosted
model's endpoint at a second route). Traffic is forwarded unchanged; each exchange is recorded,
redacted the way GitLab redacts its logs, and queryable at http://127.0.0.1:5099/api/exchanges.

Flags for start (each overrides the config file and DUO_DIAG_* environment variables):
  --config FILE          YAML configuration (see config/default.yaml); also DUO_DIAG_CONFIG
  --listen HOST:PORT     listen address of the one-route quick form      [0.0.0.0:5053]
  --upstream URL         upstream of the one-route quick form            [http://127.0.0.1:5052]
  --route NAME=LISTEN=UPSTREAM
                         add a route, e.g. model=127.0.0.1:5054=http://127.0.0.1:8000
                         (repeatable; flags-defined routes replace the file's routes)
  --admin HOST:PORT      admin/query API address, or "off"              [127.0.0.1:5099]
  --admin-token TOKEN    require "Authorization: Bearer TOKEN" on the admin API (needed to
                         bind it to a non-loopback address); also DUO_DIAG_ADMIN__TOKEN
  --db PATH              SQLite store file, or :memory:                  [./data/exchanges.db]
  --capture-bodies       verbose capture: keep prompt and completion text (secrets are still
                         redacted). Off by default, like GitLab's verbose AI logging.
  --no-capture           forward only, record nothing (a kill switch; the benchmark baseline)
  --ca-file FILE         extra CA bundle (PEM) trusted for https upstreams
  --insecure-skip-verify do not verify upstream TLS certificates (logged loudly; staging only)
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent         [info]
  -h, --help             this help
  -v, --version          print the version

Environment: DUO_DIAG_<SECTION>__<KEY>, nested with "__" like the AI gateway's AIGW_* variables,
e.g. DUO_DIAG_STORE__PATH=/data/x.db, DUO_DIAG_CAPTURE__BODIES=true,
DUO_DIAG_ROUTES__0__UPSTREAM=https://aigw.example.com.

Exit codes: 0 stopped cleanly, 1 unexpected error, 2 invalid configuration or start-up failure.
`

async function main (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        upstream: { type: 'string' },
        route: { type: 'string', multiple: true },
        admin: { type: 'string' },
        'admin-token': { type: 'string' },
        db: { type: 'string' },
        'capture-bodies': { type: 'boolean' },
        'no-capture': { type: 'boolean' },
        'ca-file': { type: 'string' },
        'insecure-skip-verify': { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (err) {
    process.stderr.write(`duo-diag-proxy: ${(err as Error).message}\nRun duo-diag-proxy --help for usage.\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.version) {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const command = positionals[0]
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP)
    return command === undefined && !values.help ? 2 : 0
  }
  if (command !== 'start') {
    process.stderr.write(`duo-diag-proxy: unknown command "${command}"\nRun duo-diag-proxy --help for usage.\n`)
    return 2
  }
  if (positionals.length > 1) {
    process.stderr.write(`duo-diag-proxy: unexpected argument "${positionals[1]}"\n`)
    return 2
  }
  const flags: FlagOverrides = {}
  if (values.listen !== undefined) flags.listen = values.listen
  if (values.upstream !== undefined) flags.upstream = values.upstream
  if (values.route !== undefined) flags.route = values.route
  if (values.admin !== undefined) flags.admin = values.admin
  if (values['admin-token'] !== undefined) flags.adminToken = values['admin-token']
  if (values.db !== undefined) flags.db = values.db
  if (values['capture-bodies'] !== undefined) flags.captureBodies = values['capture-bodies']
  if (values['no-capture'] !== undefined) flags.capture = !values['no-capture']
  if (values['ca-file'] !== undefined) flags.caFile = values['ca-file']
  if (values['insecure-skip-verify'] !== undefined) flags.insecureSkipVerify = values['insecure-skip-verify']
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level']
  return start({ file: values.config ?? null, env: process.env, flags })
}

async function start (sources: Parameters<typeof loadConfig>[0]): Promise<number> {
  let config
  try {
    config = loadConfig(sources)
  } catch (err) {
    return fail(err)
  }
  const logger = createLogger(config.log.level, config.log.file)
  let proxy
  try {
    proxy = await startProxy(config, logger)
  } catch (err) {
    logger.flush()
    return fail(err)
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'stopping: finishing in-flight exchanges')
      proxy.close().then(() => {
        logger.flush()
        resolve(0)
      }, (err: Error) => {
        logger.error({ err: { message: err.message } }, 'error while stopping')
        logger.flush()
        resolve(1)
      })
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}

function fail (err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`duo-diag-proxy: ${err.message}\n`)
    return 2
  }
  process.stderr.write(`duo-diag-proxy: ${(err as Error).stack ?? String(err)}\n`)
  return 1
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`duo-diag-proxy: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
