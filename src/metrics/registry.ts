import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { CaptureStats } from '../capture/pipeline.js'
import type { ExchangeSummary } from '../capture/engine.js'
import type { TailStats } from '../api/live-tail.js'

/** Flags that mean the upstream (not the caller) failed. */
const UPSTREAM_FAILURE = new Set([
  'connection_refused', 'network_unreachable', 'dns_failure', 'connect_timeout', 'headers_timeout',
  'body_timeout', 'tls_error', 'connection_reset', 'stream_aborted', 'stream_truncated', 'stream_error',
  'upstream_error', 'model_error'
])

export interface MetricsSources {
  inflight: () => Array<{ route: string, inflight: number }>
  capture: () => CaptureStats
  storeRows: () => Promise<number>
  /** Callers' connections per route. */
  connections?: () => Array<{ route: string, open: number, max: number, refused: number, evicted: number }>
  /** Live tails of the admin API, when it runs. */
  tails?: () => TailStats
}

/**
 * Prometheus metrics. Labels stay low-cardinality: route, feature, status class and flag only —
 * never a path, an id or a user.
 */
export class Metrics {
  readonly registry = new Registry()
  private readonly exchanges: Counter<'route' | 'feature' | 'status_class' | 'flag'>
  private readonly upstreamErrors: Counter<'route' | 'flag'>
  private readonly diagnoses: Counter<'route' | 'code'>
  private readonly duration: Histogram<'route' | 'feature'>
  private readonly ttfb: Histogram<'route' | 'feature'>

  constructor (sources: MetricsSources) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.exchanges = new Counter({
      name: 'duo_diag_exchanges_total',
      help: 'Exchanges captured, by route, feature, status class and flag (flag="none" when unflagged; an exchange with two flags counts once under each); healthy ones shed under a backlog (duo_diag_capture_shed_total) count too',
      labelNames: ['route', 'feature', 'status_class', 'flag'],
      registers
    })
    this.upstreamErrors = new Counter({
      name: 'duo_diag_upstream_errors_total',
      help: 'Exchanges whose upstream failed (transport, 5xx, broken streams), by flag',
      labelNames: ['route', 'flag'],
      registers
    })
    this.diagnoses = new Counter({
      name: 'duo_diag_diagnoses_total',
      help: 'Diagnosed failures by route and diagnosis code (README, "Diagnosis codes"; a bounded set)',
      labelNames: ['route', 'code'],
      registers
    })
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
    this.duration = new Histogram({ name: 'duo_diag_duration_seconds', help: 'Exchange duration', labelNames: ['route', 'feature'], buckets, registers })
    this.ttfb = new Histogram({ name: 'duo_diag_ttfb_seconds', help: 'Time to the first response byte from upstream', labelNames: ['route', 'feature'], buckets, registers })
    new Gauge({
      name: 'duo_diag_inflight',
      help: 'Exchanges in flight',
      labelNames: ['route'],
      registers,
      collect () {
        for (const r of sources.inflight()) this.set({ route: r.route }, r.inflight)
      }
    })
    deltaCounter(this.registry, 'duo_diag_capture_dropped_total', 'Records lost by capture (queue full, store failing, capture error); the traffic itself was forwarded', () => sources.capture().dropped)
    deltaCounter(this.registry, 'duo_diag_capture_shed_total', 'Healthy exchanges not recorded because the capture queue held store.max_queue_healthy records (failures are still queued); duo_diag_exchanges_total counts them', () => sources.capture().shed)
    if (sources.tails !== undefined) registerTailMetrics(this.registry, sources.tails)
    if (sources.connections !== undefined) registerConnectionMetrics(this.registry, sources.connections)
    new Gauge({
      name: 'duo_diag_store_rows',
      help: 'Exchanges in the store',
      registers,
      async collect () {
        try {
          this.set(await sources.storeRows())
        } catch {
          // Store unavailable: keep the last value; /readyz says why.
        }
      }
    })
  }

  /**
   * One batch of captured exchanges, on the thread that forwards traffic: counters are summed per
   * label set first (a batch has few), so each costs one prom-client call per batch, not per exchange.
   */
  observe (summaries: readonly ExchangeSummary[]): void {
    const counts = new Map<string, { labels: { route: string, feature: string, status_class: string, flag: string }, n: number }>()
    const count = (route: string, feature: string, statusClass: string, flag: string): void => {
      const key = `${route}\n${feature}\n${statusClass}\n${flag}`
      const c = counts.get(key)
      if (c !== undefined) c.n++
      else counts.set(key, { labels: { route, feature, status_class: statusClass, flag }, n: 1 })
    }
    for (const s of summaries) {
      const statusClass = s.status === null ? 'none' : `${Math.floor(s.status / 100)}xx`
      if (s.flags.length === 0) count(s.route, s.feature, statusClass, 'none')
      for (const flag of s.flags) {
        count(s.route, s.feature, statusClass, flag)
        if (UPSTREAM_FAILURE.has(flag)) this.upstreamErrors.inc({ route: s.route, flag })
      }
      if (s.cause !== null) this.diagnoses.inc({ route: s.route, code: s.cause })
      const labels = { route: s.route, feature: s.feature }
      this.duration.observe(labels, s.durationMs / 1000)
      if (s.ttfbMs !== null) this.ttfb.observe(labels, s.ttfbMs / 1000)
    }
    for (const c of counts.values()) this.exchanges.inc(c.labels, c.n)
  }
}

