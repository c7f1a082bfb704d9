import { readFileSync } from 'node:fs'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/**
 * Bounds on the callers' connections of one route. Descriptors are the resource a flood takes:
 * each caller connection can hold two (its own and the upstream's), and the admin API, the
 * store and the logs need theirs too. So a route accepts at most `max` connections; at the cap,
 * a new connection evicts one that is costing a slot for nothing — idle between requests, else
 * the one that has been sending its request the longest (a slowloris) — and only when every
 * slot is waiting for or streaming an answer is the newcomer refused. Legitimate Duo requests
 * arrive whole within milliseconds of connecting and are then never evicted, so they keep
 * getting through while slow senders churn. (An age threshold before eviction was tried: a
 * flood that reconnects fast takes every slot as it ages past it, and normal requests lost.)
 */
export interface ConnectionStats {
  open: number
  max: number
  /** Connections closed at once because every slot was doing real work. */
  refused: number
  /** Idle or slow connections closed to make room for a new one. */
  evicted: number
}

interface Tracked {
  /** When the current request (or the connection, before its first) began. */
  since: number
  req: IncomingMessage | null
  res: ServerResponse | null
  /** A WebSocket tunnel: busy by definition (its own idle timeout closes it). */
  upgraded: boolean
}

const kTracked = Symbol('duo-diag-proxy.connection')
type TrackedSocket = Socket & { [kTracked]?: Tracked }

/** Descriptors kept for everything but the routes' connections: admin API, store, logs, DNS. */
const RESERVED_DESCRIPTORS = 128
const AUTO_MAX = 8192
const AUTO_MIN = 16

/**
 * The default cap when none is configured: half the process's descriptor limit after a reserve
 * (two per connection), shared by the routes. Reads the soft limit where Linux exposes it.
 */
export function autoMaxConnections (routes: number, limitsFile = '/proc/self/limits'): number {
  let limit = 1024
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
    if (soft === 'unlimited') limit = 1_048_576
    else if (soft !== undefined && /^\d+$/.test(soft)) limit = Number(soft)
  } catch {
    // Not Linux: assume the common default.
  }
  const perRoute = Math.floor((limit - RESERVED_DESCRIPTORS) / 2 / Math.max(1, routes))
  return Math.min(AUTO_MAX, Math.max(AUTO_MIN, perRoute))
}

export class ConnectionGuard {
  private readonly sockets = new Set<TrackedSocket>()
  readonly stats: ConnectionStats

  constructor (server: Server, max: number) {
    this.stats = { open: 0, max, refused: 0, evicted: 0 }
    server.on('connection', this.onConnection)
    server.on('request', this.onRequest)
    server.on('upgrade', this.onUpgrade)
  }

  private readonly onConnection = (socket: TrackedSocket): void => {
    if (this.sockets.size >= this.stats.max && !this.evictOne()) {
      this.stats.refused++
      socket.destroy()
      return
    }
    socket[kTracked] = { since: performance.now(), req: null, res: null, upgraded: false }
    this.sockets.add(socket)
    this.stats.open = this.sockets.size
    socket.once('close', () => {
      this.sockets.delete(socket)
      this.stats.open = this.sockets.size
    })
  }

  /** The connection's current request: the eviction scan reads its progress, nothing per byte. */
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const tracked = (req.socket as TrackedSocket)[kTracked]
    if (tracked === undefined) return
    tracked.since = performance.now()
    tracked.req = req
    tracked.res = res
    // An upgrade the forwarder turned back into a plain request (not a WebSocket handshake).
    tracked.upgraded = false
  }

  private readonly onUpgrade = (req: IncomingMessage): void => {
    const tracked = (req.socket as TrackedSocket)[kTracked]
    if (tracked !== undefined) tracked.upgraded = true
  }

  /** Has this connection's current request begun (headers in) and not yet been answered? */
  requestUnderWay (socket: object): boolean {
    const t = (socket as TrackedSocket)[kTracked]
    return t !== undefined && t.res !== null && !t.res.writableFinished
  }

  answerStarted (socket: object): boolean {
    return (socket as TrackedSocket)[kTracked]?.res?.headersSent === true
  }

  /** Closes the connection that costs most for least: idle first, then the slowest sender. */
  private evictOne (): boolean {
    let slowest: TrackedSocket | null = null
    let slowestSince = Infinity
    for (const socket of this.sockets) {
      const t = socket[kTracked]!
      if (t.upgraded) continue
      const idle = t.res !== null && t.res.writableFinished
      if (idle) return this.evict(socket)
      const receiving = t.req === null || !t.req.complete
      if (receiving && t.since < slowestSince) {
        slowest = socket
        slowestSince = t.since
      }
    }
    return slowest !== null && this.evict(slowest)
  }

  private evict (socket: TrackedSocket): true {
    this.stats.evicted++
    this.sockets.delete(socket)
    socket.destroy()
    return true
  }
}
