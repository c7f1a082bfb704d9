/**
 * The capture thread: owns the store (SQLite, or a PostgreSQL pool), builds exchanges (redaction, metadata, flags),
 * logs them and writes them. Traffic never waits on anything here.
 */
import { yieldToForwarding } from './thread-priority.js'
import { parentPort, workerData } from 'node:worker_threads'
import { createLogger } from '../log/logger.js'
import { openStore } from '../store/open.js'
import type { ExchangeStore } from '../store/store.js'
import { CaptureEngine } from './engine.js'
import { ExchangeSpanExporter } from '../otel/exporter.js'
import type { FromWorker, StoreOp, ToWorker, WorkerInit } from './messages.js'
import { buildHeaderRuleSet, buildRuleSet } from './redact-rules.js'

const init = workerData as WorkerInit
const port = parentPort
if (port === null) throw new Error('capture/worker.ts runs as a worker thread only')

yieldToForwarding(init.threadNice)

function send (msg: FromWorker): void {
  port!.postMessage(msg)
}

const logger = createLogger(init.logLevel, init.logFile)
let store: ExchangeStore & { openWarning?: string | null }
try {
  store = await openStore(init.storeLocation)
} catch (err) {
  send({ type: 'open-error', message: (err as Error).message })
  process.exit(0)
}
if (store.openWarning) logger.error({ store: store.display }, store.openWarning)

const otel = init.otel === null ? null : new ExchangeSpanExporter(init.otel, logger)
const otelTimer = otel === null ? null : setInterval(() => otel.tick(), 1_000)
otelTimer?.unref()

// Batches, and the enrichment writes that follow TLS probes, run one after another: store writes
// never interleave. Queries answer at once (a SQLite file's reads go to the query thread instead).
let batches: Promise<void> = Promise.resolve()
function serial (task: () => Promise<void>): Promise<void> {
  const run = batches.then(task)
  batches = run.catch((err: unknown) => {
    logger.error({ err: { message: (err as Error).message, stack: (err as Error).stack } }, 'capture task failed')
  })
  return batches
}

const engine = new CaptureEngine({
  proxyInstance: init.proxyInstance,
  bodyRules: buildRuleSet(init.verbose, init.redactionAdd, init.redactionRemove),
  headerRules: buildHeaderRuleSet(init.redactionAdd, init.redactionRemove),
  verbose: init.verbose,
  errorBodyBytes: init.errorBodyBytes,
  routes: new Map(init.routes),
  expectedIssuer: init.expectedIssuer,
  clockSkewS: init.clockSkewS,
  gatewayModelTimeoutsS: init.gatewayModelTimeoutsS
}, store, logger, init.retention, otel, serial)

void engine.prune()
const pruneTimer = setInterval(() => { void engine.prune() }, init.pruneIntervalMs)
pruneTimer.unref()

async function runQuery (q: StoreOp): Promise<unknown> {
  switch (q.op) {
    case 'list': return store.list(q.filter, q.page)
    case 'get': return store.get(q.id)
    case 'count': return store.count()
    case 'trace': return store.trace(q.correlationId)
    case 'summary': return store.summary(q.filter)
    case 'timeseries': return store.timeseries(q.filter, q.stepMs)
    case 'purge': return store.purge(q.filter)
    case 'logEvents': return store.logEvents(q.correlationId, q.limit)
    case 'listLogEvents': return store.listLogEvents(q.filter, q.page)
    case 'settle':
      // Enrichment after TLS probes included: what was handed over is written as it will stay.
      await engine.settled()
      await batches
      return null
  }
}

let tail = false
let closing = false

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'batch':
      void serial(async () => {
        try {
          const { result, exchanges } = await engine.process(msg.records)
          send({ type: 'batch-done', seq: msg.seq, result, ...(tail || msg.returnExchanges === true ? { exchanges } : {}) })
        } catch (err) {
          // A bug, not a store error: the batch is counted as lost, the next one is processed.
          logger.error({ err: { message: (err as Error).message, stack: (err as Error).stack } }, 'capture failed for a batch')
          send({ type: 'batch-done', seq: msg.seq, result: { summaries: [], captureErrors: msg.records.length, stored: 0, storeFailed: 0, storeError: null } })
        }
      })
      break
    case 'tail':
      tail = msg.on
      break
    case 'query':
      runQuery(msg.query).then(
        (value) => send({ type: 'reply', id: msg.id, ok: true, value }),
        (err: unknown) => send({ type: 'reply', id: msg.id, ok: false, error: { message: (err as Error).message, code: (err as { code?: string }).code } })
      )
      break
    case 'close':
      if (closing) break
      closing = true
      // Every batch already posted is written first; probes still under way are not waited for.
      engine.stop()
      void batches.then(async () => {
        if (otelTimer !== null) clearInterval(otelTimer)
        await otel?.close()
        clearInterval(pruneTimer)
        await store.close()
        logger.flush()
        send({ type: 'closed' })
        port.close()
        // Whatever else still holds the thread (an exporter's retry timer) must not delay shutdown.
        setTimeout(() => process.exit(0), 100).unref()
      })
      break
  }
})

send({ type: 'ready' })
