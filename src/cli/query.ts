import { createWriteStream } from 'node:fs'
import { parseArgs } from 'node:util'
import { EXCHANGE_ID, type Exchange } from '../capture/exchange.js'
import { ALL_FLAGS } from '../diagnosis/flags.js'
import type { FilterParams } from '../store/filter-params.js'
import { toFilter } from '../store/filter-params.js'
import { NOT_ERRORS, type Summary } from '../store/summary.js'
import type { Trace, TraceNode } from '../store/trace.js'
import { type ExitCode, out, table, UsageError } from './output.js'
import { ApiClient, DbClient, type QueryClient } from './query-client.js'

const SOURCE_OPTIONS = {
  admin: { type: 'string' },
  'admin-token': { type: 'string' },
  db: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

const FILTER_OPTIONS = {
  route: { type: 'string' },
  method: { type: 'string' },
  path: { type: 'string' },
  status: { type: 'string' },
  flag: { type: 'string', multiple: true },
  feature: { type: 'string' },
  'correlation-id': { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  'min-duration-ms': { type: 'string' },
  'proxy-instance': { type: 'string' }
} as const

export const SOURCE_HELP = `Where the data comes from:
  --admin URL            a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly: a stopped proxy's SQLite file, or the
                         shared PostgreSQL database (postgres://...: every instance's records)
  --json                 JSON for scripts instead of tables
`

export const FILTER_HELP = `Filters:
  --route NAME  --method M  --path PREFIX  --status 404|4xx  --flag F (repeatable: any of)
  --feature F  --correlation-id ID  --since 15m|2h|ISO  --until ...  --min-duration-ms N
  --proxy-instance NAME  (the proxy instance that recorded it, in a shared store)
`

type Values = Record<string, string | boolean | string[] | undefined>

function filterParams (v: Values): FilterParams {
  const p: FilterParams = {}
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? v[k] as string : undefined)
  if (str('route') !== undefined) p.route = str('route')
  if (str('method') !== undefined) p.method = str('method')
  if (str('path') !== undefined) p.path = str('path')
  if (str('status') !== undefined) p.status = str('status')
  if (Array.isArray(v.flag)) p.flag = v.flag
  if (str('feature') !== undefined) p.feature = str('feature')
  if (str('correlation-id') !== undefined) p.correlation_id = str('correlation-id')
  if (str('since') !== undefined) p.since = str('since')
  if (str('until') !== undefined) p.until = str('until')
  if (str('proxy-instance') !== undefined) p.proxy_instance = str('proxy-instance')
  if (str('min-duration-ms') !== undefined) p.min_duration_ms = Number(str('min-duration-ms'))
  for (const f of p.flag ?? []) {
    if (!(ALL_FLAGS as string[]).includes(f)) throw new UsageError(`--flag: unknown flag "${f}" (see the README's flag table)`)
  }
  // Validate here, with the same rules the API applies, so both sources fail alike.
  try {
    toFilter(p)
  } catch (err) {
    throw new UsageError((err as Error).message.replace('querystring/', '--').replace('_', '-'))
  }
  return p
}

async function client (v: Values, write = false): Promise<QueryClient> {
  if (typeof v.db === 'string') return DbClient.open(v.db, write)
  const token = (v['admin-token'] as string | undefined) ?? process.env.DUO_DIAG_ADMIN_TOKEN ?? process.env.DUO_DIAG_ADMIN__TOKEN ?? null
  const base = ((v.admin as string | undefined) ?? 'http://127.0.0.1:5099').replace(/\/+$/, '')
  if (!/^https?:\/\//.test(base)) throw new UsageError(`--admin: "${base}" is not an http(s) URL`)
  return new ApiClient(base, token)
}

function parse (argv: string[], extra: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }> = {}, positionals = false): { values: Values, positionals: string[] } {
  const r = parseArgs({ args: argv, strict: true, allowPositionals: positionals, options: { ...SOURCE_OPTIONS, ...FILTER_OPTIONS, ...extra } })
  return { values: r.values as Values, positionals: r.positionals }
}

function time (iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}

async function run (v: Values, write: boolean, body: (c: QueryClient) => Promise<ExitCode>): Promise<ExitCode> {
  const c = await client(v, write)
  try {
    return await body(c)
  } finally {
    await c.close()
  }
}

export const FAILURES_HELP = `Usage: duo-diag-proxy failures [filters] [--limit N]

Failed exchanges, newest first: time, route, correlation id, status, flags, cause. Without
--flag, every failure flag counts (client aborts, slow and token predictions do not).

${FILTER_HELP}
${SOURCE_HELP}`

export async function failuresCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parse(argv, { limit: { type: 'string' } })
  if (values.help) return help(FAILURES_HELP)
  const params = filterParams(values)
  params.since ??= '24h'
  params.flag ??= ALL_FLAGS.filter((f) => !NOT_ERRORS.includes(f))
  const limit = values.limit === undefined ? 50 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit: a whole number from 1 to 1000')
  return run(values, false, async (c) => {
    const page = await c.list(params, limit, null)
    if (values.json) {
      out(JSON.stringify(page.items, null, 2) + '\n')
      return 0
    }
    if (page.items.length === 0) {
      out(`No failures since ${params.since}.\n`)
      return 0
    }
    out(table(['time', 'route', 'correlation id', 'status', 'flags', 'cause'], page.items.map((e) => [
      time(e.started_at), e.route, e.correlation_id, e.status === null ? '-' : String(e.status), e.flags.join(','), e.diagnosis?.cause ?? ''
    ])))
    return 0
  })
}

