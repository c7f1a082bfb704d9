/**
 * What the Japanese CLI tests share (test/cli-ja.test.ts, test/cli-ja-more.test.ts): environments
 * that pick a language, the catalogs flattened, the English catalog prose Japanese output must not
 * contain, and checks that tables line up by display width.
 */
import { stripVTControlCharacters as stripAnsi } from 'node:util'
import type { Test } from 'tap'
import { displayWidth } from '../../src/cli/output.js'
import { cli as enCli } from '../../src/i18n/catalogs/en/cli.js'
import { doctor as enDoctor } from '../../src/i18n/catalogs/en/doctor.js'
import { query as enQuery } from '../../src/i18n/catalogs/en/query.js'
import { cli as jaCli } from '../../src/i18n/catalogs/ja/cli.js'
import { doctor as jaDoctor } from '../../src/i18n/catalogs/ja/doctor.js'
import { query as jaQuery } from '../../src/i18n/catalogs/ja/query.js'
import { t as tr } from '../../src/i18n/translate.js'
import { runCli, type Run } from './command.js'

// ---------------------------------------------------------------------------------------------
// Environments.

/** The runner's environment without anything that picks a language (or our settings, or tap's). */
export function baseEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('DUO_DIAG_') || k.startsWith('TAP') || k.startsWith('LC_') || k === 'LANG' || k === 'LANGUAGE' || k === 'NODE_OPTIONS') continue
    env[k] = v
  }
  return env
}

export const env = (vars: Record<string, string> = {}): NodeJS.ProcessEnv => ({ ...baseEnv(), ...vars })

/** The three ways to ask for Japanese: the locale, DUO_DIAG_LANG, --lang (each with the others English or unset). */
export const JA_WAYS: Array<{ name: string, args: string[], vars: Record<string, string> }> = [
  { name: 'LANG=ja_JP.UTF-8', args: [], vars: { LANG: 'ja_JP.UTF-8' } },
  { name: 'DUO_DIAG_LANG=ja', args: [], vars: { DUO_DIAG_LANG: 'ja', LANG: 'C' } },
  { name: '--lang ja', args: ['--lang', 'ja'], vars: { LANG: 'C.UTF-8' } }
]

export const ja = (args: string[], way = JA_WAYS[0]!): Promise<Run> => runCli([...args, ...way.args], env(way.vars))

// ---------------------------------------------------------------------------------------------
// The catalogs: what Japanese output must say, and English sentences it must not.

export type Tree = { [key: string]: string | Tree }

export function flatten (tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of Object.entries(tree)) {
    if (typeof v === 'string') out.set(prefix + k, v)
    else for (const [kk, vv] of flatten(v, `${prefix}${k}.`)) out.set(kk, vv)
  }
  return out
}

/** The catalogs the CLI speaks from, by `namespace:key`: cli, doctor, and query (query and filter errors). */
export const EN = new Map([...flatten(enCli as Tree, 'cli:'), ...flatten(enDoctor as Tree, 'doctor:'), ...flatten(enQuery as Tree, 'query:')])
export const JA = new Map([...flatten(jaCli as Tree, 'cli:'), ...flatten(jaDoctor as Tree, 'doctor:'), ...flatten(jaQuery as Tree, 'query:')])
/** Every Japanese text, joined: an English fragment found in it is shared (a command line, an option). */
export const JA_TEXT = [...JA.values()].join('\n')

/**
 * The English catalog's prose, cut at placeholders and line ends: fragments of two words or more
 * that no Japanese text also contains (option syntax, commands and codes are the same in both).
 */
export const ENGLISH_FRAGMENTS = [...new Set([...EN.values()]
  .flatMap((v) => v.split(/\{\{[^}]+\}\}|\n/))
  .map((f) => f.trim().replace(/^[\s(—:;,.-]+|[\s):;,.]+$/g, ''))
  .filter((f) => /[a-z]{3,} [a-z]{2,}/i.test(f) && f.length >= 10 && !JA_TEXT.includes(f)))]

export function assertNoEnglish (t: Test, output: string, what: string): void {
  const text = stripAnsi(output)
  const leaks = ENGLISH_FRAGMENTS.filter((f) => text.includes(f))
  t.same(leaks, [], `${what}: no English catalog sentence`)
}

/** A catalog line with its placeholders as a pattern (values such as URLs are unknown in advance). */
export function pattern (text: string): RegExp {
  return new RegExp(text.split(/\{\{[^}]+\}\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?'))
}

export const jaText = (key: string, params: Record<string, string | number> = {}): string => tr('ja', key, params)

// ---------------------------------------------------------------------------------------------
// Display-width alignment.

/** A line as display columns: each column holds its character, or '' for the right half of a wide one. */
export function displayColumns (line: string): string[] {
  const cols: string[] = []
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(stripAnsi(line))) {
    const w = displayWidth(segment)
    if (w === 0) continue
    cols.push(segment)
    for (let i = 1; i < w; i++) cols.push('')
  }
  return cols
}

/**
 * Every table in `lines` (a header, its underline of dashes, rows until a blank line) is aligned:
 * in each row, the columns between the underline's dash runs are blank, no wide character
 * straddles a column's edge, and no row is wider than the underline. Returns how many tables.
 */
export function assertTablesAligned (t: Test, lines: string[], what: string): number {
  let tables = 0
  for (let i = 1; i < lines.length; i++) {
    const under = stripAnsi(lines[i]!)
    if (!/^-+( {2}-+)*$/.test(under)) continue
    tables++
    const spans = [...under.matchAll(/-+/g)].map((m) => [m.index, m.index + m[0].length] as const)
    const gaps = spans.slice(1).flatMap(([start], k) => [spans[k]![1], start - 1].filter((c, j, a) => j === 0 || c !== a[0]))
    const rows = [lines[i - 1]!]
    for (let j = i + 1; j < lines.length && stripAnsi(lines[j]!).trim() !== '' && !/^-+( {2}-+)*$/.test(stripAnsi(lines[j + 1] ?? '')); j++) rows.push(lines[j]!)
    let bad = 0
    for (const row of rows) {
      const cols = displayColumns(row)
      const ok = cols.length <= under.length &&
        gaps.every((g) => g >= cols.length || cols[g] === ' ') &&
        spans.every(([start]) => start >= cols.length || cols[start] !== '')
      if (!ok) {
        bad++
        t.fail(`${what}: row not aligned with its header\n${lines[i - 1]}\n${under}\n${row}`)
      }
    }
    t.equal(bad, 0, `${what}: table ${tables} (${rows.length - 1} rows) aligned by display width`)
  }
  return tables
}

// ---------------------------------------------------------------------------------------------
