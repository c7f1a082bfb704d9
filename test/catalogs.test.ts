/**
 * The message catalogs (src/i18n/catalogs/<lang>/<namespace>.ts): every key in both languages
 * (plural-aware), the same placeholders, no empty text; every diagnosis code and flag used by the
 * source and described in both languages; every cause in the README's "Diagnosis codes" table.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { CAUSE_CODES, englishText, EVIDENCE_CODES, HINT_CODES, PART_CODES, STEP_CODES } from '../src/diagnosis/codes.js'
import { explain, type ExplainContext } from '../src/diagnosis/explain.js'
import { ALL_FLAGS, flagDescription } from '../src/diagnosis/flags.js'
import { renderDiagnosis } from '../src/diagnosis/render.js'
import { en } from '../src/i18n/catalogs/en/index.js'
import { ja } from '../src/i18n/catalogs/ja/index.js'
import { t as translate } from '../src/i18n/translate.js'
import type { Exchange } from '../src/capture/exchange.js'

type Tree = { [key: string]: string | Tree }
const PLURAL = /_(zero|one|two|few|many|other)$/

/** Every text of a catalog by its dotted key. */
function flatten (tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix === '' ? k : `${prefix}.${k}`
    if (typeof v === 'string') out.set(key, v)
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv)
  }
  return out
}

/** Keys with plural forms folded: `x_one` + `x_other` → `x` (when `x_other` exists). */
function fold (flat: Map<string, string>): Map<string, { forms: Set<string>, texts: string[] }> {
  const out = new Map<string, { forms: Set<string>, texts: string[] }>()
  for (const [key, text] of flat) {
    const m = PLURAL.exec(key)
    const base = m !== null && flat.has(key.replace(PLURAL, '_other')) ? key.slice(0, m.index) : key
    const entry = out.get(base) ?? { forms: new Set<string>(), texts: [] }
    if (base !== key) entry.forms.add(m![1]!)
    entry.texts.push(text)
    out.set(base, entry)
  }
  return out
}

/** `{{name}}` and `{{name, format}}`, normalised. */
function placeholders (text: string): string[] {
  return [...new Set([...text.matchAll(/\{\{\s*([^}]+?)\s*\}\}/g)].map((m) => m[1]!.split(',').map((s) => s.trim()).join(', ')))].sort()
}

const namespaces = Object.keys(en) as Array<keyof typeof en>

t.test('both languages have the same namespaces, keys (plural-aware) and placeholders; no text is empty', async (t) => {
  t.same(Object.keys(ja).sort(), [...namespaces].sort(), 'the same namespaces')
  for (const ns of namespaces) {
    const e = fold(flatten(en[ns] as Tree))
    const j = fold(flatten(ja[ns] as Tree))
    t.same([...j.keys()].filter((k) => !e.has(k)), [], `${ns}: no Japanese key without its English one`)
    t.same([...e.keys()].filter((k) => !j.has(k)), [], `${ns}: no English key without its Japanese one`)
    for (const [key, { forms, texts }] of e) {
      const jj = j.get(key)
      if (forms.size > 0) {
        t.ok(forms.has('one') && forms.has('other'), `${ns}:${key}: English plurals have _one and _other`)
        t.ok(jj?.forms.has('other'), `${ns}:${key}: Japanese has _other`)
      }
      if (jj === undefined) continue
      const ph = (list: string[]): string[] => [...new Set(list.flatMap(placeholders))].sort()
      t.same(ph(jj.texts), ph(texts), `${ns}:${key}: the same placeholders`)
    }
    for (const [lang, tree] of [['en', en[ns]], ['ja', ja[ns]]] as const) {
      for (const [key, text] of flatten(tree as Tree)) {
        // An empty text is a missing one to i18next (returnEmptyString: false): it falls back to English.
        if (text === '') t.fail(`${lang} ${ns}:${key} is empty`)
      }
    }
  }
})

