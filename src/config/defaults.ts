/**
 * Embedded defaults, in the raw (snake_case, YAML-shaped) form. config/default.yaml documents
 * the same values; a test keeps the two in step.
 */
export const DEFAULT_ROUTE = {
  name: 'gitlab-aigw',
  listen: '0.0.0.0:5053',
  upstream: 'http://127.0.0.1:5052'
} as const

export const ROUTE_DEFAULTS = {
  hop: 'auto',
  preserve_host: false,
  tls: { ca_file: null, insecure_skip_verify: false },
  // GitLab gives up first (Workhorse 55 s for code suggestions, Rails 30-60 s for chat); the
  // proxy's own limits only protect it from upstreams that never answer.
  timeouts: { connect_ms: 10_000, headers_ms: 90_000, body_idle_ms: 90_000, client_headers_ms: 10_000, client_request_ms: 60_000, websocket_idle_ms: 600_000 },
  max_body_bytes: 64 * 1024 * 1024,
  /** null: derived from the process's descriptor limit (proxy/connections.ts). */
  max_connections: null,
  slow: { ttfb_ms: 15_000, duration_ms: 30_000 }
} as const

export const DEFAULTS = {
  routes: [{ ...DEFAULT_ROUTE }],
  admin: { listen: '127.0.0.1:5099', token: null, allowed_hosts: [] },
  store: {
    path: './data/exchanges.db',
    flush_interval_ms: 25,
    max_queue: 20_000,
    max_queue_bytes: 64 * 1024 * 1024,
    max_queue_healthy: 2_000,
    retention: { max_rows: 1_000_000, max_age_hours: 168 }
  },
  capture: {
    enabled: true,
    bodies: false,
    sample_bytes: 64 * 1024,
    tail_bytes: 16 * 1024,
    error_body_bytes: 16 * 1024,
    thread_nice: 10,
    redaction: { add: [], remove: [] }
  },
  log: { level: 'info', file: null },
  // litellm's model timeouts in the AI gateway: 30 s (chat, code), 60 s (completion prompts).
  diagnosis: { expected_gitlab_url: null, clock_skew_s: 60, gateway_model_timeouts_s: [30, 60] },
  faults: { enabled: false, rules: [] },
  otel: { enabled: false, endpoint: 'http://127.0.0.1:4318/v1/traces', headers: {}, service_name: 'duo-diag-proxy', max_queue: 10_000, hold_ms: 5_000, start_traces: false },
  /** No target: replay from the browser view is off. */
  replay: { targets: [] },
  shutdown_grace_ms: 10_000,
  /** null: the host name (a pod's name in Kubernetes). */
  proxy_instance: null
} as const