export const SHOW_HELP = `Usage: duo-diag-proxy show <exchange id | correlation id>

One request across both hops: each exchange's status, flags, cause, evidence and next steps,
the model calls linked under the gateway request, and the waterfall.

${SOURCE_HELP}`

export async function showCommand (argv: string[]): Promise<ExitCode> {
  const { values, positionals } = parse(argv, {}, true)
  if (values.help) return help(SHOW_HELP)
  const key = positionals[0]
  if (key === undefined || positionals.length > 1) throw new UsageError('show takes one exchange id or correlation id')
  return run(values, false, async (c) => {
    let trace: Trace | null = null
    let exchange: Exchange | null = null
    if (EXCHANGE_ID.test(key)) {
      exchange = await c.get(key)
      if (exchange !== null) trace = await c.trace(exchange.correlation_id)
    }
    trace ??= await c.trace(key)
    if (trace === null) {
      process.stderr.write(`duo-diag-proxy show: no exchange or correlation id "${key}"\n`)
      return 1
    }
    if (values.json) {
      out(JSON.stringify(exchange === null ? trace : { exchange, trace }, null, 2) + '\n')
      return 0
    }
    out(renderTrace(trace))
    return 0
  })
}

export function renderTrace (trace: Trace): string {
  let s = `correlation id ${trace.correlation_id}\n`
  if (trace.root_cause !== null) s += `root cause: ${trace.root_cause.cause} (exchange ${trace.root_cause.exchange_id}, route ${trace.root_cause.route})\n`
  const node = (n: TraceNode, depth: number): void => {
    const e = n.exchange
    const pad = '  '.repeat(depth)
    s += `\n${pad}${n.attempt !== undefined ? `attempt ${n.attempt}: ` : ''}${e.method} ${e.path} -> ${e.status ?? 'no response'}  [${e.route}, ${e.hop}] ${e.id}\n`
    s += `${pad}  ${time(e.started_at)}  ttfb ${e.timings.ttfb_ms ?? '-'} ms, total ${e.timings.duration_ms} ms${e.link ? `  (linked: ${e.link.method}, confidence ${e.link.confidence})` : ''}\n`
    if (e.flags.length > 0) s += `${pad}  flags: ${e.flags.join(', ')}\n`
    if (e.diagnosis !== null) {
      s += `${pad}  cause: ${e.diagnosis.cause}\n`
      for (const ev of e.diagnosis.evidence) s += `${pad}    evidence: ${ev}\n`
      for (const step of e.diagnosis.next_steps) s += `${pad}    next: ${step}\n`
    }
    for (const child of n.children) node(child, depth + 1)
  }
  for (const r of trace.roots) node(r, 0)
  s += '\nwaterfall (ms from the first event):\n'
  for (const w of trace.waterfall) s += `  ${w.at_ms.toFixed(1).padStart(10)}  ${w.event}${w.route ? ` [${w.route}]` : ''}\n`
  return s
}

export const TAIL_HELP = `Usage: duo-diag-proxy tail [filters]

Live exchanges as they are captured (needs a running proxy). Ctrl-C stops.

${FILTER_HELP}
${SOURCE_HELP}`

