/**
 * Bad input: malformed and smuggling-shaped requests over raw sockets, oversized headers and
 * bodies, bodies capture cannot read. Refused requests are answered, recorded and never
 * forwarded; odd bodies are forwarded untouched and only noted.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { closeServer, listenEphemeral } from './helpers/net.js'
import { raw } from './helpers/raw-socket.js'
import { startHarness } from './helpers/proxy-harness.js'

interface Upstream { server: Server, url: string, seen: Array<{ url: string, sha: string, bytes: number }> }

async function recordingUpstream (): Promise<Upstream> {
  const seen: Upstream['seen'] = []
  const server = createServer((req, res) => {
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (c: Buffer) => { hash.update(c); bytes += c.length })
    req.on('end', () => {
      const sha = hash.digest('hex')
      seen.push({ url: req.url ?? '', sha, bytes })
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sha, bytes }))
    })
    req.on('error', () => {})
  })
  const port = await listenEphemeral(server)
  return { server, url: `http://127.0.0.1:${port}`, seen }
}

t.test('malformed and smuggling-shaped requests: 400/431, recorded, never forwarded', async (t) => {
  const up = await recordingUpstream()
  const h = await startHarness({ routes: [{ name: 'gw', upstream: up.url }] })
  t.teardown(async () => {
    await h.close()
    await closeServer(up.server)
  })
  const port = Number(new URL(h.url()).port)
  const cases: Array<[string, string, number]> = [
    ['malformed request line', 'GARBAGE\r\n\r\n', 400],
    ['Content-Length with Transfer-Encoding', 'POST /v2/code/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['conflicting Content-Length', 'POST /v2/code/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400],
    ['duplicated Content-Length', 'POST /v2/code/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', 400],
    ['obs-fold header', 'GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n  b\r\n\r\n', 400],
    ['unknown transfer coding', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 400],
    ['two transfer codings, chunked not last', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n', 400],
    ['bare LF line endings', 'GET / HTTP/1.1\nHost: x\n\n', 400],
    ['missing Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['oversized headers', 'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'a'.repeat(20_000) + '\r\n\r\n', 431]
  ]
  for (const [name, text, status] of cases) {
    const reply = await raw(port, text)
    t.match(reply, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`)
    if (status === 431 || name === 'malformed request line') t.match(reply, /x-duo-diag-flag: request_rejected/, `${name}: marked as the proxy's answer`)
  }
  t.equal(up.seen.length, 0, 'nothing reached the upstream')
  const records = await h.exchanges('flag=request_rejected')
  t.equal(records.length, cases.length, 'each refusal recorded')
  const big = records.find((r) => r.error?.code === 'HPE_HEADER_OVERFLOW')!
  t.match(big.diagnosis?.cause, /headers are over 16 KiB/)
  t.ok(records.every((r) => r.diagnosis !== null), 'each explained')
})

t.test('request bodies over the limit: 413 with Content-Length and when chunked', async (t) => {
  const up = await recordingUpstream()
  const h = await startHarness({ routes: [{ name: 'gw', upstream: up.url, max_body_bytes: 1000 }] })
  t.teardown(async () => {
    await h.close()
    await closeServer(up.server)
  })
  const port = Number(new URL(h.url()).port)
  const sized = await raw(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n${'a'.repeat(5000)}`)
  t.match(sized, /^HTTP\/1\.1 413 /)
  const chunk = `100\r\n${'a'.repeat(256)}\r\n`
  const chunked = await raw(port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk.repeat(8)}0\r\n\r\n`)
  t.match(chunked, /^HTTP\/1\.1 413 /)
  t.equal(up.seen.filter((s) => s.bytes >= 1000).length, 0, 'no complete over-limit body reached the upstream')
  const records = await h.exchanges()
  t.equal(records.length, 2)
  t.ok(records.every((r) => r.flags.includes('request_rejected') && r.status === null))
})

t.test('bodies capture cannot read are forwarded untouched and noted', async (t) => {
  const up = await recordingUpstream()
  const h = await startHarness({ routes: [{ name: 'gw', upstream: up.url }], extra: { capture: { sample_bytes: 1_048_576 } } })
  t.teardown(async () => {
    await h.close()
    await closeServer(up.server)
  })
  const deep = '['.repeat(100_000) + ']'.repeat(100_000)
  const manyKeys = '{' + Array.from({ length: 1_000_000 }, (_, i) => `"k${i}":${i}`).join(',') + '}'
  const bodies: Array<[string, Buffer, string]> = [
    ['not-json', Buffer.from('this is { not json'), 'application/json'],
    ['not-utf8', Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1]), 'application/json'],
    ['deep', Buffer.from(deep), 'application/json'],
    ['million-keys', Buffer.from(manyKeys), 'application/json'],
    ['binary', Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256)), 'application/octet-stream']
  ]
  for (const [name, body, type] of bodies) {
    const res = await request(`${h.url()}/v2/code/completions`, { method: 'POST', body, headers: { 'content-type': type, 'x-request-id': name } })
    const echoed = (await res.body.json()) as { sha: string, bytes: number }
    t.equal(res.statusCode, 200, `${name}: forwarded`)
    t.equal(echoed.sha, createHash('sha256').update(body).digest('hex'), `${name}: byte-identical upstream`)
  }
  const records = await h.exchanges()
  const of = (id: string) => records.find((r) => r.correlation_id === id)!
  t.equal(records.length, bodies.length, 'every exchange recorded, none lost to a parse')
  t.match(of('not-json').meta.notes, [/not valid JSON/])
  t.match(of('not-utf8').meta.notes, [/not valid JSON/])
  t.ok(of('deep'), '100 000-deep nesting parsed without blowing the stack, and recorded')
  t.match(of('million-keys').meta.notes, [/over the sample bound/])
  t.equal(of('binary').meta.notes, undefined, 'binary bodies are not parsed at all')
  t.equal(h.proxy.pipeline.getStats().captureErrors, 0)
})
