import { createWriteStream } from 'node:fs'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { EXCHANGE_ID, type Exchange } from '../capture/exchange.js'
import { ALL_FLAGS } from '../diagnosis/flags.js'
import { FilterParamError, type FilterParams, toFilter } from '../store/filter-params.js'
import { caretLines, parseQuery, QueryError, queryFields } from '../store/query-language.js'
import { NOT_ERRORS, type Summary } from '../store/summary.js'
import type { Trace, TraceNode } from '../store/trace.js'
import type { Lang } from '../i18n/message.js'
import { filterParamErrorText, queryErrorText } from '../i18n/query-errors.js'
import { hasKey } from '../i18n/translate.js'
import { type Colors, type Column, err, type ExitCode, msg, NO_PROGRESS, out, paintStatus, PLAIN, progress, renderTable, size, suggest, table, terminal, truncate, UsageError } from './output.js'
import { adminBaseUrl, ApiClient, DbClient, type QueryClient } from './query-client.js'
import { renderTimeline } from './show-timeline.js'

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

/** The query commands' "Where the data comes from" help block. */
export const sourceHelp = (lang: Lang): string => msg(lang, 'help.source')

/** The query commands' filter and query help block. */
export const filterHelp = (lang: Lang): string => msg(lang, 'help.filter')

/** A query command's help: its own text, then the filters and the sources. */
function commandHelp (lang: Lang, command: string): string {
  return msg(lang, `help.${command}`, { filters: filterHelp(lang), source: sourceHelp(lang) })
}

type Values = Record<string, string | boolean | string[] | undefined>

function filterParams (v: Values, lang: Lang, query?: string): FilterParams {
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
    if (!(ALL_FLAGS as string[]).includes(f)) throw new UsageError(msg(lang, 'filter.unknownFlag', { flag: f, hint: suggest(f, ALL_FLAGS, true, lang) }))
  }
  // Validate here, with the same rules the API applies, so both sources fail alike.
  try {
    toFilter(p)
  } catch (err) {
    throw filterUsageError(err, lang, query)
  }
  return p
}

/**
 * toFilter's error as the command line says it, in `lang`: a bad query with a caret under the
 * column that is wrong, a bad parameter named by its option (`--min-duration-ms`).
 */
export function filterUsageError (err: unknown, lang: Lang, query?: string): Error {
  if (err instanceof QueryError && query !== undefined) {
    return new UsageError(`${msg(lang, 'filter.invalidQuery', { message: queryErrorText(err, lang) })}\n${caretLines(query, err.column)}`)
  }
  if (err instanceof FilterParamError) return new UsageError(filterParamErrorText(err, lang, `--${err.param.replaceAll('_', '-')}`))
  return new UsageError((err as Error).message)
}

