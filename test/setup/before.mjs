// Before the test files: the folder where every store and log the tests capture goes, so the
// after-script can audit all of them for leaked secrets. Old runs are cleared; a run that may
// still be going on (another terminal) is left alone.
//
// Then the suite-wide PostgreSQL cluster (test/helpers/pg.ts), when the server binaries are
// installed: recorded in .tap/ddp-pg/<tap runner pid>.json, the runner being the parent of this
// script and of every test file. Clusters and records of runs that are gone (crashed,
// interrupted) are removed first. A cluster that cannot start is recorded as an error for the
// PostgreSQL tests to report; the other tests still run.
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { findPgBin, startCluster, sweepLeftovers, writeState } from './pg-cluster.mjs'

const root = join(import.meta.dirname, '..', '..', '.tap', 'ddp-captures')
mkdirSync(root, { recursive: true })
const cutoff = Date.now() - 2 * 3_600_000
for (const name of readdirSync(root)) {
  const p = join(root, name)
  if (statSync(p).mtimeMs < cutoff) rmSync(p, { recursive: true, force: true })
}

try {
  for (const dir of sweepLeftovers()) console.error(`# removed a leftover PostgreSQL cluster: ${dir}`)
} catch (err) {
  console.error(`# could not sweep leftover PostgreSQL clusters: ${err.message}`)
}
const bin = findPgBin()
if (bin !== null) {
  const runner = process.ppid
  const started = Date.now()
  try {
    // Owned by the tap runner: it outlives this script, and the next run's sweep removes the
    // cluster if the runner dies before after.mjs stops it.
    const c = await startCluster({ bin, owner: runner })
    writeState({ url: c.url, port: c.port, dataDir: c.dataDir, pid: c.pid }, runner)
    console.error(`# PostgreSQL (${bin}) for the tests at ${c.url}, started in ${Date.now() - started} ms`)
  } catch (err) {
    writeState({ error: err.message }, runner)
    console.error(`# could not start PostgreSQL for the tests: ${err.message}`)
  }
}
