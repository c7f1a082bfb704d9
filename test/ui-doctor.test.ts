/**
 * The doctor page (`#/doctor`, issue 18) in a real Chromium: the checks run from the page
 * through POST /api/doctor, each result appears while the run is still under way (the model
 * server holds /health until the test releases it), then the summary; a second run from another
 * tab is told the checks are busy; the page in Japanese; axe-core in light and dark.
 */
import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { axeViolations, ensureUiBuilt, launchBrowser, noChromium, screenshot, watchCsp } from './helpers/browser.js'
import { startGatedModelServer } from './helpers/doctor-upstreams.js'
import { refusedPort } from './helpers/fault-servers.js'
import { startHarness } from './helpers/proxy-harness.js'

const VIEWPORT = { width: 1280, height: 800 }

async function checkA11y (t: Test, page: Page, name: string): Promise<void> {
  t.same(await axeViolations(page), [], `${name}: no serious or critical accessibility violation`)
  await screenshot(page, name)
  await page.emulateMedia({ colorScheme: 'dark' })
  t.same(await axeViolations(page), [], `${name} (dark): no serious or critical accessibility violation`)
  await screenshot(page, `${name}-dark`)
  await page.emulateMedia({ colorScheme: 'light' })
}

/** The results shown, in order: check id, route, status. */
async function shown (page: Page): Promise<string[]> {
  return await page.locator('[data-testid="doctor-results"] li').evaluateAll((items) =>
    items.map((li) => `${li.getAttribute('data-check')}@${li.getAttribute('data-route')}:${li.getAttribute('data-status')}`))
}

t.test('run the checks from the page: results as they arrive, the summary, busy, Japanese', async (t) => {
  if (noChromium(t)) return
  await ensureUiBuilt()
  const gateway = await startAiGateway()
  const model = await startGatedModelServer(['gated-model'])
  const down = await refusedPort()
  const h = await startHarness({
    routes: [
      { name: 'gitlab-aigw', upstream: gateway.url },
      { name: 'aigw-down', upstream: `http://127.0.0.1:${down}`, hop: 'gateway' },
      { name: 'vllm', upstream: model.url, hop: 'model' }
    ]
  })
  const browser = await launchBrowser()
  t.teardown(async () => {
    model.release()
    await browser.close()
    await h.close()
    await Promise.all([gateway.close(), model.close()])
  })
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-US' })
  const page = await context.newPage()
  const csp = watchCsp(page)
  await page.goto(`${h.adminUrl}/#/doctor`)
  t.equal(await page.locator('nav a[aria-current="page"]').textContent(), 'Doctor', 'the nav entry, current')
  await page.fill('#doctor-model', 'gated-model')
  await page.locator('[data-testid="doctor-run"]').click()

  // The model holds /health: what shows now arrived before the run could end.
  await page.locator('[data-testid="doctor-results"] li[data-check="model.tcp"]').waitFor()
  await model.healthAsked
  t.same(await shown(page), [
    'gateway.dns@gitlab-aigw:pass', 'gateway.tcp@gitlab-aigw:pass', 'gateway.healthz@gitlab-aigw:pass', 'gateway.ready@gitlab-aigw:pass',
    'gateway.dns@aigw-down:pass', 'gateway.tcp@aigw-down:fail',
    'model.url_v1@vllm:skip', 'model.dns@vllm:pass', 'model.tcp@vllm:pass'
  ], 'the results so far, in the order they completed')
  t.equal(await page.locator('[data-testid="doctor-summary"]').count(), 0, 'no summary while the run is under way')
  t.equal(await page.locator('[data-testid="doctor-page"]').getAttribute('aria-busy'), 'true')
  t.ok(await page.locator('[data-testid="doctor-run"]').isDisabled(), 'the button waits for the run')
  t.equal(await page.locator('[data-testid="doctor-results"]').getAttribute('aria-live'), 'polite', 'results are announced as they arrive')
  t.match(await page.locator('[data-testid="doctor-status"]').textContent(), /^Running the checks/, 'the status line says it runs')

  // Another tab meanwhile: one run at a time, said in words.
  const other = await context.newPage()
  await other.goto(`${h.adminUrl}/#/doctor`)
  await other.locator('[data-testid="doctor-run"]').click()
  t.match(await other.locator('[data-testid="doctor-error"]').textContent(), /already running/, 'busy: the other tab is told')
  await other.close()

  model.release()
  await page.locator('[data-testid="doctor-summary"]').waitFor()
  const all = await shown(page)
  t.same(all.slice(9), ['model.health@vllm:pass', 'model.models@vllm:pass', 'model.name@vllm:pass', 'model.chat_completion@vllm:skip'], 'then the rest')
  const stat = async (s: string): Promise<number> => Number(await page.locator(`[data-testid="doctor-summary"] [data-status="${s}"] .stat-value`).textContent())
  for (const s of ['pass', 'warn', 'fail', 'skip']) t.equal(await stat(s), all.filter((x) => x.endsWith(`:${s}`)).length, `summary: ${s} counted`)
  t.equal(await page.locator('[data-testid="doctor-summary"]').getAttribute('data-verdict'), 'someFailed')
  t.equal(await page.locator('[data-testid="doctor-status"]').textContent(), 'Done. Passed: 10, warnings: 0, failed: 1, skipped: 2.', 'the status line says how it ended')
  const failed = page.locator('li[data-check="gateway.tcp"][data-route="aigw-down"]')
  t.equal(await failed.locator('.doctor-badge').textContent(), 'Fail')
  t.match(await failed.locator('.doctor-evidence').textContent(), `connect to 127.0.0.1:${down}: ECONNREFUSED`)
  t.match(await failed.locator('.doctor-step').textContent(), `Nothing listens on 127.0.0.1:${down}`, 'its next step')
  t.ok(await page.locator('[data-testid="doctor-run"]').isEnabled(), 'ready for another run')
  await checkA11y(t, page, 'doctor')
  t.same(csp, [], 'no CSP violation')

  const ja = await browser.newContext({ viewport: VIEWPORT, locale: 'ja-JP' })
  t.teardown(() => ja.close())
  const jaPage = await ja.newPage()
  await jaPage.goto(`${h.adminUrl}/#/doctor`)
  t.equal(await jaPage.locator('nav a[aria-current="page"]').textContent(), 'クイックチェック')
  await jaPage.locator('[data-testid="doctor-run"]').click()
  await jaPage.locator('[data-testid="doctor-summary"]').waitFor()
  const healthz = jaPage.locator('li[data-check="gateway.healthz"][data-route="gitlab-aigw"]')
  t.equal(await healthz.locator('.doctor-name').textContent(), 'AIゲートウェイのヘルス', 'check names as the CLI says them in Japanese')
  t.equal(await healthz.locator('.doctor-badge').textContent(), 'OK')
  t.match(await jaPage.locator('li[data-check="gateway.tcp"][data-route="aigw-down"] .doctor-step').textContent(), /待ち受けているものがありません/, 'next steps in Japanese')
  t.match(await jaPage.locator('[data-testid="doctor-status"]').textContent(), /^完了しました。合格9件、警告0件、失敗1件、スキップ2件。$/, 'no model name: no model.name check')
  await checkA11y(t, jaPage, 'doctor-ja')
})
