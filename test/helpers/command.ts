import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const ROOT = join(import.meta.dirname, '..', '..')
const MAIN = join(ROOT, 'src', 'cli', 'main.ts')

export interface Run { code: number | null, stdout: string, stderr: string }

/**
 * A CLI command as a real process: through main.ts once it registers the command, until then
 * the command function itself, called from a one-line module in the child (same output, same
 * exit code; main.ts maps a thrown usage error to 2, so the stand-in does too).
 */
export function runCommand (command: string, fn: string, module: string, args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<Run> {
  const registered = new RegExp(`\\b${command}: ${fn}\\b`).test(readFileSync(MAIN, 'utf8'))
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DUO_DIAG_') && k !== 'NODE_OPTIONS' && !k.startsWith('TAP')) env[k] = v
  }
  Object.assign(env, opts.env ?? {})
  const url = pathToFileURL(join(ROOT, module)).href
  const argv = registered
    ? ['--import', 'tsx', MAIN, command, ...args]
    : ['--import', 'tsx', '--input-type=module', '-e', [
        `import { ${fn} } from ${JSON.stringify(url)}`,
        `try { process.exitCode = await ${fn}(${JSON.stringify(args)}) } catch (e) {`,
        '  process.stderr.write(`duo-diag-proxy: ${e.message}\\n`)',
        `  process.exitCode = e.code === 'DDP_USAGE' || String(e.code).startsWith('ERR_PARSE_ARGS') ? 2 : 1`,
        '}'
      ].join('\n')]
  return runNode(argv, env, opts.timeoutMs ?? 60_000)
}

/** The CLI (src/cli/main.ts) as a real process with exactly this environment, pipes for its output. */
export function runCli (args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<Run> {
  return runNode(['--import', 'tsx', MAIN, ...args], env, timeoutMs)
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
