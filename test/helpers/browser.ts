/**
 * The browser view's tests drive a real Chromium: Debian's `chromium` package (.ci/install-chromium),
 * through playwright-core, which downloads no browser. Without it the tests skip and say why, or
 * fail under DDP_REQUIRE_CHROMIUM=1 (set by .ci/run) so CI cannot pass by skipping.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { UI_DIR } from '../../src/api/ui.js'

const ROOT = join(import.meta.dirname, '..', '..')
export const CHROMIUM = process.env.DDP_CHROMIUM ?? '/usr/bin/chromium'
/** Screenshots of each page from the run: artefacts, git-ignored. */
export const SCREENSHOTS = join(ROOT, 'artifacts', 'screenshots')


export function haveChromium (): boolean {
  return existsSync(CHROMIUM)
}

/** True (and `t` is ended, skipped or failed) when there is no Chromium to drive. */
export function noChromium (t: Test): boolean {
  if (haveChromium()) return false
  const why = `no Chromium at ${CHROMIUM}: run bash .ci/install-chromium (Debian's chromium package) or set DDP_CHROMIUM`
  if (process.env.DDP_REQUIRE_CHROMIUM === '1') t.fail(`Chromium required (DDP_REQUIRE_CHROMIUM=1) but missing: ${why}`)
  else t.plan(0, why)
  return true
}

export async function launchBrowser (): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespace for Chromium's sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : []
  })
}

function newest (dir: string): number {
  let m = 0
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name)
    m = Math.max(m, name.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return m
}

let built: Promise<void> | null = null

/**
 * dist/ui/ as `npm run build` makes it, rebuilt first when src/ui/ or the catalogs are newer
 * (working on the view, a stale build would be tested otherwise).
 */
export function ensureUiBuilt (): Promise<void> {
  built ??= (async () => {
    const out = join(UI_DIR, 'app.js')
    const sources = Math.max(newest(join(ROOT, 'src', 'ui')), newest(join(ROOT, 'src', 'i18n', 'catalogs')))
    if (existsSync(out) && statSync(out).mtimeMs >= sources) return
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-ui.mjs')], { cwd: ROOT, stdio: 'pipe' })
  })()
  return built
}

/** The pages the README shows, and where `npm run screenshots` writes them (committed: docs, not build output). */
export const README_SCREENSHOTS = join(ROOT, 'docs', 'screenshots')
const README_PAGES = new Set(['overview', 'exchanges', 'trace', 'live', 'doctor', 'faults', 'replay', 'trace-logs'])

export async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const file = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  // `npm run screenshots` (DDP_README_SCREENSHOTS=1): the README's picture of the page, as the
  // reader first sees it (the viewport, not the whole scroll), small enough to commit.
  if (process.env.DDP_README_SCREENSHOTS === '1' && README_PAGES.has(name)) {
    mkdirSync(README_SCREENSHOTS, { recursive: true })
    await page.screenshot({ path: join(README_SCREENSHOTS, `${name}.jpg`), type: 'jpeg', quality: 80 })
  }
  return file
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface AxeViolation { id: string, impact: string | null, help: string, nodes: string[] }

/**
 * axe-core's WCAG checks on the page as it is; the serious and critical violations. Its source is
 * evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not
 * govern, so the page is checked with its real CSP on.
 */
export async function axeViolations (page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE)
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (opts: unknown) => Promise<{ violations: Array<{ id: string, impact: string | null, help: string, nodes: Array<{ target: unknown[] }> }> }> } }).axe
    const r = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }))
  })
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}

/**
 * axe-core in light and dark (no serious or critical violation in either), with a screenshot of
 * each: every page test ends a state this way.
 */
export async function checkA11y (t: Test, page: Page, name: string): Promise<void> {
  t.same(await axeViolations(page), [], `${name}: no serious or critical accessibility violation`)
  await screenshot(page, name)
  await page.emulateMedia({ colorScheme: 'dark' })
  t.same(await axeViolations(page), [], `${name} (dark): no serious or critical accessibility violation`)
  await screenshot(page, `${name}-dark`)
  await page.emulateMedia({ colorScheme: 'light' })
}

/** CSP violations the page reported (none is the goal: the CSP and the code agree). */
export function watchCsp (page: Page): string[] {
  const seen: string[] = []
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) seen.push(m.text())
  })
  return seen
}
