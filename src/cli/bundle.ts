import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { collect, type BundleSource } from '../bundle/collect.js'
import { auditStaged, writeArchive } from '../bundle/write.js'
import { type FilterParams, toFilter } from '../store/filter-params.js'
import { err, type ExitCode, out, progress, size, table, terminal, UsageError } from './output.js'
import { adminBaseUrl, ApiClient, DbClient, type QueryClient } from './query-client.js'

export const BUNDLE_HELP = `Usage: duo-diag-proxy bundle [--since 24h] [--out FILE] [--admin URL | --db FILE] [flags]

A support bundle to hand over: a gzipped tar holding exchanges.har (redacted HAR 1.2),
exchanges.ndjson, summary.json and summary.txt, metrics.txt (a /metrics snapshot; not with --db),
config.json (the effective configuration, secrets masked), doctor.json (with --gateway/--model),
version.json and a README.txt saying what each file is. Every file is scanned for token-shaped
strings first (duo-diag-proxy audit): when anything is found, nothing is written and the exit
code is 1, naming the file and record.

  --out FILE             the archive [duo-diag-bundle-<time>.tar.gz]
  --since 24h|ISO        exchanges since [24h]
  --until 15m|ISO        and until
  --route NAME           one route only
  --config FILE          the proxy's configuration file (else DUO_DIAG_CONFIG); DUO_DIAG_* applies
  --gateway URL          run doctor against the AI gateway, e.g. http://aigw:5052
  --model URL            run doctor against the model endpoint, e.g. http://vllm:8000/v1
  --model-name NAME      the model identifier configured in GitLab (doctor)
  --ca-file FILE         extra CA bundle (PEM) for doctor's TLS checks
  --json                 JSON output

Where the data comes from:
  --admin URL|HOST:PORT  a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly (a stopped proxy's SQLite file, or postgres://...)
`

export async function bundleCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      out: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      route: { type: 'string' },
      config: { type: 'string' },
      gateway: { type: 'string' },
      model: { type: 'string' },
      'model-name': { type: 'string' },
      'ca-file': { type: 'string' },
      admin: { type: 'string' },
      'admin-token': { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    out(BUNDLE_HELP)
    return 0
  }
  if (values.admin !== undefined && values.db !== undefined) throw new UsageError('give --admin URL or --db FILE, not both')
  const params: FilterParams = { since: values.since ?? '24h' }
  if (values.until !== undefined) params.until = values.until
  if (values.route !== undefined) params.route = values.route
  try {
    toFilter(params)
  } catch (error) {
    throw new UsageError((error as Error).message.replace('querystring/', '--'))
  }
  for (const [flag, url] of [['--gateway', values.gateway], ['--model', values.model]] as const) {
    if (url !== undefined && !/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`${flag}: "${url}" is not an http(s) URL`)
  }
  const file = values.out ?? `duo-diag-bundle-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar.gz`
  const folder = basename(file).replace(/\.(tar\.gz|tgz|tar)$/, '') || 'duo-diag-bundle'

  const token = values['admin-token'] ?? process.env.DUO_DIAG_ADMIN_TOKEN ?? process.env.DUO_DIAG_ADMIN__TOKEN ?? null
  let source: BundleSource
  let client: QueryClient
  if (values.db !== undefined) {
    source = { kind: 'db', path: values.db }
    client = await DbClient.open(values.db)
  } else {
    const url = adminBaseUrl(values.admin)
    source = { kind: 'admin', url, token: token || null }
    client = new ApiClient(url, token || null)
  }

  const dir = mkdtempSync(join(tmpdir(), 'duo-diag-bundle-'))
  const status = progress()
  try {
    const doctor = values.gateway === undefined && values.model === undefined
      ? null
      : { gateway: values.gateway ?? null, model: values.model ?? null, modelName: values['model-name'] ?? null, apiKey: null, chat: false, caFile: values['ca-file'] ?? null, timeoutMs: 5_000 }
    status.update(`collecting exchanges, summary${source.kind === 'admin' ? ', metrics' : ''}, config${doctor !== null ? ' and doctor checks' : ''} from ${source.kind === 'db' ? source.path : source.url}`)
    const staged = await collect(dir, { client, source, params, configFile: values.config ?? null, env: process.env, doctor })
    status.update(`auditing ${staged.files.length} files for token-shaped strings`)
    const findings = auditStaged(dir, staged.files)
    if (findings.length > 0) {
      status.clear()
      const term = terminal(process.stderr)
      err(`duo-diag-proxy bundle: ${term.c.red('refused')}: the secret audit found ${findings.length} token-shaped string(s); nothing was written\n`)
      err(table(['file', 'record', 'kind', 'starts with'], findings.map((f) => [f.source, f.record, f.kind, f.preview]), { width: term.width, c: term.c }))
      err('Purge or fix those records (duo-diag-proxy purge, or a narrower --since/--route), then bundle again.\n')
      if (values.json) out(JSON.stringify({ ok: false, out: null, findings }, null, 2) + '\n')
      return 1
    }
    status.update(`writing ${file}`)
    await writeArchive(dir, staged.files, file, folder)
    status.clear()
    const bytes = statSync(file).size
    // What was written, always on stderr (stdout keeps the report, or the JSON).
    err(`wrote ${file} (${staged.exchanges} exchange${staged.exchanges === 1 ? '' : 's'}, ${staged.files.length} files, ${size(bytes)}; unpacks into ${folder}/)\n`)
    const files = staged.files.map((name) => ({ name, bytes: statSync(join(dir, name)).size }))
    if (values.json) {
      out(JSON.stringify({ ok: true, out: file, folder, exchanges: staged.exchanges, files, omitted: staged.omitted, bytes }, null, 2) + '\n')
      return 0
    }
    out(`bundle: ${staged.exchanges} exchange(s) since ${params.since}${params.route ? ` on route ${params.route}` : ''}, from ${source.kind === 'db' ? source.path : source.url}\n`)
    for (const f of files) out(`  ${f.name.padEnd(18)} ${size(f.bytes).padStart(10)}\n`)
    for (const [name, why] of Object.entries(staged.omitted)) out(`  ${name.padEnd(18)} not included: ${why}\n`)
    out(`audit: ${files.length} files scanned, no token-shaped strings found\n`)
    return 0
  } finally {
    status.clear()
    rmSync(dir, { recursive: true, force: true })
    await client.close()
  }
}
