/**
 * Issue 15, item 5: what a crash or an impatient stop loses. The CLI as a real process.
 *
 * - kill -9 at a steady rate: every exchange the client saw completed more than BOUND_MS before
 *   the kill is in the store — also while the capture thread probes a TLS upstream that never
 *   answers (the probe used to be awaited before the batch was written: 3 s of records held).
 * - A second SIGTERM during the drain: the process stops waiting for the in-flight exchanges
 *   (recorded as aborted), writes every record captured, and exits at once (it used to die on
 *   the second signal, losing them). A third exits immediately.
 */
import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { Pool } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { startModelServer } from './fixtures/model-server.js'
import { startSimServer } from './fixtures/sim-server.js'
import { freePort, runDir, spawnCli } from './helpers/cli-process.js'

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function storedExchanges (dbPath: string): Exchange[] {
  // Read-write: opening recovers the WAL a kill left behind.
  const db = new Database(dbPath, { fileMustExist: true })
  try {
    return (db.prepare('SELECT data FROM exchanges ORDER BY seq').all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as Exchange)
  } finally {
    db.close()
  }
}

/**
 * A TLS upstream that fails its first TLS connection at once (plain HTTP bytes: a TLS error for the
 * proxy) and leaves every later connection hanging: the capture thread's certificate probe then
 * waits its full timeout (3 s).
 */
