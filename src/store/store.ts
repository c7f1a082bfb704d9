import type { Exchange } from '../capture/exchange.js'
import type { LogEvent } from '../logs/event.js'
import type { Retention, StoreReader } from './types.js'

/**
 * The exchanges a caller already holds as written, by id (the capture thread's latest writes):
 * linking's queries take them from it instead of reading and parsing their documents again.
 */
export type HeldExchanges = (id: string) => Exchange | undefined

/** Where a late model call's written parent may be (src/capture/link.ts): its end time's bounds, and the latest start. */
export interface EndWindow { endFrom: number, endBy: number, startBy: number }

/** Nothing held: every document is read. */
export const NONE_HELD: HeldExchanges = () => undefined

/**
 * The store as the capture worker writes it and the API and CLI read it. Two implementations:
 * the embedded SQLite file (the default) and a shared PostgreSQL database (several proxy
 * instances). Every method is async; only the capture worker and the CLI hold a store, never the
 * thread that forwards traffic.
 */
export interface ExchangeStore extends StoreReader {
  /** Where it lives, fit for logs (a password in a URL is masked). */
  readonly display: string
  /** Writes a batch in one transaction (one statement on PostgreSQL). Throws on a store error. */
  insert (batch: readonly Exchange[]): Promise<void>
  /** Model-hop exchanges not yet linked to a parent, started within [from, to] (epoch ms). */
  unlinkedModelExchanges (from: number, to: number, held?: HeldExchanges): Promise<Exchange[]>
  /** How many gateway-hop exchanges span [from, to]: the possible parents of a model call. */
  gatewaysSpanning (from: number, to: number): Promise<number>
  /** Gateway-hop exchanges that ended within [endFrom, endBy] and started by `startBy`, for any of these windows (at most 500, each once). */
  gatewaysEndedWithin (windows: readonly EndWindow[], held?: HeldExchanges): Promise<Exchange[]>
  /** Rewrites a stored exchange after linking (its `parent_id` and `link`, or a diagnosis its children changed). */
  setParent (child: Exchange): Promise<void>
  /**
   * Rewrites a stored exchange whose diagnosis changed (a log import explained it): its document,
   * parent, cause and cause code, and its flag rows replaced by `ex.flags`, in one transaction.
   */
  rewriteExchange (ex: Exchange): Promise<void>
  /**
   * Writes imported log events in one transaction (one statement on PostgreSQL), tagged with the
   * import run's id. An event whose fingerprint is stored already is skipped. Returns how many
   * were new. Throws LogEventError (nothing written) when an event breaks the LogEvent type.
   */
  addLogEvents (events: readonly LogEvent[], importId: string): Promise<number>
  /**
   * The correlation ids an import wrote events for, in their sort order, the first `limit` after
   * `after` (null: from the start): the import re-diagnoses them a page at a time.
   */
  importedCorrelationIds (importId: string, after: string | null, limit: number): Promise<string[]>
  /**
   * Retention by age and row count, in bounded chunks; log events by age (max_age_hours) too.
   * Returns how many exchanges were removed.
   */
  prune (retention: Retention, now?: number): Promise<number>
  close (): Promise<void>
}

export type StoreLocation =
  | { kind: 'sqlite', path: string }
  | { kind: 'postgres', url: string }

export class StoreLocationError extends Error {
  readonly code = 'DDP_STORE_LOCATION'
}

/**
 * `postgres://…` or `postgresql://…` is a PostgreSQL database; `sqlite:PATH`, a bare path, or
 * `:memory:` is a SQLite file. One setting (`store.path`, `--db`) chooses the backend.
 */
export function parseStoreLocation (value: string): StoreLocation {
  const v = value.trim()
  if (v === '') throw new StoreLocationError('the store location is empty')
  if (/^postgres(ql)?:\/\//i.test(v)) {
    let url: URL
    try {
      url = new URL(v)
    } catch {
      throw new StoreLocationError(`not a valid PostgreSQL URL: ${maskUrl(v)}`)
    }
    if (url.hostname === '' && !url.searchParams.has('host')) throw new StoreLocationError(`the PostgreSQL URL names no host: ${maskUrl(v)}`)
    return { kind: 'postgres', url: v }
  }
  if (/^sqlite:/i.test(v)) {
    const path = v.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')
    if (path === '') throw new StoreLocationError('sqlite: names no file')
    return { kind: 'sqlite', path }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) throw new StoreLocationError(`unsupported store URL scheme: ${maskUrl(v)} (use a file path, sqlite:PATH or postgres://...)`)
  return { kind: 'sqlite', path: v }
}

/** A URL with its password replaced, for logs and messages. */
export function maskUrl (value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@').replace(/([?&]password=)[^&]*/i, '$1***')
}

export function describeLocation (loc: StoreLocation): string {
  return loc.kind === 'postgres' ? maskUrl(loc.url) : loc.path
}

export class StoreOpenError extends Error {
  readonly code = 'DDP_STORE_OPEN_FAILED'
}
