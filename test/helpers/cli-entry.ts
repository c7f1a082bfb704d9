/**
 * How the tests start the CLI: `node dist/cli/main.js` when the build is newer than every source
 * file (CI builds it in `npm ci`), else `node --import tsx src/cli/main.ts`. The same code either
 * way; the build starts in about half the time, as no TypeScript loader runs in each process, and
 * the suite starts the CLI several hundred times. A stale build is never used: edit a file under
 * src/ and the tests run the source until the next `npm run build`. DDP_CLI_FROM_SOURCE=1 forces
 * the source.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const SRC_MAIN = join(ROOT, 'src', 'cli', 'main.ts')
const DIST_MAIN = join(ROOT, 'dist', 'cli', 'main.js')

function newestSource (dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    // The browser view is built apart (dist/ui) and is not part of the CLI.
    if (entry.isDirectory()) { if (path !== join(ROOT, 'src', 'ui')) newest = Math.max(newest, newestSource(path)) } else newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

function builtIsFresh (): boolean {
  if (process.env.DDP_CLI_FROM_SOURCE === '1') return false
  try {
    return statSync(DIST_MAIN).mtimeMs >= newestSource(join(ROOT, 'src'))
  } catch {
    return false
  }
}

/** Node's arguments before the command's own: the built CLI, or the source through tsx. */
export const CLI_ARGS: readonly string[] = builtIsFresh() ? [DIST_MAIN] : ['--import', 'tsx', SRC_MAIN]
