import { parseArgs } from 'node:util'
import { ConfigError } from '../config/errors.js'
import { parseHostPort } from '../config/parse.js'
import { fetchExchanges, formatChecks, formatExplore, formatFailures, formatSummary, checkExpectations } from '../demo/report.js'
import { DEMO_HEADERS_TIMEOUT_MS, DOWN_ROUTE, GATEWAY_ROUTE, MODEL_ROUTE, settle, startDemoStack, TLS_ROUTE, type DemoStack } from '../demo/stack.js'
import { runTraffic } from '../demo/traffic.js'
import type { Lang } from '../i18n/message.js'
import { displayWidth, type ExitCode, msg, out, pad, UsageError } from './output.js'
import { adminListen } from './start.js'

export const demoHelp = (lang: Lang): string => msg(lang, 'help.demo', { gateway: GATEWAY_ROUTE, model: MODEL_ROUTE, tls: TLS_ROUTE, down: DOWN_ROUTE })

export async function demoCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      admin: { type: 'string' },
      listen: { type: 'string' },
      'model-listen': { type: 'string' },
      db: { type: 'string' },
      once: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    out(demoHelp(lang))
    return 0
  }
  const admin = adminListen(values.admin ?? '127.0.0.1:5099', lang)
  if (admin.trim() === 'off') throw new UsageError(msg(lang, 'demo.adminOff'))
  for (const [flag, value] of [['--admin', admin], ['--listen', values.listen], ['--model-listen', values['model-listen']]] as const) {
    if (value !== undefined) parseHostPort(value, flag)
  }

  // From here on, Ctrl-C stops the demo cleanly (after the traffic, when it comes during it).
  const signal = onStopSignal()
  let stack: DemoStack
  try {
    stack = await startDemoStack({
      admin,
      listen: values.listen ?? '127.0.0.1:0',
      modelListen: values['model-listen'] ?? '127.0.0.1:0',
      db: values.db ?? null
    })
  } catch (error) {
    signal.dispose()
    // The demo's settings are its flags: name them, not the configuration keys behind them.
    if (error instanceof ConfigError && error.message.startsWith('admin.listen:')) {
      throw new ConfigError(`--admin${error.message.slice('admin.listen'.length)}${msg(lang, 'demo.pickAnother')}`)
    }
    throw error
  }
  try {
    const ok = await showcase(stack, values.once !== true, lang)
    if (values.once) return ok ? 0 : 1
    out(`\n${msg(lang, 'demo.staysUp')}\n`)
    await signal.received
    out(`\n${msg(lang, 'demo.stopping')}\n`)
    return 0
  } finally {
    signal.dispose()
    await stack.close()
  }
}

/** Prints the set-up, runs the traffic, prints what the proxy made of it. True when every scripted failure got its flag. */
async function showcase (stack: DemoStack, staying: boolean, lang: Lang): Promise<boolean> {
  const modelRoute = stack.routeUrl(MODEL_ROUTE)
  const m = (key: string, params: Record<string, string | number> = {}): string => msg(lang, `demo.${key}`, params)
  // The labels of the set-up lines, padded to one width (display columns: Japanese is 2 a character).
  const proxy = (route: string): string => `${m('proxy')} ${route.padEnd(20)}`
  const labels = [m('modelServer'), m('gateway'), m('tlsGateway'), proxy(GATEWAY_ROUTE), proxy(MODEL_ROUTE), proxy(TLS_ROUTE), m('admin')]
  const width = Math.max(...labels.map(displayWidth))
  const line = (label: string, text: string): void => out(`  ${pad(label, width)} ${text}\n`)
  out(`${m('title')}\n\n`)
  line(m('modelServer'), stack.model.url)
  line(m('gateway'), stack.gateway.url)
  line(m('tlsGateway'), stack.tlsGateway.url)
  line(proxy(GATEWAY_ROUTE), m('toGateway', { url: stack.routeUrl(GATEWAY_ROUTE), seconds: DEMO_HEADERS_TIMEOUT_MS / 1000 }))
  line(proxy(MODEL_ROUTE), m('toModel', { url: modelRoute }))
  line(proxy(TLS_ROUTE), m('toTlsGateway', { url: stack.routeUrl(TLS_ROUTE) }))
  line(m('admin'), `${stack.adminUrl}\n`)

  out(`${m('traffic')}\n`)
  // Scenario and result padded by display width: the lines line up in Japanese too.
  const results = await runTraffic(stack, (r) => {
    out(`  ${pad(m(`scenario.${r.scenario.key}`), 34)} ${pad(r.result, 36)} x-request-id ${r.correlationId}\n`)
  }, lang)
  await settle(stack)
  const exchanges = await fetchExchanges(stack.adminUrl, lang)
  const checks = checkExpectations(results, exchanges)

  out('\n' + formatSummary(exchanges, lang))
  out('\n' + formatFailures(exchanges, lang))
  out('\n' + formatChecks(checks, lang))
  out('\n' + formatExplore(stack, results, staying, lang))
  return checks.every((c) => c.found !== null)
}

/** SIGINT/SIGTERM, caught (not the default exit) until disposed. */
function onStopSignal (): { received: Promise<void>, dispose (): void } {
  let stop = (): void => {}
  const received = new Promise<void>((resolve) => { stop = resolve })
  const handler = (): void => stop()
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    received,
    dispose () {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    }
  }
}
