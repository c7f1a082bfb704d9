/** `duo-diag-proxy audit`: finds token-shaped strings in stores and exports, names the records, never prints them. */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { SqliteStore } from '../src/store/sqlite.js'

const ROOT = join(import.meta.dirname, '..')
const PAT = 'glpat-AbCdEfGhIjKlMnOpQrSt'

function audit (args: string[]): Promise<{ code: number | null, stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'audit', ...args], { cwd: ROOT })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.on('close', (code) => resolve({ code, stdout }))
  })
}

function storeWith (path: string, rows: Array<[string, string]>): void {
  new SqliteStore(path).close()
  const db = new Database(path)
  const insert = db.prepare(`INSERT INTO exchanges (id, started_at, route, hop, correlation_id, method, path, duration_ms, data) VALUES (?, ?, 'r', 'gateway', 'c', 'GET', '/', 1, ?)`)
  for (const [id, data] of rows) insert.run(id, Date.now(), data)
  db.close()
}

t.test('clean store: exit 0; planted tokens: exit 1 with the record ids and no secret', async (t) => {
  const dir = t.testdir({})
  const clean = join(dir, 'clean.db')
  storeWith(clean, [['00000000000000000001', JSON.stringify({ request: { headers: { authorization: 'Bearer [FILTERED sha256:1a2b3c4d]' } } })]])
  const ok = await audit(['--db', clean])
  t.equal(ok.code, 0)
  t.match(ok.stdout, /no token-shaped strings found/)

  const dirty = join(dir, 'dirty.db')
  storeWith(dirty, [
    ['00000000000000000002', JSON.stringify({ note: `token ${PAT}` })],
    ['00000000000000000003', JSON.stringify({ h: 'Bearer abcdefghijklmnopqrstuvwxyz0123' })],
    ['00000000000000000004', JSON.stringify({ fine: true })]
  ])
  const bad = await audit(['--db', dirty])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /00000000000000000002\s+gitlab-token/)
  t.match(bad.stdout, /00000000000000000003\s+bearer/)
  t.notMatch(bad.stdout, /00000000000000000004/)
  t.notMatch(bad.stdout, new RegExp(PAT), 'the secret itself is not printed')

  const har = join(dir, 'export.ndjson')
  writeFileSync(har, JSON.stringify({ id: 'abc', x: 1 }) + '\n' + JSON.stringify({ id: 'def', key: 'sk-proj-0123456789abcdefghij' }) + '\n')
  const file = await audit(['--file', har, '--json'])
  t.equal(file.code, 1)
  const report = JSON.parse(file.stdout) as { findings: Array<{ record: string, kind: string }> }
  t.same(report.findings.map((f) => [f.record, f.kind]), [['def', 'api-key']])
  const both = await audit(['--dir', dir])
  t.equal(both.code, 1, 'a directory scan finds them too')
})
