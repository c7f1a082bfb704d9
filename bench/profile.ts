/**
 * CPU profile of the built proxy under load: the proxy runs with `node --cpu-prof` (one profile
 * per thread: the data plane and the capture worker), pinned like in the benchmark, driven by
 * closed-loop autocannon (or an open-loop rate), stopped with SIGTERM; then the top functions by
 * self time are printed per thread, with a roll-up by source (our files, undici, node:http, pino,
 * better-sqlite3, GC, ...). The .cpuprofile files are kept for a flame graph (Chrome DevTools,
 * speedscope).
 *
 *   node --import tsx bench/profile.ts [--mode default|fwd-only|bodies] [--seconds 5] [--rate N] [--top 25] [--out DIR]
 *   node --import tsx bench/profile.ts --analyze FILE.cpuprofile [--analyze ...]   (summarize existing profiles)
 *   --tree MIN: the call tree's nodes of at least MIN % of a thread's busy time (default 3; 0: no tree)
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { closedLoop, openLoop } from './load.js'
import { freePort, killAllNow, setUpPinning, stopAll, stopChild } from './procs.js'
import { PROXY_NODE_ARGS, startProxy, startUpstream } from './targets.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

interface CallFrame { functionName: string, url: string, lineNumber: number, columnNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, hitCount?: number, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface FunctionCost { name: string, where: string, selfMs: number, share: number }
export interface ProfileSummary {
  file: string
  role: string
  totalMs: number
  busyMs: number
  /** By self time. */
  top: FunctionCost[]
  /** By inclusive time (the function and everything it called), our code and the libraries' entry points. */
  inclusive: FunctionCost[]
  bySource: Array<{ source: string, selfMs: number, share: number }>
}

function where (cf: CallFrame): string {
  if (cf.url === '') return ''
  let u = cf.url.replace(/^file:\/\//, '')
  if (u.startsWith(ROOT)) u = relative(ROOT, u)
  return `${u}:${cf.lineNumber + 1}`
}

function source (cf: CallFrame): string {
  const u = cf.url
  if (u === '') {
    if (cf.functionName.startsWith('(')) return cf.functionName
    return '(native/V8 builtins)'
  }
  if (u.startsWith('node:')) return u.replace(/^node:internal\//, 'node:').split('/').slice(0, 2).join('/')
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)
  if (nm !== null) return `npm:${nm[1]}`
  const dist = /\/(dist|src)\/(.*)$/.exec(u)
  if (dist !== null) return `proxy:${(dist[2] as string).split('/')[0]}`
  return u
}

/** CLOCK_MONOTONIC in µs: the clock V8's profiler stamps samples with. */
export function monotonicUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/**
 * Self time per function (samples × their time deltas), heaviest first. With `window`
 * ([from, to] in monotonicUs()), only samples inside it count: start-up and warm-up are left out.
 */
export function summarizeProfile (file: string, top = 25, window: [number, number] | null = null): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of p.nodes) {
    byId.set(n.id, n)
    for (const c of n.children ?? []) parent.set(c, n.id)
  }
  const selfUs = selfTimes(p, window)
  const fn = new Map<string, { name: string, where: string, us: number }>()
  const src = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const cf = (byId.get(id) as ProfileNode).callFrame
    total += us
    if (cf.functionName === '(idle)') {
      idle += us
      continue
    }
    const key = `${cf.functionName}|${cf.url}|${cf.lineNumber}`
    const e = fn.get(key) ?? { name: cf.functionName || '(anonymous)', where: where(cf), us: 0 }
    e.us += us
    fn.set(key, e)
    const s = source(cf)
    src.set(s, (src.get(s) ?? 0) + us)
  }
  const busy = total - idle
  // Inclusive time: each sample counts once for every distinct function on its stack.
  const incl = new Map<string, { name: string, where: string, us: number }>()
  for (const [id, us] of selfUs) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = (byId.get(cur) as ProfileNode).callFrame
      if (cf.url === '' || cf.url.startsWith('node:')) continue
      const key = `${cf.functionName}|${cf.url}|${cf.lineNumber}`
      if (seen.has(key)) continue
      seen.add(key)
      const e = incl.get(key) ?? { name: cf.functionName || '(anonymous)', where: where(cf), us: 0 }
      e.us += us
      incl.set(key, e)
    }
  }
  // Which thread is this? The data plane runs the http server; the capture worker builds exchanges.
  const urls = new Set(p.nodes.map((n) => n.callFrame.url))
  const role = urls.has('node:_http_server') ? 'data plane (main thread)' : [...urls].some((u) => /\/capture\/(engine|worker)\.js$/.test(u)) ? 'capture worker' : 'other thread'
  return {
    file,
    role,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    top: [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: busy > 0 ? e.us / busy : 0 })),
    inclusive: [...incl.values()].filter((e) => /^(dist|src)\//.test(e.where) || e.where.startsWith('node_modules/')).sort((a, b) => b.us - a.us).slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: busy > 0 ? e.us / busy : 0 })),
    bySource: [...src.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([s, us]) => ({ source: s, selfMs: us / 1000, share: busy > 0 ? us / busy : 0 }))
  }
}

