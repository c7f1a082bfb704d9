/**
 * The browser view's faults panel (issue 18) in a real Chromium: a real proxy with fault
 * injection on, in front of the model server simulator. A rule added through the page is the
 * API's rule and makes real requests through the proxy fail; removed through the page, they
 * pass again. The API's refusal reaches the reader; a proxy without fault injection hides the
 * page from the nav and explains how to turn it on. axe-core in light and dark, screenshots.
 */
import t, { type Test } from 'tap'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { request } from 'undici'
import type { FaultRule } from '../src/faults/rules.js'
import { ui as jaUi } from '../src/i18n/catalogs/ja/ui.js'
import { DEFAULT_MODEL, startModelServer, type ModelServer } from './fixtures/model-server.js'
import { axeViolations, ensureUiBuilt, haveChromium, launchBrowser, noChromium, screenshot, watchCsp } from './helpers/browser.js'
import { type Harness, startHarness } from './helpers/proxy-harness.js'

const VIEWPORT = { width: 1280, height: 900 }
const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })

let model: ModelServer
let on: Harness
let off: Harness
let browser: Browser

interface Answer { status: number, fault: string | undefined, body: string }

/** A real request through the proxy's model route. */
async function through (h: Harness, method: 'GET' | 'POST', path: string): Promise<Answer> {
  const r = await request(`${h.url('model')}${path}`, {
    method,
    body: method === 'POST' ? CHAT : undefined,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {}
  })
  const fault = r.headers['x-duo-diag-fault']
  return { status: r.statusCode, fault: typeof fault === 'string' ? fault : undefined, body: await r.body.text() }
}

