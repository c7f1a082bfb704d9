/**
 * Metadata capture keeps no body text, only the body's shape (src/capture/shape.ts); `replay`
 * rebuilds a body of exactly that shape. A request of an unusual shape goes through the real
 * proxy, is replayed at a simulated staging gateway that records what it received, and the two
 * bodies are compared key by key and type by type, with no original text in either the record
 * or the replay.
 */
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import type { Json } from '../src/capture/redact.js'
import { requestShape } from '../src/capture/shape.js'
import { buildRuleSet } from '../src/capture/redact-rules.js'
import { bodyFromShape } from '../src/replay/shape-body.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { runCommand, type Run } from './helpers/command.js'
import { startHarness } from './helpers/proxy-harness.js'

const replay = (args: string[]): Promise<Run> => runCommand('replay', args)

/** Text the customer sent that must never be kept nor replayed. */
const PRIVATE = {
  above: 'def transfer(account):\n    # move the funds of the private ledger\n'.repeat(30),
  below: '\nprint(transfer(ledger))\n',
  system: 'You are the confidential ledger assistant',
  user: 'Complete the private transfer function please',
  projectPath: 'finance/private-ledger',
  contextName: 'ledger_helpers.py',
  contextContent: 'def balance(): return 41',
  tag: 'quarterly-close-2026',
  apiKey: 'sk-ledgerKey0123456789abcdefgh'
}

function unusualBody (modelEndpoint: string): Record<string, unknown> {
  return {
    current_file: { file_name: 'ledger.py', language_identifier: 'python', content_above_cursor: PRIVATE.above, content_below_cursor: PRIVATE.below },
    prompt_version: 3,
    prompt: [{ role: 'system', content: PRIVATE.system }, { role: 'user', content: PRIVATE.user }],
    choices_count: 2,
    project_id: 4242,
    project_path: PRIVATE.projectPath,
    telemetry: [{ model_engine: 'litellm', requests: 3, accepts: 1, errors: 0 }],
    context: [{ type: 'file', name: PRIVATE.contextName, content: PRIVATE.contextContent }],
    model_provider: 'litellm',
    model_name: 'mistral',
    model_identifier: `custom_openai/${DEFAULT_MODEL}`,
    model_endpoint: modelEndpoint,
    model_api_key: PRIVATE.apiKey,
    options: { nested: { deeper: { flag: true, ratio: 0.5, tags: [PRIVATE.tag, 'b'] } }, empty: {}, none: [] },
    stream: false,
    cursor_hint: null
  }
}

/** The value's start as it reads inside JSON text. */
const leaks = (json: string, value: string): boolean => json.includes(JSON.stringify(value).slice(1, 25))

/** JSON types, recursively: the shape two bodies must share. */
function typeTree (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(typeTree)
  if (v === null) return 'null'
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, typeTree(x)]))
  return typeof v
}

t.test('a metadata-only capture replays with every field of the original\'s shape', async (t) => {
  const model = await startModelServer()
  const production = await startAiGateway({ modelEndpoint: `${model.url}/v1` })
  const staging = await startAiGateway({ modelEndpoint: `${model.url}/v1` })
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: production.url }] })
  t.teardown(async () => {
    await h.close()
    await production.close()
    await staging.close()
    await model.close()
  })

  const original = unusualBody(`${model.url}/v1`)
  const res = await request(`${h.url()}/v2/code/completions`, { method: 'POST', body: JSON.stringify(original), headers: { 'content-type': 'application/json', 'x-request-id': 'shape-1' } })
  await res.body.text()
  const [record] = await h.exchanges('correlation_id=shape-1') as [Exchange]
  t.equal(record.request.body, undefined, 'metadata capture: no body text')
  t.ok(record.meta.request_shape, 'its shape instead')
  const kept = JSON.stringify(record)
  for (const [name, value] of Object.entries(PRIVATE)) t.notOk(leaks(kept, value), `the record holds no ${name}`)

  const run = await replay([record.id, '--admin', h.adminUrl, '--target', staging.url])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /body {6}synthesized: the original's recorded shape \(\d+ fields\)/)
  const got = staging.requests.find((r) => r.headers['x-request-id'] === 'replay-shape-1-1')
  t.ok(got, 'the staging gateway got the replay')
  const text = got!.body.toString()
  const sent = JSON.parse(text) as Record<string, unknown>

  t.same(typeTree(sent), typeTree(original), 'the same keys and JSON types, recursively, arrays of the same length')
  t.equal(sent.prompt_version, 3, 'prompt_version as sent')
  t.equal(sent.choices_count, 2, 'choices_count as sent')
  t.equal(sent.stream, false)
  t.equal(sent.project_id, 0, 'other numbers are 0')
  t.equal(sent.cursor_hint, null)
  t.same((sent.prompt as Array<{ role: string }>).map((m) => m.role), ['system', 'user'], 'roles as sent: a gateway validates them')
  t.match(sent, { model_name: 'mistral', model_identifier: `custom_openai/${DEFAULT_MODEL}`, model_endpoint: `${model.url}/v1`, current_file: { file_name: 'ledger.py', language_identifier: 'python' } })
  t.match(sent, { options: { nested: { deeper: { flag: true, ratio: 0, tags: ['[synthesized]', '[synthesized]'] } }, empty: {}, none: [] } })
  for (const [name, value] of Object.entries(PRIVATE)) t.notOk(leaks(text, value), `no original ${name} in the replay`)
  t.equal(got!.body.byteLength, record.request.bytes, 'the original size, to the byte')
})

t.test('the shape is bounded; a body rebuilt from it keeps what was recorded', async (t) => {
  const rules = buildRuleSet(false)
  const wide = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]))
  const wideShape = requestShape(wide, rules) as Record<string, unknown>
  t.ok(Object.keys(wideShape).length <= 201, 'at most 200 keys recorded')
  t.equal(wideShape['<more>'], 300, 'the rest counted')

  let deep: unknown = { leaf: 'text' }
  for (let i = 0; i < 20; i++) deep = { level: deep }
  t.ok(JSON.stringify(requestShape(deep, rules)).includes('"<object>"'), 'deep nesting is cut')

  const shape = requestShape({ messages: Array.from({ length: 20 }, () => ({ role: 'user', content: 'hello' })), '/home/alice/notes.txt': 1 }, rules) as { [key: string]: Json }
  const messages = shape.messages as Json[]
  t.equal(messages.length, 9, 'eight elements and a count')
  t.equal(messages[8], '<+12 more>')
  t.same(Object.keys(shape), ['messages', '<key 1>'], 'data used as a key is not kept')
  const rebuilt = JSON.parse(bodyFromShape(shape, 0, '#', null).text) as { messages: unknown[] }
  t.equal(rebuilt.messages.length, 20, 'the array rebuilt to its length')
  t.same(rebuilt.messages[19], { role: 'user', content: '[synthesized]' })
})
