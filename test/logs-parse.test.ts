/**
 * Issue 19, reading: every fixture log (test/fixtures/logs/, docs/log-formats.md) read by content
 * into LogEvents — the right writer, kind, time and fields for each writer's lines (OLD, NEW and
 * HEAD gateway shapes), runtime prefixes and colours removed, a traceback one event, hostile
 * input counted and never thrown, nothing secret kept in either mode, and a stream read without
 * holding it whole.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { buildRuleSet } from '../src/capture/redact-rules.js'
import { type ImportCounts, LOG_LIMITS, type LogEvent } from '../src/logs/event.js'
import { emptyImportCounts, readLogEvents } from '../src/logs/read-events.js'

const FIXTURES = join(import.meta.dirname, 'fixtures', 'logs')
const FILES = readdirSync(FIXTURES).filter((d) => !d.endsWith('.md')).flatMap((d) => readdirSync(join(FIXTURES, d)).map((f) => join(d, f)))

async function read (input: Readable, verbose = false, file = '-'): Promise<{ events: LogEvent[], counts: ImportCounts }> {
  const counts = emptyImportCounts()
  const events: LogEvent[] = []
  for await (const e of readLogEvents(input, { file, verbose, rules: buildRuleSet(verbose) }, counts)) events.push(e)
  return { events, counts }
}

async function readFixture (file: string, verbose = false): Promise<{ events: LogEvent[], counts: ImportCounts }> {
  return read(Readable.from([readFileSync(join(FIXTURES, file))]), verbose, file)
}

/** Text as a stream of small chunks, so lines straddle chunk boundaries. */
function chunked (text: string | Buffer, size = 7): Readable {
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text)
  const parts: Buffer[] = []
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size))
  return Readable.from(parts)
}

function at (events: LogEvent[], line: number): LogEvent {
  const e = events.find((x) => x.origin.line === line)
  if (e === undefined) throw new Error(`no event at line ${line}`)
  return e
}

t.test('every fixture file is read whole: no unknown line, every line accounted for', async (t) => {
  t.ok(FILES.length >= 21, `${FILES.length} fixture files`)
  for (const file of FILES) {
    const bytes = readFileSync(join(FIXTURES, file))
    const physical = bytes.toString('utf8').split('\n').length - (bytes.at(-1) === 0x0a ? 1 : 0)
    const { events, counts } = await readFixture(file)
    t.equal(counts.lines, physical, `${file}: ${physical} lines read`)
    t.equal(counts.unknown, 0, `${file}: no unknown line`)
    t.equal(counts.too_long, 0, `${file}: no line too long`)
    t.equal(counts.events, events.length, `${file}: every event counted`)
    t.ok(events.length > 0, `${file}: events`)
    t.ok(counts.events + counts.skipped <= counts.lines, `${file}: no line counted twice`)
    const sources = Object.values(counts.by_source).reduce((a, b) => a + b, 0)
    t.equal(sources, events.length, `${file}: by_source adds up`)
    t.ok(events.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.time)), `${file}: every time ISO UTC ms`)
    t.ok(events.every((e) => /^[0-9a-f]{64}$/.test(e.fingerprint)), `${file}: sha256 fingerprints`)
    t.equal(new Set(events.map((e) => e.fingerprint)).size, events.length, `${file}: no two events alike`)
    t.notOk(events.some((e) => typeof e.fields.path === 'string' && e.fields.path.startsWith('/monitoring/')), `${file}: no health probe kept`)
  }
})

t.test('health probes are counted as skipped', async (t) => {
  const { counts } = await readFixture('auth-401/gateway.log')
  t.equal(counts.skipped, 8, 'the eight /monitoring/healthz access lines')
  t.equal(counts.events, 3, 'the three 401s')
})

