/**
 * `show <correlation id>`'s timeline: GitLab's log lines, the proxy's exchanges (their steps) and
 * the AI gateway's log lines in time order, one row each — `time  source  level  message` — in
 * the table layout the other commands use (fitted to the terminal, never cut into a pipe).
 */
import type { Exchange } from '../capture/exchange.js'
import type { Lang } from '../i18n/message.js'
import { hasKey } from '../i18n/translate.js'
import type { LogEvent, LogLevel } from '../logs/event.js'
import type { Trace, TraceNode } from '../store/trace.js'
import type { TimelineItem } from '../store/timeline.js'
import { type Colors, type Column, msg, table } from './output.js'

/** A message's first line, this many characters at most: a traceback is one row, its first line. */
const MESSAGE_CHARS = 300

/** Levels coloured as the other commands colour failures: errors red, warnings yellow, debug dim. */
function paintLevel (text: string, c: Colors): string {
  if (text === 'ERROR') return c.red(text)
  if (text === 'WARN') return c.yellow(text)
  if (text === 'DEBUG') return c.dim(text)
  return text
}

/** The first line of a message, cut to MESSAGE_CHARS (with … when cut). */
export function shortMessage (text: string): string {
  const first = text.split(/\r?\n/, 1)[0] ?? ''
  const chars = [...first]
  const more = chars.length > MESSAGE_CHARS || first.length < text.trimEnd().length
  return chars.slice(0, MESSAGE_CHARS).join('').trimEnd() + (more ? ' …' : '')
}

/** Every exchange of the trace by id (the tree flattened). */
function exchangesById (roots: readonly TraceNode[]): Map<string, Exchange> {
  const out = new Map<string, Exchange>()
  const walk = (nodes: readonly TraceNode[]): void => {
    for (const n of nodes) {
      out.set(n.exchange.id, n.exchange)
      walk(n.children)
    }
  }
  walk(roots)
  return out
}

/** `10:02:11.797`, with the date when the timeline spans more than one day. */
function clock (iso: string, withDate: boolean): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,3})?/.exec(iso)
  if (m === null) return iso
  const time = `${m[2]}${(m[3] ?? '.000').padEnd(4, '0')}`
  return withDate ? `${m[1]} ${time}` : time
}

export interface TimelineOptions {
  c: Colors
  lang: Lang
  /** Display columns a line may take (Infinity: never cut). */
  width: number
}

/** The timeline section, or '' when the trace has no log line (its exchanges are shown as before). */
export function renderTimeline (trace: Trace, opts: TimelineOptions): string {
  const logEvents: readonly LogEvent[] = trace.log_events ?? []
  const items: readonly TimelineItem[] = trace.timeline ?? []
  if (logEvents.length === 0 || items.length === 0) return ''
  const m = (key: string, params: Record<string, string | number> = {}): string => msg(opts.lang, `trace.${key}`, params)
  const source = (id: string): string => (hasKey(`cli:trace.source.${id}`) ? m(`source.${id}`) : id)
  const level = (l: LogLevel | null): string => (l === null ? '' : l.toUpperCase())
  const event = (e: string): string => (hasKey(`cli:trace.event.${e}`) ? m(`event.${e}`) : e)
  const byId = exchangesById(trace.roots)
  const days = new Set(items.map((i) => i.time.slice(0, 10)))
  const withDate = days.size > 1

  const rows = items.map((item): string[] => {
    const time = clock(item.time, withDate)
    if (item.type === 'log') {
      const ev = logEvents[item.index]
      return [time, source(item.source), level(item.level), ev === undefined ? '' : shortMessage(ev.message)]
    }
    // A step of an exchange reconstructed from logs: the proxy never saw it, and the source column (never cut) says so.
    const ex = item.exchange_id === null ? undefined : byId.get(item.exchange_id)
    const by = ex?.meta.reported_by === 'logs' ? 'reconstructed' : 'proxy'
    return [time, source(by), '', `${event(item.event)}${item.route !== null ? ` [${item.route}]` : ''}`]
  })
  const columns: Column[] = [
    { header: m('columns.time'), min: Infinity },
    { header: m('columns.source'), min: Infinity },
    { header: m('columns.level'), min: Infinity, paint: paintLevel },
    { header: m('columns.message'), min: 16 }
  ]
  let s = `\n${m('timeline', { date: withDate ? m('severalDays') : items[0]!.time.slice(0, 10) })}\n`
  // Indented by two columns, as the waterfall is: the table gets the rest of the width.
  s += table(columns, rows, { width: opts.width - 2, c: opts.c }).split('\n').map((line) => (line === '' ? line : `  ${line}`)).join('\n')
  if (trace.log_events_truncated === true) s += `${m('timelineTruncated', { count: logEvents.length })}\n`
  return s
}
