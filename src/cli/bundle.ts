import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { collect, type BundleSource } from '../bundle/collect.js'
import { auditStaged, writeArchive } from '../bundle/write.js'
import type { Lang } from '../i18n/message.js'
import { render } from '../i18n/translate.js'
import { type FilterParams, toFilter } from '../store/filter-params.js'
import { err, type ExitCode, msg, out, progress, size, table, terminal, UsageError } from './output.js'
import { adminBaseUrl, ApiClient, DbClient, type QueryClient } from './query-client.js'
import { filterUsageError } from './query.js'

export const bundleHelp = (lang: Lang): string => msg(lang, 'help.bundle')

export async function bundleCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
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
    out(bundleHelp(lang))
    return 0
  }
  if (values.admin !== undefined && values.db !== undefined) throw new UsageError(msg(lang, 'bundle.adminOrDb'))
  const params: FilterParams = { since: values.since ?? '24h' }
  if (values.until !== undefined) params.until = values.until
  if (values.route !== undefined) params.route = values.route
  try {
    toFilter(params)
  } catch (error) {
    throw filterUsageError(error, lang)
  }
  for (const [flag, url] of [['--gateway', values.gateway], ['--model', values.model]] as const) {
    if (url !== undefined && !/^https?:\/\/[^/]+/.test(url)) throw new UsageError(msg(lang, 'admin.notHttp', { flag, value: url }))
  }
  const file = values.out ?? `duo-diag-bundle-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar.gz`
  const folder = basename(file).replace(/\.(tar\.gz|tgz|tar)$/, '') || 'duo-diag-bundle'

  const token = values['admin-token'] ?? process.env.DUO_DIAG_ADMIN_TOKEN ?? process.env.DUO_DIAG_ADMIN__TOKEN ?? null
  let source: BundleSource
  let client: QueryClient
  if (values.db !== undefined) {
    source = { kind: 'db', path: values.db }
    // English content, as from the admin API below: the files are for GitLab support.
    client = await DbClient.open(values.db, false, 'en')
  } else {
    const url = adminBaseUrl(values.admin, '--admin', lang)
    source = { kind: 'admin', url, token: token || null }
    // The bundle is for GitLab support, who read English: its files (HAR, NDJSON, summary.txt,
    // README.txt) stay English whatever the language; what this command prints follows `lang`.
    client = new ApiClient(url, token || null, lang, 'en')
  }

  const dir = mkdtempSync(join(tmpdir(), 'duo-diag-bundle-'))
  const status = progress()
  try {
    const doctor = values.gateway === undefined && values.model === undefined
      ? null
      : { gateway: values.gateway ?? null, model: values.model ?? null, modelName: values['model-name'] ?? null, apiKey: null, chat: false, caFile: values['ca-file'] ?? null, timeoutMs: 5_000 }
    const from = source.kind === 'db' ? source.path : source.url
    status.update(msg(lang, `bundle.collecting${source.kind === 'admin' ? 'Metrics' : ''}${doctor !== null ? 'Doctor' : ''}`, { from }))
    const staged = await collect(dir, { client, source, params, configFile: values.config ?? null, env: process.env, doctor })
    status.update(msg(lang, 'bundle.auditing', { files: staged.files.length }))
    const findings = auditStaged(dir, staged.files)
    if (findings.length > 0) {
      status.clear()
      const term = terminal(process.stderr)
      const h = (name: string): string => msg(lang, `columns.${name}`)
      err(`duo-diag-proxy bundle: ${term.c.red(msg(lang, 'bundle.refused'))}: ${msg(lang, 'bundle.refusedWhy', { findings: findings.length })}\n`)
      err(table([h('file'), h('record'), h('kind'), h('startsWith')], findings.map((f) => [f.source, f.record, f.kind, f.preview]), { width: term.width, c: term.c }))
      err(`${msg(lang, 'bundle.refusedNext')}\n`)
      if (values.json) out(JSON.stringify({ ok: false, out: null, findings }, null, 2) + '\n')
      return 1
    }
    status.update(msg(lang, 'bundle.writing', { file }))
    await writeArchive(dir, staged.files, file, folder)
    status.clear()
    const bytes = statSync(file).size
    // What was written, always on stderr (stdout keeps the report, or the JSON).
    err(`${msg(lang, 'bundle.wrote', { file, count: staged.exchanges, files: staged.files.length, size: size(bytes), folder })}\n`)
    const files = staged.files.map((name) => ({ name, bytes: statSync(join(dir, name)).size }))
    // Why a file was left out, in the command's language (README.txt in the archive says it in English).
    const omittedIn = (l: Lang): Record<string, string> => Object.fromEntries(Object.entries(staged.omitted).map(([name, why]) => [name, render(l, why, 'cli:bundle.omit')]))
    if (values.json) {
      out(JSON.stringify({ ok: true, out: file, folder, exchanges: staged.exchanges, log_events: staged.logEvents, files, omitted: omittedIn(lang), bytes }, null, 2) + '\n')
      return 0
    }
    out(`${msg(lang, params.route ? 'bundle.reportRoute' : 'bundle.report', { exchanges: staged.exchanges, since: params.since!, route: params.route ?? '', from })}\n`)
    for (const f of files) out(`  ${f.name.padEnd(18)} ${size(f.bytes).padStart(10)}\n`)
    for (const [name, why] of Object.entries(omittedIn(lang))) out(`  ${name.padEnd(18)} ${msg(lang, 'bundle.omitted', { why })}\n`)
    out(`${msg(lang, 'bundle.audited', { files: files.length })}\n`)
    return 0
  } finally {
    status.clear()
    rmSync(dir, { recursive: true, force: true })
    await client.close()
  }
}
