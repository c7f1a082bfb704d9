/**
 * Process-level faults, the CLI as a real process: SIGTERM with hundreds of streams in flight
 * (they all finish, exit 0, every exchange in the SQLite file), and kill -9 (the database opens
 * intact from its WAL, only the last moments are missing, and a restart serves the old records).
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { Agent, request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { startSimServer, type SimServer } from './fixtures/sim-server.js'
import { freePort, runDir, spawnCli } from './helpers/cli-process.js'

const JSON_HEADERS = { 'content-type': 'application/json' }
const STREAM = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true })

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function content (text: string): string {
  return text.split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { choices: Array<{ delta?: { content?: string } }> }).choices[0]?.delta?.content ?? '')
    .join('')
}

function storedExchanges (dbPath: string): Exchange[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare('SELECT data FROM exchanges ORDER BY seq').all() as Array<{ data: string }>).map((r) => JSON.parse(r.data) as Exchange)
  } finally {
    db.close()
  }
}

/**
 * An OpenAI-style SSE upstream whose streams send their first chunk at once and the rest only
 * once `release()` is called (then one every 40 ms): "all under way, none finished" is then a
 * fact when SIGTERM is sent, not a race against a loaded machine.
 */
async function startGatedStreamServer (pieces: string[]): Promise<SimServer & { release: () => void }> {
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => { release = resolve })
  const chunk = (piece: string, finish: string | null): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-gated', object: 'chat.completion.chunk', model: DEFAULT_MODEL, choices: [{ index: 0, delta: { content: piece }, finish_reason: finish }] })}\n\n`
  const sim = await startSimServer(async ({ res, signal }) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.write(chunk(pieces[0]!, null))
    await gate
    for (const [i, piece] of pieces.slice(1).entries()) {
      await sleep(40)
      if (signal.aborted) return
      res.write(chunk(piece, i === pieces.length - 2 ? 'stop' : null))
    }
    res.end('data: [DONE]\n\n')
  }, { record: false, serverHeader: 'uvicorn' })
  return { ...sim, release: () => release() }
}