function registerTailMetrics (registry: Registry, stats: () => TailStats): void {
  const registers = [registry]
  new Gauge({ name: 'duo_diag_tail_clients', help: 'Live tails open (GET /api/stream)', registers, collect () { this.set(stats().clients) } })
  new Gauge({ name: 'duo_diag_tail_buffered_bytes', help: 'Bytes queued for live tails that have not read them yet (bounded per tail)', registers, collect () { this.set(stats().bufferedBytes) } })
  deltaCounter(registry, 'duo_diag_tail_dropped_total', 'Live-tail events skipped because their reader fell behind (the reader is told how many)', () => stats().dropped)
  deltaCounter(registry, 'duo_diag_tail_disconnected_total', 'Live tails disconnected for not reading', () => stats().disconnected)
}

/** A counter fed from a running total kept elsewhere: each scrape adds what it grew by. */
function deltaCounter (registry: Registry, name: string, help: string, total: () => number): void {
  let reported = 0
  new Counter({
    name,
    help,
    registers: [registry],
    collect () {
      const n = total()
      if (n > reported) this.inc(n - reported)
      reported = n
    }
  })
}

function registerConnectionMetrics (registry: Registry, stats: NonNullable<MetricsSources['connections']>): void {
  const registers = [registry]
  new Gauge({
    name: 'duo_diag_connections',
    help: 'Callers\' connections open, by route (the cap is duo_diag_connections_max)',
    labelNames: ['route'],
    registers,
    collect () { for (const r of stats()) this.set({ route: r.route }, r.open) }
  })
  new Gauge({
    name: 'duo_diag_connections_max',
    help: 'Callers\' connections a route accepts at once (routes[].max_connections)',
    labelNames: ['route'],
    registers,
    collect () { for (const r of stats()) this.set({ route: r.route }, r.max) }
  })
  for (const [name, key, help] of [
    ['duo_diag_connections_refused_total', 'refused', 'Connections closed on arrival: the route was at its cap and every connection was busy'],
    ['duo_diag_connections_evicted_total', 'evicted', 'Idle or slow-sending connections closed to make room at the cap (slowloris)']
  ] as const) {
    const reported = new Map<string, number>()
    new Counter({
      name,
      help,
      labelNames: ['route'],
      registers,
      collect () {
        for (const r of stats()) {
          const before = reported.get(r.route) ?? 0
          if (r[key] > before) this.inc({ route: r.route }, r[key] - before)
          reported.set(r.route, r[key])
        }
      }
    })
  }
}
