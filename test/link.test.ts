/** Linking model calls to the gateway requests that caused them, on exchanges built by hand, over real stores. */
import { setTimeout } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { Exchange } from '../src/capture/exchange.js'
import { linkBatch } from '../src/capture/link.js'
import { RecentExchanges } from '../src/capture/recent.js'
import { cause, fromCause } from '../src/diagnosis/codes.js'
import type { ExchangeStore } from '../src/store/store.js'
import { eachBackend, freshStore } from './helpers/stores.js'

let n = 0
function ex (hop: 'gateway' | 'model', startMs: number, durationMs: number, meta: Partial<Exchange['meta']> = {}, host = 'proxy:5054'): Exchange {
  n++
  return {
    id: String(n).padStart(24, '0'),
    proxy_instance: 'test',
    route: hop === 'gateway' ? 'gitlab-aigw' : 'model',
    hop,
    correlation_id: `c${n}`,
    correlation_source: hop === 'gateway' ? 'caller' : 'minted',
    original_correlation_id: null,
    started_at: new Date(1_800_000_000_000 + startMs).toISOString(),
    method: 'POST',
    path: hop === 'gateway' ? '/v2/code/completions' : '/v1/chat/completions',
    query: '',
    status: 200,
    flags: [],
    timings: { ttfb_ms: 1, duration_ms: durationMs },
    request: { headers: { host }, bytes: 10, content_type: 'application/json' },
    response: null,
    client_ip: '127.0.0.1',
    upstream: 'http://x',
    error: null,
    proxy_answered: false,
    upgraded: false,
    meta: { feature: hop === 'gateway' ? 'code_completions' : 'chat_completions', ...meta },
    diagnosis: null,
    parent_id: null,
    link: null
  }
}

/** An empty SQLite store: linking within a batch consults it and finds nothing. */
async function emptyStore (t: Test): Promise<ExchangeStore> {
  return (await freshStore(t, 'sqlite'))!
}

const GW = { model_name: 'm1', model_endpoint: 'http://proxy:5054/v1' }

t.test('back to back requests: each call goes to the request it fits inside', async (t) => {
  const g1 = ex('gateway', 0, 100, GW)
  const g2 = ex('gateway', 101, 100, GW)
  const c1 = ex('model', 5, 90, { model: 'm1' })
  // Starts before g1 ends (within the slack) but belongs to g2.
  const c2 = ex('model', 102, 95, { model: 'm1' })
  await linkBatch([g1, g2, c1, c2], await emptyStore(t))
  t.equal(c1.parent_id, g1.id)
  t.equal(c2.parent_id, g2.id)
  t.same(c2.link, { method: 'inferred', confidence: 1 })
})

t.test('concurrent identical requests share the confidence', async (t) => {
  const g1 = ex('gateway', 0, 100, GW)
  const g2 = ex('gateway', 0, 100, GW)
  const c = ex('model', 10, 50, { model: 'm1' })
  await linkBatch([g1, g2, c], await emptyStore(t))
  t.equal(c.link?.confidence, 0.5)
})

t.test('another model name is never linked; a forwarded correlation id always is', async (t) => {
  const g = ex('gateway', 0, 100, GW)
  const other = ex('model', 10, 50, { model: 'm2' })
  const byHeader = ex('model', 500, 50, { model: 'm2' })
  byHeader.correlation_source = 'caller'
  byHeader.request.headers['x-request-id'] = g.correlation_id
  await linkBatch([g, other, byHeader], await emptyStore(t))
  t.equal(other.parent_id, null)
  t.same(byHeader.link, { method: 'header', confidence: 1 })
})

eachBackend(t, 'children already stored are updated in the store; a failing child becomes the root cause', async (t, store) => {
  const g = ex('gateway', 0, 100, GW)
  g.status = 503
  g.flags = ['upstream_error']
  const gd = fromCause(cause('gateway_failed'))
  g.diagnosis = gd
  const c = ex('model', 10, 20, { model: 'm1' })
  c.status = 404
  c.flags = ['not_found']
  c.diagnosis = fromCause(cause('model_endpoint_missing_v1'))
  await store.insert([c])
  await linkBatch([g], store)
  const stored = await store.get(c.id)
  t.equal(stored?.parent_id, g.id, 'the stored child now names its parent')
  t.same(stored?.link, { method: 'inferred', confidence: 1 })
  t.same(gd.root_cause, { exchange_id: c.id, route: 'model', code: 'model_endpoint_missing_v1', params: {}, cause: 'The model endpoint URL lacks the /v1 suffix.' })
  t.equal(gd.code, 'model_endpoint_missing_v1', 'the gateway request is counted under its model call\'s code')
  t.same(gd.evidence.map((l) => l.text), ['the model call behind it (exchange ' + c.id + ' on route model) failed: The model endpoint URL lacks the /v1 suffix.', 'the gateway\'s own answer: The AI gateway failed.'])
  t.same(gd.evidence[1]?.params, { answer: { code: 'cause.gateway_failed', params: {} } }, 'the gateway\'s own answer is quoted by its code')
})

