/**
 * `duo-diag-proxy replay`: traffic captured through the real proxy (plain and verbose) is resent
 * to a simulated staging gateway (or model server), exactly or synthesized; what the staging
 * side received is checked, and the side-by-side output.
 */
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import type { Exchange } from '../src/capture/exchange.js'
import { placeholder } from '../src/replay/synthesize.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { runCommand, type Run } from './helpers/command.js'
import { refusedPort } from './helpers/fault-servers.js'
import { startHarness } from './helpers/proxy-harness.js'

const replay = (args: string[]): Promise<Run> => runCommand('replay', args)
const exportCli = (args: string[]): Promise<Run> => runCommand('export', args)

const ABOVE = 'def add(a, b):\n    """Adds two numbers."""\n' + '    x = a + b  # keep going\n'.repeat(60)

function codeBody (modelEndpoint: string, stream = false): Record<string, unknown> {
  return {
    current_file: { file_name: 'calc.py', language_identifier: 'python', content_above_cursor: ABOVE, content_below_cursor: '\nprint(add(1, 2))\n' },
    model_provider: 'litellm',
    // The family GitLab names (litellm's list; another name is a 422); the model is asked for
    // the served name in the identifier (a 2025 gateway sends nothing without one).
    model_name: 'mistral',
    model_identifier: `custom_openai/${DEFAULT_MODEL}`,
    model_endpoint: modelEndpoint,
    stream,
    prompt_version: 1
  }
}

async function post (url: string, body: unknown, headers: Record<string, string>): Promise<number> {
  const res = await request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } })
  await res.body.text()
  return res.statusCode
}

/** The value cells of a side-by-side row (`  status    200    200`). */
function row (block: string, name: string): [string, string] | undefined {
  const line = block.split('\n').find((l) => l.startsWith(`  ${name.padEnd(9)} `))
  if (line === undefined) return undefined
  const cells = line.slice(12).split(/\s{2,}/)
  return [cells[0] ?? '', cells.slice(1).join('  ')]
}

function blocks (stdout: string): string[] {
  return stdout.split(/^(?=\[\d+\/\d+\] )/m).filter((b) => b.startsWith('['))
}

t.test('placeholder text fits the JSON byte count exactly', async (t) => {
  for (const n of [0, 1, 50, 79, 80, 81, 1000, 4097]) t.equal(Buffer.byteLength(JSON.stringify(placeholder(n))) - 2, n, `${n} bytes`)
})

