/**
 * What one record costs the capture thread, part by part (issue 20): the stages the capture
 * worker runs for each record, timed one at a time on one thread, on observations the built
 * proxy's data plane produced (the store phase's mix, bench/store-rate.ts).
 *
 * A CPU profile of the worker names functions; it cannot say what a record must cost at the
 * least, and it overstates call-heavy and syscall-heavy code. This runs each stage over the same
 * records in batches of 25 (the default flush interval at 1 000 req/s), in the engine's order
 * (src/capture/engine.ts: receive, build, link, write, log, summaries back), and times it alone,
 * wall and process CPU, best of the rounds. Two floors are measured beside the real stages:
 * the same rows inserted into a table with no secondary index, and a row insert without its
 * JSON document.
 *
 *   node --import tsx bench/capture-parts.ts [--records 9000] [--rounds 3] [--batch 25] [--out FILE]
 *
 * Needs `npm run build` (it loads dist/, as the proxy runs). Pin it with `taskset -c 0` for
 * steadier figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads'
import Database from 'better-sqlite3'
import type * as BuildModule from '../src/capture/build.js'
import type * as EngineModule from '../src/capture/engine.js'
import type { Exchange } from '../src/capture/exchange.js'
import type * as LinkModule from '../src/capture/link.js'
import type * as RecentModule from '../src/capture/recent.js'
import type { WorkerInit } from '../src/capture/messages.js'
import type { ObservationRecord } from '../src/capture/record.js'
import type * as RecordModule from '../src/capture/record.js'
import type * as RulesModule from '../src/capture/redact-rules.js'
import type * as LineModule from '../src/log/exchange-line.js'
import type * as SqlModule from '../src/store/sql.js'
import type * as SqliteModule from '../src/store/sqlite.js'
import { stopChild } from './procs.js'
import { benchConfig, benchWorkerInit, captureObservations, distUrl, Feeder, loadDist, MIX_TEXT } from './store-rate.js'
import { startUpstream } from './targets.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

interface Modules {
  build: typeof BuildModule
  engine: typeof EngineModule
  link: typeof LinkModule
  recent: typeof RecentModule
  record: typeof RecordModule
  rules: typeof RulesModule
  line: typeof LineModule
  sql: typeof SqlModule
  sqlite: typeof SqliteModule
}

async function loadModules (): Promise<Modules> {
  const url = (p: string): string => distUrl(ROOT, p)
  return {
    build: await import(url('capture/build.js')) as typeof BuildModule,
    engine: await import(url('capture/engine.js')) as typeof EngineModule,
    link: await import(url('capture/link.js')) as typeof LinkModule,
    recent: await import(url('capture/recent.js')) as typeof RecentModule,
    record: await import(url('capture/record.js')) as typeof RecordModule,
    rules: await import(url('capture/redact-rules.js')) as typeof RulesModule,
    line: await import(url('log/exchange-line.js')) as typeof LineModule,
    sql: await import(url('store/sql.js')) as typeof SqlModule,
    sqlite: await import(url('store/sqlite.js')) as typeof SqliteModule
  }
}

/** A stage's cost per record: wall time on this thread, and the process's CPU (GC helpers included). */
export interface PartCost {
  part: string
  wallUs: number
  cpuUs: number
  /** What the stage is, in a few words. */
  what: string
  /** Measured beside the pipeline, not part of it (a floor, the sum). */
  reference?: boolean
}

/** Times `run` over every batch; the clock runs only inside it. */
async function timed (batches: number, run: (i: number) => void | Promise<void>): Promise<{ wallMs: number, cpuMs: number }> {
  let wall = 0
  let cpu = 0
  for (let i = 0; i < batches; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await run(i)
    wall += performance.now() - t0
    const c = process.cpuUsage(c0)
    cpu += (c.user + c.system) / 1000
  }
  return { wallMs: wall, cpuMs: cpu }
}

