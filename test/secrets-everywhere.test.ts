/**
 * Issue 15, item 4: in metadata mode no prompt, code or completion text and no credential
 * anywhere. Unique secrets and prompt markers are planted in every place a request can carry
 * them (headers, cookies, a nameless cookie, the path, the query, body fields), in the shapes
 * that slipped past `\b`-anchored patterns (`%3Dglpat-…`, `x_glpat-…`, `%3Dsk-…`, `\u0067lpat-…`),
 * and sent through the real proxy to an upstream that echoes all of it back: a JSON error body
 * over the 64 KiB sample, FastAPI 400/422 field errors, an SSE error body with raw lines, a chat
 * NDJSON stream's error event, a 200 SSE stream's error, text/plain and 404 bodies quoting the
 * path. Then every byte the proxy wrote is searched — the store and its WAL (before and after
 * close), the log, every admin API answer, exports, support bundles (unpacked), the CLI's
 * output — for any 12-character piece of any planted secret.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { extract } from 'tar'
import type { Exchange } from '../src/capture/exchange.js'
import { closeServer, collectBody, listenEphemeral } from '../src/sim/net.js'
import { runCommand, type Run } from './helpers/command.js'
import { gatewayClaims, gitlabHeaders, makeJwtKeys, signJwt } from './helpers/jwt.js'
import { type Harness, startHarness } from './helpers/proxy-harness.js'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** 24 random letters and digits: any 12 of them in a row found anywhere is a leak. */
function core (): string {
  return [...randomBytes(24)].map((b) => ALNUM[b % ALNUM.length]).join('')
}

interface Planted {
  name: string
  /** The unique part searched for (it is plain letters and digits: every encoding shows it). */
  core: string
  /** Prompt or code text: kept in verbose capture, filtered in metadata mode. */
  content?: boolean
}

function plant (): { planted: Planted[], v: Record<string, string>, jwt: string } {
  const c: Record<string, string> = {}
  for (const name of [
    'pat', 'sk', 'modelKey', 'modelAuth', 'session', 'nameless', 'cookiePat', 'queryToken', 'encPatQuery', 'password',
    'encPatPath', 'xPatPath', 'encSkPath', 'uPatPath', 'uPatPathEnc', 'patPath', 'xPatHeader', 'uPatHeader', 'encSkHeader',
    'xPatBody', 'uPatBody', 'encSkBody', 'metaPat', 'promptStart', 'promptMiddle', 'promptEnd', 'chatPrompt', 'queryPrompt'
  ]) c[name] = core()
  const keys = makeJwtKeys()
  const jwt = signJwt({ ...gatewayClaims(), jti: randomBytes(8).toString('hex') }, keys.privateKey)
  const [, payload, signature] = jwt.split('.') as [string, string, string]
  const prompt = `PROMPT-MARKER-${c.promptStart} def handler(event):\n    """Summarise the customer's "ticket": ünïcode, tabs\tand quotes"""\n` +
    `    total = compute_secret_sauce(event)  # MIDDLE-MARKER-${c.promptMiddle}\n    return {'answer': total, "why": 'because'}\n` +
    `# and the end of the cursor context END-MARKER-${c.promptEnd}`
  const v: Record<string, string> = {
    pat: `glpat-${c.pat}`,
    sk: `sk-${c.sk}`,
    modelKey: `sk-proj-${c.modelKey}`,
    modelAuth: `sk-${c.modelAuth}`,
    session: `sess${c.session}`,
    nameless: `nameless${c.nameless}`,
    cookiePat: `glpat-${c.cookiePat}`,
    queryToken: c.queryToken as string,
    encPatQuery: `%253Dglpat-${c.encPatQuery}`,
    password: `hunter-${c.password}`,
    encPatPath: `x%3Dglpat-${c.encPatPath}`,
    xPatPath: `x_glpat-${c.xPatPath}`,
    encSkPath: `%3Dsk-${c.encSkPath}`,
    uPatPath: `\\u0067lpat-${c.uPatPath}`,
    uPatPathEnc: `%5Cu0067lpat-${c.uPatPathEnc}`,
    patPath: `glpat-${c.patPath}`,
    xPatHeader: `x_glpat-${c.xPatHeader}`,
    uPatHeader: `\\u0067lpat-${c.uPatHeader}`,
    encSkHeader: `%3Dsk-${c.encSkHeader}`,
    xPatBody: `x_glpat-${c.xPatBody}`,
    uPatBody: `\\u0067lpat-${c.uPatBody}`,
    encSkBody: `https://example.com/cb?k=%3Dsk-${c.encSkBody}`,
    metaPat: `x_glpat-${c.metaPat}`,
    prompt,
    chatPrompt: `CHAT-MARKER-${c.chatPrompt} how do I rotate the key in config/secrets.yml without downtime?`,
    queryPrompt: `QUERY-MARKER-${c.queryPrompt} find usages of handler`
  }
  const planted: Planted[] = [
    { name: 'jwt-payload', core: payload },
    { name: 'jwt-signature', core: signature },
    ...Object.entries(c).map(([name, value]) => ({ name, core: value, content: name.startsWith('prompt') || name === 'chatPrompt' || name === 'queryPrompt' }))
  ]
  return { planted, v, jwt }
}