t.test('llm.log: error answers, gateway errors, model settings, identity left out', async (t) => {
  const { events } = await readFixture('missing-v1/llm.log')
  const answer = at(events, 5)
  t.match(answer, {
    source: 'gitlab_llm',
    kind: 'error_answer',
    time: '2025-11-18T10:02:11.807Z',
    correlation_id: '01KAB6MAJENWJ47TAN9ZT24MNP',
    level: 'error',
    message: "litellm.NotFoundError: NotFoundError: Custom_openaiException - Error code: 404 - {'detail': 'Not Found'}",
    fields: { class: 'Gitlab::Llm::Chain::Answer', ai_event_name: 'error_returned', duo_chat_error_code: 'A1004', source: 'chat_v2', 'meta.caller_id': 'graphql:chat' }
  })
  t.equal(at(events, 1).kind, 'info', 'Enqueuing CompletionWorker')
  for (const pii of ['meta.user', 'meta.user_id', 'meta.remote_ip', 'meta.client_id']) t.notOk(pii in answer.fields, `${pii} left out`)

  const auth = (await readFixture('auth-401/llm.log')).events
  t.match(at(auth, 3), { kind: 'gateway_error', message: 'Failed to request to v2/chat/agent', fields: { status: 401, ai_response_server: 'uvicorn' } })
  t.match(at(auth, 6), { kind: 'gateway_error', message: 'Error response from AI Gateway', fields: { status: 401, body: null } }, "the gateway's detail is kept as body, here null")
  t.match(at(auth, 4), { kind: 'error_answer', message: 'Gitlab::AiGateway::ClientError', fields: { duo_chat_error_code: 'A9999' } })

  const expanded = (await readFixture('wrong-model/llm.log')).events
  t.match(at(expanded, 2).fields, {
    'model_metadata.endpoint': 'http://vllm.internal:8000/v1',
    'model_metadata.identifier': 'custom_openai/mistral-7b',
    'model_metadata.name': 'mistral',
    'model_metadata.provider': 'openai'
  }, 'the model settings from params, names only, in metadata mode too')
  t.notOk('params' in at(expanded, 2).fields, 'params dropped in metadata mode')
})

t.test('production_json and api_json: Duo requests, their status and timings', async (t) => {
  const api = at((await readFixture('missing-v1/api_json.log')).events, 1)
  t.match(api, {
    source: 'gitlab_request',
    kind: 'request',
    time: '2025-11-18T10:02:41.450Z',
    correlation_id: '01KAB6N7VYZX45HY43KWJRP1XP',
    level: 'info',
    message: 'POST /api/v4/code_suggestions/completions 200',
    fields: { method: 'POST', path: '/api/v4/code_suggestions/completions', status: 200, duration_s: 0.04391, route: '/api/:version/code_suggestions/completions', 'meta.feature_category': 'code_suggestions' }
  })
  for (const pii of ['username', 'user_id', 'remote_ip', 'meta.user', 'params']) t.notOk(pii in api.fields, `${pii} left out`)
  const graphql = at((await readFixture('healthy/production_json.log')).events, 1)
  t.match(graphql.fields, { controller: 'GraphqlController', action: 'execute', 'graphql.operation_name': 'chat', 'meta.caller_id': 'graphql:chat' })

  const other = JSON.stringify({ method: 'GET', path: '/dashboard/projects', format: 'html', controller: 'DashboardController', action: 'show', status: 200, duration_s: 0.1, time: '2025-11-18T10:00:00.000Z', correlation_id: 'abc' })
  const { events, counts } = await read(Readable.from([other + '\n']))
  t.same([events.length, counts.skipped, counts.unknown], [0, 1, 0], 'a request that is not Duo is recognised and skipped')
})

t.test('gateway JSON, NEW-2025: access line, exceptions, model calls', async (t) => {
  const { events } = await readFixture('missing-v1/gateway.log')
  const access = at(events, 13)
  t.match(access, {
    source: 'gateway',
    kind: 'access',
    time: '2025-11-18T10:02:41.527Z',
    correlation_id: '01KAB6N7VYZX45HY43KWJRP1XP',
    level: 'info',
    message: '172.18.0.6:40188 - "POST /v2/code/completions HTTP/1.1" 500',
    fields: {
      logger: 'api.access', url: 'http://aigw.internal:5052/v2/code/completions', path: '/v2/code/completions', method: 'POST', status_code: 500,
      duration_s: 0.0632, response_start_duration_s: 0, first_chunk_duration_s: 0, content_type: 'unknown', gitlab_version: '18.6.1',
      exception_class: 'NotFoundError', exception_message: /^litellm\.NotFoundError: /, exception_backtrace: /^Traceback \(most recent call last\):\n/
    }
  })
  t.notOk('gitlab_global_user_id' in access.fields, 'the user id header left out')
  t.match(at(events, 10), { kind: 'exception', level: 'error', fields: { logger: 'exceptions', exception_class: 'NotFoundError', 'extra.model_engine': 'litellm-completion', 'extra.model_name': 'mistralai/Codestral-22B-v0.1', backtrace: /litellm\.exceptions\.NotFoundError/ } })
  t.match(at(events, 11), { kind: 'model_call', message: 'Request to LLM complete', fields: { duration: 0.0451 } })
  t.match(at(events, 14), { kind: 'exception', message: 'Exception in ASGI application', fields: { logger: 'uvicorn.error', exception: /NotFoundError/ } })
  const auth = (await readFixture('auth-401/gateway.log')).events
  t.match(at(auth, 10).fields, { status_code: 401, auth_error_details: "Header mismatch 'X-Gitlab-Instance-Id'", http_exception_details: "Header mismatch 'X-Gitlab-Instance-Id'", token_issuer: 'https://gitlab.example.com', auth_duration_s: 0.005118 })
  const healthy = (await readFixture('healthy/gateway.log')).events
  t.match(at(healthy, 3).fields, { logger: 'prompts', model_name: 'mistralai/Mistral-7B-Instruct-v0.3', input_tokens: 1812, output_tokens: 41 })
})

