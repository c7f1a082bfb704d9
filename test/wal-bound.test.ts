/**
 * Issue 15, item 8: the SQLite WAL on a small disk. SQLite checkpoints after 1 000 pages by
 * default — 16 MiB with our 16 KiB pages — so on a 16 MiB volume the WAL alone filled the disk,
 * no checkpoint could run any more, and capture never recovered.
 *
 * - Under a sustained write load the WAL stays within WAL_LIMIT_BYTES (plus the transaction
 *   being written), and an idle store truncates it to nothing.
 * - On a real 16 MiB volume (a tmpfs; needs root, skipped otherwise) that fills up: records are
 *   dropped and counted, the proxy is not ready, and once space returns capture resumes by itself
 *   and keeps writing far more than the WAL could hold.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SqliteStore, WAL_LIMIT_BYTES } from '../src/store/sqlite.js'
import { startSimServer } from './fixtures/sim-server.js'
import { type Harness, startHarness } from './helpers/proxy-harness.js'

/** The WAL may exceed its bound by the transaction that crosses it: a few records here. */
const SLACK_BYTES = 1024 * 1024

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function walBytes (db: string): number {
  try {
    return statSync(`${db}-wal`).size
  } catch {
    return 0
  }
}

/** A chat request of ~40 KB: in verbose capture, each record stores its prompt (~40 KB a row). */
function bigChat (i: number): string {
  return JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `request ${i} ` + 'lorem ipsum dolor sit amet '.repeat(1_500) }] })
}

async function upstream (): Promise<{ url: string, close: () => Promise<void> }> {
  return startSimServer(({ res }) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"choices":[{"message":{"role":"assistant","content":"ok"}}]}')
  }, { record: false })
}

/** `n` requests, `concurrency` at a time; resolves with their statuses. */
async function send (h: Harness, n: number, from: number, concurrency = 8): Promise<number[]> {
  const statuses: number[] = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = from + next++
      const res = await fetch(`${h.url()}/v1/chat/completions`, { method: 'POST', body: bigChat(i), headers: { 'content-type': 'application/json', 'x-request-id': `wal-${i}` } })
      await res.arrayBuffer()
      statuses.push(res.status)
    }
  }))
  return statuses
}

t.test('the WAL bound is set on the connection: checkpoints every 4 MiB, truncated back to 4 MiB', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-wal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = new SqliteStore(join(dir, 'x.db'))
  t.teardown(() => store.close())
  const s = store.walSettings()
  t.equal(s.pageSize, 16_384, '16 KiB pages')
  t.equal(s.autocheckpointPages * s.pageSize, WAL_LIMIT_BYTES, `wal_autocheckpoint ${s.autocheckpointPages} pages = ${WAL_LIMIT_BYTES} bytes`)
  t.equal(s.journalSizeLimit, WAL_LIMIT_BYTES, 'journal_size_limit')
})

t.test('sustained writes: the WAL stays within its bound, and is truncated once idle', async (t) => {
  const up = await upstream()
  t.teardown(() => up.close())
  const h = await startHarness({ routes: [{ name: 'model', upstream: up.url, hop: 'model' }], captureBodies: true })
  t.teardown(() => h.close())
  let maxWal = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      maxWal = Math.max(maxWal, walBytes(h.dbPath))
      await sleep(5)
    }
  })()
  // 400 records of ~40 KB: four times what the WAL may hold (bounded: 400 requests).
  const N = 400
  const started = Date.now()
  const statuses = await send(h, N, 0)
  await h.proxy.pipeline.drain()
  sampling = false
  await sampler
  t.same(new Set(statuses), new Set([200]), `${N} requests answered 200 (${Date.now() - started} ms)`)
  const stats = h.proxy.pipeline.getStats()
  t.equal(stats.stored, N, `all ${N} stored`)
  t.equal(stats.dropped, 0, 'none dropped')
  const dbBytes = statSync(h.dbPath).size + walBytes(h.dbPath)
  t.ok(dbBytes > 3 * WAL_LIMIT_BYTES, `the load wrote more than three WAL bounds (${(dbBytes / 1048576).toFixed(1)} MiB in the database and its WAL)`)
  t.ok(maxWal <= WAL_LIMIT_BYTES + SLACK_BYTES, `the WAL never exceeded ${(WAL_LIMIT_BYTES + SLACK_BYTES) / 1048576} MiB (largest seen: ${(maxWal / 1048576).toFixed(2)} MiB)`)

  // Idle: checkpointed and truncated within a couple of seconds (bounded wait).
  let wal = walBytes(h.dbPath)
  for (const until = Date.now() + 4_000; wal > 0 && Date.now() < until;) {
    await sleep(50)
    wal = walBytes(h.dbPath)
  }
  t.equal(wal, 0, 'idle, the WAL is truncated to 0 bytes')
  t.equal(await h.proxy.pipeline.count(), N, 'and the records read back')
})