/** The planted secrets found in a text: a name per secret, never the secret. */
function leaks (text: string, planted: readonly Planted[], verbose: boolean): string[] {
  const found: string[] = []
  for (const p of planted) {
    if (verbose && p.content === true) continue
    for (let i = 0; i + 12 <= p.core.length; i += 4) {
      if (text.includes(p.core.slice(i, i + 12))) {
        found.push(p.name)
        break
      }
    }
  }
  return found
}

/** What the echoing upstream saw, for the test's own sanity checks. */
interface Seen { url: string, headers: IncomingMessage['headers'], body: string }

/** Python's repr() of a str, as litellm's errors quote request messages. */
function pyRepr (s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\t/g, '\\t')}'`
}

function promptOf (body: string): string {
  try {
    const b = JSON.parse(body) as { current_file?: { content_above_cursor?: string }, prompt?: string, messages?: Array<{ content?: string }> }
    return b.current_file?.content_above_cursor ?? b.prompt ?? b.messages?.[0]?.content ?? body
  } catch {
    return body
  }
}

/**
 * An upstream that repeats everything it was sent (path, headers, body) in the failure shape
 * the `x-echo-mode` header asks for.
 */
async function startEchoUpstream (): Promise<{ url: string, seen: Seen[], close: () => Promise<void> }> {
  const seen: Seen[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void collectBody(req).then((buf) => {
      const body = buf.toString('utf8')
      seen.push({ url: req.url ?? '', headers: req.headers, body })
      const prompt = promptOf(body)
      let parsed: unknown = body
      try {
        parsed = JSON.parse(body)
      } catch {
        // text as it came
      }
      const echo = { url: req.url, headers: req.headers, received: parsed }
      const json = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(value))
      }
      switch (req.headers['x-echo-mode']) {
        case 'big-json': {
          // Over the 64 KiB sample: no parser reads it. The request is echoed whole before the
          // cut, and the prompt once more across the cut (its first 40 bytes inside the sample).
          let text = JSON.stringify({ error: { message: `rejected: ${prompt}` }, request: echo }).slice(0, -1) + ',"pad":"'
          const key = '","detail_at_cut":"'
          const inside = 40
          text += '.'.repeat(65_536 - Buffer.byteLength(text) - key.length - inside) + key + JSON.stringify(prompt).slice(1, -1) + '","tail":"' + '.'.repeat(20_000) + '"}'
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(text)
          return
        }
        case 'fastapi-422':
          json(422, {
            detail: [
              { type: 'string_too_long', loc: ['body', 'current_file', 'content_above_cursor'], msg: `String should have at most 10 characters, got ${pyRepr(prompt)}`, input: prompt, ctx: { max_length: 10 } },
              { type: 'extra_forbidden', loc: ['body', 'headers'], msg: `Extra inputs are not permitted: ${JSON.stringify(req.headers)}`, input: echo }
            ]
          })
          return
        case 'fastapi-400':
          json(400, {
            detail: `litellm.BadRequestError: OpenAIException - Error code: 400 - {'error': 'bad', 'messages': [{'role': 'user', 'content': ${pyRepr(prompt)}}], 'url': '${req.url ?? ''}', 'authorization': '${String(req.headers.authorization)}'}`,
            msg: `Invalid prompt: ${prompt}`,
            echo: JSON.stringify(echo)
          })
          return
        case 'json-msg-400':
          json(400, { msg: `The prompt "${prompt}" is too long`, error: { message: `request ${JSON.stringify(echo)}` } })
          return
        case 'sse-error-500':
          res.writeHead(500, { 'content-type': 'text/event-stream' })
          res.end([
            'event: error',
            `data: Traceback (most recent call last): failed on ${prompt.split('\n')[0]}`,
            ...prompt.split('\n'),
            `data: ${JSON.stringify({ error: { message: `model failed: ${prompt}`, request: echo }, content: prompt })}`,
            `raw headers ${JSON.stringify(req.headers)} url ${req.url ?? ''}`,
            ''
          ].join('\n'))
          return
        case 'sse-stream-error':
          res.writeHead(200, { 'content-type': 'text/event-stream' })
          res.end([
            `data: ${JSON.stringify({ choices: [{ delta: { content: 'partial answer' } }] })}`,
            '',
            `data: ${JSON.stringify({ error: { message: `litellm.BadRequestError: messages[0].content ${pyRepr(prompt)} ${String(req.headers.authorization)}`, type: 'invalid_request_error' } })}`,
            ''
          ].join('\n'))
          return
        case 'ndjson-error':
          res.writeHead(200, { 'content-type': 'application/x-ndjson' })
          res.end([
            JSON.stringify({ type: 'action', data: { thought: `thinking about ${prompt}` } }),
            JSON.stringify({ type: 'error', data: { message: `litellm.APIConnectionError: failed for ${pyRepr(prompt)} with ${String(req.headers.authorization)} cookie ${String(req.headers.cookie)} path ${req.url ?? ''}`, retryable: false } }),
            ''
          ].join('\n'))
          return
        case 'text-500':
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
          res.end(`Internal error handling ${req.method ?? ''} ${req.url ?? ''}\nheaders: ${JSON.stringify(req.headers)}\nbody: ${body}\n`)
          return
        case 'path-404':
          json(404, { detail: `Not Found: ${req.url ?? ''}`, headers: req.headers })
          return
        default:
          json(200, { ok: true })
      }
    }, () => res.destroy())
  })
  const port = await listenEphemeral(server)
  return { url: `http://127.0.0.1:${port}`, seen, close: () => closeServer(server) }
}

