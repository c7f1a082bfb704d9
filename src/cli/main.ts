#!/usr/bin/env -S node --max-semi-space-size=32
// The flag: a young generation twice V8's default. Measured with the proxy on one core at
// 1 000 req/s, the default's scavenges put a +25..+70 ms p99 tail on forwarding; 32 MB semi-spaces
// remove it (p99 within 1 ms of the bare pipe) and lower RSS, fewer objects reaching the old
// generation. Every launcher passes it: this line, `npm start`, the image's NODE_OPTIONS, the bench.
import { ConfigError } from '../config/errors.js'
import { cliLang } from '../i18n/locale.js'
import { auditCommand, auditHelp } from './audit.js'
import { bundleCommand, bundleHelp } from './bundle.js'
import { replayCommand, replayHelp } from './replay.js'
import { demoCommand, demoHelp } from './demo.js'
import { doctorCommand, doctorHelp } from './doctor.js'
import { logsCommand, logsHelp } from './logs.js'
import { type Lang, resolveLang, takeLangFlag } from './lang.js'
import { err, type ExitCode, msg, out, suggest, UsageError } from './output.js'
import { ClientError } from './query-client.js'
import {
  exportCommand, exportHelp, failuresCommand, failuresHelp, purgeCommand, purgeHelp, showCommand, showHelp,
  summaryCommand, summaryHelp, tailCommand, tailHelp
} from './query.js'
import { startCommand, startHelp } from './start.js'
import { VERSION } from '../version.js'

/** The top-level help, in `lang`. */
function mainHelp (lang: Lang): string {
  return msg(lang, 'main.help', { version: VERSION })
}

type Command = (argv: string[], lang: Lang) => Promise<ExitCode>

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
  bundle: bundleCommand,
  logs: logsCommand
}

/** The options every command takes (main.ts handles them before the command runs). */
const GLOBAL_OPTIONS = ['--lang']

async function main (argv: string[]): Promise<ExitCode> {
  // --lang first: every message after it, usage errors included, is in the language it names.
  let lang: Lang = cliLang(undefined, process.env)
  let args: string[]
  try {
    const flag = takeLangFlag(argv)
    if (flag.missing) throw new UsageError(msg(lang, 'lang.missing'))
    lang = resolveLang(flag.value, process.env)
    args = flag.rest
  } catch (error) {
    err(`duo-diag-proxy: ${(error as Error).message}\n${msg(lang, 'main.runHelp')}\n`)
    return 2
  }
  const [first, ...rest] = args
  if (first === '--version' || first === '-v') {
    out(`${VERSION}\n`)
    return 0
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    out(mainHelp(lang))
    return first === undefined ? 2 : 0
  }
  const command = COMMANDS[first]
  if (command === undefined) {
    const option = first.startsWith('-')
    const hint = suggest(first, option ? ['--help', '--version', ...GLOBAL_OPTIONS] : Object.keys(COMMANDS), true, lang)
    err(`duo-diag-proxy: ${msg(lang, option ? 'main.unknownOption' : 'main.unknownCommand', { name: first })}${hint}\n${msg(lang, 'main.runHelp')}\n`)
    return 2
  }
  try {
    return await command(rest, lang)
  } catch (error) {
    return fail(first, error, lang)
  }
}

const HELPS: Record<string, (lang: Lang) => string> = {
  start: startHelp,
  failures: failuresHelp,
  show: showHelp,
  tail: tailHelp,
  summary: summaryHelp,
  export: exportHelp,
  purge: purgeHelp,
  doctor: doctorHelp,
  audit: auditHelp,
  demo: demoHelp,
  replay: replayHelp,
  bundle: bundleHelp,
  logs: logsHelp
}

/** A command's options, as its --help lists them, and the global ones (the did-you-mean candidates). */
function commandOptions (command: string): string[] {
  const help = HELPS[command]?.('en') ?? ''
  return [...new Set([...help.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]).concat('--help', ...GLOBAL_OPTIONS))]
}

/**
 * node:util parseArgs' errors, in `lang`: its messages are English sentences, so they are
 * recognised and said again from the catalog; in English, and when not recognised, they are
 * shown as Node wrote them.
 */
function parseArgsMessage (error: Error & { code?: string }, lang: Lang): string {
  const m = error.message
  if (lang === 'en') return m
  let match: RegExpExecArray | null
  if ((match = /^Option '(-\S+)(?: <value>)?' argument missing/.exec(m)) !== null) return msg(lang, 'args.missingValue', { option: match[1]! })
  if ((match = /^Option '(-\S+)' does not take an argument/.exec(m)) !== null) return msg(lang, 'args.noValue', { option: match[1]! })
  if ((match = /^Option '(-\S+)(?: <value>)?' argument is ambiguous/.exec(m)) !== null) return msg(lang, 'args.ambiguousValue', { option: match[1]! })
  if ((match = /^Unexpected argument '([^']*)'/.exec(m)) !== null) return msg(lang, 'args.unexpected', { arg: match[1]! })
  return m
}

function fail (command: string, error: unknown, lang: Lang): ExitCode {
  if (error instanceof ConfigError) {
    err(`duo-diag-proxy: ${error.message}\n`)
    return 2
  }
  const code = (error as { code?: string }).code
  if (error instanceof ClientError) {
    err(`duo-diag-proxy ${command}: ${error.message}\n`)
    return 1
  }
  const runHelp = msg(lang, 'main.runCommandHelp', { command })
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // node:util parseArgs: "Unknown option '--flga'. To specify a positional argument ...".
    const option = /Unknown option '([^']+)'/.exec((error as Error).message)?.[1]
    if (option !== undefined) {
      err(`duo-diag-proxy ${command}: ${msg(lang, 'args.unknownOption', { option })}${suggest(option, commandOptions(command), false, lang)}\n${runHelp}\n`)
      return 2
    }
  }
  if (error instanceof UsageError) {
    err(`duo-diag-proxy ${command}: ${error.message}\n${runHelp}\n`)
    return 2
  }
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    err(`duo-diag-proxy ${command}: ${parseArgsMessage(error as Error, lang)}\n${runHelp}\n`)
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
