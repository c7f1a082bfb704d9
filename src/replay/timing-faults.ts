import { request } from 'undici'

/** Where to install a replay's timing as a fault rule: the staging proxy's admin API. */
export interface FaultAdmin {
  base: string
  token: string | null
}

/**
 * Reproduces an original's time to first byte on the way back: a fault rule on the staging
 * proxy that delays exactly this replay (matched by its X-Request-ID) by the original's TTFB.
 * Returns the rule's name, or a note saying why the timing could not be installed.
 */
export async function installTtfbFault (admin: FaultAdmin, requestId: string, ttfbMs: number): Promise<{ rule: string } | { note: string }> {
  const rule = `replay-timing-${requestId}`.slice(0, 64).replace(/[^A-Za-z0-9_.-]/g, '-')
  try {
    const res = await request(`${admin.base}/api/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(admin.token === null ? {} : { authorization: `Bearer ${admin.token}` }) },
      body: JSON.stringify({ name: rule, header: `x-request-id: ${requestId}`, delay_ms: Math.round(ttfbMs) })
    })
    const text = await res.body.text()
    if (res.statusCode === 201) return { rule }
    if (res.statusCode === 409) return { note: 'fault injection is off on the staging proxy (faults.enabled): the original time to first byte was not reproduced' }
    return { note: `the staging proxy refused the timing rule (${res.statusCode}: ${text.slice(0, 200)})` }
  } catch (err) {
    return { note: `cannot install the timing rule on ${admin.base} (${(err as Error).message})` }
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
