/**
 * The query thread of a SQLite store: a read-only connection of its own that answers the admin
 * API's reads (list, get, count, trace, summary). better-sqlite3 is synchronous: on the capture
 * thread, a summary over a large store (1.6 s at 200 000 rows) held every commit back that long —
 * records a kill -9 would lose, a backlog that could overflow. In WAL mode a reader and the writer
 * never wait for each other.
 *
 * But a checkpoint cannot copy what was written after a read began: during a long query the WAL
 * grows, and the writer's next automatic checkpoint would copy all of it at once, inside a commit
 * the capture thread's next batch waits for. So this thread checkpoints after each read statement,
 * on a connection of its own (PASSIVE: it never waits for the writer, nor holds it back).
 * (Checkpointing here on a timer as well, 100 ms, made no measurable difference to the writer's
 * commit times at 1 000 req/s: the writer keeps its own automatic checkpoints for that.)
 */
import { yieldToForwarding } from './thread-priority.js'
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { SqliteStore } from '../store/sqlite.js'
import { parseStoreLocation } from '../store/store.js'
import type { FromWorker, ToWorker, WorkerInit } from './messages.js'

const init = workerData as WorkerInit
const port = parentPort
if (port === null) throw new Error('capture/reader-worker.ts runs as a worker thread only')

yieldToForwarding(init.threadNice)

function send (msg: FromWorker): void {
  port!.postMessage(msg)
}

/** After a read, at most this often: each checkpoint that copies something syncs the files. */
const CHECKPOINT_EVERY_MS = 20

let store: SqliteStore
let checkpointer: Database.Database
try {
  const loc = parseStoreLocation(init.storeLocation)
  if (loc.kind !== 'sqlite') throw new Error('the query thread serves SQLite stores only')
  store = new SqliteStore(loc.path, { readonly: true })
  checkpointer = new Database(loc.path, { fileMustExist: true })
  checkpointer.pragma('busy_timeout = 0')
} catch (err) {
  send({ type: 'open-error', message: (err as Error).message })
  process.exit(0)
}

let lastCheckpoint = -Infinity
function checkpoint (): void {
  const now = performance.now()
  if (now - lastCheckpoint < CHECKPOINT_EVERY_MS) return
  lastCheckpoint = now
  try {
    checkpointer.pragma('wal_checkpoint(PASSIVE)')
  } catch {
    // busy (the writer checkpoints), or the disk is full: the writer's own checkpoints go on
  }
}
store.afterRead = checkpoint

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'close') {
    checkpointer.close()
    void store.close().then(() => {
      send({ type: 'closed' })
      port.close()
    })
    return
  }
  if (msg.type !== 'query') return
  const q = msg.query
  let answer: Promise<unknown>
  switch (q.op) {
    case 'list': answer = store.list(q.filter, q.page); break
    case 'get': answer = store.get(q.id); break
    case 'count': answer = store.count(); break
    case 'trace': answer = store.trace(q.correlationId); break
    case 'summary': answer = store.summary(q.filter); break
    case 'timeseries': answer = store.timeseries(q.filter, q.stepMs); break
    case 'logEvents': answer = store.logEvents(q.correlationId, q.limit); break
    case 'listLogEvents': answer = store.listLogEvents(q.filter, q.page); break
    default: answer = Promise.reject(new Error(`${q.op} is not a read`))
  }
  answer.then(
    (value) => send({ type: 'reply', id: msg.id, ok: true, value }),
    (err: unknown) => send({ type: 'reply', id: msg.id, ok: false, error: { message: (err as Error).message, code: (err as { code?: string }).code } })
  )
})

send({ type: 'ready' })
