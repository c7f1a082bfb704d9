#!/usr/bin/env -S node --max-semi-space-size=32
// The flag: a young generation twice V8's default. Measured with the proxy on one core at
// 1 000 req/s, the default's scavenges put a +25..+70 ms p99 tail on forwarding; 32 MB semi-spaces
// remove it (p99 within 1 ms of the bare pipe) and lower RSS, fewer objects reaching the old
// generation. Every launcher passes it: this line, `npm start`, the image's NODE_OPTIONS, the bench.
import { ConfigError } from '../config/errors.js'
import { AUDIT_HELP, auditCommand } from './audit.js'
import { BUNDLE_HELP, bundleCommand } from './bundle.js'
import { REPLAY_HELP, replayCommand } from './replay.js'
import { DEMO_HELP, demoCommand } from './demo.js'
import { DOCTOR_HELP, doctorCommand } from './doctor.js'
import { err, type ExitCode, out, suggest, UsageError } from './output.js'
import { ClientError } from './query-client.js'
import {
  EXPORT_HELP, exportCommand, FAILURES_HELP, failuresCommand, PURGE_HELP, purgeCommand, SHOW_HELP, showCommand,
  SUMMARY_HELP, summaryCommand, TAIL_HELP, tailCommand
} from './query.js'
import { START_HELP, startCommand } from './start.js'
import { VERSION } from '../version.js'


const HELP = `duo-diag-proxy ${VERSION} — diagnostic proxy for GitLab Duo Self-Hosted

Usage: duo-diag-proxy <command> [flags]

Commands:
  start      run the proxy (GitLab -> proxy -> AI gateway, and optionally gateway -> proxy -> model)
  failures   failed exchanges: time, route, correlation id, status, flags, cause
  show       one request across both hops (by exchange id or correlation id), with the waterfall
  tail       live exchanges as they are captured
  summary    totals, error rate, breakdowns, latency percentiles
  export     redacted HAR 1.2 or NDJSON
  purge      delete exchanges (after a customer session)
  doctor     the support playbook's quick checks against a gateway and a model endpoint
  audit      scan the store, exports and logs for token-shaped strings (exit 1 when found)
  replay     resend captured requests to a staging gateway, side by side with the originals
  bundle     a support bundle: redacted HAR, NDJSON, summary, metrics, config, doctor, versions
  demo       a simulated gateway and model, the proxy on both hops, scripted failures: see it work

Run duo-diag-proxy <command> --help for a command's flags.
  -h, --help       this help
  -v, --version    print the version
Exit codes: 0 success, 1 failed checks or an unexpected error, 2 invalid usage or configuration.

Output: tables fit the terminal's width (the widest column is cut with …, optional columns are
left out on narrow terminals); piped or redirected output is never cut unless COLUMNS is set.
Colour on a terminal only; NO_COLOR=1 turns it off, FORCE_COLOR=1 forces it (also into a pipe).
Progress goes to stderr, on a terminal only.
`

type Command = (argv: string[]) => Promise<ExitCode>

const COMMANDS: Record<string, Command> = {
  start: startCommand,
  failures: failuresCommand,
  show: showCommand,
  tail: tailCommand,
  summary: summaryCommand,
  export: exportCommand,
  purge: purgeCommand,
  doctor: doctorCommand,
  audit: auditCommand,
  demo: demoCommand,
  replay: replayCommand,
  bundle: bundleCommand
}

async function main (argv: string[]): Promise<ExitCode> {
  const [first, ...rest] = argv
  if (first === '--version' || first === '-v') {
    out(`${VERSION}\n`)
    return 0
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    out(HELP)
    return first === undefined ? 2 : 0
  }
  const command = COMMANDS[first]
  if (command === undefined) {
    const what = first.startsWith('-') ? 'option' : 'command'
    err(`duo-diag-proxy: unknown ${what} "${first}"${suggest(first, first.startsWith('-') ? ['--help', '--version'] : Object.keys(COMMANDS), (s) => `"${s}"`)}\nRun duo-diag-proxy --help for usage.\n`)
    return 2
  }
  try {
    return await command(rest)
  } catch (error) {
    return fail(first, error)
  }
}

const HELPS: Record<string, string> = {
  start: START_HELP,
  failures: FAILURES_HELP,
  show: SHOW_HELP,
  tail: TAIL_HELP,
  summary: SUMMARY_HELP,
  export: EXPORT_HELP,
  purge: PURGE_HELP,
  doctor: DOCTOR_HELP,
  audit: AUDIT_HELP,
  demo: DEMO_HELP,
  replay: REPLAY_HELP,
  bundle: BUNDLE_HELP
}

/** A command's options, as its --help lists them (the did-you-mean candidates). */
function commandOptions (command: string): string[] {
  return [...new Set([...(HELPS[command] ?? '').matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]).concat('--help'))]
}

function fail (command: string, error: unknown): ExitCode {
  if (error instanceof ConfigError) {
    err(`duo-diag-proxy: ${error.message}\n`)
    return 2
  }
  const code = (error as { code?: string }).code
  if (error instanceof ClientError) {
    err(`duo-diag-proxy ${command}: ${error.message}\n`)
    return 1
  }
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // node:util parseArgs: "Unknown option '--flga'. To specify a positional argument ...".
    const option = /Unknown option '([^']+)'/.exec((error as Error).message)?.[1]
    if (option !== undefined) {
      err(`duo-diag-proxy ${command}: unknown option ${option}${suggest(option, commandOptions(command))}\nRun duo-diag-proxy ${command} --help for usage.\n`)
      return 2
    }
  }
  if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    err(`duo-diag-proxy ${command}: ${(error as Error).message}\nRun duo-diag-proxy ${command} --help for usage.\n`)
    return 2
  }
  err(`duo-diag-proxy: ${(error as Error).stack ?? String(error)}\n`)
  return 1
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (error: unknown) => {
  err(`duo-diag-proxy: ${(error as Error).stack ?? String(error)}\n`)
  process.exitCode = 1
})
