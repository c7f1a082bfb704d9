import { parseArgs } from 'node:util'
import { auditDirectory, auditStore, auditTextFile, type Finding } from '../audit/scan.js'
import type { Lang } from '../i18n/message.js'
import { type ExitCode, msg, out, table, UsageError } from './output.js'

export const auditHelp = (lang: Lang): string => msg(lang, 'help.audit')

export async function auditCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
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
    out(auditHelp(lang))
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
    throw new UsageError(msg(lang, 'audit.cannotRead', { message: (err as Error).message }))
  }
  if (values.json) {
    out(JSON.stringify({ ok: findings.length === 0, scanned, findings }, null, 2) + '\n')
  } else if (findings.length === 0) {
    out(`${msg(lang, 'audit.clean', { scanned })}\n`)
  } else {
    const h = (name: string): string => msg(lang, `columns.${name}`)
    out(table([h('source'), h('record'), h('kind'), h('startsWith')], findings.map((f) => [f.source, f.record, f.kind, f.preview])))
    out(`\n${msg(lang, 'audit.found', { findings: findings.length, scanned })}\n`)
  }
  return findings.length === 0 ? 0 : 1
}
