import { createWriteStream } from 'node:fs'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { EXCHANGE_ID, type Exchange } from '../capture/exchange.js'
import { ALL_FLAGS } from '../diagnosis/flags.js'
import type { FilterParams } from '../store/filter-params.js'
import { toFilter } from '../store/filter-params.js'
import { caretLines, parseQuery, QueryError, queryFields } from '../store/query-language.js'
import { NOT_ERRORS, type Summary } from '../store/summary.js'
import type { Trace, TraceNode } from '../store/trace.js'
import { type Colors, type Column, err, type ExitCode, NO_PROGRESS, out, paintStatus, PLAIN, progress, renderTable, size, suggest, table, terminal, truncate, UsageError } from './output.js'
import { adminBaseUrl, ApiClient, DbClient, type QueryClient } from './query-client.js'

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
  --admin URL|HOST:PORT  a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly: a stopped proxy's SQLite file, or the
                         shared PostgreSQL database (postgres://...: every instance's records)
  --json                 JSON for scripts instead of tables
`

export const FILTER_HELP = `Filters:
  --route NAME  --method M  --path PREFIX  --status 404|4xx  --flag F (repeatable: any of)
  --feature F  --correlation-id ID  --since 15m|2h|ISO  --until ...  --min-duration-ms N
  --proxy-instance NAME  (the proxy instance that recorded it, in a shared store)

Query (the arguments, best in single quotes; ANDed with the flags above):
  'flag:timeout feature:chat status:5xx since:1h'   field:value terms side by side are ANDed
  'status:5xx OR flag:timeout'  'NOT route:model'  '-flag:slow'  '(a OR b) c'  'flag:timeout,tls_error'
  fields: route hop method path(prefix) status flag feature correlation_id|cid cause(contains) model
  proxy_instance|instance duration ttfb since until time
  status:404|5xx|400..499|>=500|none  duration:>5s|<=100ms|100ms..2s  ttfb:>1s|none
  since:1h  until:2026-12-07T10:00Z  time:2026-12-07..2026-12-08   bare words: path or cause contains
  "quoted text" for spaces: cause:"not reachable"
`

type Values = Record<string, string | boolean | string[] | undefined>

function filterParams (v: Values, query?: string): FilterParams {
  const p: FilterParams = {}
  if (query !== undefined) p.q = query
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
    if (!(ALL_FLAGS as string[]).includes(f)) throw new UsageError(`--flag: unknown flag "${f}"${suggest(f, ALL_FLAGS, (s) => `"${s}"`)} (see the README's flag table)`)
  }
  // Validate here, with the same rules the API applies, so both sources fail alike.
  try {
    toFilter(p)
  } catch (err) {
    // The query with a caret under the column that is wrong.
    if (err instanceof QueryError && query !== undefined) throw new UsageError(`invalid query: ${err.message}\n${caretLines(query, err.column)}`)
    throw new UsageError((err as Error).message.replace('querystring/', '--').replace('_', '-'))
  }
  return p
}

async function client (v: Values, write = false): Promise<QueryClient> {
  if (typeof v.db === 'string') return DbClient.open(v.db, write)
  const token = (v['admin-token'] as string | undefined) ?? process.env.DUO_DIAG_ADMIN_TOKEN ?? process.env.DUO_DIAG_ADMIN__TOKEN ?? null
  return new ApiClient(adminBaseUrl(v.admin as string | undefined), token)
}

function parse (argv: string[], extra: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }> = {}, positionals = false): { values: Values, positionals: string[] } {
  const r = parseArgs({ args: argv, strict: true, allowPositionals: positionals, options: { ...SOURCE_OPTIONS, ...FILTER_OPTIONS, ...extra } })
  return { values: r.values as Values, positionals: r.positionals }
}

/** Marks a positional that parseArgs would take for an option (see parseWithQuery); stripped after. */
const QUERY_MARK = '\u0000'

/**
 * The query commands' arguments: the flags, and the query (issue 16) from the positional
 * arguments joined by spaces, so `failures 'flag:timeout status:5xx'` and `failures flag:timeout
 * status:5xx` ask the same. A term negated with '-' (`-flag:slow`, `-"text"`, `-(...)`) is no
 * option, but parseArgs would refuse it as an unknown one: such an argument is marked as a
 * positional first, unless it is the value of the option before it (`--path -x:y`, which
 * parseArgs then explains) or comes after `--`. A blank query is no query (`purge ''` must not
 * become a purge of everything).
 */
