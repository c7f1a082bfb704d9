/**
 * The container files, checked without a Docker engine or a cluster: the Dockerfile's shape,
 * docker-compose.yml and every deploy/kubernetes/**\/*.yaml parse (all their documents) and
 * reference only files that exist, ports the proxy and the simulators listen on, flags and
 * DUO_DIAG_* variables the proxy accepts (the same parsers start-up uses), store locations
 * (parseStoreLocation) whose PostgreSQL host is a service defined beside them, with its
 * credentials; compose profiles (what `docker compose up` starts, and what each profile adds);
 * then the image's entrypoint command runs against the built dist, laid out as the image's last
 * stage copies it, and the compose file's shared-store replicas run on loopback against a real
 * PostgreSQL.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import t, { type Test } from 'tap'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { isLoopback } from '../src/api/auth.js'
import { startProxy, type RunningProxy } from '../src/app.js'
import type { Exchange } from '../src/capture/exchange.js'
import { parseStartFlags } from '../src/cli/start.js'
import { ConfigError } from '../src/config/errors.js'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/types.js'
import { createLogger } from '../src/log/logger.js'
import { startAiGateway } from '../src/sim/ai-gateway.js'
import { startModelServer } from '../src/sim/model-server.js'
import type { SimServer } from '../src/sim/sim-server.js'
import { parseStoreLocation, type StoreLocation } from '../src/store/store.js'
import { freshDatabase, pgUnavailable, requirePg } from './helpers/pg.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const KUBE_DIR = join(ROOT, 'deploy', 'kubernetes')

/** What listens where: the proxy (gateway route, model route, admin API) and the simulators. */
const PROXY_PORTS = [5053, 5054, 5099]
const GATEWAY_PORT = 5052
const MODEL_PORT = 8000
/** PostgreSQL, the shared store (the compose profile "shared", the Deployment example). */
const POSTGRES_PORT = 5432
const KNOWN_PORTS = new Set([...PROXY_PORTS, GATEWAY_PORT, MODEL_PORT, POSTGRES_PORT])
const SIM_PORTS: Record<string, number> = { gateway: GATEWAY_PORT, model: MODEL_PORT }
const GATEWAY_IMAGE = 'registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/model-gateway'
/** Variables the proxy container may carry besides DUO_DIAG_*: anything else is a typo nobody reads. */
const OTHER_PROXY_ENV = new Set(['NODE_ENV', 'NODE_OPTIONS', 'TZ'])

type Obj = Record<string, unknown>

const tmp = mkdtempSync(join(tmpdir(), 'ddp-containers-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
let tmpFiles = 0

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction { op: string, args: string, line: number }
interface Stage { base: string, name: string | null, instructions: Instruction[] }

function parseDockerfile (text: string): Stage[] {
  const instructions: Instruction[] = []
  let buf = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd()
    if (line.trim() === '' || line.trim().startsWith('#')) return
    if (buf === '') start = i + 1
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1) + ' '
      return
    }
    buf += line
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf)
    if (m === null) throw new Error(`Dockerfile:${start}: cannot read "${buf}"`)
    instructions.push({ op: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: start })
    buf = ''
  })
  const stages: Stage[] = []
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)
      if (m === null) throw new Error(`Dockerfile:${ins.line}: cannot read FROM ${ins.args}`)
      stages.push({ base: m[1] as string, name: m[2] ?? null, instructions: [] })
    } else {
      const stage = stages[stages.length - 1]
      if (stage === undefined) throw new Error(`Dockerfile:${ins.line}: ${ins.op} before FROM`)
      stage.instructions.push(ins)
    }
  }
  return stages
}

/** The exec (JSON) form of ENTRYPOINT, CMD, VOLUME …; null for the shell form. */
function execForm (args: string): string[] | null {
  if (!args.startsWith('[')) return null
  const v = JSON.parse(args) as unknown
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : null
}

/** What a container started from the image gets, as far as this test needs it. */
interface Image {
  entrypoint: string[]
  cmd: string[]
  env: Record<string, string>
  workdir: string
  expose: number[]
  volumes: string[]
  user: string | null
  healthcheck: string | null
}

function last (stage: Stage, op: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.op === op).at(-1)
}

function imageOf (stage: Stage): Image {
  const env: Record<string, string> = {}
  for (const ins of stage.instructions.filter((i) => i.op === 'ENV')) {
    for (const pair of ins.args.split(/\s+/)) {
      const at = pair.indexOf('=')
      if (at <= 0) throw new Error(`Dockerfile:${ins.line}: ENV ${pair}: only the KEY=value form is read here`)
      env[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"(.*)"$/, '$1')
    }
  }
  const volumes = stage.instructions.filter((i) => i.op === 'VOLUME').flatMap((i) => execForm(i.args) ?? i.args.split(/\s+/))
  const expose = stage.instructions.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number(p.replace(/\/tcp$/, '')))
  return {
    entrypoint: execForm(last(stage, 'ENTRYPOINT')?.args ?? '[]') ?? [],
    cmd: execForm(last(stage, 'CMD')?.args ?? '[]') ?? [],
    env,
    workdir: last(stage, 'WORKDIR')?.args ?? '/',
    expose,
    volumes,
    user: last(stage, 'USER')?.args ?? null,
    healthcheck: last(stage, 'HEALTHCHECK')?.args ?? null
  }
}

const dockerfileText = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const stages = parseDockerfile(dockerfileText)
const finalStage = stages[stages.length - 1] as Stage
const image = imageOf(finalStage)

/** `COPY [--from=stage] src... dest`: the sources and the destination. */
function copyArgs (ins: Instruction): { from: string | null, sources: string[], dest: string } {
  const words = ins.args.split(/\s+/)
  let from: string | null = null
  while (words[0]?.startsWith('--')) {
    const flag = words.shift() as string
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length)
  }
  const dest = words.pop() as string
  return { from, sources: words, dest }
}

