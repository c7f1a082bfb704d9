// After the test files: `duo-diag-proxy audit` over everything the tests captured. Tests plant
// JWTs, GitLab tokens and API keys in traffic on purpose; none may be in a store or a log.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const repo = join(import.meta.dirname, '..', '..')
const root = join(repo, '.tap', 'ddp-captures')
if (!existsSync(root)) process.exit(0)
const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'src', 'cli', 'main.ts'), 'audit', '--dir', root], { cwd: repo, stdio: 'inherit' })
process.exit(r.status ?? 1)
