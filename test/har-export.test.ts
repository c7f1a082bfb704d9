/**
 * HAR exports: entries oldest first (as browsers write them and replay tools play them), the
 * same exchanges as the newest-first NDJSON whatever the page size, ties and `max`; and the
 * request body as `postData` with the redacted text where capture kept one. On both stores,
 * then through a running proxy's API and the CLI (from the API and from the store file).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { loadHar } from '../src/replay/har.js'
import { exportChunks, type ExportFormat } from '../src/store/export.js'
import type { ExchangeFilter, StoreReader } from '../src/store/types.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { runCommand } from './helpers/command.js'
import { harValidator } from './helpers/har.js'
import { startHarness } from './helpers/proxy-harness.js'
import { eachBackend, exchange } from './helpers/stores.js'

interface HarEntry {
  startedDateTime: string
  request: { method: string, url: string, bodySize: number, comment?: string, postData?: { mimeType: string, text: string, comment?: string } }
  _duo_diag: { id: string, correlation_id: string, query: string }
}
interface Har { log: { comment?: string, entries: HarEntry[] } }

const validHar = harValidator()

async function text (store: StoreReader, format: ExportFormat, filter: ExchangeFilter, max = 1_000_000, pageSize?: number): Promise<string> {
  let out = ''
  for await (const chunk of exportChunks(store, format, filter, { max, version: 'test', ...(pageSize !== undefined ? { pageSize } : {}) })) out += chunk
  return out
}

const harIds = (s: string): string[] => (JSON.parse(s) as Har).log.entries.map((e) => e._duo_diag.id)
const ndjsonIds = (s: string): string[] => s.trim() === '' ? [] : s.trim().split('\n').map((l) => (JSON.parse(l) as Exchange).id)

/** A shuffle that is the same every run (insertion order differs from start-time order). */
function shuffled<T> (items: readonly T[]): T[] {
  const out = [...items]
  let seed = 7
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    const j = seed % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

eachBackend(t, 'HAR is the NDJSON export reversed: oldest first, whatever the pages, ties and max', async (t, store) => {
  // 40 exchanges, three at each millisecond, inserted out of order; every fifth on the model hop.
  const data = Array.from({ length: 40 }, (_, i) => exchange({ startMs: Math.floor(i / 3) * 7, ...(i % 5 === 0 ? { hop: 'model' as const } : {}) }))
  for (const batch of [shuffled(data).slice(0, 20), shuffled(data).slice(20)]) await store.insert(batch)
  const byTime = [...data].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at))
  const t0 = Date.parse(byTime[0]!.started_at)
  for (const filter of [{}, { route: 'model' }, { since: t0 + 14, until: t0 + 70 }] as ExchangeFilter[]) {
    for (const pageSize of [1, 2, 3, 4, 7, 500]) {
      for (const max of [1, 2, 4, 9, 39, 40, 1_000]) {
        const nd = ndjsonIds(await text(store, 'ndjson', filter, max, pageSize))
        const harText = await text(store, 'har', filter, max, pageSize)
        const har = harIds(harText)
        const name = `${JSON.stringify(filter)} page ${pageSize} max ${max}`
        t.same(har, [...nd].reverse(), `${name}: the NDJSON's exchanges, reversed`)
        if (pageSize === 3 && max === 1_000) t.ok(validHar(JSON.parse(harText)), `${name}: valid HAR 1.2`)
      }
    }
  }
  const all = harIds(await text(store, 'har', {}, 1_000, 4))
  t.equal(all.length, 40)
  t.equal(new Set(all).size, 40, 'each once')
  const starts = (JSON.parse(await text(store, 'har', {}, 1_000, 4)) as Har).log.entries.map((e) => Date.parse(e.startedDateTime))
  t.ok(starts.every((s, i) => i === 0 || s >= starts[i - 1]!), 'startedDateTime never goes back')
  t.same(harIds(await text(store, 'har', { route: 'nothing' })), [], 'nothing matches: no entries')
  t.ok(validHar(JSON.parse(await text(store, 'har', { route: 'nothing' }))), 'and still valid HAR')
})

