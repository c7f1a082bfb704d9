/**
 * What the benchmark measures: the simulated upstream, the built proxy CLI in each capture
 * mode (its own process, pinned), and nginx when it is installed.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Child, freePort, startChild } from './procs.js'

export type ModeId = 'direct' | 'nginx' | 'bare-pipe' | ProxyMode
/** The proxy's own modes; `split` is `default` with its capture thread moved to the load core after warm-up. */
export type ProxyMode = 'fwd-only' | 'default' | 'bodies' | 'split'

export interface Target {
  id: ModeId
  label: string
  base: string
  /** The process under test (null for direct). */
  pid: number | null
  child: Child | null
  adminBase: string | null
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `url` until it answers 200; fails when the child exits or `timeoutMs` passes. */
async function waitFor (url: string, child: Child | null, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited: number | null | undefined
  void child?.exited.then((c) => { exited = c })
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${child?.name} exited (code ${exited}) before it was ready: ${child?.stderr().trim().slice(-2000)}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(50)
  }
  throw new Error(`${child?.name ?? url} not ready after ${timeoutMs} ms: ${child?.stderr().trim().slice(-2000) ?? ''}`)
}

export async function startUpstream (root: string, core: number | null, port = 0): Promise<{ child: Child, port: number }> {
  const child = startChild('upstream', process.execPath, ['--import', 'tsx', join(root, 'bench', 'upstream.ts'), String(port)], { core, stdout: 'pipe', cwd: root })
  const bound = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`upstream did not start: ${child.stderr()}`)), 15_000)
    child.proc.stdout?.setEncoding('utf8')
    child.proc.stdout?.on('data', (d: string) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        child.proc.stdout?.removeAllListeners('data')
        child.proc.stdout?.resume()
        resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port)
      }
    })
    void child.exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`upstream exited (code ${code}): ${child.stderr()}`))
    })
  })
  await waitFor(`http://127.0.0.1:${bound}/healthz`, child, 10_000)
  return { child, port: bound }
}

const PROXY_FLAGS: Record<ProxyMode, string[]> = {
  'fwd-only': ['--no-capture'],
  default: [],
  bodies: ['--capture-bodies'],
  split: []
}

const PROXY_LABELS: Record<ProxyMode, string> = {
  'fwd-only': 'proxy, forwarding only (--no-capture)',
  default: 'proxy, default (capture + redaction + SQLite file)',
  bodies: 'proxy, --capture-bodies',
  split: 'proxy, default, capture thread on the other core (a 2-CPU proxy)'
}

/**
 * `node dist/cli/main.js start` in its own process: 127.0.0.1 ports, a store file in `dir`,
 * logs on stdout sent to /dev/null (pino still formats and writes every line).
 */
/** The V8 flags every launcher of the proxy passes (bin shebang, `npm start`, the image): measure what runs. */
export const PROXY_NODE_ARGS = ['--max-semi-space-size=8']

/**
 * `env`: settings for the proxies under test (`DUO_DIAG_*` variables, e.g. from `--proxy-env`),
 * for A/B runs of a setting; the benchmark's own environment never leaks `DUO_DIAG_*` into them.
 */
export async function startProxy (root: string, mode: ProxyMode, upstreamPort: number, dir: string, core: number | null, opts: { name?: string, nodeArgs?: string[], env?: Record<string, string> } = {}): Promise<Target> {
  const name = opts.name ?? mode
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const admin = await freePort()
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DUO_DIAG_')) env[k] = v
    Object.assign(env, opts.env)
    const child = startChild(`proxy ${name}`, process.execPath, [
      ...(opts.nodeArgs ?? PROXY_NODE_ARGS),
      join(root, 'dist', 'cli', 'main.js'), 'start',
      '--listen', `127.0.0.1:${port}`,
      '--upstream', `http://127.0.0.1:${upstreamPort}`,
      '--admin', `127.0.0.1:${admin}`,
      '--db', join(dir, `${name}.db`),
      ...PROXY_FLAGS[mode]
    ], { core, env, cwd: dir })
    try {
      await waitFor(`http://127.0.0.1:${admin}/readyz`, child, 15_000)
    } catch (err) {
      // A port taken between freePort() and the proxy binding it: try once more.
      if (attempt === 0 && /address already in use/.test(child.stderr())) continue
      throw err
    }
    return { id: mode, label: PROXY_LABELS[mode], base: `http://127.0.0.1:${port}`, pid: child.pid, child, adminBase: `http://127.0.0.1:${admin}` }
  }
}

