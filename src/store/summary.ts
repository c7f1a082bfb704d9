/** Totals, error rate, breakdowns and latency percentiles over a filter, computed in the database. */
export interface Percentiles {
  p50: number | null
  p95: number | null
  p99: number | null
}

export interface LatencyRow {
  route: string
  feature: string
  count: number
  ttfb_ms: Percentiles
  duration_ms: Percentiles
}

export interface Summary {
  since: string | null
  until: string | null
  total: number
  /** Exchanges with a failure flag (client aborts, slow and token predictions not counted). */
  errors: number
  error_rate: number
  by_route: Record<string, number>
  by_feature: Record<string, number>
  by_status: Record<string, number>
  by_flag: Record<string, number>
  by_cause: Record<string, number>
  latency: LatencyRow[]
}

/** Requests and failures per time bucket (GET /api/timeseries): only buckets with requests. */
export interface TimeBucket {
  /** The bucket's start, ISO 8601 (UTC); it lasts the series' step. */
  start: string
  requests: number
  /** Counted like the summary's `errors`. */
  errors: number
}

export interface TimeSeries {
  since: string | null
  until: string | null
  step_s: number
  buckets: TimeBucket[]
}

/** At most this many buckets: a week by the minute would be 10 080, so the step grows instead. */
export const MAX_BUCKETS = 2_000

export function assembleTimeSeries (filter: { since?: number, until?: number }, stepMs: number, rows: ReadonlyArray<{ b: number | string, n: number | string, errors: number | string }>): TimeSeries {
  return {
    since: filter.since === undefined ? null : new Date(filter.since).toISOString(),
    until: filter.until === undefined ? null : new Date(filter.until).toISOString(),
    step_s: stepMs / 1000,
    buckets: rows.map((r) => ({ start: new Date(Number(r.b) * stepMs).toISOString(), requests: Number(r.n), errors: Number(r.errors) }))
      .sort((a, b) => a.start < b.start ? -1 : a.start > b.start ? 1 : 0)
  }
}

/** Flags that do not make an exchange an error by themselves. */
export const NOT_ERRORS = ['client_aborted', 'slow', 'tls_unverified', 'token_expired', 'token_not_yet_valid', 'token_audience_mismatch', 'token_issuer_mismatch', 'token_header_mismatch']

/** Counted among the summary's `errors`: some flag is a failure, not only a warning. */
export function isFailure (flags: readonly string[]): boolean {
  return flags.some((f) => !NOT_ERRORS.includes(f))
}

/** A row of the summary's counts statement (src/store/sql.ts): PostgreSQL returns bigints as strings. */
export interface CountRow {
  dim: string
  k: string | number | null
  n: number | string
}

/** What each backend's SQL returns for a summary; `assembleSummary` shapes it the same way for both. */
export interface SummaryRows {
  counts: CountRow[]
  latency: Array<{ route: string, feature: string, n: number | string, d50: number, d95: number, d99: number, t50: number | null, t95: number | null, t99: number | null }>
}

/** Breakdowns are capped: a summary is a screenful, not a dump. */
export const BREAKDOWN_LIMIT = 100
export const LATENCY_ROWS_LIMIT = 200

export function assembleSummary (filter: { since?: number, until?: number }, rows: SummaryRows): Summary {
  const of = (dim: string): CountRow[] => rows.counts.filter((r) => r.dim === dim)
  // Largest first, as each breakdown's ORDER BY had them (a UNION promises no order of its own).
  const counts = (dim: string): Record<string, number> =>
    Object.fromEntries(of(dim).map((r): [string, number] => [r.k === null ? 'none' : String(r.k), Number(r.n)]).sort((a, b) => b[1] - a[1]))
  const total = Number(of('total')[0]?.n ?? 0)
  const errors = Number(of('errors')[0]?.n ?? 0)
  return {
    since: filter.since === undefined ? null : new Date(filter.since).toISOString(),
    until: filter.until === undefined ? null : new Date(filter.until).toISOString(),
    total,
    errors,
    error_rate: total === 0 ? 0 : Math.round((errors / total) * 10_000) / 10_000,
    by_route: counts('route'),
    by_feature: counts('feature'),
    by_status: counts('status'),
    by_flag: counts('flag'),
    by_cause: counts('cause'),
    latency: rows.latency.map((r) => ({
      route: r.route,
      feature: r.feature,
      count: Number(r.n),
      ttfb_ms: { p50: r.t50, p95: r.t95, p99: r.t99 },
      duration_ms: { p50: r.d50, p95: r.d95, p99: r.d99 }
    }))
  }
}