async function startHangingTls (): Promise<{ url: string, connections: () => number, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let n = 0
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    // Counted by what they send (a ClientHello): the proxy's start-up reachability check only
    // connects, and must not use up the failing connection.
    socket.once('data', () => {
      if (n++ === 0) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => n,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

t.test('kill -9 at a steady rate: every exchange completed more than 250 ms before the kill is in the store, even while a TLS probe hangs', async (t) => {
  // The bench (bench/crash-loss.ts) measures the figure (100 ms at 1 000 req/s); the margin is
  // for a shared, loaded machine.
  const BOUND_MS = 250
  const RATE = 300
  const model = await startModelServer({ record: false })
  const tlsUp = await startHangingTls()
  const run = runDir('ddp-crash-')
  t.teardown(async () => {
    await model.close()
    await tlsUp.close()
    run.remove()
  })
  const plain = await freePort()
  const tls = await freePort()
  const admin = await freePort()
  const db = join(run.dir, 'x.db')
  // What is tested is how long the pipeline holds completed records, not the scheduler: at its
  // default nice 10 the capture thread yields the CPU to every other process of a loaded test
  // machine too (the README's bound assumes the proxy has its CPU; bench/crash-loss.ts measures
  // the default). At nice 0 it competes like the processes around it.
  const cli = spawnCli(['start',
    '--route', `plain:model=127.0.0.1:${plain}=${model.url}`,
    '--route', `tls:model=127.0.0.1:${tls}=${tlsUp.url}`,
    '--admin', `127.0.0.1:${admin}`, '--db', db], { DUO_DIAG_CAPTURE__THREAD_NICE: '0' })
  t.teardown(() => { if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL') })
  await cli.waitForLog('capture ready')

  const pool = new Pool(`http://127.0.0.1:${plain}`, { connections: 32, keepAliveTimeout: 10_000 })
  t.teardown(() => pool.destroy())
  /** When each caller had its whole response (performance.now()), by correlation id. */
  const completedAt = new Map<string, number>()
  let killAt = 0
  const send = (id: string): void => {
    pool.request({ path: '/v1/models', method: 'GET', headers: { 'x-request-id': id }, headersTimeout: 5_000, bodyTimeout: 5_000 })
      .then(async (res) => {
        await res.body.text()
        if (res.statusCode === 200 && killAt === 0) completedAt.set(id, performance.now())
      }, () => undefined)
  }
  // Open loop, RATE/s on a timetable (bounded in count and time): a caller that does not wait.
  let sent = 0
  const t0 = performance.now()
  const traffic = (async () => {
    while (killAt === 0 && sent < RATE * 10 && performance.now() - t0 < 8_000) {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE)
      while (sent < due) send(`steady-${sent++}`)
      await sleep(3)
    }
  })()

  // Warm up at the steady rate, then one request to the TLS route: a TLS failure, whose chain the
  // capture thread probes — on an upstream that never answers the probe.
  await sleep(1_000)
  const tlsRes = await fetch(`http://127.0.0.1:${tls}/v1/models`, { headers: { 'x-request-id': 'tls-failure' }, signal: AbortSignal.timeout(5_000) })
  await tlsRes.arrayBuffer()
  const tlsDoneAt = performance.now()
  t.equal(tlsRes.status, 502, 'the TLS route fails (the proxy answers 502)')
  // Kill while the probe still hangs (3 s), once the traffic since the TLS failure is long enough.
  await sleep(1_200)
  t.ok(tlsUp.connections() >= 2, `the capture thread's probe reached the hanging upstream (${tlsUp.connections()} connections)`)
  killAt = performance.now()
  cli.child.kill('SIGKILL')
  await traffic
  t.same(await cli.exit(5_000), { code: null, signal: 'SIGKILL' }, 'killed by SIGKILL')

  const ids = new Set(storedExchanges(db).map((e) => e.correlation_id))
  const due = [...completedAt.entries()].filter(([, at]) => killAt - at > BOUND_MS)
  const missing = due.filter(([id]) => !ids.has(id))
  const afterTls = due.filter(([, at]) => at > tlsDoneAt)
  t.ok(completedAt.size > RATE, `traffic was flowing: ${completedAt.size} of ${sent} requests completed before the kill`)
  t.ok(afterTls.length > RATE / 2, `${afterTls.length} of them completed after the TLS failure and over ${BOUND_MS} ms before the kill`)
  t.same(missing.map(([id, at]) => `${id} (${(killAt - at).toFixed(0)} ms before the kill)`), [],
    `every exchange completed more than ${BOUND_MS} ms before the kill is in the store (${due.length})`)
  t.ok(ids.has('tls-failure'), 'the TLS failure itself is in the store')
  const lost = [...completedAt.entries()].filter(([id]) => !ids.has(id))
  const oldest = lost.reduce((m, [, at]) => Math.max(m, killAt - at), 0)
  t.comment(`kill -9 at ${RATE} req/s: ${lost.length} of ${completedAt.size} completed exchanges missing; the oldest completed ${oldest.toFixed(1)} ms before the kill`)
})

t.test('a second SIGTERM during the drain: stops waiting for the hanging exchanges, records them as aborted, writes every record, exits at once', async (t) => {
  const SLOW = 30
  const FAST = 40
  let releaseSlow: () => void = () => undefined
  const released = new Promise<void>((resolve) => { releaseSlow = resolve })
  let slowSeen = 0
  const upstream = await startSimServer(async ({ res, pathname, signal }) => {
    if (pathname === '/slow') {
      slowSeen++
      await Promise.race([released, once(signal, 'abort')])
      if (!res.destroyed) res.end('late')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ok":true}')
  }, { record: false })
  const run = runDir('ddp-second-signal-')
  t.teardown(async () => {
    releaseSlow()
    await upstream.close()
    run.remove()
  })
  const listen = await freePort()
  const admin = await freePort()
  const db = join(run.dir, 'x.db')
  // The default grace (10 s) would let the hanging exchanges hold the stop for 10 s.
  const cli = spawnCli(['start', '--listen', `127.0.0.1:${listen}`, '--upstream', upstream.url, '--admin', `127.0.0.1:${admin}`, '--db', db])
  t.teardown(() => { if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL') })
  await cli.waitForLog('capture ready')
  const base = `http://127.0.0.1:${listen}`

  const slow = Array.from({ length: SLOW }, (_, i) => fetch(`${base}/slow`, { headers: { 'x-request-id': `slow-${i}` }, signal: AbortSignal.timeout(20_000) })
    .then(async (r) => { await r.arrayBuffer(); return r.status }, (err: Error) => err.message))
  for (let i = 0; i < 200 && slowSeen < SLOW; i++) await sleep(25)
  t.equal(slowSeen, SLOW, `${SLOW} exchanges hang at the upstream`)
  // Fast exchanges completed just before the signals: their records may still be queued.
  const fast = await Promise.all(Array.from({ length: FAST }, async (_, i) => {
    const r = await fetch(`${base}/fast`, { headers: { 'x-request-id': `fast-${i}` } })
    await r.arrayBuffer()
    return r.status
  }))
  t.same(new Set(fast), new Set([200]), `${FAST} fast exchanges completed`)

  cli.child.kill('SIGTERM')
  const stopping = await cli.waitForLog('stopping: listeners closed, finishing in-flight exchanges', 5_000)
  t.equal(stopping.inflight, SLOW, `the drain waits for the ${SLOW} hanging exchanges`)
  const secondAt = Date.now()
  cli.child.kill('SIGTERM')
  const exit = await cli.exit(8_000)
  const exitMs = Date.now() - secondAt
  t.same(exit, { code: 0, signal: null }, 'exit code 0, not killed by the second signal')
  t.ok(exitMs < 3_000, `exited ${exitMs} ms after the second SIGTERM (the grace is 10 s)`)
  t.ok(cli.logs().some((l) => l.message === 'stopping now: in-flight exchanges are cut and recorded as aborted; every record captured is still written'), 'the forced stop is logged')
  const stopped = cli.logs().find((l) => l.message === 'stopped')
  t.same(stopped && { stored: stopped.stored, dropped: stopped.dropped, forced: stopped.forced }, { stored: SLOW + FAST, dropped: 0, forced: true }, 'the last log line: all stored, none dropped')

  const rows = storedExchanges(db)
  const byId = new Map(rows.map((r) => [r.correlation_id, r]))
  t.same(Array.from({ length: FAST }, (_, i) => `fast-${i}`).filter((id) => byId.get(id)?.status !== 200), [], `all ${FAST} fast exchanges are in the store`)
  const slowRows = Array.from({ length: SLOW }, (_, i) => byId.get(`slow-${i}`))
  t.equal(slowRows.filter((r) => r !== undefined).length, SLOW, `all ${SLOW} cut exchanges are in the store`)
  t.same(slowRows.filter((r) => r !== undefined && !r.flags.includes('client_aborted')).map((r) => `${r!.correlation_id}: ${r!.flags.join()}`), [], 'each recorded as aborted')
  t.same(slowRows.filter((r) => r?.error?.code !== 'DDP_PROXY_STOPPED' || !/The proxy was stopped/.test(r.diagnosis?.cause ?? '')).map((r) => r?.correlation_id), [],
    'cut by the proxy\'s stop, not the caller, and the diagnosis says so')
  const outcomes = await Promise.all(slow)
  t.notOk(outcomes.includes(200), 'no hanging caller got an answer')
})

t.test('a third signal exits at once', async (t) => {
  let seen = 0
  const upstream = await startSimServer(async ({ signal }) => {
    seen++
    await once(signal, 'abort')
  }, { record: false })
  const run = runDir('ddp-third-signal-')
  t.teardown(async () => {
    await upstream.close()
    run.remove()
  })
  const listen = await freePort()
  const admin = await freePort()
  const cli = spawnCli(['start', '--listen', `127.0.0.1:${listen}`, '--upstream', upstream.url, '--admin', `127.0.0.1:${admin}`, '--db', join(run.dir, 'x.db')])
  t.teardown(() => { if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL') })
  await cli.waitForLog('capture ready')
  const hanging = fetch(`http://127.0.0.1:${listen}/slow`, { signal: AbortSignal.timeout(20_000) }).catch(() => null)
  for (let i = 0; i < 200 && seen === 0; i++) await sleep(25)
  cli.child.kill('SIGTERM')
  const stopping = await cli.waitForLog('stopping: listeners closed, finishing in-flight exchanges', 5_000)
  t.equal(stopping.inflight, 1, 'one exchange in flight: the stop would wait for it')
  // Different signals, so that the kernel does not merge them into one.
  cli.child.kill('SIGINT')
  cli.child.kill('SIGTERM')
  const exit = await cli.exit(5_000)
  // Two signals sent together reach the handlers in either order: the third is whichever came last.
  const third = exit.code === 130 ? 'SIGINT' : 'SIGTERM'
  t.ok(exit.signal === null && (exit.code === 143 || exit.code === 130), `exit code 128 + the third signal, at once (${exit.code})`)
  t.ok(cli.logs().some((l) => l.message === `${third} again: exiting at once; records not yet written are lost`), 'logged')
  await hanging
})