/** A 16 MiB tmpfs, when this process may mount one (root on Linux); null otherwise. */
function mountSmallVolume (): { dir: string, unmount: () => void } | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return null
  const dir = mkdtempSync(join(tmpdir(), 'ddp-smalldisk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dir], { stdio: 'ignore' })
  } catch {
    rmdirSync(dir)
    return null
  }
  return {
    dir,
    unmount: () => {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' })
        rmdirSync(dir)
      } catch {
        // already gone
      }
    }
  }
}

t.test('a 16 MiB volume fills up: records are dropped and counted, and capture resumes by itself once space returns', async (t) => {
  const vol = mountSmallVolume()
  if (vol === null) {
    t.plan(0, 'cannot mount a 16 MiB tmpfs here (needs root on Linux): the small-disk case is not exercised')
    return
  }
  t.teardown(vol.unmount)
  const up = await upstream()
  t.teardown(() => up.close())
  const db = join(vol.dir, 'exchanges.db')
  const h = await startHarness({ routes: [{ name: 'model', upstream: up.url, hop: 'model' }], captureBodies: true, db })
  t.teardown(() => h.close())
  // 9 MiB of the 16 taken by something else: the store fills the remaining ~7 MiB.
  const filler = join(vol.dir, 'filler.bin')
  writeFileSync(filler, Buffer.alloc(9 * 1024 * 1024, 1))
  let maxWal = 0
  const readyz = async (): Promise<{ status: number, body: string }> => {
    const r = await fetch(`${h.adminUrl}/readyz`)
    return { status: r.status, body: await r.text() }
  }

  // Fill it (bounded: 40 rounds of 20 records, ~32 MiB offered), until the last write of a
  // batch failed: a batch is written in slices, and after a failed one the recovery checkpoint
  // can free room for a smaller slice, which reports the store writable again.
  let sent = 0
  const full = (): boolean => { const s = h.proxy.pipeline.getStats(); return s.droppedStoreError > 0 && s.storeError !== null }
  for (let round = 0; round < 40 && !full(); round++) {
    await send(h, 20, sent)
    sent += 20
    await h.proxy.pipeline.drain()
    maxWal = Math.max(maxWal, walBytes(db))
  }
  const filled = h.proxy.pipeline.getStats()
  t.ok(filled.droppedStoreError > 0, `the disk filled: ${filled.droppedStoreError} records dropped and counted after ${filled.stored} stored`)
  t.match(filled.storeError, /full/, `the store error says so: ${filled.storeError}`)
  const notReady = await readyz()
  t.equal(notReady.status, 503, '/readyz: not ready')
  t.match(notReady.body, /full/)
  // Still full: more traffic is forwarded, its records dropped.
  t.same(new Set(await send(h, 10, sent)), new Set([200]), 'traffic still flows while the store is full')
  sent += 10
  await h.proxy.pipeline.drain()
  t.ok(h.proxy.pipeline.getStats().droppedStoreError >= filled.droppedStoreError + 10, 'and its records are dropped and counted')

  // Space returns: capture resumes by itself (bounded: 20 rounds of 5 records).
  rmSync(filler)
  let resumedAfter = -1
  for (let round = 0; round < 20 && resumedAfter < 0; round++) {
    const before = h.proxy.pipeline.getStats()
    await send(h, 5, sent)
    sent += 5
    await h.proxy.pipeline.drain()
    const now = h.proxy.pipeline.getStats()
    if (now.stored - before.stored === 5) resumedAfter = round
  }
  t.ok(resumedAfter >= 0, `capture resumed by itself (round ${resumedAfter} after space returned stored all its records)`)
  // ~5 MiB more: beyond the WAL's bound, so it has to be checkpointed into the file. Not more:
  // the 9 MiB freed must also take the WAL growing back to its bound (it may have been ~2 MiB
  // when the disk filled), and 6.5 MiB of records left ~0.2 MiB to spare (a CI run filled it).
  const before = h.proxy.pipeline.getStats()
  for (let round = 0; round < 6; round++) {
    await send(h, 20, sent)
    sent += 20
    await h.proxy.pipeline.drain()
    maxWal = Math.max(maxWal, walBytes(db))
  }
  const after = h.proxy.pipeline.getStats()
  t.equal(after.stored - before.stored, 120, 'and keeps writing: the next 120 records are all stored')
  t.equal(after.dropped - before.dropped, 0, 'none dropped')
  t.equal(after.storeError, null, 'no store error any more')
  t.equal((await readyz()).status, 200, '/readyz: ready again')
  t.ok(maxWal <= WAL_LIMIT_BYTES + SLACK_BYTES, `the WAL stayed within its bound throughout (largest seen: ${(maxWal / 1048576).toFixed(2)} MiB)`)
  t.ok(existsSync(db), 'the database is on the small volume')
  t.comment(`volume: ${(statSync(db).size / 1048576).toFixed(1)} MiB database, ${(walBytes(db) / 1048576).toFixed(1)} MiB WAL`)
})
