import { maskUrl } from '../store/store.js'
import { request } from 'undici'
import { type CheckResult, type DoctorOptions, runDoctor } from '../doctor/checks.js'
import { ConfigError } from '../config/errors.js'
import { loadConfig } from '../config/load.js'
import type { Message } from '../i18n/message.js'
import { maskConfig } from './mask.js'

/** GET /metrics of a running proxy: the text, or why there is none (a code of `cli:bundle.omit`). */
export async function fetchMetrics (adminUrl: string, token: string | null): Promise<{ text: string } | { note: Message }> {
  try {
    const res = await request(`${adminUrl}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    const text = await res.body.text()
    if (res.statusCode !== 200) return { note: { code: 'metricsStatus', params: { url: adminUrl, status: res.statusCode } } }
    return { text }
  } catch (err) {
    return { note: { code: 'metricsFailed', params: { url: adminUrl, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message } } }
  }
}

export interface EffectiveConfig {
  /** Masked; null when the configuration does not load here. */
  config: unknown
  storePath: string | null
  source: string
  error: string | null
}

/**
 * The configuration the proxy would run with from here: embedded defaults, the file (`--config`
 * or DUO_DIAG_CONFIG) and DUO_DIAG_* variables. An explicit --config that fails stops the bundle
 * (the user named it); otherwise the error is recorded and the bundle goes on.
 */
export function effectiveConfig (file: string | null, env: NodeJS.ProcessEnv): EffectiveConfig {
  const named = file ?? env.DUO_DIAG_CONFIG ?? null
  const source = `embedded defaults${named ? ` < ${named}` : ''} < DUO_DIAG_* environment`
  try {
    const config = loadConfig({ file: named, env })
    return { config: maskConfig(config), storePath: maskUrl(config.store.path), source, error: null }
  } catch (err) {
    if (file !== null || !(err instanceof ConfigError)) throw err
    return { config: null, storePath: null, source, error: err.message }
  }
}

/** The doctor's checks when the user named a gateway or model, else a note saying how to get them. */
export async function doctorReport (opts: DoctorOptions | null): Promise<Record<string, unknown>> {
  if (opts === null) return { note: 'doctor was not run: give bundle --gateway URL and/or --model URL' }
  const checks: CheckResult[] = await runDoctor(opts)
  return { ok: !checks.some((c) => c.status === 'fail'), gateway: opts.gateway, model: opts.model, checks }
}
