/**
 * The browser view's files as the admin API serves them (issue 18): a strict CSP and the other
 * headers on every file, the same Host/Origin/Sec-Fetch-Site checks as the API, no token needed
 * for the files (they hold no data) while the API still wants it, no way out of dist/ui/, no
 * inline script or style in the page, and a clear 503 when the view was never built.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { isUiPath, registerUiRoutes, UI_CSP, UI_DIR } from '../src/api/ui.js'
import { startModelServer } from './fixtures/model-server.js'
import { ensureUiBuilt } from './helpers/browser.js'
import { startHarness } from './helpers/proxy-harness.js'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

function call (port: number, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'GET', path, headers, setHost: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end()
  })
}

const EXPECTED_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

t.test('the page and its files: strict headers, guarded like the API, token only for the API', async (t) => {
  await ensureUiBuilt()
  const model = await startModelServer()
  const token = 'ui-serve-admin-token-0123456789'
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url }], extra: { admin: { token } } })
  t.teardown(async () => { await h.close(); await model.close() })
  const port = Number(new URL(h.adminUrl).port)
  const own = { host: `127.0.0.1:${port}` }

  t.equal(UI_CSP, EXPECTED_CSP, 'the CSP is the one the README documents')
  for (const path of ['/', '/index.html', '/ui/app.js', '/ui/app.css']) {
    const r = await call(port, path, own)
    t.equal(r.status, 200, `${path}: served without the token`)
    t.equal(r.headers['content-security-policy'], EXPECTED_CSP, `${path}: CSP`)
    t.equal(r.headers['x-content-type-options'], 'nosniff', `${path}: nosniff`)
    t.equal(r.headers['referrer-policy'], 'no-referrer', `${path}: no referrer`)
    t.equal(r.headers['x-frame-options'], 'DENY', `${path}: no framing`)
  }
  t.match((await call(port, '/', own)).headers['content-type'], /^text\/html/)
  t.match((await call(port, '/ui/app.js', own)).headers['content-type'], /^text\/javascript/)
  t.match((await call(port, '/ui/app.css', own)).headers['content-type'], /^text\/css/)

  const api = await call(port, '/api/exchanges', own)
  t.equal(api.status, 401, 'the API still wants the token')
  t.equal((await call(port, '/api/exchanges', { ...own, authorization: `Bearer ${token}` })).status, 200, 'and takes it')

  // The same checks as the API: DNS rebinding and other sites' pages.
  t.equal((await call(port, '/', { host: `evil.example:${port}` })).status, 421, 'a foreign Host is refused')
  t.equal((await call(port, '/ui/app.js', { host: `evil.example:${port}` })).status, 421, 'for the files too')
  t.equal((await call(port, '/', { ...own, 'sec-fetch-site': 'cross-site' })).status, 403, 'a cross-site navigation is refused')
  t.equal((await call(port, '/ui/app.js', { ...own, origin: 'http://evil.example' })).status, 403, 'another origin is refused')
  t.equal((await call(port, '/', { ...own, 'sec-fetch-site': 'none' })).status, 200, 'typed into the address bar: served')
  t.equal((await call(port, '/ui/app.js', { ...own, 'sec-fetch-site': 'same-origin' })).status, 200, 'loaded by the page itself: served')

  // Nothing but the built files.
  for (const path of ['/ui/..%2Fpackage.json', '/ui/%2e%2e%2fpackage.json', '/ui/../package.json', '/ui/app.ts', '/ui/.env', '/ui/index.html%00.js']) {
    const r = await call(port, path, own)
    t.not(r.status, 200, `${path}: not served (${r.status})`)
    t.notMatch(r.body, /"name": "duo-diag-proxy"/, `${path}: no file outside dist/ui`)
  }

  // The OpenAPI document stays the API's: the view's routes are not operations.
  const doc = JSON.parse((await call(port, '/api/openapi.json', { ...own, authorization: `Bearer ${token}` })).body) as { paths: Record<string, unknown> }
  t.same(Object.keys(doc.paths).filter((p) => !p.startsWith('/api/') && !['/healthz', '/readyz', '/metrics'].includes(p)), [], 'no UI path in the OpenAPI document')
  t.ok(isUiPath('/') && isUiPath('/ui/app.js') && !isUiPath('/api/exchanges'), 'isUiPath')
})

t.test('the built page has no inline script, style or external reference', async (t) => {
  await ensureUiBuilt()
  const html = readFileSync(join(UI_DIR, 'index.html'), 'utf8')
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    t.match(m[1], /\bsrc="\/ui\/[a-z.]+"/, 'every script has a same-origin src')
    t.equal(m[2]!.trim(), '', 'and no inline code')
  }
  t.notMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler attribute')
  t.notMatch(html, /https?:\/\//, 'nothing from another origin')
  const css = readFileSync(join(UI_DIR, 'app.css'), 'utf8')
  t.notMatch(css, /@import|url\(\s*['"]?https?:/i, 'the stylesheet loads nothing from elsewhere (no web fonts, no CDN)')
  const js = readFileSync(join(UI_DIR, 'app.js'), 'utf8')
  t.notMatch(js, /\beval\(|new Function\(/, 'no eval in the bundle (CSP has no unsafe-eval)')
})

t.test('without a build: a 503 page saying to run npm run build', async (t) => {
  const app = Fastify()
  registerUiRoutes(app, mkdtempSync(join(tmpdir(), 'ddp-no-ui-')) + '/')
  t.teardown(() => app.close())
  const r = await app.inject({ method: 'GET', url: '/' })
  t.equal(r.statusCode, 503)
  t.match(r.body, /npm run build/)
  t.equal(r.headers['content-security-policy'], EXPECTED_CSP, 'the 503 page has the CSP too')
  t.equal((await app.inject({ method: 'GET', url: '/ui/app.js' })).statusCode, 404, 'no script either')
})
