/**
 * Runs a store test on both backends: a SQLite file in a temp dir, and a fresh database on the
 * suite's throw-away PostgreSQL cluster (skipped locally without PostgreSQL, required in CI).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { Exchange } from '../../src/capture/exchange.js'
import { openStore } from '../../src/store/open.js'
import type { ExchangeStore } from '../../src/store/store.js'
import { freshDatabase, pgUnavailable } from './pg.js'

export type Backend = 'sqlite' | 'postgres'
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgres']

type TapTest = Test

/** A fresh, empty store of that backend, closed (and removed) when the test ends; null: skipped. */
export async function freshStore (t: TapTest, backend: Backend): Promise<ExchangeStore | null> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'ddp-store-'))
    const store = await openStore(join(dir, 'exchanges.db'))
    t.teardown(async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return store
  }
  const url = await freshDatabase(t)
  if (url === null) {
    pgUnavailable(t)
    return null
  }
  const store = await openStore(url)
  t.teardown(() => store.close())
  return store
}

/** `name [sqlite]` and `name [postgres]`, each with a fresh store. */
export function eachBackend (t: TapTest, name: string, fn: (t: TapTest, store: ExchangeStore, backend: Backend) => Promise<void>): void {
  for (const backend of BACKENDS) {
    void t.test(`${name} [${backend}]`, async (t) => {
      const store = await freshStore(t, backend)
      if (store !== null) await fn(t, store, backend)
    })
  }
}

let n = 0

/** A hand-built exchange: the fields the store indexes, and a body worth round-tripping. */
export function exchange (over: Partial<Exchange> & { startMs?: number } = {}): Exchange {
  n++
  const { startMs, ...rest } = over
  const hop = rest.hop ?? 'gateway'
  return {
    id: (1_800_000_000_000 + (startMs ?? n)).toString(16).padStart(12, '0') + n.toString(16).padStart(12, '0'),
    proxy_instance: 'test-a',
    route: hop === 'gateway' ? 'gitlab-aigw' : 'model',
    hop,
    correlation_id: `corr-${n}`,
    correlation_source: 'caller',
    original_correlation_id: null,
    started_at: new Date(1_800_000_000_000 + (startMs ?? n)).toISOString(),
    method: 'POST',
    path: hop === 'gateway' ? '/v2/code/completions' : '/v1/chat/completions',
    query: '',
    status: 200,
    flags: [],
    timings: { ttfb_ms: 5, duration_ms: 10 },
    request: { headers: { 'content-type': 'application/json', host: 'proxy:5054' }, bytes: 120, content_type: 'application/json' },
    response: { headers: { 'content-type': 'application/json' }, bytes: 600, content_type: 'application/json' },
    client_ip: '127.0.0.1',
    upstream: 'http://127.0.0.1:5052/v2/code/completions',
    error: null,
    proxy_answered: false,
    upgraded: false,
    meta: { feature: hop === 'gateway' ? 'code_completions' : 'chat_completions' },
    diagnosis: null,
    parent_id: null,
    link: null,
    ...rest
  }
}
