/** Small statistics helpers: percentiles of sorted samples, medians and spread across rounds. */

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile (sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] as number
}

export function median (values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2
}

export interface Summary {
  median: number
  min: number
  max: number
  /** (max − min) / |median|: how much the rounds disagree (NaN when undefined). */
  spread: number
  rounds: number[]
}

export function summarize (values: readonly number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x))
  const med = median(v)
  const min = v.length > 0 ? Math.min(...v) : NaN
  const max = v.length > 0 ? Math.max(...v) : NaN
  return { median: med, min, max, spread: Math.abs(med) > 1e-9 ? (max - min) / Math.abs(med) : NaN, rounds: [...values] }
}

export function sortedCopy (values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b)
}
