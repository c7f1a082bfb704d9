/**
 * The simulators as services (src/sim/main.ts, what docker-compose runs): one JSON line when
 * listening, the gateway reaching the model it is pointed at, exit 0 on SIGTERM, exit 2 on
 * bad usage.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { DEFAULT_COMPLETION, DEFAULT_MODEL } from './fixtures/model-server.js'
import { parseNdjson } from './fixtures/wire.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SIM_MAIN = join(ROOT, 'src', 'sim', 'main.ts')

interface Service {
  child: ChildProcess
  /** The JSON lines printed so far. */
  lines: () => Array<Record<string, unknown>>
  stderr: () => string
  /** The first line (the "listening" one). */
  started: Promise<Record<string, unknown>>
  exited: Promise<number | null>
}

function startService (args: string[]): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', SIM_MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const lines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('\n')) resolve(lines()[0]!)
    })
    void exited.then((code) => reject(new Error(`exited (${code}) before listening: ${err}`)))
  })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  return { child, lines, stderr: () => err, started, exited }
}

t.test('model and gateway services: listening line, traffic across them, SIGTERM', async (t) => {
  const model = startService(['model', '--port', '0'])
  const gateway = startService(['gateway', '--port', '0', '--model-endpoint', 'http://127.0.0.1:1/v1'])
  t.teardown(() => {
    for (const s of [model, gateway]) if (s.child.exitCode === null) s.child.kill('SIGKILL')
  })
  const modelLine = await model.started
  t.match(modelLine, { level: 'info', msg: 'simulator listening', sim: 'model', url: /^http:\/\/127\.0\.0\.1:\d+$/ })
  const health = await fetch(`${modelLine.url as string}/health`)
  t.equal(health.status, 200)

  // A gateway pointed at the model service answers chat from it.
  const pointed = startService(['gateway', '--port', '0', '--model-endpoint', `${modelLine.url as string}/v1`])
  t.teardown(() => {
    if (pointed.child.exitCode === null) pointed.child.kill('SIGKILL')
  })
  const gatewayLine = await pointed.started
  t.match(gatewayLine, { msg: 'simulator listening', sim: 'gateway' })
  const res = await fetch(`${gatewayLine.url as string}/v2/chat/agent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] })
  })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'application/x-ndjson; charset=utf-8')
  // The model service's answer has no "Final Answer:", so the ReAct parser gives one unknown
  // line with the whole text; the 2025 gateway then adds the usage line under the served name.
  const events = parseNdjson(await res.text()) as Array<{ type: string, data: Record<string, unknown> }>
  t.same(events.map((e) => e.type), ['unknown', 'usage'], 'answered by the model, not an error line')
  t.equal(events[0]?.data.text, DEFAULT_COMPLETION.join(''))
  t.match(events[1]?.data, { usage: { [DEFAULT_MODEL]: { input_tokens: Number, output_tokens: DEFAULT_COMPLETION.length } } })

  // --gateway-version 2024: the older line writes no usage line.
  const older = startService(['gateway', '--port', '0', '--gateway-version', '2024', '--model-endpoint', `${modelLine.url as string}/v1`])
  t.teardown(() => {
    if (older.child.exitCode === null) older.child.kill('SIGKILL')
  })
  const olderLine = await older.started
  const olderRes = await fetch(`${olderLine.url as string}/v2/chat/agent`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] }) })
  t.same((parseNdjson(await olderRes.text()) as Array<{ type: string }>).map((e) => e.type), ['unknown'], '2024: no usage line')
  older.child.kill('SIGTERM')
  t.equal(await older.exited, 0)

  // The other gateway's model endpoint refuses connections: the failure shows in the stream.
  const other = await gateway.started
  const failed = await fetch(`${other.url as string}/v2/chat/agent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] })
  })
  t.equal(failed.status, 200, 'the stream starts before the model is called')
  // One error line, then the connection drops (react.py re-raises): no usage line, no clean end.
  let text = ''
  let dropped: unknown
  try {
    for await (const chunk of failed.body!) text += Buffer.from(chunk).toString()
  } catch (err) {
    dropped = err
  }
  t.ok(dropped, 'the connection drops after the error line')
  t.same(parseNdjson(text), [{
    type: 'error',
    data: { message: 'litellm.InternalServerError: InternalServerError: Custom_openaiException - Connection error.', retryable: false }
  }])

  for (const s of [model, pointed, gateway]) s.child.kill('SIGTERM')
  for (const s of [model, pointed, gateway]) {
    t.equal(await s.exited, 0, `exit 0 on SIGTERM; stderr: ${s.stderr()}`)
    t.match(s.lines().at(-1), { msg: 'simulator stopped', signal: 'SIGTERM' })
  }
})

t.test('bad usage exits 2 with a message', async (t) => {
  for (const args of [[], ['proxy'], ['model', '--port', 'x'], ['gateway', '--model', 'm'], ['model', '--bogus'], ['gateway', '--model-endpoint', 'ftp://x'], ['gateway', '--gateway-version', '2023'], ['model', '--gateway-version', '2024']]) {
    const s = startService(args)
    s.started.catch(() => undefined)
    t.equal(await s.exited, 2, `${JSON.stringify(args)}: exit 2`)
    t.not(s.stderr(), '', `${JSON.stringify(args)}: says why`)
  }
})