/** Time per profile node (µs): its samples × their time deltas, within `window` when given. */
function selfTimes (p: CpuProfile, window: [number, number] | null): Map<number, number> {
  const selfUs = new Map<number, number>()
  let t = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0
    if (window !== null && (t < window[0] || t > window[1])) continue
    const id = p.samples[i] as number
    const dt = p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt))
  }
  return selfUs
}

/**
 * A flame graph as text: the call tree top-down, each node with its share of the thread's busy
 * time (itself and its callees), those of at least `minShare`, to `maxDepth` levels.
 */
export function callTree (file: string, minShare = 0.03, maxDepth = 14, window: [number, number] | null = null): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]))
  const selfUs = selfTimes(p, window)
  const inclUs = new Map<number, number>()
  const sum = (n: ProfileNode): number => {
    let us = selfUs.get(n.id) ?? 0
    for (const c of n.children ?? []) us += sum(byId.get(c) as ProfileNode)
    inclUs.set(n.id, us)
    return us
  }
  const root = p.nodes[0]
  if (root === undefined) return ''
  sum(root)
  let idle = 0
  for (const n of p.nodes) if (n.callFrame.functionName === '(idle)') idle += selfUs.get(n.id) ?? 0
  const busy = (inclUs.get(root.id) ?? 0) - idle
  if (busy <= 0) return ''
  const lines: string[] = []
  const walk = (n: ProfileNode, depth: number): void => {
    const children = (n.children ?? []).map((c) => byId.get(c) as ProfileNode)
      .filter((c) => c.callFrame.functionName !== '(idle)' && (inclUs.get(c.id) ?? 0) / busy >= minShare)
      .sort((a, b) => (inclUs.get(b.id) ?? 0) - (inclUs.get(a.id) ?? 0))
    for (const c of children) {
      const share = (100 * (inclUs.get(c.id) ?? 0) / busy).toFixed(1).padStart(5)
      const at = where(c.callFrame)
      lines.push(`${'  '.repeat(depth)}${share} %  ${c.callFrame.functionName || '(anonymous)'}${at === '' ? '' : `  ${at}`}`)
      if (depth + 1 < maxDepth) walk(c, depth + 1)
    }
  }
  walk(root, 0)
  return lines.join('\n')
}

export function formatProfile (s: ProfileSummary, label: string): string {
  const lines = [`### ${label}: ${s.busyMs.toFixed(0)} ms busy of ${s.totalMs.toFixed(0)} ms profiled`, '', '| self % of busy | self ms | function | where |', '|---|---|---|---|']
  for (const f of s.top) lines.push(`| ${(f.share * 100).toFixed(1)}% | ${f.selfMs.toFixed(0)} | \`${f.name}\` | ${f.where} |`)
  lines.push('', 'By source: ' + s.bySource.map((b) => `${b.source} ${(b.share * 100).toFixed(1)}%`).join(', '), '')
  lines.push('Inclusive (function + callees), proxy code and packages:', '', '| incl. % of busy | incl. ms | function | where |', '|---|---|---|---|')
  for (const f of s.inclusive) lines.push(`| ${(f.share * 100).toFixed(1)}% | ${f.selfMs.toFixed(0)} | \`${f.name}\` | ${f.where} |`)
  lines.push('')
  return lines.join('\n')
}

