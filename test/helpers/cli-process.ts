/**
 * The duo-diag-proxy CLI as a real process (the build or the source: ./cli-entry.ts), for tests
 * that signal or kill it. (test/cli.test.ts keeps its own copy of this.)
 */
import { spawn, type ChildProcess, type SpawnOptionsWithStdioTuple } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLI_ARGS } from './cli-entry.js'
import { closeServer, listenEphemeral } from './net.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Under `npm test`, stores go here so test/setup/after.mjs audits them for secrets. */
const CAPTURE_ROOT = join(ROOT, '.tap', 'ddp-captures')

/** A fresh folder for a run's store: under the audited capture root when tap made one, else a temp dir. */
export function runDir (prefix: string): { dir: string, remove: () => void } {
  const audited = existsSync(CAPTURE_ROOT)
  const dir = mkdtempSync(join(audited ? CAPTURE_ROOT : tmpdir(), prefix))
  // Audited folders stay for the after-script (test/setup/before.mjs clears them per run).
  return { dir, remove: () => { if (!audited) rmSync(dir, { recursive: true, force: true }) } }
}

/** The environment a user's shell would give: none of ours or the runner's settings leak in. */
function cleanEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DUO_DIAG_') && k !== 'NODE_OPTIONS' && !k.startsWith('TAP')) env[k] = v
  }
  return { ...env, ...extra }
}

export interface CliProcess {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** JSON log lines written to stdout so far. */
  logs: () => Array<Record<string, unknown>>
  /** Resolves with the first log line whose msg is `msg`; rejects after timeoutMs or on exit. */
  waitForLog: (msg: string, timeoutMs?: number) => Promise<Record<string, unknown>>
  /** Resolves with how the process ended; SIGKILLs it and rejects after timeoutMs. */
  exit: (timeoutMs?: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * `nofile`: run under this descriptor limit (bash's ulimit -n), as a small container would.
 * `bin`: run this program (an installed duo-diag-proxy) instead of the CLI from source;
 * `cwd`: where it runs (the repository by default).
 */
export function spawnCli (args: string[], env: Record<string, string> = {}, opts: { nofile?: number, bin?: string, cwd?: string } = {}): CliProcess {
  const [file, argv]: [string, string[]] = opts.bin === undefined ? [process.execPath, [...CLI_ARGS, ...args]] : [opts.bin, args]
  const options: SpawnOptionsWithStdioTuple<'ignore', 'pipe', 'pipe'> = { cwd: opts.cwd ?? ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }
  const child = opts.nofile === undefined
    ? spawn(file, argv, options)
    : spawn('bash', ['-c', `ulimit -n ${opts.nofile} && exec "$0" "$@"`, file, ...argv], options)
  let out = ''
  let err = ''
  const waiters: Array<() => void> = []
  const wake = (): void => { for (const w of waiters.splice(0)) w() }
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
    wake()
  })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => {
    wake()
    resolve({ code, signal })
  }))
  const logs = (): Array<Record<string, unknown>> => {
    const lines: Array<Record<string, unknown>> = []
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        // a line still being written
      }
    }
    return lines
  }
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs,
    waitForLog (msg, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs)
        const check = (): void => {
          const line = logs().find((l) => l.message === msg)
          if (line !== undefined) {
            clearTimeout(timer)
            resolve(line)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer)
            reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before "${msg}"; stdout: ${out}; stderr: ${err}`))
          } else {
            waiters.push(check)
          }
        }
        check()
      })
    },
    exit (timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`still running after ${timeoutMs} ms; stdout: ${out.slice(-4000)}; stderr: ${err}`))
        }, timeoutMs)
      })
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer))
    }
  }
}

/** A port nothing listens on right now (bound to 0, then released). */
export async function freePort (): Promise<number> {
  const server = createServer()
  const port = await listenEphemeral(server)
  await closeServer(server)
  return port
}