/** The source, without the catalogs and the code lists themselves. */
function sources (dir: string): string {
  let text = ''
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      if (path.endsWith(join('i18n', 'catalogs'))) continue
      text += sources(path)
    } else if (name.endsWith('.ts') && !path.endsWith(join('diagnosis', 'codes.ts'))) {
      // Comments quote codes too: only code counts.
      text += readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '') + '\n'
    }
  }
  return text
}

t.test('every diagnosis code is used by the source, and the code lists are the catalog', async (t) => {
  const src = sources(join(import.meta.dirname, '..', 'src'))
  const groups = { cause: CAUSE_CODES, evidence: EVIDENCE_CODES, step: STEP_CODES, part: PART_CODES, hint: HINT_CODES }
  t.same([...Object.keys(groups), 'title'].sort(), Object.keys(en.diagnosis).sort(), 'one code list per group of the catalog')
  // The summary's label for each cause it counts (src/api/localize.ts reads `title.<code>`).
  t.same(Object.keys(en.diagnosis.title), Object.keys(en.diagnosis.cause), 'one title per cause code')
  for (const [group, codes] of Object.entries(groups)) {
    t.same([...codes].sort(), Object.keys(en.diagnosis[group as keyof typeof en.diagnosis]).sort(), `${group}: the list is the catalog's keys`)
    const unused = codes.filter((code) => !src.includes(`'${code}'`))
    t.same(unused, [], `${group}: every code is used in src/`)
    for (const code of codes) t.match(code, /^[a-z][a-z0-9_]*$/, `${group}.${code}: snake_case`)
  }
})

t.test('every flag is described in both languages, and nothing else is', async (t) => {
  t.same(Object.keys(en.flags).sort(), [...ALL_FLAGS].sort(), 'en: one description per flag')
  t.same(Object.keys(ja.flags).sort(), [...ALL_FLAGS].sort(), 'ja: one description per flag')
  t.equal(flagDescription('not_found', 'en'), en.flags.not_found)
  t.equal(flagDescription('not_found', 'ja'), ja.flags.not_found)
})

t.test('every cause is in the README table, with its English text', async (t) => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Diagnosis codes\n')
  t.ok(start >= 0, 'the README has a "Diagnosis codes" section')
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1))
  const rows = new Map<string, string>()
  for (const m of section.matchAll(/^\| `([a-z0-9_]+)` \| ((?:[^|\\]|\\.)*?) \|/gm)) rows.set(m[1]!, m[2]!.replace(/\\(.)/g, '$1'))
  t.same(CAUSE_CODES.filter((c) => !rows.has(c)), [], 'every cause code has a row')
  t.same([...rows.keys()].filter((c) => !(CAUSE_CODES as string[]).includes(c)), [], 'no row for a code that does not exist')
  for (const code of CAUSE_CODES) {
    if (rows.has(code)) t.equal(rows.get(code), en.diagnosis.cause[code], `${code}: the table quotes the English cause`)
  }
})

t.test('every text renders in both languages: no placeholder left, nested messages and seconds', async (t) => {
  const sample = (name: string): string | number => (/_ms$/.test(name) ? 1234 : `<${name}>`)
  for (const lang of ['en', 'ja'] as const) {
    for (const [key, text] of flatten(en.diagnosis as unknown as Tree)) {
      const params = Object.fromEntries(placeholders(text).map((p) => p.split(',')[0]!).map((n) => [n, sample(n)]))
      const out = translate(lang, key, params)
      t.notMatch(out, /\{\{|\}\}/, `${lang} ${key}: no placeholder left`)
      t.not(out, key, `${lang} ${key}: found`)
    }
  }
  t.equal(translate('en', 'evidence.cut_after', { duration_ms: 300 }), 'cut after 0.30 s', 'seconds, English')
  t.match(translate('ja', 'evidence.cut_after', { duration_ms: 300 }), /^0\.30\s?秒後に切断$/, 'seconds, Japanese')
  t.equal(
    translate('ja', 'evidence.gateway_own_answer', { answer: { code: 'cause.model_endpoint_missing_v1', params: {} } }),
    'AIゲートウェイ自身の応答: モデルエンドポイントのURLに/v1サフィックスがありません。',
    'a nested cause is rendered in the same language'
  )
})

