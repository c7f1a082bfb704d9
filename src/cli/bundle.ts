import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { collect, type BundleSource } from '../bundle/collect.js'
import { auditStaged, writeArchive } from '../bundle/write.js'
import { type FilterParams, toFilter } from '../store/filter-params.js'
import { err, type ExitCode, out, table, UsageError } from './output.js'
import { ApiClient, DbClient, type QueryClient } from './query-client.js'

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
  --admin URL            a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly (a stopped proxy's SQLite file, or postgres://...)
`

function size (bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`
}

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
    const url = (values.admin ?? 'http://127.0.0.1:5099').replace(/\/+$/, '')
    if (!/^https?:\/\//.test(url)) throw new UsageError(`--admin: "${url}" is not an http(s) URL`)
    source = { kind: 'admin', url, token: token || null }
    client = new ApiClient(url, token || null)
  }

  const dir = mkdtempSync(join(tmpdir(), 'duo-diag-bundle-'))
  try {
    const doctor = values.gateway === undefined && values.model === undefined
      ? null
      : { gateway: values.gateway ?? null, model: values.model ?? null, modelName: values['model-name'] ?? null, apiKey: null, chat: false, caFile: values['ca-file'] ?? null, timeoutMs: 5_000 }
    const staged = await collect(dir, { client, source, params, configFile: values.config ?? null, env: process.env, doctor })
    const findings = auditStaged(dir, staged.files)
    if (findings.length > 0) {
      err(`duo-diag-proxy bundle: refused: the secret audit found ${findings.length} token-shaped string(s); nothing was written\n`)
      err(table(['file', 'record', 'kind', 'starts with'], findings.map((f) => [f.source, f.record, f.kind, f.preview])))
      err('Purge or fix those records (duo-diag-proxy purge, or a narrower --since/--route), then bundle again.\n')
      if (values.json) out(JSON.stringify({ ok: false, out: null, findings }, null, 2) + '\n')
      return 1
    }
    await writeArchive(dir, staged.files, file, folder)
    const files = staged.files.map((name) => ({ name, bytes: statSync(join(dir, name)).size }))
    if (values.json) {
      out(JSON.stringify({ ok: true, out: file, folder, exchanges: staged.exchanges, files, omitted: staged.omitted, bytes: statSync(file).size }, null, 2) + '\n')
      return 0
    }
    out(`bundle: ${staged.exchanges} exchange(s) since ${params.since}${params.route ? ` on route ${params.route}` : ''}, from ${source.kind === 'db' ? source.path : source.url}\n`)
    for (const f of files) out(`  ${f.name.padEnd(18)} ${size(f.bytes).padStart(10)}\n`)
    for (const [name, why] of Object.entries(staged.omitted)) out(`  ${name.padEnd(18)} not included: ${why}\n`)
    out(`audit: ${files.length} files scanned, no token-shaped strings found\n`)
    out(`wrote ${file} (${size(statSync(file).size)}; unpacks into ${folder}/)\n`)
    return 0
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await client.close()
  }
}
