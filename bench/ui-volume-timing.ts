/**
 * What a reader waits for (issue 18): the browser view in Chromium (Debian's, through
 * playwright-core), navigation to rendered-with-data, a fresh browser context each run; and the
 * API calls behind each page, timed from Node one at a time (loopback: the server's time plus
 * well under a millisecond).
 */
import { chromium, type Browser, type Page } from 'playwright-core'
import { request } from 'undici'
import { median } from './stats.js'

export const CHROMIUM = process.env.DDP_CHROMIUM ?? '/usr/bin/chromium'

/** Every wait is bounded: a view that never renders fails the run instead of hanging it. */
const WAIT_MS = 60_000

export interface Timing {
  median: number
  max: number
  runs: number[]
}

export function timing (runs: number[]): Timing {
  return { median: median(runs), max: Math.max(...runs), runs }
}

/** A view of the browser page, the hash it is opened at, and the API calls it makes for its data. */
export interface ViewCase {
  name: string
  hash: string
  /** The rendered-with-data marker, as a CSS selector. */
  ready: string
  /** API paths (with query) behind the view, timed from Node. */
  api: string[]
  /** Measured from a click on "Older exchanges" after the first page, not from navigation. */
  secondPage?: boolean
}

export interface ViewResult {
  view: ViewCase
  page: Timing
  /** Navigation → the page's first API request: loading and starting the view, before any data. */
  boot: Timing
  /** Slowest /api call per run, as the page saw it (Resource Timing: queued behind others included). */
  pageApi: Timing
  rows: number
}

export async function launch (): Promise<Browser> {
  // Root in a container has no user namespace for Chromium's sandbox.
  return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] })
}

// Run in the page, as self-contained functions (the view's CSP, without 'unsafe-eval', refuses
// strings). This file is compiled without the DOM library, hence the narrow casts.
interface Doc { querySelector (s: string): { click (): void } | null, querySelectorAll (s: string): { length: number } }
type InPage = typeof globalThis & { document: Doc }
const ROWS = '[data-testid="exchanges"] tbody tr'
const rowCount = (rows: string): number => (globalThis as InPage).document.querySelectorAll(rows).length

/** The page's own API calls (Resource Timing): when the first started, and the slowest's duration. */
function apiCalls (): { firstStart: number, slowest: number } {
  const entries = (performance.getEntriesByType('resource') as unknown as Array<{ name: string, startTime: number, responseEnd: number }>)
    .filter((e) => e.name.includes('/api/') && !e.name.includes('/api/stream'))
  return { firstStart: Math.min(...entries.map((e) => e.startTime)), slowest: Math.max(0, ...entries.map((e) => e.responseEnd - e.startTime)) }
}

/** ms from navigation start until `selector` matches (checked every animation frame). */
async function renderedAt (page: Page, selector: string): Promise<number> {
  const handle = await page.waitForFunction((s) => (globalThis as InPage).document.querySelector(s) !== null && performance.now(), selector, { polling: 'raf', timeout: WAIT_MS })
  return await handle.jsonValue() as number
}

/** ms from a click on "Older exchanges" until more rows than `first` are shown. */
async function secondPageAt (page: Page, first: number): Promise<number> {
  const t0 = await page.evaluate(() => {
    const t = performance.now()
    const older = (globalThis as InPage).document.querySelector('[data-testid="older"]')
    older?.click()
    return t
  })
  const handle = await page.waitForFunction(([rows, n, t]) => (globalThis as InPage).document.querySelectorAll(rows).length > n && performance.now() - t, [ROWS, first, t0] as const, { polling: 'raf', timeout: WAIT_MS })
  return await handle.jsonValue() as number
}

async function once (browser: Browser, base: string, view: ViewCase): Promise<{ ms: number, boot: number, api: number, rows: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  try {
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.goto(`${base}/${view.hash}`, { waitUntil: 'commit', timeout: WAIT_MS })
    let ms = await renderedAt(page, view.ready)
    if (view.secondPage === true) ms = await secondPageAt(page, await page.evaluate(rowCount, ROWS))
    if (await page.$('.error-box') !== null) throw new Error(`${view.name}: the page shows an error: ${await page.textContent('.error-box')}`)
    if (errors.length > 0) throw new Error(`${view.name}: page errors: ${errors.join('; ')}`)
    const calls = await page.evaluate(apiCalls)
    return { ms, boot: calls.firstStart, api: calls.slowest, rows: await page.evaluate(rowCount, ROWS) }
  } finally {
    await context.close()
  }
}

/** `runs` fresh contexts, after one not counted (the browser's own first-use costs). */
export async function measureView (browser: Browser, base: string, view: ViewCase, runs: number, deadline: number): Promise<ViewResult> {
  const ms: number[] = []
  const boot: number[] = []
  const api: number[] = []
  let rows = 0
  await once(browser, base, view)
  for (let i = 0; i < runs && (i === 0 || Date.now() < deadline); i++) {
    const r = await once(browser, base, view)
    ms.push(r.ms)
    boot.push(r.boot)
    api.push(r.api)
    rows = r.rows
  }
  return { view, page: timing(ms), boot: timing(boot), pageApi: timing(api), rows }
}

/** One API call from Node: ms until the whole body is read, and the body. */
export async function timeApi (base: string, path: string): Promise<{ ms: number, body: unknown }> {
  const t0 = performance.now()
  const res = await request(base + path, { headersTimeout: WAIT_MS, bodyTimeout: WAIT_MS })
  const text = await res.body.text()
  const ms = performance.now() - t0
  if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${text.slice(0, 200)}`)
  return { ms, body: JSON.parse(text) as unknown }
}

export async function measureApi (base: string, path: string, runs: number, deadline: number): Promise<Timing> {
  const ms: number[] = []
  for (let i = 0; i < runs && (i === 0 || Date.now() < deadline); i++) ms.push((await timeApi(base, path)).ms)
  return timing(ms)
}
