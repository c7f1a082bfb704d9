/** The markdown report printed at the end of a run (also stored in the results JSON). */
import type { ModeSummary, Results } from './run.js'
import type { Summary } from './stats.js'
import { TARGET_RPS } from './store-rate.js'

/** Closed-loop figure of the issue's bare node:http + undici.Pool.stream pipe (same machine type, another run). */
const BARE_PIPE_RPS = 14_800

function num (v: number | undefined, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function signed (v: number | undefined, digits = 2): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  return (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(digits)
}

/** "median [min–max]" */
function range (s: Summary | undefined, digits: number, sign = false): string {
  if (s === undefined || !Number.isFinite(s.median)) return '–'
  const f = (v: number): string => sign ? signed(v, digits) : num(v, digits)
  return s.rounds.length > 1 ? `${f(s.median)} [${f(s.min)}…${f(s.max)}]` : f(s.median)
}

function pct (v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(0)}%`
}

/** Share of requests whose record capture kept (not dropped), closed loop / open loop; '' without capture. */
function kept (s: ModeSummary): string {
  const closed = s.closedDroppedShare
  const open = s.open?.droppedShare ?? undefined
  if (s.id !== 'default' && s.id !== 'bodies' && s.id !== 'split') return ''
  const share = (d: number | undefined): string => d === undefined ? '–' : d === 0 ? '100%' : `${((1 - d) * 100).toFixed(1)}%`
  return `${share(closed)} / ${share(open)}`
}

function find (r: Results, id: string): ModeSummary | undefined {
  return r.summary.find((s) => s.id === id)
}

export function markdownReport (r: Results): string {
  const lines: string[] = []
  const m = r.meta
  const pin = m.pinning as { note: string }
  lines.push(`## duo-diag-proxy benchmark — ${m.date as string} (${r.plan.name}, ${r.plan.rounds} rounds, interleaved)`)
  lines.push('')
  lines.push(`Node ${m.node as string}, ${m.cpu as string} × ${m.cores as number}; ${pin.note}. Commit ${m.commit as string ?? '?'}.`)
  lines.push(`Cells: median over rounds [min…max across rounds]. Added latency = mode − direct in the same round. ` +
    `"busy": share of a core the tested process used during the closed-loop run / busy share of the load core (upstream + load generator); a figure near 100% names the bottleneck.`)
  lines.push('')

  lines.push('| mode | closed-loop req/s (10 conn) | busy: tested process / load core | CPU µs/req (main + capture thread) | p50 / p99 / p99.9 ms @1000 req/s | added p50 ms | added p99 ms | added p99.9 ms | core used @1000 req/s | records kept: closed loop / @1000 req/s |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const s of r.summary) {
    const o = s.open
    const cpu = s.cpuUsPerReq === undefined ? '–' : `${range(s.cpuUsPerReq, 1)} (${num(s.mainUsPerReq?.median, 1)} + ${num(s.workerUsPerReq?.median, 1)})`
    const busy = `${s.id === 'direct' ? '–' : pct(s.targetCoreShare?.median)} / ${pct(s.loadCoreBusy?.median)}`
    lines.push(`| ${s.label} | ${range(s.rps, 0)} | ${busy} | ${cpu} | ${o ? `${num(o.p50.median, 3)} / ${num(o.p99.median, 3)} / ${num(o.p999.median, 3)}` : '–'} | ${s.id === 'direct' ? '' : range(o?.addedP50, 3, true)} | ${s.id === 'direct' ? '' : range(o?.addedP99, 3, true)} | ${s.id === 'direct' ? '' : range(o?.addedP999, 3, true)} | ${s.id === 'direct' ? '' : pct(o?.coreShare.median)} | ${kept(s)} |`)
  }
  lines.push('')
  const split = find(r, 'split')?.open
  const alone = find(r, 'default')?.open
  const fwdOpen = find(r, 'fwd-only')?.open
  if (split !== undefined && alone !== undefined) {
    lines.push(`Capture on a core of its own (split: the capture thread moved to the other core): added p50 / p99 @1000 req/s ${signed(split.addedP50.median, 3)} / ${signed(split.addedP99.median, 3)} ms, ` +
      `against ${signed(alone.addedP50.median, 3)} / ${signed(alone.addedP99.median, 3)} ms with capture sharing the proxy's core (default)` +
      (fwdOpen !== undefined ? ` and ${signed(fwdOpen.addedP50.median, 3)} / ${signed(fwdOpen.addedP99.median, 3)} ms forwarding only` : '') +
      '. Its closed-loop figures share the load core with the load generator: not comparable.')
    lines.push('')
  }
  lines.push(`SSE (${r.plan.ssePaced.chunks} chunks every ${r.plan.ssePaced.intervalMs} ms, ${r.plan.ssePaced.count} streams/round; unpaced: ${r.plan.sseUnpaced.chunks} chunks at once):`)
  lines.push('')
  lines.push('| mode | paced: first `data:` ms | added | whole stream ms | added | gap between reads p50 / max ms | events per read | unpaced: first ms | added | whole ms | added |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|')
  for (const s of r.summary) {
    const p = s.ssePaced
    const u = s.sseUnpaced
    if (p === undefined && u === undefined) continue
    const d = s.id === 'direct'
    lines.push(`| ${s.label} | ${num(p?.first.median, 3)} | ${d ? '' : range(p?.addedFirst, 3, true)} | ${num(p?.total.median, 2)} | ${d ? '' : range(p?.addedTotal, 2, true)} | ${num(p?.gapP50.median, 2)} / ${num(p?.gapMax.median, 2)} | ${num(p?.eventsPerRead.median, 2)} | ${num(u?.first.median, 3)} | ${d ? '' : range(u?.addedFirst, 3, true)} | ${num(u?.total.median, 2)} | ${d ? '' : range(u?.addedTotal, 2, true)} |`)
  }
  lines.push('')

  const L = r.long
  if (L !== null) {
    lines.push(`Long run (${L.mode}, closed loop, 10 connections): ${num(L.completed)} requests in ${num(L.durationS, 1)} s (${num(L.rps)} req/s), ` +
      `RSS ${num(L.rssBeforeMB, 1)} → ${num(L.rssAfterMB, 1)} MB (growth ${signed(L.rssGrowthMB, 1)} MB, peak ${num(L.rssPeakMB, 1)} MB; lowest RSS of the last quarter − of the first quarter: ${signed(L.rssTroughGrowthMB, 1)} MB), ` +
      `CPU ${num(L.cost?.cpuUsPerReq, 1)} µs/req (main ${num(L.cost?.threadsUsPerReq.main, 1)}, capture thread ${num(L.cost?.threadsUsPerReq.busiestOther, 1)}, other threads ${num(L.cost?.threadsUsPerReq.rest, 1)}), ` +
      `not recorded (dropped or shed) ${L.droppedDelta ?? '?'}, backlog written ${num(L.drainMs)} ms after the load stopped${L.errors > 0 ? `, ${L.errors} errors` : ''}.${L.note ? ' ' + L.note + '.' : ''}`)
    lines.push('')
  }
  const S = r.store
  if (S !== null) {
    lines.push(`Store write rate of the capture pipeline itself (bench/store-rate.ts): ${S.method}; mix ${S.mix}; flush every ${S.flushIntervalMs} ms, max_queue ${num(S.maxQueue)}. ${S.pinning.note}.`)
    lines.push('')
    const d = S.drain
    if (d !== null) {
      lines.push(`Drain (${num(d.records)} records offered at once, within max_queue and max_queue_bytes): **${num(d.storedRps)} records/s** written (${num(d.stored)} in ${num(d.elapsedMs)} ms${d.dropped > 0 ? `, ${num(d.dropped)} dropped` : ''}${d.drained ? '' : ', NOT drained within the bound'}); ` +
        `CPU per record: capture worker ${num(d.cpu.worker ?? undefined, 1)} µs (${pct(d.cpu.workerCoreShare ?? undefined)} of its core), main thread ${num(d.cpu.main ?? undefined, 1)} µs, other threads ${num(d.cpu.other ?? undefined, 1)} µs.`)
      lines.push('')
    }
    if (S.steps.length > 0) {
      lines.push(`Open-loop steps of ${r.plan.store.stepS} s, uniform arrivals (1 ms timetable ticks), drained after each:`)
      lines.push('')
      lines.push('| offered records/s | fed /s | stored /s in the step | backlog at end (max) | drained after, ms | dropped | worker µs CPU/record (core busy) | main thread µs/record | foreign load | kept up |')
      lines.push('|---|---|---|---|---|---|---|---|---|---|')
      for (const s of S.steps) {
        const kept = s.keptUp ? 'yes' : `**no**${s.fullInS !== null && s.dropped === 0 ? ` (queue full after ≈ ${num(s.fullInS, 1)} s)` : ''}`
        lines.push(`| ${num(s.offered)} | ${num(s.fedRps)} | ${num(s.storedRps)} | ${num(s.backlogEnd)} (${num(s.backlogMax)}) | ${num(s.drainMs)}${s.drained ? '' : ' (bound)'} | ${s.dropped > 0 ? `**${num(s.dropped)}**` : '0'} | ${num(s.cpu.worker ?? undefined, 1)} (${pct(s.cpu.workerCoreShare ?? undefined)}) | ${num(s.cpu.main ?? undefined, 1)} | ${pct(s.noise ?? undefined)} | ${kept} |`)
      }
      lines.push('')
    }
    lines.push(`Sustained (kept up, no drops): **${S.sustainedOffered !== null ? `${num(S.sustainedOffered)} records/s` : 'no step kept up'}**` +
      `${S.sustainedStoredRps !== null ? ` (${num(S.sustainedStoredRps)}/s stored during that step)` : ''}; highest step without drops: ${S.highestNoDrops !== null ? `${num(S.highestNoDrops)}/s` : '–'}; ` +
      `first drops: ${S.firstDropsAt !== null ? `${num(S.firstDropsAt)}/s` : 'none'} (${S.stopReason}).` +
      (S.proxyWorkerUsPerRecord !== null ? ` Cross-check: the capture thread of the real proxy process (long run, sharing its core with forwarding) used ${num(S.proxyWorkerUsPerRecord, 1)} µs CPU per exchange.` : '') +
      ` ${S.note}.`)
    lines.push('')
  }

  // Targets of issue 5 (default mode), as far as this run can tell.
  const def = find(r, 'default')
  const fwd = find(r, 'fwd-only')
  const ngx = find(r, 'nginx')
  const check = (ok: boolean | null): string => ok === null ? 'n/a' : ok ? 'yes' : '**NO**'
  const rows: Array<[string, string, boolean | null]> = []
  if (def?.open) {
    rows.push(['added p50 ≤ 0.20 ms @1000 req/s', `${signed(def.open.addedP50.median, 3)} ms`, def.open.addedP50.median <= 0.2])
    rows.push(['added p99 ≤ 1.0 ms @1000 req/s', `${signed(def.open.addedP99.median, 3)} ms`, def.open.addedP99.median <= 1.0])
  }
  const bare = find(r, 'bare-pipe')
  if (def?.rps) {
    if (bare?.rps) rows.push(['closed loop ≥ 1.0× bare node:http + undici pipe (same run)', `${num(def.rps.median)} vs ${num(bare.rps.median)} req/s (${(def.rps.median / bare.rps.median).toFixed(2)}×)`, def.rps.median >= bare.rps.median])
    else rows.push([`closed loop ≥ bare node:http+undici pipe (${num(BARE_PIPE_RPS)} req/s, the issue's figure, another run)`, `${num(def.rps.median)} req/s (${(def.rps.median / BARE_PIPE_RPS).toFixed(2)}×)`, def.rps.median >= BARE_PIPE_RPS])
    rows.push(['closed loop ≥ 0.5× nginx (same run)', ngx?.rps ? `${(def.rps.median / ngx.rps.median).toFixed(2)}×` : 'nginx not measured', ngx?.rps ? def.rps.median >= 0.5 * ngx.rps.median : null])
    if (fwd?.rps) rows.push(['capture costs ≤ 10% throughput vs forwarding-only', `${((1 - def.rps.median / fwd.rps.median) * 100).toFixed(1)}% less`, def.rps.median >= 0.9 * fwd.rps.median])
  }
  if (def?.ssePaced) {
    rows.push(['SSE first chunk added ≤ 0.5 ms (paced)', `${signed(def.ssePaced.addedFirst.median, 3)} ms`, def.ssePaced.addedFirst.median <= 0.5])
    const dir = find(r, 'direct')?.ssePaced
    rows.push(['SSE paced chunks arrive as paced', `gap p50 ${num(def.ssePaced.gapP50.median, 2)} ms (direct ${num(dir?.gapP50.median, 2)}), ${num(def.ssePaced.eventsPerRead.median, 2)} events/read`,
      Math.abs(def.ssePaced.gapP50.median - r.plan.ssePaced.intervalMs) <= 1 && def.ssePaced.eventsPerRead.median <= 1.1])
  }
  if (L !== null) rows.push([`RSS growth < 30 MB over ${num(L.completed)} requests${L.completed < 500_000 ? ' (fewer than 500 000)' : ''}`, `${signed(L.rssGrowthMB, 1)} MB after − before (troughs ${signed(L.rssTroughGrowthMB, 1)} MB)`, L.rssGrowthMB < 30])
  if (S !== null) {
    const drainRps = S.drain?.storedRps
    rows.push([`capture pipeline ≥ ${num(TARGET_RPS)} records/s into SQLite`, `${S.sustainedOffered !== null ? num(S.sustainedOffered) : 'no step'}/s sustained (kept up, no drops); drain ${num(drainRps)}/s`,
      S.sustainedOffered !== null && S.sustainedOffered >= TARGET_RPS ? true : S.steps.some((s) => s.offered >= TARGET_RPS) || (drainRps !== undefined && drainRps < TARGET_RPS) ? false : null])
  }
  if (rows.length > 0) {
    lines.push('| target (default mode) | this run | met |')
    lines.push('|---|---|---|')
    for (const [what, value, ok] of rows) lines.push(`| ${what} | ${value} | ${check(ok)} |`)
    lines.push('')
  }

  const spreads = r.summary.flatMap((s) => s.rps ? [s.rps.spread] : []).filter(Number.isFinite)
  lines.push(`Noise: foreign CPU load (other processes on the machine) during measurement windows: median ${pct(r.noise.median)}, max ${pct(r.noise.max)} of both cores; ` +
    `closed-loop spread across rounds (max−min)/median: ${spreads.length > 0 ? spreads.map((x) => pct(x)).join(', ') : '–'} (${r.summary.filter((s) => s.rps).map((s) => s.id).join(', ')}).`)
  const lag = find(r, 'direct')?.open
  lines.push(`Open loop: ${m.openLoop as string}; ${num(lag?.samples)} samples per mode in all; the generator's own send lag (timer granularity) p99 ${num(lag?.sendLagP99.median, 3)} ms in the direct runs. Proxy logs: ${m.logging as string}.`)
  for (const n of r.notes) lines.push(`Note: ${n}.`)
  lines.push(`Run time ${num(r.elapsedS)} s.`)
  return lines.join('\n') + '\n'
}