t.test('gateway JSON, OLD (Jan 2025) and HEAD (2026) shapes', async (t) => {
  const old = (await readFixture('wrong-model/gateway.log')).events
  const completion = old.find((e) => e.kind === 'access' && e.fields.path === '/v2/code/completions')!
  t.match(completion.fields, { status_code: 500, model_engine: 'litellm', model_name: 'codestral', prompt_length: 118, inference_duration_s: 0.045338, lang: 'ruby', editor_lang: 'ruby' }, "OLD's TextGenModelInstrumentator fields")
  t.match(at(old, 1), { kind: 'info', message: 'Request to V2 Chat Agent', fields: { logger: 'chat', 'model_metadata.endpoint': 'http://vllm.internal:8000/v1', 'model_metadata.identifier': 'custom_openai/mistral-7b' } }, 'the model settings read from the inputs repr')
  t.notOk('inputs' in at(old, 1).fields, 'the request logger content dropped in metadata mode')
  const request = old.find((e) => e.message === 'code completion input:')!
  t.notOk('prefix' in request.fields || 'suffix' in request.fields, 'code dropped in metadata mode')

  const head = (await readFixture('docker-logs/gateway.log')).events
  t.match(at(head, 24), { kind: 'model_call', message: 'Request to LLM complete', fields: { duration_s: 0.055921, model_engine: 'litellm-chat', error: 'yes', error_type: 'other', streaming: 'yes' } })
  t.match(at(head, 8), { kind: 'model_call', message: 'Binding model kwargs to LLM', fields: { logger: 'prompts', model_factory_request_timeout: 30, gitlab_version: '19.3.0' } }, "HEAD's gitlab_* context on every line")
  t.match(at(head, 18), { kind: 'model_call', correlation_id: '01M0VYZST2G201CYFW6VZSKDEN', message: 'POST Request Sent from LiteLLM:', fields: { logger: 'LiteLLM', request_url: 'http://vllm.internal:8000/chat/completions', 'model_metadata.endpoint': 'http://vllm.internal:8000' } })
})

t.test('plain text: run.sh, litellm debug dumps and prints, a ConsoleRenderer file', async (t) => {
  const { events, counts } = await readFixture('docker-logs/gateway.log')
  t.match(at(events, 1), { source: 'gateway_text', kind: 'info', message: 'Running single service with exec...', time: '2026-08-25T08:00:07.530Z', correlation_id: null }, 'no time of its own: the next line\'s')
  t.match(at(events, 9), { source: 'gateway_text', kind: 'model_call', level: 'debug', message: 'POST Request Sent from LiteLLM:', fields: { request_url: 'http://vllm.internal:8000/chat/completions' } }, 'the colored litellm line and its curl dump: one event')
  t.match(at(events, 20), { source: 'gateway_text', kind: 'model_call', message: /^Give Feedback \/ Get Help: / }, "litellm's print and its LiteLLM.Info line: one event")
  t.equal(events.filter((e) => e.source === 'gateway_text').length, 5)
  t.equal(counts.by_source.gateway_text, 5)

  const console = (await readFixture('docker-logs/gateway-console.log')).events
  t.match(at(console, 8), { kind: 'model_call', level: 'info', correlation_id: '01M0VYZST2G201CYFW6VZSKDEN', message: 'Binding model kwargs to LLM', fields: { logger: 'prompts', model_factory_request_timeout: 30, gitlab_language_server_version: null } })
  t.notOk(console.some((e) => e.origin.line === 6 + 1 && e.kind === 'access'), 'the probe is skipped')
  const exception = at(console, 31)
  t.match(exception, { kind: 'exception', level: 'error', time: '2026-08-25T08:01:04.691Z', message: /^litellm\.NotFoundError: /, fields: { logger: 'exceptions', exception_class: 'NotFoundError', 'extra.model_engine': 'litellm-chat' } })
  t.equal(String(exception.fields.backtrace).split('\n').length, 14, 'the backtrace value, lines 31 to 44, in one event')
  t.match(at(console, 62).fields, { logger: 'api.access', status_code: 200, method: 'POST', path: '/v2/chat/agent', content_type: 'application/x-ndjson; charset=utf-8', exception_message: /^litellm\.NotFoundError: NotFoundError: Custom_openaiException - Error code: 404/, first_chunk_duration_s: 0.077402, 'enabled-instance-verbose-ai-logs': false })
  const asgi = at(console, 77)
  t.match(asgi, { kind: 'exception', message: 'Exception in ASGI application', correlation_id: '01M0VYZST2G201CYFW6VZSKDEN', fields: { logger: 'uvicorn.error' } })
  t.equal(String(asgi.fields.exception).split('\n').length, 14, 'the uvicorn traceback after the pairs: 14 lines, one event')
  t.notOk(console.some((e) => e.origin.line > 77 && e.origin.line < 93), 'no event starts inside it')
})