t.test('Dockerfile: multi-stage, Node LTS slim, non-root, health check, /data, documented ports, the CLI', async (t) => {
  t.ok(stages.length >= 2, 'more than one stage')
  const nodeMajor = (base: string): number | null => {
    const m = /^node:(\d+)(?:\.\d+)*(?:-[a-z0-9]+)*-slim(?:@sha256:[0-9a-f]+)?$/.exec(base)
    return m === null ? null : Number(m[1])
  }
  const major = nodeMajor(finalStage.base)
  t.not(major, null, `the last stage is a slim Node image: ${finalStage.base}`)
  if (major !== null) {
    t.ok(major % 2 === 0, `Node ${major} is an LTS line (even major)`)
    t.ok(major >= 20, `Node ${major} satisfies package.json engines (>= 20.18)`)
  }
  for (const stage of stages.slice(0, -1)) {
    // better-sqlite3 is compiled in the build stage and copied over: the same Node ABI and libc.
    t.equal(stage.base, finalStage.base, `stage ${stage.name ?? '?'} builds on the image it ships in`)
  }

  const copies = finalStage.instructions.filter((i) => i.op === 'COPY').map(copyArgs)
  const stageNames = stages.slice(0, -1).map((s) => s.name)
  const fromStages = copies.filter((c) => c.from !== null)
  t.ok(fromStages.length > 0, 'the last stage copies from an earlier one')
  for (const c of fromStages) t.ok(stageNames.includes(c.from), `COPY --from=${c.from ?? ''} names a stage`)
  t.notOk(finalStage.instructions.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args) && !/--omit=dev/.test(i.args)), 'no dev dependencies installed in the last stage')
  const build = stages.find((s) => s.name === fromStages[0]?.from)
  t.ok(build?.instructions.some((i) => i.op === 'RUN' && /--omit=dev/.test(i.args)), 'the build stage prunes dev dependencies before they are copied')

  // Every COPY source from the build context exists (and the files tsconfig.build.json extends).
  for (const stage of stages) {
    for (const c of stage.instructions.filter((i) => i.op === 'COPY').map(copyArgs).filter((c) => c.from === null)) {
      for (const src of c.sources) t.ok(existsSync(join(ROOT, src)), `COPY ${src} (stage ${stage.name ?? 'last'}): exists in the build context`)
    }
  }
  const buildCopies = (build?.instructions ?? []).filter((i) => i.op === 'COPY').flatMap((i) => copyArgs(i).sources)
  const buildTsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { extends?: string }
  if (buildTsconfig.extends !== undefined) t.ok(buildCopies.includes(posix.normalize(buildTsconfig.extends)), `the build stage copies ${buildTsconfig.extends} (tsconfig.build.json extends it)`)
  // src/version.ts reads package.json next to dist/ at run time.
  t.ok(copies.some((c) => c.sources.includes('package.json')), 'the last stage copies package.json (the version is read from it)')

  t.ok(image.user !== null && !/^(root|0)(:|$)/.test(image.user), `USER is not root: ${image.user ?? 'none'}`)
  t.ok(image.volumes.includes('/data'), 'VOLUME /data')
  t.same(image.entrypoint.slice(0, 2), ['node', 'dist/cli/main.js'], 'ENTRYPOINT runs dist/cli/main.js')
  t.same(image.cmd, ['start'], 'CMD start')
  t.ok(existsSync(join(ROOT, 'src', 'cli', 'main.ts')), 'dist/cli/main.js is built from src/cli/main.ts')

  // The image's own settings are valid configuration, and put the store on the volume.
  const config = proxyConfig(t, { where: 'Dockerfile ENV', argv: [...image.entrypoint, ...image.cmd], env: { ...image.env, DUO_DIAG_ADMIN__TOKEN: 'x' }, files: imageFiles() })
  if (config !== null) {
    t.ok(image.volumes.some((v) => isUnder(config.store.path, v)), `the store (${config.store.path}) is on a volume`)
    t.ok(config.admin.listen !== null && !isLoopback(config.admin.listen.host), 'the admin API is reachable from outside the container (probes, published port)')
  }
  // Without a token the image refuses to start: the rule start-up applies.
  const tokenless = proxyConfig(t, { where: 'Dockerfile ENV without a token', argv: [...image.entrypoint, ...image.cmd], env: image.env, files: imageFiles() }, { expectTokenError: true })
  t.equal(tokenless, null, 'the image alone needs DUO_DIAG_ADMIN__TOKEN')

  // EXPOSE: exactly the proxy's ports, each documented in the Dockerfile and the README.
  t.same([...image.expose].sort((a, b) => a - b), [...PROXY_PORTS].sort((a, b) => a - b), 'EXPOSE 5053 5054 5099')
  const readmeContainers = section(readFileSync(join(ROOT, 'README.md'), 'utf8'), '## Containers')
  for (const port of image.expose) {
    t.match(dockerfileText, new RegExp(`^#.*\\b${port}\\b`, 'm'), `port ${port} is documented in the Dockerfile`)
    t.match(readmeContainers, new RegExp(`\\b${port}\\b`), `port ${port} is documented in the README's Containers section`)
  }

  t.ok(image.healthcheck !== null, 'HEALTHCHECK')
  const hc = image.healthcheck ?? ''
  const hcUrl = /https?:\/\/([^/:'"\s]+):(\d+)(\/[^'"\s)]*)/.exec(hc)
  t.ok(hcUrl !== null, `the health check requests a URL: ${hc}`)
  if (hcUrl !== null && config !== null) {
    t.equal(hcUrl[3], '/healthz', 'on /healthz')
    t.equal(Number(hcUrl[2]), config.admin.listen?.port, 'on the admin API port the image configures')
    t.ok(isLoopback(hcUrl[1] as string), 'from inside the container')
  }
  t.match(hc, /CMD \["node",/, 'run by node (the slim image has no curl)')
})

// ---------------------------------------------------------------------------------------------
// The proxy's effective configuration in a container

/** The files the image ships outside dist/: the repository's config/ at /app/config (COPY config ./config). */
function imageFiles (): Record<string, string> {
  const files: Record<string, string> = {}
  for (const name of readdirSync(join(ROOT, 'config'))) files[`/app/config/${name}`] = readFileSync(join(ROOT, 'config', name), 'utf8')
  return files
}

interface ProxyRun {
  where: string
  /** The container's whole command line: entrypoint and arguments. */
  argv: string[]
  env: Record<string, string>
  /** Files mounted into the container, by absolute path. */
  files: Record<string, string>
}

/**
 * Checks a proxy container's command line with the CLI's own flag parser and its flags, file and
 * environment with loadConfig, then the rule start-up adds (a non-loopback admin API needs a
 * token). Returns the effective configuration, or null after reporting why it is invalid.
 */
function proxyConfig (t: Test, run: ProxyRun, opts: { expectTokenError?: boolean } = {}): Config | null {
  const [node, main, command, ...rest] = run.argv
  if (node !== 'node' || main !== 'dist/cli/main.js' || command !== 'start') {
    t.fail(`${run.where}: runs "${run.argv.join(' ')}", not node dist/cli/main.js start`)
    return null
  }
  let sources
  try {
    const parsed = parseStartFlags(rest)
    t.notOk(parsed.help, `${run.where}: start, not --help`)
    sources = parsed.sources
  } catch (err) {
    t.fail(`${run.where}: start ${rest.join(' ')}: ${(err as Error).message}`)
    return null
  }
  for (const name of Object.keys(run.env)) {
    t.ok(name.startsWith('DUO_DIAG_') || OTHER_PROXY_ENV.has(name), `${run.where}: ${name} is read by the proxy`)
  }
  const env = { ...run.env }
  const file = sources.file ?? env.DUO_DIAG_CONFIG ?? null
  delete env.DUO_DIAG_CONFIG
  let localFile: string | null = null
  if (file !== null) {
    const text = run.files[file]
    if (text === undefined) {
      t.fail(`${run.where}: the config file ${file} is not mounted`)
      return null
    }
    localFile = join(tmp, `config-${++tmpFiles}.yaml`)
    writeFileSync(localFile, text)
    // The environment beats the file: a key both set differently is silently the environment's.
    const doc = (parseYaml(text) ?? {}) as Obj
    for (const [name, value] of Object.entries(env)) {
      if (!name.startsWith('DUO_DIAG_')) continue
      const inFile = name.slice('DUO_DIAG_'.length).toLowerCase().split('__').reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Obj)[key] : undefined), doc)
      if (inFile !== undefined && inFile !== null) t.equal(String(inFile), value, `${run.where}: ${name} overrides the file's setting (the environment wins)`)
    }
  }
  let config: Config
  try {
    config = loadConfig({ file: localFile, env, flags: sources.flags })
  } catch (err) {
    t.ok(err instanceof ConfigError, `${run.where}: a ConfigError, not ${String(err)}`)
    t.fail(`${run.where}: invalid configuration: ${(err as Error).message}`)
    return null
  }
  const admin = config.admin.listen
  const tokenMissing = admin !== null && !isLoopback(admin.host) && config.admin.token === null
  if (opts.expectTokenError === true) return tokenMissing ? null : config
  if (tokenMissing) {
    t.fail(`${run.where}: the admin API listens on ${admin.host}:${admin.port} without a token: start-up refuses`)
    return null
  }
  t.pass(`${run.where}: valid configuration (${config.routes.map((r) => `${r.name} ${r.listen.host}:${r.listen.port} -> ${r.upstream.href}`).join(', ')})`)
  return config
}

/** Where the proxy listens: every route and the admin API. */
function listeners (config: Config): Array<{ host: string, port: number, what: string }> {
  const out = config.routes.map((r) => ({ ...r.listen, what: `route ${r.name}` }))
  if (config.admin.listen !== null) out.push({ ...config.admin.listen, what: 'admin API' })
  return out
}

function isUnder (path: string, dir: string): boolean {
  const rel = posix.relative(dir, posix.resolve('/', path))
  return rel !== '' && !rel.startsWith('..') && !posix.isAbsolute(rel)
}

