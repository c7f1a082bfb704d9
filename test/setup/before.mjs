// Before the test files: the folder where every store and log the tests capture goes, so the
// after-script can audit all of them for leaked secrets. Old runs are cleared; a run that may
// still be going on (another terminal) is left alone.
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..', '..', '.tap', 'ddp-captures')
mkdirSync(root, { recursive: true })
const cutoff = Date.now() - 2 * 3_600_000
for (const name of readdirSync(root)) {
  const p = join(root, name)
  if (statSync(p).mtimeMs < cutoff) rmSync(p, { recursive: true, force: true })
}