t.test('docker -t and kubectl --timestamps prefixes, kubectl --prefix, ANSI colours', async (t) => {
  const json = '{"logger": "uvicorn.error", "level": "info", "type": "mlops", "stage": "main", "timestamp": "2025-11-18T15:21:41.710000Z", "message": "Started server process [1]"}'
  const lines = [
    `2025-11-18T15:21:41.710999999Z ${json}`,
    `[pod/ai-gateway-7d9f/ai-gateway] 2025-11-18T15:21:42.000000001+00:00 Running single service with exec...`,
    '2025-11-18T15:21:43.5Z \x1b[2m2026-08-25T08:00:07.530000Z\x1b[0m [\x1b[32m\x1b[1minfo     \x1b[0m] \x1b[1mApplication startup complete.\x1b[0m [\x1b[0m\x1b[1m\x1b[34muvicorn.error\x1b[0m] \x1b[36mstage\x1b[0m=\x1b[35mmain\x1b[0m',
    '2025-11-18T15:21:44.000000000Z ',
    '\x1b[1;31mGive Feedback / Get Help: https://github.com/BerriAI/litellm/issues/new\x1b[0m'
  ]
  const { events, counts } = await read(chunked(lines.join('\n') + '\n'))
  t.same([counts.lines, counts.unknown, counts.skipped, events.length], [5, 0, 1, 4])
  t.match(events[0], { source: 'gateway', time: '2025-11-18T15:21:41.710Z', message: 'Started server process [1]' }, "the writer's own time")
  t.match(events[1], { source: 'gateway_text', message: 'Running single service with exec...', time: '2025-11-18T15:21:42.000Z' }, "no time of its own: kubectl's")
  t.match(events[2], { source: 'gateway_text', time: '2026-08-25T08:00:07.530Z', level: 'info', message: 'Application startup complete.', fields: { logger: 'uvicorn.error' } }, 'a colored ConsoleRenderer line behind a docker prefix')
  t.match(events[3], { message: /^Give Feedback/, time: '2026-08-25T08:00:07.530Z' }, 'no time, no prefix: the previous event\'s')
  const bare = await read(Readable.from([json + '\n']))
  t.equal(bare.events[0]!.fingerprint, events[0]!.fingerprint, 'the same line with and without the runtime prefix: one fingerprint')
})

