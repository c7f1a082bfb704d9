import { chmodSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { create } from 'tar'
import { auditTextFile, type Finding } from '../audit/scan.js'

/** The secret audit over every staged file, findings named by bundle file and record (exchange id or line). */
export function auditStaged (dir: string, files: string[]): Finding[] {
  const findings: Finding[] = []
  for (const name of files) {
    for (const f of auditTextFile(join(dir, name))) findings.push({ ...f, source: name })
  }
  return findings
}

/**
 * A gzipped tar of the staged files under one top folder, written beside `out` and renamed into
 * place: a failed run never leaves a half bundle. Owner-only: it still holds traffic metadata.
 */
export async function writeArchive (dir: string, files: string[], out: string, folder: string): Promise<void> {
  const partial = `${out}.partial`
  try {
    await create({ gzip: true, file: partial, cwd: dir, portable: true, prefix: folder }, files)
    chmodSync(partial, 0o600)
    renameSync(partial, out)
  } catch (err) {
    rmSync(partial, { force: true })
    throw err
  }
}
