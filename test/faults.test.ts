/**
 * Fault injection through real sockets and real clients: every preset and action, matching,
 * the runtime API, and the guard that keeps it off unless configured.
 */
import OpenAI from 'openai'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { ConfigError } from '../src/config/errors.js'
import { loadConfig } from '../src/config/load.js'
import { DEFAULT_COMPLETION, DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { startHarness } from './helpers/proxy-harness.js'

const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })
const JSON_HEADERS = { 'content-type': 'application/json' }

t.test('off unless enabled', async (t) => {
  t.equal(loadConfig({ env: {} }).faults.enabled, false, 'off by default')
  t.throws(() => loadConfig({ env: { DUO_DIAG_FAULTS__RULES__0__PRESET: 'missing-v1' } }), new ConfigError('faults.rules: set faults.enabled: true to inject faults (never on by accident)'))
  t.equal(loadConfig({ env: { DUO_DIAG_FAULTS__ENABLED: 'true', DUO_DIAG_FAULTS__RULES__0__PRESET: 'missing-v1' } }).faults.rules[0]?.name, 'missing-v1')
  t.throws(() => loadConfig({ env: { DUO_DIAG_FAULTS__ENABLED: 'true', DUO_DIAG_FAULTS__RULES__0__NAME: 'x', DUO_DIAG_FAULTS__RULES__0__DELAY_MS: 'soon' } }), new ConfigError('faults.rules[0].delay_ms: expected a whole number from 0 to 600000, got "soon"'))
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }] })
  t.teardown(async () => { await h.close(); await model.close() })
  const r = await request(`${h.adminUrl}/api/faults`, { method: 'POST', body: JSON.stringify({ name: 'x', preset: 'missing-v1' }), headers: JSON_HEADERS })
  t.equal(r.statusCode, 409, 'the runtime API refuses while fault injection is off')
  await r.body.text()
})