/** From a `## Heading` to the next heading of the same level. */
function section (markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`)
  if (start < 0) return ''
  const end = markdown.indexOf('\n## ', start + heading.length + 2)
  return markdown.slice(start, end < 0 ? undefined : end)
}

/** Every port number in a parsed document: port-like keys and `host:port` in strings. */
function portsIn (value: unknown, key = ''): number[] {
  if (key === 'image') return [] // postgres:17 is a tag, not a port
  if (typeof value === 'number') return /^(port|containerPort|targetPort|hostPort|published|target)$/.test(key) ? [value] : []
  if (typeof value === 'string') return [...value.matchAll(/:(\d{2,5})(?=$|[/="'\s)])/g)].map((m) => Number(m[1]))
  if (Array.isArray(value)) return value.flatMap((v) => portsIn(v, key))
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => portsIn(v, k))
  return []
}

function checkKnownPorts (t: Test, where: string, value: unknown): void {
  const unknown = [...new Set(portsIn(value))].filter((p) => !KNOWN_PORTS.has(p))
  t.same(unknown, [], `${where}: only ports the proxy (5053, 5054, 5099), the gateway (5052), the model server (8000) and PostgreSQL (5432) listen on`)
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

interface ComposeService {
  build?: string | { context?: string, dockerfile?: string }
  image?: string
  profiles?: unknown
  entrypoint?: unknown
  command?: unknown
  environment?: Record<string, unknown> | string[]
  ports?: unknown[]
  volumes?: unknown[]
  healthcheck?: { test?: unknown, disable?: boolean }
  depends_on?: string[] | Record<string, { condition?: string }>
}

function stringList (t: Test, where: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined
  if (Array.isArray(value) && value.every((s) => typeof s === 'string')) return value
  t.fail(`${where}: expected a list of strings (the exec form), got ${JSON.stringify(value)}`)
  return []
}

function envMap (environment: ComposeService['environment']): Record<string, string> {
  if (environment === undefined) return {}
  if (Array.isArray(environment)) {
    return Object.fromEntries(environment.map((e) => {
      const at = e.indexOf('=')
      return at < 0 ? [e, ''] : [e.slice(0, at), e.slice(at + 1)]
    }))
  }
  return Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, v === null ? '' : String(v)]))
}

/** A simulator's flags, read with the same option table as src/sim/main.ts. */
function simFlags (args: string[]): { host?: string, port?: string, 'model-endpoint'?: string } {
  return parseArgs({
    args,
    strict: false,
    options: { host: { type: 'string' }, port: { type: 'string' }, 'model-endpoint': { type: 'string' } }
  }).values as { host?: string, port?: string, 'model-endpoint'?: string }
}

/** The host side of a service's `ports`: "H:C", "IP:H:C", or the long form; "C" alone publishes none. */
function hostPorts (ports: unknown[] | undefined): Array<{ ip: string, port: number }> {
  return (ports ?? []).flatMap((p) => {
    if (typeof p === 'object' && p !== null) {
      const o = p as Obj
      return o.published === undefined ? [] : [{ ip: String(o.host_ip ?? '0.0.0.0'), port: Number(o.published) }]
    }
    const parts = String(p).split('/')[0]?.split(':') ?? []
    if (parts.length === 3) return [{ ip: parts[0] as string, port: Number(parts[1]) }]
    if (parts.length === 2) return [{ ip: '0.0.0.0', port: Number(parts[0]) }]
    return []
  })
}

/** The official postgres image's defaults: its data directory moved in 18. */
function pgDataDir (major: number, env: Record<string, string>): string {
  return env.PGDATA ?? (major >= 18 ? `/var/lib/postgresql/${major}/docker` : '/var/lib/postgresql/data')
}

/** `postgres:17`, `docker.io/library/postgres:17.2-bookworm`, …: the official image, its major version pinned. */
const POSTGRES_IMAGE = /^(?:docker\.io\/(?:library\/)?)?postgres:(\d+)(?:[.-][\w.-]*)?(?:@sha256:[0-9a-f]+)?$/

/** What a PostgreSQL server is set up with, and so what a client's URL must say. */
interface PgServer { user: string, password: string, db: string, port: number }

/** The user, password, database and port of a postgres:// URL, with libpq's defaults. */
function pgUrlParts (url: URL): { user: string, password: string, db: string, port: number } {
  const user = decodeURIComponent(url.username)
  return { user, password: decodeURIComponent(url.password), db: decodeURIComponent(url.pathname.replace(/^\//, '')) || user, port: Number(url.port || POSTGRES_PORT) }
}

/** pg_isready's -h, -U, -d, -p, as a health check or probe passes them. */
function pgIsReadyFlags (argv: string[]): Record<string, string | undefined> {
  const at = argv.indexOf('pg_isready')
  const flags: Record<string, string | undefined> = {}
  const rest = at < 0 ? [] : argv.slice(at + 1)
  for (let i = 0; i < rest.length; i++) {
    const m = /^-([hUdp])(.*)$/.exec(rest[i] as string)
    if (m === null) continue
    flags[m[1] as string] = m[2] !== '' ? m[2] : rest[++i]
  }
  return flags
}

/** A proxy service of the compose file, as the checks and the loopback run below need it. */
interface ComposeProxy { name: string, profiles: string[], config: Config, store: StoreLocation, published: number[] }

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')
const composeDoc = parseAllDocuments(composeText)

t.test('docker-compose.yml: files, commands, ports and names that exist', async (t) => {
  t.equal(composeDoc.length, 1, 'one YAML document')
  t.same(composeDoc[0]?.errors.map((e) => e.message), [], 'parses')
  const compose = composeDoc[0]?.toJS() as { services?: Record<string, ComposeService>, volumes?: Record<string, unknown> }
  const services = compose.services ?? {}
  checkKnownPorts(t, 'docker-compose.yml', compose)

  /** Service name -> ports reachable from other containers, and its kind. */
  const reachable = new Map<string, { ports: number[], kind: 'proxy' | 'gateway' | 'model' | 'postgres' }>()
  const databases = new Map<string, PgServer>()
  const proxies: ComposeProxy[] = []
  const checks: Array<() => void> = []
  const sims: Array<{ name: string, argv: string[] }> = []
  const profilesOf = (name: string): string[] => {
    const p = services[name]?.profiles
    return Array.isArray(p) ? p.map(String) : []
  }
  const depsOf = (name: string): Record<string, { condition?: string }> => {
    const d = services[name]?.depends_on
    return Array.isArray(d) ? Object.fromEntries(d.map((n) => [n, {}])) : d ?? {}
  }

  for (const [name, svc] of Object.entries(services)) {
    const where = `service ${name}`
    const profiles = stringList(t, `${where}: profiles`, svc.profiles) ?? []
    const deps = depsOf(name)
    for (const [dep, cond] of Object.entries(deps)) {
      t.ok(dep in services, `${where}: depends on ${dep}, a service`)
      if (cond.condition === 'service_healthy') t.ok(services[dep]?.healthcheck !== undefined, `${where}: ${dep} has a health check to wait for`)
    }
    const env = { ...image.env, ...envMap(svc.environment) }
    const mounts = (svc.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [String((v as Obj).source), String((v as Obj).target)]))
    const named = (source: string | undefined): boolean => source !== undefined && !source.startsWith('.') && !source.startsWith('/')
    for (const [source] of mounts) {
      if (named(source)) t.ok(compose.volumes !== undefined && (source as string) in compose.volumes, `${where}: volume ${source ?? ''} is declared`)
      else if (source !== undefined) t.ok(existsSync(join(ROOT, source)), `${where}: ${source} exists`)
    }
    const published = (svc.ports ?? []).map((p) => (typeof p === 'object' && p !== null ? Number((p as Obj).target) : Number(String(p).split(':').at(-1)?.split('/')[0])))

    // The one service not built from this repository: the shared store's database.
    if (svc.image !== undefined && svc.build === undefined) {
      const pg = POSTGRES_IMAGE.exec(svc.image)
      if (pg === null) {
        t.fail(`${where}: image ${svc.image}: only PostgreSQL (the official postgres:<major> image) is pulled, the rest is built here`)
        continue
      }
      const own = envMap(svc.environment)
      t.ok((own.POSTGRES_PASSWORD ?? '') !== '', `${where}: POSTGRES_PASSWORD is set (the image does not start without one)`)
      const server: PgServer = { user: own.POSTGRES_USER || 'postgres', password: own.POSTGRES_PASSWORD ?? '', db: '', port: POSTGRES_PORT }
      server.db = own.POSTGRES_DB || server.user
      t.equal(own.PGPORT, undefined, `${where}: listens on the default port ${POSTGRES_PORT}`)
      t.equal(svc.command, undefined, `${where}: the image's own command (postgres on ${POSTGRES_PORT})`)
      for (const p of published) t.equal(p, POSTGRES_PORT, `${where}: published port ${p} is the one it listens on`)
      const dataDir = pgDataDir(Number(pg[1]), own)
      t.ok(mounts.some(([source, target]) => named(source) && target !== undefined && (target === dataDir || isUnder(dataDir, target))), `${where}: its data directory ${dataDir} is on a named volume`)
      const test = stringList(t, `${where}: healthcheck.test`, svc.healthcheck?.test) ?? []
      t.ok(test.includes('pg_isready'), `${where}: a pg_isready health check (the proxies wait for it)`)
      const flags = pgIsReadyFlags(test)
      t.ok(flags.h !== undefined && isLoopback(flags.h), `${where}: pg_isready over TCP on loopback (-h 127.0.0.1): the first start's temporary server listens on the socket only`)
      if (flags.U !== undefined) t.equal(flags.U, server.user, `${where}: pg_isready -U is POSTGRES_USER`)
      if (flags.d !== undefined) t.equal(flags.d, server.db, `${where}: pg_isready -d is POSTGRES_DB`)
      reachable.set(name, { ports: [POSTGRES_PORT], kind: 'postgres' })
      databases.set(name, server)
      continue
    }

    t.ok(svc.build !== undefined, `${where}: built from this repository`)
    const build = typeof svc.build === 'string' ? { context: svc.build } : svc.build ?? {}
    const context = join(ROOT, build.context ?? '.')
    t.ok(existsSync(context) && statSync(context).isDirectory(), `${where}: build context ${build.context ?? '.'} exists`)
    t.ok(existsSync(join(context, build.dockerfile ?? 'Dockerfile')), `${where}: ${build.dockerfile ?? 'Dockerfile'} exists`)

    // Compose: an entrypoint replaces the image's and drops its CMD; a command replaces the CMD.
    const entrypoint = stringList(t, `${where}: entrypoint`, svc.entrypoint)
    const command = stringList(t, `${where}: command`, svc.command)
    const argv = [...(entrypoint ?? image.entrypoint), ...(command ?? (entrypoint === undefined ? image.cmd : []))]
    const script = argv[1] ?? ''
    t.ok(existsSync(join(ROOT, script.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))), `${where}: runs ${script}, built from src/`)

    if (script === 'dist/cli/main.js') {
      const config = proxyConfig(t, { where, argv, env, files: imageFiles() })
      if (config === null) continue
      const listens = listeners(config)
      for (const l of listens) t.ok(PROXY_PORTS.includes(l.port), `${where}: ${l.what} listens on ${l.port}, a documented proxy port`)
      const open = listens.filter((l) => !isLoopback(l.host)).map((l) => l.port)
      for (const p of published) t.ok(open.includes(p), `${where}: published port ${p} is one the proxy listens on`)
      for (const p of open) t.ok(image.expose.includes(p), `${where}: ${p} is EXPOSEd by the image`)
      reachable.set(name, { ports: open, kind: 'proxy' })
      // The store, read by the proxy's own parser (--db / DUO_DIAG_STORE__PATH / store.path).
      let store: StoreLocation
      try {
        store = parseStoreLocation(config.store.path)
      } catch (err) {
        t.fail(`${where}: the store ${config.store.path}: ${(err as Error).message}`)
        continue
      }
      proxies.push({ name, profiles, config, store, published })
      if (store.kind === 'sqlite') {
        t.ok(mounts.some(([, target]) => target !== undefined && isUnder(store.path, target)), `${where}: the SQLite store ${store.path} is on a volume`)
      } else {
        const url = new URL(store.url)
        const wants = pgUrlParts(url)
        checks.push(() => {
          const server = databases.get(url.hostname)
          t.ok(server !== undefined, `${where}: the store's host ${url.hostname} is a PostgreSQL service of this file`)
          if (server === undefined) return
          t.equal(wants.port, server.port, `${where}: the store's port ${wants.port} is the one ${url.hostname} listens on`)
          t.equal(wants.user, server.user, `${where}: the store's user is ${url.hostname}'s POSTGRES_USER`)
          t.equal(wants.password, server.password, `${where}: the store's password is ${url.hostname}'s POSTGRES_PASSWORD`)
          t.equal(wants.db, server.db, `${where}: the store's database is ${url.hostname}'s POSTGRES_DB`)
          const dbProfiles = profilesOf(url.hostname)
          t.ok(dbProfiles.length === 0 || (profiles.length > 0 && profiles.every((p) => dbProfiles.includes(p))), `${where}: ${url.hostname} starts whenever it does (profiles ${JSON.stringify(profiles)} vs ${JSON.stringify(dbProfiles)})`)
          t.equal(deps[url.hostname]?.condition, 'service_healthy', `${where}: waits for ${url.hostname}'s health check`)
        })
      }
      checks.push(() => {
        for (const r of config.routes) {
          const target = reachable.get(r.upstream.hostname)
          t.ok(target !== undefined && target.kind !== 'postgres', `${where}: route ${r.name}'s upstream host ${r.upstream.hostname} is an HTTP service`)
          if (target !== undefined) t.ok(target.ports.includes(Number(r.upstream.port)), `${where}: route ${r.name} -> ${r.upstream.host}: ${r.upstream.hostname} listens there`)
        }
      })
      const hc = stringList(t, `${where}: healthcheck.test`, svc.healthcheck?.test)?.join(' ') ?? image.healthcheck ?? ''
      t.equal(Number(/:(\d+)\//.exec(hc)?.[1]), config.admin.listen?.port, `${where}: the health check asks the admin API`)
    } else if (script === 'dist/sim/main.js') {
      const [kind, ...args] = argv.slice(2)
      t.ok(kind === 'gateway' || kind === 'model', `${where}: simulates the gateway or the model (${kind ?? 'nothing'})`)
      if (kind !== 'gateway' && kind !== 'model') continue
      const flags = simFlags(args)
      t.equal(flags.host, '0.0.0.0', `${where}: listens on all interfaces (reachable from the other containers)`)
      t.equal(Number(flags.port), SIM_PORTS[kind], `${where}: the ${kind} port`)
      for (const p of published) t.equal(p, SIM_PORTS[kind], `${where}: published port ${p} is the one it listens on`)
      reachable.set(name, { ports: [Number(flags.port)], kind })
      sims.push({ name, argv })
      const endpoint = flags['model-endpoint']
      if (endpoint !== undefined) {
        checks.push(() => {
          const url = new URL(endpoint)
          const target = reachable.get(url.hostname)
          t.ok(target?.ports.includes(Number(url.port)), `${where}: --model-endpoint ${endpoint}: ${url.hostname} listens on ${url.port}`)
          t.match(url.pathname, /\/v1\/?$/, `${where}: the model endpoint keeps its /v1`)
        })
      }
      // The image's HEALTHCHECK asks the proxy's admin port, where a simulator does not listen.
      const test = stringList(t, `${where}: healthcheck.test`, svc.healthcheck?.test) ?? []
      t.ok(svc.healthcheck?.disable === true || test.length > 0, `${where}: its own health check (the image's asks port 5099)`)
      const hcPort = /:(\d+)\//.exec(test.join(' '))?.[1]
      if (hcPort !== undefined) t.equal(Number(hcPort), SIM_PORTS[kind], `${where}: the health check asks the simulator's port`)
    } else {
      t.fail(`${where}: runs "${argv.join(' ')}", neither the proxy nor a simulator`)
    }
  }
  for (const check of checks) check()

  // What `docker compose up` starts (services without profiles), and what each profile adds.
  const enabledWith = (active: string[]): string[] => Object.keys(services).filter((n) => profilesOf(n).length === 0 || profilesOf(n).some((p) => active.includes(p))).sort()
  const kindOf = (n: string): string | undefined => reachable.get(n)?.kind
  const defaults = enabledWith([])
  t.same(defaults, ['gateway', 'model', 'proxy'], '`docker compose up` starts the original services only: the proxy, the simulated gateway and model')
  t.ok(defaults.some((n) => kindOf(n) === 'proxy'), 'the proxy runs')
  t.ok(defaults.some((n) => kindOf(n) === 'gateway'), 'beside a simulated gateway')
  t.ok(defaults.some((n) => kindOf(n) === 'model'), 'and a simulated model server')
  t.same(defaults.filter((n) => kindOf(n) === 'postgres' || proxies.some((p) => p.name === n && p.store.kind === 'postgres')), [], '`docker compose up` starts no PostgreSQL and no proxy that needs one')

  const declared = [...new Set(Object.keys(services).flatMap(profilesOf))].sort()
  const header = composeText.slice(0, composeText.search(/^[^#\n]/m))
  const readmeContainers = section(readFileSync(join(ROOT, 'README.md'), 'utf8'), '## Containers')
  /** Profiles in which two or more proxies share one PostgreSQL database, with those proxies. */
  const shared: Array<{ profile: string, proxies: ComposeProxy[] }> = []
  for (const [label, active] of [['`docker compose up`', []] as const, ...declared.map((p) => [`profile ${p}`, [p]] as const)]) {
    const enabled = enabledWith([...active])
    for (const n of enabled) {
      for (const dep of Object.keys(depsOf(n))) t.ok(enabled.includes(dep), `${label}: ${n} depends on ${dep}, which starts too`)
    }
    const bound = enabled.flatMap((n) => hostPorts(services[n]?.ports).map((h) => ({ ...h, n })))
    const clashes = bound.flatMap((a, i) => bound.slice(i + 1).filter((b) => a.port === b.port && (a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0')).map((b) => `${a.n} and ${b.n} on ${a.port}`))
    t.same(clashes, [], `${label}: every host port is published once (${bound.map((b) => `${b.n} ${b.ip}:${b.port}`).join(', ')})`)
    const groups = new Map<string, ComposeProxy[]>()
    for (const p of proxies.filter((p) => enabled.includes(p.name) && p.store.kind === 'postgres')) {
      const url = new URL((p.store as { url: string }).url)
      const key = `${url.hostname}:${pgUrlParts(url).port}/${pgUrlParts(url).db}`
      groups.set(key, [...(groups.get(key) ?? []), p])
    }
    for (const [key, group] of groups) {
      if (group.length < 2) continue
      const instances = group.map((p) => p.config.proxyInstance)
      t.same(instances.filter((x, i) => instances.indexOf(x) !== i), [], `${label}: the proxies sharing ${key} name themselves apart (--proxy-instance ${instances.join(', ')})`)
      for (const p of group) {
        const admin = p.config.admin.listen
        t.ok(admin !== null && p.published.includes(admin.port) && hostPorts(services[p.name]?.ports).length > 0, `${label}: ${p.name}'s admin API is published, so either replica can be asked`)
      }
      if (active.length > 0) shared.push({ profile: active[0] as string, proxies: group })
    }
  }
  for (const p of declared) {
    t.match(header, `docker compose --profile ${p} up`, `the comment at the top says how to start profile ${p}`)
    t.match(readmeContainers, `--profile ${p}`, `the README's Containers section mentions profile ${p}`)
  }
  t.ok(shared.length > 0, 'a profile runs two or more proxies on one PostgreSQL store')

  // The simulators accept exactly these arguments: run each (on a free loopback port) until it listens.
  await ensureDist(t)
  for (const sim of sims) {
    const args = sim.argv.slice(2).map((a, i, all) => (all[i - 1] === '--port' ? '0' : all[i - 1] === '--host' ? '127.0.0.1' : a))
    const res = await runUntilListening(sim.argv.slice(0, 2), args)
    t.match(res.line, { msg: 'simulator listening' }, `service ${sim.name}: node ${sim.argv.slice(1).join(' ')} starts (stderr: ${res.stderr})`)
    t.equal(res.code, 0, `service ${sim.name}: exits 0 on SIGTERM`)
  }

  // Each shared profile's proxies as configured here, on loopback, against a real PostgreSQL:
  // one query on either of them shows every one's records.
  for (const { profile, proxies: group } of shared) {
    await t.test(`profile ${profile}: ${group.map((p) => p.name).join(', ')} on one PostgreSQL store, run on loopback`, async (t) => {
      await runSharedStore(t, group, (host) => kindOf(host))
    })
  }
})

/**
 * Starts the simulators the proxies' routes point at and the proxies themselves (their compose
 * configuration, with loopback addresses and a fresh database of the suite's PostgreSQL cluster
 * for the service names), sends one request through each, then asks each admin API for all
 * records, for each instance's records and for each request's correlation id.
 */
async function runSharedStore (t: Test, group: ComposeProxy[], kindOf: (host: string) => string | undefined): Promise<void> {
  if (!requirePg(t)) return
  const db = await freshDatabase(t)
  if (db === null) {
    pgUnavailable(t)
    return
  }
  const sims = new Map<string, SimServer>()
  const running: Array<{ p: ComposeProxy, proxy: RunningProxy, admin: string, route: string }> = []
  try {
    for (const host of new Set(group.flatMap((p) => p.config.routes.map((r) => r.upstream.hostname)))) {
      const kind = kindOf(host)
      if (kind === 'gateway') sims.set(host, await startAiGateway({ record: false }))
      else if (kind === 'model') sims.set(host, await startModelServer({ record: false }))
      else t.fail(`upstream ${host} is a ${kind ?? 'missing'} service: not simulated here`)
    }
    for (const p of group) {
      const config: Config = {
        ...p.config,
        routes: p.config.routes.map((r) => {
          const upstream = new URL(r.upstream.href)
          upstream.hostname = '127.0.0.1'
          upstream.port = String(sims.get(r.upstream.hostname)?.port ?? 1)
          return { ...r, listen: { host: '127.0.0.1', port: 0 }, upstream }
        }),
        admin: { ...p.config.admin, listen: { host: '127.0.0.1', port: 0 } },
        store: { ...p.config.store, path: db, flushIntervalMs: 5 },
        log: { level: 'warn', file: join(tmp, `${p.name}.log`) }
      }
      const proxy = await startProxy(config, createLogger(config.log.level, config.log.file))
      running.push({ p, proxy, admin: `http://127.0.0.1:${proxy.admin?.address.port ?? 0}`, route: `http://127.0.0.1:${proxy.routes[0]?.address.port ?? 0}` })
    }
    const get = async (base: string, token: string | null, query: string): Promise<Exchange[]> => {
      const res = await fetch(`${base}/api/exchanges?limit=1000${query}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
      t.equal(res.status, 200, `GET /api/exchanges${query === '' ? '' : `?${query.slice(1)}`}: 200`)
      return ((await res.json()) as { items: Exchange[] }).items
    }
    const body = JSON.stringify({ current_file: { file_name: 'a.py', content_above_cursor: 'def f(', content_below_cursor: '' }, model_provider: 'litellm', model_name: 'mistral' })
    for (const r of running) {
      const res = await fetch(`${r.route}/v2/code/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': `compose-${r.p.name}` }, body })
      await res.arrayBuffer()
      t.equal(res.status, 200, `${r.p.name}: a code completion through its route`)
    }
    const instances = running.map((r) => r.p.config.proxyInstance).sort()
    for (const r of running) {
      const token = r.p.config.admin.token
      let items: Exchange[] = []
      for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
        items = await get(r.admin, token, '')
        if (instances.every((i) => items.some((e) => e.proxy_instance === i))) break
      }
      t.same([...new Set(items.map((e) => e.proxy_instance))].sort(), instances, `${r.p.name}'s admin API lists every instance's records`)
      for (const other of running) {
        const one = await get(r.admin, token, `&proxy_instance=${encodeURIComponent(other.p.config.proxyInstance)}`)
        t.ok(one.length > 0 && one.every((e) => e.proxy_instance === other.p.config.proxyInstance), `${r.p.name}: ?proxy_instance=${other.p.config.proxyInstance} gives that instance's records only (${one.length})`)
        const byId = await get(r.admin, token, `&correlation_id=compose-${other.p.name}`)
        t.same(byId.map((e) => e.proxy_instance), [other.p.config.proxyInstance], `${r.p.name}: the request sent through ${other.p.name}, by its correlation id`)
      }
    }
  } finally {
    for (const r of running) await r.proxy.close('test')
    for (const s of sims.values()) await s.close()
  }
}

// ---------------------------------------------------------------------------------------------
// deploy/kubernetes

interface K8sDoc { apiVersion?: string, kind?: string, metadata?: { name?: string, labels?: Record<string, string> }, [key: string]: unknown }
interface KeyRef { name: string, key: string }
interface EnvVar { name: string, value?: string, valueFrom?: { secretKeyRef?: KeyRef, configMapKeyRef?: KeyRef, fieldRef?: { fieldPath: string }, resourceFieldRef?: unknown } }
interface Probe { httpGet?: { path?: string, port?: number | string }, exec?: { command?: string[] } }
interface SecurityContext { runAsNonRoot?: boolean, runAsUser?: number, readOnlyRootFilesystem?: boolean, allowPrivilegeEscalation?: boolean, fsGroup?: number }
interface Container {
  name: string
  image: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  envFrom?: unknown[]
  ports?: Array<{ name?: string, containerPort: number }>
  volumeMounts?: Array<{ name: string, mountPath: string, readOnly?: boolean, subPath?: string }>
  livenessProbe?: Probe
  readinessProbe?: Probe
  startupProbe?: Probe
  resources?: { requests?: { cpu?: unknown, memory?: unknown }, limits?: { cpu?: unknown, memory?: unknown } }
  securityContext?: SecurityContext
}
interface Volume { name: string, configMap?: { name: string, items?: Array<{ key: string, path: string }> }, secret?: { secretName: string }, persistentVolumeClaim?: { claimName: string }, emptyDir?: unknown }
interface PodSpec { containers: Container[], volumes?: Volume[], securityContext?: SecurityContext }
/** A Deployment or a StatefulSet: Pods from a template. */
interface Workload extends K8sDoc {
  spec: {
    replicas?: number
    serviceName?: string
    selector: { matchLabels: Record<string, string> }
    template: { metadata: { labels: Record<string, string> }, spec: PodSpec }
    volumeClaimTemplates?: Array<{ metadata: { name: string }, spec?: { accessModes?: string[] } }>
  }
}
interface Service extends K8sDoc { spec: { selector: Record<string, string>, clusterIP?: string, ports: Array<{ name?: string, port: number, targetPort?: number | string }> } }
interface Claim extends K8sDoc { spec?: { accessModes?: string[] } }

/** What the downward API gives a variable (`fieldRef`), for a sample Pod. */
function downward (fieldPath: string, pod: string): string | undefined {
  const fields: Record<string, string> = {
    'metadata.name': pod,
    'metadata.namespace': 'ddp-test',
    'metadata.uid': `00000000-0000-4000-8000-${Buffer.from(pod).toString('hex').slice(0, 12).padEnd(12, '0')}`,
    'spec.nodeName': 'node-1',
    'spec.serviceAccountName': 'default',
    'status.hostIP': '192.0.2.1',
    'status.podIP': '192.0.2.10'
  }
  return fields[fieldPath] ?? (/^metadata\.(labels|annotations)\['[^']+'\]$/.test(fieldPath) ? 'x' : undefined)
}

function yamlFiles (dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return yamlFiles(p)
    return /\.ya?ml$/.test(e.name) ? [p] : []
  }).sort()
}

const kubeFiles = yamlFiles(KUBE_DIR)
const kubeDirs = [...new Set(kubeFiles.map((f) => dirname(f)))]

t.test('deploy/kubernetes: the examples are there, each with a README', async (t) => {
  for (const name of ['sidecar', 'deployment']) t.ok(kubeDirs.includes(join(KUBE_DIR, name)), `deploy/kubernetes/${name} has manifests`)
  for (const dir of kubeDirs) {
    const rel = relative(ROOT, dir)
    const readme = join(dir, 'README.md')
    t.ok(existsSync(readme), `${rel}/README.md`)
    if (!existsSync(readme)) continue
    const text = readFileSync(readme, 'utf8')
    // Every manifest named in the README exists, and every manifest is named there.
    for (const name of new Set([...text.matchAll(/`([\w.-]+\.ya?ml)`/g)].map((m) => m[1] as string))) t.ok(existsSync(join(dir, name)), `${rel}/README.md names ${name}, which exists`)
    for (const f of kubeFiles.filter((f) => dirname(f) === dir)) t.match(text, `\`${relative(dir, f)}\``, `${rel}/README.md describes ${relative(dir, f)}`)
    t.match(text, /AI gateway URL/, `${rel}/README.md: the GitLab setting to change`)
    t.match(text, /\/v1/, `${rel}/README.md: the model endpoint keeps its /v1`)
    t.match(text, /## Removing it/, `${rel}/README.md: how to remove it again`)
    t.notMatch(text, /planned|does not exist yet|not available yet/i, `${rel}/README.md: promises nothing that is not there`)
  }
})

for (const dir of kubeDirs) {
  t.test(`${relative(ROOT, dir)}: manifests the proxy accepts`, async (t) => {
    const docs: K8sDoc[] = []
    for (const file of kubeFiles.filter((f) => dirname(f) === dir)) {
      const text = readFileSync(file, 'utf8')
      t.notMatch(text, /planned|does not exist yet|not available yet/i, `${relative(ROOT, file)}: promises nothing that is not there`)
      const parsed = parseAllDocuments(text)
      for (const [i, d] of parsed.entries()) {
        t.same(d.errors.map((e) => e.message), [], `${relative(ROOT, file)} document ${i + 1} parses`)
        const js = d.toJS() as K8sDoc | null
        if (js === null) continue
        t.ok(js.apiVersion !== undefined && js.kind !== undefined && js.metadata?.name !== undefined, `${relative(ROOT, file)} document ${i + 1}: apiVersion, kind, metadata.name`)
        docs.push(js)
      }
    }
    const keys = docs.map((d) => `${d.kind ?? ''}/${d.metadata?.name ?? ''}`)
    t.same(keys.filter((k, i) => keys.indexOf(k) !== i), [], 'no object twice')
    const find = <T extends K8sDoc>(kind: string, name: string): T | undefined => docs.find((d) => d.kind === kind && d.metadata?.name === name) as T | undefined
    const configMapData = (name: string): Record<string, string> => (find<K8sDoc & { data?: Record<string, string> }>('ConfigMap', name)?.data ?? {})
    const secretData = (name: string): Record<string, string> | undefined => {
      const s = find<K8sDoc & { stringData?: Record<string, string>, data?: Record<string, string> }>('Secret', name)
      if (s === undefined) return undefined
      const decoded = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]))
      return { ...decoded, ...s.stringData }
    }

    for (const doc of docs) {
      const { data, ...rest } = doc as K8sDoc & { data?: Record<string, string> }
      checkKnownPorts(t, `${doc.kind ?? ''}/${doc.metadata?.name ?? ''}`, rest)
      // A ConfigMap holding a configuration: its settings, not its comments.
      for (const [key, text] of Object.entries(data ?? {})) checkKnownPorts(t, `ConfigMap ${doc.metadata?.name ?? ''} ${key}`, parseYaml(text))
    }

    const workloads = docs.filter((d): d is Workload => d.kind === 'Deployment' || d.kind === 'StatefulSet')
    t.ok(workloads.some((w) => w.kind === 'Deployment'), 'a Deployment')
    /** Container port names and numbers per workload, and which container is the proxy. */
    const podPorts = new Map<Workload, Array<{ name?: string, containerPort: number, proxy: boolean }>>()
    /** PostgreSQL containers, by workload, and the proxies' PostgreSQL stores, checked against them once all are read. */
    const databases: Array<PgServer & { workload: Workload, where: string }> = []
    const pgStores: Array<{ where: string, url: URL }> = []

    for (const dep of workloads) {
      const name = `${dep.kind ?? ''} ${dep.metadata?.name ?? ''}`
      const pod = dep.spec.template.spec
      const replicas = dep.spec.replicas ?? 1
      for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) t.equal(dep.spec.template.metadata.labels[k], v, `${name}: the selector matches the Pod's labels (${k})`)
      if (dep.kind === 'StatefulSet') t.ok(dep.spec.serviceName !== undefined && find('Service', dep.spec.serviceName) !== undefined, `${name}: its governing Service ${dep.spec.serviceName ?? '(none)'} is defined`)
      // Two sample Pods of this workload, as Kubernetes names them.
      const podNames = dep.kind === 'StatefulSet' ? [0, 1].map((i) => `${dep.metadata?.name ?? ''}-${i}`) : ['7d9f8c6b5-x2x4q', '7d9f8c6b5-k8m2p'].map((s) => `${dep.metadata?.name ?? ''}-${s}`)
      const ports: Array<{ name?: string, containerPort: number, proxy: boolean }> = []
      podPorts.set(dep, ports)
      const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]))
      const claimTemplates = new Map((dep.spec.volumeClaimTemplates ?? []).map((c) => [c.metadata.name, c]))
      for (const v of pod.volumes ?? []) {
        if (v.configMap !== undefined) t.ok(find('ConfigMap', v.configMap.name), `${name}: volume ${v.name}: ConfigMap ${v.configMap.name} is defined`)
        if (v.secret !== undefined) t.ok(find('Secret', v.secret.secretName), `${name}: volume ${v.name}: Secret ${v.secret.secretName} is defined`)
        if (v.persistentVolumeClaim !== undefined) {
          const claim = find<Claim>('PersistentVolumeClaim', v.persistentVolumeClaim.claimName)
          t.ok(claim, `${name}: volume ${v.name}: claim ${v.persistentVolumeClaim.claimName} is defined`)
          // A ReadWriteOnce claim binds to one node: replicas elsewhere could not mount it.
          if (replicas > 1) t.notOk(claim?.spec?.accessModes?.includes('ReadWriteOnce'), `${name}: ${replicas} replicas share no ReadWriteOnce claim (${v.persistentVolumeClaim.claimName})`)
        }
      }
      if (volumes.size > 0) {
        const used = new Set(pod.containers.flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)))
        for (const v of volumes.keys()) t.ok(used.has(v), `${name}: volume ${v} is mounted`)
      }

      for (const c of pod.containers) {
        const where = `${name} container ${c.name}`
        for (const m of c.volumeMounts ?? []) t.ok(volumes.has(m.name) || claimTemplates.has(m.name), `${where}: mounts volume ${m.name}, which the Pod (or a claim template) defines`)
        t.equal(c.envFrom, undefined, `${where}: variables are listed one by one (envFrom is not read here)`)
        // The container's environment in a given Pod: Secret and ConfigMap keys, the downward API.
        const envFor = (podName: string, report: boolean): Record<string, string> => {
          const env: Record<string, string> = {}
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef
            const field = e.valueFrom?.fieldRef
            if (ref !== undefined) {
              const source = e.valueFrom?.secretKeyRef !== undefined ? secretData(ref.name) : configMapData(ref.name)
              if (report) t.ok(source?.[ref.key] !== undefined, `${where}: ${e.name} comes from ${e.valueFrom?.secretKeyRef !== undefined ? 'Secret' : 'ConfigMap'} ${ref.name} key ${ref.key}, which is defined`)
              env[e.name] = source?.[ref.key] ?? ''
            } else if (field !== undefined) {
              const value = downward(field.fieldPath, podName)
              if (report) t.ok(value !== undefined, `${where}: ${e.name} from the downward API's ${field.fieldPath}, a field it offers to variables`)
              env[e.name] = value ?? ''
            } else {
              if (report) t.equal(e.valueFrom, undefined, `${where}: ${e.name}: valueFrom is a secretKeyRef, configMapKeyRef or fieldRef`)
              env[e.name] = e.value ?? ''
            }
          }
          return env
        }
        const env = envFor(podNames[0] as string, true)
        const declared = (c.ports ?? []).map((p) => p.containerPort)

        if (c.image.startsWith(`${GATEWAY_IMAGE}:`)) {
          t.same(declared, [GATEWAY_PORT], `${where}: the AI gateway on ${GATEWAY_PORT}`)
          for (const p of c.ports ?? []) ports.push({ ...p, proxy: false })
          continue
        }
        const pgImage = POSTGRES_IMAGE.exec(c.image)
        if (pgImage !== null) {
          t.same(declared, [POSTGRES_PORT], `${where}: PostgreSQL on ${POSTGRES_PORT}`)
          for (const p of c.ports ?? []) ports.push({ ...p, proxy: false })
          t.equal(env.PGPORT, undefined, `${where}: listens on the default port ${POSTGRES_PORT}`)
          t.ok(c.env?.find((e) => e.name === 'POSTGRES_PASSWORD')?.valueFrom?.secretKeyRef !== undefined, `${where}: POSTGRES_PASSWORD comes from a Secret`)
          const user = env.POSTGRES_USER || 'postgres'
          databases.push({ workload: dep, where, user, password: env.POSTGRES_PASSWORD ?? '', db: env.POSTGRES_DB || user, port: POSTGRES_PORT })
          const dataDir = pgDataDir(Number(pgImage[1]), env)
          const dataMount = (c.volumeMounts ?? []).find((m) => m.mountPath === dataDir || isUnder(dataDir, m.mountPath))
          const persistent = dataMount !== undefined && (claimTemplates.has(dataMount.name) || volumes.get(dataMount.name)?.persistentVolumeClaim !== undefined)
          t.ok(persistent, `${where}: its data directory ${dataDir} is on a persistent volume (${dataMount?.name ?? 'none'})`)
          t.ok(dataMount !== undefined && dataMount.mountPath !== dataDir, `${where}: PGDATA is a directory below the mount point (a new volume may hold lost+found)`)
          t.equal(replicas, 1, `${name}: one PostgreSQL instance (no replication in this example)`)
          for (const [kind, p] of [['readinessProbe', c.readinessProbe], ['livenessProbe', c.livenessProbe]] as const) {
            const cmd = p?.exec?.command ?? []
            t.ok(cmd.includes('pg_isready'), `${where}: ${kind} runs pg_isready`)
            const flags = pgIsReadyFlags(cmd)
            t.ok(flags.h !== undefined && isLoopback(flags.h), `${where}: ${kind}: pg_isready over TCP on loopback (the first start's temporary server listens on the socket only)`)
            if (flags.U !== undefined) t.equal(flags.U, user, `${where}: ${kind}: pg_isready -U is POSTGRES_USER`)
          }
          continue
        }
        if (!/(^|\/)duo-diag-proxy:/.test(c.image)) {
          t.fail(`${where}: ${c.image} is neither the proxy, the AI gateway nor PostgreSQL`)
          continue
        }
        for (const p of c.ports ?? []) ports.push({ ...p, proxy: true })
        t.equal(c.image.split(':').at(-1), VERSION, `${where}: the image tag is the package version`)

        // Files the container sees: the image's own, and ConfigMap keys under their mount paths.
        const files: Record<string, string> = imageFiles()
        for (const m of c.volumeMounts ?? []) {
          const cm = volumes.get(m.name)?.configMap
          if (cm === undefined) continue
          const data = configMapData(cm.name)
          const entries = cm.items !== undefined ? cm.items.map((i) => [i.path, data[i.key]] as const) : Object.entries(data)
          for (const [path, text] of entries) {
            if (text === undefined) continue
            if (m.subPath !== undefined) {
              if (m.subPath === path) files[m.mountPath] = text
            } else {
              files[posix.join(m.mountPath, path)] = text
            }
          }
        }
        // Kubernetes: command replaces the ENTRYPOINT (and drops the CMD), args replace the CMD.
        const argv = [...(c.command ?? image.entrypoint), ...(c.args ?? (c.command !== undefined ? [] : image.cmd))]
        const config = proxyConfig(t, { where, argv, env: { ...image.env, ...env }, files })
        if (config === null) continue

        const listens = listeners(config)
        for (const l of listens) t.ok(PROXY_PORTS.includes(l.port), `${where}: ${l.what} listens on ${l.port}, a documented proxy port`)
        const open = listens.filter((l) => !isLoopback(l.host))
        for (const l of open) t.ok(declared.includes(l.port), `${where}: containerPort ${l.port} (${l.what}) is declared`)
        for (const p of declared) t.ok(open.some((l) => l.port === p), `${where}: containerPort ${p} is one the proxy listens on`)
        for (const r of config.routes) {
          t.ok([GATEWAY_PORT, MODEL_PORT].includes(Number(r.upstream.port)), `${where}: route ${r.name} forwards to ${r.upstream.host}: the gateway's or the model server's port`)
        }

        // The store, read by the proxy's own parser (DUO_DIAG_STORE__PATH / store.path / --db).
        let store: StoreLocation | null = null
        try {
          store = parseStoreLocation(config.store.path)
        } catch (err) {
          t.fail(`${where}: the store ${config.store.path}: ${(err as Error).message}`)
        }
        if (store?.kind === 'postgres') pgStores.push({ where, url: new URL(store.url) })
        // Several replicas: one shared store, and each names itself in its records.
        if (replicas > 1) {
          t.equal(store?.kind, 'postgres', `${where}: ${replicas} replicas share one PostgreSQL store (a SQLite file is one Pod's alone)`)
          const second = proxyConfig(t, { where: `${where} (a second Pod)`, argv, env: { ...image.env, ...envFor(podNames[1] as string, false) }, files })
          t.not(config.proxyInstance, second?.proxyInstance, `${where}: the replicas name themselves apart (proxy_instance ${config.proxyInstance}, ${second?.proxyInstance ?? '?'}: DUO_DIAG_PROXY_INSTANCE from metadata.name)`)
          t.equal(config.proxyInstance, podNames[0], `${where}: proxy_instance is the Pod name`)
        }

        const adminPort = config.admin.listen?.port
        const probePort = (p: Probe | undefined): number | undefined => {
          const port = p?.httpGet?.port
          return typeof port === 'number' ? port : c.ports?.find((cp) => cp.name === port)?.containerPort
        }
        const probes = { livenessProbe: c.livenessProbe, readinessProbe: c.readinessProbe, startupProbe: c.startupProbe }
        t.equal(c.livenessProbe?.httpGet?.path, '/healthz', `${where}: liveness on /healthz`)
        t.ok(Object.values(probes).some((p) => p?.httpGet?.path === '/readyz'), `${where}: a probe on /readyz`)
        // /readyz answers 503 while the store fails: as readiness it would take the proxy out of
        // the Service whenever PostgreSQL (or the disk) is away, although it still forwards.
        t.not(c.readinessProbe?.httpGet?.path, '/readyz', `${where}: readiness does not follow the store (fail-open)`)
        for (const [kind, p] of Object.entries(probes)) {
          if (p === undefined) continue
          t.ok(['/healthz', '/readyz'].includes(p.httpGet?.path ?? ''), `${where}: ${kind} asks /healthz or /readyz`)
          t.equal(probePort(p), adminPort, `${where}: ${kind} on the admin API port`)
        }
        t.ok(config.admin.listen !== null && !isLoopback(config.admin.listen.host), `${where}: the admin API is reachable by the kubelet's probes`)

        for (const [section, key] of [['requests', 'cpu'], ['requests', 'memory'], ['limits', 'cpu'], ['limits', 'memory']] as const) {
          t.ok(c.resources?.[section]?.[key] !== undefined, `${where}: resources.${section}.${key}`)
        }
        const sc = { ...pod.securityContext, ...c.securityContext }
        t.equal(sc.runAsNonRoot, true, `${where}: runAsNonRoot`)
        // The image's USER is a name; Kubernetes can only verify runAsNonRoot with a number.
        t.ok(typeof sc.runAsUser === 'number' && sc.runAsUser > 0, `${where}: a numeric non-root runAsUser`)
        t.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation: false`)
        t.equal(sc.readOnlyRootFilesystem, true, `${where}: read-only root filesystem`)
        const writable = (c.volumeMounts ?? []).filter((m) => m.readOnly !== true && m.subPath === undefined).map((m) => m.mountPath)
        const sqlite = store?.kind === 'sqlite' && store.path !== ':memory:' ? store.path : null
        for (const path of [sqlite, config.log.file].filter((p): p is string => p !== null)) {
          t.ok(writable.some((w) => isUnder(path, w)), `${where}: ${path} is on a writable volume`)
        }
        if (sqlite !== null) t.ok(writable.includes('/data'), `${where}: /data (the image's VOLUME, the SQLite store) is mounted writable`)
        t.ok(writable.includes('/tmp'), `${where}: /tmp is writable (SQLite's temporary files, the bundle's scratch space)`)
      }
      const names = ports.map((p) => p.name).filter((n): n is string => n !== undefined)
      t.same(names.filter((n, i) => names.indexOf(n) !== i), [], `${name}: port names are unique in the Pod`)
      for (const n of names) t.ok(/^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/.test(n), `${name}: port name ${n} is a valid IANA service name (15 characters at most)`)
    }

    const services = docs.filter((d): d is Service => d.kind === 'Service')
    const selectedBy = (svc: Service): Workload[] => workloads.filter((d) => Object.entries(svc.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v))
    const portOf = (dep: Workload, target: number | string): { name?: string, containerPort: number, proxy: boolean } | undefined =>
      podPorts.get(dep)?.find((cp) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target))
    for (const svc of services) {
      const name = `Service ${svc.metadata?.name ?? ''}`
      const selected = selectedBy(svc)
      t.ok(selected.length > 0, `${name}: selects a workload's Pods`)
      for (const p of svc.spec.ports) {
        const target = p.targetPort ?? p.port
        for (const dep of selected) {
          const cp = portOf(dep, target)
          t.ok(cp !== undefined, `${name}: port ${p.port} -> ${target}: a port of ${dep.kind ?? ''} ${dep.metadata?.name ?? ''}`)
          if (cp?.proxy === true) t.ok(PROXY_PORTS.includes(cp.containerPort) && cp.containerPort !== 5099, `${name}: port ${p.port} reaches a proxy route (${cp.containerPort}), not the admin API`)
        }
      }
      const readme = join(dir, 'README.md')
      if (existsSync(readme)) t.match(readFileSync(readme, 'utf8'), `${svc.metadata?.name ?? ''}.<namespace>.svc.cluster.local:`, `${name}: the README gives its URL`)
    }

    // A proxy's PostgreSQL store is a Service of these manifests, with the database's credentials.
    for (const { where, url } of pgStores) {
      const labels = url.hostname.split('.')
      const svcName = labels[0] as string
      t.ok(labels.length <= 2 || labels.slice(2).join('.') === 'svc' || labels.slice(2).join('.') === 'svc.cluster.local', `${where}: the store's host ${url.hostname} is a Service name (NAME, NAME.NAMESPACE, NAME.NAMESPACE.svc.cluster.local)`)
      const svc = find<Service>('Service', svcName)
      t.ok(svc !== undefined, `${where}: the store's host ${url.hostname} is the Service ${svcName}, defined here`)
      if (svc === undefined) continue
      const wants = pgUrlParts(url)
      const sp = svc.spec.ports.find((p) => p.port === wants.port)
      t.ok(sp !== undefined, `${where}: Service ${svcName} has the store's port ${wants.port}`)
      if (sp === undefined) continue
      const server = databases.find((d) => selectedBy(svc).includes(d.workload) && portOf(d.workload, sp.targetPort ?? sp.port)?.containerPort === d.port)
      t.ok(server !== undefined, `${where}: Service ${svcName} port ${wants.port} reaches a PostgreSQL container`)
      if (server === undefined) continue
      t.equal(wants.user, server.user, `${where}: the store's user is ${server.where}'s POSTGRES_USER`)
      t.equal(wants.password, server.password, `${where}: the store's password is ${server.where}'s POSTGRES_PASSWORD (change both together)`)
      t.equal(wants.db, server.db, `${where}: the store's database is ${server.where}'s POSTGRES_DB`)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// The image's entrypoint against the built dist

let built: Promise<void> | null = null

/** `npm run build` when dist/ is missing (npm install and npm ci build it through `prepare`). */
function ensureDist (t: Test): Promise<void> {
  const need = ['dist/cli/main.js', 'dist/sim/main.js'].filter((f) => !existsSync(join(ROOT, f)))
  if (need.length === 0) {
    const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0)
    if (newest(join(ROOT, 'src')) > statSync(join(ROOT, 'dist', 'cli', 'main.js')).mtimeMs) t.comment('dist/ is older than src/: run npm run build to test the current code')
    return Promise.resolve()
  }
  built ??= run('npm', ['run', 'build'], ROOT).then((res) => {
    if (res.code !== 0) throw new Error(`npm run build failed (${String(res.code)}): ${res.stderr}${res.stdout}`)
  })
  return built
}