async function rulesInForce (): Promise<FaultRule[]> {
  const res = await fetch(`${on.adminUrl}/api/faults`)
  if (!res.ok) throw new Error(`GET /api/faults: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { rules: FaultRule[] }).rules
}

async function addByApi (body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${on.adminUrl}/api/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  if (res.status !== 201) throw new Error(`POST /api/faults: ${res.status} ${await res.text()}`)
}

async function clearRules (): Promise<void> {
  const res = await fetch(`${on.adminUrl}/api/faults`, { method: 'DELETE' })
  if (!res.ok) throw new Error(`DELETE /api/faults: ${res.status}`)
}

async function newContext (t: Test, locale = 'en-US'): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: VIEWPORT, locale })
  t.teardown(() => context.close())
  return context
}

/** The page with its rules loaded, and the nav's answer to "is fault injection on?" in. */
async function openFaults (context: BrowserContext): Promise<{ page: Page, csp: string[] }> {
  const page = await context.newPage()
  const csp = watchCsp(page)
  await page.goto(`${on.adminUrl}/#/faults`)
  await page.locator('[data-testid="faults-page"][aria-busy="false"]').waitFor()
  await page.locator('nav[data-faults="on"]').waitFor()
  return { page, csp }
}

async function checkA11y (t: Test, page: Page, name: string): Promise<void> {
  t.same(await axeViolations(page), [], `${name}: no serious or critical accessibility violation`)
  await screenshot(page, name)
  await page.emulateMedia({ colorScheme: 'dark' })
  t.same(await axeViolations(page), [], `${name} (dark): no serious or critical accessibility violation`)
  await screenshot(page, `${name}-dark`)
  await page.emulateMedia({ colorScheme: 'light' })
}

t.before(async () => {
  if (!haveChromium()) return
  await ensureUiBuilt()
  model = await startModelServer()
  on = await startHarness({ routes: [{ name: 'model', upstream: model.url }], extra: { faults: { enabled: true } } })
  off = await startHarness({ routes: [{ name: 'model', upstream: model.url }] })
  browser = await launchBrowser()
})

t.teardown(async () => {
  await browser?.close()
  await on?.close()
  await off?.close()
  await model?.close()
})

t.test('a preset added through the form fails real requests; removed, they pass again', async (t) => {
  if (noChromium(t)) return
  await clearRules()
  const before = await through(on, 'POST', '/v1/chat/completions')
  t.same([before.status, before.fault], [200, undefined], 'before: the chat completion passes')

  const { page, csp } = await openFaults(await newContext(t))
  t.equal(await page.locator('nav a', { hasText: 'Faults' }).count(), 1, 'the nav offers the page')
  t.equal(await page.locator('[data-testid="fault-none"]').count(), 1, 'no rule yet')

  await page.selectOption('#fault-preset', 'inference-failed')
  await page.fill('#fault-name', 'ui-503')
  await page.fill('#fault-route', 'model')
  await page.selectOption('#fault-method', 'POST')
  await page.fill('#fault-path', '/v1/chat')
  await page.click('[data-testid="fault-submit"]')
  const row = page.locator('[data-testid="fault-row"][data-name="ui-503"]')
  await row.waitFor()
  t.equal(await page.locator('[data-testid="fault-notice"]').textContent(), 'Rule ui-503 added.', 'the page says so')

  const rules = await rulesInForce()
  t.equal(rules.length, 1, 'one rule in force')
  t.match(rules[0], { name: 'ui-503', match: { route: 'model', method: 'POST', path: '/v1/chat', percent: 100 }, action: { respond: { status: 503 } } }, 'the API holds the rule as the form described it')
  t.match(await row.textContent(), /Route\s*model.*Method\s*POST.*Path starts with\s*\/v1\/chat.*Answers 503 itself.*100%/s, 'the row shows what it matches and what it does')

  const faulted = await through(on, 'POST', '/v1/chat/completions')
  t.same([faulted.status, faulted.fault, faulted.body], [503, 'ui-503', JSON.stringify({ detail: 'Inference failed' })], 'a chat completion now gets the injected 503')
  const other = await through(on, 'GET', '/v1/models')
  t.same([other.status, other.fault], [200, undefined], 'a request the rule does not match still passes')

  await row.locator('summary').click()
  t.match(await row.locator('.fault-body pre').textContent(), /content-type: application\/json\s+\{"detail":"Inference failed"\}/, 'the injected response, headers and body, on request')
  await checkA11y(t, page, 'faults')

  await page.getByRole('button', { name: 'Remove rule ui-503' }).click()
  await page.locator('[data-testid="fault-none"]').waitFor()
  t.equal(await page.locator('[data-testid="fault-notice"]').textContent(), 'Rule ui-503 removed.', 'the page says so')
  t.same(await rulesInForce(), [], 'the API holds no rule')
  t.equal(await page.locator(':focus').getAttribute('id'), 'fault-rules-title', 'the keyboard stays in the list')
  const after = await through(on, 'POST', '/v1/chat/completions')
  t.same([after.status, after.fault], [200, undefined], 'the chat completion passes again')
  t.same(csp, [], 'no CSP violation')
})

t.test('remove all asks first, by keyboard too', async (t) => {
  if (noChromium(t)) return
  await clearRules()
  await addByApi({ name: 'a', preset: 'missing-v1', route: 'model' })
  await addByApi({ name: 'b', preset: 'gateway-down', path: '/v1/models' })
  const { page } = await openFaults(await newContext(t))
  await page.locator('[data-testid="fault-row"]').nth(1).waitFor()

  await page.focus('[data-testid="fault-remove-all"]')
  await page.keyboard.press('Enter')
  await page.locator('[data-testid="fault-confirm-all"]').waitFor()
  t.match(await page.locator('.fault-confirm').textContent(), /Remove all 2 rules\?/, 'asks, with the count')
  t.equal(await page.locator(':focus').textContent(), 'Cancel', 'the harmless choice has the focus')
  await checkA11y(t, page, 'faults-confirm')
  await page.keyboard.press('Escape')
  await page.locator('[data-testid="fault-remove-all"]').waitFor()
  t.equal(await page.locator(':focus').getAttribute('data-testid'), 'fault-remove-all', 'Escape steps back, focus on the first button')
  t.equal((await rulesInForce()).length, 2, 'nothing removed by asking')

  await page.keyboard.press('Enter')
  await page.locator('.fault-confirm button.secondary:focus').waitFor()
  await page.keyboard.press('Shift+Tab')
  await page.locator('[data-testid="fault-confirm-all"]:focus').waitFor()
  await page.keyboard.press('Enter')
  await page.locator('[data-testid="fault-none"]').waitFor()
  t.equal(await page.locator('[data-testid="fault-notice"]').textContent(), '2 rules removed.', 'the page says how many')
  t.same(await rulesInForce(), [], 'the API holds no rule')
})

t.test('bad input: the API\'s own message, and no rule added', async (t) => {
  if (noChromium(t)) return
  await clearRules()
  const { page } = await openFaults(await newContext(t))
  for (const [field, value] of [['#fault-header', 'no colon here'], ['#fault-percent', 'lots'], ['#fault-name', 'two words']] as const) {
    await page.fill('#fault-header', '')
    await page.fill('#fault-percent', '100')
    await page.fill('#fault-name', '')
    await page.fill(field, value)
    const body: Record<string, string> = { preset: 'missing-v1', [field.slice('#fault-'.length)]: value }
    const direct = await fetch(`${on.adminUrl}/api/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const refusal = await direct.json() as { message: string }
    t.equal(direct.status, 400, `${field} "${value}": the API refuses it`)
    await page.click('[data-testid="fault-submit"]')
    const error = page.locator('[data-testid="fault-error"]', { hasText: refusal.message })
    await error.waitFor()
    t.equal(await error.textContent(), `The API refused this rule: ${refusal.message}`, `${field}: the page shows the API's message`)
    t.equal(await error.getAttribute('role'), 'alert', 'announced')
  }
  t.same(await rulesInForce(), [], 'no rule was added')
  t.equal(await page.locator('[data-testid="fault-none"]').count(), 1, 'the list still says so')
  await checkA11y(t, page, 'faults-refused')
})

t.test('in Japanese', async (t) => {
  if (noChromium(t)) return
  const { page } = await openFaults(await newContext(t, 'ja-JP'))
  t.equal(await page.locator('h1').textContent(), jaUi.faults.title, 'the heading from the ja catalog')
  t.equal(await page.locator('nav a', { hasText: jaUi.nav.faults }).count(), 1, 'the nav entry too')
})

t.test('fault injection off: no nav entry, and the page says how to turn it on', async (t) => {
  if (noChromium(t)) return
  const probe = await fetch(`${off.adminUrl}/api/faults`)
  t.equal(probe.status, 409, 'the API answers 409 on this proxy')
  await probe.text()
  const page = await (await newContext(t)).newPage()
  const csp = watchCsp(page)
  await page.goto(`${off.adminUrl}/#/overview`)
  await page.locator('nav[data-faults="off"]').waitFor()
  t.same(await page.locator('nav a').allTextContents(), ['Overview', 'Exchanges', 'Live tail', 'Doctor'], 'no Faults entry')

  await page.goto(`${off.adminUrl}/#/faults`)
  const panel = page.locator('[data-testid="faults-off"]')
  await panel.waitFor()
  t.equal(await panel.locator('h1').textContent(), 'Fault injection is off', 'says it is off')
  t.match(await panel.textContent(), /set faults\.enabled: true in the configuration file.*--faults.*restart/, 'how to turn it on')
  t.equal(await panel.locator('pre').textContent(), 'faults:\n  enabled: true', 'the YAML to add')
  await checkA11y(t, page, 'faults-off')
  t.same(csp, [], 'no CSP violation')
})
