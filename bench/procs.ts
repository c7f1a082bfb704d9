/**
 * Child processes of the benchmark (always killed on exit, Ctrl-C or error), CPU pinning, and
 * what /proc says about them: CPU ticks, per-thread CPU, RSS, and the machine's per-core load
 * (to tell how much foreign work shared the machine during a measurement).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism } from 'node:os'

export const CLK_TCK = clockTicks()

function clockTicks (): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

function hasTaskset (): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export interface Pinning {
  enabled: boolean
  /** Core of the process under test (proxy, nginx). */
  proxyCore: number | null
  /** Core of the upstream and the load generator (this process). */
  loadCore: number | null
  note: string
}

/** Pins this process (the load generator) to core 1 when taskset and ≥ 2 cores are there. */
export function setUpPinning (wanted: boolean): Pinning {
  const cores = availableParallelism()
  if (!wanted) return { enabled: false, proxyCore: null, loadCore: null, note: 'pinning disabled (--no-pin)' }
  if (cores < 2) return { enabled: false, proxyCore: null, loadCore: null, note: `not pinned: ${cores} core(s) available` }
  if (!hasTaskset()) return { enabled: false, proxyCore: null, loadCore: null, note: 'not pinned: taskset not found' }
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
  } catch (err) {
    return { enabled: false, proxyCore: null, loadCore: null, note: `not pinned: taskset failed (${(err as Error).message})` }
  }
  return { enabled: true, proxyCore: 0, loadCore: 1, note: 'pinned with taskset: proxy/nginx on core 0; upstream + load generator on core 1' }
}

export interface Child {
  name: string
  proc: ChildProcess
  pid: number
  stderr: () => string
  exited: Promise<number | null>
}

const children = new Set<Child>()

/** Spawns `cmd args` (on `core` with taskset when given); stderr kept (last 8 KiB) for diagnostics. */
export function startChild (name: string, cmd: string, args: string[], opts: { core: number | null, env?: NodeJS.ProcessEnv, stdout?: 'pipe' | 'ignore', cwd?: string }): Child {
  const argv = opts.core === null ? [cmd, ...args] : ['taskset', '-c', String(opts.core), cmd, ...args]
  const proc = spawn(argv[0] as string, argv.slice(1), {
    stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd
  })
  let err = ''
  proc.stderr?.setEncoding('utf8')
  proc.stderr?.on('data', (d: string) => {
    err = (err + d).slice(-8192)
  })
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${cmd}`)
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    stderr: () => err,
    exited: new Promise((resolve) => proc.once('exit', (code) => {
      children.delete(child)
      resolve(code)
    }))
  }
  children.add(child)
  return child
}

/** SIGTERM (graceful), then SIGKILL after `graceMs`. */
export async function stopChild (c: Child, graceMs = 3_000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return
  c.proc.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      c.proc.kill('SIGKILL')
      resolve()
    }, graceMs)
  })
  await Promise.race([c.exited, killed])
  clearTimeout(timer)
  await c.exited
}

export async function stopAll (graceMs = 3_000): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, graceMs)))
}

/** Last resort, synchronous (process 'exit'): nothing may outlive the benchmark. */
export function killAllNow (): void {
  for (const c of children) {
    try {
      c.proc.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** A free 127.0.0.1 port (bound and released; the proxy binds it right after). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      s.close(() => resolve(port))
    })
  })
}

// ---- /proc -------------------------------------------------------------------------------

function statFields (path: string): string[] | null {
  try {
    const text = readFileSync(path, 'utf8')
    // comm may contain spaces and parentheses: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** utime + stime of a whole process (all threads), in clock ticks. */
export function cpuTicks (pid: number): number {
  const f = statFields(`/proc/${pid}/stat`)
  return f === null ? 0 : Number(f[11]) + Number(f[12])
}

/** CPU ticks per thread id (Node names every thread "node", so ids are all we have). */
export function threadTicks (pid: number): Map<string, number> {
  const out = new Map<string, number>()
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`)
    if (f !== null) out.set(tid, Number(f[11]) + Number(f[12]))
  }
  return out
}

