/**
 * The trace page's "Log lines" (issue 19) in a real Chromium, against a real proxy with a
 * captured request and log lines written for it through the store: one timeline of GitLab's
 * lines, the proxy's steps and the gateway's lines in time order, each with its source, level,
 * message and file:line, its fields on demand; an exchange reconstructed from logs marked "from
 * logs"; a request known from log lines alone. The real CSP on, axe-core in light and dark,
 * no horizontal overflow on a phone, Japanese texts; screenshot `trace-logs`.
 */
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import type { Trace } from '../src/store/trace.js'
import { checkA11y, ensureUiBuilt, haveChromium, launchBrowser, noChromium, watchCsp } from './helpers/browser.js'
import { api, BARE_CID, CAPTURED_CID, type LogStack, RECONSTRUCTED_CID, startLogStack } from './helpers/log-stack.js'

let browser: Browser
let stack: LogStack

/** The trace page of a correlation id, its log lines shown. */
async function openTrace (page: Page, cid: string): Promise<void> {
  await page.goto(`${stack.h.adminUrl}/#/trace/${encodeURIComponent(cid)}`)
  await page.locator('[data-testid="log-timeline"]').waitFor()
}

t.before(async () => {
  if (!haveChromium()) return
  await ensureUiBuilt()
  // Closed when the file's tests end (its teardown is the root's).
  stack = await startLogStack(t)
  browser = await launchBrowser()
})

t.teardown(async () => {
  await browser?.close()
})

t.test('the trace page: log lines and the proxy\'s steps on one timeline', async (t) => {
  if (noChromium(t)) return
  const trace = (await api<Trace>(stack.h, `/api/traces/${CAPTURED_CID}`)).body
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC' })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const csp = watchCsp(page)
  await openTrace(page, CAPTURED_CID)

  t.equal(await page.locator('#log-lines-title').textContent(), 'Log lines')
  t.match(await page.locator('[data-testid="log-lines"] > p.muted').first().textContent(), /^4 lines imported for this request/)
  const items = page.locator('[data-testid="log-timeline"] > li')
  t.equal(await items.count(), trace.timeline.length, 'one item per timeline entry')
  const times = await items.locator('time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime') ?? ''))
  t.same(times, [...times].sort(), 'in time order')
  t.same(times, trace.timeline.map((i) => i.time), 'as the API orders them')

  const logLines = page.locator('[data-testid="log-timeline"] > li.log-line')
  t.equal(await logLines.count(), 4)
  const first = logLines.first()
  t.equal(await first.locator('.log-source').textContent(), 'GitLab llm.log')
  t.equal(await first.locator('.log-level').textContent(), 'INFO')
  t.equal(await first.locator('.log-message').textContent(), 'Performing request to AI Gateway')
  t.equal(await first.locator('.log-origin').textContent(), 'llm.log:10', 'where it was read')
  t.equal(await first.locator('time').textContent(), trace.log_events[0]!.time.slice(11, 23), 'the time to the millisecond')

  const traceback = logLines.filter({ hasText: 'Traceback' })
  t.equal(await traceback.getAttribute('data-level'), 'error')
  t.equal(await traceback.locator('.log-source').textContent(), 'AI gateway')
  t.equal(await traceback.locator('.log-message').textContent(), 'Traceback (most recent call last): …', 'its first line')
  const details = traceback.locator('details')
  t.notOk(await details.locator('pre').isVisible(), 'the whole message folded')
  await details.locator('summary').click()
  t.match(await details.locator('pre').textContent(), /litellm\.NotFoundError: OpenAIException - Not Found/, 'unfolded: the whole traceback')
  const fields = await details.locator('table.log-fields tr').evaluateAll((rows) => rows.map((r) => [r.querySelector('th')?.textContent ?? '', r.querySelector('td')?.textContent ?? '']))
  t.same(fields, [['logger', 'exceptions'], ['exception_class', 'NotFoundError'], ['status_code', '404']], 'and its fields')

  const steps = page.locator('[data-testid="log-timeline"] > li.log-step')
  t.equal(await steps.count(), trace.waterfall.length, 'every step of the captured exchanges')
  t.equal(await steps.locator('.log-source').first().textContent(), 'Proxy')
  const received = steps.filter({ hasText: 'gateway_request_received' })
  const gatewayId = trace.roots[0]!.exchange.id
  await received.locator('a').click()
  await page.waitForURL(/#\/exchange\/[0-9a-f]+$/)
  t.ok(page.url().endsWith(`#/exchange/${gatewayId}`), 'a step links to its exchange')
  // The page shows it once loaded (until then, the trace's own selection).
  await page.locator(`[data-testid="detail"][data-id="${gatewayId}"]`).waitFor()
  await page.locator('[data-testid="log-timeline"]').waitFor()
  t.equal(await page.locator('[data-testid="waterfall"] .wf-bar').count(), 2, 'the waterfall as before: both hops')
  t.equal(await page.locator('[data-testid="from-logs"]').count(), 0, 'captured exchanges are not marked')

  await openTrace(page, CAPTURED_CID)
  // The screenshot with the traceback unfolded (the page may have kept it open).
  if (await details.getAttribute('open') === null) await details.locator('summary').click()
  t.ok(await details.locator('pre').isVisible(), 'the traceback unfolded for the screenshot')
  await checkA11y(t, page, 'trace-logs')
  t.same(csp, [], 'no CSP violation')
})

