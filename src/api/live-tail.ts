import type { ServerResponse } from 'node:http'
import type { Exchange } from '../capture/exchange.js'
import { matches } from '../store/query.js'
import type { ExchangeFilter } from '../store/types.js'
import type { Lang } from '../i18n/message.js'
import { localizeExchange } from './localize.js'

/**
 * Bounds of the live tail. A tail is a reader we do not control: one that stops reading must
 * cost a fixed amount of memory, never a copy of every exchange since it stopped.
 */
export const TAIL_LIMITS = {
  /** Tails at once; each costs the capture worker a copy of every exchange. */
  maxClients: 16,
  /** Bytes queued for one tail (in Node and its socket) past which its events are dropped. */
  maxBufferedBytes: 1024 * 1024,
  /** A tail that has not taken a byte for this long is disconnected (it holds a slot). */
  stallMs: 60_000,
  heartbeatMs: 15_000
} as const

export type TailLimits = { [K in keyof typeof TAIL_LIMITS]: number }

export interface TailStats {
  clients: number
  /** Bytes queued for tails right now. */
  bufferedBytes: number
  /** Events not sent to a slow tail (it was told how many). */
  dropped: number
  /** Tails disconnected for not reading. */
  disconnected: number
}

/**
 * The live tails of one admin API. One subscription to capture for all of them, each exchange
 * serialised once, and per tail a bound: past `maxBufferedBytes` queued, events for that tail
 * are dropped and counted, and when it reads again it gets `event: dropped` with the count first.
 */
export class LiveTails {
  private readonly clients = new Set<TailClient>()
  private unsubscribe: (() => void) | null = null
  private readonly totals = { dropped: 0, disconnected: 0 }

  constructor (
    private readonly subscribe: (listener: (ex: Exchange) => void) => () => void,
    readonly limits: TailLimits = TAIL_LIMITS
  ) {}

  get full (): boolean {
    return this.clients.size >= this.limits.maxClients
  }

  /** Starts an event stream on `res` (headers not yet sent) for exchanges matching `filter`. */
  open (res: ServerResponse, filter: ExchangeFilter, lang: Lang = 'en'): void {
    const client = new TailClient(res, filter, lang, this.limits, this.totals)
    this.clients.add(client)
    res.once('close', () => {
      client.stop()
      this.clients.delete(client)
      if (this.clients.size === 0 && this.unsubscribe !== null) {
        this.unsubscribe()
        this.unsubscribe = null
      }
    })
    this.unsubscribe ??= this.subscribe(this.broadcast)
  }

  private readonly broadcast = (ex: Exchange): void => {
    // One rendering and one JSON per language, shared by the tails that read it.
    const texts = new Map<Lang, string>()
    for (const client of this.clients) {
      if (!matches(ex, client.filter)) continue
      let text = texts.get(client.lang)
      if (text === undefined) {
        text = `event: exchange\nid: ${ex.id}\ndata: ${JSON.stringify(localizeExchange(ex, client.lang))}\n\n`
        texts.set(client.lang, text)
      }
      client.send(text)
    }
  }

  stats (): TailStats {
    let bufferedBytes = 0
    for (const c of this.clients) bufferedBytes += c.buffered
    return { clients: this.clients.size, bufferedBytes, ...this.totals }
  }

  /** Ends every tail (shutdown). */
  closeAll (): void {
    for (const c of this.clients) c.end()
  }
}

class TailClient {
  /** Events dropped since this tail last took one. */
  private missed = 0
  /** When this tail was first seen not taking bytes, and how much it held then (0: not stalled). */
  private stalledSince = 0
  private stalledAt = 0
  private readonly heartbeat: NodeJS.Timeout

  constructor (
    private readonly res: ServerResponse,
    readonly filter: ExchangeFilter,
    readonly lang: Lang,
    private readonly limits: TailLimits,
    private readonly totals: { dropped: number, disconnected: number }
  ) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
    res.write(': duo-diag-proxy live tail\n\n')
    res.on('drain', this.onDrain)
    this.heartbeat = setInterval(this.beat, limits.heartbeatMs)
  }

  /** Bytes written but not yet taken by the reader (Node's buffer and the socket's). */
  get buffered (): number {
    return this.res.writableLength
  }

  send (text: string): void {
    if (this.res.destroyed) return
    if (this.buffered + text.length > this.limits.maxBufferedBytes) {
      this.missed++
      this.totals.dropped++
      this.stalled()
      return
    }
    if (this.missed > 0) this.res.write(`event: dropped\ndata: {"dropped":${this.missed},"reason":"slow reader"}\n\n`)
    this.missed = 0
    this.res.write(text)
  }

  /** Nothing more can be written: a reader that took some bytes since is slow, not gone. */
  private stalled (): void {
    const now = Date.now()
    const held = this.buffered
    if (this.stalledSince === 0 || held < this.stalledAt) {
      this.stalledSince = now
      this.stalledAt = held
    } else if (now - this.stalledSince > this.limits.stallMs) {
      this.totals.disconnected++
      this.res.destroy()
    }
  }

  private readonly onDrain = (): void => {
    this.stalledSince = 0
  }

  private readonly beat = (): void => {
    // A heartbeat only keeps idle connections open; a tail with bytes pending needs none.
    if (this.buffered > 0) this.stalled()
    else this.res.write(': keep-alive\n\n')
  }

  stop (): void {
    clearInterval(this.heartbeat)
  }

  /** Shutdown: a tail that is not reading would hold the admin server's close; nothing is owed it. */
  end (): void {
    this.stop()
    this.res.destroy()
  }
}
