/**
 * The browser view in a real Firefox (issue 18 asks for current Chromium *and* Firefox): Debian's
 * firefox-esr driven by puppeteer-core over WebDriver BiDi, against the demo's stack with the
 * demo's scripted traffic recorded (as test/ui-browser.test.ts does for Chromium). The essentials
 * per page, with the real CSP on; each page kept as artifacts/screenshots/firefox-*.png.
 */
import t, { type Test } from 'tap'
import type { Browser, BrowserContext, Page } from 'puppeteer-core'
import { type DemoStack, MODEL_ROUTE } from '../src/demo/stack.js'
import type { Exchange } from '../src/capture/exchange.js'
import type { Trace } from '../src/store/trace.js'
import { ui as ja } from '../src/i18n/catalogs/ja/ui.js'
import { ensureUiBuilt } from './helpers/browser.js'
import { recordedDemo, type RecordedDemo } from './helpers/demo-recorded.js'
import { haveFirefox, launchFirefox, noFirefox, screenshot, watchPage, type PageProblems } from './helpers/firefox.js'

const VIEWPORT = { width: 1280, height: 800 }
/** Any wait on the page: generous for a loaded machine, still bounded. */
const WAIT = { timeout: 15_000 }

let stack: DemoStack
let browser: Browser
let all: Exchange[]

let api: RecordedDemo['api']

/** A private context per test: its own localStorage, so a language choice stays in its test. */
async function newContext (t: Test): Promise<BrowserContext> {
  const context = await browser.createBrowserContext()
  t.teardown(() => context.close())
  return context
}

async function open (context: BrowserContext, hash: string): Promise<{ page: Page, problems: PageProblems }> {
  const page = await context.newPage()
  await page.setViewport(VIEWPORT)
  const problems = watchPage(page)
  await page.goto(`${stack.adminUrl}/${hash}`)
  return { page, problems }
}

/** The list as `query` asks for it, loaded (the page says which query its rows answer). */
async function listReady (page: Page, query: string): Promise<void> {
  await page.waitForSelector(`[data-testid="exchanges-page"][aria-busy="false"][data-query="${query}"]`, WAIT)
}

async function text (page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (el) => el.textContent ?? '')
}

function clean (t: Test, problems: PageProblems, what: string): void {
  t.same(problems.csp, [], `${what}: no CSP violation`)
  t.same(problems.errors, [], `${what}: no script error`)
}

t.before(async () => {
  if (!haveFirefox()) return
  await ensureUiBuilt()
  const demo = await recordedDemo()
  stack = demo.stack
  all = demo.all
  api = demo.api
  browser = await launchFirefox()
})

t.teardown(async () => {
  await browser?.close()
  await stack?.close()
})

t.test('overview: the counts, and the chart drawn on its canvas', async (t) => {
  if (noFirefox(t)) return
  const { page, problems } = await open(await newContext(t), '#/overview?window=1h')
  await page.waitForSelector('[data-testid="overview"][aria-busy="false"]', WAIT)
  const summary = await api<{ total: number, errors: number, by_flag: Record<string, number> }>('/api/summary?since=1h')
  t.equal((await text(page, '[data-testid="stat-total"] .stat-value')).replace(/,/g, ''), String(summary.total), `requests: ${summary.total}`)
  t.equal((await text(page, '[data-testid="stat-errors"] .stat-value')).replace(/,/g, ''), String(summary.errors), `failures: ${summary.errors}`)
  t.equal((await page.$$('[data-testid="by-flag"] tbody tr')).length, Object.keys(summary.by_flag).length, 'one row per flag')

  // uPlot's canvas: as wide as its box in Firefox's layout, with lines actually painted on it.
  const chart = await page.$eval('[data-testid="timechart"]', (box) => {
    const canvases = [...box.querySelectorAll('canvas')]
    const c = canvases[0]
    if (c === undefined) return { canvases: 0, points: 0, boxWidth: 0, cssWidth: 0, painted: 0 }
    const pixels = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
    let painted = 0
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++
    return { canvases: canvases.length, points: Number(box.getAttribute('data-points')), boxWidth: box.clientWidth, cssWidth: c.getBoundingClientRect().width, painted }
  })
  t.equal(chart.canvases, 1, 'one uPlot canvas')
  t.ok(chart.points >= 60, `an hour by the minute: ${chart.points} points`)
  t.ok(Math.abs(chart.cssWidth - chart.boxWidth) <= 2, `the canvas fills its box: ${chart.cssWidth} of ${chart.boxWidth} px`)
  t.ok(chart.painted > 1000, `the canvas is painted: ${chart.painted} pixels`)
  await screenshot(page, 'overview')
  clean(t, problems, 'overview')
})

