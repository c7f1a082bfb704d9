/**
 * Failures first under a backlog (store.max_queue_healthy, issue 20): past the healthy bound,
 * unremarkable exchanges are counted in the metrics and not recorded, while failures, slow
 * answers and streams still take the queue. Records are held in the queue for a second
 * (flush_interval_ms) so the backlog is made by the test, not by timing.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { startHarness } from './helpers/proxy-harness.js'

async function upstream (): Promise<{ url: string, close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume()
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}')
    } else if (req.url === '/v1/slow') {
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), 80)
    } else if (req.url === '/v1/chat/completions') {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"error":{"message":"overloaded"}}\n\n')
    } else if (req.url === '/v1/lines') {
      res.writeHead(200, { 'content-type': 'application/jsonl' }).end('{"error":"overloaded"}\n')
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not Found"}')
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

async function metrics (adminUrl: string): Promise<string> {
  return (await request(`${adminUrl}/metrics`)).body.text()
}

function value (text: string, name: string, labels = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue
    const rest = line.slice(name.length)
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue
    if (labels !== '' && !rest.includes(labels)) continue
    sum += Number(line.split(' ').pop())
  }
  return sum
}

t.test('past store.max_queue_healthy healthy exchanges are counted, not recorded; failures, slow answers and streams are', async (t) => {
  const up = await upstream()
  const h = await startHarness({
    routes: [{ name: 'model', upstream: up.url, hop: 'model', slow: { ttfb_ms: 40, duration_ms: 30_000 } }],
    extra: { store: { max_queue_healthy: 3, flush_interval_ms: 1000 } }
  })
  t.teardown(async () => {
    await h.close()
    await up.close()
  })
  const send = async (path: string, id: string, method = 'GET'): Promise<number> => {
    const res = await request(`${h.url()}${path}`, { method, headers: { 'x-request-id': id } })
    await res.body.text()
    return res.statusCode
  }
  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push(await send('/v1/models', `ok-${i}`))
  statuses.push(await send('/v1/missing', 'missing'))
  statuses.push(await send('/v1/slow', 'slow'))
  statuses.push(await send('/v1/chat/completions', 'stream', 'POST'))
  statuses.push(await send('/v1/lines', 'lines'))
  t.same(statuses, [200, 200, 200, 200, 200, 404, 200, 200, 200], 'every request forwarded as the upstream answered')
  t.equal(h.proxy.pipeline.getStats().shed, 2, 'the 4th and 5th healthy exchanges found 3 waiting: shed')

  await h.proxy.pipeline.drain()
  const stats = h.proxy.pipeline.getStats()
  t.equal(stats.stored, 7)
  t.equal(stats.dropped, 0, 'nothing lost besides the shed ones')
  const recorded = (await h.exchanges()).map((e) => e.correlation_id).sort()
  t.same(recorded, ['lines', 'missing', 'ok-0', 'ok-1', 'ok-2', 'slow', 'stream'], 'the failure, the slow answer and the streams (SSE, JSON Lines) kept their places')

  const text = await metrics(h.adminUrl)
  t.equal(value(text, 'duo_diag_capture_shed_total'), 2)
  t.equal(value(text, 'duo_diag_capture_dropped_total'), 0)
  t.equal(value(text, 'duo_diag_exchanges_total', 'feature="models"'), 5, 'the request metrics count the shed exchanges too')
  t.equal(value(text, 'duo_diag_exchanges_total'), 9)
  t.equal(value(text, 'duo_diag_duration_seconds_count', 'feature="models"'), 5)

  // The queue emptied: healthy exchanges are recorded again.
  t.equal(await send('/v1/models', 'ok-after'), 200)
  await h.proxy.pipeline.drain()
  t.ok((await h.exchanges()).some((e) => e.correlation_id === 'ok-after'), 'recorded once the backlog was gone')
  t.equal(h.proxy.pipeline.getStats().shed, 2)
})

t.test('max_queue_healthy at max_queue records every exchange alike', async (t) => {
  const up = await upstream()
  const h = await startHarness({
    routes: [{ name: 'model', upstream: up.url, hop: 'model' }],
    extra: { store: { max_queue: 3, max_queue_healthy: 3, flush_interval_ms: 1000 } }
  })
  t.teardown(async () => {
    await h.close()
    await up.close()
  })
  for (let i = 0; i < 4; i++) {
    const res = await request(`${h.url()}/v1/models`, { headers: { 'x-request-id': `ok-${i}` } })
    await res.body.text()
  }
  await h.proxy.pipeline.drain()
  const stats = h.proxy.pipeline.getStats()
  t.equal(stats.shed, 0)
  t.equal(stats.droppedQueueFull, 1, 'the fourth found the queue full: dropped and counted as before')
  t.equal(stats.stored, 3)
})
