/** WebSocket upgrades are tunnelled both ways, and recorded. */
import { connect } from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import { startWsEchoServer } from './helpers/fault-servers.js'
import { startHarness } from './helpers/proxy-harness.js'

t.test('a WebSocket is tunnelled both ways and recorded once it closes', async (t) => {
  const echo = await startWsEchoServer()
  const h = await startHarness({ routes: [{ name: 'ws', upstream: echo.url }] })
  t.teardown(async () => {
    await h.close()
    await echo.close()
  })
  const ws = new WebSocket(`${h.url().replace('http', 'ws')}/v1/stream?x=1`, { headers: { 'x-request-id': 'ws-1' } })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const replies: string[] = []
  const gotAll = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      replies.push(data.toString())
      if (replies.length === 3) resolve()
    })
  })
  ws.send('one')
  ws.send('two')
  ws.send(Buffer.alloc(70_000, 'x'))
  await gotAll
  t.same(replies.slice(0, 2), ['one', 'two'], 'messages echoed back through the proxy')
  t.equal(replies[2]!.length, 70_000, 'a large frame crosses intact')
  t.equal(echo.upgrades[0]?.['x-request-id'], 'ws-1', 'correlation id forwarded on the upgrade')
  t.equal(echo.upgrades[0]?.upgrade, 'websocket')
  ws.close()
  await new Promise((resolve) => ws.once('close', resolve))

  let records = await h.exchanges()
  for (let i = 0; i < 50 && records.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    records = await h.exchanges()
  }
  const r = records[0]!
  t.equal(r.status, 101)
  t.equal(r.upgraded, true)
  t.equal(r.correlation_id, 'ws-1')
  t.ok(r.request.bytes > 70_000, 'bytes sent upstream counted')
  t.ok(r.response!.bytes > 70_000, 'bytes sent to the caller counted')
})

t.test('an upgrade the upstream refuses is relayed as its normal response', async (t) => {
  const echo = await startWsEchoServer()
  const h = await startHarness({ routes: [{ name: 'ws', upstream: echo.url }] })
  t.teardown(async () => {
    await h.close()
    await echo.close()
  })
  // A raw upgrade with an unsupported WebSocket version: the upstream (ws) refuses with 400.
  const port = Number(new URL(h.url()).port)
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (d: Buffer) => { text += d.toString() })
    socket.on('close', () => resolve(text))
    socket.on('error', reject)
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 99\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  })
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1])
  t.equal(status, 400, 'the upstream\'s refusal reaches the client')
  t.match(reply, /Missing or invalid Sec-WebSocket-Version header$/, 'with its body')
  const r = (await h.exchanges())[0]!
  t.equal(r.status, 400)
  t.equal(r.upgraded, false)
  t.same(r.flags, ['client_error'])
})