t.test('SIGTERM with 200 streams in flight: every stream completes, exit 0, every exchange in the file', async (t) => {
  const N = 200
  const pieces = Array.from({ length: 12 }, (_, i) => `w${i} `)
  const model = await startGatedStreamServer(pieces)
  const agent = new Agent({ keepAliveTimeout: 1000 })
  const run = runDir('ddp-sigterm-')
  t.teardown(async () => {
    model.release()
    await agent.close()
    await model.close()
    run.remove()
  })
  const listen = await freePort()
  const admin = await freePort()
  const db = join(run.dir, 'x.db')
  const cli = spawnCli(['start', '--listen', `127.0.0.1:${listen}`, '--upstream', model.url, '--admin', `127.0.0.1:${admin}`, '--db', db])
  t.teardown(() => { if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL') })
  await cli.waitForLog('capture ready')

  const openedAt = Date.now()
  let started = 0
  let finished = 0
  let termAt = 0
  let allStarted: () => void = () => undefined
  const underWay = new Promise<void>((resolve) => { allStarted = resolve })
  const streams = Array.from({ length: N }, async (_, i) => {
    const id = `term-${i}`
    let text = ''
    let status: number | null = null
    let chunksAfterTerm = 0
    try {
      const res = await request(`http://127.0.0.1:${listen}/v1/chat/completions`, {
        dispatcher: agent, method: 'POST', body: STREAM, headers: { ...JSON_HEADERS, 'x-request-id': id }, signal: AbortSignal.timeout(30_000)
      })
      status = res.statusCode
      let first = true
      for await (const chunk of res.body) {
        text += (chunk as Buffer).toString()
        if (termAt > 0) chunksAfterTerm++
        if (first) {
          first = false
          if (++started === N) allStarted()
        }
      }
      return { id, status, text, chunksAfterTerm, error: null }
    } catch (err) {
      return { id, status, text, chunksAfterTerm, error: (err as Error).message }
    } finally {
      finished++
    }
  })
  const timeout = setTimeout(() => allStarted(), 20_000)
  await underWay
  clearTimeout(timeout)
  t.equal(started, N, `all ${N} streams under way (first chunk received ${Date.now() - openedAt} ms after opening them)`)
  t.equal(finished, 0, 'and none finished')
  termAt = Date.now()
  cli.child.kill('SIGTERM')
  const stopping = await cli.waitForLog('stopping: listeners closed, finishing in-flight exchanges', 10_000)
  t.equal(stopping.inflight, N, `the proxy logged ${N} exchanges in flight when it began stopping`)
  model.release()

  const results = await Promise.all(streams)
  const doneAt = Date.now()
  const exit = await cli.exit(15_000)
  t.same(exit, { code: 0, signal: null }, 'exit code 0')
  t.equal(cli.stderr(), '', 'nothing on stderr')
  t.ok(doneAt - termAt < 10_000, `the streams finished within the shutdown grace of 10 s (${doneAt - termAt} ms after SIGTERM)`)
  t.same(results.filter((r) => r.error !== null || r.status !== 200).map((r) => `${r.id}: ${r.status} ${r.error}`), [], 'no stream failed')
  t.ok(results.every((r) => r.chunksAfterTerm > 0), 'every stream kept receiving chunks after SIGTERM')
  t.equal(results.filter((r) => content(r.text) === pieces.join('') && /data: \[DONE\]\s*$/.test(r.text)).length, N, `all ${N} callers got the whole answer and [DONE]`)

  const stopped = cli.logs().find((l) => l.message === 'stopped')
  t.same(stopped && { stored: stopped.stored, dropped: stopped.dropped }, { stored: N, dropped: 0 }, 'the last log line: all stored, none dropped')
  const rows = storedExchanges(db)
  t.equal(rows.length, N, `${N} rows in the SQLite file`)
  t.same(new Set(rows.map((r) => r.correlation_id)), new Set(results.map((r) => r.id)), 'one per stream, by correlation id')
  t.same(rows.filter((r) => r.status !== 200 || r.flags.length > 0 || r.meta.stream_complete !== true).map((r) => `${r.correlation_id}: ${r.flags.join()}`), [],
    'each recorded as a complete, unflagged stream')
})

t.test('kill -9, then restart: the database is intact, only the last moments are missing, the old records are served', async (t) => {
  const FLUSH_MS = 25 // store.flush_interval_ms, the default
  const model = await startModelServer({ record: false })
  const agent = new Agent({ keepAliveTimeout: 1000 })
  const run = runDir('ddp-kill-')
  t.teardown(async () => {
    await agent.close()
    await model.close()
    run.remove()
  })
  const listen = await freePort()
  const admin = await freePort()
  const db = join(run.dir, 'x.db')
  const args = ['start', '--listen', `127.0.0.1:${listen}`, '--upstream', model.url, '--admin', `127.0.0.1:${admin}`, '--db', db]
  const first = spawnCli(args)
  t.teardown(() => { if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL') })
  await first.waitForLog('capture ready')

  /** Completion time (ms since epoch, when the caller had the whole body) by correlation id. */
  const completedAt = new Map<string, number>()
  const send = async (id: string): Promise<void> => {
    const streamed = id.endsWith('s')
    const res = await request(`http://127.0.0.1:${listen}${streamed ? '/v1/chat/completions' : '/v1/models'}`, {
      dispatcher: agent,
      method: streamed ? 'POST' : 'GET',
      ...(streamed ? { body: STREAM } : {}),
      headers: { ...JSON_HEADERS, 'x-request-id': id },
      signal: AbortSignal.timeout(5000)
    })
    await res.body.text()
    if (res.statusCode === 200) completedAt.set(id, Date.now())
  }

  // Early traffic, then a pause of many flush intervals: all of it must survive the kill.
  const early = Array.from({ length: 40 }, (_, i) => `early-${i}${i % 2 === 0 ? 's' : ''}`)
  for (let i = 0; i < early.length; i += 4) await Promise.all(early.slice(i, i + 4).map(send))
  await sleep(20 * FLUSH_MS)

  // Traffic right up to the kill: 4 callers in a loop (bounded in count and time).
  let killAt = 0
  let n = 0
  const loopDeadline = Date.now() + 5000
  const caller = async (): Promise<void> => {
    while (killAt === 0 && n < 5000 && Date.now() < loopDeadline) {
      const i = n++
      try {
        await send(`late-${i}${i % 2 === 0 ? 's' : ''}`)
      } catch {
        // in flight at the kill
      }
    }
  }
  const callers = Promise.all([caller(), caller(), caller(), caller()])
  // Kill once traffic is really flowing (on a loaded machine that takes longer), bounded in time.
  const lateDone = (): number => [...completedAt.keys()].filter((id) => id.startsWith('late-')).length
  for (const started = Date.now(); (lateDone() < 40 || Date.now() - started < 1500) && Date.now() < loopDeadline - 500;) await sleep(20)
  killAt = Date.now()
  first.child.kill('SIGKILL')
  await callers
  const exit = await first.exit(5000)
  t.same(exit, { code: null, signal: 'SIGKILL' }, 'killed by SIGKILL')
  const lateSent = [...completedAt.keys()].filter((id) => id.startsWith('late-')).length
  t.ok(lateSent > 20, `traffic was flowing at the kill (${lateSent} late exchanges completed)`)

  t.ok(existsSync(`${db}-wal`) && statSync(`${db}-wal`).size > 0, 'the WAL was left behind, not checkpointed: recovery is exercised')
  const file = new Database(db, { fileMustExist: true })
  const integrity = file.pragma('integrity_check', { simple: true })
  const mode = file.pragma('journal_mode', { simple: true })
  const ids = new Set((file.prepare('SELECT correlation_id FROM exchanges').all() as Array<{ correlation_id: string }>).map((r) => r.correlation_id))
  const flagRows = (file.prepare('SELECT count(*) AS n FROM exchange_flags').get() as { n: number }).n
  file.close()
  t.equal(integrity, 'ok', 'PRAGMA integrity_check: ok')
  t.equal(mode, 'wal', 'still in WAL mode')
  t.equal(flagRows, 0, 'no flag rows: nothing failed')
  t.same(early.filter((id) => !ids.has(id)), [], `all ${early.length} early exchanges are in the file`)

  // What is missing completed within the last moments before the kill.
  const missing = [...completedAt.entries()].filter(([id]) => !ids.has(id))
  const oldestMissingAge = missing.reduce((max, [, at]) => Math.max(max, killAt - at), 0)
  // "The last moments": a flush interval plus scheduling slack on a shared, loaded machine
  // (traffic runs 1.5 s before the kill: what completed in its first half-second must be in the file).
  const BOUND_MS = FLUSH_MS + 1000
  t.ok(oldestMissingAge <= BOUND_MS,
    `the ${missing.length} missing exchange(s) all completed within ${BOUND_MS} ms of the kill (oldest: ${oldestMissingAge} ms; flush interval ${FLUSH_MS} ms)`)
  t.comment(`kill -9: ${completedAt.size - missing.length} of ${completedAt.size} completed exchanges survived; ${ids.size} rows in the file`)

  // Restart on the same file: the old records are served.
  const second = spawnCli(args)
  t.teardown(() => { if (second.child.exitCode === null && second.child.signalCode === null) second.child.kill('SIGKILL') })
  await second.waitForLog('capture ready')
  const listed: Exchange[] = []
  let cursor: string | null = null
  for (let page = 0; page < 20; page++) {
    const res = await request(`http://127.0.0.1:${admin}/api/exchanges?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { dispatcher: agent })
    const body = (await res.body.json()) as { items: Exchange[], next_cursor: string | null }
    listed.push(...body.items)
    cursor = body.next_cursor
    if (cursor === null) break
  }
  t.same(new Set(listed.map((e) => e.correlation_id)), ids, `the restarted proxy serves the ${ids.size} records that survived`)
  const one = await request(`http://127.0.0.1:${admin}/api/exchanges?correlation_id=early-0s`, { dispatcher: agent })
  const early0 = ((await one.body.json()) as { items: Exchange[] }).items[0]
  t.equal(early0?.meta.stream_complete, true, 'an old record reads back whole')
  await send('after-restart-s')
  t.ok(completedAt.has('after-restart-s'), 'and it serves traffic')
  second.child.kill('SIGTERM')
  t.same(await second.exit(10_000), { code: 0, signal: null }, 'then stops cleanly')
  const after = new Database(db, { readonly: true, fileMustExist: true })
  t.equal(after.pragma('integrity_check', { simple: true }), 'ok', 'integrity_check still ok')
  t.equal((after.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n, ids.size + 1, 'old records plus the new one')
  after.close()
})