/** The environment of a fresh container: PATH and HOME from here, nothing of the test runner's. */
function containerEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: tmp, ...extra }
}

function run (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** Starts `node script args` in the image layout, waits for its first JSON line, then SIGTERM. */
function runUntilListening (entry: string[], args: string[]): Promise<{ line: unknown, code: number | null, stderr: string }> {
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = entry
    if (cmd !== 'node') throw new Error(`entrypoint ${entry.join(' ')}: expected node`)
    const child = spawn(process.execPath, [...pre, ...args], { cwd: layout(), env: containerEnv(image.env), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let stderr = ''
    let line: unknown = null
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (line === null && out.includes('\n')) {
        line = JSON.parse(out.slice(0, out.indexOf('\n'))) as unknown
        child.kill('SIGTERM')
      }
    })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ line, code, stderr })
    })
  })
}

let layoutDir: string | null = null

/**
 * The image's WORKDIR as its last stage fills it: each COPY destination, from the build stage's
 * output (dist/, node_modules/, which this checkout holds too) or from the build context.
 */
function layout (): string {
  if (layoutDir !== null) return layoutDir
  const dir = join(tmp, 'app')
  mkdirSync(dir)
  const workdirOf = (name: string | null): string => (name === null ? '/' : imageOf(stages.find((s) => s.name === name) as Stage).workdir)
  for (const c of finalStage.instructions.filter((i) => i.op === 'COPY').map(copyArgs)) {
    for (const src of c.sources) {
      const repoPath = c.from === null ? src : posix.relative(workdirOf(c.from), src)
      if (!existsSync(join(ROOT, repoPath))) throw new Error(`COPY ${src}: ${repoPath} is not in this checkout`)
      // Docker: a directory's contents go to the destination; a file goes into a destination
      // ending in "/" (or one of several sources) under its own name.
      const destBase = posix.resolve(image.workdir, c.dest)
      const intoDir = !statSync(join(ROOT, repoPath)).isDirectory() && (c.dest.endsWith('/') || c.sources.length > 1)
      const inWorkdir = posix.relative(image.workdir, intoDir ? posix.join(destBase, posix.basename(src)) : destBase)
      if (inWorkdir.startsWith('..')) continue
      const dest = join(dir, inWorkdir)
      mkdirSync(dirname(dest), { recursive: true })
      // node_modules is large: a link does (modules resolve through it from dist/).
      if (repoPath === 'node_modules') symlinkSync(join(ROOT, repoPath), dest, 'dir')
      else cpSync(join(ROOT, repoPath), dest, { recursive: true })
    }
  }
  layoutDir = dir
  return dir
}