t.test('reconstructed from logs, and log lines alone', async (t) => {
  if (noChromium(t)) return
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
  t.teardown(() => context.close())
  const page = await context.newPage()
  await openTrace(page, RECONSTRUCTED_CID)
  const mark = page.locator('[data-testid="tree"] [data-testid="from-logs"]')
  t.equal(await mark.count(), 1, 'the reconstructed exchange is marked in the tree')
  t.equal(await mark.textContent(), 'from logs')
  t.match(await mark.getAttribute('title'), /proxy did not see/)
  t.equal(await page.locator('[data-testid="detail"] [data-testid="from-logs"]').count(), 1, 'and in its details')
  t.same(await page.locator('li.log-step .log-source').allTextContents(), ['From logs', 'From logs'], 'its steps come from logs')
  await checkA11y(t, page, 'trace-logs-rebuilt')

  await page.goto(`${stack.h.adminUrl}/#/trace/${BARE_CID}`)
  await page.locator('[data-testid="only-logs"]').waitFor()
  t.match(await page.locator('[data-testid="only-logs"]').textContent(), /No exchange of this request went through the proxy/)
  t.equal(await page.locator('[data-testid="tree"]').count(), 0, 'no empty tree')
  t.equal(await page.locator('li.log-line').count(), 2)
  t.equal(await page.locator('li.log-line').nth(1).getAttribute('data-level'), 'none', 'a line without a level')
  t.equal(await page.locator('li.log-line').nth(1).locator('.log-level').textContent(), '–')
  await checkA11y(t, page, 'trace-logs-only')
})

t.test('on a phone, and in Japanese', async (t) => {
  if (noChromium(t)) return
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ja-JP' })
  t.teardown(() => context.close())
  const page = await context.newPage()
  await openTrace(page, CAPTURED_CID)
  await page.locator('li.log-line details summary').first().click()
  const size = await page.evaluate('({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })') as { scroll: number, client: number }
  t.ok(size.scroll <= size.client, `${size.scroll} px of content in ${size.client} px`)
  t.equal(await page.locator('#log-lines-title').textContent(), 'ログ行')
  t.match(await page.locator('[data-testid="log-lines"] > p.muted').first().textContent(), /インポートしたログ行4件/)
  t.equal(await page.locator('li.log-line .log-source').nth(1).textContent(), 'AIゲートウェイ')
  t.equal(await page.locator('li.log-step .log-source').first().textContent(), 'プロキシ')
  t.equal(await page.locator('li.log-line').first().locator('.log-message').textContent(), 'Performing request to AI Gateway', 'log lines as written')
  await checkA11y(t, page, 'trace-logs-phone-ja')
})
