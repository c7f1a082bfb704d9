// Minimal typings for the part of autocannon's programmatic API the benchmark uses
// (autocannon ships no TypeScript declarations).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface Histogram {
    min: number
    max: number
    average: number
    stddev: number
    p50: number
    p90: number
    p97_5: number
    p99: number
    p99_9: number
    total?: number
  }

  export interface Result {
    requests: Histogram & { total: number, sent: number }
    latency: Histogram & { totalCount: number }
    throughput: Histogram & { total: number }
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    statusCodeStats: Record<string, { count: number }>
  }

  export interface Options {
    url: string
    connections?: number
    duration?: number
    amount?: number
    timeout?: number
    pipelining?: number
    method?: string
    headers?: Record<string, string>
    body?: string | Buffer
    sampleInt?: number
    bailout?: number
    /** A run before the measured one, with its own connections and duration (seconds). */
    warmup?: { connections?: number, duration?: number }
  }

  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop (): void
  }

  function autocannon (opts: Options): Instance
  export default autocannon
}
