// Types for pg-cluster.mjs (plain JavaScript so that test/setup/before.mjs can run it as is).

export interface Cluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string
  readonly port: number
  /** The postmaster's pid while running, else null. */
  readonly pid: number | null
  readonly dataDir: string
  /** Starts it again, on the same port (a no-op while running). */
  start: () => Promise<void>
  /** pg_ctl stop -m fast; resolves once the postmaster process is gone. */
  stop: () => Promise<void>
  /** Stops it (whatever it takes) and removes its data dir. */
  destroy: () => Promise<void>
  /** destroy() for process.on('exit'): immediate shutdown. */
  destroySync: () => void
}

export interface ClusterOptions {
  /** The directory of initdb and pg_ctl; findPgBin() by default. */
  bin?: string
  /** Where the data dir is made; /dev/shm when roomy, else os.tmpdir(). */
  baseDir?: string
  /** The process the cluster belongs to (process.pid): once it is gone, sweepLeftovers() removes the cluster. */
  owner?: number
  /** Destroy it when this process exits (default false). */
  destroyOnExit?: boolean
  /** Bound on pg_ctl start and on connecting afterwards (default 20 000 ms). */
  readyTimeoutMs?: number
}

export interface SharedState {
  runner: number
  url?: string
  port?: number
  dataDir?: string
  pid?: number | null
  /** Why before.mjs could not start the cluster. */
  error?: string
}

export const STATE_DIR: string
export function findPgBin (): string | null
export function isAlive (pid: number): boolean
export function logTail (dataDir: string, lines?: number): string
export function freePort (): Promise<number>
export function startCluster (opts?: ClusterOptions): Promise<Cluster>
export function killPostmaster (dataDir: string): void
export function removeCluster (dataDir: string): void
export function stateFile (runner?: number): string
export function readState (runner?: number): SharedState | null
export function writeState (state: Omit<SharedState, 'runner'>, runner?: number): void
export function sweepLeftovers (): string[]
