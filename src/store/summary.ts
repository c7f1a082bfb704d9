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

/** Flags that do not make an exchange an error by themselves. */
export const NOT_ERRORS = ['client_aborted', 'slow', 'tls_unverified', 'token_expired', 'token_not_yet_valid', 'token_audience_mismatch', 'token_issuer_mismatch', 'token_header_mismatch']