t.test('exchanges: newest first; a flag in the URL narrows the list', async (t) => {
  if (noFirefox(t)) return
  const context = await newContext(t)
  const { page, problems } = await open(context, '#/exchanges')
  await listReady(page, '')
  const rows = await page.$$eval('table.exchanges tbody tr', (trs) => trs.map((tr) => ({ id: tr.getAttribute('data-id'), at: Date.parse(tr.getAttribute('data-started-at') ?? '') })))
  t.equal(rows.length, Math.min(all.length, 50), `the first page: ${rows.length} of ${all.length} exchanges`)
  const times = rows.map((r) => r.at)
  t.same(times, [...times].sort((a, b) => b - a), 'newest first')
  t.equal(rows[0]?.id, all[0]!.id, 'the newest exchange on top')
  await screenshot(page, 'exchanges')

  // A flag some but not all exchanges carry, asked for by the URL alone.
  const counts = new Map<string, number>()
  for (const e of all) for (const f of e.flags) counts.set(f, (counts.get(f) ?? 0) + 1)
  const [flag, n] = [...counts].filter(([, c]) => c > 1 && c < all.length).sort((a, b) => b[1] - a[1])[0] ?? ['', 0]
  t.ok(n > 1, `the demo left several exchanges flagged ${flag}`)
  const filtered = await open(context, `#/exchanges?flag=${flag}`)
  await listReady(filtered.page, `flag=${flag}`)
  const badges = await filtered.page.$$eval('table.exchanges tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('.badge')].map((b) => b.textContent)))
  t.equal(badges.length, n, `flag=${flag}: ${n} rows, as many as exchanges with the flag`)
  t.ok(badges.every((b) => b.includes(flag)), 'each row shows the flag as a badge')
  t.equal(await filtered.page.$eval('#f-flag', (el) => (el as unknown as { value: string }).value), flag, 'the filter form shows the URL\'s flag')
  await screenshot(filtered.page, 'exchanges-flag')
  clean(t, problems, 'exchanges')
  clean(t, filtered.problems, 'exchanges filtered')
})

t.test('a trace: the tree, and the waterfall in time order and to scale', async (t) => {
  if (noFirefox(t)) return
  // A gateway request with model calls under it (the model timeout scenario when it is there).
  const child = all.find((e) => e.hop === 'model' && e.parent_id !== null && e.flags.length > 0) ?? all.find((e) => e.hop === 'model' && e.parent_id !== null)
  t.ok(child, 'a linked model call was recorded')
  const parent = all.find((e) => e.id === child!.parent_id)!
  const trace = await api<Trace>(`/api/traces/${encodeURIComponent(parent.correlation_id)}`)
  const { page, problems } = await open(await newContext(t), `#/exchange/${parent.id}`)
  await page.waitForSelector('[data-testid="waterfall"] .wf-bar', WAIT)

  const nested = await page.$$(`[data-testid="tree"] > li[data-id="${parent.id}"] ul li[data-hop="model"]`)
  t.equal(nested.length, trace.roots.find((r) => r.exchange.id === parent.id)!.children.length, 'the model calls sit under their gateway request')

  // Each bar measured in Firefox's layout, against the times the API gives.
  const bars = await page.$$eval('[data-testid="waterfall"] .wf-bar', (els) => els.map((el) => {
    const track = el.parentElement!.getBoundingClientRect()
    const box = el.getBoundingClientRect()
    return { id: el.closest('.wf-row')?.querySelector('.wf-label a')?.getAttribute('href') ?? '', x: box.x - track.x, width: box.width, track: track.width }
  }))
  const span = Number(await page.$eval('[data-testid="waterfall"]', (el) => el.getAttribute('data-span-ms')))
  const inTrace = (nodes: Trace['roots']): Exchange[] => nodes.flatMap((n) => [n.exchange, ...inTrace(n.children)])
  const byId = new Map(inTrace(trace.roots).map((e) => [e.id, e]))
  t.equal(bars.length, byId.size, 'one bar per exchange of the trace')
  // Time 0 is the earliest event: GitLab's send time when it said it (X-Gitlab-Rails-Send-Start).
  const sent = [...byId.values()].map((e) => e.meta.gitlab?.rails_send_start_ms).filter((x): x is number => typeof x === 'number')
  const t0 = Math.min(...[...byId.values()].map((e) => Date.parse(e.started_at)), ...sent)
  const t1 = Math.max(...[...byId.values()].map((e) => Date.parse(e.started_at) + e.timings.duration_ms))
  t.ok(Math.abs(span - Math.max(t1 - t0, 1)) < 0.01, `the axis spans the trace: ${span} ms`)
  const starts: number[] = []
  for (const b of bars) {
    const ex = byId.get(decodeURIComponent(b.id.replace(/^#\/exchange\//, '')))
    if (ex === undefined) {
      t.fail(`a bar for an exchange outside the trace: ${b.id}`)
      continue
    }
    const start = Date.parse(ex.started_at) - t0
    starts.push(start)
    const scale = b.track / span
    t.ok(Math.abs(b.x - start * scale) <= 1.5, `${ex.route} at ${start.toFixed(1)} ms is at ${b.x.toFixed(1)} px (expected ${(start * scale).toFixed(1)})`)
    t.ok(Math.abs(b.width - Math.max(ex.timings.duration_ms * scale, b.track * 0.002)) <= 1.5, `${ex.route}, ${ex.timings.duration_ms.toFixed(1)} ms, is ${b.width.toFixed(1)} px wide (expected ${(ex.timings.duration_ms * scale).toFixed(1)})`)
  }
  t.same(starts, [...starts].sort((a, b) => a - b), `bars in start order: ${starts.map((s) => s.toFixed(1)).join(', ')} ms`)
  await screenshot(page, 'trace')
  clean(t, problems, 'trace')
})

t.test('the live tail shows an exchange that arrives after the page opened', async (t) => {
  if (noFirefox(t)) return
  const { page, problems } = await open(await newContext(t), '#/live')
  // The tail is connected before the request is sent: what shows came over the stream.
  await page.waitForSelector('[data-testid="tail-state"]::-p-text(Live)', WAIT)
  const path = '/v1/models/live-firefox'
  await fetch(`${stack.routeUrl(MODEL_ROUTE)}${path}`).then((r) => r.text())
  await page.waitForSelector(`table.exchanges tbody tr:first-child td.path::-p-text(${path})`, WAIT)
  t.equal(await text(page, 'table.exchanges tbody tr:first-child td.path'), path, `${path} is on top, without a reload`)
  t.match(await text(page, '[data-testid="tail-state"]'), /1 new/, 'counted as new')
  await screenshot(page, 'live')
  clean(t, problems, 'live')
})

t.test('switching to Japanese re-renders the page, the API\'s texts included', async (t) => {
  if (noFirefox(t)) return
  const { page, problems } = await open(await newContext(t), '#/exchanges')
  await listReady(page, '')
  t.equal(await text(page, 'h1'), 'Exchanges', 'English for an English browser')
  await page.select('[data-testid="lang"]', 'ja')
  await page.waitForSelector('h1::-p-text(やり取り)', WAIT)
  t.equal(await page.$eval('html', (el) => el.getAttribute('lang')), 'ja', 'the document says Japanese')
  t.same(await page.$$eval('nav a', (as) => as.map((a) => a.textContent)), [ja.nav.overview, ja.nav.exchanges, ja.nav.live, ja.nav.doctor], 'the navigation in Japanese')
  // The list is fetched again in Japanese: the diagnosis texts come from the API, as it gives them.
  const res = await fetch(`${stack.adminUrl}/api/exchanges?limit=50`, { headers: { 'accept-language': 'ja' } })
  const jaCause = ((await res.json()) as { items: Exchange[] }).items.map((e) => e.diagnosis?.cause).find((c) => c !== undefined) ?? ''
  t.match(jaCause, /[\u3040-\u30ff\u4e00-\u9fff]/, `the API's newest cause, in Japanese: ${jaCause}`)
  await page.waitForSelector(`td.cause::-p-text(${JSON.stringify(jaCause)})`, WAIT)
  t.pass('shown in the list')
  await screenshot(page, 'exchanges-ja')
  clean(t, problems, 'Japanese')
})

t.test('keyboard: Tab reaches the skip link, then the navigation; Enter follows it', async (t) => {
  if (noFirefox(t)) return
  const { page, problems } = await open(await newContext(t), '#/exchanges')
  await listReady(page, '')
  // What has the focus, read with :focus (the tests' TypeScript has no DOM globals).
  const focused = async (selector: string): Promise<string[]> => await page.$$eval(`${selector}:focus`, (els) => els.map((el) => el.getAttribute('href') ?? ''))
  await page.keyboard.press('Tab')
  t.same(await focused('a.skip'), ['#main'], 'the first Tab reaches the skip link')
  const reached: string[] = []
  for (let i = 0; i < 10 && !reached.includes('#/live'); i++) {
    await page.keyboard.press('Tab')
    reached.push(...await focused('nav a'))
  }
  t.same(reached, ['#/overview', '#/exchanges', '#/live'], 'each navigation link, in order')
  await page.keyboard.press('Enter')
  await page.waitForSelector('nav a[aria-current="page"][href="#/live"]', WAIT)
  await page.waitForSelector('[data-testid="tail-state"]', WAIT)
  t.match(page.url(), /#\/live$/, 'Enter on a link opens its page')
  clean(t, problems, 'keyboard')
})

t.test('the page\'s CSP is on, and a violation would be seen', async (t) => {
  if (noFirefox(t)) return
  // Guards the "no CSP violation" checks above: they would catch one.
  const { page, problems } = await open(await newContext(t), '#/overview')
  await page.waitForSelector('[data-testid="overview"]', WAIT)
  const ran = await page.$eval('body', (body) => {
    const s = body.ownerDocument.createElement('script')
    s.textContent = 'document.documentElement.dataset.inline = "ran"'
    body.append(s)
    return body.ownerDocument.documentElement.getAttribute('data-inline') === 'ran'
  })
  t.notOk(ran, 'an inline script is blocked')
  for (let i = 0; i < 50 && problems.csp.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  t.match(problems.csp.join('\n'), /script-src/, 'and reported')
})