const COLUMNS_NO_INDEX = `CREATE TABLE exchanges (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, started_at INTEGER NOT NULL,
  route TEXT NOT NULL, hop TEXT NOT NULL, correlation_id TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
  status INTEGER, feature TEXT, model TEXT, ttfb_ms REAL, duration_ms REAL NOT NULL, data TEXT NOT NULL, parent_id TEXT,
  cause TEXT, proxy_instance TEXT NOT NULL DEFAULT '', cause_code TEXT)`

/** One round: every stage over the same records, in the engine's order, each timed alone. */
async function round (m: Modules, records: ObservationRecord[][], buildOpts: BuildModule.BuildOptions, retention: WorkerInit['retention'], dir: string, k: number): Promise<Map<string, { wallMs: number, cpuMs: number }>> {
  const out = new Map<string, { wallMs: number, cpuMs: number }>()
  const n = records.length

  // 1. The batch crosses from the data plane: serialized there, deserialized here (postMessage's own clone).
  const { port1, port2 } = new MessageChannel()
  const received: ObservationRecord[][] = []
  out.set('post', await timed(n, (i) => { port1.postMessage({ type: 'batch', seq: i, records: records[i] }) }))
  out.set('receive', await timed(n, () => {
    const msg = receiveMessageOnPort(port2)?.message as { records: ObservationRecord[] } | undefined
    if (msg === undefined) throw new Error('a posted batch did not arrive')
    received.push(msg.records)
  }))

  // 2. Building: redaction, metadata, shapes, token checks, flags, the diagnosis.
  const built: Exchange[][] = []
  out.set('build', await timed(n, (i) => { built.push(received[i]!.map((r) => m.build.buildExchange(r, buildOpts))) }))

  // 3. Linking then writing, as the engine does, into a fresh store of the real schema.
  const path = join(dir, `parts-${k}.db`)
  const store = new m.sqlite.SqliteStore(path)
  const recent = new m.recent.RecentExchanges()
  out.set('link', await timed(n, async (i) => { await m.link.linkBatch(built[i]!, store, recent.held) }))
  const documents: string[][] = []
  out.set('document', await timed(n, (i) => { documents.push(built[i]!.map((ex) => JSON.stringify(ex))) }))
  out.set('insert', await timed(n, async (i) => {
    await store.insert(built[i]!)
    recent.add(built[i]!)
  }))
  await store.close()

  // Floors: the same rows with no secondary index; and without their documents.
  const cols = m.sql.EXCHANGE_COLUMNS
  const floor = (name: string, withDocument: boolean): { wallMs: number, cpuMs: number } | Promise<{ wallMs: number, cpuMs: number }> => {
    const db = new Database(join(dir, `${name}-${k}.db`))
    db.pragma('page_size = 16384')
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.exec(COLUMNS_NO_INDEX)
    const ins = db.prepare(`INSERT INTO exchanges (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`)
    const many = db.transaction((rows: SqlModule.SqlParam[][]) => { for (const r of rows) ins.run(...r) })
    const rows = built.map((b, i) => b.map((ex, j) => {
      const row = m.sql.exchangeRow(ex)
      row[row.length - 1] = withDocument ? documents[i]![j]! : '{}'
      return row
    }))
    return timed(n, (i) => { many(rows[i]!) }).finally(() => db.close())
  }
  out.set('insert-no-index', await floor('floor', true))
  out.set('insert-no-document', await floor('nodoc', false))

  // 4. After the write: the log line (JSON to /dev/null), the metrics' summaries sent back.
  const { createLogger } = await import(distUrl(ROOT, 'log/logger.js')) as typeof import('../src/log/logger.js')
  const log = createLogger('info', '/dev/null').child({}, { redact: [] })
  out.set('log line', await timed(n, (i) => { for (const ex of built[i]!) log[m.line.exchangeLevel(ex)](m.line.exchangeLine(ex), 'exchange') }))
  await new Promise<void>((resolve) => log.flush(() => resolve()))
  const summaries = built.map((b) => b.map((ex) => ({ route: ex.route, hop: ex.hop, feature: ex.meta.feature, status: ex.status, flags: ex.flags, ttfbMs: ex.timings.ttfb_ms, cause: ex.diagnosis?.code ?? null, durationMs: ex.timings.duration_ms })))
  out.set('summaries', await timed(n, (i) => { port2.postMessage({ type: 'batch-done', seq: i, result: { summaries: summaries[i], captureErrors: 0, stored: 25, storeFailed: 0, storeError: null } }) }))
  for (let i = 0; i < n; i++) receiveMessageOnPort(port1)

  // 5. The whole engine on fresh copies of the same batches (what the capture thread runs per batch).
  const engineStore = new m.sqlite.SqliteStore(join(dir, `engine-${k}.db`))
  const engineLog = createLogger('info', '/dev/null')
  const { bodyRules, headerRules, verbose, errorBodyBytes, routes, expectedIssuer, clockSkewS, gatewayModelTimeoutsS, proxyInstance } = buildOpts
  const engine = new m.engine.CaptureEngine({ proxyInstance, bodyRules, headerRules, verbose, errorBodyBytes, routes, expectedIssuer, clockSkewS, gatewayModelTimeoutsS }, engineStore, engineLog, retention)
  const again: ObservationRecord[][] = []
  for (const b of records) port1.postMessage(b)
  for (let i = 0; i < n; i++) again.push(receiveMessageOnPort(port2)!.message as ObservationRecord[])
  out.set('engine', await timed(n, async (i) => { await engine.process(again[i]!) }))
  await engineStore.close()
  await new Promise<void>((resolve) => engineLog.flush(() => resolve()))
  port1.close()
  port2.close()
  return out
}

