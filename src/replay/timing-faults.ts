import { request } from 'undici'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'

/** Where to install a replay's timing as a fault rule: the staging proxy's admin API. */
export interface FaultAdmin {
  base: string
  token: string | null
}

/**
 * Reproduces an original's time to first byte on the way back: a fault rule on the staging
 * proxy that delays exactly this replay (matched by its X-Request-ID) by the original's TTFB.
 * Returns the rule's name, or a note (in `lang`) saying why the timing could not be installed.
 */
export async function installTtfbFault (admin: FaultAdmin, requestId: string, ttfbMs: number, lang: Lang = 'en'): Promise<{ rule: string } | { note: string }> {
  const rule = `replay-timing-${requestId}`.slice(0, 64).replace(/[^A-Za-z0-9_.-]/g, '-')
  try {
    const res = await request(`${admin.base}/api/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(admin.token === null ? {} : { authorization: `Bearer ${admin.token}` }) },
      body: JSON.stringify({ name: rule, header: `x-request-id: ${requestId}`, delay_ms: Math.round(ttfbMs) })
    })
    const text = await res.body.text()
    if (res.statusCode === 201) return { rule }
    if (res.statusCode === 409) return { note: t(lang, 'cli:replay.note.faultsOff') }
    return { note: t(lang, 'cli:replay.note.faultRefused', { status: res.statusCode, text: text.slice(0, 200) }) }
  } catch (err) {
    return { note: t(lang, 'cli:replay.note.faultUnreachable', { base: admin.base, error: (err as Error).message }) }
  }
}

export async function removeFault (admin: FaultAdmin, rule: string): Promise<void> {
  try {
    const res = await request(`${admin.base}/api/faults?name=${encodeURIComponent(rule)}`, {
      method: 'DELETE',
      headers: admin.token === null ? {} : { authorization: `Bearer ${admin.token}` }
    })
    await res.body.text()
  } catch {
    // The rule only matches this replay's id: a leftover is harmless.
  }
}
