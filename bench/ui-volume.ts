/**
 * The browser view with real volumes (issue 18): `npm run bench:ui` (≤ ~5 min).
 *
 * 1. Records the demo's real traffic (both hops, failures included) and seeds a fresh SQLite
 *    file with 100 000 exchanges through capture's write path (ui-volume-seed.ts).
 * 2. Starts the proxy over that file as `start` does (src/app.ts: capture worker, query thread,
 *    admin API); its one route points at a port nothing listens on and is never called.
 * 3. Times, in Chromium, navigation → rendered with data: the overview for 15m, 1h, 24h and 7d,
 *    the exchanges list unfiltered and filtered, and its second page (keyset); and each API call
 *    behind them from Node. Prints a markdown table on stdout, progress on stderr.
 *
 * Options: --rows N (100 000), --runs N (5 per measurement), --keep (leave the store file, say where).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { stringify } from 'yaml'
import { startProxy } from '../src/app.js'
import { loadConfig } from '../src/config/load.js'
import { createLogger } from '../src/log/logger.js'
import { seed } from './ui-volume-seed.js'
import { captureTemplates } from './ui-volume-templates.js'
import { CHROMIUM, launch, measureApi, measureView, timeApi, type Timing, type ViewCase, type ViewResult } from './ui-volume-timing.js'

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, runs: { type: 'string', default: '5' }, keep: { type: 'boolean', default: false } } })
const ROWS = Number(args.rows)
const RUNS = Number(args.runs)
/** The whole bench, seeding included; measurements stop repeating past it. */
const DEADLINE = Date.now() + 10 * 60_000
const ROOT = join(import.meta.dirname, '..')

const say = (text: string): void => { process.stderr.write(`${text}\n`) }
const fmt = (t: Timing): string => `${Math.round(t.median)} / ${Math.round(t.max)}`
interface Week { total: number, errors: number, by_route: Record<string, number>, by_feature: Record<string, number>, by_flag: Record<string, number>, by_cause: Record<string, number> }

