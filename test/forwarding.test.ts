/**
 * Transparent forwarding through the real proxy: bytes, statuses, headers, streaming, uploads,
 * HEAD/204/304, Expect: 100-continue, correlation ids, and the proxy's own error answers.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { refusedPort, startHangingServer } from './helpers/fault-servers.js'
import { startHarness } from './helpers/proxy-harness.js'

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

interface Upstream {
  url: string
  server: Server
  seen: Array<{ method: string, url: string, rawHeaders: string[], body: Buffer }>
  handler: Handler
}

/** A plain upstream whose handler each test swaps in. */
async function startUpstream (): Promise<Upstream> {
  const up: Upstream = { url: '', server: null as unknown as Server, seen: [], handler: (_q, s) => s.end('ok') }
  up.server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      up.seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body })
      up.handler(req, res, body)
    })
  })
  const port = await listenEphemeral(up.server)
  up.url = `http://127.0.0.1:${port}`
  return up
}

function header (raw: string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!)
  return out
}

t.test('forwarding', async (t) => {
  const up = await startUpstream()
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: up.url }] })
  t.teardown(async () => {
    await h.close()
    await closeServer(up.server)
  })
  const base = h.url()

  t.test('body bytes, status and headers reach the caller unchanged', async (t) => {
    const payload = randomBytes(300_000)
    for (const status of [200, 201, 400, 404, 418, 500, 503]) {
      up.handler = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/octet-stream', 'x-custom': 'v1', 'set-cookie': ['a=1', 'b=2'] })
        res.end(payload)
      }
      const res = await request(`${base}/v2/code/completions`)
      const body = Buffer.from(await res.body.arrayBuffer())
      t.equal(res.statusCode, status, `status ${status} relayed`)
      t.ok(body.equals(payload), `body byte-identical for ${status}`)
      t.equal(res.headers['x-custom'], 'v1')
      t.same(res.headers['set-cookie'], ['a=1', 'b=2'], 'repeated headers kept')
      t.equal(res.headers['x-duo-diag-origin'], undefined, 'an upstream response is never marked as the proxy\'s')
    }
  })

  t.test('request headers: hop-by-hop dropped, X-Forwarded-* set, Host rewritten', async (t) => {
    up.handler = (_req, res) => res.end('ok')
    up.seen.length = 0
    // node:http as the client: undici refuses to send these hop-by-hop headers at all.
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${base}/v1/chat/completions?x=1`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          connection: 'keep-alive, x-hop',
          'x-hop': 'drop me',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          'x-forwarded-for': '10.1.2.3',
          'x-keep': 'yes'
        }
      }, (res) => {
        res.resume()
        res.on('end', resolve)
      })
      req.on('error', reject)
      req.end('{"a":1}')
    })
    const seen = up.seen[0]!
    t.equal(seen.url, '/v1/chat/completions?x=1', 'path and query unchanged')
    t.same(header(seen.rawHeaders, 'x-hop'), [], 'header named in Connection dropped')
    t.same(header(seen.rawHeaders, 'keep-alive'), [])
    t.same(header(seen.rawHeaders, 'te'), [])
    t.same(header(seen.rawHeaders, 'x-keep'), ['yes'])
    t.same(header(seen.rawHeaders, 'x-forwarded-for'), ['10.1.2.3, 127.0.0.1'], 'X-Forwarded-For appended')
    t.same(header(seen.rawHeaders, 'x-forwarded-proto'), ['http'])
    t.same(header(seen.rawHeaders, 'x-forwarded-host'), [new URL(base).host])
    t.same(header(seen.rawHeaders, 'host'), [new URL(up.url).host], 'Host is the upstream\'s')
    t.equal(seen.body.toString(), '{"a":1}')
  })

  t.test('HEAD, 204 and 304 carry no body', async (t) => {
    up.handler = (req, res) => {
      if (req.url === '/204') return res.writeHead(204).end()
      if (req.url === '/304') return res.writeHead(304, { etag: '"x"' }).end()
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello')
    }
    const head = await request(`${base}/thing`, { method: 'HEAD' })
    t.equal(head.statusCode, 200)
    t.equal(head.headers['content-length'], '5', 'HEAD keeps the entity length')
    t.equal(await head.body.text(), '')
    const r204 = await request(`${base}/204`)
    t.equal(r204.statusCode, 204)
    t.equal(await r204.body.text(), '')
    const r304 = await request(`${base}/304`)
    t.equal(r304.statusCode, 304)
    t.equal(r304.headers.etag, '"x"')
    t.equal(await r304.body.text(), '')
  })

  t.test('a multi-megabyte upload streams through intact', async (t) => {
    up.handler = (_req, res, body) => res.end(createHash('sha256').update(body).digest('hex'))
    const payload = randomBytes(8 * 1024 * 1024)
    async function * chunks (): AsyncGenerator<Buffer> {
      for (let i = 0; i < payload.length; i += 65_536) yield payload.subarray(i, i + 65_536)
    }
    const res = await request(`${base}/upload`, { method: 'PUT', body: Readable.from(chunks()) })
    t.equal(res.statusCode, 200)
    t.equal(await res.body.text(), createHash('sha256').update(payload).digest('hex'), 'upstream received every byte (chunked upload)')
    const sized = await request(`${base}/upload`, { method: 'POST', body: payload, headers: { 'content-type': 'application/octet-stream' } })
    t.equal(await sized.body.text(), createHash('sha256').update(payload).digest('hex'), 'and with Content-Length')
  })

  t.test('Expect: 100-continue is answered and the body forwarded', async (t) => {
    up.handler = (_req, res, body) => res.end(`got ${body.length}`)
    const port = new URL(base).port
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/expect', method: 'POST', headers: { expect: '100-continue', 'content-length': '5' } })
      req.on('continue', () => req.end('abcde'))
      req.on('response', (res) => {
        let s = ''
        res.on('data', (c: Buffer) => { s += c.toString() })
        res.on('end', () => resolve(s))
      })
      req.on('error', reject)
    })
    t.equal(text, 'got 5')
  })

  t.test('the first SSE chunk reaches the caller before the upstream finishes', async (t) => {
    let release: () => void = () => {}
    const released = new Promise<void>((resolve) => { release = resolve })
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"choices":[{"delta":{"content":"first"}}]}\n\n')
      // The rest is sent only once the caller has seen the first chunk: a proxy that
      // buffers would deadlock here and the test would time out.
      void released.then(() => {
        res.write('data: {"choices":[{"delta":{"content":"second"},"finish_reason":"stop"}]}\n\n')
        res.end('data: [DONE]\n\n')
      })
    }
    const res = await request(`${base}/v1/chat/completions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
    const received: string[] = []
    for await (const chunk of res.body) {
      received.push(chunk.toString())
      if (received.length === 1) {
        t.match(received[0], /first/, 'first chunk arrived while upstream still held the rest')
        release()
      }
    }
    t.match(received.join(''), /second[\s\S]*\[DONE\]/)
  })

  t.test('X-Request-ID: kept, minted when missing, replaced when invalid, always echoed', async (t) => {
    up.handler = (_req, res) => res.end('ok')
    up.seen.length = 0
    const kept = await request(`${base}/v2/code/completions`, { headers: { 'x-request-id': 'abc-123.X:y_z' } })
    await kept.body.text()
    t.equal(kept.headers['x-request-id'], 'abc-123.X:y_z')
    t.same(header(up.seen[0]!.rawHeaders, 'x-request-id'), ['abc-123.X:y_z'])

    const minted = await request(`${base}/v2/code/completions`)
    await minted.body.text()
    const id = minted.headers['x-request-id'] as string
    t.match(id, /^[0-9a-f]{32}$/, 'minted like the gateway: 32 hex')
    t.same(header(up.seen[1]!.rawHeaders, 'x-request-id'), [id], 'minted id sent upstream')

    const bad = 'x'.repeat(129)
    const replaced = await request(`${base}/v2/code/completions`, { headers: { 'x-request-id': bad } })
    await replaced.body.text()
    t.match(replaced.headers['x-request-id'], /^[0-9a-f]{32}$/)
    const weird = await request(`${base}/v2/code/completions`, { headers: { 'x-request-id': 'has space"quote' } })
    await weird.body.text()
    t.match(weird.headers['x-request-id'], /^[0-9a-f]{32}$/)

    const records = await h.exchanges()
    const byId = new Map(records.map((r) => [r.correlation_id, r]))
    t.equal(byId.get('abc-123.X:y_z')?.correlation_source, 'caller')
    t.equal(byId.get(id)?.correlation_source, 'minted')
    const rep = byId.get(replaced.headers['x-request-id'] as string)
    t.equal(rep?.correlation_source, 'replaced')
    t.equal(rep?.original_correlation_id, JSON.stringify(bad), 'original kept, escaped')
    t.equal(byId.get(weird.headers['x-request-id'] as string)?.original_correlation_id, JSON.stringify('has space"quote'))
  })

  t.test('an upstream echoing its own X-Request-ID is not overridden', async (t) => {
    up.handler = (_req, res) => res.writeHead(200, { 'x-request-id': 'from-upstream' }).end()
    const res = await request(`${base}/x`, { headers: { 'x-request-id': 'mine' } })
    await res.body.text()
    t.equal(res.headers['x-request-id'], 'from-upstream')
  })
})

