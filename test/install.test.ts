/**
 * Installing without a clone, as the README's "Install without cloning" says: the tarball
 * `npm pack` makes, installed with `npm install -g`, runs as `duo-diag-proxy` from the PATH —
 * version, help, and a first start that forwards a request and answers on the admin API; the
 * same tarball installed in a project answers `npx duo-diag-proxy`, and so does the clone.
 *
 * npm reaches the registry for the dependencies (its cache first); the proxy talks to 127.0.0.1
 * only.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { runDir, spawnCli } from './helpers/cli-process.js'
import { runProcess, type Run } from './helpers/command.js'
import { closeServer, listenEphemeral } from './helpers/net.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

// Above tap's 120 s: the global install compiles better-sqlite3 when no prebuilt binary can be
// downloaded. On a 2-core machine it took 55-110 s of the file's 75-135 s (the most with other
// tests running).
t.setTimeout(300_000)

const work = mkdtempSync(join(tmpdir(), 'ddp-install-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const prefix = join(work, 'global')
const installed = join(prefix, 'lib', 'node_modules', 'duo-diag-proxy')

/** A user's shell: PATH, HOME (npm's cache), none of npm's own variables (npm test sets them), tap's or the proxy's. */
function userEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|TAP|DUO_DIAG_)/i.test(k) && k !== 'NODE_OPTIONS' && k !== 'INIT_CWD') env[k] = v
  }
  return { ...env, ...extra }
}

/** The global install's bin first, then this node (the bin's shebang runs `node` from the PATH). */
const PATH = [join(prefix, 'bin'), dirname(process.execPath), process.env.PATH ?? ''].join(delimiter)

/** npm as the user runs it; installs add --prefer-offline (the cache first, as npm ci filled it). */
function npm (args: string[], cwd: string, timeoutMs = 60_000): Promise<Run> {
  return runProcess('npm', args, { cwd, env: userEnv(), timeoutMs })
}

/** The file list of `npm pack --json`. */
function packedFiles (res: Run): string[] {
  // tsc reports on stdout, npm on stderr.
  if (res.code !== 0) throw new Error(`npm pack failed (${res.code}): ${res.stdout}${res.stderr}`)
  return (JSON.parse(res.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path)
}

/** Paths of every file under dir, relative to base. */
function filesUnder (dir: string, base: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => relative(base, join(e.parentPath, e.name)))
}

let tarball: string | null = null

t.test('npm pack: a fresh dist/, config/, README and package.json, nothing else', async (t) => {
  // What `npm pack` in this checkout would ship ("files" in package.json), with its src/, test/
  // and whatever else lies around (.scratch/, data/, stores).
  const shipped = packedFiles(await npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT))
  // The tarball itself comes from a copy: its prepare builds dist/ from scratch (tsc never deletes
  // the output of a removed source), and the checkout's dist/ stays as other tests run it.
  const copy = join(work, 'checkout')
  const top = new Set(['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json', ...shipped.filter((f) => !f.startsWith('dist/')).map((f) => f.split('/')[0]!)])
  for (const entry of top) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir')
  const started = Date.now()
  const files = packedFiles(await npm(['pack', '--json', '--pack-destination', work], copy))
  t.comment(`npm pack (with the build) took ${Date.now() - started} ms`)

  for (const [what, list] of [['this checkout', shipped], ['the tarball', files]] as const) {
    const stray = list.filter((f) => !/^(dist|config)\//.test(f) && f !== 'package.json' && !/^README(\.[a-z]{2})?\.md$/.test(f))
    t.same(stray, [], `${what}: nothing outside dist/ and config/ but package.json and the READMEs (no src/, test/, .scratch/, data)`)
  }
  t.ok(files.includes('dist/cli/main.js'), 'the bin is in it')
  for (const f of filesUnder(join(ROOT, 'config'), ROOT)) t.ok(files.includes(f), `${f} is in it`)
  // Every source built, nothing else: dist/ is the build of this src/ (the browser view, src/ui/,
  // is bundled into dist/ui/ instead: three files).
  const built = files.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/ui/') && f.endsWith('.js')).map((f) => f.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')).sort()
  t.same(built, filesUnder(join(copy, 'src'), copy).filter((f) => !f.startsWith(join('src', 'ui'))).sort(), 'dist/ holds one .js per src/ .ts file')
  t.same(files.filter((f) => f.startsWith('dist/ui/')).sort(), ['dist/ui/app.css', 'dist/ui/app.js', 'dist/ui/index.html'], 'and the browser view, bundled')

  tarball = join(work, `duo-diag-proxy-${VERSION}.tgz`)
  t.ok(existsSync(tarball), `${relative(work, tarball)} written`)
})

