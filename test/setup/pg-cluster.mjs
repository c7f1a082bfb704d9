// Throw-away PostgreSQL clusters for the tests, written once for test/setup/before.mjs (the
// suite-wide cluster), test/setup/after.mjs and test/helpers/pg.ts (typed by pg-cluster.d.mts).
// Debian's `postgresql` package provides the server binaries; PostgreSQL refuses to run as root,
// so as root initdb and pg_ctl run as the `postgres` system user, owning the data directory.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { accessSync, chownSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import pg from 'pg'

const REPO = join(import.meta.dirname, '..', '..')
/** Where before.mjs records the suite-wide cluster, one JSON file per tap run. */
export const STATE_DIR = join(REPO, '.tap', 'ddp-pg')
/** Every cluster's data directory is a temp dir named so, holding OWNER_FILE. */
const PREFIX = 'ddp-pg-'
/** { pid }: the process the cluster belongs to; when it is gone, the cluster is a leftover. */
const OWNER_FILE = 'ddp-owner.json'
const LOG_FILE = 'server.log'
const CONF_FILE = 'ddp.conf'
const SHM = '/dev/shm'

/** The directory holding initdb, pg_ctl and postgres: /usr/lib/postgresql/<newest>/bin, then PATH. */
export function findPgBin () {
  const usable = (dir) => ['initdb', 'pg_ctl', 'postgres'].every((b) => {
    try {
      accessSync(join(dir, b), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
  let versions = []
  try {
    versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+(\.\d+)*$/.test(v))
  } catch { /* no Debian packages */ }
  const key = (v) => v.split('.').map(Number)
  versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)]
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0)
    return 0
  })
  for (const v of versions) {
    const dir = join('/usr/lib/postgresql', v, 'bin')
    if (usable(dir)) return dir
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir !== '' && usable(dir)) return dir
  return null
}

/** As root: the `postgres` user's ids, to run the server as. Otherwise null (run as ourselves). */
function serverUser () {
  if (process.getuid?.() !== 0) return null
  try {
    const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    throw new Error('running as root, which PostgreSQL refuses; it would run as the `postgres` system user, but there is none (apt-get install postgresql creates it)')
  }
}

/** Whether a process exists (EPERM: it does, owned by someone else) and is not a zombie. */
export function isAlive (pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    if (err.code !== 'EPERM') return false
  }
  // An exited postmaster stays a zombie until its parent (init, after pg_ctl exits) reaps it.
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z'
  } catch {
    return true
  }
}

/** The environment for the server tools: none of the caller's PG* settings. */
function toolEnv () {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG') && k !== 'NODE_OPTIONS') env[k] = v
  return { ...env, LC_ALL: 'C' }
}

function runTool (cmd, args, user, cwd, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: toolEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) })
    let out = ''
    child.stdout.on('data', (c) => { out += c })
    child.stderr.on('data', (c) => { out += c })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // 'exit', not 'close': pg_ctl start leaves the postmaster behind (its stdio goes to the log).
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      setImmediate(() => resolve({ code, signal, out: out.trim() }))
    })
  })
}

function toolError (what, r, dataDir) {
  const how = r.signal !== null ? `killed by ${r.signal} (timed out?)` : `exit ${r.code}`
  return new Error(`${what} failed (${how})${r.out !== '' ? `: ${r.out}` : ''}${logTail(dataDir)}`)
}

/** The last lines of a cluster's server log, for error messages. */
export function logTail (dataDir, lines = 25) {
  try {
    const text = readFileSync(join(dataDir, LOG_FILE), 'utf8').trimEnd()
    if (text === '') return ''
    return `\n--- ${join(dataDir, LOG_FILE)} (tail) ---\n${text.split('\n').slice(-lines).join('\n')}`
  } catch {
    return ''
  }
}

/** A port nobody listens on now: bind 0 on 127.0.0.1 and give it back. */
export function freePort () {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Every ancestor of dir must be searchable by others for the postgres user to reach it. */
function reachableByOthers (dir) {
  let d = dir
  for (;;) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false
    } catch {
      return false
    }
    const up = join(d, '..')
    if (up === d) return true
    d = up
  }
}

/**
 * Where clusters go: /dev/shm when it is a roomy tmpfs (initdb creates ~1000 files, 3x faster
 * there, and a busy disk slows it more), else os.tmpdir() (/tmp as root when the postgres user
 * could not reach that).
 */
