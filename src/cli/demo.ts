import { parseArgs } from 'node:util'
import { ConfigError } from '../config/errors.js'
import { parseHostPort } from '../config/parse.js'
import { fetchExchanges, formatChecks, formatExplore, formatFailures, formatSummary, checkExpectations } from '../demo/report.js'
import { DEMO_HEADERS_TIMEOUT_MS, DOWN_ROUTE, GATEWAY_ROUTE, MODEL_ROUTE, settle, startDemoStack, TLS_ROUTE, type DemoStack } from '../demo/stack.js'
import { runTraffic } from '../demo/traffic.js'
import { type ExitCode, out, UsageError } from './output.js'
import { adminListen } from './start.js'

export const DEMO_HELP = `Usage: duo-diag-proxy demo [flags]

Shows what the proxy does in under a minute, without a GitLab instance. Starts, on 127.0.0.1:
a simulated vLLM model server, a simulated AI gateway (the 2025 line, GitLab JWT auth on), a
second gateway behind a self-signed certificate, and the proxy in front of them (routes
${GATEWAY_ROUTE}, ${MODEL_ROUTE}, ${TLS_ROUTE}, and ${DOWN_ROUTE} to a port nothing listens on).
Then sends GitLab-shaped traffic through both hops — healthy code completions and chat streams,
an expired token (401), a model endpoint missing /v1 and an unknown model (the gateway's bare
500, the model's 404), a model that times out on Duo Chat (every retry, then the error line), a
hung gateway, the self-signed gateway, the gateway down, a chat stream the IDE cancels — prints
the summary and the failures table from the admin API, and leaves everything up until Ctrl-C.

  --admin HOST:PORT|URL     admin/query API address (or http://HOST:PORT)  [127.0.0.1:5099]
  --listen HOST:PORT        the ${GATEWAY_ROUTE} route (GitLab -> proxy -> gateway)  [127.0.0.1:0]
  --model-listen HOST:PORT  the ${MODEL_ROUTE} route (gateway -> proxy -> model)         [127.0.0.1:0]
  --db PATH                 SQLite store file to keep        [a temporary file, removed on exit]
  --once                    exit after printing, for CI and tests (exit code 1 when a
                            scripted failure was not recorded with its flag)
`

export async function demoCommand (argv: string[]): Promise<ExitCode> {
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
    out(DEMO_HELP)
    return 0
  }
  const admin = adminListen(values.admin ?? '127.0.0.1:5099')
  if (admin.trim() === 'off') throw new UsageError('--admin: the demo reads its results from the admin API; it cannot be off')
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
      throw new ConfigError(`--admin${error.message.slice('admin.listen'.length)}; pick another address, e.g. --admin 127.0.0.1:0`)
    }
    throw error
  }
  try {
    const ok = await showcase(stack, values.once !== true)
    if (values.once) return ok ? 0 : 1
    out('\nEverything stays up until Ctrl-C.\n')
    await signal.received
    out('\nStopping...\n')
    return 0
  } finally {
    signal.dispose()
    await stack.close()
  }
}

/** Prints the set-up, runs the traffic, prints what the proxy made of it. True when every scripted failure got its flag. */
async function showcase (stack: DemoStack, staying: boolean): Promise<boolean> {
  const modelRoute = stack.routeUrl(MODEL_ROUTE)
  out('duo-diag-proxy demo: simulated GitLab Duo traffic through the proxy, on both hops\n\n')
  out(`  model server (vLLM-like)   ${stack.model.url}\n`)
  out(`  AI gateway (JWT auth)      ${stack.gateway.url}\n`)
  out(`  AI gateway, self-signed    ${stack.tlsGateway.url}\n`)
  out(`  proxy ${GATEWAY_ROUTE.padEnd(20)} ${stack.routeUrl(GATEWAY_ROUTE)} -> AI gateway (headers timeout ${DEMO_HEADERS_TIMEOUT_MS / 1000} s)\n`)
  out(`  proxy ${MODEL_ROUTE.padEnd(20)} ${modelRoute} -> model server (GitLab's model endpoint: ${modelRoute}/v1)\n`)
  out(`  proxy ${TLS_ROUTE.padEnd(20)} ${stack.routeUrl(TLS_ROUTE)} -> self-signed AI gateway\n`)
  out(`  admin API                  ${stack.adminUrl}\n\n`)

  out('Traffic (what the client saw):\n')
  const results = await runTraffic(stack, (r) => {
    out(`  ${r.scenario.name.padEnd(34)} ${r.result.padEnd(36)} x-request-id ${r.correlationId}\n`)
  })
  await settle(stack)
  const exchanges = await fetchExchanges(stack.adminUrl)
  const checks = checkExpectations(results, exchanges)

  out('\n' + formatSummary(exchanges))
  out('\n' + formatFailures(exchanges))
  out('\n' + formatChecks(checks))
  out('\n' + formatExplore(stack, results, staying))
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
