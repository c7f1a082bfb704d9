/** The CLI's terminal rendering as functions: width fitting, colour policy, did-you-mean, --admin forms. */
import t from 'tap'
import { resolveLang, takeLangFlag } from '../src/cli/lang.js'
import { colorEnabled, didYouMean, displayWidth, fitWidths, pad, PLAIN, renderTable, suggest, terminal, terminalWidth, truncate, truncateAnsi } from '../src/cli/output.js'
import { adminBaseUrl } from '../src/cli/query-client.js'
import { adminListen, upstreamProblem } from '../src/cli/start.js'

t.test('fitWidths: natural when it fits; else the widest is cut, then optional columns go', async (t) => {
  t.same(fitWidths([4, 10, 6], [{}, {}, {}], 30), [4, 10, 6], 'fits: untouched')
  t.same(fitWidths([4, 10, 6], [{}, {}, {}], Infinity), [4, 10, 6], 'no limit')
  // 4 + 10 + 6 + 2 gaps of 2 = 24; at 20 the widest (10) gives 4.
  t.same(fitWidths([4, 10, 6], [{ min: 1 }, { min: 1 }, { min: 1 }], 20), [4, 6, 6], 'the widest column gives first')
  t.same(fitWidths([4, 10, 10], [{ min: 1 }, { min: 1 }, { min: 1 }], 24), [4, 8, 8], 'equally wide columns give in turn')
  t.same(fitWidths([20, 30, 60], [{ min: Infinity }, { min: 10, drop: 1 }, { min: 20 }], 50), [20, null, 28],
    'an optional column is left out when cutting to the floors is not enough')
  t.same(fitWidths([20, 30], [{ min: Infinity }, { min: 25 }], 30), [20, 8], 'nothing to leave out: below the floor, never the uncuttable one')
  const w = fitWidths([20, 30], [{ min: Infinity }, { min: Infinity }], 10)
  t.ok(w[0]! + w[1]! + 2 <= 10, 'last resort: every column cut')
})

t.test('renderTable: display-width alignment, … on cut cells, no control characters', async (t) => {
  const rows = [['ab', 'モデル', 'x'], ['abcd', 'e', 'y']]
  const { text } = renderTable(['one', 'two', 'three'], rows)
  const lines = text.trimEnd().split('\n')
  const col = (line: string, cell: string): number => displayWidth(line.slice(0, line.indexOf(cell)))
  t.equal(col(lines[2]!, 'x'), col(lines[0]!, 'three'), 'the column after a wide cell starts where its header does')
  t.equal(col(lines[3]!, 'y'), col(lines[0]!, 'three'))
  const cut = renderTable([{ header: 'a', min: Infinity }, { header: 'b' }], [['fixed', 'モデルサーバーが応答しませんでした']], { width: 20 })
  for (const line of cut.text.trimEnd().split('\n')) t.ok(displayWidth(line) <= 20, `within 20 columns: "${line}"`)
  t.match(cut.text, /fixed {2}モデル.*…/, 'the wide text is cut with …, the uncuttable column is whole')
  const evil = renderTable(['a'], [['evil\u001b[31m\nnext\tline']]).text
  t.notOk(evil.includes('\u001b') || evil.includes('\t') || evil.includes('evil\n'), 'escape sequences, tabs and newlines from data never reach the terminal')
})