export async function tailCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parse(argv)
  if (values.help) return help(TAIL_HELP)
  const params = filterParams(values)
  return run(values, false, async (c) => {
    const controller = new AbortController()
    const stop = (): void => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await c.tail(params, (e) => {
        if (values.json) out(JSON.stringify(e) + '\n')
        else out(`${time(e.started_at)}  ${e.route.padEnd(12)} ${String(e.status ?? '-').padEnd(4)} ${e.method} ${e.path}  ${e.correlation_id}${e.flags.length ? `  [${e.flags.join(',')}]` : ''}${e.diagnosis ? `  ${e.diagnosis.cause}` : ''}\n`)
      }, controller.signal, () => process.stderr.write('tailing live exchanges (Ctrl-C stops)\n'),
      (n) => process.stderr.write(`(this terminal fell behind: the proxy skipped ${n} exchange${n === 1 ? '' : 's'})\n`))
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    return 0
  })
}

export const SUMMARY_HELP = `Usage: duo-diag-proxy summary [filters]

Totals and error rate; counts by route, feature, status, flag and cause; time-to-first-byte and
duration percentiles by route and feature. Default --since 1h.

${FILTER_HELP}
${SOURCE_HELP}`

export async function summaryCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parse(argv)
  if (values.help) return help(SUMMARY_HELP)
  const params = filterParams(values)
  params.since ??= '1h'
  return run(values, false, async (c) => {
    const s = await c.summary(params)
    out(values.json ? JSON.stringify(s, null, 2) + '\n' : renderSummary(s))
    return 0
  })
}

/** The summary as `duo-diag-proxy summary` prints it (the support bundle's summary.txt too). */
export function renderSummary (s: Summary): string {
  let text = `since ${s.since ?? 'the beginning'}: ${s.total} exchanges, ${s.errors} failed (${(s.error_rate * 100).toFixed(1)}%)\n\n`
  const breakdown = (title: string, m: Record<string, number>): void => {
    const rows = Object.entries(m)
    if (rows.length === 0) return
    text += table([title, 'count'], rows.map(([k, n]) => [k, String(n)])) + '\n'
  }
  breakdown('route', s.by_route)
  breakdown('feature', s.by_feature)
  breakdown('status', s.by_status)
  breakdown('flag', s.by_flag)
  breakdown('cause', s.by_cause)
  if (s.latency.length > 0) {
    const ms = (v: number | null): string => (v === null ? '-' : v.toFixed(1))
    text += table(['route', 'feature', 'count', 'ttfb p50', 'p95', 'p99', 'duration p50', 'p95', 'p99'], s.latency.map((l) => [
      l.route, l.feature, String(l.count), ms(l.ttfb_ms.p50), ms(l.ttfb_ms.p95), ms(l.ttfb_ms.p99), ms(l.duration_ms.p50), ms(l.duration_ms.p95), ms(l.duration_ms.p99)
    ]))
  }
  return text
}

export const EXPORT_HELP = `Usage: duo-diag-proxy export --format har|ndjson [--out FILE] [filters]

Redacted HAR 1.2 (opens in browser dev tools) or NDJSON, streamed. --out - (default) is stdout.

${FILTER_HELP}
${SOURCE_HELP}`

export async function exportCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parse(argv, { format: { type: 'string' }, out: { type: 'string' } })
  if (values.help) return help(EXPORT_HELP)
  const format = (values.format as string | undefined) ?? 'har'
  if (format !== 'har' && format !== 'ndjson') throw new UsageError('--format: har or ndjson')
  const params = filterParams(values)
  return run(values, false, async (c) => {
    const file = values.out as string | undefined
    if (file === undefined || file === '-') {
      await c.exportTo(format, params, process.stdout)
      return 0
    }
    const dest = createWriteStream(file)
    await c.exportTo(format, params, dest)
    await new Promise<void>((resolve, reject) => dest.end((err?: Error | null) => (err ? reject(err) : resolve())))
    process.stderr.write(`wrote ${file}\n`)
    return 0
  })
}

export const PURGE_HELP = `Usage: duo-diag-proxy purge [filters] | --all

Deletes the matching exchanges (after a customer session). Prints how many were removed.

${FILTER_HELP}  --all                  everything
${SOURCE_HELP}`

export async function purgeCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parse(argv, { all: { type: 'boolean' } })
  if (values.help) return help(PURGE_HELP)
  const params = filterParams(values)
  if (Object.keys(params).length === 0 && values.all !== true) throw new UsageError('give at least one filter, or --all')
  return run(values, true, async (c) => {
    const removed = await c.purge(params, values.all === true)
    out(values.json ? JSON.stringify({ removed }) + '\n' : `removed ${removed} exchanges\n`)
    return 0
  })
}

function help (text: string): ExitCode {
  out(text)
  return 0
}