function parseWithQuery (argv: string[], extra: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }> = {}): { values: Values, query: string | undefined } {
  const options: Record<string, { type: string }> = { ...SOURCE_OPTIONS, ...FILTER_OPTIONS, ...extra }
  let rest = false
  const args = argv.map((a, i) => {
    if (rest || a === '--') {
      rest = true
      return a
    }
    const prev = argv[i - 1]
    const isValue = prev !== undefined && /^--[^=]+$/.test(prev) && options[prev.slice(2)]?.type === 'string'
    return !isValue && /^-(?:[A-Za-z_][A-Za-z0-9_]*:|["(])/.test(a) ? QUERY_MARK + a : a
  })
  const { values, positionals } = parse(args, extra, true)
  const query = positionals.map((p) => (p.startsWith(QUERY_MARK) ? p.slice(QUERY_MARK.length) : p)).join(' ')
  return { values, query: query.trim() === '' ? undefined : query }
}

/**
 * Whether the query asks about time (anyhow), or for flags (not only against them): the
 * commands' defaults for them (failures: the last day, every failure flag; summary: the last
 * hour) then step aside. `failures '-flag:timeout'` still means failures, bar timeouts.
 */
function queryTests (params: FilterParams, field: 'time' | 'flag'): boolean {
  return params.q !== undefined && queryFields(parseQuery(params.q), { positive: field === 'flag' }).has(field)
}

function time (iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}

/** Milliseconds for a table cell: one decimal under 10 ms, whole above. */
function ms (v: number | null): string {
  if (v === null) return '-'
  return v < 10 ? v.toFixed(1) : String(Math.round(v))
}

/** Failure flags red; the ones that are not errors (slow, client_aborted, token_*) yellow. */
function paintFlags (text: string, c: Colors): string {
  return text.split(',').map((f) => (NOT_ERRORS.includes(f) ? c.yellow(f) : c.red(f))).join(',')
}

/**
 * The failures table. On a narrow terminal the widest column is cut (cause, path, flags) and
 * the optional ones are left out in order: ttfb, method, duration, path, correlation id.
 */
const FAILURE_COLUMNS: Column[] = [
  { header: 'time', min: Infinity },
  { header: 'route', min: 8 },
  { header: 'correlation id', min: Infinity, drop: 5 }, // the handle for `show`: never cut
  { header: 'status', min: Infinity, paint: paintStatus },
  { header: 'method', min: Infinity, drop: 2 },
  { header: 'path', min: 16, drop: 4 },
  { header: 'duration ms', align: 'right', min: Infinity, drop: 3 },
  { header: 'ttfb ms', align: 'right', min: Infinity, drop: 1 },
  { header: 'flags', min: 16, paint: paintFlags },
  { header: 'cause', min: 24 }
]

/** tail's line: one row at a time, fixed-width route and status so the lines align. */
const TAIL_COLUMNS: Column[] = [
  { header: 'time', min: Infinity },
  { header: 'route', pad: 12, min: 8 },
  { header: 'status', pad: 3, min: Infinity, paint: paintStatus },
  { header: 'request', min: 16 },
  { header: 'correlation id', min: Infinity, drop: 1 },
  { header: 'flags', min: 12, paint: paintFlags },
  { header: 'cause', min: 24 }
]

async function run (v: Values, write: boolean, body: (c: QueryClient) => Promise<ExitCode>): Promise<ExitCode> {
  const c = await client(v, write)
  try {
    return await body(c)
  } finally {
    await c.close()
  }
}

export const FAILURES_HELP = `Usage: duo-diag-proxy failures [QUERY] [filters] [--limit N]

Failed exchanges, newest first: time, route, correlation id, status, flags, cause. Without
--flag, every failure flag counts (client aborts, slow and token predictions do not).

${FILTER_HELP}
${SOURCE_HELP}`

export async function failuresCommand (argv: string[]): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv, { limit: { type: 'string' } })
  if (values.help) return help(FAILURES_HELP)
  const params = filterParams(values, query)
  // The defaults (a day, every failure flag) step aside for a query that says when or which flags.
  if (!queryTests(params, 'time')) params.since ??= '24h'
  if (!queryTests(params, 'flag')) params.flag ??= ALL_FLAGS.filter((f) => !NOT_ERRORS.includes(f))
  const limit = values.limit === undefined ? 50 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit: a whole number from 1 to 1000')
  return run(values, false, async (c) => {
    const page = await c.list(params, limit, null)
    if (values.json) {
      out(JSON.stringify(page.items, null, 2) + '\n')
      return 0
    }
    if (page.items.length === 0) {
      out(`No failures${params.since !== undefined ? ` since ${params.since}` : ''}${params.q !== undefined ? ` matching the query` : ''}.\n`)
      return 0
    }
    const term = terminal()
    const { text, dropped } = renderTable(FAILURE_COLUMNS, page.items.map((e) => [
      time(e.started_at), e.route, e.correlation_id, e.status === null ? '-' : String(e.status), e.method, e.path,
      ms(e.timings.duration_ms), ms(e.timings.ttfb_ms), e.flags.join(','), e.diagnosis?.cause ?? ''
    ]), { width: term.width, c: term.c })
    out(text)
    if (dropped.length > 0) {
      const note = terminal(process.stderr)
      err(note.c.dim(truncate(`(not shown at ${term.width} columns: ${dropped.join(', ')}; --json has every field)`, Math.min(term.width, note.width))) + '\n')
    }
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
    out(renderTrace(trace, terminal().c))
    return 0
  })
}