t.test('a Python traceback is one event, with the line before it', async (t) => {
  const text = [
    'Config validation failed at import',
    'Traceback (most recent call last):',
    '  File "/home/aigateway/app/ai_gateway/main.py", line 12, in <module>',
    '    config = Config()',
    'pydantic_core._pydantic_core.ValidationError: 1 validation error for Config',
    '',
    'During handling of the above exception, another exception occurred:',
    '',
    'Traceback (most recent call last):',
    '  File "/home/aigateway/app/ai_gateway/app.py", line 3, in <module>',
    'RuntimeError: boom',
    'Traceback (most recent call last):',
    '  File "x.py", line 1, in <module>',
    'KeyError: \'k\'',
    'ERROR:    Exception in ASGI application',
    'Traceback (most recent call last):',
    '  File "uvicorn/protocols/http/httptools_impl.py", line 409, in run_asgi',
    'httpx.ConnectError: [Errno 111] Connection refused',
    'INFO:     127.0.0.1:51022 - "GET /monitoring/healthz HTTP/1.1" 200 OK',
    'INFO:     Started server process [1]'
  ].join('\r\n')
  const { events, counts } = await read(chunked(text, 5))
  t.same([counts.lines, counts.unknown, counts.skipped], [20, 0, 1])
  t.equal(events.length, 3, 'one traceback with its lead line (chained inside), one uvicorn error with its traceback, one uvicorn info; the probe skipped')
  t.match(events[0], { kind: 'exception', level: 'error', message: 'Config validation failed at import', origin: { line: 1 } })
  t.match(String(events[0]!.fields.exception), /^Traceback[\s\S]*During handling[\s\S]*RuntimeError: boom\nTraceback[\s\S]*KeyError: 'k'$/)
  t.notMatch(String(events[0]!.fields.exception), /\r/, 'CRLF line ends removed')
  t.match(events[1], { kind: 'exception', level: 'error', message: 'Exception in ASGI application', origin: { line: 15 }, fields: { exception: /httpx\.ConnectError: \[Errno 111\] Connection refused$/ } })
  t.match(events[2], { kind: 'info', level: 'info', message: 'Started server process [1]' })

  const lone = await read(Readable.from(['Traceback (most recent call last):\n  File "a.py", line 1\nValueError: x']))
  t.match(lone.events, [{ kind: 'exception', message: 'ValueError: x', origin: { line: 1 } }], 'a bare traceback, its last line the message, no final newline')
  const capped = await read(Readable.from([['Traceback (most recent call last):', ...Array.from({ length: LOG_LIMITS.recordLines + 10 }, (_, i) => `  File "f${i}.py", line 1`)].join('\n')]))
  t.equal(capped.events.length, 1, `a record stops at ${LOG_LIMITS.recordLines} lines`)
  t.equal(capped.counts.unknown, 11, 'the lines after it are unknown')
})

/** The buffer cut in two just before the first byte equal to `byte`. */
function splitInside (buf: Buffer, byte: number): Buffer[] {
  const i = buf.indexOf(byte)
  return [buf.subarray(0, i), buf.subarray(i)]
}

