/**
 * The issue-20 protocol, per configuration: a saturating closed loop (wrk, 10 connections, the
 * 1.5 KB completion POST) immediately followed by an open loop at a steady 1 000 req/s on 10
 * keep-alive connections. The open loop's latency is the tail a user sees after a burst of
 * completions, while the capture thread works through what the burst left queued; its CPU is
 * the tested process's share of a core during that window; records kept = exchanges in the
 * proxy's store once its queue drained / requests sent in both windows. One burst request in
 * BURST_FAILURE_EVERY fails (404): failures kept = those in the store / those wrk saw.
 */
import { closedLoop, type ClosedLoopResult, OpenLoop, type OpenLoopResult, summarizeOpen } from './load.js'
import { CLK_TCK, cpuTicks } from './procs.js'
import { median } from './stats.js'
import { readMetrics, readStored, type Target } from './targets.js'
import { wrkClosedLoop } from './wrk.js'

export interface BurstPlan {
  closedS: number
  openS: number
  openRate: number
  connections: number
}

export interface BurstSample {
  closed: ClosedLoopResult
  /** The open loop right after the closed one. */
  open: OpenLoopResult
  /** Share of one core the tested process used during the open loop (null: direct). */
  openCoreShare: number | null
  /** Exchanges written / requests sent (null: not a duo-diag-proxy). */
  kept: number | null
  /** The burst's failures (404) written / those wrk saw (null: not a proxy, or no failures sent). */
  failuresKept: number | null
  dropped: number | null
  /** Healthy exchanges not recorded under the backlog (store.max_queue_healthy). */
  shed: number | null
}

export async function burstThenSteady (t: Target, plan: BurstPlan, gen: { wrk: string | null, core: number | null, dir: string }, quiesce: () => Promise<number>): Promise<BurstSample> {
  const before = t.adminBase === null ? null : await readMetrics(t.adminBase)
  const storedBefore = t.adminBase === null ? null : await readStored(t.adminBase, 404)
  const closed = gen.wrk !== null
    ? await wrkClosedLoop(gen.wrk, t.base, { durationS: plan.closedS, connections: plan.connections, core: gen.core, dir: gen.dir })
    : await closedLoop(t.base, { durationS: plan.closedS, connections: plan.connections, warmupS: 0 })
  const steady = new OpenLoop(t.base, { connections: plan.connections })
  const c0 = t.pid === null ? 0 : cpuTicks(t.pid)
  const w0 = performance.now()
  let raw
  try {
    raw = await steady.run(plan.openRate, plan.openS)
  } finally {
    await steady.close()
  }
  const wallS = (performance.now() - w0) / 1000
  const openCoreShare = t.pid === null ? null : (cpuTicks(t.pid) - c0) / CLK_TCK / wallS
  await quiesce()
  const after = t.adminBase === null ? null : await readMetrics(t.adminBase)
  const storedAfter = t.adminBase === null ? null : await readStored(t.adminBase, 404)
  const open = summarizeOpen([raw])
  const sent = closed.requests + open.sent
  const stored = storedBefore === null || storedAfter === null ? null : { total: storedAfter.total - storedBefore.total, failures: storedAfter.withStatus - storedBefore.withStatus }
  return {
    closed,
    open,
    openCoreShare,
    kept: stored === null ? null : stored.total / Math.max(1, sent),
    failuresKept: stored === null || closed.non2xx === 0 ? null : stored.failures / closed.non2xx,
    dropped: before === null || after === null ? null : after.dropped - before.dropped,
    shed: before === null || after === null ? null : after.shed - before.shed
  }
}

interface Row { id: string, label: string, rps: number[], p50: number[], p99: number[], addedP50: number[], addedP99: number[], cpu: number[], kept: number[], failuresKept: number[], dropped: number[], shed: number[] }

const spread = (v: number[], digits: number, unit = ''): string => v.length === 0 ? '–' : `${median(v).toFixed(digits)}${unit} [${Math.min(...v).toFixed(digits)}…${Math.max(...v).toFixed(digits)}]`