async function client (v: Values, lang: Lang, write = false): Promise<QueryClient> {
  if (typeof v.db === 'string') return DbClient.open(v.db, write, lang)
  const token = (v['admin-token'] as string | undefined) ?? process.env.DUO_DIAG_ADMIN_TOKEN ?? process.env.DUO_DIAG_ADMIN__TOKEN ?? null
  return new ApiClient(adminBaseUrl(v.admin as string | undefined, '--admin', lang), token, lang)
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
function failureColumns (lang: Lang): Column[] {
  const h = (name: string): string => msg(lang, `columns.${name}`)
  return [
    { header: h('time'), min: Infinity },
    { header: h('route'), min: 8 },
    { header: h('correlationId'), min: Infinity, drop: 5 }, // the handle for `show`: never cut
    { header: h('status'), min: Infinity, paint: paintStatus },
    { header: h('method'), min: Infinity, drop: 2 },
    { header: h('path'), min: 16, drop: 4 },
    { header: h('durationMs'), align: 'right', min: Infinity, drop: 3 },
    { header: h('ttfbMs'), align: 'right', min: Infinity, drop: 1 },
    { header: h('flags'), min: 16, paint: paintFlags },
    { header: h('cause'), min: 24 }
  ]
}

/** tail's line: one row at a time, fixed-width route and status so the lines align. */
function tailColumns (lang: Lang): Column[] {
  const h = (name: string): string => msg(lang, `columns.${name}`)
  return [
    { header: h('time'), min: Infinity },
    { header: h('route'), pad: 12, min: 8 },
    { header: h('status'), pad: 3, min: Infinity, paint: paintStatus },
    { header: h('request'), min: 16 },
    { header: h('correlationId'), min: Infinity, drop: 1 },
    { header: h('flags'), min: 12, paint: paintFlags },
    { header: h('cause'), min: 24 }
  ]
}

async function run (v: Values, lang: Lang, write: boolean, body: (c: QueryClient) => Promise<ExitCode>): Promise<ExitCode> {
  const c = await client(v, lang, write)
  try {
    return await body(c)
  } finally {
    await c.close()
  }
}

export const failuresHelp = (lang: Lang): string => commandHelp(lang, 'failures')

export async function failuresCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv, { limit: { type: 'string' } })
  if (values.help) return help(failuresHelp(lang))
  const params = filterParams(values, lang, query)
  // The defaults (a day, every failure flag) step aside for a query that says when or which flags.
  if (!queryTests(params, 'time')) params.since ??= '24h'
  if (!queryTests(params, 'flag')) params.flag ??= ALL_FLAGS.filter((f) => !NOT_ERRORS.includes(f))
  const limit = values.limit === undefined ? 50 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError(msg(lang, 'failures.badLimit'))
  return run(values, lang, false, async (c) => {
    const page = await c.list(params, limit, null)
    if (values.json) {
      out(JSON.stringify(page.items, null, 2) + '\n')
      return 0
    }
    if (page.items.length === 0) {
      const which = `failures.none${params.since !== undefined ? 'Since' : ''}${params.q !== undefined ? 'Query' : ''}`
      out(`${msg(lang, which, { since: params.since ?? '' })}\n`)
      return 0
    }
    const term = terminal()
    const { text, dropped } = renderTable(failureColumns(lang), page.items.map((e) => [
      time(e.started_at), e.route, e.correlation_id, e.status === null ? '-' : String(e.status), e.method, e.path,
      ms(e.timings.duration_ms), ms(e.timings.ttfb_ms), e.flags.join(','), e.diagnosis?.cause ?? ''
    ]), { width: term.width, c: term.c })
    out(text)
    if (dropped.length > 0) {
      const note = terminal(process.stderr)
      const text = msg(lang, 'failures.notShown', { width: term.width, columns: dropped.join(msg(lang, 'list.separator')) })
      err(note.c.dim(truncate(text, Math.min(term.width, note.width))) + '\n')
    }
    return 0
  })
}

export const showHelp = (lang: Lang): string => commandHelp(lang, 'show')

export async function showCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values, positionals } = parse(argv, {}, true)
  if (values.help) return help(showHelp(lang))
  const key = positionals[0]
  if (key === undefined || positionals.length > 1) throw new UsageError(msg(lang, 'show.oneKey'))
  return run(values, lang, false, async (c) => {
    let trace: Trace | null = null
    let exchange: Exchange | null = null
    if (EXCHANGE_ID.test(key)) {
      exchange = await c.get(key)
      if (exchange !== null) trace = await c.trace(exchange.correlation_id)
    }
    trace ??= await c.trace(key)
    if (trace === null) {
      process.stderr.write(`duo-diag-proxy show: ${msg(lang, 'show.notFound', { key })}\n`)
      return 1
    }
    if (values.json) {
      out(JSON.stringify(exchange === null ? trace : { exchange, trace }, null, 2) + '\n')
      return 0
    }
    const term = terminal()
    out(renderTrace(trace, term.c, lang, term.width))
    return 0
  })
}

/** A diagnosis line as stored: `{ code, params, text }`, or an older version's plain string. */
const lineText = (line: unknown): string => (typeof line === 'string' ? line : String((line as { text?: unknown } | null)?.text ?? ''))

/** A waterfall event (`model_first_byte`) in `lang`; an event this version does not know, as it is. */
function eventText (event: string, lang: Lang): string {
  const key = `cli:trace.event.${event}`
  return hasKey(key) ? msg(lang, `trace.event.${event}`) : event
}

/**
 * A trace as `show` prints it: the exchanges (both hops) with their diagnoses, the timeline of
 * imported log lines and exchange steps when there are log lines, and the waterfall. `width`
 * fits the timeline to a terminal (Infinity: never cut).
 */
