import type { Exchange } from '../capture/exchange.js'
import { SqliteStore } from './sqlite.js'
import type { Summary } from './summary.js'
import { buildTrace, type Trace } from './trace.js'
import type { ExchangeFilter, Page, PageRequest, StoreReader } from './types.js'

/** The store file read in this process (the CLI, when the proxy is stopped). */
export class DirectStoreReader implements StoreReader {
  private readonly store: SqliteStore

  constructor (path: string, opts: { write?: boolean } = {}) {
    this.store = new SqliteStore(path, { readonly: !(opts.write ?? false), mustExist: true })
  }

  async list (filter: ExchangeFilter, page: PageRequest): Promise<Page> {
    return this.store.list(filter, page)
  }

  async get (id: string): Promise<Exchange | null> {
    return this.store.get(id)
  }

  async count (): Promise<number> {
    return this.store.count()
  }

  async trace (correlationId: string): Promise<Trace | null> {
    return buildTrace(correlationId, this.store.byCorrelation(correlationId))
  }

  async summary (filter: ExchangeFilter): Promise<Summary> {
    return this.store.summary(filter)
  }

  async purge (filter: ExchangeFilter): Promise<number> {
    return this.store.purge(filter)
  }

  close (): void {
    this.store.close()
  }
}
