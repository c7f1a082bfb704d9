/**
 * README.ja.md, checked against what it translates: its first two commands are README.md's first
 * two (the set-up commands, read the same way from both files), every relative link leads to a
 * file that exists (and, into a Markdown file, to a heading that exists), every
 * `duo-diag-proxy <command>` it names is a command of src/cli/main.ts, and the terms the glossary
 * (docs/glossary.ja.md) marks as required appear in README.ja.md or in a Japanese catalog.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

const README_JA = 'README.ja.md'
const ja = read(README_JA)

/** The lines of the file's first fenced code block, comments (`  # …`) and blank lines dropped. */
function firstCommands (markdown: string): string[] {
  const block = /^(`{3,}|~{3,})[^\n]*\n([\s\S]*?)^\1[ \t]*$/m.exec(markdown)
  if (block === null) return []
  return (block[2] ?? '').split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
}

/** Markdown without its fenced code blocks and inline code spans (links are not written there). */
function prose (markdown: string): string {
  return markdown.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '').replace(/`[^`\n]*`/g, '')
}

/** GitHub's heading anchors: lower case, punctuation dropped (letters of any script kept), spaces to '-'. */
function slug (heading: string): string {
  return heading.trim().toLowerCase()
    .replace(/[`*_]|\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{M}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-')
}

function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const m of markdown.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1] ?? '')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

t.test('the first two commands are README.md\'s first two', async (t) => {
  const en = firstCommands(read('README.md')).slice(0, 2)
  t.equal(en.length, 2, 'README.md opens with two commands')
  t.strictSame(firstCommands(ja).slice(0, 2), en)
  t.match(en[0] ?? '', /npm start/, 'the first runs the proxy')
  t.match(en[1] ?? '', /npm test/, 'the second runs the tests')
})

t.test('every relative link leads to a file that exists', async (t) => {
  const links = [...prose(ja).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] ?? '')
  const relative = links.filter((href) => !/^[a-z][a-z0-9+.-]*:/i.test(href))
  t.ok(relative.length > 0, 'README.ja.md has relative links')
  for (const href of relative) {
    const [path, fragment] = href.split('#', 2) as [string, string | undefined]
    const target = path === '' ? join(ROOT, README_JA) : resolve(dirname(join(ROOT, README_JA)), decodeURI(path))
    t.ok(existsSync(target), `${href}: ${path === '' ? README_JA : path} exists`)
    if (fragment !== undefined && fragment !== '' && target.endsWith('.md') && existsSync(target)) {
      t.ok(anchors(readFileSync(target, 'utf8')).has(decodeURIComponent(fragment)), `${href}: the heading exists`)
    }
  }
})

t.test('every `duo-diag-proxy <command>` is a command of the CLI', async (t) => {
  const main = read('src/cli/main.ts')
  const table = /^const COMMANDS\b[^\n]*\{\n([\s\S]*?)\n\}/m.exec(main)
  t.ok(table, 'src/cli/main.ts has its COMMANDS table')
  const commands = new Set([...(table?.[1] ?? '').matchAll(/^\s*['"]?([a-z][a-z-]*)['"]?\s*:/gm)].map((m) => m[1] ?? ''))
  t.ok(commands.has('start') && commands.has('failures'), 'the table was read')
  const named = [...ja.matchAll(/duo-diag-proxy[ \t]+([a-z][a-z-]*)/g)].map((m) => m[1] ?? '')
  for (const want of ['start', 'failures', 'show', 'summary', 'tail', 'replay', 'bundle', 'doctor']) {
    t.ok(named.includes(want), `README.ja.md shows duo-diag-proxy ${want}`)
  }
  for (const command of new Set(named)) t.ok(commands.has(command), `duo-diag-proxy ${command} exists`)
})

t.test('the glossary\'s required terms are used', async (t) => {
  const glossary = read('docs/glossary.ja.md')
  const required: string[] = []
  for (const line of glossary.split('\n')) {
    if (!line.startsWith('|')) continue
    const cells = line.split('|').slice(1, -1).map((c) => c.trim())
    if (cells.length < 5 || cells[cells.length - 1] !== '✓') continue
    const term = /`([^`]+)`/.exec(cells[1] ?? '')?.[1]
    t.ok(term, `a required row names its term in backticks: ${cells[0]}`)
    if (term !== undefined) required.push(term)
  }
  t.ok(required.length >= 3, `the glossary marks required terms (${required.join(', ')})`)
  const catalogDir = join(ROOT, 'src', 'i18n', 'catalogs', 'ja')
  const catalogs = readdirSync(catalogDir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(catalogDir, f), 'utf8'))
  for (const term of required) {
    t.ok([ja, ...catalogs].some((text) => text.includes(term)), `${term} appears in README.ja.md or a ja catalog`)
  }
})
