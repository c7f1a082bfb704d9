/** `duo-diag-proxy audit`: finds token-shaped strings in stores and exports, names the records, never prints them. */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { openStore } from '../src/store/open.js'
import { exchange } from './helpers/stores.js'
import { freshDatabase, pgUnavailable } from './helpers/pg.js'
import { CLI_ARGS } from './helpers/cli-entry.js'

const ROOT = join(import.meta.dirname, '..')
const PAT = 'glpat-AbCdEfGhIjKlMnOpQrSt'

function audit (args: string[]): Promise<{ code: number | null, stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI_ARGS, 'audit', ...args], { cwd: ROOT })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.on('close', (code) => resolve({ code, stdout }))
  })
}

/** A store (SQLite file or PostgreSQL URL) holding these exchanges, written through the store itself. */
async function storeWith (location: string, rows: Array<[string, Record<string, unknown>]>): Promise<void> {
  const store = await openStore(location)
  await store.insert(rows.map(([id, extra]) => ({ ...exchange(), id, ...extra })))
  await store.close()
}

/** Planted the way a redaction bug would leave them: in a header, in metadata. */
const ROWS: Array<[string, Record<string, unknown>]> = [
  ['000000000000000000000002', { meta: { feature: 'code_completions', notes: [`token ${PAT}`] } }],
  ['000000000000000000000003', { request: { headers: { authorization: 'Bearer abcdefghijklmnopqrstuvwxyz0123' }, bytes: 1, content_type: null } }],
  ['000000000000000000000004', { meta: { feature: 'code_completions', notes: ['fine'] } }]
]

async function checkDirty (t: Test, location: string): Promise<void> {
  await storeWith(location, ROWS)
  const bad = await audit(['--db', location])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /000000000000000000000002\s+gitlab-token/)
  t.match(bad.stdout, /000000000000000000000003\s+bearer/)
  t.notMatch(bad.stdout, /000000000000000000000004/)
  t.notMatch(bad.stdout, new RegExp(PAT), 'the secret itself is not printed')
}

t.test('clean store: exit 0; planted tokens: exit 1 with the record ids and no secret', async (t) => {
  const dir = t.testdir({})
  const clean = join(dir, 'clean.db')
  await storeWith(clean, [['000000000000000000000001', { request: { headers: { authorization: 'Bearer [FILTERED sha256:1a2b3c4d]' }, bytes: 1, content_type: null } }]])
  const ok = await audit(['--db', clean])
  t.equal(ok.code, 0)
  t.match(ok.stdout, /no token-shaped strings found/)
  await checkDirty(t, join(dir, 'dirty.db'))

  const har = join(dir, 'export.ndjson')
  writeFileSync(har, JSON.stringify({ id: 'abc', x: 1 }) + '\n' + JSON.stringify({ id: 'def', key: 'sk-proj-0123456789abcdefghij' }) + '\n')
  const file = await audit(['--file', har, '--json'])
  t.equal(file.code, 1)
  const report = JSON.parse(file.stdout) as { findings: Array<{ record: string, kind: string }> }
  t.same(report.findings.map((f) => [f.record, f.kind]), [['def', 'api-key']])
  const both = await audit(['--dir', dir])
  t.equal(both.code, 1, 'a directory scan finds them too')
})

t.test('audit --db postgres://...: the shared database, every instance\'s records', async (t) => {
  const url = await freshDatabase(t)
  if (url === null) return pgUnavailable(t)
  await checkDirty(t, url)
})