/** `--proxy-env K=V` values as an environment; only `DUO_DIAG_*` names are accepted. */
export function parseProxyEnv (pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    const key = eq < 0 ? pair : pair.slice(0, eq)
    if (eq < 0 || !key.startsWith('DUO_DIAG_')) throw new Error(`--proxy-env ${pair}: expected DUO_DIAG_NAME=value`)
    env[key] = pair.slice(eq + 1)
  }
  return env
}

export function directTarget (upstreamPort: number): Target {
  return { id: 'direct', label: 'direct (no proxy)', base: `http://127.0.0.1:${upstreamPort}`, pid: null, child: null, adminBase: null }
}

/** The reference pipe (bench/bare-pipe.ts): node:http + undici.Pool.stream, nothing else. */
export async function startBarePipe (root: string, upstreamPort: number, core: number | null): Promise<Target> {
  const port = await freePort()
  const child = startChild('bare-pipe', process.execPath, ['--import', 'tsx', join(root, 'bench', 'bare-pipe.ts'), String(port), String(upstreamPort)], { core, cwd: root })
  await waitFor(`http://127.0.0.1:${port}/healthz`, child, 15_000)
  return { id: 'bare-pipe', label: 'reference: bare node:http + undici.Pool.stream', base: `http://127.0.0.1:${port}`, pid: child.pid, child, adminBase: null }
}

// ---- nginx ---------------------------------------------------------------------------------

export interface NginxInfo {
  path: string | null
  version: string | null
  note: string
}

/** `BENCH_NGINX=/path/to/nginx` or `nginx` on PATH (`command -v nginx`). Never installs it. */
export function findNginx (): NginxInfo {
  let path = process.env.BENCH_NGINX ?? null
  if (path === null) {
    try {
      path = execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || null
    } catch {
      path = null
    }
  }
  if (path === null) return { path: null, version: null, note: 'nginx not installed: skipped (apt-get install nginx, or BENCH_NGINX=/path/to/nginx, to include it)' }
  try {
    const out = execFileSync(path, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return { path, version: out.trim() || null, note: 'nginx found' }
  } catch (err) {
    const e = err as { stderr?: string }
    const version = typeof e.stderr === 'string' ? e.stderr.trim() : null
    // nginx -v prints to stderr and exits 0; a failure here means it cannot run.
    if (version !== null && /nginx version/.test(version)) return { path, version, note: 'nginx found' }
    return { path: null, version: null, note: `nginx at ${path} cannot run: skipped` }
  }
}

/** nginx as a reverse proxy: one worker, keep-alive upstream, no buffering either way. */
export async function startNginx (nginx: string, upstreamPort: number, dir: string, core: number | null): Promise<Target> {
  const prefix = join(dir, 'nginx')
  mkdirSync(join(prefix, 'tmp'), { recursive: true })
  const port = await freePort()
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(conf, `
worker_processes 1;
master_process off;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  upstream duo_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 64m;
    location / {
      proxy_pass http://duo_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $proxy_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`)
  const child = startChild('nginx', nginx, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], { core, cwd: prefix })
  await waitFor(`http://127.0.0.1:${port}/healthz`, child, 10_000)
  return { id: 'nginx', label: 'nginx (keepalive upstream, buffering off)', base: `http://127.0.0.1:${port}`, pid: child.pid, child, adminBase: null }
}

// ---- the proxy's admin API -------------------------------------------------------------------

/** What the proxy's store holds (GET /api/summary): every record, and those of one status. */
export async function readStored (adminBase: string, status: number, timeoutMs = 30_000): Promise<{ total: number, withStatus: number } | null> {
  try {
    const res = await fetch(`${adminBase}/api/summary`, { signal: AbortSignal.timeout(timeoutMs) })
    if (res.status !== 200) return null
    const s = await res.json() as { total: number, by_status: Record<string, number> }
    return { total: s.total, withStatus: s.by_status[String(status)] ?? 0 }
  } catch {
    return null
  }
}

export interface ProxyMetrics {
  /** duo_diag_capture_dropped_total */
  dropped: number
  /** duo_diag_capture_shed_total (healthy exchanges not recorded under a backlog; 0 before it existed) */
  shed: number
}

export async function readMetrics (adminBase: string, timeoutMs = 5_000): Promise<ProxyMetrics | null> {
  try {
    const res = await fetch(`${adminBase}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
    const text = await res.text()
    if (res.status !== 200) return null
    let dropped = 0
    let shed = 0
    for (const line of text.split('\n')) {
      if (line.startsWith('duo_diag_capture_dropped_total')) dropped += Number(line.slice(line.lastIndexOf(' ') + 1))
      else if (line.startsWith('duo_diag_capture_shed_total')) shed += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return { dropped, shed }
  } catch {
    return null
  }
}
