/**
 * Requests Node's parser accepts but a reverse proxy should not pass on as they are (issue 15,
 * items 6 and 7), over raw sockets: CONNECT, header names with underscores, transfer codings
 * other than plain chunked, fragments in the request target, HTTP/0.9 request lines, h2c
 * upgrades, upgrade requests carrying a body. nginx's defaults are the reference.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { raw } from './helpers/raw-socket.js'
import { startHarness, type Harness } from './helpers/proxy-harness.js'

interface Seen {
  method: string
  url: string
  headers: string[]
  bytes: number
  sha: string
  /** Reached the upstream as an upgrade (h2c, websocket), not a plain request. */
  upgrade: boolean
}

interface Upstream { server: Server, url: string, seen: Seen[] }

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')

/**
 * Records what reaches it. Answers upgrades with 101 and some bytes that are not HTTP, as a
 * server that speaks h2c (or a WebSocket server) would: a caller must never see them.
 */
async function recordingUpstream (): Promise<Upstream> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (c: Buffer) => { hash.update(c); bytes += c.length })
    req.on('end', () => {
      const digest = hash.digest('hex')
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, bytes, sha: digest, upgrade: false })
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sha: digest, bytes }))
    })
    req.on('error', () => {})
  })
  server.on('upgrade', (req, socket) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, bytes: 0, sha: '', upgrade: true })
    socket.on('error', () => {})
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade ?? ''}\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00`)
  })
  const port = await listenEphemeral(server)
  return { server, url: `http://127.0.0.1:${port}`, seen }
}

function names (headers: string[]): string[] {
  return headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
}

async function setup (t: Test): Promise<{ up: Upstream, h: Harness, port: number }> {
  const up = await recordingUpstream()
  const h = await startHarness({ routes: [{ name: 'gw', upstream: up.url }] })
  t.teardown(async () => {
    await h.close()
    await closeServer(up.server)
  })
  return { up, h, port: Number(new URL(h.url()).port) }
}

