/**
 * Capture fails open: when the store cannot be written, traffic is untouched, the loss is
 * counted (/metrics, /readyz), and capture resumes by itself once the store is writable.
 *
 * The store is made unwritable by holding SQLite's write lock from another connection: tests
 * run as root here, so permission bits would not stop the writer, and SQLite keeps writing to
 * an already-open file whatever its mode.
 */
import Database from 'better-sqlite3'
import t from 'tap'
import { request } from 'undici'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { startHarness } from './helpers/proxy-harness.js'

async function metric (adminUrl: string, name: string): Promise<number> {
  const text = await (await request(`${adminUrl}/metrics`)).body.text()
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  return line === undefined ? NaN : Number(line.split(' ').pop())
}

t.test('a locked store drops records, never traffic, and capture resumes', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const send = async (id: string): Promise<number> => {
    const res = await request(`${h.url()}/v1/models`, { headers: { 'x-request-id': id } })
    await res.body.text()
    return res.statusCode
  }
  t.equal(await send('before'), 200)
  t.equal((await h.exchanges()).length, 1)
  t.equal((await request(`${h.adminUrl}/readyz`)).statusCode, 200)

  const blocker = new Database(h.dbPath)
  blocker.exec('BEGIN EXCLUSIVE')
  const statuses = []
  for (let i = 0; i < 20; i++) statuses.push(await send(`locked-${i}`))
  t.same(statuses, Array(20).fill(200), 'every request forwarded while the store is locked')
  await h.proxy.pipeline.drain()
  const stats = h.proxy.pipeline.getStats()
  t.equal(stats.droppedStoreError, 20, 'the 20 records are counted as dropped')
  t.match(stats.storeError, /locked|busy/i)
  const ready = await request(`${h.adminUrl}/readyz`)
  t.equal(ready.statusCode, 503, '/readyz reports the failing store')
  t.match(JSON.stringify(await ready.body.json()), /failing/)
  t.equal(await metric(h.adminUrl, 'duo_diag_capture_dropped_total'), 20)

  blocker.exec('COMMIT')
  blocker.close()
  t.equal(await send('after'), 200)
  const ids = (await h.exchanges()).map((r) => r.correlation_id)
  t.same(ids, ['after', 'before'], 'capture resumed by itself; the dropped ones are gone')
  t.equal((await request(`${h.adminUrl}/readyz`)).statusCode, 200)
})

t.test('a full capture queue drops and counts, never blocks', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }], extra: { store: { max_queue: 1, flush_interval_ms: 1000 } } })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const results = await Promise.all(Array.from({ length: 10 }, async () => {
    const res = await request(`${h.url()}/v1/models`)
    await res.body.text()
    return res.statusCode
  }))
  t.same(results, Array(10).fill(200))
  t.ok(h.proxy.pipeline.getStats().droppedQueueFull >= 8, 'drops counted when the queue is full')
})

t.test('the capture queue is bounded in bytes too: large bodies queued past store.max_queue_bytes are dropped and counted', async (t) => {
  const model = await startModelServer()
  // Room for three 64 KiB samples with their 4 KiB of overhead each, not four; the worker is not sent anything for a second.
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }], extra: { store: { max_queue_bytes: 220 * 1024, flush_interval_ms: 1000 } } })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  const prompt = 'x'.repeat(100 * 1024)
  const body = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: prompt }] })
  const results = []
  for (let i = 0; i < 10; i++) {
    const res = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': `big-${i}` }, body })
    await res.body.text()
    results.push(res.statusCode)
  }
  t.same(results, Array(10).fill(200), 'every request forwarded')
  await h.proxy.pipeline.drain()
  const stats = h.proxy.pipeline.getStats()
  t.equal(stats.droppedQueueFull, 7, 'three fit in 220 KiB of 64 KiB samples; the other seven are dropped and counted')
  t.equal(stats.stored, 3)
  t.equal(await metric(h.adminUrl, 'duo_diag_capture_dropped_total'), 7)
  // Once written, the bytes are free again.
  const res = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'big-after' }, body })
  await res.body.text()
  await h.proxy.pipeline.drain()
  t.equal(h.proxy.pipeline.getStats().stored, 4, 'the queue took records again after the batch was written')
})