t.test('truncate: display columns, never half a wide character', async (t) => {
  t.equal(truncate('hello', 10), 'hello')
  t.equal(truncate('hello world', 6), 'hello…')
  t.equal(truncate('モデルサーバー', 6), 'モデ…', '2 + 2 + … = 5: a third wide character would make 7')
  t.ok(displayWidth(truncate('モデルサーバー', 7)) <= 7)
  // Whole graphemes: a surrogate pair, a kana and its combining voiced mark, a ZWJ emoji sequence.
  t.equal(truncate('𠮷野家の牛丼', 6), '𠮷野…', 'a character outside the BMP is never split')
  t.equal(truncate('か\u3099き\u3099く\u3099', 4), 'か\u3099…', 'a base keeps its combining mark')
  t.equal(truncate('ｶﾞｷﾞｸﾞ', 4), 'ｶﾞ…', 'half-width kana keep their voiced mark')
  t.equal(truncate('👨‍👩‍👧👨‍👩‍👧👨‍👩‍👧', 5), '👨‍👩‍👧👨‍👩‍👧…')
  for (const text of ['𠮷野家の牛丼', 'ｶﾞｷﾞｸﾞｹﾞｺﾞ', '👨‍👩‍👧👨‍👩‍👧', 'aモデルサーバー']) {
    for (let w = 1; w < 12; w++) {
      const cut = truncate(text, w)
      t.ok(displayWidth(cut) <= w && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(cut), `${text} at ${w}: "${cut}"`)
    }
  }
})

t.test('truncateAnsi: coloured text cut like truncate, its colours closed before the …', async (t) => {
  const c = terminal({ isTTY: true } as NodeJS.WriteStream, {}).c
  t.equal(truncateAnsi(c.red('not_found'), 20), c.red('not_found'), 'fits: unchanged')
  t.equal(truncateAnsi(`${c.red('model_error')},${c.yellow('slow')}`, 14), `${c.red('model_error')},\u001b[33ms\u001b[39m…`, 'a cut flag keeps its own colour')
  t.equal(truncateAnsi(c.bold('モデルサーバー'), 6), '\u001b[1mモデ\u001b[22m…')
  t.equal(truncateAnsi(c.red('abc'), 1), '…', 'only the … fits: no empty escapes')
  t.equal(truncateAnsi('plain text', 6), truncate('plain text', 6))
})

t.test('pad: by display width', async (t) => {
  t.equal(pad('ab', 4), 'ab  ')
  t.equal(pad('モデル', 8), 'モデル  ')
  t.equal(pad('モデル', 8, 'right'), '  モデル')
  t.equal(pad('モデル', 2), 'モデル', 'never cut')
})

t.test('renderTable: Japanese headers and cells line up; cut cells stay inside their column', async (t) => {
  const cells = [['1', '𠮷野家の牛丼のモデル', 'x'], ['2', 'か\u3099き\u3099く\u3099け\u3099こ\u3099', 'y'], ['3', '👨‍👩‍👧 family', 'z']]
  for (const width of [Infinity, 30, 20, 14]) {
    const { text } = renderTable([{ header: '番号', min: Infinity }, { header: '原因', min: 4 }, { header: '列', min: Infinity }], cells, { width, c: PLAIN })
    const lines = text.trimEnd().split('\n')
    const at = (line: string, cell: string): number => displayWidth(line.slice(0, line.indexOf(cell)))
    for (const [i, last] of ['x', 'y', 'z'].entries()) {
      t.equal(at(lines[i + 2]!, ` ${last}`) + 1, at(lines[0]!, '列'), `width ${width}: the last column starts under its header: ${lines[i + 2]}`)
      if (width !== Infinity) t.ok(displayWidth(lines[i + 2]!) <= width, `within ${width} columns`)
    }
  }
})

t.test('colour: a terminal only; NO_COLOR off, FORCE_COLOR on (and wins), TERM=dumb off', async (t) => {
  const tty = { isTTY: true }
  const pipe = { isTTY: false }
  t.equal(colorEnabled(tty, {}), true)
  t.equal(colorEnabled(pipe, {}), false, 'piped: no colour')
  t.equal(colorEnabled(tty, { NO_COLOR: '1' }), false)
  t.equal(colorEnabled(tty, { NO_COLOR: '' }), true, 'an empty NO_COLOR is unset (no-color.org)')
  t.equal(colorEnabled(pipe, { FORCE_COLOR: '1' }), true, 'forced into a pipe')
  t.equal(colorEnabled(tty, { FORCE_COLOR: '0' }), false)
  t.equal(colorEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }), true, 'FORCE_COLOR wins, as in Node')
  t.equal(colorEnabled(tty, { TERM: 'dumb' }), false)
  t.equal(terminal({ isTTY: false } as NodeJS.WriteStream, {}).c.red('x'), 'x', 'no escapes when off')
  t.equal(terminal({ isTTY: true, columns: 90 } as NodeJS.WriteStream, {}).c.red('x'), '\u001b[31mx\u001b[39m')
})

