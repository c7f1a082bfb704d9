import { cliLang, langFromTag } from '../i18n/locale.js'
import { LANGS, type Lang } from '../i18n/message.js'
import { msg, UsageError } from './output.js'

export type { Lang }

/**
 * Takes the global `--lang VALUE` / `--lang=VALUE` out of a command line, wherever it stands
 * before `--` (`duo-diag-proxy --lang ja failures` and `duo-diag-proxy failures --lang ja` alike);
 * the last one given wins. `value` is undefined when there is none; `missing` when `--lang` ends
 * the line without a value.
 */
export function takeLangFlag (argv: readonly string[]): { value: string | undefined, missing: boolean, rest: string[] } {
  const rest: string[] = []
  let value: string | undefined
  let missing = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') {
      rest.push(...argv.slice(i))
      break
    }
    if (a === '--lang') {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('-')) {
        missing = true
        continue
      }
      value = next
      i++
    } else if (a.startsWith('--lang=')) {
      value = a.slice('--lang='.length)
    } else {
      rest.push(a)
    }
  }
  return { value, missing, rest }
}

/**
 * The language of this run: `--lang`, then DUO_DIAG_LANG, then LC_ALL / LC_MESSAGES / LANG
 * (src/i18n/locale.ts). A `--lang` with no catalog is a usage error, said in the language the
 * environment asks for; a DUO_DIAG_LANG or locale with none falls through to the next source.
 */
export function resolveLang (flag: string | undefined, env: NodeJS.ProcessEnv): Lang {
  if (flag !== undefined && langFromTag(flag) === null) {
    throw new UsageError(msg(cliLang(undefined, env), 'lang.invalid', { value: flag, langs: LANGS.join(', ') }))
  }
  return cliLang(flag, env)
}
