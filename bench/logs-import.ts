/**
 * `npm run bench:logs` (issue 19): the real CLI, `duo-diag-proxy logs import -`, fed 1 GB of AI
 * gateway and llm.log lines on stdin, into a fresh SQLite store. Reports lines/s, the import's
 * phases, and the process's RSS sampled from /proc (peak and at the end): memory must stay
 * bounded however large the input. The lines are the fixtures' own (test/fixtures/logs/, written
 * from GitLab's log calls), each request's lines repeated under new correlation IDs and times.
 *
 *   npm run bench:logs                    # 1 GB (several minutes)
 *   npm run bench:logs -- --size 100M     # a quicker look
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const ROOT = join(import.meta.dirname, '..')
const FIXTURES = join(ROOT, 'test', 'fixtures', 'logs')
const CLI = join(ROOT, 'dist', 'cli', 'main.js')

function parseSize (text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)B?$/i.exec(text.trim())
  if (m === null) throw new Error(`--size: "${text}" is not a size such as 1G or 100M`)
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G']
  return Math.round(Number(m[1]) * unit)
}

/** Each fixture request's lines (JSON lines with a correlation_id), grouped by that id. */
function templates (): string[][] {
  const groups: string[][] = []
  for (const dir of readdirSync(FIXTURES, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue
    for (const file of ['gateway.log', 'llm.log']) {
      let text: string
      try {
        text = readFileSync(join(FIXTURES, dir.name, file), 'utf8')
      } catch {
        continue
      }
      const byId = new Map<string, string[]>()
      for (const line of text.split('\n')) {
        const id = /"correlation_id": ?"([^"]+)"/.exec(line)?.[1]
        if (id === undefined) continue
        const group = byId.get(id) ?? []
        group.push(line)
        byId.set(id, group)
      }
      for (const [id, lines] of byId) groups.push(lines.map((l) => l.split(id).join('{{CID}}')))
    }
  }
  if (groups.length === 0) throw new Error(`no fixture lines with a correlation_id under ${FIXTURES}`)
  return groups
}

const TIME = /(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|\+00:00)/g

/** Lines of `bytes` in all: templates in turn, each under a new correlation ID, times moving on. */
function * generate (bytes: number, groups: string[][]): Generator<string> {
  let written = 0
  let n = 0
  // Recent times (retention keeps them), 20 ms apart: a gigabyte spans a few hours.
  let clock = Date.now() - 8 * 3_600_000
  while (written < bytes) {
    const group = groups[n % groups.length]!
    const cid = `bench${n.toString(16).padStart(12, '0')}`
    clock += 20
    const stamp = new Date(clock).toISOString().slice(0, 19)
    let chunk = ''
    for (const line of group) chunk += line.split('{{CID}}').join(cid).replace(TIME, (_m, _t, frac: string | undefined, zone: string) => `${stamp}${frac ?? ''}${zone}`) + '\n'
    written += Buffer.byteLength(chunk)
    n++
    yield chunk
  }
}

/** VmRSS and VmHWM of a process, in MiB (Linux). */
function memory (pid: number): { rss: number, peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
  } catch {
    return null
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '1G' } } })
  const size = parseSize(values.size)
  const dir = mkdtempSync(join(tmpdir(), 'ddp-bench-logs-'))
  const db = join(dir, 'store.db')
  const groups = templates()
  const started = performance.now()
  const child = spawn(process.execPath, [CLI, 'logs', 'import', '--db', db, '--json', '-'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, DUO_DIAG_CONFIG: '' } })
  let stdout = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  const samples: number[] = []
  let peak = 0
  let fedAt = 0
  const sampler = setInterval(() => {
    const m = memory(child.pid!)
    if (m === null) return
    samples.push(m.rss)
    peak = Math.max(peak, m.peak)
  }, 250)
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  let fed = 0
  for (const chunk of generate(size, groups)) {
    fed += Buffer.byteLength(chunk)
    if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once('drain', resolve))
    if (fed - fedAt > 64 * 1024 * 1024) {
      fedAt = fed
      process.stderr.write(`fed ${(fed / 1024 ** 2).toFixed(0)} MiB, import RSS ${(samples[samples.length - 1] ?? 0).toFixed(0)} MiB\n`)
    }
  }
  const readEnd = performance.now()
  child.stdin.end()
  const code = await exited
  clearInterval(sampler)
  const total = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`logs import exited with ${code}`)
  const result = JSON.parse(stdout) as { counts: { lines: number, events: number, unknown: number }, traces: number, reconstructed: number, updated: number }
  const sorted = [...samples].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0
  const rows = [
    ['input', `${(fed / 1024 ** 2).toFixed(0)} MiB, ${result.counts.lines.toLocaleString('en')} lines (${groups.length} fixture requests repeated)`],
    ['events stored', result.counts.events.toLocaleString('en') + ` (unrecognised lines: ${result.counts.unknown})`],
    ['correlation ids diagnosed', `${result.traces.toLocaleString('en')} (${result.reconstructed.toLocaleString('en')} reconstructed, ${result.updated} updated)`],
    ['time', `${total.toFixed(1)} s in all; input read and stored in ${((readEnd - started) / 1000).toFixed(1)} s`],
    ['lines/s (whole import)', Math.round(result.counts.lines / total).toLocaleString('en')],
    ['RSS', `peak ${peak.toFixed(0)} MiB (VmHWM), median ${median.toFixed(0)} MiB, ${samples.length} samples`]
  ]
  process.stdout.write(`| measure | value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`)
  rmSync(dir, { recursive: true, force: true })
}

await main()
