import { parseArgs } from 'node:util'
import { auditDirectory, auditStore, auditTextFile, type Finding } from '../audit/scan.js'
import { type ExitCode, out, table, UsageError } from './output.js'

export const AUDIT_HELP = `Usage: duo-diag-proxy audit [--db FILE]... [--file EXPORT]... [--dir DIR]...

Scans the store (and exports, logs, bundles) for token-shaped strings that should never be
there: JWTs, glpat-/gldt-/... GitLab tokens, sk- keys, bearer and basic credentials, AWS keys,
private keys. Prints the record ids (never the secrets) and exits 1 when anything is found.

  --db FILE|URL  a store: a SQLite file, or a PostgreSQL database (postgres://...)
                 [./data/exchanges.db when nothing else is given]
  --file FILE    a HAR / NDJSON export or a log
  --dir DIR      every *.db, *.har, *.ndjson, *.json, *.log below DIR
  --json         JSON output
`

export async function auditCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      db: { type: 'string', multiple: true },
      file: { type: 'string', multiple: true },
      dir: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    out(AUDIT_HELP)
    return 0
  }
  const dbs = values.db ?? []
  const files = values.file ?? []
  const dirs = values.dir ?? []
  if (dbs.length + files.length + dirs.length === 0) dbs.push('./data/exchanges.db')
  const findings: Finding[] = []
  let scanned = 0
  try {
    for (const d of dbs) {
      findings.push(...await auditStore(d))
      scanned++
    }
    for (const f of files) {
      findings.push(...auditTextFile(f))
      scanned++
    }
    for (const d of dirs) {
      const r = await auditDirectory(d)
      findings.push(...r.findings)
      scanned += r.files
    }
  } catch (err) {
    throw new UsageError(`cannot read: ${(err as Error).message}`)
  }
  if (values.json) {
    out(JSON.stringify({ ok: findings.length === 0, scanned, findings }, null, 2) + '\n')
  } else if (findings.length === 0) {
    out(`audit: ${scanned} file(s) scanned, no token-shaped strings found\n`)
  } else {
    out(table(['source', 'record', 'kind', 'starts with'], findings.map((f) => [f.source, f.record, f.kind, f.preview])))
    out(`\naudit: ${findings.length} finding(s) in ${scanned} file(s)\n`)
  }
  return findings.length === 0 ? 0 : 1
}