/** The call tree of a profile, as a fenced block; `--tree 0` leaves it out. */
function treeSection (file: string, minPercent: string | undefined, window: [number, number] | null): string {
  const min = Number(minPercent ?? 3)
  if (!Number.isFinite(min) || min <= 0) return ''
  return ['Call tree (a flame graph as text: share of the thread\'s busy time, itself and callees, nodes of at least ' + min + ' %):', '', '```', callTree(file, min / 100, 14, window), '```', ''].join('\n') + '\n'
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'default' },
      seconds: { type: 'string', default: '5' },
      rate: { type: 'string' },
      top: { type: 'string', default: '25' },
      out: { type: 'string' },
      analyze: { type: 'string', multiple: true },
      tree: { type: 'string', default: '3' },
      'no-pin': { type: 'boolean', default: false }
    }
  })
  if (values.analyze !== undefined) {
    // Summarize existing .cpuprofile files (whole profile, start-up included).
    for (const f of values.analyze) {
      const s = summarizeProfile(f, Number(values.top) || 25)
      process.stdout.write(formatProfile(s, `${s.role} — ${f}`) + '\n' + treeSection(f, values.tree, null))
    }
    return
  }
  const mode = values.mode as 'default' | 'fwd-only' | 'bodies'
  if (!['default', 'fwd-only', 'bodies'].includes(mode)) throw new Error(`--mode ${mode}: default, fwd-only or bodies`)
  const seconds = Math.min(60, Math.max(1, Number(values.seconds) || 5))
  const pinning = setUpPinning(!values['no-pin'])
  process.stderr.write(`${pinning.note}\n`)
  const dir = mkdtempSync(join(tmpdir(), 'ddp-prof-'))
  const profDir = join(dir, 'prof')
  mkdirSync(profDir)
  try {
    const upPort = await freePort()
    const [upstream, proxy] = await Promise.all([
      startUpstream(ROOT, pinning.loadCore, upPort),
      startProxy(ROOT, mode, upPort, dir, pinning.proxyCore, { nodeArgs: [...PROXY_NODE_ARGS, '--cpu-prof', `--cpu-prof-dir=${profDir}`] })
    ])
    await closedLoop(proxy.base, { durationS: 1, connections: 10, warmupS: 0 })
    const from = monotonicUs()
    if (values.rate !== undefined) {
      const r = await openLoop(proxy.base, { rate: Number(values.rate), durationS: seconds, warmupS: 0 })
      process.stderr.write(`open loop ${values.rate}/s: p50 ${r.p50Ms.toFixed(3)} p99 ${r.p99Ms.toFixed(3)} ms\n`)
    } else {
      const r = await closedLoop(proxy.base, { durationS: seconds, connections: 10, warmupS: 0 })
      process.stderr.write(`closed loop: ${r.rps.toFixed(0)} req/s\n`)
    }
    const to = monotonicUs()
    await stopChild(proxy.child!, 15_000)
    await stopChild(upstream.child)
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profDir, f))
    const summaries = files.map((f) => summarizeProfile(f, Number(values.top) || 25, [from, to])).sort((a, b) => b.busyMs - a.busyMs)
    const outDir = values.out ?? join(ROOT, 'bench', 'results', 'profiles')
    mkdirSync(outDir, { recursive: true })
    const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z')
    const report: string[] = [`## CPU profile: proxy ${mode}, ${values.rate !== undefined ? `open loop ${values.rate} req/s` : 'closed loop 10 connections'}, ${seconds} s after a 1 s warm-up (samples of the load window only; ${pinning.note})`, '',
      'Shares are of each thread\'s own samples. V8 samples wall-clock while a thread is runnable, so two threads pinned to one core each look busier than they are.', '']
    summaries.forEach((s, i) => {
      const kept = join(outDir, `${stamp}-${mode}-${s.role.split(' ')[0]}-${i + 1}.cpuprofile`)
      copyFileSync(s.file, kept)
      report.push(formatProfile(s, `${s.role} — ${relative(ROOT, kept)}`), treeSection(kept, values.tree, [from, to]))
    })
    process.stdout.write(report.join('\n') + '\n')
  } finally {
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.once('exit', killAllNow)
  process.once('SIGINT', () => {
    killAllNow()
    process.exit(130)
  })
  main().catch((err: unknown) => {
    process.stderr.write(`profile: ${(err as Error).stack ?? String(err)}\n`)
    killAllNow()
    process.exitCode = 1
  })
}