t.test('replay to a staging gateway: synthesized without bodies, exact with verbose capture', async (t) => {
  const model = await startModelServer()
  const production = await startAiGateway({ modelEndpoint: `${model.url}/v1` })
  const staging = await startAiGateway({ modelEndpoint: `${model.url}/v1` })
  const plain = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: production.url }, { name: 'model', upstream: model.url, hop: 'model' }] })
  const verbose = await startHarness({ captureBodies: true, routes: [{ name: 'gitlab-aigw', upstream: production.url }, { name: 'staging', upstream: staging.url }] })
  t.teardown(async () => {
    await plain.close()
    await verbose.close()
    await production.close()
    await staging.close()
    await model.close()
  })

  t.test('not verbose: a code completion is synthesized with the same shape and size', async (t) => {
    staging.requests.length = 0
    const body = codeBody(`${model.url}/v1`)
    t.equal(await post(`${plain.url()}/v2/code/completions?project_id=7&private_token=glpat-abcdefghijklmnopqrst`, body, {
      authorization: 'Bearer customer-credential-0123456789', 'x-request-id': 'plain-1', 'x-gitlab-instance-id': 'inst-1', 'x-gitlab-realm': 'self-managed'
    }), 200)
    const [original] = await plain.exchanges('correlation_id=plain-1') as [Exchange]
    t.equal(original.request.body, undefined, 'no body in the record')

    const run = await replay([original.id, '--admin', plain.adminUrl, '--target', staging.url])
    t.equal(run.code, 0, run.stderr)
    t.equal(staging.requests.length, 1)
    const got = staging.requests[0]!
    t.equal(got.method, 'POST')
    t.equal(got.path, '/v2/code/completions?project_id=7&private_token=[FILTERED]', 'same path; the redacted query value stays redacted')
    t.equal(got.headers['x-request-id'], 'replay-plain-1-1')
    t.equal(got.headers['x-duo-diag-replay-of'], original.id)
    t.equal(got.headers.authorization, undefined, 'the customer credential was only a fingerprint: not sent')
    t.equal(got.headers['x-gitlab-instance-id'], 'inst-1', 'other headers are copied')
    const sent = JSON.parse(got.body.toString()) as { current_file: Record<string, string>, model_name: string, model_identifier: string, model_endpoint: string, stream: boolean }
    t.same(Object.keys(sent.current_file).sort(), ['content_above_cursor', 'content_below_cursor', 'file_name', 'language_identifier'])
    t.equal(sent.current_file.file_name, 'calc.py')
    t.equal(sent.current_file.language_identifier, 'python')
    t.match(sent.current_file.content_above_cursor, /^# duo-diag-proxy replay placeholder 0001/)
    t.notMatch(got.body.toString(), /Adds two numbers/, 'no original text: it was never captured')
    t.equal(sent.model_name, 'mistral')
    t.equal(sent.model_identifier, `custom_openai/${DEFAULT_MODEL}`, 'the served name goes with it')
    t.equal(sent.model_endpoint, `${model.url}/v1`)
    t.equal(sent.stream, false)
    t.equal(got.body.byteLength, original.request.bytes, 'the original size, to the byte')

    const [b] = blocks(run.stdout)
    t.ok(b, run.stdout)
    t.match(b, /^\[1\/1\] POST \/v2\/code\/completions\?project_id=7&private_token=\[FILTERED\]$/m)
    t.match(b, new RegExp(`original  ${original.id}  correlation plain-1  route gitlab-aigw`))
    t.match(b, /X-Request-ID replay-plain-1-1 -> http:\/\/127\.0\.0\.1:\d+\/v2\/code\/completions/)
    t.match(b, /body {6}synthesized: the original's recorded shape \(11 fields\), \d+ bytes \(original \d+\)/)
    t.match(b, /\(no proxy recorded it: recorded in the originals' store as [0-9a-f]{24}\)/, 'no proxy in front of staging: recorded where the original is')
    t.same(row(b!, 'status'), ['200', '200'])
    t.same(row(b!, 'flags'), ['-', '-'])
    t.match(row(b!, 'ttfb')?.[0], /^\d+\.\d ms$/)
    t.match(row(b!, 'ttfb')?.[1], /^\d+\.\d ms$/)
    t.match(row(b!, 'duration')?.[1], /^\d+\.\d ms$/)
    t.match(b, /note: body synthesized: bodies were not captured/)
    t.match(b, /note: query\/path values redacted at capture are sent as "\[FILTERED\]"/)
    t.match(b, /note: credentials redacted at capture were not sent: authorization/)
    t.match(run.stdout, /1 replayed to http:\/\/127\.0\.0\.1:\d+: 1 answered, 0 not answered\./)
  })

  t.test('not verbose: an OpenAI chat completion on the model hop gets its messages array back', async (t) => {
    const chat = { model: DEFAULT_MODEL, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Explain this function in detail. '.repeat(20) }], max_tokens: 64, temperature: 0.2, stream: true }
    t.equal(await post(`${plain.url('model')}/v1/chat/completions`, chat, { 'x-request-id': 'chat-1' }), 200)
    const [original] = await plain.exchanges('correlation_id=chat-1') as [Exchange]
    model.requests.length = 0
    const run = await replay([original.id, '--db', plain.dbPath, '--target', model.url])
    t.equal(run.code, 0, run.stderr)
    const got = model.requests.find((r) => r.headers['x-request-id'] === 'replay-chat-1-1')
    t.ok(got, 'the model server got the replay')
    const sent = JSON.parse(got!.body.toString()) as { model: string, messages: Array<{ role: string, content: string }>, max_tokens: number, temperature: number, stream: boolean }
    t.equal(got!.path, '/v1/chat/completions')
    t.equal(sent.model, DEFAULT_MODEL)
    t.same(sent.messages.map((m) => m.role), ['system', 'user'], 'the same messages, in their roles')
    t.equal(sent.messages[0]?.content, '[synthesized]', 'a short text: a placeholder word')
    t.match(sent.messages[1]?.content, /placeholder/, 'the long one: placeholder text of its length')
    t.equal(sent.max_tokens, 64)
    t.equal(sent.temperature, 0.2)
    t.equal(sent.stream, true)
    t.equal(got!.body.byteLength, original.request.bytes, 'the original size')
    const [b] = blocks(run.stdout)
    t.match(b, /synthesized: the original's recorded shape/)
    t.same(row(b!, 'status'), ['200', '200'])
  })

  t.test('verbose: the captured body is sent exactly; the staging proxy records the replay', async (t) => {
    staging.requests.length = 0
    const completion = codeBody(`${model.url}/v1`, true)
    // As GitLab's self-hosted generation message sends it: prompt_id, so the prompt registry
    // calls the model (the legacy path, without it, would ask for the family name instead).
    const generation = { ...codeBody(`${model.url}/v1`), current_file: { file_name: 'gen.py', language_identifier: 'python', content_above_cursor: '# write a parser\n', content_below_cursor: '' }, prompt_id: 'code_suggestions/generations', prompt_version: 2 }
    const headers = { authorization: 'Bearer customer-credential-0123456789', 'x-request-id': 'verbose-1' }
    t.equal(await post(`${verbose.url()}/v2/code/completions`, completion, headers), 200)
    t.equal(await post(`${verbose.url()}/v2/code/generations`, generation, headers), 200)
    const originals = (await verbose.exchanges('correlation_id=verbose-1')).reverse()
    t.equal(originals.length, 2)

    const run = await replay(['--correlation-id', 'verbose-1', '--admin', verbose.adminUrl, '--target', verbose.url('staging'), '--header', 'Authorization: Bearer staging-credential-42'])
    t.equal(run.code, 0, run.stderr)
    t.equal(staging.requests.length, 2, 'both gateway-hop exchanges, in their original order')
    t.same(staging.requests.map((r) => r.path), ['/v2/code/completions', '/v2/code/generations'])
    t.same(JSON.parse(staging.requests[0]!.body.toString()), completion, 'the completion body, identical')
    t.same(JSON.parse(staging.requests[1]!.body.toString()), generation, 'the generation body, identical')
    t.equal(staging.requests[0]!.headers.authorization, 'Bearer staging-credential-42', '--header supplies the staging credential')
    t.same(staging.requests.map((r) => r.headers['x-request-id']), ['replay-verbose-1-1', 'replay-verbose-1-2'])

    // The proxy in front of staging recorded each replay, linked to its original.
    const recorded = await verbose.exchanges('correlation_id=replay-verbose-1-1')
    t.equal(recorded.length, 1)
    t.equal(recorded[0]!.route, 'staging')
    t.equal(recorded[0]!.meta.replay_of, originals[0]!.id, 'linked to its original')
    const bs = blocks(run.stdout)
    t.equal(bs.length, 2)
    t.match(bs[0], /^\[1\/2\] POST \/v2\/code\/completions$/m)
    t.match(bs[1], /^\[2\/2\] POST \/v2\/code\/generations$/m)
    t.match(bs[0], /body {6}exact: captured body \(verbose capture\)/)
    t.match(bs[0], new RegExp(`\\(recorded there as ${recorded[0]!.id}, route staging\\)`))
    t.match(bs[0], /original {40}replay \(as recorded by the proxy\)/)
    t.notMatch(run.stdout, /synthesized/)
  })

  t.test('a failure replayed: flags and cause from the staging proxy\'s record', async (t) => {
    // x-sim-fault is an ordinary request header: it is replayed too, so staging fails alike.
    t.equal(await post(`${verbose.url()}/v2/code/completions`, codeBody(`${model.url}/v1`), { 'x-request-id': 'fail-1', 'x-sim-fault': 'status:401' }), 401)
    const run = await replay(['--correlation-id', 'fail-1', '--admin', verbose.adminUrl, '--target', verbose.url('staging'), '--json'])
    t.equal(run.code, 0, 'answered (whatever the status): exit 0')
    const report = JSON.parse(run.stdout) as { replays: Array<{ original: { status: number, flags: string[], cause: string }, replay: { status: number, flags: string[], cause: string, source: string, recorded_id: string | null } }> }
    const r = report.replays[0]!
    t.equal(r.original.status, 401)
    t.equal(r.replay.status, 401)
    t.same(r.replay.flags, r.original.flags)
    t.ok(r.replay.flags.includes('unauthorized'))
    t.equal(r.replay.source, 'record')
    t.ok(r.replay.recorded_id)
    t.equal(r.replay.cause, r.original.cause, 'the same diagnosis on both sides')

    // Straight at the staging gateway (no proxy there): flags derived from the answer.
    const bare = await replay(['--correlation-id', 'fail-1', '--db', verbose.dbPath, '--target', staging.url])
    const [b] = blocks(bare.stdout)
    t.same(row(b!, 'status'), ['401', '401'])
    t.same(row(b!, 'flags'), ['unauthorized', 'unauthorized'])
    t.match(row(b!, 'cause')?.[1], /^answered: Forbidden by auth provider$/)
  })

  t.test('a HAR export replays entry by entry', async (t) => {
    const har = join(t.testdir({}), 'verbose.har')
    const exp = await exportCli(['--format', 'har', '--correlation-id', 'verbose-1', '--out', har, '--admin', verbose.adminUrl])
    t.equal(exp.code, 0, exp.stderr)
    staging.requests.length = 0
    const run = await replay(['--har', har, '--target', staging.url, '--header', 'Authorization: Bearer staging-credential-42'])
    t.equal(run.code, 0, run.stderr)
    t.equal(staging.requests.length, 2)
    t.same(staging.requests.map((r) => r.path), ['/v2/code/completions', '/v2/code/generations'])
    t.same(JSON.parse(staging.requests[1]!.body.toString()).current_file.file_name, 'gen.py', 'the HAR postData is the exact body')
    t.same(staging.requests.map((r) => r.headers['x-request-id']), ['replay-verbose-1-1', 'replay-verbose-1-2'])
    t.match(run.stdout, /\[2\/2\] POST \/v2\/code\/generations/)
    t.match(run.stdout, /exact: captured body/)
  })

  t.test('--timing: replays start at their originals\' offsets, timings side by side', async (t) => {
    const headers = { 'x-request-id': 'timed-1' }
    await post(`${plain.url()}/v2/code/completions`, codeBody(`${model.url}/v1`), headers)
    await new Promise((resolve) => setTimeout(resolve, 400))
    await post(`${plain.url()}/v2/code/completions`, codeBody(`${model.url}/v1`), { ...headers, 'x-sim-fault': 'slow-first-chunk:150' })
    const run = await replay(['--correlation-id', 'timed-1', '--admin', plain.adminUrl, '--target', staging.url, '--timing'])
    t.equal(run.code, 0, run.stderr)
    const [first, second] = blocks(run.stdout)
    t.match(row(first!, 'start'), ['+0 ms', /^\+\d+ ms$/])
    const original = Number(/\+(\d+)/.exec(row(second!, 'start')![0])![1])
    const replayed = Number(/\+(\d+)/.exec(row(second!, 'start')![1])![1])
    t.ok(original >= 400, `the originals were ${original} ms apart`)
    t.ok(replayed >= original - 20, `the replays too (${replayed} ms)`)
    t.match(row(second!, 'receive'), [/ms$/, /ms$/])
    t.match(row(second!, 'chunks'), ['not recorded', /^\d+ \(longest gap \d+\.\d ms\)$/])
    const gap = Number(/longest gap (\d+\.\d)/.exec(row(second!, 'chunks')![1])![1])
    t.ok(gap >= 100, `the staging gateway's slow first chunk shows (${gap} ms)`)
  })

  t.test('--timing with a staging proxy that has fault injection: the original TTFB is reproduced', async (t) => {
    const stagingProxy = await startHarness({ routes: [{ name: 'staging', upstream: staging.url }], extra: { faults: { enabled: true } } })
    t.teardown(() => stagingProxy.close())
    // The customer's slow answer: 400 ms to the first byte.
    await post(`${plain.url()}/v2/code/completions`, codeBody(`${model.url}/v1`), { 'x-request-id': 'slow-ttfb-1', 'x-sim-fault': 'delay-headers:400' })
    const run = await replay(['--correlation-id', 'slow-ttfb-1', '--db', plain.dbPath, '--admin', stagingProxy.adminUrl, '--target', stagingProxy.url(), '--timing'])
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /delayed this replay by the original's time to first byte \(\d{3} ms, fault rule replay-timing-/)
    const recorded = (await stagingProxy.exchanges('correlation_id=replay-slow-ttfb-1-1'))[0]
    t.ok(recorded !== undefined, 'the replay was recorded by the staging proxy')
    t.ok((recorded?.timings.ttfb_ms ?? 0) >= 380, `and its time to first byte matches the original's (${recorded?.timings.ttfb_ms} ms)`)
    t.ok(recorded?.flags.includes('fault_injected'), 'marked as shaped by a fault')
    const rules = await (await request(`${stagingProxy.adminUrl}/api/faults`)).body.json() as { rules: unknown[] }
    t.same(rules.rules, [], 'the timing rule was removed afterwards')
  })

  t.test('unreachable target: exit 1; usage errors: exit 2', async (t) => {
    const port = await refusedPort()
    const down = await replay(['--correlation-id', 'plain-1', '--admin', plain.adminUrl, '--target', `http://127.0.0.1:${port}`])
    t.equal(down.code, 1)
    t.match(down.stderr, /could not be reached \(ECONNREFUSED\)/)
    t.same(row(blocks(down.stdout)[0]!, 'status'), ['200', 'no response'])
    t.match(row(blocks(down.stdout)[0]!, 'flags')?.[1], 'connection_refused')

    const missing = await replay(['00000000000000000000', '--admin', plain.adminUrl, '--target', staging.url])
    t.equal(missing.code, 1)
    t.match(missing.stderr, /no exchange with id "00000000000000000000"/)
    t.equal((await replay(['--correlation-id', 'plain-1', '--admin', plain.adminUrl])).code, 2, 'no --target')
    t.equal((await replay(['x', '--har', 'f.har', '--target', staging.url])).code, 2, 'two sources')
    t.equal((await replay(['x', '--target', 'ftp://host'])).code, 2, 'not http')
    t.equal((await replay(['x', '--target', staging.url, '--header', 'no colon'])).code, 2, 'bad --header')
    const help = await replay(['--help'])
    t.equal(help.code, 0)
    t.match(help.stdout, /^Usage: duo-diag-proxy replay/)
  })
})
