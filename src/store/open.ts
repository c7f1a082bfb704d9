import { SqliteStore } from './sqlite.js'
import { type ExchangeStore, parseStoreLocation } from './store.js'

export interface OpenOptions {
  /** Read only: the CLI on a stopped proxy's store. Never creates a file or a schema. */
  readonly?: boolean
  /** Open for writing, but the store must already exist (the CLI's purge). */
  mustExist?: boolean
}

/**
 * The store named by `store.path` / `--db`: a SQLite file, or a PostgreSQL URL. Throws
 * StoreLocationError for a malformed location, StoreOpenError when it cannot be opened.
 * The `pg` driver is loaded only when PostgreSQL is asked for.
 */
export async function openStore (location: string, opts: OpenOptions = {}): Promise<ExchangeStore & { openWarning?: string | null }> {
  const loc = parseStoreLocation(location)
  if (loc.kind === 'sqlite') return new SqliteStore(loc.path, opts)
  const { PgStore } = await import('./postgres.js')
  return PgStore.open(loc.url, { mustExist: opts.readonly === true || opts.mustExist === true })
}
