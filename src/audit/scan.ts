import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/** Token shapes the audit looks for. Deliberately wider than redaction's scrubber. */
const SHAPES: ReadonlyArray<[string, RegExp]> = [
  ['jwt', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['gitlab-token', /\bgl(?:pat|dt|oas|rt|ptt|ft|imt|agent|cbt|soat|ffct|wt|cd|sa)-[A-Za-z0-9_.-]{16,}/],
  ['api-key', /\bsk-[A-Za-z0-9_-]{16,}/],
  ['bearer', /\b[Bb]earer\s+(?!\[FILTERED)[A-Za-z0-9._~+/=-]{16,}/],
  ['basic-auth', /\bBasic\s+(?!\[FILTERED)[A-Za-z0-9+/=]{12,}/],
  ['aws-key', /\bAKIA[0-9A-Z]{16}\b/],
  ['private-key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/]
]

export interface Finding {
  /** File the finding is in. */
  source: string
  /** Exchange id, or `line N`. */
  record: string
  kind: string
  /** The first characters only: an audit must not leak what it found. */
  preview: string
}

export function findTokens (text: string): Array<{ kind: string, preview: string }> {
  const out: Array<{ kind: string, preview: string }> = []
  for (const [kind, re] of SHAPES) {
    const m = re.exec(text)
    if (m !== null) out.push({ kind, preview: `${m[0].slice(0, 6)}…` })
  }
  return out
}

/** Every exchange in a store file. */
export function auditStore (path: string): Finding[] {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const findings: Finding[] = []
    for (const row of db.prepare('SELECT id, data FROM exchanges').iterate() as Iterable<{ id: string, data: string }>) {
      for (const f of findTokens(row.data)) findings.push({ source: path, record: row.id, ...f })
    }
    return findings
  } finally {
    db.close()
  }
}

/** An export (HAR or NDJSON), a log or any text file, line by line; records named by id when they have one. */
export function auditTextFile (path: string): Finding[] {
  const findings: Finding[] = []
  const text = readFileSync(path, 'utf8')
  const lines = text.split('\n')
  for (const [i, line] of lines.entries()) {
    const found = findTokens(line)
    if (found.length === 0) continue
    const id = /"(?:id|correlation_id)":"([^"]{1,64})"/.exec(line)?.[1]
    for (const f of found) findings.push({ source: path, record: id !== undefined ? id : `line ${i + 1}`, ...f })
  }
  return findings
}

const TEXT_FILES = /\.(har|ndjson|jsonl|json|log)$/

/** Stores and text files below a directory (the test suite's captures, a support bundle). */
export function auditDirectory (dir: string): { files: number, findings: Finding[] } {
  let files = 0
  const findings: Finding[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else if (name.endsWith('.db')) {
        files++
        findings.push(...auditStore(p))
      } else if (TEXT_FILES.test(name)) {
        files++
        findings.push(...auditTextFile(p))
      }
    }
  }
  walk(dir)
  return { files, findings }
}