/** The table of the issue, with the same-run ratios against the bare pipe and the targets met or not. */
export function burstReport (targets: readonly Target[], rounds: ReadonlyArray<Record<string, BurstSample>>, plan: BurstPlan, generator: string): string {
  const rows: Row[] = targets.map((t) => ({ id: t.id, label: t.label, rps: [], p50: [], p99: [], addedP50: [], addedP99: [], cpu: [], kept: [], failuresKept: [], dropped: [], shed: [] }))
  for (const round of rounds) {
    const direct = round.direct
    for (const row of rows) {
      const s = round[row.id]
      if (s === undefined) continue
      row.rps.push(s.closed.rps)
      row.p50.push(s.open.p50Ms)
      row.p99.push(s.open.p99Ms)
      if (direct !== undefined) {
        row.addedP50.push(s.open.p50Ms - direct.open.p50Ms)
        row.addedP99.push(s.open.p99Ms - direct.open.p99Ms)
      }
      if (s.openCoreShare !== null) row.cpu.push(s.openCoreShare * 100)
      if (s.kept !== null) row.kept.push(s.kept * 100)
      if (s.failuresKept != null) row.failuresKept.push(s.failuresKept * 100)
      if (s.dropped !== null) row.dropped.push(s.dropped)
      if (s.shed != null) row.shed.push(s.shed)
    }
  }
  const lines = [
    `### After a burst: ${plan.closedS} s closed loop (${generator}, ${plan.connections} connections) then ${plan.openS} s at ${plan.openRate} req/s (${plan.connections} keep-alive connections), per configuration`,
    '',
    'Cells: median [min…max] over rounds. Added = configuration − direct in the same round.',
    '',
    '| configuration | closed loop req/s | p50 ms after | p99 ms after | added p50 ms | added p99 ms | CPU after (one core) | records kept | failures kept | shed | dropped |',
    '|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    lines.push(`| ${r.label} | ${spread(r.rps, 0)} | ${spread(r.p50, 3)} | ${spread(r.p99, 2)} | ${r.id === 'direct' ? '' : spread(r.addedP50, 3)} | ${r.id === 'direct' ? '' : spread(r.addedP99, 2)} | ${spread(r.cpu, 0, ' %')} | ${spread(r.kept, 0, ' %')} | ${spread(r.failuresKept, 0, ' %')} | ${spread(r.shed, 0)} | ${spread(r.dropped, 0)} |`)
  }
  const bare = rows.find((r) => r.id === 'bare-pipe')
  const proxy = rows.find((r) => r.id === 'default')
  if (bare !== undefined && proxy !== undefined && bare.rps.length > 0 && proxy.rps.length > 0) {
    const m = (v: number[]): number => median(v)
    const checks: Array<[string, string, boolean]> = [
      ['added p99 after a burst ≤ 1.5 × the bare pipe\'s', `${m(proxy.addedP99).toFixed(2)} vs ${(1.5 * m(bare.addedP99)).toFixed(2)} ms`, m(proxy.addedP99) <= 1.5 * m(bare.addedP99)],
      ['added p50 ≤ the bare pipe\'s + 0.05 ms', `${m(proxy.addedP50).toFixed(3)} vs ${(m(bare.addedP50) + 0.05).toFixed(3)} ms`, m(proxy.addedP50) <= m(bare.addedP50) + 0.05],
      ['CPU at 1 000 req/s ≤ 1.3 × the bare pipe\'s', `${m(proxy.cpu).toFixed(0)} % vs ${(1.3 * m(bare.cpu)).toFixed(0)} %`, m(proxy.cpu) <= 1.3 * m(bare.cpu)],
      ['closed loop ≥ 0.9 × the bare pipe', `${(m(proxy.rps) / m(bare.rps)).toFixed(2)} ×`, m(proxy.rps) >= 0.9 * m(bare.rps)],
      ['records kept at saturation ≥ 80 %', `${m(proxy.kept).toFixed(0)} %`, m(proxy.kept) >= 80]
    ]
    if (proxy.failuresKept.length > 0) checks.push(['the burst\'s failures kept (not an issue target: the design\'s)', `${m(proxy.failuresKept).toFixed(0)} %`, m(proxy.failuresKept) >= 99.5])
    lines.push('', '| target (default mode, same run) | this run | met |', '|---|---|---|')
    for (const [what, got, met] of checks) lines.push(`| ${what} | ${got} | ${met ? 'yes' : '**NO**'} |`)
  }
  return lines.join('\n')
}