const WHAT: Record<string, string> = {
  post: 'postMessage of the batch (the data plane\'s side; not the capture thread\'s)',
  receive: 'the batch deserialized on arrival',
  build: 'buildExchange: redaction, metadata, shapes, token, flags, diagnosis',
  link: 'linkBatch: model calls to gateway requests (store queries, held exchanges)',
  document: 'JSON.stringify of the exchange (inside insert, shown apart)',
  insert: 'SqliteStore.insert: the row, its document and the indexes, one transaction a batch',
  'insert-no-index': 'floor: the same rows into a table with no secondary index',
  'insert-no-document': 'floor: no secondary index, and \'{}\' for the document',
  'log line': 'the per-exchange JSON log line (pino, to /dev/null)',
  summaries: 'the metrics\' summaries posted back to the data plane',
  engine: 'CaptureEngine.process: all of the capture thread\'s stages together'
}

const REFERENCE = new Set(['post', 'document', 'insert-no-index', 'insert-no-document', 'engine'])

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '9000' },
      rounds: { type: 'string', default: '3' },
      batch: { type: 'string', default: '25' },
      out: { type: 'string' }
    }
  })
  const total = Number(values.records)
  const rounds = Number(values.rounds)
  const batch = Number(values.batch)
  if (!Number.isInteger(total) || total < 100 || total > 200_000) throw new Error('--records: 100..200000')
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds: 1..20')
  if (!Number.isInteger(batch) || batch < 1 || batch > 1_000) throw new Error('--batch: 1..1000')

  const dir = mkdtempSync(join(tmpdir(), 'ddp-parts-'))
  const upstream = await startUpstream(ROOT, null)
  try {
    const dist = await loadDist(ROOT)
    const m = await loadModules()
    const sets = await captureObservations(dist, upstream.port, dir)
    const config = benchConfig(dist, upstream.port, join(dir, 'unused.db'))
    const init = benchWorkerInit(config)
    const buildOpts: BuildModule.BuildOptions = {
      proxyInstance: init.proxyInstance,
      bodyRules: m.rules.buildRuleSet(init.verbose, init.redactionAdd, init.redactionRemove),
      headerRules: m.rules.buildHeaderRuleSet(init.redactionAdd, init.redactionRemove),
      verbose: init.verbose,
      errorBodyBytes: init.errorBodyBytes,
      routes: new Map(init.routes),
      expectedIssuer: init.expectedIssuer,
      clockSkewS: init.clockSkewS,
      gatewayModelTimeoutsS: init.gatewayModelTimeoutsS,
      tlsChains: new Map()
    }
    const feeder = new Feeder(sets)
    const makeBatches = (): ObservationRecord[][] => Array.from({ length: Math.ceil(total / batch) }, () => Array.from({ length: batch }, () => m.record.toRecord(feeder.make())))

    // A warm-up round (V8 compiles and settles), then the measured ones; best of the rounds per part.
    await round(m, makeBatches(), buildOpts, init.retention, dir, 0)
    const best = new Map<string, { wallMs: number, cpuMs: number }>()
    for (let k = 1; k <= rounds; k++) {
      const got = await round(m, makeBatches(), buildOpts, init.retention, dir, k)
      for (const [part, t] of got) {
        const b = best.get(part)
        best.set(part, b === undefined ? t : { wallMs: Math.min(b.wallMs, t.wallMs), cpuMs: Math.min(b.cpuMs, t.cpuMs) })
      }
    }
    // Building alone, per kind of record: what a healthy one costs against a failure's.
    const byKind: Record<string, number> = {}
    for (const kind of ['completions', 'sse', 'notFound'] as const) {
      const recs = sets[kind].map((o) => structuredClone(m.record.toRecord(o)) as ObservationRecord)
      const runs = Math.min(20_000, total)
      for (let i = 0; i < 2_000; i++) m.build.buildExchange(recs[i % recs.length]!, buildOpts)
      const c0 = process.cpuUsage()
      for (let i = 0; i < runs; i++) m.build.buildExchange(recs[i % recs.length]!, buildOpts)
      const c = process.cpuUsage(c0)
      byKind[kind] = round1((c.user + c.system) / runs)
    }
    const records = Math.ceil(total / batch) * batch
    const parts: PartCost[] = [...best].map(([part, t]) => ({
      part,
      wallUs: round1(t.wallMs * 1000 / records),
      cpuUs: round1(t.cpuMs * 1000 / records),
      what: WHAT[part] ?? part,
      ...(REFERENCE.has(part) ? { reference: true } : {})
    }))
    const capture = parts.filter((p) => p.reference !== true)
    const sum = { wallUs: round1(capture.reduce((a, p) => a + p.wallUs, 0)), cpuUs: round1(capture.reduce((a, p) => a + p.cpuUs, 0)) }
    const result = { date: new Date().toISOString(), node: process.version, records, batch, rounds, mix: MIX_TEXT, parts, sum, buildByKindCpuUs: byKind }
    const rows = parts.map((p) => `| ${p.reference === true ? `(${p.part})` : p.part} | ${p.wallUs} | ${p.cpuUs} | ${p.what} |`)
    process.stdout.write([
      `Capture thread, per record (${records.toLocaleString('en')} records in batches of ${batch}, best of ${rounds} rounds after a warm-up; ${MIX_TEXT}):`,
      '',
      '| part | wall µs | CPU µs | what |',
      '|---|---|---|---|',
      ...rows,
      `| **sum of the capture thread's parts** | **${sum.wallUs}** | **${sum.cpuUs}** | receive + build + link + insert + log line + summaries |`,
      '',
      'Parenthesized rows are not summed: the data plane\'s side of the post, the document (inside insert), the floors, and the engine run whole.',
      '',
      `buildExchange alone, CPU µs a record: code completion ${byKind.completions}, SSE chat stream ${byKind.sse}, 404 ${byKind.notFound}.`,
      ''
    ].join('\n'))
    if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(result, null, 2) + '\n')
  } finally {
    await stopChild(upstream.child)
    rmSync(dir, { recursive: true, force: true })
  }
}

function round1 (x: number): number {
  return Math.round(x * 10) / 10
}

main().catch((err: unknown) => {
  process.stderr.write(`capture-parts: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