if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: bash .ci/install-chromium, or set DDP_CHROMIUM`)
// The view as `npm run build` makes it (esbuild: well under a second).
execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-ui.mjs')], { cwd: ROOT, stdio: 'inherit' })

const loadBefore = loadavg().map((x) => x.toFixed(1)).join(' ')
const dir = mkdtempSync(join(tmpdir(), 'ddp-ui-volume-'))
const dbPath = join(dir, 'exchanges.db')
try {
  say('recording the demo traffic …')
  const captured = await captureTemplates()
  say(`${captured.templates.length} templates (${captured.templates.reduce((n, t) => n + t.records.length, 0)} records); seeding ${ROWS} …`)
  let seeded
  try {
    seeded = await seed(dbPath, captured.config, captured.templates, ROWS)
  } finally {
    await captured.stack.close()
  }
  const sizeMiB = statSync(dbPath).size / 1024 / 1024
  say(`seeded ${seeded.stored} in ${seeded.seconds.toFixed(1)} s (${seeded.captureErrors} capture errors), ${sizeMiB.toFixed(1)} MiB`)

  const configFile = join(dir, 'config.yaml')
  writeFileSync(configFile, stringify({
    routes: [{ name: 'gitlab-aigw', listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:9', hop: 'gateway' }],
    admin: { listen: '127.0.0.1:0' },
    store: { path: dbPath },
    log: { level: 'warn', file: join(dir, 'proxy.log') }
  }))
  const config = loadConfig({ file: configFile, env: {} })
  const proxy = await startProxy(config, createLogger(config.log.level, config.log.file))
  const results: ViewResult[] = []
  let week: Week | null = null
  const apiRows: Array<[string, Timing]> = []
  try {
    const base = `http://127.0.0.1:${proxy.admin!.address.port}`
    week = (await timeApi(base, '/api/summary?since=7d')).body as Week
    say(`flags over the week: ${JSON.stringify(week.by_flag)}`)
    const firstPage = (await timeApi(base, '/api/exchanges?limit=50')).body as { next_cursor: string }
    const overview = (w: string, step: number): ViewCase => ({
      name: `overview ${w}`,
      hash: `#/overview?window=${w}`,
      // Counts and chart, and the newest failures below them (a panel loading on its own).
      ready: ['recent-failures', 'no-failures'].map((id) => `[data-testid="overview"][data-window="${w}"][aria-busy="false"] [data-testid="${id}"]`).join(', '),
      api: [`/api/summary?since=${w}`, `/api/timeseries?since=${w}&step=${step}`, `/api/exchanges?failed=true&since=${w}&limit=100`]
    })
    const list = (name: string, qs: string): ViewCase => ({
      name,
      hash: `#/exchanges${qs === '' ? '' : `?${qs}`}`,
      ready: ['[data-testid="exchanges"] tbody tr', '[data-testid="empty"]'].map((s) => `[data-testid="exchanges-page"][aria-busy="false"] ${s}`).join(', '),
      api: [`/api/exchanges?${qs === '' ? '' : `${qs}&`}limit=50`]
    })
    const views: ViewCase[] = [
      overview('15m', 60), overview('1h', 60), overview('24h', 60), overview('7d', 600),
      list('list', ''),
      list('list flag=model_timeout', 'flag=model_timeout'),
      list('list route=gitlab-aigw status=5xx', 'route=gitlab-aigw&status=5xx'),
      list('list status=2xx', 'status=2xx'),
      list('list q=reachable', 'q=reachable'),
      { ...list('list, second page', ''), secondPage: true, api: [`/api/exchanges?limit=50&cursor=${firstPage.next_cursor}`] }
    ]
    const browser = await launch()
    try {
      for (const view of views) {
        say(`timing ${view.name} …`)
        results.push(await measureView(browser, base, view, RUNS, DEADLINE))
      }
    } finally {
      await browser.close()
    }
    for (const path of [...new Set(views.flatMap((v) => v.api))]) apiRows.push([path, await measureApi(base, path, RUNS, DEADLINE)])
  } finally {
    await proxy.close('bench done')
  }

  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  const out = [
    `Store: ${seeded.stored} exchanges seeded in ${seeded.seconds.toFixed(1)} s through capture's write path; SQLite file ${sizeMiB.toFixed(1)} MiB.`,
    week === null ? '' : `Over the 7-day window: ${week.total} exchanges, ${week.errors} failures, ${Object.keys(week.by_route).length} routes, ${Object.keys(week.by_feature).length} features, ${Object.keys(week.by_flag).length} flags, ${Object.keys(week.by_cause).filter((k) => k !== 'none').length} causes.`,
    `Load average before / after: ${loadBefore} / ${loadavg().map((x) => x.toFixed(1)).join(' ')} (${cpus().length} CPUs).`,
    '',
    `Chromium, ${RUNS} runs each after one not counted, a fresh context per run; ms, median / max. The second page is timed from the click on "Older exchanges".`,
    '',
    line(['view', 'rendered (navigation → data)', 'of which page start (→ first API call)', 'slowest API call in the page', 'rows']),
    line(['---', '---', '---', '---', '---']),
    ...results.map((r) => line([r.view.name, fmt(r.page), r.view.secondPage === true ? '–' : fmt(r.boot), fmt(r.pageApi), r.view.name.startsWith('overview') ? '–' : String(r.rows)])),
    '',
    line(['API call (from Node, one at a time)', 'ms, median / max']),
    line(['---', '---']),
    ...apiRows.map(([path, t]) => line([`\`${path.replace(/cursor=[^&]+/, 'cursor=…')}\``, fmt(t)]))
  ]
  process.stdout.write(out.join('\n') + '\n')
  if (args.keep) say(`store kept: ${dbPath}`)
} finally {
  if (!args.keep) rmSync(dir, { recursive: true, force: true })
}