eachBackend(t, 'HAR oldest first while exchanges are recorded and purged during the export', async (t, store) => {
  const data = Array.from({ length: 12 }, (_, i) => exchange({ startMs: 10_000 + i * 10 }))
  await store.insert(data)
  // Recorded during the export: a long stream that started in the middle, and a new exchange.
  const late = exchange({ startMs: 10_000 + 55 })
  const newer = exchange({ startMs: 20_000 })
  let changed = false
  // The first read of a window (the second pass: a filter with `until` the caller did not give)
  // happens after the first pass has seen everything; that is when the store changes.
  const racing: StoreReader = {
    list: async (filter, page) => {
      if (!changed && filter.until !== undefined) {
        changed = true
        await store.insert([late, newer])
        await store.purge({ correlationId: data[3]!.correlation_id })
      }
      return store.list(filter, page)
    },
    get: (id) => store.get(id),
    count: () => store.count(),
    trace: (id) => store.trace(id),
    summary: (f) => store.summary(f),
    timeseries: (f, step) => store.timeseries(f, step),
    purge: (f) => store.purge(f),
    logEvents: (cid, limit) => store.logEvents(cid, limit),
    listLogEvents: (f, page) => store.listLogEvents(f, page)
  }
  const ids = harIds(await text(racing, 'har', {}, 1_000, 3))
  t.ok(changed, 'the store changed between the passes')
  const expected = [...data.filter((e) => e !== data[3]), late].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at)).map((e) => e.id)
  t.same(ids, expected, 'oldest first; the late one in its place; the purged one gone; nothing twice')
  t.notOk(ids.includes(newer.id), 'what started after the export began is left out')
})