function baseDir (user) {
  try {
    const fs = statfsSync(SHM)
    if (fs.bavail * fs.bsize >= 2 ** 31 && (statSync(SHM).mode & 0o1777) === 0o1777) return SHM
  } catch { /* no /dev/shm */ }
  const t = tmpdir()
  return user !== null && !reachableByOthers(t) ? '/tmp' : t
}

function writeOwned (path, text, user) {
  writeFileSync(path, text, { mode: 0o600 })
  if (user !== null) chownSync(path, user.uid, user.gid)
}

function postmasterPid (dataDir) {
  try {
    return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  } catch {
    return null
  }
}

/** Connects and runs SELECT 1 until it works; the error names the last failure and the log. */
async function waitReady (url, dataDir, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  let last
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query('SELECT 1')
      return
    } catch (err) {
      last = err
    } finally {
      await client.end().catch(() => {})
    }
    if (Date.now() >= deadline) throw new Error(`PostgreSQL at ${url} not ready after ${attempt} attempts in ${timeoutMs} ms: ${last?.message ?? last}${logTail(dataDir)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const INITDB_ARGS = ['-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C', '--no-instructions']

/** Clusters to stop when this process exits, whatever way it ends normally. */
const stopOnExit = new Set()
let exitHookInstalled = false
function installExitHook () {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const c of stopOnExit) c.destroySync()
  })
}

/**
 * initdb a fresh cluster in a new temp dir and start it on a free port of 127.0.0.1, ready once a
 * connection works. opts: bin (findPgBin()), baseDir (/dev/shm or os.tmpdir()), owner (process.pid:
 * when that process is gone, the next sweepLeftovers() removes the cluster), destroyOnExit (false),
 * readyTimeoutMs (20000).
 */
export async function startCluster (opts = {}) {
  const bin = opts.bin ?? findPgBin()
  if (bin === null) throw new Error('PostgreSQL not installed: apt-get install postgresql')
  const user = serverUser()
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000
  const dataDir = mkdtempSync(join(opts.baseDir ?? baseDir(user), PREFIX))
  if (user !== null) chownSync(dataDir, user.uid, user.gid)
  const cwd = join(dataDir, '..')

  let port = 0
  let pid = null
  let running = false
  const url = () => `postgres://postgres@127.0.0.1:${port}/postgres`

  const start = async () => {
    if (running) return
    const r = await runTool(join(bin, 'pg_ctl'), ['start', '-D', dataDir, '-l', join(dataDir, LOG_FILE), '-w', '-t', String(Math.ceil(readyTimeoutMs / 1000)), '-s'], user, cwd, readyTimeoutMs + 5000)
    if (r.code !== 0) throw toolError(`pg_ctl start (port ${port})`, r, dataDir)
    running = true
    pid = postmasterPid(dataDir)
    await waitReady(url(), dataDir, readyTimeoutMs)
  }

  const waitGone = async (p, timeoutMs) => {
    const deadline = Date.now() + timeoutMs
    while (p !== null && isAlive(p)) {
      if (Date.now() >= deadline) throw new Error(`postmaster ${p} still running ${timeoutMs} ms after pg_ctl stop${logTail(dataDir)}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  const stop = async () => {
    if (!running) return
    const p = postmasterPid(dataDir) ?? pid
    const r = await runTool(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30', '-s'], user, cwd, 35_000)
    if (r.code !== 0 && p !== null && isAlive(p)) throw toolError('pg_ctl stop', r, dataDir)
    // pg_ctl returns once postmaster.pid is gone; the process itself exits just after.
    await waitGone(p, 10_000)
    running = false
    pid = null
  }

  const destroySync = () => {
    stopOnExit.delete(cluster)
    if (running) {
      spawnSync(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10', '-s'], { cwd, env: toolEnv(), stdio: 'ignore', timeout: 15_000, ...(user ?? {}) })
      running = false
    }
    removeCluster(dataDir)
  }

  const destroy = async () => {
    stopOnExit.delete(cluster)
    try {
      await stop()
    } catch { /* removeCluster kills what is left */ }
    running = false
    // Also a postmaster that a failed `pg_ctl start -w` (timeout) left running.
    removeCluster(dataDir)
  }

  const cluster = {
    get url () { return url() },
    get port () { return port },
    get pid () { return pid },
    dataDir,
    start,
    stop,
    destroy,
    destroySync
  }

  if (opts.destroyOnExit === true) {
    installExitHook()
    stopOnExit.add(cluster)
  }
  try {
    const init = await runTool(join(bin, 'initdb'), ['-D', dataDir, ...INITDB_ARGS], user, cwd, 60_000)
    if (init.code !== 0) throw toolError('initdb', init, dataDir)
    writeOwned(join(dataDir, OWNER_FILE), JSON.stringify({ pid: opts.owner ?? process.pid }), user)
    writeOwned(join(dataDir, 'postgresql.conf'), `${readFileSync(join(dataDir, 'postgresql.conf'), 'utf8')}\ninclude '${CONF_FILE}'\n`, user)
    // The port is free when we look; someone may take it before the postmaster binds: try again.
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      writeOwned(join(dataDir, CONF_FILE), [
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        "unix_socket_directories = ''",
        'fsync = off',
        'full_page_writes = off',
        'synchronous_commit = off',
        'wal_level = minimal',
        'max_wal_senders = 0',
        'logging_collector = off',
        "dynamic_shared_memory_type = 'mmap'", // in the data dir: nothing left in /dev/shm after a kill
        "log_line_prefix = '%m [%p] %q%u@%d '",
        ''
      ].join('\n'), user)
      try {
        await start()
        break
      } catch (err) {
        if (attempt >= 3 || !/could not bind|Address already in use/.test(err.message)) throw err
      }
    }
    return cluster
  } catch (err) {
    await destroy()
    throw err
  }
}

/** Immediate shutdown (SIGQUIT, then SIGKILL) of a data dir's postmaster, if one is running. */
export function killPostmaster (dataDir) {
  const pid = postmasterPid(dataDir)
  if (pid === null || !isAlive(pid)) return
  // A stale postmaster.pid (after a reboot) may name someone else's process now.
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres')) return
  } catch { /* no /proc: trust the pid file, as pg_ctl does */ }
  try {
    process.kill(pid, 'SIGQUIT')
  } catch { return }
  const deadline = Date.now() + 5000
  const tick = new Int32Array(new SharedArrayBuffer(4))
  while (isAlive(pid) && Date.now() < deadline) Atomics.wait(tick, 0, 0, 20)
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch { /* gone */ }
  }
}

/** Stops and removes a cluster's data dir. */
export function removeCluster (dataDir) {
  killPostmaster(dataDir)
  rmSync(dataDir, { recursive: true, force: true })
}

/** The suite-wide cluster's state file for a tap run: the runner is the parent of before.mjs and of every test file. */
export function stateFile (runner = process.ppid) {
  return join(STATE_DIR, `${runner}.json`)
}

/** What before.mjs recorded for this tap run: { url, port, dataDir, pid, runner } or { error, runner }; null when nothing. */
export function readState (runner = process.ppid) {
  try {
    return JSON.parse(readFileSync(stateFile(runner), 'utf8'))
  } catch {
    return null
  }
}

export function writeState (state, runner = process.ppid) {
  mkdirSync(STATE_DIR, { recursive: true })
  writeFileSync(stateFile(runner), JSON.stringify({ ...state, runner }, null, 2))
}

/**
 * Removes what crashed or interrupted runs left: state files of tap runs that are gone, and
 * ddp-pg-* clusters in /dev/shm and the temp dirs whose owner process is gone (their postmasters
 * stopped). Returns the data dirs removed.
 */
export function sweepLeftovers () {
  const removed = []
  const remove = (dir) => {
    try {
      removeCluster(dir)
      removed.push(dir)
    } catch (err) {
      // e.g. a cluster of root's when we are not: leave it, sweep the rest.
      console.error(`# could not remove the leftover PostgreSQL cluster ${dir}: ${err.message}`)
    }
  }
  let states = []
  try {
    states = readdirSync(STATE_DIR).filter((n) => n.endsWith('.json'))
  } catch { /* none */ }
  for (const name of states) {
    const file = join(STATE_DIR, name)
    let state = null
    try {
      state = JSON.parse(readFileSync(file, 'utf8'))
    } catch { /* unreadable: a leftover too */ }
    if (state !== null && isAlive(state.runner)) continue
    if (typeof state?.dataDir === 'string' && existsSync(state.dataDir)) remove(state.dataDir)
    rmSync(file, { force: true })
  }
  const hourAgo = Date.now() - 3_600_000
  for (const base of new Set([SHM, tmpdir(), '/tmp'])) {
    let names = []
    try {
      names = readdirSync(base).filter((n) => n.startsWith(PREFIX))
    } catch { continue }
    for (const name of names) {
      const dir = join(base, name)
      let owner = null
      try {
        owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')).pid
      } catch {
        // No owner yet: initdb may be running now; only an old one is a leftover.
        try {
          if (statSync(dir).mtimeMs > hourAgo) continue
        } catch { continue }
      }
      if (owner !== null && isAlive(owner)) continue
      remove(dir)
    }
  }
  return removed
}