t.test('width: COLUMNS, else the terminal, else no limit (piped output is never cut)', async (t) => {
  t.equal(terminalWidth({ isTTY: true, columns: 132 }, {}), 132)
  t.equal(terminalWidth({ isTTY: false }, {}), Infinity)
  t.equal(terminalWidth({ isTTY: false }, { COLUMNS: '70' }), 70)
  t.equal(terminalWidth({ isTTY: true, columns: 132 }, { COLUMNS: '70' }), 70, 'COLUMNS wins, as for ls')
  t.equal(terminalWidth({ isTTY: false }, { COLUMNS: 'wide' }), Infinity, 'nonsense is ignored')
})

t.test('did you mean', async (t) => {
  t.equal(didYouMean('--flga', ['--flag', '--format', '--route']), '--flag')
  t.equal(didYouMean('failurs', ['failures', 'show', 'tail']), 'failures')
  t.equal(didYouMean('connectoin_refused', ['connection_refused', 'not_found']), 'connection_refused')
  t.equal(didYouMean('--corr', ['--correlation-id', '--route']), '--correlation-id', 'a unique prefix')
  t.equal(didYouMean('nope', ['gitlab-aigw', 'model']), null, 'nothing close: no guess')
  t.equal(suggest('hra', ['har', 'ndjson']), ' — did you mean har?')
  t.equal(suggest('zzz', ['har', 'ndjson']), '')
})

t.test('--admin for the query commands: a URL or HOST:PORT', async (t) => {
  t.equal(adminBaseUrl(undefined), 'http://127.0.0.1:5099')
  t.equal(adminBaseUrl('http://127.0.0.1:5099/'), 'http://127.0.0.1:5099')
  t.equal(adminBaseUrl('https://proxy.example.com/duo-admin/'), 'https://proxy.example.com/duo-admin')
  t.equal(adminBaseUrl('127.0.0.1:5099'), 'http://127.0.0.1:5099')
  t.equal(adminBaseUrl('localhost:6000'), 'http://localhost:6000')
  t.equal(adminBaseUrl('[::1]:5099'), 'http://[::1]:5099')
  t.equal(adminBaseUrl('0.0.0.0:5099'), 'http://127.0.0.1:5099', 'a listen-on-all address is reached on loopback')
  t.equal(adminBaseUrl(':5099'), 'http://127.0.0.1:5099')
  t.throws(() => adminBaseUrl('ftp://x:1'), /not an http\(s\) URL/)
  t.throws(() => adminBaseUrl('some thing'), /neither a URL nor HOST:PORT/)
  t.throws(() => adminBaseUrl('host:99999'), /neither a URL nor HOST:PORT/)
})

t.test('--admin for start: HOST:PORT, or the URL the query commands take', async (t) => {
  t.equal(adminListen('127.0.0.1:5099'), '127.0.0.1:5099')
  t.equal(adminListen('off'), 'off')
  t.equal(adminListen('http://127.0.0.1:5099'), '127.0.0.1:5099')
  t.equal(adminListen('http://[::1]:5099/'), '[::1]:5099')
  t.equal(adminListen('http://localhost'), 'localhost:80')
  t.throws(() => adminListen('https://127.0.0.1:5099'), /serves plain http/)
  t.throws(() => adminListen('http://127.0.0.1:5099/api'), /no path/)
})