export function renderTrace (trace: Trace, c: Colors = PLAIN, lang: Lang = 'en', width = Infinity): string {
  const m = (key: string, params: Record<string, string | number> = {}): string => msg(lang, `trace.${key}`, params)
  let s = `${m('correlationId', { id: trace.correlation_id })}\n`
  if (trace.root_cause !== null) s += `${m('rootCause', { cause: trace.root_cause.cause, id: trace.root_cause.exchange_id, route: trace.root_cause.route })}\n`
  if (trace.roots.length === 0) s += `${m('logsOnly')}\n`
  const node = (n: TraceNode, depth: number): void => {
    const e = n.exchange
    const pad = '  '.repeat(depth)
    const attempt = n.attempt !== undefined ? m('attempt', { n: n.attempt }) : ''
    const fromLogs = e.meta.reported_by === 'logs' ? m('fromLogs') : ''
    s += `\n${pad}${attempt}${e.method} ${e.path} -> ${paintStatus(e.status === null ? m('noResponse') : String(e.status), c)}  [${e.route}, ${e.hop}] ${e.id}${fromLogs}\n`
    const linked = e.link ? m('linked', { method: e.link.method, confidence: e.link.confidence }) : ''
    const timing = e.timings.ttfb_ms === null ? m('timingNoTtfb', { total: e.timings.duration_ms }) : m('timing', { ttfb: e.timings.ttfb_ms, total: e.timings.duration_ms })
    s += `${pad}  ${time(e.started_at)}  ${timing}${linked}\n`
    if (e.flags.length > 0) s += `${pad}  ${m('flags', { flags: paintFlags(e.flags.join(','), c).split(',').join(', ') })}\n`
    const d = e.diagnosis
    if (d !== null) {
      const code = (d as { code?: unknown }).code
      s += `${pad}  ${typeof code === 'string' && code !== '' ? m('causeCode', { code, cause: d.cause }) : m('cause', { cause: d.cause })}\n`
      for (const ev of d.evidence) s += `${pad}    ${m('evidence', { text: lineText(ev) })}\n`
      for (const step of d.next_steps) s += `${pad}    ${m('next', { text: lineText(step) })}\n`
    }
    for (const child of n.children) node(child, depth + 1)
  }
  for (const r of trace.roots) node(r, 0)
  s += renderTimeline(trace, { c, lang, width })
  if (trace.waterfall.length === 0) return s
  s += `\n${m('waterfall')}\n`
  for (const w of trace.waterfall) s += `  ${w.at_ms.toFixed(1).padStart(10)}  ${eventText(w.event, lang)}${w.route ? ` [${w.route}]` : ''}\n`
  return s
}

export const tailHelp = (lang: Lang): string => commandHelp(lang, 'tail')

export async function tailCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv)
  if (values.help) return help(tailHelp(lang))
  const params = filterParams(values, lang, query)
  return run(values, lang, false, async (c) => {
    // A route this proxy does not have would never print a line: say so instead of waiting.
    const routes = params.route !== undefined && c.routes !== undefined ? await c.routes() : null
    if (routes !== null && params.route !== undefined && !routes.includes(params.route)) {
      throw new UsageError(msg(lang, 'tail.noRoute', { route: params.route, hint: suggest(params.route, routes, true, lang), routes: routes.join(', ') }))
    }
    const term = terminal()
    const columns = tailColumns(lang)
    const controller = new AbortController()
    const stop = (): void => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await c.tail(params, (e) => {
        if (values.json) out(JSON.stringify(e) + '\n')
        else {
          out(table(columns, [[time(e.started_at), e.route, String(e.status ?? '-'), `${e.method} ${e.path}`, e.correlation_id, e.flags.join(','), e.diagnosis?.cause ?? '']],
            { width: term.width, c: term.c, header: false }))
        }
      }, controller.signal, () => process.stderr.write(`${msg(lang, 'tail.started')}\n`),
      (n) => process.stderr.write(`${msg(lang, 'tail.dropped', { count: n })}\n`))
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    return 0
  })
}

export const summaryHelp = (lang: Lang): string => commandHelp(lang, 'summary')

export async function summaryCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv)
  if (values.help) return help(summaryHelp(lang))
  const params = filterParams(values, lang, query)
  if (!queryTests(params, 'time')) params.since ??= '1h'
  return run(values, lang, false, async (c) => {
    const s = await c.summary(params)
    const term = terminal()
    out(values.json ? JSON.stringify(s, null, 2) + '\n' : renderSummary(s, { width: term.width, c: term.c, lang }))
    return 0
  })
}

/**
 * The summary as `duo-diag-proxy summary` prints it (the support bundle's summary.txt too: plain,
 * never cut, English, when `opts` is left out).
 */