t.test('HAR through the API and the CLI: oldest first, postData with the redacted body', async (t) => {
  const model = await startModelServer()
  const verbose = await startHarness({
    routes: [{ name: 'model', upstream: model.url, hop: 'model' }],
    captureBodies: true,
    // The smallest capture bound: a 3 kB body is kept cut.
    extra: { capture: { sample_bytes: 1024 } }
  })
  const metadata = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model' }] })
  t.teardown(async () => {
    await verbose.close()
    await metadata.close()
    await model.close()
  })
  const SECRET = 'sk-proj-HarExportSecret0123456789abcd'
  const chat = { model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }], api_key: SECRET }
  const send = async (base: string, id: string, init: { method?: string, path?: string, body?: string | Buffer, type?: string } = {}): Promise<void> => {
    const res = await request(`${base}${init.path ?? '/v1/chat/completions'}`, {
      method: (init.method ?? 'POST') as 'POST',
      ...(init.body !== undefined ? { body: init.body } : {}),
      headers: { 'x-request-id': id, ...(init.type !== undefined ? { 'content-type': init.type } : {}) }
    })
    await res.body.text()
    // Distinct start times: the order to find in the HAR is the order sent.
    await new Promise((resolve) => setTimeout(resolve, 3))
  }
  const v = verbose.url()
  await send(v, 'har-json-1', { body: JSON.stringify(chat), type: 'application/json' })
  await send(v, 'har-get-1', { method: 'GET', path: `/v1/models?api_key=${SECRET}` })
  await send(v, 'har-text-1', { body: `plain text with ${SECRET}`, type: 'text/plain' })
  await send(v, 'har-big-1', { body: JSON.stringify({ ...chat, messages: [{ role: 'user', content: 'x'.repeat(3000) }] }), type: 'application/json' })
  await send(v, 'har-bin-1', { body: Buffer.from([0, 1, 2, 3, 255, 254]), type: 'application/octet-stream' })
  await send(v, 'har-json-2', { body: JSON.stringify(chat), type: 'application/json' })
  const sent = ['har-json-1', 'har-get-1', 'har-text-1', 'har-big-1', 'har-bin-1', 'har-json-2']
  const records = new Map((await verbose.exchanges()).map((e) => [e.correlation_id, e]))
  t.equal(records.size, sent.length)

  const check = (t: Test, harText: string): void => {
    t.notMatch(harText, SECRET, 'redacted: the secret is nowhere')
    const har = JSON.parse(harText) as Har
    t.ok(validHar(har), `valid HAR 1.2 ${JSON.stringify(validHar.errors?.slice(0, 3))}`)
    t.same(har.log.entries.map((e) => e._duo_diag.correlation_id), sent, 'oldest first: the order sent')
    const entry = (id: string): HarEntry => har.log.entries.find((e) => e._duo_diag.correlation_id === id)!
    for (const id of ['har-json-1', 'har-json-2']) {
      t.same(entry(id).request.postData, { mimeType: 'application/json', text: JSON.stringify(records.get(id)!.request.body) }, `${id}: postData is the redacted JSON`)
      t.match(entry(id).request.postData!.text, /\[FILTERED/, `${id}: with the secret filtered`)
      t.equal(entry(id).request.comment, undefined)
    }
    t.same(entry('har-text-1').request.postData, { mimeType: 'text/plain', text: records.get('har-text-1')!.request.body }, 'text: postData is the scrubbed text')
    const big = entry('har-big-1').request
    t.equal(big.postData?.mimeType, 'application/json')
    t.equal(big.postData?.text, records.get('har-big-1')!.request.body, 'a body over the bound: the kept part')
    t.match(big.postData?.comment, /^cut at the capture bound: the request had \d+ bytes$/)
    t.ok(big.postData!.text.length < big.bodySize, 'shorter than the body was')
    const bin = entry('har-bin-1').request
    t.equal(bin.postData, undefined, 'a binary body: no postData (its text was not kept)')
    t.equal(bin.comment, 'request body of 6 bytes not captured (binary)')
    const getReq = entry('har-get-1').request
    t.equal(getReq.postData, undefined, 'no body: no postData')
    t.equal(getReq.comment, undefined)
    t.match(getReq.url, /\?api_key=%5BFILTERED%5D$/, 'a redacted query value, percent-encoded in the URL')
    t.equal(entry('har-get-1')._duo_diag.query, 'api_key=[FILTERED]', 'and as recorded beside it')
    t.match(har.log.comment, /oldest first/)
  }

  t.test('through the API', async (t) => {
    const res = await request(`${verbose.adminUrl}/api/export?format=har`)
    t.equal(res.statusCode, 200)
    check(t, await res.body.text())
    const nd = await (await request(`${verbose.adminUrl}/api/export?format=ndjson`)).body.text()
    t.same(ndjsonIds(nd).map((id) => [...records.values()].find((e) => e.id === id)!.correlation_id), [...sent].reverse(), 'NDJSON stays newest first')
    const two = JSON.parse(await (await request(`${verbose.adminUrl}/api/export?format=har&max=2`)).body.text()) as Har
    t.same(two.log.entries.map((e) => e._duo_diag.correlation_id), ['har-bin-1', 'har-json-2'], 'max: the newest, oldest first')
  })

  t.test('through the CLI, from the API, then from the store file', async (t) => {
    const dir = t.testdir({})
    const fromApi = join(dir, 'api.har')
    const r1 = await runCommand('export', ['--format', 'har', '--out', fromApi, '--admin', verbose.adminUrl])
    t.equal(r1.code, 0, r1.stderr)
    check(t, readFileSync(fromApi, 'utf8'))
    const originals = loadHar(fromApi)
    t.same(originals.map((o) => o.correlation_id), sent, 'replay --har reads them in the same order')
    t.equal(originals.find((o) => o.correlation_id === 'har-get-1')!.query, 'api_key=[FILTERED]', 'replay --har gets the query as recorded')
    t.same(originals.find((o) => o.correlation_id === 'har-json-1')!.request.body, records.get('har-json-1')!.request.body, 'and the body from postData')
    await verbose.close()
    const fromDb = join(dir, 'db.har')
    const r2 = await runCommand('export', ['--format', 'har', '--out', fromDb, '--db', verbose.dbPath])
    t.equal(r2.code, 0, r2.stderr)
    check(t, readFileSync(fromDb, 'utf8'))
  })

  t.test('metadata capture: no body text, so no postData; the request says a body was sent', async (t) => {
    const m = metadata.url()
    await send(m, 'meta-1', { body: JSON.stringify(chat), type: 'application/json' })
    await send(m, 'meta-2', { method: 'GET', path: '/v1/models' })
    await metadata.exchanges()
    const harText = await (await request(`${metadata.adminUrl}/api/export?format=har`)).body.text()
    t.notMatch(harText, SECRET)
    const har = JSON.parse(harText) as Har
    t.ok(validHar(har), 'valid HAR 1.2')
    t.same(har.log.entries.map((e) => e._duo_diag.correlation_id), ['meta-1', 'meta-2'])
    const [post, get] = har.log.entries
    t.equal(post!.request.postData, undefined)
    t.equal(post!.request.comment, `request body of ${post!.request.bodySize} bytes not captured (verbose capture keeps bodies)`)
    t.ok(post!.request.bodySize > 0, 'its size is there')
    t.equal(get!.request.postData, undefined)
    t.equal(get!.request.comment, undefined)
  })
})
