/**
 * The live tail against readers that stop reading: memory stays bounded per reader, the count
 * of tails is capped, a reader that catches up is told what it missed, and one that never
 * reads again is disconnected. Real sockets throughout.
 */
import { createServer, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { LiveTails } from '../src/api/live-tail.js'
import type { Exchange } from '../src/capture/exchange.js'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { startHarness } from './helpers/proxy-harness.js'

/** A tail reader over a raw socket; `paused` ones never read (the kernel buffers fill, then ours). */
function openTail (port: number, paused: boolean): Promise<{ socket: Socket, text: () => string, status: () => string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (d: string) => { text += d })
    socket.on('connect', () => {
      socket.write(`GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
      // Wait for the answer's first bytes, then stop reading.
      const started = Date.now()
      const poll = setInterval(() => {
        if (text.includes('\r\n\r\n') || Date.now() - started > 3000) {
          clearInterval(poll)
          if (paused) socket.pause()
          resolve({ socket, text: () => text, status: () => text.split('\r\n')[0] ?? '' })
        }
      }, 5)
    })
  })
}

async function metric (adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  return line === undefined ? NaN : Number(line.split(' ').pop())
}

t.test('16 tails that do not read: memory bounded, the 17th refused, a reader that catches up is told', async (t) => {
  const upstream = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'))
  })
  const upPort = await listenEphemeral(upstream)
  const h = await startHarness({ routes: [{ name: 'gw', upstream: `http://127.0.0.1:${upPort}` }] })
  t.teardown(async () => { await h.close(); await closeServer(upstream) })
  const adminPort = Number(new URL(h.adminUrl).port)

  const tails = await Promise.all(Array.from({ length: 16 }, () => openTail(adminPort, true)))
  for (const tail of tails) t.match(tail.status(), /^HTTP\/1.1 200/, 'tail open')
  const extra = await openTail(adminPort, false)
  t.match(extra.status(), /^HTTP\/1.1 503/, 'the 17th tail is refused')
  t.match(extra.text(), /too_many_tails/)
  extra.socket.destroy()

  // Each exchange is ~10 KB of JSON (the padding header is kept, redacted of nothing): 1 500 of
  // them are ~15 MB a tail, 240 MB for 16 if nothing bounded them.
  const padding = 'p'.repeat(8 * 1024)
  const deadline = Date.now() + 60_000
  let sent = 0
  for (let i = 0; i < 150 && Date.now() < deadline; i++) {
    await Promise.all(Array.from({ length: 10 }, () => fetch(`${h.url()}/v2/code/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-padding': padding },
      body: '{}'
    }).then((r) => r.text())))
    sent += 10
  }
  await h.proxy.pipeline.drain()
  await new Promise((resolve) => setTimeout(resolve, 200))
  const buffered = await metric(h.adminUrl, 'duo_diag_tail_buffered_bytes')
  const dropped = await metric(h.adminUrl, 'duo_diag_tail_dropped_total')
  t.equal(await metric(h.adminUrl, 'duo_diag_tail_clients'), 16, '16 tails open')
  t.ok(buffered <= 16 * 1024 * 1024, `bytes held for the tails stay within 16 × 1 MiB (${(buffered / 1024 / 1024).toFixed(1)} MiB)`)
  t.ok(dropped > 0, `events for the stalled tails were dropped and counted (${dropped} of ${sent * 16})`)
  // The process's RSS is measured apart from the test runner by bench/hostile-clients.ts.

  // One reader resumes: first what it missed, then live exchanges again.
  const reader = tails[0]!
  reader.socket.resume()
  const marker = '/v1/tail-after-catch-up'
  const until = Date.now() + 20_000
  while (!reader.text().includes(marker) && Date.now() < until) {
    await fetch(`${h.url()}${marker}`).then((r) => r.text())
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const notice = /event: dropped\r?\ndata: (\{[^\n]*\})/.exec(reader.text())
  t.ok(notice !== null, 'the reader is told that events were skipped')
  t.ok(notice !== null && (JSON.parse(notice[1]!) as { dropped: number }).dropped > 0, 'with the count')
  t.ok(reader.text().includes(marker), 'and receives live exchanges again')
  for (const tail of tails) tail.socket.destroy()
})

function fakeExchange (i: number): Exchange {
  return { id: `ex-${i}`, path: `/v1/chat/completions`, padding: 'x'.repeat(4096) } as unknown as Exchange
}

t.test('a reader that never reads again is disconnected; a slow one that reads is not', async (t) => {
  const listeners = new Set<(ex: Exchange) => void>()
  const tails = new LiveTails((l) => {
    listeners.add(l)
    return () => listeners.delete(l)
  }, { maxClients: 4, maxBufferedBytes: 64 * 1024, stallMs: 1500, heartbeatMs: 100 })
  const server: Server = createServer((_req, res) => tails.open(res, {}))
  const port = await listenEphemeral(server)
  t.teardown(async () => {
    tails.closeAll()
    server.closeAllConnections()
    await closeServer(server)
  })
  const gone = await openTail(port, true)
  const slow = await openTail(port, true)
  // The slow reader takes a little now and then.
  const sipper = setInterval(() => { slow.socket.resume(); setTimeout(() => slow.socket.pause(), 20) }, 100)
  const start = Date.now()
  let i = 0
  while (Date.now() - start < 10_000 && tails.stats().disconnected === 0) {
    for (let k = 0; k < 50; k++) for (const l of listeners) l(fakeExchange(i++))
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const after = Date.now() - start
  t.ok(after >= 1500, `not before the stall limit (${after} ms)`)
  for (let k = 0; k < 20; k++) for (const l of listeners) l(fakeExchange(i++))
  clearInterval(sipper)
  // A paused socket sees the close only once it reads what was queued before it.
  const closed = new Promise<boolean>((resolve) => {
    gone.socket.once('close', () => resolve(true))
    setTimeout(() => resolve(false), 5000)
  })
  gone.socket.resume()
  t.ok(await closed, 'the reader that never reads is disconnected')
  const stats = tails.stats()
  t.equal(stats.disconnected, 1, 'counted once')
  t.equal(stats.clients, 1, 'the slow reader is still connected')
  t.ok(stats.dropped > 0, 'events were dropped rather than queued')
  t.ok(stats.bufferedBytes <= 64 * 1024, `bounded (${stats.bufferedBytes} bytes)`)
  slow.socket.destroy()
})