/** A request with raw control over path and headers (node:http takes a backslash in a path). */
function send (url: string, path: string, opts: { method?: string, headers?: Record<string, string>, body?: string }): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: opts.method ?? 'POST', headers: opts.headers ?? {} }, (res) => {
      void collectBody(res).then((b) => resolve({ status: res.statusCode ?? 0, body: b.toString('utf8') }), reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

interface Traffic { ids: string[] }

async function sendTraffic (h: Harness, v: Record<string, string>, jwt: string, verbose: boolean): Promise<Traffic> {
  const ids: string[] = []
  const gwHeaders = (id: string, mode: string, type = 'application/json'): Record<string, string> => ({
    ...gitlabHeaders(jwt),
    'content-type': type,
    'x-request-id': id,
    'x-echo-mode': mode,
    cookie: `_gitlab_session=${v.session}; ${v.nameless}; ${v.cookiePat}`,
    'private-token': v.pat as string,
    'x-api-key': v.sk as string,
    'x-debug-note': v.xPatHeader as string,
    'x-debug-ref': v.uPatHeader as string,
    'x-debug-sk': v.encSkHeader as string
  })
  const codeBody = JSON.stringify({
    current_file: { file_name: 'handler.py', language_identifier: 'python', content_above_cursor: v.prompt, content_below_cursor: `${v.prompt}\n# below` },
    prompt: v.prompt,
    model_provider: 'litellm',
    model_name: 'codestral',
    // A field metadata keeps (not filtered by any rule): scrubbed all the same.
    model_identifier: `custom_openai/${v.metaPat}`,
    model_endpoint: 'http://vllm.internal:8000/v1',
    model_api_key: v.modelKey,
    password: v.password,
    context: [{ type: 'file', name: 'b.py', content: `token = "${v.pat}"` }],
    note_ref: v.xPatBody,
    odd: v.uPatBody,
    callback: v.encSkBody
  })
  const query = `?private_token=${v.queryToken}&prompt=${encodeURIComponent(v.queryPrompt as string)}&ref=${v.encPatQuery}&page=2`
  const gw = h.url('gw')
  const model = h.url('model')
  const go = async (base: string, path: string, id: string, init: { method?: string, headers: Record<string, string>, body?: string }): Promise<void> => {
    ids.push(id)
    const res = await send(base, path, init)
    if (res.status === 0) throw new Error(`no answer for ${id}`)
  }
  const tag = verbose ? 'v' : 'm'
  await go(gw, `/v2/code/completions${query}`, `${tag}-big-json`, { headers: gwHeaders(`${tag}-big-json`, 'big-json'), body: codeBody })
  await go(gw, `/v2/code/completions${query}`, `${tag}-422`, { headers: gwHeaders(`${tag}-422`, 'fastapi-422'), body: codeBody })
  await go(gw, '/v2/chat/agent', `${tag}-chat-ndjson`, { headers: gwHeaders(`${tag}-chat-ndjson`, 'ndjson-error'), body: JSON.stringify({ prompt: v.chatPrompt, options: { chat_history: [v.chatPrompt] } }) })
  await go(gw, '/v4/code/suggestions', `${tag}-sse-500`, { headers: gwHeaders(`${tag}-sse-500`, 'sse-error-500'), body: codeBody })
  await go(gw, `/v2/code/completions${query}`, `${tag}-text-500`, { headers: gwHeaders(`${tag}-text-500`, 'text-500'), body: codeBody })
  await go(gw, '/v2/code/completions', `${tag}-text-body`, { headers: gwHeaders(`${tag}-text-body`, 'text-500', 'text/plain'), body: codeBody })
  await go(gw, '/v1/prompts/chat', `${tag}-msg-400`, { headers: gwHeaders(`${tag}-msg-400`, 'json-msg-400'), body: JSON.stringify({ inputs: { question: v.chatPrompt, content: v.prompt }, prompt_version: 2 }) })
  const tokenPath = `/api/v4/projects/${v.patPath}/${v.encPatPath}/${v.xPatPath}/${v.encSkPath}/${v.uPatPath}/${v.uPatPathEnc}/files`
  await go(gw, `${tokenPath}${query}`, `${tag}-path-404`, { method: 'GET', headers: { ...gwHeaders(`${tag}-path-404`, 'path-404') } })

  const modelHeaders = (id: string, mode: string): Record<string, string> => ({
    authorization: `Bearer ${v.modelAuth}`,
    'content-type': 'application/json',
    'x-request-id': id,
    'x-echo-mode': mode,
    cookie: `${v.nameless}`
  })
  const chat = JSON.stringify({ model: 'codestral', messages: [{ role: 'system', content: 'You are a code assistant.' }, { role: 'user', content: v.prompt }], max_tokens: 64, stream: false })
  await go(model, '/v1/chat/completions', `${tag}-model-400`, { headers: modelHeaders(`${tag}-model-400`, 'fastapi-400'), body: chat })
  await go(model, '/v1/chat/completions', `${tag}-model-stream`, { headers: modelHeaders(`${tag}-model-stream`, 'sse-stream-error'), body: chat.replace('"stream":false', '"stream":true') })
  await go(model, '/v1/chat/completions', `${tag}-model-big`, { headers: modelHeaders(`${tag}-model-big`, 'big-json'), body: chat })
  await go(model, '/v1/completions', `${tag}-model-text`, { headers: modelHeaders(`${tag}-model-text`, 'text-500'), body: JSON.stringify({ model: 'codestral', prompt: v.prompt, max_tokens: 16 }) })
  return { ids }
}

/** Every file below a folder (the proxy's run folder: config, store, WAL, log). */
function filesBelow (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...filesBelow(p))
    else out.push(p)
  }
  return out
}