t.test('the proxy answers itself when the upstream cannot', async (t) => {
  const port = await refusedPort()
  const hanging = await startHangingServer()
  const h = await startHarness({
    routes: [
      { name: 'refused', upstream: `http://127.0.0.1:${port}` },
      { name: 'hanging', upstream: hanging.url, timeouts: { headers_ms: 300 } }
    ]
  })
  t.teardown(async () => {
    await h.close()
    await hanging.close()
  })

  const refused = await request(`${h.url('refused')}/v2/code/completions`, { headers: { 'x-request-id': 'refused-1' } })
  const body = (await refused.body.json()) as Record<string, string>
  t.equal(refused.statusCode, 502)
  t.equal(refused.headers['x-duo-diag-flag'], 'connection_refused')
  t.equal(refused.headers['x-duo-diag-origin'], 'proxy')
  t.equal(refused.headers['x-request-id'], 'refused-1')
  t.same(Object.keys(body).sort(), ['correlation_id', 'error', 'flag', 'hint'])
  t.equal(body.flag, 'connection_refused')
  t.equal(body.correlation_id, 'refused-1')
  t.match(body.hint, /Nothing accepts connections/)

  const slow = await request(`${h.url('hanging')}/v2/chat/agent`, { method: 'POST', body: '{}' })
  const slowBody = (await slow.body.json()) as Record<string, string>
  t.equal(slow.statusCode, 504, 'timeouts answer 504')
  t.equal(slowBody.flag, 'headers_timeout')

  const records = await h.exchanges()
  const r = records.find((x) => x.correlation_id === 'refused-1')!
  t.equal(r.status, null, 'no upstream status')
  t.same(r.flags, ['connection_refused'])
  t.equal(r.error?.code, 'ECONNREFUSED')
  t.equal(r.proxy_answered, true)
  const s = records.find((x) => x.route === 'hanging')!
  t.same(s.flags, ['headers_timeout', 'timeout'])
  t.equal(s.error?.code, 'UND_ERR_HEADERS_TIMEOUT')
})
