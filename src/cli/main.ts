#!/usr/bin/env -S node --max-semi-space-size=8
// The flag: a young generation half V8's default, stated so every isolate of the process (the
// forwarding, capture and query threads) gets the same. With pretenuring off (./v8-tuning.js) few
// objects outlive a scavenge, so a small one is short: after a saturating burst, the default
// mode's added p99 at 1 000 req/s was 1.4 ms at 8 MB, 1.8 at 16 and 3.1 at 32 (the bare pipe's
// 1.7–1.9), closed loop 0.99×, 0.93× and 0.99× the pipe, and RSS at a steady 1 000 req/s ~200,
// ~240 and ~295 MB (same hour, 3 rounds each). Every launcher passes it: this line, `npm start`,
// the image's NODE_OPTIONS, the bench.
// First: sets V8 flags before anything else is loaded (see the module).
import './v8-tuning.js'
import { ConfigError } from '../config/errors.js'
import { cliLang } from '../i18n/locale.js'
import { type Lang, resolveLang, takeLangFlag } from './lang.js'
import { ClientError, err, type ExitCode, msg, out, suggest, UsageError } from './output.js'
import { VERSION } from '../version.js'

/** The top-level help, in `lang`. */
function mainHelp (lang: Lang): string {
  return msg(lang, 'main.help', { version: VERSION })
}

type Command = (argv: string[], lang: Lang) => Promise<ExitCode>
type Help = (lang: Lang) => string
type Loaded = readonly [run: Command, help: Help]

/**
 * Each command's module, loaded only when that command runs: `start` pulls in the data plane and
 * the store, the query commands undici and the store, `demo` the simulators. Loading all of them
 * up front made every invocation, `--help` included, pay for all of them.
 */
const COMMANDS: Record<string, () => Promise<Loaded>> = {
  start: () => import('./start.js').then((m) => [m.startCommand, m.startHelp]),
  failures: () => import('./query.js').then((m) => [m.failuresCommand, m.failuresHelp]),
  show: () => import('./query.js').then((m) => [m.showCommand, m.showHelp]),
  tail: () => import('./query.js').then((m) => [m.tailCommand, m.tailHelp]),
  summary: () => import('./query.js').then((m) => [m.summaryCommand, m.summaryHelp]),
  export: () => import('./query.js').then((m) => [m.exportCommand, m.exportHelp]),
  purge: () => import('./query.js').then((m) => [m.purgeCommand, m.purgeHelp]),
  doctor: () => import('./doctor.js').then((m) => [m.doctorCommand, m.doctorHelp]),
  audit: () => import('./audit.js').then((m) => [m.auditCommand, m.auditHelp]),
  demo: () => import('./demo.js').then((m) => [m.demoCommand, m.demoHelp]),
  replay: () => import('./replay.js').then((m) => [m.replayCommand, m.replayHelp]),
  bundle: () => import('./bundle.js').then((m) => [m.bundleCommand, m.bundleHelp]),
  logs: () => import('./logs.js').then((m) => [m.logsCommand, m.logsHelp])
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
  const load = COMMANDS[first]
  if (load === undefined) {
    const option = first.startsWith('-')
    const hint = suggest(first, option ? ['--help', '--version', ...GLOBAL_OPTIONS] : Object.keys(COMMANDS), true, lang)
    err(`duo-diag-proxy: ${msg(lang, option ? 'main.unknownOption' : 'main.unknownCommand', { name: first })}${hint}\n${msg(lang, 'main.runHelp')}\n`)
    return 2
  }
  let help: Help | undefined
  try {
    const [run, helpOf] = await load()
    help = helpOf
    return await run(rest, lang)
  } catch (error) {
    return fail(first, help, error, lang)
  }
}

/** A command's options, as its --help lists them, and the global ones (the did-you-mean candidates). */
function commandOptions (help: Help | undefined): string[] {
  const text = help?.('en') ?? ''
  return [...new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]).concat('--help', ...GLOBAL_OPTIONS))]
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

function fail (command: string, help: Help | undefined, error: unknown, lang: Lang): ExitCode {
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
      err(`duo-diag-proxy ${command}: ${msg(lang, 'args.unknownOption', { option })}${suggest(option, commandOptions(help), false, lang)}\n${runHelp}\n`)
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