t.test('capture renders English without i18next, exactly as i18next does', async (t) => {
  const nested = { code: 'part.or_2', params: { a: { code: 'part.likely_model_timeout', params: { timeout_s: 30 } }, b: { code: 'evidence.text', params: { text: 'x' } } } }
  for (const [key, text] of flatten(en.diagnosis as unknown as Tree)) {
    const names = placeholders(text).map((p) => p.split(',')[0]!)
    const plain = Object.fromEntries(names.map((n) => [n, /_ms$/.test(n) ? 29_999.5 : `<${n}> {{not a placeholder}}`]))
    t.equal(englishText(key, plain), translate('en', key, plain), `${key}: with values`)
    const deep = Object.fromEntries(names.map((n) => [n, /_ms$/.test(n) ? 12 : nested]))
    t.equal(englishText(key, deep), translate('en', key, deep), `${key}: with nested messages`)
    if (names.length > 0) t.equal(englishText(key, {}), translate('en', key, {}), `${key}: with no values`)
  }
  let chain: Record<string, unknown> = { code: 'evidence.text', params: { text: 'bottom' } }
  for (let i = 0; i < 6; i++) chain = { code: 'part.list_2', params: { a: `level ${i}`, b: chain } }
  t.equal(englishText('evidence.text', { text: chain as never }), translate('en', 'evidence.text', { text: chain as never }), 'nesting is cut at the same depth')
})

t.test('a diagnosis is built from codes, stored in English, and renders in Japanese', async (t) => {
  const ctx: ExplainContext = {
    timeouts: { connectMs: 300, headersMs: 300, bodyIdleMs: 300 },
    slow: { ttfbMs: 100, durationMs: 10_000 },
    tlsChain: null,
    tokenEvidence: [],
    insecureTls: false,
    modelRouted: false,
    gatewayModelTimeoutsS: [30, 60]
  }
  const ex = {
    hop: 'model',
    flags: ['not_found'],
    status: 404,
    method: 'POST',
    path: '/chat/completions',
    upstream: 'http://vllm:8000',
    error: null,
    request: { headers: { host: 'vllm:8000' }, bytes: 10 },
    response: { headers: {}, bytes: 22, content_type: 'application/json', body: { detail: 'Not Found' } },
    timings: { ttfb_ms: 3, duration_ms: 4 },
    meta: { feature: 'chat_completions' }
  } as unknown as Exchange
  const d = explain(ex, ctx)!
  t.equal(d.code, 'model_endpoint_missing_v1')
  t.same(d.params, {})
  t.equal(d.cause, 'The model endpoint URL lacks the /v1 suffix.')
  t.same(d.evidence[0], {
    code: 'missing_v1_404',
    params: { method: 'POST', path: '/chat/completions', message: 'Not Found' },
    text: 'POST /chat/completions answered 404 "Not Found": OpenAI-compatible servers serve the API under /v1, and the gateway appends only /chat/completions to the endpoint'
  })
  t.same(d.next_steps[0], { code: 'set_endpoint_v1_not', params: { base: 'http://vllm:8000' }, text: 'Set the model endpoint in GitLab to http://vllm:8000/v1 (not http://vllm:8000).' })
  const j = renderDiagnosis(d, 'ja')
  t.equal(j.code, d.code, 'the code does not change with the language')
  t.equal(j.cause, 'モデルエンドポイントのURLに/v1サフィックスがありません。')
  t.match(j.evidence[0]?.text, /^POST \/chat\/completionsが404 "Not Found"を返しました。/, 'values from the traffic are kept as they came')
  t.equal(j.next_steps[0]?.text, 'GitLabのモデルエンドポイントに/v1サフィックスを含めます。正しい例: http://vllm:8000/v1、誤った例: http://vllm:8000')
  t.same(renderDiagnosis(d, 'en'), d, 'rendering in English gives the stored record back')
})
