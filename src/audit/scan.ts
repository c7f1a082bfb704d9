import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { decodeEscapes, mayBeEscaped } from '../capture/decode.js'
import { openStore } from '../store/open.js'

/**
 * Token shapes the audit looks for. Deliberately wider than redaction's scrubber, and anchored
 * the same way (redact.ts): no `\b`, so a token glued to a letter, digit or `=` (`x_glpat-…`)
 * is found; `sk-` and the AWS key refuse only a letter or digit right before them.
 */
const SHAPES: ReadonlyArray<[string, RegExp]> = [
  ['jwt', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['gitlab-token', /gl(?:pat|dt|oas|rt|ptt|ft|imt|agent|cbt|soat|ffct|wt|cd|sa)-[A-Za-z0-9_.-]{16,}/],
  ['api-key', /(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/],
  ['bearer', /\b[Bb]earer\s+(?!\[FILTERED)[A-Za-z0-9._~+/=-]{16,}/],
  ['basic-auth', /\bBasic\s+(?!\[FILTERED)[A-Za-z0-9+/=]{12,}/],
  ['aws-key', /(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])/],
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

/**
 * Token shapes in a text, as written and with its escapes undone the way the redactor undoes
 * them (decode.ts): `%3Dglpat-…`, `\u0067lpat-…` and `&#103;lpat-…` are findings too.
 */
export function findTokens (text: string): Array<{ kind: string, preview: string }> {
  const out: Array<{ kind: string, preview: string }> = []
  const decoded = mayBeEscaped(text) ? decodeEscapes(text).text : null
  for (const [kind, re] of SHAPES) {
    const m = re.exec(text) ?? (decoded === null ? null : re.exec(decoded))
    if (m !== null) out.push({ kind, preview: `${m[0].slice(0, 6)}…` })
  }
  return out
}

/** Every exchange in a store: a SQLite file, or a PostgreSQL database (every instance's records). */
export async function auditStore (location: string): Promise<Finding[]> {
  const store = await openStore(location, { readonly: true })
  try {
    const findings: Finding[] = []
    let cursor: string | null = null
    do {
      const page = await store.list({}, { limit: 500, cursor })
      for (const ex of page.items) {
        for (const f of findTokens(JSON.stringify(ex))) findings.push({ source: store.display, record: ex.id, ...f })
      }
      cursor = page.next_cursor
    } while (cursor !== null)
    return findings
  } finally {
    await store.close()
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
export async function auditDirectory (dir: string): Promise<{ files: number, findings: Finding[] }> {
  let files = 0
  const findings: Finding[] = []
  const walk = async (d: string): Promise<void> => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      const st = statSync(p)
      if (st.isDirectory()) await walk(p)
      else if (name.endsWith('.db')) {
        files++
        findings.push(...await auditStore(p))
      } else if (TEXT_FILES.test(name)) {
        files++
        findings.push(...auditTextFile(p))
      }
    }
  }
  await walk(dir)
  return { files, findings }
}
