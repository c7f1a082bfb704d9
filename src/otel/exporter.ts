import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import type { Link } from '../capture/link.js'
import type { Exchange } from '../capture/exchange.js'
import type { Logger } from '../log/logger.js'
import { VERSION } from '../version.js'
import { placementOf, toSpans } from './spans.js'

export interface OtelOptions {
  endpoint: string
  headers: Record<string, string>
  serviceName: string
  /** Spans waiting to be sent (two per exchange: SERVER and CLIENT); past this, new ones are dropped and counted. */
  maxQueue: number
  /** How long a model-hop span waits for its gateway-hop parent before it is sent as a root. */
  holdMs: number
}

export interface OtelStats {
  exported: number
  dropped: number
  failed: number
}

/**
 * Sends each exchange as OTLP/HTTP spans (a SERVER span and its CLIENT child, see spans.ts),
 * from the capture worker. Model-hop exchanges are held briefly so their spans can be sent as
 * children of the gateway-hop exchange that caused them (the link is known only when the
 * gateway request completes); one whose link never comes is sent as a root after otel.hold_ms.
 * Span ids derive from exchange ids, so parent and child may go in different batches.
 * Batched, bounded, fail-open.
 */
export class ExchangeSpanExporter {
  private readonly exporter: OTLPTraceExporter
  private readonly resource: Resource
  private readonly held = new Map<string, { exchange: Exchange, until: number }>()
  private queue: ReadableSpan[] = []
  private sending = false
  readonly stats: OtelStats = { exported: 0, dropped: 0, failed: 0 }
  private lastError: string | null = null

  constructor (private readonly opts: OtelOptions, private readonly logger: Logger) {
    this.exporter = new OTLPTraceExporter({ url: opts.endpoint, headers: opts.headers, timeoutMillis: 10_000 })
    this.resource = resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': VERSION })
  }

  /** A processed batch: its exchanges and the parent links made for it. */
  onBatch (exchanges: readonly Exchange[], links: readonly Link[], now = Date.now()): void {
    const parentOf = new Map(links.map((l) => [l.child.id, l.parent]))
    const spans: ReadableSpan[] = []
    for (const ex of exchanges) {
      if (ex.hop === 'model' && !parentOf.has(ex.id)) {
        this.held.set(ex.id, { exchange: ex, until: now + this.opts.holdMs })
        continue
      }
      spans.push(...toSpans(ex, placementOf(ex, parentOf.get(ex.id)), this.resource))
    }
    // Children written in an earlier batch, linked now.
    for (const { child, parent } of links) {
      if (!this.held.delete(child.id)) continue
      spans.push(...toSpans(child, placementOf(child, parent), this.resource))
    }
    spans.push(...this.expired(now))
    this.enqueue(spans)
  }

  /** Held model spans whose parent never came: sent as roots. */
  private expired (now: number): ReadableSpan[] {
    const out: ReadableSpan[] = []
    for (const [id, h] of this.held) {
      if (h.until > now) continue
      this.held.delete(id)
      out.push(...toSpans(h.exchange, placementOf(h.exchange), this.resource))
    }
    return out
  }

  tick (now = Date.now()): void {
    this.enqueue(this.expired(now))
  }

  private enqueue (spans: ReadableSpan[]): void {
    if (spans.length === 0) return
    const room = this.opts.maxQueue - this.queue.length
    if (room < spans.length) this.stats.dropped += spans.length - Math.max(0, room)
    if (room > 0) this.queue.push(...spans.slice(0, room))
    this.send()
  }

  private send (): void {
    if (this.sending || this.queue.length === 0) return
    const batch = this.queue.splice(0, 512)
    this.sending = true
    this.exporter.export(batch, (result) => {
      this.sending = false
      if (result.code === 0) {
        this.stats.exported += batch.length
        if (this.lastError !== null) this.logger.info({ endpoint: this.opts.endpoint }, 'OTLP export recovered')
        this.lastError = null
      } else {
        this.stats.failed += batch.length
        const message = result.error?.message ?? 'export failed'
        if (message !== this.lastError) this.logger.warn({ endpoint: this.opts.endpoint, err: { message } }, 'OTLP export failed: spans dropped, traffic unaffected')
        this.lastError = message
      }
      this.send()
    })
  }

  /** Sends everything held and queued, waiting 2 s at most. */
  async close (): Promise<void> {
    this.enqueue(this.expired(Number.POSITIVE_INFINITY))
    // A collector that does not answer must not hold up shutdown for long.
    const deadline = Date.now() + 2_000
    while ((this.sending || this.queue.length > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    await Promise.race([this.exporter.shutdown().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 500).unref())])
  }
}
