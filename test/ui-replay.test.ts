/**
 * The trace page's Replay (issue 18) in a real Chromium: a failing exchange captured by the real
 * proxy (a model endpoint without /v1), replayed from the page — by keyboard — to a configured
 * staging model server that wants its own API key, which the proxy reads from the environment.
 * The outcome stands beside the original, its link opens the replay's record; axe-core finds no
 * serious or critical violation in light or dark. Without targets, the page offers no Replay.
 */
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import type { Exchange } from '../src/capture/exchange.js'
import { startModelServer, type ModelServer } from './fixtures/model-server.js'
import { checkA11y, ensureUiBuilt, haveChromium, launchBrowser, noChromium, watchCsp } from './helpers/browser.js'
import { sendChat } from './helpers/failure-stack.js'
import { type Harness, startHarness } from './helpers/proxy-harness.js'

const VIEWPORT = { width: 1280, height: 800 }
const KEY_VARIABLE = 'DDP_TEST_UI_STAGING_AUTHORIZATION'
const STAGING_KEY = 'staging-vllm-key-5b8e21d0c7'

let browser: Browser
let production: ModelServer
let staging: ModelServer
let h: Harness
let bare: Harness
let original: Exchange

/** The trace page of an exchange, once it knows whether to offer Replay. */
async function openExchange (page: Page, harness: Harness, id: string): Promise<void> {
  await page.goto(`${harness.adminUrl}/#/exchange/${id}`)
  await page.locator(`[data-testid="detail"][data-id="${id}"]`).waitFor()
  await page.locator('[data-replay-targets]').waitFor()
}

t.before(async () => {
  if (!haveChromium()) return
  await ensureUiBuilt()
  production = await startModelServer()
  staging = await startModelServer({ apiKey: STAGING_KEY })
  h = await startHarness({
    routes: [{ name: 'model', upstream: production.url, hop: 'model' }],
    env: { [KEY_VARIABLE]: `Bearer ${STAGING_KEY}` },
    extra: { replay: { targets: [{ name: 'staging-vllm', url: `${staging.url}/v1`, headers_from_env: { authorization: KEY_VARIABLE } }] } }
  })
  bare = await startHarness({ routes: [{ name: 'model', upstream: production.url, hop: 'model' }] })
  // GitLab's model endpoint set without /v1: the model server answers 404.
  await sendChat(h, 'model', '/chat/completions', 'ui-nov1-1')
  await sendChat(bare, 'model', '/chat/completions', 'ui-bare-1')
  original = (await h.exchanges('correlation_id=ui-nov1-1'))[0]!
  browser = await launchBrowser()
})

t.teardown(async () => {
  await browser?.close()
  await h?.close()
  await bare?.close()
  await production?.close()
  await staging?.close()
})

t.test('replay a failing exchange from its trace page, by keyboard, and follow the link', async (t) => {
  if (noChromium(t)) return
  t.equal(original.status, 404, 'the original failed: no /v1')
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-US' })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const csp = watchCsp(page)
  await openExchange(page, h, original.id)
  t.equal(await page.locator('[data-replay-targets]').getAttribute('data-replay-targets'), '1')

  const open = page.locator('[data-testid="replay-open"]')
  t.equal(await open.textContent(), 'Replay…')
  t.equal(await open.getAttribute('aria-expanded'), 'false')
  await open.focus()
  await page.keyboard.press('Enter')
  await page.locator('[data-testid="replay-panel"]').waitFor()
  t.equal(await open.getAttribute('aria-expanded'), 'true')
  t.equal(await open.getAttribute('aria-controls'), 'replay', 'the button names the panel it opened')
  t.equal(await page.locator(':focus').getAttribute('id'), 'replay-target', 'the keyboard is on the target choice')
  t.same(await page.locator('#replay-target option').allTextContents(), [`staging-vllm (${staging.url}/v1)`])
  await page.keyboard.press('Tab')
  t.equal(await page.locator(':focus').getAttribute('data-testid'), 'replay-run', 'Tab reaches the Replay button')
  await page.keyboard.press('Enter')

  const outcome = page.locator('[data-testid="replay-outcome"]')
  await outcome.waitFor()
  const cells = async (row: string): Promise<string[]> => await outcome.locator(`tr[data-row="${row}"] td`).allTextContents()
  t.same(await cells('status'), ['404', '200'], 'status: original 404, replay 200')
  t.same(await cells('flags'), ['not_found', '–'], 'flags: the original\'s, none on the replay')
  const [cause, replayCause] = await cells('cause')
  t.equal(cause, original.diagnosis?.cause, 'the original\'s cause')
  t.equal(replayCause, '–', 'the replay has none')
  t.match(await page.locator('[data-testid="replay-status"]').textContent(), /^Replayed to staging-vllm: status 200$/, 'announced in the status region')
  t.equal(staging.requests.length, 1, 'staging received the replay')
  t.equal(staging.requests[0]!.path, '/v1/chat/completions', 'below the target\'s /v1')
  t.equal(staging.requests[0]!.headers.authorization, `Bearer ${STAGING_KEY}`, 'with the key from the proxy\'s environment')
  const replayId = await outcome.getAttribute('data-replay-id')
  t.match(replayId, /^[0-9a-f]{24}$/)
  await checkA11y(t, page, 'replay')

  // The link, by keyboard: the replay's own record, linked to the original.
  await page.locator('[data-testid="replay-link"]').focus()
  await page.keyboard.press('Enter')
  await page.waitForURL(new RegExp(`#/exchange/${replayId}$`))
  await page.locator(`[data-testid="detail"][data-id="${replayId}"]`).waitFor()
  t.equal(await page.locator('#summary .status').first().textContent(), '200', 'the replay\'s record: status 200')
  t.equal(await page.locator('[data-testid="replay-panel"]').count(), 0, 'the panel closed with the navigation')
  const record = await (await fetch(`${h.adminUrl}/api/exchanges/${replayId}`)).json() as Exchange
  t.equal(record.meta.replay_of, original.id)
  t.equal(record.meta.reported_by, 'replay')
  t.same(csp, [], 'no CSP violation')
})

t.test('in Japanese, the control speaks Japanese', async (t) => {
  if (noChromium(t)) return
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'ja-JP' })
  t.teardown(() => context.close())
  const page = await context.newPage()
  await openExchange(page, h, original.id)
  t.equal(await page.locator('[data-testid="replay-open"]').textContent(), 'リプレイ…')
  await page.locator('[data-testid="replay-open"]').click()
  t.equal(await page.locator('#replay-title').textContent(), 'ステージングへのリプレイ')
})

t.test('without a configured target, the page offers no Replay', async (t) => {
  if (noChromium(t)) return
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-US' })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const [ex] = await bare.exchanges() as [Exchange]
  await openExchange(page, bare, ex.id)
  t.equal(await page.locator('[data-replay-targets]').getAttribute('data-replay-targets'), '0', 'the page asked: no targets')
  t.equal(await page.locator('[data-testid="replay-open"]').count(), 0, 'no Replay button')
})
