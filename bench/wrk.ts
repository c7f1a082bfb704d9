/**
 * Closed-loop load with wrk (C, one thread): the issue-20 protocol's generator. autocannon, in
 * Node on the load core, tops out near the proxy's own rate; wrk does not. Debian's package
 * (`apt-get install wrk`); without it the caller falls back to autocannon and says so.
 */
import { execFile, execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ClosedLoopResult } from './load.js'
import { COMPLETIONS_BODY, COMPLETIONS_HEADERS, COMPLETIONS_PATH } from './payloads.js'

export function findWrk (): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

/** One request in this many of the burst goes to a path the upstream answers 404: the failures a burst must not cost. */
export const BURST_FAILURE_EVERY = 100
/** The burst's failing path (bench/upstream.ts answers 404 to any path it does not serve). */
export const BURST_FAILURE_PATH = '/v2/code/missing'

/**
 * The request every connection repeats: the bench's code completion (1.5 KB JSON POST); every
 * BURST_FAILURE_EVERY-th the same POST to BURST_FAILURE_PATH.
 */
function script (dir: string): string {
  const path = join(dir, 'completions.lua')
  const lines = ['wrk.method = "POST"', `wrk.body = [==[${COMPLETIONS_BODY.toString('utf8')}]==]`]
  for (const [k, v] of Object.entries(COMPLETIONS_HEADERS)) lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
  lines.push(
    'local n = 0',
    'request = function()',
    '  n = n + 1',
    `  if n % ${BURST_FAILURE_EVERY} == 0 then return wrk.format(nil, ${JSON.stringify(BURST_FAILURE_PATH)}) end`,
    '  return wrk.format()',
    'end'
  )
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

function ms (text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '')
  return m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]!]!
}

/** wrk's report: requests, rate, the latency distribution's 50 % and 99 %, errors. */
export function parseWrk (out: string, durationS: number): ClosedLoopResult {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests,
    durationS,
    p50Ms: ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99Ms: ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    errors: socket === null ? 0 : socket.slice(1).reduce((a, n) => a + Number(n), 0),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  }
}

export function wrkClosedLoop (wrk: string, base: string, opts: { durationS: number, connections: number, core: number | null, dir: string }): Promise<ClosedLoopResult> {
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.durationS}s`, '--latency', '-s', script(opts.dir), base + COMPLETIONS_PATH]
  const [file, argv] = opts.core === null ? [wrk, args] : ['taskset', ['-c', String(opts.core), wrk, ...args]]
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: (opts.durationS + 15) * 1000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`wrk failed: ${err.message} ${stderr}`))
      else resolve(parseWrk(stdout, opts.durationS))
    })
  })
}