export function renderTrace (trace: Trace, c: Colors = PLAIN): string {
  let s = `correlation id ${trace.correlation_id}\n`
  if (trace.root_cause !== null) s += `root cause: ${trace.root_cause.cause} (exchange ${trace.root_cause.exchange_id}, route ${trace.root_cause.route})\n`
  const node = (n: TraceNode, depth: number): void => {
    const e = n.exchange
    const pad = '  '.repeat(depth)
    s += `\n${pad}${n.attempt !== undefined ? `attempt ${n.attempt}: ` : ''}${e.method} ${e.path} -> ${paintStatus(String(e.status ?? 'no response'), c)}  [${e.route}, ${e.hop}] ${e.id}\n`
    s += `${pad}  ${time(e.started_at)}  ttfb ${e.timings.ttfb_ms ?? '-'} ms, total ${e.timings.duration_ms} ms${e.link ? `  (linked: ${e.link.method}, confidence ${e.link.confidence})` : ''}\n`
    if (e.flags.length > 0) s += `${pad}  flags: ${paintFlags(e.flags.join(','), c).split(',').join(', ')}\n`
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

export const TAIL_HELP = `Usage: duo-diag-proxy tail [QUERY] [filters]

Live exchanges as they are captured (needs a running proxy). Ctrl-C stops.

${FILTER_HELP}
${SOURCE_HELP}`

export async function tailCommand (argv: string[]): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv)
  if (values.help) return help(TAIL_HELP)
  const params = filterParams(values, query)
  return run(values, false, async (c) => {
    // A route this proxy does not have would never print a line: say so instead of waiting.
    const routes = params.route !== undefined && c.routes !== undefined ? await c.routes() : null
    if (routes !== null && params.route !== undefined && !routes.includes(params.route)) {
      throw new UsageError(`--route: this proxy has no route "${params.route}"${suggest(params.route, routes, (s) => `"${s}"`)} (its routes: ${routes.join(', ')})`)
    }
    const term = terminal()
    const controller = new AbortController()
    const stop = (): void => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await c.tail(params, (e) => {
        if (values.json) out(JSON.stringify(e) + '\n')
        else {
          out(table(TAIL_COLUMNS, [[time(e.started_at), e.route, String(e.status ?? '-'), `${e.method} ${e.path}`, e.correlation_id, e.flags.join(','), e.diagnosis?.cause ?? '']],
            { width: term.width, c: term.c, header: false }))
        }
      }, controller.signal, () => process.stderr.write('tailing live exchanges (Ctrl-C stops)\n'),
      (n) => process.stderr.write(`(this terminal fell behind: the proxy skipped ${n} exchange${n === 1 ? '' : 's'})\n`))
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    return 0
  })
}

export const SUMMARY_HELP = `Usage: duo-diag-proxy summary [QUERY] [filters]

Totals and error rate; counts by route, feature, status, flag and cause; time-to-first-byte and
duration percentiles by route and feature. Default --since 1h.

${FILTER_HELP}
${SOURCE_HELP}`

export async function summaryCommand (argv: string[]): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv)
  if (values.help) return help(SUMMARY_HELP)
  const params = filterParams(values, query)
  if (!queryTests(params, 'time')) params.since ??= '1h'
  return run(values, false, async (c) => {
    const s = await c.summary(params)
    const term = terminal()
    out(values.json ? JSON.stringify(s, null, 2) + '\n' : renderSummary(s, { width: term.width, c: term.c }))
    return 0
  })
}

/**
 * The summary as `duo-diag-proxy summary` prints it (the support bundle's summary.txt too: plain,
 * never cut, when `opts` is left out).
 */