t.test('suggest and upstreamProblem in Japanese', async (t) => {
  t.equal(suggest('failurs', ['failures', 'show'], true, 'ja'), '。「failures」のことですか?')
  t.equal(suggest('failurs', ['failures', 'show'], true, 'en'), ' — did you mean "failures"?')
  t.equal(suggest('--flga', ['--flag'], false, 'ja'), '。--flagのことですか?')
  t.equal(upstreamProblem({ name: 'model', hop: 'model' }, 'vllm', 8000, 'ECONNREFUSED', 'ja'), 'vllm:8000で待ち受けているものがありません。モデルサーバーは実行中ですか?')
  t.equal(upstreamProblem({ name: 'gitlab-aigw', hop: 'auto' }, '127.0.0.1', 5052, 'ECONNREFUSED', 'ja'), '127.0.0.1:5052で待ち受けているものがありません。AIゲートウェイは実行中ですか?')
  t.throws(() => adminListen('https://127.0.0.1:5099', 'ja'), /管理APIはプレーンなhttpで提供します/)
})

t.test('--lang: taken out of the command line wherever it is; resolved with the environment', async (t) => {
  t.same(takeLangFlag(['failures', '--lang', 'ja', '--db', 'x']), { value: 'ja', missing: false, rest: ['failures', '--db', 'x'] })
  t.same(takeLangFlag(['--lang=en', 'show', 'id']), { value: 'en', missing: false, rest: ['show', 'id'] })
  t.same(takeLangFlag(['failures', '--', '--lang', 'ja']), { value: undefined, missing: false, rest: ['failures', '--', '--lang', 'ja'] }, 'not after --')
  t.same(takeLangFlag(['doctor', '--lang']), { value: undefined, missing: true, rest: ['doctor'] })
  t.same(takeLangFlag(['doctor', '--lang', '--json']), { value: undefined, missing: true, rest: ['doctor', '--json'] })
  t.equal(resolveLang('ja', { LANG: 'C' }), 'ja')
  t.equal(resolveLang(undefined, { DUO_DIAG_LANG: 'ja', LC_ALL: 'C' }), 'ja')
  t.equal(resolveLang(undefined, { LC_ALL: 'ja_JP.UTF-8', LANG: 'C' }), 'ja')
  t.equal(resolveLang(undefined, { LC_MESSAGES: 'ja_JP.UTF-8', LANG: 'C' }), 'ja')
  t.equal(resolveLang(undefined, { LANG: 'ja_JP.UTF-8' }), 'ja')
  t.equal(resolveLang(undefined, {}), 'en')
  t.throws(() => resolveLang('fr', { LANG: 'C' }), /--lang: "fr" is not a language with messages; use one of: en, ja/)
  t.throws(() => resolveLang('fr', { LANG: 'ja_JP.UTF-8' }), /--lang: 「fr」のメッセージはありません/, 'said in the language the environment asks for')
})

t.test('an upstream that does not answer, in plain words', async (t) => {
  t.equal(upstreamProblem({ name: 'gitlab-aigw', hop: 'auto' }, '127.0.0.1', 5052, 'ECONNREFUSED'), 'nothing listens on 127.0.0.1:5052 — is the AI gateway running?')
  t.equal(upstreamProblem({ name: 'gateway', hop: 'gateway' }, '127.0.0.1', 5052, 'ECONNREFUSED'), 'nothing listens on 127.0.0.1:5052 — is the AI gateway running?')
  t.equal(upstreamProblem({ name: 'model', hop: 'model' }, 'vllm', 8000, 'ECONNREFUSED'), 'nothing listens on vllm:8000 — is the model server running?')
  t.equal(upstreamProblem({ name: 'vllm', hop: 'auto' }, '::1', 8000, 'ECONNREFUSED'), 'nothing listens on [::1]:8000 — is the model server running?')
  t.equal(upstreamProblem({ name: 'model', hop: 'model' }, 'vllm.internal', 8000, 'ENOTFOUND'), 'the name vllm.internal does not resolve')
  t.equal(upstreamProblem({ name: 'model', hop: 'model' }, '10.0.0.9', 8000, 'ETIMEDOUT'), '10.0.0.9:8000 does not answer (firewall?)')
})
