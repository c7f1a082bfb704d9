import type { ReplayResult } from './run.js'

const COLUMN = 46

function ms (v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : `${v.toFixed(1)} ms`
}

function cell (text: string): string {
  return text.length > COLUMN ? `${text.slice(0, COLUMN - 1)}…` : text
}

function time (iso: string): string {
  return iso.replace('T', ' ')
}

/** One replay: what was sent, then original and replay side by side. */
function block (r: ReplayResult, total: number, timing: boolean): string {
  const o = r.original
  const res = r.response
  const rows: Array<[string, string, string]> = []
  if (timing) rows.push(['start', `+${r.offset_ms.original.toFixed(0)} ms`, `+${r.offset_ms.replay.toFixed(0)} ms`])
  rows.push(['status', o.status === null ? 'no response' : String(o.status), res.status === null ? 'no response' : String(res.status)])
  rows.push(['flags', o.flags.join(',') || '-', r.outcome.flags.join(',') || '-'])
  rows.push(['cause', o.cause ?? '-', r.outcome.cause ?? '-'])
  rows.push(['ttfb', ms(o.timings.ttfb_ms), ms(res.ttfb_ms)])
  if (timing) {
    const receive = (ttfb: number | null, duration: number): string => ms(ttfb === null ? null : Math.max(0, duration - ttfb))
    rows.push(['receive', receive(o.timings.ttfb_ms, o.timings.duration_ms), receive(res.ttfb_ms, res.duration_ms)])
    rows.push(['chunks', 'not recorded', res.chunks === 0 ? '0' : `${res.chunks} (longest gap ${ms(res.max_gap_ms)})`])
  }
  rows.push(['duration', ms(o.timings.duration_ms), ms(res.duration_ms)])
  rows.push(['response', o.response_bytes === null ? '-' : `${o.response_bytes} bytes`, res.status === null ? '-' : `${res.bytes} bytes${timing ? '' : `, ${res.chunks} chunk${res.chunks === 1 ? '' : 's'}`}`])

  const reported = r.recorded?.meta.reported_by === 'replay'
  const recorded = r.recorded === null
    ? ''
    : reported ? `  (no proxy recorded it: recorded in the originals' store as ${r.recorded.id})` : `  (recorded there as ${r.recorded.id}, route ${r.recorded.route})`
  const body = r.body.mode === 'none' ? 'none' : `${r.body.mode}: ${r.body.detail}, ${r.body.bytes} bytes (original ${o.request.bytes})`
  let s = `[${r.n}/${total}] ${o.method} ${o.path}${o.query === '' ? '' : `?${o.query}`}\n`
  s += `  original  ${o.id}  correlation ${o.correlation_id}  route ${o.route}  ${time(o.started_at)}\n`
  s += `  replay    X-Request-ID ${r.request_id} -> ${r.url}${recorded}\n`
  s += `  body      ${body}\n\n`
  const source = r.outcome.source === 'derived' ? '' : reported ? ' (as recorded in the originals\' store)' : ' (as recorded by the proxy)'
  s += `  ${''.padEnd(9)} ${'original'.padEnd(COLUMN)}  replay${source}\n`
  for (const [name, a, b] of rows) s += `  ${name.padEnd(9)} ${cell(a).padEnd(COLUMN)}  ${b}\n`
  if (res.error !== null) s += `  error     ${res.error.code}: ${res.error.message}\n`
  for (const note of r.notes) s += `  note: ${note}\n`
  return s
}

export function renderReplays (results: ReplayResult[], target: string, timing: boolean): string {
  let s = ''
  for (const r of results) s += block(r, results.length, timing) + '\n'
  const unreached = results.filter((r) => r.response.status === null).length
  s += `${results.length} replayed to ${target}: ${results.length - unreached} answered, ${unreached} not answered.\n`
  if (timing) s += 'Timing: each replay started at its original\'s offset; its time to first byte is reproduced by the staging proxy\'s fault injection when --admin points at one with faults enabled. Chunk gaps are not recorded (only ttfb and duration).\n'
  const ids = results.map((r) => r.request_id)
  if (ids.length > 0) s += `Their records, by X-Request-ID (on the proxy in front of the target, or the originals' when none was): duo-diag-proxy show ${ids[0]}${ids.length > 1 ? ' …' : ''}\n`
  return s
}