export function renderSummary (s: Summary, opts: { width?: number, c?: Colors } = {}): string {
  const c = opts.c ?? PLAIN
  const failed = `${s.errors} failed (${(s.error_rate * 100).toFixed(1)}%)`
  let text = `since ${s.since ?? 'the beginning'}: ${s.total} exchanges, ${s.errors > 0 ? c.red(failed) : c.green(failed)}\n\n`
  const breakdown = (title: string, m: Record<string, number>): void => {
    const rows = Object.entries(m)
    if (rows.length === 0) return
    text += table([{ header: title, min: 24 }, { header: 'count', align: 'right', min: Infinity }], rows.map(([k, n]) => [k, String(n)]), opts) + '\n'
  }
  breakdown('route', s.by_route)
  breakdown('feature', s.by_feature)
  breakdown('status', s.by_status)
  breakdown('flag', s.by_flag)
  breakdown('cause', s.by_cause)
  if (s.latency.length > 0) {
    const ms1 = (v: number | null): string => (v === null ? '-' : v.toFixed(1))
    // Narrow terminals lose the p99 columns first, then the p95 ones.
    const num = (header: string, drop?: number): Column => ({ header, align: 'right', min: Infinity, ...(drop !== undefined ? { drop } : {}) })
    text += table([
      { header: 'route', min: 8 }, { header: 'feature', min: 8 }, num('count'),
      num('ttfb p50 ms'), num('p95 ms', 3), num('p99 ms', 1), num('duration p50 ms'), num('p95 ms', 4), num('p99 ms', 2)
    ], s.latency.map((l) => [
      l.route, l.feature, String(l.count), ms1(l.ttfb_ms.p50), ms1(l.ttfb_ms.p95), ms1(l.ttfb_ms.p99), ms1(l.duration_ms.p50), ms1(l.duration_ms.p95), ms1(l.duration_ms.p99)
    ]), opts)
  }
  return text
}

export const EXPORT_HELP = `Usage: duo-diag-proxy export --format har|ndjson [--out FILE] [QUERY] [filters]

Redacted HAR 1.2 (opens in browser dev tools) or NDJSON, streamed. --out - (default) is stdout.

${FILTER_HELP}
${SOURCE_HELP}`

export async function exportCommand (argv: string[]): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv, { format: { type: 'string' }, out: { type: 'string' } })
  if (values.help) return help(EXPORT_HELP)
  const format = (values.format as string | undefined) ?? 'har'
  if (format !== 'har' && format !== 'ndjson') throw new UsageError(`--format: har or ndjson, not "${format}"${suggest(format, ['har', 'ndjson'])}`)
  const params = filterParams(values, query)
  return run(values, false, async (c) => {
    const file = values.out as string | undefined
    const toStdout = file === undefined || file === '-'
    const dest = toStdout ? process.stdout : createWriteStream(file)
    // A spinner only when the export itself is not going to the same terminal.
    const status = toStdout && process.stdout.isTTY ? NO_PROGRESS : progress()
    const counter = new ExportCounter(dest, (n) => status.update(`exporting ${format.toUpperCase()}: ${size(n)}`))
    try {
      await c.exportTo(format, params, counter)
      // Every chunk handed on to the destination before it is ended.
      await new Promise<void>((resolve, reject) => counter.end((error?: Error | null) => (error ? reject(error) : resolve())))
    } catch (error) {
      // The reader went away (`export | head`): as for any Unix filter, that is not an error.
      if (toStdout && (error as NodeJS.ErrnoException).code === 'EPIPE') return 0
      throw error
    } finally {
      status.clear()
    }
    if (!toStdout) await new Promise<void>((resolve, reject) => (dest as Writable).end((error?: Error | null) => (error ? reject(error) : resolve())))
    const entries = format === 'ndjson' ? counter.lines : Math.max(0, counter.lines - 2)
    err(`wrote ${entries} ${entries === 1 ? 'exchange' : 'exchanges'} as ${format === 'har' ? 'HAR' : 'NDJSON'} (${size(counter.bytes)}) to ${toStdout ? 'stdout' : file}\n`)
    return 0
  })
}

/**
 * Passes an export through to its destination, counting bytes and lines: NDJSON is one exchange
 * a line, and exportChunks writes HAR with one entry a line between an opening and a closing line.
 */
class ExportCounter extends Writable {
  bytes = 0
  lines = 0
  constructor (private readonly dest: NodeJS.WritableStream, private readonly onProgress: (bytes: number) => void) {
    super()
    // The destination's errors (a full disk, EPIPE from `| head`) end the export through this
    // stream; the listener stays, as the destination may report one after the write failed.
    dest.on('error', (error: Error) => { this.destroy(error) })
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytes += chunk.length
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) this.lines++
    this.onProgress(this.bytes)
    this.dest.write(chunk, (error) => callback(error ?? null))
  }
}

export const PURGE_HELP = `Usage: duo-diag-proxy purge [QUERY] [filters] | --all

Deletes the matching exchanges (after a customer session). Prints how many were removed.

${FILTER_HELP}  --all                  everything
${SOURCE_HELP}`

export async function purgeCommand (argv: string[]): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv, { all: { type: 'boolean' } })
  if (values.help) return help(PURGE_HELP)
  const params = filterParams(values, query)
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