t.test('npm install -g of the tarball: duo-diag-proxy on the PATH, and a first start', async (t) => {
  if (tarball === null) return t.fail('no tarball')
  const started = Date.now()
  const install = await npm(['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], work, 240_000)
  t.equal(install.code, 0, 'npm install -g exits 0', { stderr: install.stderr.slice(-4000) })
  t.comment(`npm install -g took ${Date.now() - started} ms`)
  for (const f of ['config/default.yaml', 'config/schema.json', 'dist/cli/main.js']) t.ok(existsSync(join(installed, f)), `installed: ${f}`)
  // No devDependencies, so no tsc: a tarball's prepare does not run, dist/ is the one packed.
  t.notOk(existsSync(join(installed, 'node_modules', 'typescript')), 'no devDependencies installed')

  const env = { PATH }
  const version = await runProcess('duo-diag-proxy', ['--version'], { cwd: work, env: userEnv(env), timeoutMs: 30_000 })
  t.equal(version.code, 0, `duo-diag-proxy --version exits 0 (stderr: ${version.stderr})`)
  t.equal(version.stdout, `${VERSION}\n`, "and prints package.json's version")
  const help = await runProcess('duo-diag-proxy', ['--help'], { cwd: work, env: userEnv(env), timeoutMs: 30_000 })
  t.equal(help.code, 0, `duo-diag-proxy --help exits 0 (stderr: ${help.stderr})`)
  t.match(help.stdout, /^Usage: duo-diag-proxy <command>/m, 'and prints the usage')

  const upstream = createServer((req, res) => {
    req.resume().on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ path: req.url, request_id: req.headers['x-request-id'] }))
    })
  })
  const upstreamPort = await listenEphemeral(upstream)
  const agent = new Agent({ keepAliveTimeout: 1000 })
  // The store's default place, ./data/exchanges.db, under a fresh working directory.
  const run = runDir('install-')
  const cli = spawnCli(['start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${upstreamPort}`], env, { bin: 'duo-diag-proxy', cwd: run.dir })
  t.teardown(async () => {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL')
    await agent.close()
    await closeServer(upstream)
    run.remove()
  })
  const route = (await cli.waitForLog('route listening')).listen as string
  const admin = (await cli.waitForLog('admin API listening')).listen as string
  const ready = await cli.waitForLog('capture ready')
  const store = join(realpathSync(run.dir), 'data', 'exchanges.db')
  t.equal(ready.store, store, 'the start-up log says where the store is, as an absolute path')
  t.equal(ready.store_created, true, 'and that this start created it')

  const res = await request(`http://${route}/v2/code/completions`, {
    dispatcher: agent,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'install-1' },
    body: '{}'
  })
  t.equal(res.statusCode, 200, 'forwarded')
  t.same(await res.body.json(), { path: '/v2/code/completions', request_id: 'install-1' }, "the upstream's answer")

  // The capture thread writes the record a moment later: asked until it is listed (5 s at most).
  let list = { status: 0, items: [] as Array<{ correlation_id: string, status: number }> }
  for (let i = 0; i < 100 && (list.status !== 200 || list.items.length === 0); i++) {
    if (i > 0) await sleep(50)
    const res = await request(`http://${admin}/api/exchanges`, { dispatcher: agent })
    list = { status: res.statusCode, items: ((await res.body.json()) as { items?: typeof list.items }).items ?? [] }
  }
  t.equal(list.status, 200, 'the admin API answers')
  t.same(list.items.map((x) => [x.correlation_id, x.status]), [['install-1', 200]], 'and lists the exchange')

  cli.child.kill('SIGTERM')
  t.same(await cli.exit(), { code: 0, signal: null }, 'SIGTERM: exit 0')
  t.equal(cli.stderr(), '', 'nothing on stderr')
  t.ok(existsSync(store), 'the store is where the log said')
})

t.test('npx duo-diag-proxy in a project that installed the tarball', async (t) => {
  if (tarball === null) return t.fail('no tarball')
  const project = join(work, 'project')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'npx-check', private: true }))
  // --ignore-scripts: better-sqlite3's native build is the global install's to prove (--version
  // does not open a store); here only npx's finding the local bin is.
  const install = await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], project)
  t.equal(install.code, 0, 'npm install <tarball> exits 0', { stderr: install.stderr.slice(-4000) })
  await npxVersion(t, project)
})

const cloneBuilt = existsSync(join(ROOT, 'dist', 'cli', 'main.js'))
t.test('npx duo-diag-proxy in the clone (npm install built dist/)', { skip: cloneBuilt ? false : 'dist/ is not built: npm install builds it' }, async (t) => {
  await npxVersion(t, ROOT)
})

async function npxVersion (t: Test, cwd: string): Promise<void> {
  // npm_config_yes=false: never fetch a package of that name from the registry instead.
  const npx = await runProcess('npx', ['duo-diag-proxy', '--version'], { cwd, env: userEnv({ npm_config_yes: 'false' }), timeoutMs: 30_000 })
  t.equal(npx.code, 0, `npx duo-diag-proxy --version exits 0 (stderr: ${npx.stderr})`)
  t.equal(npx.stdout, `${VERSION}\n`, 'and prints the version')
}
