/**
 * The view's texts: the catalogs' `ui` and `flags` namespaces (src/i18n/catalogs/<lang>/), the
 * same files the server and CLI translate from, through i18next like them. English or Japanese
 * by the browser's languages, until the reader picks one (kept in localStorage).
 */
import i18next from 'i18next'
import { flags as enFlags } from '../i18n/catalogs/en/flags.js'
import { ui as enUi } from '../i18n/catalogs/en/ui.js'
import { flags as jaFlags } from '../i18n/catalogs/ja/flags.js'
import { ui as jaUi } from '../i18n/catalogs/ja/ui.js'

export type Lang = 'en' | 'ja'
export const LANGS: readonly Lang[] = ['en', 'ja']
const LANG_KEY = 'duo-diag-proxy.lang'

/** Every flag the catalogs describe (the filter's choices). */
export const FLAG_NAMES = Object.keys(enFlags).sort()

function stored (): Lang | null {
  try {
    const v = localStorage.getItem(LANG_KEY)
    return v === 'en' || v === 'ja' ? v : null
  } catch {
    return null
  }
}

export function browserLang (languages: readonly string[] = navigator.languages): Lang {
  for (const l of languages) {
    const base = l.toLowerCase().split('-')[0]
    if (base === 'ja') return 'ja'
    if (base === 'en') return 'en'
  }
  return 'en'
}

const i18n = i18next.createInstance()
void i18n.init({
  lng: stored() ?? browserLang(),
  fallbackLng: 'en',
  supportedLngs: [...LANGS],
  resources: { en: { ui: enUi, flags: enFlags }, ja: { ui: jaUi, flags: jaFlags } },
  ns: ['ui', 'flags'],
  defaultNS: 'ui',
  initAsync: false,
  // Preact writes text as text, never as HTML.
  interpolation: { escapeValue: false },
  returnNull: false,
  returnEmptyString: false
})

export function currentLang (): Lang {
  return i18n.language === 'ja' ? 'ja' : 'en'
}

export function setLang (lang: Lang): void {
  try {
    localStorage.setItem(LANG_KEY, lang)
  } catch {
    // Not kept: this page only.
  }
  void i18n.changeLanguage(lang)
  document.documentElement.lang = lang
}

export function t (key: string, params?: Record<string, unknown>): string {
  return i18n.t(key, params ?? {})
}

/** A flag's description, or '' for a flag the catalogs do not know. */
export function flagText (flag: string): string {
  return i18n.exists(`flags:${flag}`) ? i18n.t(`flags:${flag}`) : ''
}

export function numberFormat (n: number, digits = 0): string {
  return new Intl.NumberFormat(currentLang(), { maximumFractionDigits: digits }).format(n)
}
