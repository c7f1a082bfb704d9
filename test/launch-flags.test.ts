/**
 * The proxy's V8 flags (a larger young generation: see the first lines of src/cli/main.ts) are
 * passed by every launcher. They live in four places that cannot import each other; this keeps
 * them in step, and checks that the bin really starts node with them.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { PROXY_NODE_ARGS } from '../bench/targets.js'

const ROOT = join(import.meta.dirname, '..')
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

t.test('bin shebang, npm start, the image and the bench pass the same V8 flags', async (t) => {
  const flags = PROXY_NODE_ARGS.join(' ')
  t.match(flags, /^--max-semi-space-size=\d+$/)
  t.equal(read('src/cli/main.ts').split('\n')[0], `#!/usr/bin/env -S node ${flags}`, 'the bin')
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>, bin: Record<string, string> }
  t.equal(pkg.scripts.start, `node ${flags} dist/cli/main.js start`, 'npm start')
  t.equal(pkg.bin['duo-diag-proxy'], 'dist/cli/main.js')
  t.match(read('Dockerfile'), new RegExp(`NODE_OPTIONS=${flags}( |\\\\|$)`, 'm'), "the image's NODE_OPTIONS")
})

t.test('node accepts them, on the command line and in NODE_OPTIONS', async (t) => {
  const probe = "console.log(process.execArgv.join(' '), process.env.NODE_OPTIONS ?? '')"
  const direct = spawnSync(process.execPath, [...PROXY_NODE_ARGS, '-e', probe], { encoding: 'utf8' })
  t.equal(direct.status, 0, direct.stderr)
  t.match(direct.stdout, PROXY_NODE_ARGS[0]!)
  const env = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: PROXY_NODE_ARGS.join(' ') } })
  t.equal(env.status, 0, `NODE_OPTIONS refused: ${env.stderr}`)
})