t.test('the image entrypoint runs the built CLI', async (t) => {
  await ensureDist(t)
  const cwd = layout()
  for (const f of ['dist/cli/main.js', 'dist/sim/main.js', 'package.json', 'node_modules']) t.ok(existsSync(join(cwd, f)), `the image holds ${f}`)
  const env = containerEnv(image.env)
  const [cmd, ...entry] = image.entrypoint
  t.equal(cmd, 'node')

  const version = await run(process.execPath, [...entry, '--version'], cwd, env)
  t.equal(version.code, 0, `${image.entrypoint.join(' ')} --version exits 0 (stderr: ${version.stderr})`)
  t.equal(version.stdout, `${VERSION}\n`, 'and prints the package version')

  const help = await run(process.execPath, [...entry, ...image.cmd, '--help'], cwd, env)
  t.equal(help.code, 0, `${[...image.entrypoint, ...image.cmd].join(' ')} --help exits 0 (stderr: ${help.stderr})`)
  t.match(help.stdout, /^Usage: duo-diag-proxy start/, 'and prints the start usage')
  // Every flag the usage lists is one the parser accepts.
  for (const m of help.stdout.matchAll(/^ {2}(--[a-z-]+)/gm)) {
    const flag = m[1] as string
    const sample = ['--capture-bodies', '--no-capture', '--insecure-skip-verify', '--faults', '--no-faults'].includes(flag) ? [flag] : [flag, flag === '--route' ? 'a=127.0.0.1:1=http://x:1' : 'x']
    t.doesNotThrow(() => parseStartFlags(sample), `start ${flag} is accepted`)
  }

  const sim = await run(process.execPath, ['dist/sim/main.js', 'model', '--help'], cwd, env)
  t.equal(sim.code, 0, `node dist/sim/main.js model --help exits 0 (stderr: ${sim.stderr})`)
  t.match(sim.stdout, /Usage: node dist\/sim\/main\.js <gateway\|model>/, 'and prints the simulator usage')
})
