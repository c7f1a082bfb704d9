import Negotiator from 'negotiator'
import { isLang, LANGS, type Lang } from './message.js'

/**
 * `ja`, `ja_JP.UTF-8`, `ja-JP`, `JA` → ja; `en_US.UTF-8`, `C`, `POSIX` → en; anything else
 * (a language with no catalog, garbage) → null, so the next source is asked.
 */
export function langFromTag (tag: string | undefined | null): Lang | null {
  if (tag === undefined || tag === null) return null
  const text = tag.trim().toLowerCase()
  if (text === '') return null
  if (text === 'c' || text === 'posix' || text.startsWith('c.')) return 'en'
  const primary = /^([a-z]{2,3})(?:[-_.@]|$)/.exec(text)?.[1]
  return isLang(primary) ? primary : null
}

/**
 * The CLI's language: `--lang`, then DUO_DIAG_LANG, then the POSIX locale (LC_ALL, LC_MESSAGES,
 * LANG; the first one set decides, as for gettext). English otherwise.
 */
export function cliLang (flag: string | undefined, env: NodeJS.ProcessEnv): Lang {
  const chosen = langFromTag(flag) ?? langFromTag(env.DUO_DIAG_LANG)
  if (chosen !== null) return chosen
  const locale = [env.LC_ALL, env.LC_MESSAGES, env.LANG].find((v) => v !== undefined && v !== '')
  return langFromTag(locale) ?? 'en'
}

/** The API's language: `?lang=`, then Accept-Language (q-values honoured), else English. */
export function requestLang (query: string | undefined, acceptLanguage: string | undefined): Lang {
  const chosen = langFromTag(query)
  if (chosen !== null) return chosen
  if (acceptLanguage === undefined || acceptLanguage === '') return 'en'
  const best = new Negotiator({ headers: { 'accept-language': acceptLanguage.slice(0, 1024) } }).language([...LANGS])
  return isLang(best) ? best : 'en'
}
