// After the test files: the suite-wide PostgreSQL cluster (see before.mjs) is stopped and
// removed; then `duo-diag-proxy audit` over everything the tests captured. Tests plant JWTs,
// GitLab tokens and API keys in traffic on purpose; none may be in a store or a log.
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { readState, removeCluster, stateFile } from './pg-cluster.mjs'

const state = readState()
if (state !== null) {
  try {
    if (state.dataDir !== undefined) removeCluster(state.dataDir)
    rmSync(stateFile(), { force: true })
  } catch (err) {
    // Not fatal: the next run's before.mjs sweeps it.
    console.error(`# could not remove the tests' PostgreSQL cluster ${state.dataDir}: ${err.message}`)
  }
}

const repo = join(import.meta.dirname, '..', '..')
const root = join(repo, '.tap', 'ddp-captures')
if (!existsSync(root)) process.exit(0)
const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'src', 'cli', 'main.ts'), 'audit', '--dir', root], { cwd: repo, stdio: 'inherit' })
process.exit(r.status ?? 1)
