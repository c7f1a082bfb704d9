import { spawn } from 'node:child_process'
import { CLI_ARGS, ROOT } from './cli-entry.js'

export interface Run { code: number | null, stdout: string, stderr: string }

/** A CLI command as a real process, with the user's environment minus ours and the runner's. */
export function runCommand (command: string, args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DUO_DIAG_') && k !== 'NODE_OPTIONS' && !k.startsWith('TAP')) env[k] = v
  }
  Object.assign(env, opts.env ?? {})
  return runNode([...CLI_ARGS, command, ...args], env, opts.timeoutMs ?? 60_000)
}

/** The CLI as a real process with exactly this environment, pipes for its output. */
export function runCli (args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<Run> {
  return runNode([...CLI_ARGS, ...args], env, timeoutMs)
}

function runNode (argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return runProcess(process.execPath, argv, { cwd: ROOT, env, timeoutMs })
}

/** Any program as a real process (npm, an installed bin): its exit code and output; SIGKILLed after timeoutMs. */
export function runProcess (file: string, args: string[], opts: { cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