t.test('CONNECT: 405 with Allow, recorded as request_rejected, nothing tunnelled', async (t) => {
  const { up, h, port } = await setup(t)
  const reply = await raw(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Request-ID: connect-1\r\n\r\n')
  t.match(reply, /^HTTP\/1\.1 405 Method Not Allowed\r\n/)
  t.match(reply, /\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i)
  t.match(reply, /\r\nx-duo-diag-flag: request_rejected\r\n/)
  t.match(reply, /\r\nconnection: close\r\n/i)
  t.equal(up.seen.length, 0, 'nothing reached the upstream')
  const [r] = await h.exchanges()
  t.ok(r, 'recorded')
  t.equal(r!.method, 'CONNECT')
  t.equal(r!.path, 'example.com:443', 'the authority-form target, as sent')
  t.equal(r!.correlation_id, 'connect-1', "the caller's request id kept")
  t.same(r!.flags, ['request_rejected'])
  t.equal(r!.error?.code, 'DDP_CONNECT_METHOD')
  t.match(r!.diagnosis?.cause, /CONNECT/)
  t.match(r!.diagnosis?.next_steps.map((l) => l.text).join(' '), /HTTPS_PROXY/)
})

t.test('header names with underscores are not forwarded (nginx: underscores_in_headers off)', async (t) => {
  const { up, h, port } = await setup(t)
  // A WSGI/CGI backend maps both Transfer_Encoding and Transfer-Encoding to HTTP_TRANSFER_ENCODING.
  const reply = await raw(port, 'POST /v2/code/completions HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 10.9.9.9\r\n' +
    'Transfer_Encoding: chunked\r\nX-Kept: yes\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')
  t.match(reply, /^HTTP\/1\.1 200 /)
  t.equal(up.seen.length, 1)
  const got = up.seen[0]!
  t.notOk(names(got.headers).some((n) => n.includes('_')), 'no underscore header reached the upstream')
  t.ok(names(got.headers).includes('x-kept'), 'other headers still forwarded')
  t.equal(got.sha, sha('hello'), 'the body intact')
  const [r] = await h.exchanges()
  t.same(r!.flags, [], 'an ordinary exchange, not a failure')
  t.ok('transfer_encoding' in r!.request.headers, 'the capture still shows what the caller sent')
})

t.test('Transfer_Encoding: chunked does not give the request a body', async (t) => {
  const { up, port } = await setup(t)
  // Node reads this as a request with no body: the chunk bytes are then a malformed next
  // request, refused (400). Neither the header nor those bytes may reach the upstream.
  const reply = await raw(port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
  t.match(reply, /HTTP\/1\.1 400 /, 'the leftover bytes refused as a request of their own')
  t.ok(up.seen.every((s) => !names(s.headers).includes('transfer_encoding') && s.bytes === 0), 'no underscore header, no body upstream')
})

t.test('transfer codings other than chunked: 501, recorded, not forwarded (as nginx)', async (t) => {
  const { up, h, port } = await setup(t)
  const cases: Array<[string, string]> = [
    ['gzip, chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['gzip then chunked, two lines', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['deflate,chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: deflate,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n']
  ]
  for (const [name, text] of cases) {
    const reply = await raw(port, text)
    t.match(reply, /^HTTP\/1\.1 501 Not Implemented\r\n/, `${name}: 501`)
    t.match(reply, /\r\nx-duo-diag-flag: request_rejected\r\n/, `${name}: the proxy's answer`)
    t.match(reply, /\r\nconnection: close\r\n/i, `${name}: connection closed after it`)
  }
  t.equal(up.seen.length, 0, 'nothing reached the upstream')
  const records = await h.exchanges('flag=request_rejected')
  t.equal(records.length, cases.length, 'each recorded')
  t.ok(records.every((r) => r.error?.code === 'DDP_TRANSFER_CODING'))
  t.ok(records.every((r) => /501/.test(r.diagnosis?.cause ?? '')), 'explained')
})

t.test('chunked not the last coding: one 400, one record (Node emits the request before its parser refuses it)', async (t) => {
  const { up, h, port } = await setup(t)
  for (const codings of ['xchunked', 'chunked, gzip']) {
    const reply = await raw(port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${codings}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`)
    t.match(reply, /^HTTP\/1\.1 400 /, `${codings}: 400`)
    t.equal(reply.match(/HTTP\/1\.1 /g)?.length, 1, `${codings}: one answer`)
  }
  t.equal(up.seen.length, 0, 'nothing reached the upstream')
  const records = await h.exchanges()
  t.equal(records.length, 2, 'one record each')
  // `xchunked` passes the header parse and is refused by the proxy; `chunked, gzip` already by llhttp.
  t.same(records.map((r) => [r.flags, r.error?.code, r.diagnosis !== null]).reverse(),
    [[['request_rejected'], 'DDP_TE_NOT_CHUNKED', true], [['request_rejected'], 'HPE_INVALID_TRANSFER_ENCODING', true]])
})

t.test('bytes after a refused request are not a request of their own', async (t) => {
  const { up, h, port } = await setup(t)
  const reply = await raw(port, 'GET /v1/x#frag HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\nGET /v1/y HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(reply, /^HTTP\/1\.1 400 /)
  t.equal(reply.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer, then the connection closes')
  t.equal(up.seen.length, 0)
  t.equal((await h.exchanges()).length, 1, 'one record')

  // Nor is a well-formed request pipelined after it: the refusal closes the connection.
  const next = await raw(port, 'POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\nGET /v1/y HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(next, /^HTTP\/1\.1 501 /)
  t.equal(next.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer')
  t.equal(up.seen.length, 0, 'the pipelined request not forwarded')
  t.equal((await h.exchanges()).length, 2, 'and not recorded')
})

t.test('plain chunked is still forwarded, whatever its case; Transfer-Encoding in HTTP/1.0 is refused', async (t) => {
  const { up, h, port } = await setup(t)
  const ok = await raw(port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
  t.match(ok, /^HTTP\/1\.1 200 /)
  t.equal(up.seen[0]?.sha, sha('hello'))
  // RFC 9112 §6.1: a Transfer-Encoding in an HTTP/1.0 message means faulty framing (nginx: 400).
  const old = await raw(port, 'POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
  t.match(old, /^HTTP\/1\.1 400 /)
  t.equal(up.seen.length, 1, 'the HTTP/1.0 one not forwarded')
  const rejected = await h.exchanges('flag=request_rejected')
  t.equal(rejected[0]?.error?.code, 'DDP_TE_HTTP10')
  t.ok(rejected[0]?.diagnosis, 'explained')
})

t.test('a #fragment in the request target: 400, not forwarded', async (t) => {
  const { up, h, port } = await setup(t)
  const targets = ['/v2/code/completions#frag', '/v1/x?a=1#frag', '/v1/x#frag?admin=1', 'http://gw.example/v1/x#frag']
  for (const target of targets) {
    const reply = await raw(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)
    t.match(reply, /^HTTP\/1\.1 400 /, `${target}: 400`)
    t.match(reply, /\r\nx-duo-diag-flag: request_rejected\r\n/)
  }
  t.equal(up.seen.length, 0, 'nothing reached the upstream')
  const records = await h.exchanges('flag=request_rejected')
  t.equal(records.length, targets.length)
  t.ok(records.every((r) => r.error?.code === 'DDP_URL_FRAGMENT' && r.diagnosis !== null))
})

t.test('an HTTP/0.9 request line: 400, not forwarded as HTTP/1.1; HTTP/1.0 still forwarded', async (t) => {
  const { up, h, port } = await setup(t)
  for (const text of ['GET /v1/models\r\n\r\n', 'GET /v1/models\r\nHost: x\r\n\r\n']) {
    const reply = await raw(port, text)
    t.match(reply, /^HTTP\/1\.1 400 /, `${JSON.stringify(text)}: 400`)
  }
  t.equal(up.seen.length, 0, 'nothing reached the upstream')
  const records = await h.exchanges('flag=request_rejected')
  t.equal(records.length, 2)
  t.ok(records.every((r) => r.error?.code === 'DDP_HTTP09' && r.diagnosis !== null))
  const ten = await raw(port, 'GET /v1/models HTTP/1.0\r\n\r\n')
  t.match(ten, /^HTTP\/1\.1 200 /, 'HTTP/1.0 is forwarded')
  t.equal(up.seen.length, 1)
})

t.test('Upgrade: h2c is stripped: a plain request reaches the upstream', async (t) => {
  const { up, h, port } = await setup(t)
  const reply = await raw(port, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
    'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-Request-ID: h2c-1\r\n\r\n')
  t.match(reply, /^HTTP\/1\.1 200 /, 'answered over HTTP/1.1, no 101')
  t.notMatch(reply, /101 Switching/)
  t.equal(up.seen.length, 1)
  const got = up.seen[0]!
  t.equal(got.upgrade, false, 'not an upgrade upstream')
  t.notOk(names(got.headers).includes('upgrade'))
  t.notOk(names(got.headers).includes('http2-settings'))
  const [r] = await h.exchanges()
  t.equal(r!.correlation_id, 'h2c-1')
  t.equal(r!.status, 200)
  t.equal(r!.upgraded, false)

  const post = await raw(port, 'POST /v1/chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n' +
    'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 11\r\n\r\nhello there')
  t.match(post, /^HTTP\/1\.1 200 /)
  t.equal(up.seen[1]?.sha, sha('hello there'), 'a body sent with it arrives intact')
  t.equal(up.seen[1]?.upgrade, false)

  // Without `Connection: upgrade` Node sees no upgrade at all: both headers are still dropped.
  const bare = await raw(port, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: close\r\n\r\n')
  t.match(bare, /^HTTP\/1\.1 200 /)
  t.notOk(names(up.seen[2]?.headers ?? []).some((n) => n === 'upgrade' || n === 'http2-settings'), 'neither header forwarded')
})

t.test('POST with Upgrade: websocket and a body: forwarded as a plain request, body intact', async (t) => {
  const { up, h, port } = await setup(t)
  const body = JSON.stringify({ prompt: 'x'.repeat(300) })
  const reply = await raw(port, `POST /v2/chat/agent HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
  t.match(reply, /^HTTP\/1\.1 200 /)
  t.equal(up.seen.length, 1)
  const got = up.seen[0]!
  t.equal(got.upgrade, false, 'not an upgrade upstream')
  t.equal(got.method, 'POST')
  t.equal(got.bytes, body.length, 'the whole body arrived')
  t.equal(got.sha, sha(body), 'byte-identical')
  t.notOk(names(got.headers).includes('upgrade'))

  const chunked = await raw(port, 'POST /v2/chat/agent HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n' +
    'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
  t.match(chunked, /^HTTP\/1\.1 200 /)
  t.equal(up.seen[1]?.sha, sha('hello world'), 'a chunked body arrives intact')
  const records = await h.exchanges()
  t.equal(records.length, 2)
  t.ok(records.every((r) => r.status === 200 && !r.upgraded && r.request.bytes > 0))
})

t.test('the connection goes on after a stripped upgrade, pipelined or not', async (t) => {
  const { up, port } = await setup(t)
  // Pipelined: the second upgrade arrives while the answer to the first is still under way.
  const reply = await raw(port, 'POST /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello' +
    'GET /b HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n' +
    'GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(reply.match(/HTTP\/1\.1 200 /g)?.length, 3, 'three answers on one connection')
  t.same(up.seen.map((s) => `${s.method} ${s.url} ${s.upgrade}`).sort(), ['GET /b false', 'GET /c false', 'POST /a false'])
  t.equal(up.seen.find((s) => s.url === '/a')?.sha, sha('hello'))

  // One at a time on a kept-alive connection: plain, stripped upgrade, plain.
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  let text = ''
  socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
  const answers = async (n: number): Promise<void> => {
    for (let i = 0; i < 300 && (text.match(/HTTP\/1\.1 200 /g)?.length ?? 0) < n; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  socket.write('GET /d HTTP/1.1\r\nHost: x\r\n\r\n')
  await answers(1)
  socket.write('PUT /e HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc')
  await answers(2)
  socket.write('GET /f HTTP/1.1\r\nHost: x\r\n\r\n')
  await answers(3)
  t.equal(text.match(/HTTP\/1\.1 200 /g)?.length, 3, 'each answered in turn')
  t.equal(up.seen.find((s) => s.url === '/e')?.sha, sha('abc'))
  t.equal(up.seen.find((s) => s.url === '/f')?.upgrade, false)
})

t.test('a GET WebSocket handshake is still tunnelled', async (t) => {
  const { up, port } = await setup(t)
  const reply = await raw(port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  t.match(reply, /^HTTP\/1\.1 101 /)
  t.equal(up.seen[0]?.upgrade, true)
})