export interface ThreadSplit {
  /** The main thread (the data plane). */
  main: number
  /** The busiest other thread: the capture worker when capture is on. */
  busiestOther: number
  /** All remaining threads (GC helpers, libuv pool, ...). */
  rest: number
}

/** Ticks spent per thread between two threadTicks() snapshots. */
export function threadSplit (pid: number, before: Map<string, number>, after: Map<string, number>): ThreadSplit {
  const deltas: number[] = []
  let main = 0
  for (const [tid, t] of after) {
    const d = t - (before.get(tid) ?? 0)
    if (tid === String(pid)) main = d
    else deltas.push(d)
  }
  deltas.sort((a, b) => b - a)
  return { main, busiestOther: deltas[0] ?? 0, rest: deltas.slice(1).reduce((a, b) => a + b, 0) }
}

/** CPU time of all threads in nanoseconds, from /proc/<pid>/task/<tid>/schedstat (finer than ticks). */
export function cpuNs (pid: number): number {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return 0
  }
  let ns = 0
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // thread gone
    }
  }
  return ns
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes (pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

export interface CoreTimes {
  busy: number
  total: number
}

/** Busy and total ticks per core, from /proc/stat. */
export function coreTimes (): CoreTimes[] {
  const out: CoreTimes[] = []
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line)
      if (m === null) continue
      const v = (m[2] as string).trim().split(/\s+/).map(Number)
      // user nice system idle iowait irq softirq steal [guest guest_nice] (guest is in user)
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
      const idle = (v[3] ?? 0) + (v[4] ?? 0)
      out[Number(m[1])] = { busy: total - idle, total }
    }
  } catch {
    // not Linux: no noise figures
  }
  return out
}

/**
 * Foreign load during a window: the share of all cores' time spent busy on processes other
 * than ours (the engineer running tests next to us, for instance).
 */
export class NoiseMeter {
  private t0: CoreTimes[] = []
  private ours0 = 0
  /** Busy share of each core during the last window (all processes, ours included). */
  coreBusy: number[] = []
  constructor (private readonly pids: () => number[]) {}

  private ours (): number {
    return this.pids().reduce((a, p) => a + cpuTicks(p), 0)
  }

  start (): void {
    this.t0 = coreTimes()
    this.ours0 = this.ours()
  }

  /** Foreign busy share of the machine, 0..1 (null when /proc/stat is not readable). */
  stop (): number | null {
    const t1 = coreTimes()
    if (t1.length === 0 || this.t0.length === 0) return null
    let busy = 0
    let total = 0
    this.coreBusy = []
    for (let i = 0; i < t1.length; i++) {
      const b = (t1[i]?.busy ?? 0) - (this.t0[i]?.busy ?? 0)
      const t = (t1[i]?.total ?? 0) - (this.t0[i]?.total ?? 0)
      busy += b
      total += t
      this.coreBusy.push(t > 0 ? b / t : NaN)
    }
    const ours = this.ours() - this.ours0
    return total > 0 ? Math.max(0, (busy - ours) / total) : null
  }
}

// ---- threads of this process (the store-rate phase runs the capture worker in-process) --------

/** Thread ids of a process (empty when /proc is not there). */
export function taskIds (pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
  } catch {
    return []
  }
}

/** CPU time of one thread in nanoseconds (schedstat), or null when it cannot be read. */
export function taskNs (pid: number, tid: string): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
  } catch {
    return null
  }
}

/** Pins one thread (by its id) to `core` with taskset; false when that failed. */
export function pinThread (tid: string, core: number): boolean {
  try {
    execFileSync('taskset', ['-p', '-c', String(core), tid], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** The CPU list a thread may run on, as taskset prints it ("0", "0,1", "0-1"), or null. */
export function threadAffinity (tid: string): string | null {
  try {
    const out = execFileSync('taskset', ['-p', '-c', tid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    return /:\s*(\S+)\s*$/.exec(out.trim())?.[1] ?? null
  } catch {
    return null
  }
}
