/**
 * A sentence the product says, kept as a stable code and its parameters: stored as such, so one
 * store serves every language, and rendered by the catalogs (src/i18n/catalogs/) when read.
 */
export const LANGS = ['en', 'ja'] as const
export type Lang = typeof LANGS[number]

/**
 * Parameter values: text and numbers are shown as they are (they come from traffic or settings
 * and are never translated); a nested Message is rendered in the same language first.
 */
export type MessageParam = string | number | Message
export type MessageParams = Record<string, MessageParam>

export interface Message {
  code: string
  params?: MessageParams
}

export function isLang (value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value)
}
