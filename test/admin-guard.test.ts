/**
 * The admin API against a browser that was turned on it: DNS rebinding (a foreign Host),
 * cross-origin pages (Origin, Sec-Fetch-Site), and state changes in a shape a page can send
 * without a preflight. Real sockets, raw node:http requests so every header is ours to set.
 */
import { request as httpRequest } from 'node:http'
import t from 'tap'
import { startModelServer } from './fixtures/model-server.js'
import { startHarness } from './helpers/proxy-harness.js'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

function call (port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('foreign Host, foreign Origin and simple-shaped state changes are refused', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({
    routes: [{ name: 'model', upstream: model.url }],
    extra: { faults: { enabled: true }, admin: { allowed_hosts: ['duo-proxy.internal'] } }
  })
  t.teardown(async () => { await h.close(); await model.close() })
  const port = Number(new URL(h.adminUrl).port)
  const own = `127.0.0.1:${port}`
  for (let i = 0; i < 3; i++) await fetch(`${h.url()}/v1/models`).then((r) => r.text())
  t.equal((await h.exchanges()).length, 3, 'three exchanges captured')

  // DNS rebinding: the page's name now points at 127.0.0.1, so its requests carry its own name.
  const read = await call(port, 'GET', '/api/exchanges', { host: `evil.example:${port}` })
  t.equal(read.status, 421, 'a read under a foreign Host is refused')
  t.equal(JSON.parse(read.body).error, 'host_not_allowed')
  t.notMatch(read.body, /"items"/, 'and lists nothing')
  const purge = await call(port, 'DELETE', '/api/exchanges?all=true', { host: `evil.example:${port}`, origin: `http://evil.example:${port}` })
  t.equal(purge.status, 421, 'a purge under a foreign Host is refused')
  const inject = await call(port, 'POST', '/api/faults', { host: `evil.example:${port}`, 'content-type': 'application/json' }, JSON.stringify({ name: 'x', preset: 'missing-v1' }))
  t.equal(inject.status, 421, 'fault injection under a foreign Host is refused')
  t.equal((await h.exchanges()).length, 3, 'the store is intact')
  t.same(JSON.parse((await call(port, 'GET', '/api/faults', { host: own })).body).rules, [], 'no fault rule was added')

  // Another page, talking to the real address: its Origin (or Sec-Fetch-Site) gives it away.
  for (const [what, headers] of [
    ['Origin of another site', { origin: 'http://evil.example' }],
    ['Origin on another port', { origin: 'http://127.0.0.1:1' }],
    ['Origin null (sandboxed page)', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }]
  ] as const) {
    const del = await call(port, 'DELETE', '/api/exchanges?all=true', { host: own, ...headers })
    t.equal(del.status, 403, `${what}: purge refused`)
    t.equal(JSON.parse(del.body).error, 'cross_origin')
    const get = await call(port, 'GET', '/api/stream', { host: own, ...headers })
    t.equal(get.status, 403, `${what}: live tail refused`)
  }
  t.equal((await h.exchanges()).length, 3, 'still intact')

  // The shape a page can send without a preflight: a form or text/plain POST.
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const r = await call(port, 'POST', '/api/faults', { host: own, 'content-type': type }, JSON.stringify({ name: 'x', preset: 'missing-v1' }))
    t.equal(r.status, 415, `POST as ${type} refused`)
  }
  t.same(JSON.parse((await call(port, 'GET', '/api/faults', { host: own })).body).rules, [], 'no rule added by simple requests')

  // No CORS, ever: a preflight grants nothing.
  const preflight = await call(port, 'OPTIONS', '/api/faults', { host: own, origin: 'http://evil.example', 'access-control-request-method': 'POST' })
  t.notOk(Object.keys(preflight.headers).some((k) => k.startsWith('access-control-')), 'no Access-Control-* header in answer to a preflight')

  // What is allowed: the names that really lead here, and the same origin.
  for (const host of [own, `localhost:${port}`, `app.localhost:${port}`, `duo-proxy.internal:${port}`, `DUO-PROXY.INTERNAL.:${port}`, `[::1]:${port}`, `10.1.2.3:${port}`]) {
    const r = await call(port, 'GET', '/api/exchanges', { host })
    t.equal(r.status, 200, `Host ${host} accepted`)
  }
  const same = await call(port, 'POST', '/api/faults', { host: own, origin: `http://${own}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ name: 'ok', preset: 'missing-v1' }))
  t.equal(same.status, 201, 'a same-origin JSON POST is accepted')
  const typed = await call(port, 'GET', '/api/exchanges', { host: own, 'sec-fetch-site': 'none' })
  t.equal(typed.status, 200, 'a URL typed in the address bar (Sec-Fetch-Site: none) is accepted')
  t.equal((await call(port, 'GET', '/healthz', { host: 'evil.example' })).status, 200, 'liveness carries no data: any Host')
  t.ok(h.logs().some((l) => l.message === 'admin API: request refused' && l.reason === 'host_not_allowed'), 'refusals are logged')
})

t.test('the Host check holds with a token too, before the token is even looked at', async (t) => {
  const model = await startModelServer()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }], extra: { admin: { token: 'secret-admin-token' } } })
  t.teardown(async () => { await h.close(); await model.close() })
  const port = Number(new URL(h.adminUrl).port)
  const foreign = await call(port, 'GET', '/api/exchanges', { host: 'evil.example', authorization: 'Bearer secret-admin-token' })
  t.equal(foreign.status, 421)
  const ok = await call(port, 'GET', '/api/exchanges', { host: `127.0.0.1:${port}`, authorization: 'Bearer secret-admin-token' })
  t.equal(ok.status, 200)
})
