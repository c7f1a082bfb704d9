import { displayWidth, pad, truncate } from '../cli/output.js'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'
import type { ReplayResult } from './run.js'

/** The original's column, in display columns (a Japanese character takes two). */
const COLUMN = 46
/** The labels' column at least; a language with longer labels widens it. */
const LABEL = 9

const LABELS = ['original', 'replay', 'body', 'error'] as const
const ROWS = ['start', 'status', 'flags', 'cause', 'ttfb', 'receive', 'chunks', 'duration', 'response'] as const
type Row = typeof ROWS[number]

function time (iso: string): string {
  return iso.replace('T', ' ')
}

/** One replay: what was sent, then original and replay side by side, laid out by display width. */
function block (r: ReplayResult, total: number, timing: boolean, lang: Lang): string {
  const say = (key: string, params: Record<string, string | number> = {}): string => t(lang, `cli:replay.render.${key}`, params)
  const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : say('ms', { ms: v.toFixed(1) }))
  const noResponse = t(lang, 'cli:trace.noResponse')
  const o = r.original
  const res = r.response
  const rows: Array<[Row, string, string]> = []
  if (timing) rows.push(['start', say('offset', { ms: r.offset_ms.original.toFixed(0) }), say('offset', { ms: r.offset_ms.replay.toFixed(0) })])
  rows.push(['status', o.status === null ? noResponse : String(o.status), res.status === null ? noResponse : String(res.status)])
  rows.push(['flags', o.flags.join(',') || '-', r.outcome.flags.join(',') || '-'])
  rows.push(['cause', o.cause ?? '-', r.outcome.cause ?? '-'])
  rows.push(['ttfb', ms(o.timings.ttfb_ms), ms(res.ttfb_ms)])
  if (timing) {
    const receive = (ttfb: number | null, duration: number): string => ms(ttfb === null ? null : Math.max(0, duration - ttfb))
    rows.push(['receive', receive(o.timings.ttfb_ms, o.timings.duration_ms), receive(res.ttfb_ms, res.duration_ms)])
    rows.push(['chunks', say('notRecorded'), res.chunks === 0 ? '0' : say('chunks', { chunks: res.chunks, gap: ms(res.max_gap_ms) })])
  }
  rows.push(['duration', ms(o.timings.duration_ms), ms(res.duration_ms)])
  rows.push(['response', o.response_bytes === null ? '-' : say('bytes', { bytes: o.response_bytes }),
    res.status === null ? '-' : timing ? say('bytes', { bytes: res.bytes }) : say('bytesChunks', { bytes: res.bytes, count: res.chunks })])

  // Labels padded to one width: the widest of this language's, at least LABEL.
  const label = (key: string): string => say(`label.${key}`)
  const width = Math.max(LABEL, ...LABELS.map((k) => displayWidth(label(k))), ...ROWS.map((k) => displayWidth(say(`row.${k}`))))
  const line = (name: string, text: string): string => `  ${pad(name, width)} ${text}\n`

  const reported = r.recorded?.meta.reported_by === 'replay'
  const recorded = r.recorded === null
    ? ''
    : `  ${reported ? say('recordedReport', { id: r.recorded.id }) : say('recordedProxy', { id: r.recorded.id, route: r.recorded.route })}`
  const body = r.body.mode === 'none'
    ? say('bodyNone')
    : say('body', { mode: say(`mode.${r.body.mode}`), detail: r.body.detail, bytes: r.body.bytes, original: o.request.bytes })
  let s = `[${r.n}/${total}] ${o.method} ${o.path}${o.query === '' ? '' : `?${o.query}`}\n`
  s += line(label('original'), say('originalLine', { id: o.id, correlation: o.correlation_id, route: o.route, time: time(o.started_at) }))
  s += line(label('replay'), `X-Request-ID ${r.request_id} -> ${r.url}${recorded}`)
  s += line(label('body'), body) + '\n'
  const source = r.outcome.source === 'derived' ? '' : say(reported ? 'sourceReport' : 'sourceProxy')
  s += `  ${pad('', width)} ${pad(say('column.original'), COLUMN)}  ${say('column.replay')}${source}\n`
  for (const [name, a, b] of rows) s += `  ${pad(say(`row.${name}`), width)} ${pad(truncate(a, COLUMN), COLUMN)}  ${b}\n`
  if (res.error !== null) s += line(label('error'), `${res.error.code}: ${res.error.message}`)
  for (const note of r.notes) s += `  ${say('note', { text: note })}\n`
  return s
}

/** The replays side by side with their originals, then what was done, in `lang`. */
export function renderReplays (results: ReplayResult[], target: string, timing: boolean, lang: Lang = 'en'): string {
  const say = (key: string, params: Record<string, string | number> = {}): string => t(lang, `cli:replay.render.${key}`, params)
  let s = ''
  for (const r of results) s += block(r, results.length, timing, lang) + '\n'
  const unreached = results.filter((r) => r.response.status === null).length
  s += `${say('summary', { total: results.length, target, answered: results.length - unreached, unreached })}\n`
  if (timing) s += `${say('timing')}\n`
  const ids = results.map((r) => r.request_id)
  if (ids.length > 0) s += `${say('records', { id: ids[0]!, more: ids.length > 1 ? ' …' : '' })}\n`
  return s
}
