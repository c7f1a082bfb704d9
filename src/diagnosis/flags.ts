import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'

/**
 * The flag vocabulary: stable names stored on exchanges, counted in metrics and documented in
 * the README. Add, never rename. Each flag names the kind of fact it comes from; what it means,
 * in each language, is in the flags catalogs (src/i18n/catalogs/<lang>/flags.ts): flagDescription.
 */
export const FLAGS = {
  // From the upstream's status.
  unauthorized: 'status',
  forbidden: 'status',
  not_found: 'status',
  rate_limited: 'status',
  model_error: 'status',
  upstream_error: 'status',
  client_error: 'status',
  // Transport: the proxy got no (complete) response.
  connection_refused: 'transport',
  network_unreachable: 'transport',
  dns_failure: 'transport',
  timeout: 'transport',
  connect_timeout: 'transport',
  headers_timeout: 'transport',
  body_timeout: 'transport',
  model_timeout: 'transport',
  tls_error: 'transport',
  connection_reset: 'transport',
  // Streams.
  stream_aborted: 'stream',
  stream_truncated: 'stream',
  stream_error: 'stream',
  // The caller.
  client_aborted: 'caller',
  // Predictions from the caller's GitLab token (decoded, never verified or stored).
  token_expired: 'token',
  token_not_yet_valid: 'token',
  token_audience_mismatch: 'token',
  token_issuer_mismatch: 'token',
  token_header_mismatch: 'token',
  // Time.
  slow: 'time',
  // The route's configuration.
  tls_unverified: 'config',
  // Staging.
  fault_injected: 'staging',
  // Requests the proxy refused itself.
  request_rejected: 'proxy'
} as const

export type Flag = keyof typeof FLAGS
export type FlagKind = typeof FLAGS[Flag]

export const ALL_FLAGS = Object.keys(FLAGS) as Flag[]

export function isFlag (value: string): value is Flag {
  return Object.hasOwn(FLAGS, value)
}

/** What a flag means, in `lang` (the flags catalog). */
export function flagDescription (flag: Flag, lang: Lang): string {
  return t(lang, `flags:${flag}`)
}
