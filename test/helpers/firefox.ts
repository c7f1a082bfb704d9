/**
 * The browser view's second browser (issue 18: "current Chromium and Firefox"): Debian's
 * `firefox-esr` package (.ci/install-firefox), driven by puppeteer-core over WebDriver BiDi.
 * playwright-core would need its own patched Firefox build; puppeteer-core drives a stock one
 * and downloads nothing. Without it the tests skip and say why, or fail under
 * DDP_REQUIRE_FIREFOX=1 (set by .ci/run) so CI cannot pass by skipping.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { Browser, Page, PuppeteerNode } from 'puppeteer-core'
import type { Test } from 'tap'
import { SCREENSHOTS } from './browser.js'

// puppeteer-core's CommonJS build, on purpose: its ES build imports chromium-bidi by a path that
// the ts-node loader (@tapjs/typescript, which tap still loads on its first run after `npm ci`,
// before it rebuilds without it) resolves to .../BidiMapper.js.js; require() resolves it the
// Node way whatever loaders are on.
const { launch } = createRequire(import.meta.url)('puppeteer-core') as Pick<PuppeteerNode, 'launch'>

export const FIREFOX = process.env.DDP_FIREFOX ?? '/usr/bin/firefox-esr'

export function haveFirefox (): boolean {
  return existsSync(FIREFOX)
}

/** True (and `t` is ended, skipped or failed) when there is no Firefox to drive. */
export function noFirefox (t: Test): boolean {
  if (haveFirefox()) return false
  const why = `no Firefox at ${FIREFOX}: run bash .ci/install-firefox (Debian's firefox-esr package) or set DDP_FIREFOX`
  if (process.env.DDP_REQUIRE_FIREFOX === '1') t.fail(`Firefox required (DDP_REQUIRE_FIREFOX=1) but missing: ${why}`)
  else t.plan(0, why)
  return true
}

export async function launchFirefox (): Promise<Browser> {
  return await launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    timeout: 30_000,
    extraPrefsFirefox: {
      // The view picks its language from navigator.languages: English, whatever the machine's locale.
      'intl.accept_languages': 'en-US, en'
    }
  })
}

export async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const file = join(SCREENSHOTS, `firefox-${name}.png`)
  await page.screenshot({ path: file as `${string}.png`, fullPage: true })
  return file
}

export interface PageProblems {
  /** CSP violations the page reported (none is the goal: the CSP and the code agree). */
  csp: string[]
  /** Uncaught errors in the page: an API Firefox lacks would show here. */
  errors: string[]
}

/**
 * What goes wrong in a page. Firefox reports a CSP violation over BiDi as a script error (a
 * `pageerror`), not as a console message as Chromium does: both are watched.
 */
export function watchPage (page: Page): PageProblems {
  const seen: PageProblems = { csp: [], errors: [] }
  const note = (text: string): void => {
    if (/Content[- ]Security[- ]Policy/i.test(text)) seen.csp.push(text)
  }
  page.on('console', (m) => note(m.text()))
  page.on('pageerror', (e) => {
    const text = e instanceof Error ? e.message : String(e)
    note(text)
    if (!/Content[- ]Security[- ]Policy/i.test(text)) seen.errors.push(text)
  })
  return seen
}
