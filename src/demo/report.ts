/**
 * What the demo prints after its traffic, all read back from its own admin API: the summary
 * (counts by flag), the failures table, whether each scripted failure got its flag, and the
 * commands to explore further. In the command's language (the cli catalog's `demo`), the
 * diagnoses as the admin API renders them in it.
 */
import { request } from 'undici'
import type { Exchange } from '../capture/exchange.js'
import { table } from '../cli/output.js'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'
import { DEFAULT_MODEL } from '../sim/model-completions.js'
import { GATEWAY_ROUTE, MODEL_ROUTE, type DemoStack } from './stack.js'
import type { Expectation, ScenarioResult } from './traffic.js'

const say = (lang: Lang, key: string, params: Record<string, string | number> = {}): string => t(lang, `cli:demo.${key}`, params)

/** Every exchange recorded, oldest first; the diagnoses in `lang`. */
export async function fetchExchanges (adminUrl: string, lang: Lang = 'en'): Promise<Exchange[]> {
  const items: Exchange[] = []
  let cursor: string | null = null
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`
    const res = await request(`${adminUrl}/api/exchanges?limit=1000${query}`, { headers: { 'accept-language': lang } })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`GET /api/exchanges answered ${res.statusCode}: ${text.slice(0, 200)}`)
    const page = JSON.parse(text) as { items: Exchange[], next_cursor: string | null }
    items.push(...page.items)
    cursor = page.next_cursor
  } while (cursor !== null)
  return items.reverse()
}

export function formatSummary (exchanges: Exchange[], lang: Lang = 'en'): string {
  const count = (pred: (e: Exchange) => boolean): number => exchanges.filter(pred).length
  const flagged = count((e) => e.flags.length > 0)
  const byFlag = new Map<string, number>()
  for (const e of exchanges) for (const f of e.flags) byFlag.set(f, (byFlag.get(f) ?? 0) + 1)
  const rows = [...byFlag.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([f, n]) => [f, String(n)])
  const head = say(lang, 'summary', {
    total: exchanges.length, gateway: count((e) => e.hop === 'gateway'), model: count((e) => e.hop === 'model'), clean: exchanges.length - flagged, flagged
  })
  return `${head}\n\n` + indent(table([say(lang, 'column.flag'), say(lang, 'column.exchanges')], rows))
}

/** One row per flagged exchange, oldest first: time, route, correlation id, status, flags, cause. */
export function formatFailures (exchanges: Exchange[], lang: Lang = 'en'): string {
  const rows = exchanges.filter((e) => e.flags.length > 0).map((e) => [
    e.started_at.slice(11, 23),
    e.route,
    e.correlation_id,
    e.status === null ? (e.proxy_answered ? say(lang, 'proxyAnswered') : '-') : String(e.status),
    e.flags.join(','),
    e.diagnosis?.cause ?? ''
  ])
  const columns = ['timeUtc', 'route', 'correlationId', 'status', 'flags', 'cause'].map((c) => say(lang, `column.${c}`))
  return `${say(lang, 'failures')}\n\n` + indent(table(columns, rows))
}

export interface ExpectationCheck {
  /** The scenario's key (its name: the cli catalog's `demo.scenario.<key>`). */
  scenario: string
  expectation: Expectation
  found: Exchange | null
}

/**
 * Did each scripted failure leave its flag? A gateway-hop flag is looked for under the
 * correlation id the scenario sent; a model-hop one (the gateway does not pass the id on) on
 * a model exchange linked to that request, else on any model exchange.
 */
export function checkExpectations (results: ScenarioResult[], exchanges: Exchange[]): ExpectationCheck[] {
  return results.flatMap((r) => r.scenario.expect.map((expectation) => {
    const candidates = exchanges.filter((e) => e.route === expectation.route && e.flags.includes(expectation.flag))
    const parents = new Set(exchanges.filter((e) => e.correlation_id === r.correlationId).map((e) => e.id))
    const found = candidates.find((e) => e.correlation_id === r.correlationId) ??
      candidates.find((e) => e.parent_id !== null && parents.has(e.parent_id)) ??
      (expectation.route === MODEL_ROUTE ? candidates[0] : undefined) ??
      null
    return { scenario: r.scenario.key, expectation, found }
  }))
}

export function formatChecks (checks: ExpectationCheck[], lang: Lang = 'en'): string {
  const rows = checks.map((c) => [say(lang, c.found ? 'checkOk' : 'checkMissing'), say(lang, `scenario.${c.scenario}`), c.expectation.route, c.expectation.flag])
  const missing = checks.filter((c) => !c.found).length
  const head = missing === 0 ? say(lang, 'allRecorded', { checks: checks.length }) : say(lang, 'notRecorded', { missing, total: checks.length })
  return `${head}\n\n` + indent(table(['', say(lang, 'column.scenario'), say(lang, 'column.route'), say(lang, 'column.flag')], rows))
}

/** `staying`: the demo stays up after printing (no --once), so the commands work as printed. */
export function formatExplore (stack: DemoStack, results: ScenarioResult[], staying: boolean, lang: Lang = 'en'): string {
  const api = stack.adminUrl
  const missingV1 = results.find((r) => r.scenario.expect.some((e) => e.flag === 'not_found'))
  const modelTimeout = results.find((r) => r.scenario.expect.some((e) => e.flag === 'model_timeout'))
  const model = stack.routeUrl(MODEL_ROUTE)
  const chat = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })
  const lines = [
    ...(staying ? [say(lang, 'openView', { url: `${api}/` }), ''] : []),
    say(lang, staying ? 'explore' : 'exploreOnce'),
    `  curl -s '${api}/api/exchanges?flag=unauthorized' | jq`,
    `  curl -s '${api}/api/exchanges?flag=not_found&flag=upstream_error' | jq`,
    `  curl -s '${api}/api/exchanges?flag=model_timeout' | jq '.items[0].diagnosis'`,
    `  curl -s '${api}/api/exchanges?flag=headers_timeout&flag=connection_refused' | jq '.items[].diagnosis'`,
    ...(missingV1?.correlationId ? [`  curl -s '${api}/api/traces/${missingV1.correlationId}' | jq    # ${say(lang, 'commentMissingV1')}`] : []),
    ...(modelTimeout?.correlationId ? [`  curl -s '${api}/api/traces/${modelTimeout.correlationId}' | jq    # ${say(lang, 'commentModelTimeout')}`] : []),
    `  curl -s '${api}/api/exchanges?route=${MODEL_ROUTE}&limit=5' | jq '.items[].meta'`,
    `  curl -s '${api}/metrics' | grep duo_diag_exchanges_total`,
    '',
    say(lang, 'sendYourOwn'),
    `  curl -s ${stack.routeUrl(GATEWAY_ROUTE)}/monitoring/healthz`,
    `  curl -s ${model}/v1/chat/completions -H 'content-type: application/json' -H 'x-sim-fault: status:429' -d '${chat}'`,
    '',
    say(lang, staying ? 'proxyLogRemoved' : 'proxyLog', { file: stack.logFile })
  ]
  return lines.join('\n') + '\n'
}

function indent (text: string): string {
  return text.split('\n').map((l) => (l === '' ? l : `  ${l}`)).join('\n')
}
