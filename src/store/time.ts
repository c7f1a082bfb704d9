/** `15m`, `2h`, `7d`, `30s` → milliseconds ago; ISO 8601 → that instant. null when unreadable. */
export function parseTimeBound (text: string, now = Date.now()): number | null {
  const rel = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim())
  if (rel !== null) {
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'ms' | 's' | 'm' | 'h' | 'd']
    return now - Number(rel[1]) * unit
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null
  const t = Date.parse(text)
  return Number.isNaN(t) ? null : t
}
