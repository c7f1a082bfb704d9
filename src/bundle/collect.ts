import { maskUrl } from '../store/store.js'
import { createWriteStream, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { QueryClient } from '../cli/query-client.js'
import { renderSummary } from '../cli/query.js'
import type { DoctorOptions } from '../doctor/checks.js'
import type { ExportFormat } from '../store/export.js'
import type { Message } from '../i18n/message.js'
import type { FilterParams } from '../store/filter-params.js'
import { VERSION } from '../version.js'
import { writeLogEvents } from './log-events.js'
import { readme } from './readme.js'
import { doctorReport, effectiveConfig, fetchMetrics } from './sources.js'

export type BundleSource = { kind: 'admin', url: string, token: string | null } | { kind: 'db', path: string }

export interface CollectOptions {
  client: QueryClient
  source: BundleSource
  params: FilterParams
  configFile: string | null
  env: NodeJS.ProcessEnv
  doctor: DoctorOptions | null
}

export interface Collected {
  /** File names in the order they go into the archive (README.txt first). */
  files: string[]
  exchanges: number
  /** Imported log lines in the bundle (0 when none). */
  logEvents: number
  /**
   * Files left out, and why: a code of the cli catalog's `bundle.omit` and its parameters. The
   * bundle's own files say it in English (README.txt: they go to GitLab support); the terminal
   * lines and --json, in the language of the command (src/cli/bundle.ts).
   */
  omitted: Record<string, Message>
}

async function exportFile (client: QueryClient, format: ExportFormat, params: FilterParams, file: string): Promise<void> {
  const dest = createWriteStream(file, { mode: 0o600 })
  await client.exportTo(format, params, dest)
  await new Promise<void>((resolve, reject) => dest.end((err?: Error | null) => (err ? reject(err) : resolve())))
}

function json (value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n'
}

/** Writes every bundle file into `dir` (a private temp folder); nothing leaves it before the audit. */
export async function collect (dir: string, opts: CollectOptions): Promise<Collected> {
  const files: string[] = []
  const omitted: Record<string, Message> = {}
  const put = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text, { mode: 0o600 })
    files.push(name)
  }

  await exportFile(opts.client, 'har', opts.params, join(dir, 'exchanges.har'))
  files.push('exchanges.har')
  await exportFile(opts.client, 'ndjson', opts.params, join(dir, 'exchanges.ndjson'))
  files.push('exchanges.ndjson')
  const ndjson = join(dir, 'exchanges.ndjson')
  const exchanges = statSync(ndjson).size === 0 ? 0 : readFileSync(ndjson, 'utf8').split('\n').filter((l) => l !== '').length

  // The log lines imported for the window (issue 19), when there are any.
  const logFile = join(dir, 'log-events.ndjson')
  const logs = await writeLogEvents(opts.client, opts.params, logFile)
  // None (or a proxy from before log import): no file; README.txt says which.
  if (logs !== null && logs.count > 0) files.push('log-events.ndjson')
  else rmSync(logFile, { force: true })

  const summary = await opts.client.summary(opts.params)
  put('summary.json', json(summary))
  put('summary.txt', renderSummary(summary))

  if (opts.source.kind === 'admin') {
    const metrics = await fetchMetrics(opts.source.url, opts.source.token)
    if ('text' in metrics) put('metrics.txt', metrics.text)
    else omitted['metrics.txt'] = metrics.note
  } else {
    omitted['metrics.txt'] = { code: 'metricsFromDb' }
  }

  const config = effectiveConfig(opts.configFile, opts.env)
  put('config.json', json(config.error === null
    ? { source: config.source, config: config.config }
    : { source: config.source, error: `the configuration does not load here: ${config.error}` }))
  put('doctor.json', json(await doctorReport(opts.doctor)))
  put('version.json', json({
    duo_diag_proxy: VERSION,
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    created_at: new Date().toISOString(),
    filters: opts.params,
    store: opts.source.kind === 'db'
      ? { read_from: /^postgres(ql)?:/i.test(opts.source.path) ? 'database' : 'file', path: maskUrl(opts.source.path) }
      : { read_from: 'admin API', admin: opts.source.url, configured_path: config.storePath }
  }))

  writeFileSync(join(dir, 'README.txt'), readme({ files, omitted, exchanges, logEvents: logs, params: opts.params, doctorRun: opts.doctor !== null }), { mode: 0o600 })
  return { files: ['README.txt', ...files], exchanges, logEvents: logs?.count ?? 0, omitted }
}
