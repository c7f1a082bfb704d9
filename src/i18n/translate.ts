import i18next, { type i18n } from 'i18next'
import { en } from './catalogs/en/index.js'
import { ja } from './catalogs/ja/index.js'
import { LANGS, type Lang, type Message, type MessageParams } from './message.js'

/** The catalogs' namespaces: one file per area in catalogs/<lang>/. */
export const NAMESPACES = Object.keys(en) as Array<keyof typeof en>
export type Namespace = typeof NAMESPACES[number]

const instances = new Map<Lang, i18n>()

/** One i18next instance per language, initialised synchronously on first use (catalogs are in memory). */
function instance (lang: Lang): i18n {
  let inst = instances.get(lang)
  if (inst !== undefined) return inst
  inst = i18next.createInstance()
  void inst.init({
    lng: lang,
    fallbackLng: 'en',
    supportedLngs: [...LANGS],
    resources: { en, ja },
    ns: NAMESPACES,
    defaultNS: 'diagnosis',
    initAsync: false,
    // Terminal and JSON output; the browser view writes text with textContent, never as HTML.
    interpolation: { escapeValue: false },
    returnNull: false,
    returnEmptyString: false
  })
  inst.services.formatter?.add('seconds', (value: unknown, lng: string | undefined) => seconds(Number(value), lng === 'ja' ? 'ja' : 'en'))
  instances.set(lang, inst)
  return inst
}

/** Milliseconds as seconds, two decimals under 10 s: "0.30 s", "0.30秒" (no space: docs/glossary.ja.md). */
export function seconds (ms: number, lang: Lang): string {
  if (!Number.isFinite(ms)) return String(ms)
  const text = (ms / 1000).toFixed(ms < 10_000 ? 2 : 1)
  return lang === 'ja' ? `${text}秒` : `${text} s`
}

/**
 * `t('ja', 'cli:failures.none')`. A key missing from a catalog falls back to English, then to
 * the key itself: a missing translation never breaks output.
 */
export function t (lang: Lang, key: string, params: MessageParams = {}): string {
  return instance(lang).t(key, renderParams(lang, params, 0)) as string
}

/** A stored message, rendered: `{ code: 'model_endpoint_missing_v1', params }` under `prefix`. */
export function render (lang: Lang, message: Message, prefix: string): string {
  return t(lang, `${prefix}.${message.code}`, message.params)
}

/** Whether a key exists in English (codes read back from a store written by another version). */
export function hasKey (key: string): boolean {
  return instance('en').exists(key)
}

function renderParams (lang: Lang, params: MessageParams, depth: number): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === 'object' && value !== null) {
      // A nested message (e.g. the gateway's own answer quoted in evidence). Bounded: records are untrusted.
      out[name] = depth < 4 && typeof value.code === 'string' ? t(lang, value.code, renderParams(lang, value.params ?? {}, depth + 1)) : ''
    } else {
      out[name] = value
    }
  }
  return out
}