t.test('presets and actions', async (t) => {
  const model = await startModelServer({ completion: Array.from({ length: 12 }, (_, i) => `piece${i} `) })
  const h = await startHarness({
    // Both hops: a route named `model` is on the model hop, one named `gateway` on the gateway hop.
    routes: [{ name: 'model', upstream: model.url, timeouts: { headers_ms: 300 } }, { name: 'gateway', upstream: model.url, timeouts: { headers_ms: 300 } }],
    extra: { faults: { enabled: true, rules: [{ name: 'from-config', path: '/v1/models', header: 'x-stage: config', error_body: 'rate_limited' }] } }
  })
  t.teardown(async () => { await h.close(); await model.close() })
  const api = `${h.adminUrl}/api/faults`
  const rule = async (body: Record<string, unknown>): Promise<void> => {
    await request(api, { method: 'DELETE' }).then((r) => r.body.text())
    const r = await request(api, { method: 'POST', body: JSON.stringify(body), headers: JSON_HEADERS })
    t.equal(r.statusCode, 201, `rule ${String(body.name ?? body.preset)} accepted`)
    await r.body.text()
  }
  const client = new OpenAI({ baseURL: `${h.url()}/v1`, apiKey: 'x', maxRetries: 0, timeout: 5000 })
  // The customer's misconfiguration: a base URL without /v1.
  const noV1 = new OpenAI({ baseURL: h.url(), apiKey: 'x', maxRetries: 0, timeout: 5000 })
  const call = async (id: string): Promise<{ status: number | undefined, error: unknown }> => {
    try {
      await (id === 'p-missing-v1' ? noV1 : client).chat.completions.create({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': id } })
      return { status: 200, error: null }
    } catch (err) {
      return { status: (err as { status?: number }).status, error: err }
    }
  }
  const record = async (id: string): Promise<Exchange> => {
    for (let i = 0; i < 50; i++) {
      const found = (await h.exchanges(`correlation_id=${id}`))[0]
      if (found) return found
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error(`no record ${id}`)
  }

  // GitLab's request on the gateway hop: a code completion.
  const gatewayCall = async (id: string): Promise<{ status: number | undefined, error: unknown }> => {
    try {
      const r = await request(`${h.url('gateway')}/v2/code/completions`, {
        method: 'POST',
        body: JSON.stringify({ current_file: { file_name: 'a.py', content_above_cursor: 'def f(', content_below_cursor: '' }, model_provider: 'litellm', model_name: 'mistral' }),
        headers: { ...JSON_HEADERS, 'x-request-id': id }
      })
      await r.body.text()
      return { status: r.statusCode, error: null }
    } catch (err) {
      return { status: undefined, error: err }
    }
  }

  // Each preset on the hop where its failure happens for real.
  const presets: Array<['model' | 'gateway', string, number, string[], RegExp]> = [
    ['model', 'missing-v1', 404, ['not_found'], /lacks the \/v1 suffix/],
    ['gateway', 'jwt-forbidden', 401, ['unauthorized'], /rejected GitLab's token/],
    ['gateway', 'instance-mismatch', 401, ['unauthorized'], /instance identity changed/],
    ['gateway', 'no-seat', 403, ['forbidden'], /lacks the scope for code completions/],
    ['gateway', 'gateway-down', 502, ['connection_refused'], /The AI gateway is not reachable/],
    ['model', 'model-timeout', 504, ['headers_timeout', 'timeout'], /The model is too slow or stuck: it did not answer in time/],
    ['gateway', 'inference-failed', 503, ['upstream_error'], /could not reach the model, or the model failed/],
    ['gateway', 'model-unhandled', 500, ['upstream_error'], /The gateway's model call failed with an error it does not handle \(a bare 500\)/]
  ]
  for (const [hop, preset, status, flags, cause] of presets) {
    await rule({ preset })
    const r = hop === 'model' ? await call(`p-${preset}`) : await gatewayCall(`p-${preset}`)
    t.equal(r.status, status, `${preset}: the ${hop === 'model' ? 'openai SDK' : 'caller'} sees ${status}`)
    const ex = await record(`p-${preset}`)
    t.equal(ex.hop, hop, `${preset}: on the ${hop} hop`)
    t.same(ex.flags, [...flags, 'fault_injected'], `${preset}: recorded like the real failure, and marked`)
    t.match(ex.diagnosis?.cause, cause, `${preset}: the real failure's cause`)
    t.match(ex.diagnosis?.evidence.map((l) => l.text).join(' '), new RegExp(`injected by fault rule "${preset}"`))
  }
  t.equal(model.requests.filter((q) => q.path === '/v1/chat/completions' || q.path === '/chat/completions' || q.path === '/v2/code/completions').length, 0, 'none of them reached the upstream')

  await rule({ preset: 'stream-cut' })
  const cut = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: DEFAULT_MODEL, messages: [], stream: true }), headers: { ...JSON_HEADERS, 'x-request-id': 'cut' } })
  t.equal(cut.headers['x-duo-diag-fault'], 'stream-cut', 'the response names the rule')
  await t.rejects(cut.body.text(), 'stream-cut: the caller sees the connection reset after the headers')
  t.same((await record('cut')).flags, ['stream_aborted', 'fault_injected'])

  await rule({ name: 'trunc', truncate_after_chunks: 3 })
  const stream = await client.chat.completions.create({ model: DEFAULT_MODEL, messages: [], stream: true }, { headers: { 'x-request-id': 'trunc' } })
  let chunks = 0
  let pieces = 0
  for await (const chunk of stream) {
    chunks++
    if (chunk.choices[0]?.delta?.content) pieces++
  }
  t.equal(chunks, 3, 'truncated after 3 chunks, cleanly: the SDK just sees the stream end')
  t.equal(pieces, 2, 'vLLM\'s first chunk carries only the role (serving_chat.py), so 2 of them had content')
  t.same((await record('trunc')).flags, ['stream_truncated', 'fault_injected'])

  await rule({ name: 'reset-early', reset: 'before_headers' })
  const early = await call('reset-early')
  t.equal(early.status, undefined, 'no status: the connection was reset')
  t.same((await record('reset-early')).flags, ['connection_reset', 'fault_injected'])

  await rule({ name: 'slow', delay_ms: 150 })
  t.equal((await call('slow')).status, 200)
  t.ok((await record('slow')).timings.duration_ms >= 140, 'delayed before the headers')

  await rule({ name: 'first', first_chunk_delay_ms: 150 })
  const first = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: DEFAULT_MODEL, messages: [], stream: true }), headers: { ...JSON_HEADERS, 'x-request-id': 'first' } })
  t.equal(first.statusCode, 200, 'headers first')
  t.match(await first.body.text(), /\[DONE\]/, 'then the whole stream')
  const firstRec = await record('first')
  t.ok(firstRec.timings.duration_ms >= 140 && (firstRec.timings.ttfb_ms ?? 999) < firstRec.timings.duration_ms, 'the first chunk was held')

  await rule({ name: 'stall', stall_after_bytes: 40 })
  const controller = new AbortController()
  const stalled = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: DEFAULT_MODEL, messages: [], stream: true }), headers: { ...JSON_HEADERS, 'x-request-id': 'stall' }, signal: controller.signal })
  let got = 0
  const reading = (async () => {
    try {
      for await (const chunk of stalled.body) got += chunk.length
    } catch {
      // aborted by the test once it has seen the stall
    }
  })()
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(got, 40, 'exactly the bytes before the stall, then nothing')
  controller.abort()
  await reading
  const stallRec = await record('stall')
  t.same(stallRec.flags, ['client_aborted', 'fault_injected'])
  t.equal(stallRec.response?.bytes, 40)

  await rule({ name: 'thin', bandwidth_bps: 20_000 })
  const thin = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: DEFAULT_MODEL, messages: [], stream: true }), headers: { ...JSON_HEADERS, 'x-request-id': 'thin' } })
  const thinText = await thin.body.text()
  t.equal((thinText.match(/piece/g) ?? []).length, 12, 'every byte relayed')
  const thinRec = await record('thin')
  t.ok(thinRec.timings.duration_ms >= (thinRec.response!.bytes / 20_000) * 1000 * 0.8, `paced to the bandwidth (${thinRec.response!.bytes} B in ${thinRec.timings.duration_ms} ms)`)

  // Matching: percent and header.
  await rule({ name: 'never', preset: 'inference-failed', percent: 0 })
  t.equal((await call('never')).status, 200, 'percent 0 never fires')
  await rule({ name: 'tagged', preset: 'inference-failed', header: 'x-stage: yes' })
  t.equal((await call('untagged')).status, 200, 'the header must match')
  const tagged = await request(`${h.url()}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: { ...JSON_HEADERS, 'x-stage': 'yes' } })
  t.equal(tagged.statusCode, 503)
  await tagged.body.text()

  const list = await (await request(api)).body.json() as { rules: Array<{ name: string }>, presets: string[] }
  t.same(list.rules.map((r) => r.name), ['tagged'])
  t.ok(list.presets.includes('missing-v1'))
  t.equal((await request(api, { method: 'POST', body: JSON.stringify({ name: 'bad', delay_ms: -1 }), headers: JSON_HEADERS })).statusCode, 400, 'invalid rules get 400')
  t.same(await (await request(api, { method: 'DELETE' })).body.json(), { removed: 1 })
  t.equal((await call('after')).status, 200, 'normal again')
  t.equal(DEFAULT_COMPLETION.length > 0, true)
})

t.test('rules from the configuration', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({
    routes: [{ name: 'model', upstream: model.url }],
    extra: { faults: { enabled: true, rules: [{ name: 'limited', path: '/v1/models', header: 'x-stage: config', error_body: 'rate_limited' }] } }
  })
  t.teardown(async () => { await h.close(); await model.close() })
  const r = await request(`${h.url()}/v1/models`, { headers: { 'x-stage': 'config', 'x-request-id': 'cfg' } })
  t.equal(r.statusCode, 429)
  t.equal(r.headers['retry-after'], '30')
  await r.body.text()
  const ok = await request(`${h.url()}/v1/models`)
  t.equal(ok.statusCode, 200)
  await ok.body.text()
  await h.close()
  t.ok(h.logs().some((l) => /FAULT INJECTION IS ENABLED/.test(String(l.message))), 'the start-up log warns')
})