eachBackend(t, 'a call recorded after its gateway request (a later batch) still links, and the written request takes its cause', async (t, store) => {
  const g = ex('gateway', 0, 100, GW)
  g.status = 500
  g.flags = ['upstream_error']
  g.diagnosis = fromCause(cause('gateway_failed'))
  const other = ex('gateway', 400, 50, GW)
  t.same(await linkBatch([g, other], store), [], 'nothing to link in the first batch')
  await store.insert([g, other])
  // The gateway answers on Content-Length before the proxy's completion of the model call fires:
  // the call's record ends 17 ms after the request's, in the next batch.
  const c = ex('model', 10, 107, { model: 'm1' })
  c.status = 404
  c.flags = ['not_found']
  c.diagnosis = fromCause(cause('model_endpoint_missing_v1'))
  const links = await linkBatch([c], store)
  t.equal(links.length, 1)
  t.equal(c.parent_id, g.id, 'linked to the written request')
  t.same(c.link, { method: 'inferred', confidence: 1 })
  const stored = await store.get(g.id)
  t.same(stored?.diagnosis?.root_cause, { exchange_id: c.id, route: 'model', code: 'model_endpoint_missing_v1', params: {}, cause: 'The model endpoint URL lacks the /v1 suffix.' }, 'the written request is rewritten with its child\'s cause')
  // Past the end slack, or starting after the request ended: not its call.
  const tooLate = ex('model', 20, 140, { model: 'm1' })
  const after = ex('model', 120, 10, { model: 'm1' })
  await linkBatch([tooLate, after], store)
  t.equal(tooLate.parent_id, null, 'ending 60 ms after the request: not linked')
  t.equal(after.parent_id, null, 'starting after the request ended: not linked')
})

eachBackend(t, 'written exchanges the capture thread still holds are taken as they are, the others read from the store', async (t, store) => {
  const recent = new RecentExchanges()
  const g = ex('gateway', 0, 100, GW)
  g.status = 500
  g.flags = ['upstream_error']
  g.diagnosis = fromCause(cause('gateway_failed'))
  const c2 = ex('model', 510, 20, { model: 'm1' })
  await store.insert([g, c2])
  recent.add([g])
  // A late call: its parent comes from the held object, which linking changes and writes.
  const late = ex('model', 30, 75, { model: 'm1' })
  late.status = 404
  late.flags = ['not_found']
  late.diagnosis = fromCause(cause('model_endpoint_missing_v1'))
  // A gateway request around a written call that is not held.
  const g2 = ex('gateway', 500, 100, GW)
  const links = await linkBatch([late, g2], store, recent.held)
  t.equal(links.length, 2, 'the late call, and the written call read from the store')
  t.equal(links.find((l) => l.child === late)?.parent, g, 'the late call\'s parent is the held object itself, not a copy read back')
  t.equal(g.diagnosis.code, 'model_endpoint_missing_v1', 'the held request took its late child\'s cause')
  t.equal((await store.get(g.id))?.diagnosis?.code, 'model_endpoint_missing_v1', 'and the store has it too')
  const readBack = links.find((l) => l.parent === g2)?.child
  t.equal(readBack?.id, c2.id, 'the other gateway request found its written call')
  t.not(readBack, c2, 'read from the store: it was not held')
  t.equal((await store.get(c2.id))?.parent_id, g2.id, 'and rewritten there')
})

t.test('the held exchanges are bounded by count and by age', async (t) => {
  const recent = new RecentExchanges(3, 30)
  const all = [0, 1, 2, 3, 4].map((i) => ex('model', i, 1))
  recent.add(all)
  t.same(all.map((e) => recent.held(e.id) === e), [false, false, true, true, true], 'the three written last')
  recent.add([all[2]!])
  recent.add([ex('model', 9, 1)])
  t.same(all.map((e) => recent.held(e.id) === e), [false, false, true, false, true], 'written again, it counts as new; the oldest goes')
  await setTimeout(60)
  t.equal(recent.held(all[4]!.id), undefined, 'past its age it is read from the store again')
})

t.test('a gateway request written by an older version (no codes, plain-string evidence) is read into codes when its call comes', async (t) => {
  const g = ex('gateway', 0, 100, GW)
  g.status = 500
  g.flags = ['upstream_error']
  g.diagnosis = { cause: 'The AI gateway failed.', evidence: ['500 from http://x/v2/code/completions'], next_steps: ['Check the gateway\'s logs.'] } as unknown as Exchange['diagnosis']
  const c = ex('model', 10, 20, { model: 'm1' })
  c.status = 404
  c.flags = ['not_found']
  c.diagnosis = fromCause(cause('model_endpoint_missing_v1'))
  await linkBatch([g, c], await emptyStore(t))
  const d = g.diagnosis!
  t.equal(d.code, 'model_endpoint_missing_v1')
  t.same(d.evidence.map((l) => [l.code, l.text]), [
    ['model_call_failed', `the model call behind it (exchange ${c.id} on route model) failed: The model endpoint URL lacks the /v1 suffix.`],
    ['gateway_own_answer', 'the gateway\'s own answer: The AI gateway failed.'],
    ['text', '500 from http://x/v2/code/completions']
  ], 'the old cause is quoted by its words')
  t.same(d.next_steps.map((l) => l.code), ['text'])
})