t.test('hostile input is counted, never thrown', async (t) => {
  const gateway = (extra: string): string => `{"logger": "api.access", "level": "info", "type": "mlops", "timestamp": "2025-11-18T10:00:00Z", "message": "x", "path": "/v2/chat/agent", "status_code": 200${extra}}`
  const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)
  const deepInputs = gateway(`, "inputs": ${'['.repeat(50_000)}"glpat-EXAMPLEEXAMPLEEXAMPLE1"${']'.repeat(50_000)}`)
  const parts: Array<string | Buffer> = [
    'x'.repeat(5 * 1024 * 1024) + '\n',
    gateway('') + '\n',
    Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x22, 0x0a]),
    '{"logger": "api.access", "level": "info", "type": "mlo\n',
    '[1, 2, 3]\n',
    '42\n',
    'null\n',
    deep + '\n',
    deepInputs + '\n',
    'plain \u0000 NUL text\n',
    // "café" with its é split between two chunks.
    ...splitInside(Buffer.from(gateway(', "user_agent": "café"') + '\n'), Buffer.from('é')[1]!)
  ]
  for (const verbose of [false, true]) {
    const { events, counts } = await read(Readable.from(parts), verbose)
    t.equal(counts.lines, 11, `verbose=${verbose}: every line read`)
    t.equal(counts.too_long, 1, 'the 5 MB line skipped')
    t.equal(counts.unknown, 7, 'invalid UTF-8 and NUL, truncated JSON, an array, a number, null, unknown nesting, NUL text')
    t.equal(events.length, 3)
    t.equal(events[0]!.origin.line, 2, 'the line after the long one is read')
    t.equal(events[1]!.origin.line, 9, 'the deeply nested inputs line is read')
    t.equal(verbose ? typeof events[1]!.fields.inputs : 'undefined', verbose ? 'object' : 'undefined', 'nested inputs kept only verbose, depth-bounded')
    t.notMatch(JSON.stringify(events), /glpat-EXAMPLE/)
    t.equal(events[2]!.fields.user_agent, 'café', 'a character split across chunks decodes')
  }
  const invalid = await read(Readable.from([Buffer.concat([Buffer.from('Running single service with exec... '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')])]))
  t.match(invalid.events[0]?.message, /\uFFFD\uFFFD$/, 'invalid UTF-8 becomes U+FFFD')
})

const SECRETS = [/glpat-EXAMPLE/, /sk-EXAMPLE/, /EXAMPLEEXAMPLE/, /Bearer dumm/, /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\./]

t.test('nothing secret survives, in either mode; prompts only in verbose mode, redacted', async (t) => {
  const raw = FILES.map((f) => readFileSync(join(FIXTURES, f), 'utf8')).join('\n')
  t.match(raw, /glpat-EXAMPLEEXAMPLEEXAMPLE1/, 'the fixtures hold a fake PAT')
  t.match(raw, /"api_key":"sk-EXAMPLEEXAMPLEEXAMPLEEXAMPLE00"/, 'and a model API key in clear (expanded llm.log)')
  for (const verbose of [false, true]) {
    const all: LogEvent[] = []
    for (const file of FILES) all.push(...(await readFixture(file, verbose)).events)
    const text = JSON.stringify(all)
    for (const secret of SECRETS) t.notMatch(text, secret, `verbose=${verbose}: no ${secret}`)
    const prompt = /Why does `git push` fail/
    if (verbose) {
      t.match(text, prompt, 'verbose: the question is kept, its token filtered')
      const step = all.find((e) => e.source === 'gitlab_llm' && e.fields.params !== undefined)
      t.match(step?.fields.params, { model_metadata: { api_key: '[FILTERED]', endpoint: 'http://vllm.internal:8000/v1' } }, 'model_metadata.api_key filtered')
      t.match(text, /FILTERED-BY-FIXTURE/, "verbose: litellm's request dump kept")
    } else {
      t.notMatch(text, prompt, 'metadata mode: no prompt text')
      t.notMatch(text, /FILTERED-BY-FIXTURE|API_TOKEN|display_name/, "metadata mode: no litellm request dump, no code")
      for (const key of ['params', 'body', 'prompt', 'fragment', 'inputs', 'ai_event', 'options', 'prefix', 'suffix']) {
        t.notOk(all.some((e) => e.fields[key] !== undefined && !(key === 'body' && e.kind === 'gateway_error')), `metadata mode: no ${key}`)
      }
    }
  }
})

/** V8's collector, for measuring what is retained rather than what awaits collection. */
function collector (): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

t.test('a 50 MB stream is read line by line: never more than a little of it held', async (t) => {
  const total = 50 * 1024 * 1024
  const line = JSON.stringify({ url: 'http://aigw.internal:5052/v2/chat/agent', path: '/v2/chat/agent', status_code: 200, method: 'POST', correlation_id: '01KAB3XZK6M9S346Q3D25VT4F5', duration_s: 1.2, pad: 'x'.repeat(600), logger: 'api.access', level: 'info', type: 'mlops', stage: 'main', timestamp: '2025-11-18T09:15:04.661412Z', message: 'm' }) + '\n'
  const block = line.repeat(64)
  let produced = 0
  function * generate (): Generator<string> {
    while (produced < total) {
      produced += block.length
      yield block
    }
  }
  const through = new PassThrough()
  const pumping = pipeline(Readable.from(generate()), through)
  const gc = collector()
  const counts = emptyImportCounts()
  gc()
  const before = process.memoryUsage()
  let retained = 0
  let lag = 0
  for await (const event of readLogEvents(through, { file: '-', verbose: false, rules: buildRuleSet(false) }, counts)) {
    // Bytes produced but not yet read as lines: what the pipeline holds, whole-file reads included.
    lag = Math.max(lag, produced - event.origin.line * line.length)
    if (counts.events % 10_000 === 0) {
      gc()
      const now = process.memoryUsage()
      retained = Math.max(retained, now.heapUsed + now.arrayBuffers - before.heapUsed - before.arrayBuffers)
    }
  }
  await pumping
  t.equal(counts.events, Math.ceil(total / block.length) * 64, 'every line an event')
  t.ok(lag < 2 * 1024 * 1024, `at most ${(lag / 1e6).toFixed(2)} MB of the ${(produced / 1e6).toFixed(0)} MB in flight at any event`)
  t.ok(retained < 16 * 1024 * 1024, `at most ${(retained / 1e6).toFixed(1)} MB retained while reading`)
})