async function unpackBundle (archive: string): Promise<Array<[string, string]>> {
  const blobs: Array<[string, string]> = [[`${archive} (tar, gunzipped)`, gunzipSync(readFileSync(archive)).toString('latin1')]]
  const into = mkdtempSync(`${archive}-unpacked-`)
  await extract({ file: archive, cwd: into })
  for (const f of filesBelow(into)) blobs.push([`${archive}: ${f.slice(into.length + 1)}`, readFileSync(f).toString('latin1')])
  return blobs
}

const cli = (command: string, args: string[]): Promise<Run> => runCommand(command, args, { env: { DUO_DIAG_LOG__LEVEL: 'warn' } })

async function run (t: Test, verbose: boolean): Promise<void> {
  const { planted, v, jwt } = plant()
  const upstream = await startEchoUpstream()
  const h = await startHarness({
    routes: [{ name: 'gw', upstream: upstream.url, hop: 'gateway' }, { name: 'model', upstream: upstream.url, hop: 'model' }],
    captureBodies: verbose,
    // Whole samples kept: the echo across the 64 KiB cut is stored too, not cut away at 16 KiB.
    extra: { capture: { error_body_bytes: 256 * 1024 } }
  })
  t.teardown(async () => {
    await h.close()
    await upstream.close()
  })
  // The live tail (GET /api/stream), open while the traffic passes.
  const tail = new AbortController()
  const live = await fetch(`${h.adminUrl}/api/stream`, { signal: tail.signal })
  t.equal(live.status, 200, 'GET /api/stream')
  let liveText = ''
  const liveDone = (async () => {
    const decoder = new TextDecoder()
    try {
      for await (const chunk of live.body as unknown as AsyncIterable<Uint8Array>) liveText += decoder.decode(chunk, { stream: true })
    } catch {
      // aborted: the tail is over
    }
  })()

  const { ids } = await sendTraffic(h, v, jwt, verbose)
  const records = await h.exchanges()
  t.equal(records.length, ids.length, 'every request recorded')
  for (let i = 0; i < 100 && (liveText.match(/^event: exchange$/gm) ?? []).length < ids.length; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  tail.abort()
  await liveDone
  t.equal((liveText.match(/^event: exchange$/gm) ?? []).length, ids.length, 'the live tail showed every exchange')

  // The test is not vacuous: the upstream got every secret, and sent them back.
  const sentAll = JSON.stringify(upstream.seen)
  t.same(planted.filter((p) => !p.name.startsWith('jwt') && !sentAll.includes(p.core)).map((p) => p.name), [], 'the upstream received every planted secret')

  const blobs: Array<[string, string]> = [['GET /api/stream (live tail)', liveText]]
  const add = (where: string, text: string | Buffer): void => { blobs.push([where, Buffer.isBuffer(text) ? text.toString('latin1') : text]) }
  const get = async (path: string): Promise<string> => {
    const res = await fetch(`${h.adminUrl}${path}`)
    const text = await res.text()
    t.equal(res.status, 200, `GET ${path}`)
    add(`GET ${path}`, text)
    return text
  }

  // Every API answer.
  await get('/api/exchanges?limit=1000')
  await get('/api/exchanges?limit=1000&status=4xx')
  for (const ex of records) await get(`/api/exchanges/${ex.id}`)
  for (const id of ids) await get(`/api/traces/${encodeURIComponent(id)}`)
  await get('/api/summary')
  await get('/api/export?format=har')
  await get('/api/export?format=ndjson')
  await get('/metrics')

  // What stays useful: structure, fingerprints, the diagnosis of each failure.
  const by = (id: string): Exchange => {
    const ex = records.find((r) => r.correlation_id === `${verbose ? 'v' : 'm'}-${id}`)
    if (ex === undefined) throw new Error(`no record ${id}`)
    return ex
  }
  const pathEx = by('path-404')
  t.match(pathEx.path, /^\/api\/v4\/projects\/\[FILTERED\]\//, 'a token in the path is filtered')
  t.equal(pathEx.upstream, `${upstream.url}${pathEx.path}`, 'upstream is built from the filtered path')
  t.match(by('422').request.headers.cookie, /^_gitlab_session=\[FILTERED sha256:[0-9a-f]{8}\]; \[FILTERED sha256:[0-9a-f]{8}\]; \[FILTERED sha256:[0-9a-f]{8}\]$/, 'the nameless cookies are fingerprinted')
  t.match(by('422').diagnosis?.evidence.map((l) => l.text).join('\n'), /current_file\.content_above_cursor: String should have at most 10 characters/, 'the 422 still names the field')
  t.match(by('chat-ndjson').meta.stream_error, /APIConnectionError/, 'the stream error keeps its words')
  t.match(by('model-stream').meta.stream_error, /BadRequestError/)
  const big = by('big-json').response?.body
  t.type(big, 'string', 'the body over the sample is kept as text')
  if (!verbose) t.ok(String(big).includes('"content_above_cursor":"[FILTERED]"'), 'truncated JSON: filtered by key')

  // The CLI against the running proxy.
  const dir = t.testdir({})
  const exportHar = join(dir, 'export.har')
  const r1 = await cli('export', ['--admin', h.adminUrl, '--format', 'har', '--out', exportHar])
  t.equal(r1.code, 0, r1.stderr)
  add('export --admin (har file)', readFileSync(exportHar))
  for (const args of [['failures', '--admin', h.adminUrl], ['summary', '--admin', h.adminUrl], ['show', records[0]!.id, '--admin', h.adminUrl], ['export', '--admin', h.adminUrl, '--format', 'ndjson']]) {
    const [command, ...rest] = args as [string, ...string[]]
    const r = await cli(command, rest)
    t.equal(r.code, 0, `${command}: ${r.stderr}`)
    add(`${command} --admin (stdout, stderr)`, r.stdout + r.stderr)
  }
  const bundleLive = join(dir, 'live.tar.gz')
  const b1 = await cli('bundle', ['--admin', h.adminUrl, '--since', '1h', '--out', bundleLive])
  t.equal(b1.code, 0, `bundle --admin: the audit passed and the bundle was written (${b1.stderr})`)
  add('bundle --admin (stdout, stderr)', b1.stdout + b1.stderr)
  if (existsSync(bundleLive)) blobs.push(...await unpackBundle(bundleLive))

  // The store before the proxy stops (the WAL still holds the latest pages).
  for (const f of filesBelow(h.dir)) add(`${f.slice(h.dir.length + 1)} (running)`, readFileSync(f))
  t.ok(existsSync(h.dbPath), 'the store exists')

  await h.close()
  for (const f of filesBelow(h.dir)) add(`${f.slice(h.dir.length + 1)} (stopped)`, readFileSync(f))
  const log = readFileSync(h.logFile, 'utf8')
  t.match(log, /"message":"exchange"/, 'exchanges were logged')

  // The CLI against the stopped proxy's store file.
  const bundleDb = join(dir, 'db.tar.gz')
  const b2 = await cli('bundle', ['--db', h.dbPath, '--since', '1h', '--out', bundleDb])
  t.equal(b2.code, 0, `bundle --db (${b2.stderr})`)
  add('bundle --db (stdout, stderr)', b2.stdout + b2.stderr)
  if (existsSync(bundleDb)) blobs.push(...await unpackBundle(bundleDb))
  const exportNd = join(dir, 'export.ndjson')
  const r2 = await cli('export', ['--db', h.dbPath, '--format', 'ndjson', '--out', exportNd])
  t.equal(r2.code, 0, r2.stderr)
  add('export --db (ndjson file)', readFileSync(exportNd))
  const audit = await cli('audit', ['--dir', h.dir, '--dir', dir])
  t.equal(audit.code, 0, `audit: nothing token-shaped in the store, the log, the exports (${audit.stdout})`)

  // Positive controls: the searched texts hold what is being checked.
  const all = blobs.map(([, text]) => text).join('\n')
  t.ok(all.includes('handler.py') && all.includes('[FILTERED]'), 'the searched bytes hold the records')
  if (verbose) t.ok(leaks(all, planted.filter((p) => p.content === true), false).length > 0, 'verbose capture keeps the prompt (content is not searched for there)')

  t.ok(blobs.length > 30, `${blobs.length} texts searched`)
  for (const [where, text] of blobs) t.same(leaks(text, planted, verbose), [], `no planted ${verbose ? 'credential' : 'secret or prompt'} in ${where}`)
}

t.test('metadata mode: no prompt, code or credential anywhere the proxy writes', async (t) => {
  await run(t, false)
})

t.test('verbose capture: prompts kept, still no credential anywhere', async (t) => {
  await run(t, true)
})