export function renderSummary (s: Summary, opts: { width?: number, c?: Colors, lang?: Lang } = {}): string {
  const c = opts.c ?? PLAIN
  const lang = opts.lang ?? 'en'
  const m = (key: string, params: Record<string, string | number> = {}): string => msg(lang, `summary.${key}`, params)
  const h = (name: string): string => msg(lang, `columns.${name}`)
  const tableOpts = { ...(opts.width !== undefined ? { width: opts.width } : {}), c }
  const failed = m('failed', { errors: s.errors, rate: (s.error_rate * 100).toFixed(1) })
  const head = { total: s.total, failed: s.errors > 0 ? c.red(failed) : c.green(failed) }
  let text = `${s.since === null ? m('headAll', head) : m('head', { ...head, since: s.since })}\n\n`
  const breakdown = (title: string, counts: Record<string, number>): void => {
    const rows = Object.entries(counts)
    if (rows.length === 0) return
    text += table([{ header: title, min: 24 }, { header: h('count'), align: 'right', min: Infinity }], rows.map(([k, n]) => [k, String(n)]), tableOpts) + '\n'
  }
  breakdown(h('route'), s.by_route)
  breakdown(h('feature'), s.by_feature)
  breakdown(h('status'), s.by_status)
  breakdown(h('flag'), s.by_flag)
  // Causes are counted by code; the API (and the --db client) add a short title for each, in `lang`.
  const titles = (s as Summary & { cause_titles?: Record<string, string> }).cause_titles ?? {}
  const cause = (code: string): string => (titles[code] !== undefined && titles[code] !== code ? `${titles[code]} [${code}]` : code)
  breakdown(h('cause'), Object.fromEntries(Object.entries(s.by_cause).map(([code, n]) => [cause(code), n])))
  if (s.latency.length > 0) {
    const ms1 = (v: number | null): string => (v === null ? '-' : v.toFixed(1))
    // Narrow terminals lose the p99 columns first, then the p95 ones.
    const num = (name: string, drop?: number): Column => ({ header: h(name), align: 'right', min: Infinity, ...(drop !== undefined ? { drop } : {}) })
    text += table([
      { header: h('route'), min: 8 }, { header: h('feature'), min: 8 }, num('count'),
      num('ttfbP50Ms'), num('p95Ms', 3), num('p99Ms', 1), num('durationP50Ms'), num('p95Ms', 4), num('p99Ms', 2)
    ], s.latency.map((l) => [
      l.route, l.feature, String(l.count), ms1(l.ttfb_ms.p50), ms1(l.ttfb_ms.p95), ms1(l.ttfb_ms.p99), ms1(l.duration_ms.p50), ms1(l.duration_ms.p95), ms1(l.duration_ms.p99)
    ]), tableOpts)
  }
  return text
}

export const exportHelp = (lang: Lang): string => commandHelp(lang, 'export')

export async function exportCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv, { format: { type: 'string' }, out: { type: 'string' } })
  if (values.help) return help(exportHelp(lang))
  const format = (values.format as string | undefined) ?? 'har'
  if (format !== 'har' && format !== 'ndjson') throw new UsageError(msg(lang, 'export.badFormat', { format, hint: suggest(format, ['har', 'ndjson'], false, lang) }))
  const params = filterParams(values, lang, query)
  return run(values, lang, false, async (c) => {
    const file = values.out as string | undefined
    const toStdout = file === undefined || file === '-'
    const dest = toStdout ? process.stdout : createWriteStream(file)
    // A spinner only when the export itself is not going to the same terminal.
    const status = toStdout && process.stdout.isTTY ? NO_PROGRESS : progress()
    const counter = new ExportCounter(dest, (n) => status.update(msg(lang, 'export.progress', { format: format.toUpperCase(), size: size(n) })))
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
    err(`${msg(lang, 'export.wrote', { count: entries, format: format === 'har' ? 'HAR' : 'NDJSON', size: size(counter.bytes), dest: toStdout ? msg(lang, 'export.stdout') : file! })}\n`)
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

export const purgeHelp = (lang: Lang): string => commandHelp(lang, 'purge')

export async function purgeCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const { values, query } = parseWithQuery(argv, { all: { type: 'boolean' } })
  if (values.help) return help(purgeHelp(lang))
  const params = filterParams(values, lang, query)
  if (Object.keys(params).length === 0 && values.all !== true) throw new UsageError(msg(lang, 'purge.needFilter'))
  return run(values, lang, true, async (c) => {
    const removed = await c.purge(params, values.all === true)
    out(values.json ? JSON.stringify({ removed }) + '\n' : `${msg(lang, 'purge.removed', { removed })}\n`)
    return 0
  })
}

function help (text: string): ExitCode {
  out(text)
  return 0
}
