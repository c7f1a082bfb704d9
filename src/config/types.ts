import type { FaultRule } from '../faults/rules.js'
import type { SecretHeaders } from './secret-headers.js'

/**
 * The effective configuration, after defaults, the YAML file, DUO_DIAG_* environment variables
 * and CLI flags have been merged and validated. Every field is present: consumers never
 * re-apply defaults.
 */

/** Which hop a route sits on. `auto` decides per request from the path (see capture/features.ts). */
export type HopKind = 'auto' | 'gateway' | 'model'

export interface HostPort {
  host: string
  port: number
}

export interface RouteTimeouts {
  /** TCP + TLS handshake. */
  connectMs: number
  /** From request sent to response headers received. */
  headersMs: number
  /** Longest silence between two body chunks of the response. */
  bodyIdleMs: number
  /** The caller's request headers must arrive within this (slowloris). */
  clientHeadersMs: number
  /** The caller's whole request, headers and body, must arrive within this. */
  clientRequestMs: number
  /** A WebSocket tunnel with no traffic either way for this long is closed. */
  websocketIdleMs: number
}

export interface RouteTls {
  /** Extra CA bundle (PEM) trusted in addition to Node's roots. */
  caFile: string | null
  /** Loudly-logged opt-out of certificate verification. */
  insecureSkipVerify: boolean
}

export interface RouteConfig {
  name: string
  listen: HostPort
  /** Upstream base URL; its path (if any) prefixes every forwarded path. */
  upstream: URL
  hop: HopKind
  /** Keep the caller's Host header instead of rewriting it to the upstream's. */
  preserveHost: boolean
  tls: RouteTls
  timeouts: RouteTimeouts
  /** Largest request body accepted, in bytes (413 above it). */
  maxBodyBytes: number
  /** Callers' connections at once; null: derived from the descriptor limit. */
  maxConnections: number | null
  /** Flag `slow` past these: well before GitLab's own timeouts (55 s code, 30-60 s chat). */
  slow: { ttfbMs: number, durationMs: number }
}

export interface DiagnosisConfig {
  /** The instance URL the gateway expects as token issuer (its AIGW_GITLAB_URL); null: not checked. */
  expectedGitlabUrl: string | null
  /** Allowed clock difference for token exp/nbf, seconds. */
  clockSkewS: number
  /**
   * The AI gateway's model timeouts (litellm's, seconds): a model call the gateway hangs up on
   * after about this long is flagged model_timeout.
   */
  gatewayModelTimeoutsS: number[]
}

export interface StoreConfig {
  /** A SQLite file path (`sqlite:PATH`, `:memory:`), or a postgres:// URL. */
  path: string
  flushIntervalMs: number
  /** Records waiting to be written; past this, new records are dropped and counted. */
  maxQueue: number
  /** The same bound in bytes of body samples held. */
  maxQueueBytes: number
  /** Healthy exchanges are queued only while fewer records than this wait; failures up to maxQueue. */
  maxQueueHealthy: number
  retention: {
    maxRows: number
    maxAgeHours: number
  }
}

export interface CaptureConfig {
  /** false: forward only, record nothing (the benchmark's baseline; a kill switch). */
  enabled: boolean
  /** Verbose capture: keep prompt and completion text (secrets are still redacted). */
  bodies: boolean
  /** Bytes of each body kept for metadata extraction (head), and of a stream's tail. */
  sampleBytes: number
  tailBytes: number
  /** Bytes of an error response body (status >= 400) kept in the record. */
  errorBodyBytes: number
  /** Linux nice value of the capture thread: forwarding first on a saturated core. */
  threadNice: number
  redaction: {
    /** Extra filter rules (same syntax as the built-in ones, see capture/redact-rules.ts). */
    add: string[]
    /** Built-in rules to drop, by their text. */
    remove: string[]
  }
}

export interface AdminConfig {
  /** null disables the admin API. */
  listen: HostPort | null
  token: string | null
  /** Host names (besides IP addresses, localhost and this machine's name) the API answers to. */
  allowedHosts: string[]
}

export interface OtelConfig {
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces. */
  endpoint: string
  headers: Record<string, string>
  serviceName: string
  maxQueue: number
  holdMs: number
  /** Add a traceparent to requests that arrive without one, so upstream spans join the proxy's trace. */
  startTraces: boolean
}

/** A staging target the browser view's trace page may replay an exchange to (by name, never by URL). */
export interface ReplayTarget {
  name: string
  /** Base URL; each request's path goes below it. */
  url: URL
  /** Header name → the environment variable its value was read from: names only, safe to show. */
  headersFromEnv: Record<string, string>
  /** The values, read at start; they never serialize (see SecretHeaders). */
  headers: SecretHeaders
  /** Replaces model_endpoint in replayed gateway bodies (the CLI's --model-endpoint); null: as captured. */
  modelEndpoint: string | null
  timeoutMs: number
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface Config {
  routes: RouteConfig[]
  admin: AdminConfig
  store: StoreConfig
  capture: CaptureConfig
  /** `file`: JSON lines appended there instead of stdout. */
  log: { level: LogLevel, file: string | null }
  diagnosis: DiagnosisConfig
  /** OpenTelemetry export of each exchange as a span (OTLP/HTTP); null when off. */
  otel: OtelConfig | null
  /** Fault injection for staging: off unless enabled here. */
  faults: { enabled: boolean, rules: FaultRule[] }
  /** Replay from the browser view: no target, no replay from the page. */
  replay: { targets: ReplayTarget[] }
  /** Bounded wait for in-flight exchanges on SIGTERM/SIGINT. */
  shutdownGraceMs: number
  /** This proxy's name in the records it writes (several share one PostgreSQL store). */
  proxyInstance: string
}
