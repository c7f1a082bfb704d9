import { currentLang } from './i18n.js'

export function formatMs (ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  if (ms === 0) return '0'
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 1_000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** Local time with milliseconds: 14:03:07.412. */
export function formatTime (iso: string): string {
  const d = new Date(iso)
  const time = d.toLocaleTimeString(currentLang() === 'ja' ? 'ja-JP' : 'en-GB', { hour12: false })
  return `${time}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

export function formatDateTime (iso: string): string {
  return new Date(iso).toLocaleString(currentLang() === 'ja' ? 'ja-JP' : 'en-GB', { hour12: false })
}

export function statusClass (status: number | null): string {
  if (status === null) return 'status-none'
  return `status-${Math.floor(status / 100)}xx`
}

/** Flags that are no failure by themselves (src/store/summary.ts NOT_ERRORS): shown as warnings. */
const WARNINGS = new Set(['client_aborted', 'slow', 'tls_unverified', 'token_expired', 'token_not_yet_valid', 'token_audience_mismatch', 'token_issuer_mismatch', 'token_header_mismatch'])

export function flagSeverity (flag: string): 'warn' | 'error' {
  return WARNINGS.has(flag) ? 'warn' : 'error'
}

/** Shell single quotes: nothing inside is interpreted. */
export function shellQuote (s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`
}
