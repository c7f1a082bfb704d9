/**
 * The proxy's V8 flags (see the first lines of src/cli/main.ts and src/cli/v8-tuning.ts) are
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

t.test('the CLI turns off V8 allocation-site pretenuring before anything else loads', async (t) => {
  // The first import of the bin (ES modules evaluate in import order).
  const firstImport = read('src/cli/main.ts').split('\n').find((l) => l.startsWith('import '))
  t.equal(firstImport, "import './v8-tuning.js'")
  // Objects kept by the hundred thousand: V8 traces its pretenuring feedback on them (and
  // decides to pretenure their sites) unless the feature is off, when it traces nothing. The
  // module's own text (plain JavaScript) is loaded as the first module, as the bin loads it.
  const workload = 'const keep = []; function make (i) { return { a: i, b: [i, i + 1], c: { d: i } } }' +
    'for (let i = 0; i < 600000; i++) keep.push(make(i))'
  const tuning = 'data:text/javascript,' + encodeURIComponent(read('src/cli/v8-tuning.ts'))
  // Without tap's loaders and coverage (NODE_OPTIONS, NODE_V8_COVERAGE): they change how V8 compiles.
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (k !== 'NODE_OPTIONS' && k !== 'NODE_V8_COVERAGE') env[k] = v
  const run = (pre: string[]): string => {
    const r = spawnSync(process.execPath, ['--trace-pretenuring-statistics', ...pre, '--input-type=module', '-e', workload], { encoding: 'utf8', cwd: ROOT, env, timeout: 60_000 })
    t.equal(r.status, 0, r.stderr)
    return r.stdout
  }
  t.match(run([]), /pretenuring: AllocationSite/, 'control: V8 weighs pretenuring these sites by default')
  t.notMatch(run(['--import', tuning]), /pretenuring:/, 'with the module first: no pretenuring at all')
})
