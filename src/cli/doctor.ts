import { parseArgs } from 'node:util'
import { type CheckResult, type CheckStatus, runDoctor } from '../doctor/checks.js'
import type { Lang } from '../i18n/message.js'
import { hasKey, t } from '../i18n/translate.js'
import { type Colors, displayWidth, type ExitCode, msg, NO_PROGRESS, out, pad, progress, terminal, UsageError } from './output.js'

export const doctorHelp = (lang: Lang): string => msg(lang, 'help.doctor')

const STATUSES: CheckStatus[] = ['pass', 'warn', 'fail', 'skip']

const PAINT: Record<CheckStatus, (c: Colors, text: string) => string> = {
  pass: (c, text) => c.green(text),
  warn: (c, text) => c.yellow(text),
  fail: (c, text) => c.red(text),
  skip: (c, text) => c.dim(text)
}

/** Every check id runDoctor reports (the doctor catalog names each one). */
const CHECKS = [
  'gateway.dns', 'gateway.tcp', 'gateway.tls', 'gateway.healthz', 'gateway.ready',
  'model.url_v1', 'model.dns', 'model.tcp', 'model.tls', 'model.health', 'model.health_liveliness', 'model.models', 'model.name', 'model.chat_completion'
]

/** A check's name in `lang`: in English its stable id (`gateway.healthz`), as --json reports it. */
export function checkName (id: string, lang: Lang): string {
  return hasKey(`doctor:check.${id}`) ? t(lang, `doctor:check.${id}`) : id
}

/** The widths of the mark and name columns in `lang`: the widest of each, at least 4 and 24. */
function layout (lang: Lang): { mark: number, name: number } {
  return {
    mark: Math.max(4, ...STATUSES.map((s) => displayWidth(t(lang, `doctor:mark.${s}`)))),
    name: Math.max(24, ...CHECKS.map((id) => displayWidth(checkName(id, lang)) + 1))
  }
}

/** A check's lines: mark, name, evidence, and the next step when it did not pass. */
export function renderCheck (r: CheckResult, c: Colors, lang: Lang = 'en'): string {
  // eslint-disable-next-line no-control-regex
  const clean = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
  const width = layout(lang)
  let text = `${PAINT[r.status](c, pad(t(lang, `doctor:mark.${r.status}`), width.mark))}  ${pad(checkName(r.check, lang), width.name)} ${clean(r.evidence)}\n`
  if (r.next_step !== undefined && r.status !== 'pass') text += `${' '.repeat(width.mark + 2)}${' '.repeat(width.name)} ${c.cyan('->')} ${clean(r.next_step)}\n`
  return text
}

export async function doctorCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      gateway: { type: 'string' },
      model: { type: 'string' },
      'model-name': { type: 'string' },
      'api-key': { type: 'string' },
      chat: { type: 'boolean' },
      'ca-file': { type: 'string' },
      'timeout-ms': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    out(doctorHelp(lang))
    return 0
  }
  if (values.gateway === undefined && values.model === undefined) throw new UsageError(msg(lang, 'doctor.needTarget'))
  for (const [flag, url] of [['--gateway', values.gateway], ['--model', values.model]] as const) {
    if (url !== undefined && !/^https?:\/\/[^/]+/.test(url)) throw new UsageError(msg(lang, 'admin.notHttp', { flag, value: url }))
  }
  const timeoutMs = values['timeout-ms'] === undefined ? 5_000 : Number(values['timeout-ms'])
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 120_000) throw new UsageError(msg(lang, 'doctor.badTimeout'))
  const c = terminal().c
  // On a terminal: a status line on stderr while checks run, each check printed as it completes.
  const status = values.json ? NO_PROGRESS : progress()
  const targets = [values.gateway, values.model].filter((u) => u !== undefined).join(msg(lang, 'doctor.and'))
  let done = 0
  status.update(msg(lang, 'doctor.checking', { targets }))
  const results = await runDoctor({
    gateway: values.gateway ?? null,
    model: values.model ?? null,
    modelName: values['model-name'] ?? null,
    apiKey: values['api-key'] ?? process.env.DUO_DIAG_MODEL_API_KEY ?? null,
    chat: values.chat ?? false,
    caFile: values['ca-file'] ?? null,
    timeoutMs,
    lang,
    onResult (r) {
      if (values.json) return
      status.clear()
      out(renderCheck(r, c, lang))
      status.update(msg(lang, 'doctor.checkingDone', { targets, done: ++done }))
    }
  })
  status.clear()
  const failed = results.some((r) => r.status === 'fail')
  if (values.json) {
    out(JSON.stringify({ ok: !failed, checks: results }, null, 2) + '\n')
  } else {
    out(failed ? `\n${c.red(msg(lang, 'doctor.someFailed'))}\n` : `\n${c.green(msg(lang, 'doctor.allPassed'))}\n`)
  }
  return failed ? 1 : 0
}
