/**
 * The duo-diag-proxy CLI in a pseudo-terminal of a given width, as a person runs it: util-linux
 * `script` allocates the terminal (`stty cols N` sizes it), so stdout and stderr are TTYs and
 * process.stdout.columns is N. Output arrives merged, with CRLF line ends, as a terminal shows it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { stripVTControlCharacters as stripAnsi } from 'node:util'
import stringWidth from 'string-width'
import { CLI_ARGS, ROOT } from './cli-entry.js'
import { runCli, type Run } from './command.js'

/** Why pty tests cannot run here, or null when they can. */
export function ptyUnavailable (): string | null {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' })
    return null
  } catch {
    return 'util-linux script is not installed (apt-get install bsdutils)'
  }
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/**
 * A terminal's environment: the runner's colour settings (tap sets NO_COLOR=1, FORCE_COLOR=0)
 * and CI markers removed, TERM set; `env` adds to it.
 */
export function terminalEnv (env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('DUO_DIAG_') || k.startsWith('TAP') || k === 'NODE_OPTIONS' || k === 'NO_COLOR' || k === 'FORCE_COLOR' || k === 'COLUMNS' || k === 'CI') continue
    clean[k] = v
  }
  return { ...clean, TERM: 'xterm-256color', ...env }
}

export interface PtyRun {
  child: ChildProcess
  /** Everything the terminal showed so far, escapes included. */
  output: () => string
  /** Each chunk as it arrived, with the ms since the start. */
  chunks: Array<{ at: number, text: string }>
  /** Types into the terminal (e.g. '\x03' is Ctrl-C). */
  type: (text: string) => void
  /** Resolves when `re` matches the output (escapes stripped); rejects after timeoutMs or on exit. */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<void>
  exit: (timeoutMs?: number) => Promise<{ code: number | null, output: string }>
}

export function runInPty (args: string[], opts: { cols: number, env?: Record<string, string> }): PtyRun {
  const command = `stty cols ${opts.cols} rows 50; exec ${[process.execPath, ...CLI_ARGS, ...args].map(quote).join(' ')}`
  // stdin stays open: script passes what is typed to the terminal (Ctrl-C to stop `start`).
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: terminalEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] })
  const started = Date.now()
  const chunks: Array<{ at: number, text: string }> = []
  let text = ''
  const waiters: Array<() => void> = []
  child.stdout!.on('data', (c: Buffer) => {
    chunks.push({ at: Date.now() - started, text: c.toString() })
    text += c.toString()
    for (const w of waiters.splice(0)) w()
  })
  child.stderr!.on('data', (c: Buffer) => { text += c.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    for (const w of waiters.splice(0)) w()
    resolve(code)
  }))
  return {
    child,
    output: () => text,
    chunks,
    type: (s) => { child.stdin!.write(s) },
    waitFor (re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms; output: ${text}`)), timeoutMs)
        const check = (): void => {
          if (re.test(stripAnsi(text))) {
            clearTimeout(timer)
            resolve()
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer)
            reject(new Error(`exited before ${re}; output: ${text}`))
          } else {
            waiters.push(check)
          }
        }
        check()
      })
    },
    async exit (timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`still running after ${timeoutMs} ms; output: ${text}`))
        }, timeoutMs)
      })
      try {
        const code = await Promise.race([exited, timeout])
        return { code, output: text }
      } finally {
        clearTimeout(timer)
        child.stdin!.destroy()
      }
    }
  }
}

/** A terminal's lines as displayed: escapes stripped, CR line ends and the spinner's redraws resolved. */
export function screenLines (output: string): string[] {
  return stripAnsi(output).split(/\r?\n/).map((l) => l.split('\r').at(-1)!).filter((l) => l !== '')
}

/** Display columns of a line (East Asian wide characters count 2). */
export const columnsOf = (line: string): number => stringWidth(stripAnsi(line))

/** The CLI with pipes for stdout and stderr (not a terminal); `env` as terminalEnv builds it. */
export function runPiped (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, terminalEnv(env))
}
