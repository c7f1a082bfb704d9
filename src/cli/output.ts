import { closest, distance } from 'fastest-levenshtein'
import pc from 'picocolors'
import stringWidth from 'string-width'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'

/** Where commands write; tests read the same streams. */
export const out = (text: string): void => { process.stdout.write(text) }
export const err = (text: string): void => { process.stderr.write(text) }

/** A command's outcome: the process exit code. 0 ok, 1 checks failed / runtime error, 2 usage or config. */
export type ExitCode = 0 | 1 | 2

export class UsageError extends Error {
  readonly code = 'DDP_USAGE'
}

/** The admin API or the store could not answer (exit 1, the message alone, no stack). */
export class ClientError extends Error {
  readonly code = 'DDP_CLIENT'
}

/** A line of the `cli` catalog in `lang` (src/i18n/catalogs/<lang>/cli.ts). */
export function msg (lang: Lang, key: string, params: Record<string, string | number> = {}): string {
  return t(lang, `cli:${key}`, params)
}

// ---------------------------------------------------------------------------------------------
// The terminal: how wide, whether in colour.

/** picocolors' formatters: real ones on a colour terminal, pass-through otherwise. */
export type Colors = ReturnType<typeof pc.createColors>

/** No colour: every formatter returns its text unchanged (files, pipes, summary.txt). */
export const PLAIN: Colors = pc.createColors(false)

type Stream = { isTTY?: boolean, columns?: number }

/**
 * Colour on a stream: FORCE_COLOR (any value but 0/false) forces it, even into a pipe; else
 * NO_COLOR (non-empty, no-color.org) or TERM=dumb turns it off; else only on a terminal.
 * FORCE_COLOR wins over NO_COLOR, as in Node and chalk: it is the more specific of the two.
 */
export function colorEnabled (stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR
  if (force !== undefined) return !['0', 'false'].includes(force.trim().toLowerCase())
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.TERM === 'dumb') return false
  return stream.isTTY === true
}

/**
 * Display columns a line may take: COLUMNS when set (as ls and Python do), else the terminal's
 * width, else no limit: piped or redirected output is never cut (grep, less -S and files get
 * every character; set COLUMNS to cut it anyway).
 */
export function terminalWidth (stream: Stream, env: NodeJS.ProcessEnv = process.env): number {
  const columns = Number(env.COLUMNS)
  if (env.COLUMNS !== undefined && Number.isInteger(columns) && columns > 0) return columns
  if (stream.isTTY === true && stream.columns !== undefined && stream.columns > 0) return stream.columns
  return Infinity
}

export interface Terminal {
  /** Display columns a line may take; Infinity when it is not a terminal (see terminalWidth). */
  width: number
  c: Colors
  tty: boolean
}

/** How to render for a stream: stdout for results, stderr for progress and warnings. */
export function terminal (stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Terminal {
  return { width: terminalWidth(stream, env), c: pc.createColors(colorEnabled(stream, env)), tty: stream.isTTY === true }
}

/** The width of text on a terminal: East Asian wide characters take 2 columns, escapes none. */
export const displayWidth = (text: string): number => stringWidth(text)

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** Plain text cut to `width` display columns, ending in … when cut (never half a wide character). */
export function truncate (text: string, width: number): string {
  if (displayWidth(text) <= width) return text
  let kept = ''
  let used = 0
  for (const { segment } of graphemes.segment(text)) {
    const w = displayWidth(segment)
    if (used + w > width - 1) break
    kept += segment
    used += w
  }
  return width < 1 ? '' : kept + '…'
}

// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[([0-9;]*)m/g

/**
 * Coloured text (SGR escapes, as picocolors writes them) cut to `width` display columns like
 * truncate: by grapheme, ending in … — the colours still open at the cut are closed before the …
 * (bold/dim, then the foreground), so a cut flag keeps the colour of the flag it is part of.
 */
export function truncateAnsi (text: string, width: number): string {
  if (displayWidth(text) <= width) return text
  if (width < 1) return ''
  let kept = ''
  let used = 0
  let fg = false
  let intensity = false
  let at = 0
  const take = (plain: string): boolean => {
    for (const { segment } of graphemes.segment(plain)) {
      const w = displayWidth(segment)
      if (used + w > width - 1) return false
      kept += segment
      used += w
    }
    return true
  }
  for (const m of text.matchAll(SGR)) {
    // Nothing more fits: the escapes after the last character kept are left out too.
    if (!take(text.slice(at, m.index)) || used >= width - 1) return close()
    kept += m[0]
    for (const code of (m[1] === '' ? '0' : m[1]!).split(';').map(Number)) {
      if (code === 0) fg = intensity = false
      else if (code === 1 || code === 2) intensity = true
      else if (code === 22) intensity = false
      else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) fg = true
      else if (code === 39) fg = false
    }
    at = m.index + m[0].length
  }
  take(text.slice(at))
  return close()
  function close (): string {
    return `${kept}${intensity ? '\u001b[22m' : ''}${fg ? '\u001b[39m' : ''}…`
  }
}

/** `text` padded with spaces to `width` display columns (wide characters count 2), on the right or left. */
export function pad (text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)))
  return align === 'right' ? fill + text : text + fill
}

/** Colour for an HTTP status (or '-' for none): 2xx green, 3xx cyan, 4xx yellow, 5xx and none red. */
export function paintStatus (text: string, c: Colors): string {
  const n = Number(text)
  if (!Number.isInteger(n)) return c.red(text)
  if (n >= 500) return c.red(text)
  if (n >= 400) return c.yellow(text)
  if (n >= 300) return c.cyan(text)
  return c.green(text)
}

// ---------------------------------------------------------------------------------------------
// Tables.

export interface Column {
  header: string
  align?: 'left' | 'right'
  /**
   * The narrowest the column is cut to (with …) while the table is too wide; Infinity: never
   * cut (ids, which are useless cut). Default: its header's width, at least 8.
   */
  min?: number
  /**
   * An optional column: when cutting every column to its `min` is not enough, optional columns
   * are left out, the lowest `drop` first. Without it a column always shows.
   */
  drop?: number
  /** At least this wide, so rows rendered one at a time (tail) line up. */
  pad?: number
  /** Colour for a cell, given its text (applied after control characters are removed). */
  paint?: (text: string, c: Colors) => string
}

export interface TableOptions {
  /** Display columns a line may take [Infinity: never cut]. */
  width?: number
  /** Colours [PLAIN]. */
  c?: Colors
  /** The header and its underline [true]. */
  header?: boolean
}

const GAP = 2

/** Control characters (newlines, tabs, escape sequences from recorded data) never reach the terminal. */
// eslint-disable-next-line no-control-regex
const clean = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')

/**
 * Column widths for a line of `width` display columns: the natural widths when they fit; else the
 * widest column is cut, one column at a time, down to the columns' `min` widths; when that is not
 * enough, optional columns are left out (lowest `drop` first) and the cutting starts again; with
 * nothing left to leave out, columns are cut below their `min`. null: the column is left out.
 */
export function fitWidths (natural: number[], columns: Array<Pick<Column, 'min' | 'drop'>>, width: number, gap = GAP): Array<number | null> {
  const widths: Array<number | null> = [...natural]
  const floors = natural.map((n, i) => Math.min(n, Math.max(1, columns[i]?.min ?? n)))
  for (;;) {
    const shown = widths.flatMap((w, i) => (w === null ? [] : [i]))
    const excess = shown.reduce((sum, i) => sum + natural[i]!, 0) + gap * (shown.length - 1) - width
    if (excess <= 0) return widths
    const room = shown.reduce((sum, i) => sum + natural[i]! - floors[i]!, 0)
    const optional = shown.filter((i) => columns[i]?.drop !== undefined).sort((a, b) => columns[a]!.drop! - columns[b]!.drop!)
    if (room < excess && optional.length > 0 && shown.length > 1) {
      widths[optional[0]!] = null
      continue
    }
    // To the floors; else (nothing left to leave out) the cuttable columns below them; else all.
    let left = cut(widths, shown, floors, excess)
    if (left > 0) left = cut(widths, shown, floors.map((f, i) => (columns[i]?.min === Infinity ? f : Math.min(f, 1))), left)
    if (left > 0) cut(widths, shown, natural.map((n) => Math.min(n, 1)), left)
    return widths
  }
}

/** Takes `excess` columns off the widest of `shown` (the rightmost on a tie), none below `limit`. */
function cut (widths: Array<number | null>, shown: number[], limit: number[], excess: number): number {
  let left = excess
  while (left > 0) {
    let pick = -1
    for (const i of shown) if (widths[i]! > limit[i]! && (pick < 0 || widths[i]! >= widths[pick]!)) pick = i
    if (pick < 0) break
    widths[pick] = widths[pick]! - 1
    left--
  }
  return left
}

/** A table fitted to `width`: the text, and the headers of the columns left out (narrow terminal). */
export function renderTable (spec: Array<string | Column>, rows: string[][], opts: TableOptions = {}): { text: string, dropped: string[] } {
  const columns: Column[] = spec.map((s) => (typeof s === 'string' ? { header: s } : s))
  const c = opts.c ?? PLAIN
  const header = opts.header ?? true
  const cells = rows.map((r) => columns.map((_, i) => clean(r[i] ?? '')))
  const natural = columns.map((col, i) => Math.max(
    header ? displayWidth(col.header) : 0, col.pad ?? 0, 1, ...cells.map((r) => displayWidth(r[i]!))))
  const mins = columns.map((col) => ({ min: col.min ?? Math.max(displayWidth(col.header), 8), ...(col.drop !== undefined ? { drop: col.drop } : {}) }))
  const widths = fitWidths(natural, mins, opts.width ?? Infinity)
  const shown = columns.flatMap((col, i) => (widths[i] === null ? [] : [{ col, i, width: widths[i]! }]))
  // Laid out here, not by a table library: cells are cut by grapheme (never half a wide
  // character, a surrogate pair or a base without its combining mark) and padded by the same
  // display width (string-width) that sized the columns, so Japanese text lines up.
  const line = (parts: string[]): string => parts.join(' '.repeat(GAP)).trimEnd()
  const lines: string[] = []
  // A cell is painted whole, then cut: a cut flag keeps the colour of the flag it is part of.
  const cell = (text: string, width: number, align: Column['align'], painted: string): string => {
    const fill = ' '.repeat(Math.max(0, width - displayWidth(truncate(text, width))))
    const shownText = truncateAnsi(painted, width)
    return align === 'right' ? fill + shownText : shownText + fill
  }
  if (header) {
    lines.push(line(shown.map((s) => cell(s.col.header, s.width, s.col.align, c.bold(s.col.header)))))
    lines.push(line(shown.map((s) => c.dim('-'.repeat(s.width)))))
  }
  for (const r of cells) {
    lines.push(line(shown.map((s) => {
      const text = r[s.i]!
      return cell(text, s.width, s.col.align, s.col.paint && text !== '' ? s.col.paint(text, c) : text)
    })))
  }
  const text = lines.length === 0 ? '' : lines.join('\n') + '\n'
  return { text, dropped: columns.filter((_, i) => widths[i] === null).map((col) => col.header) }
}

/** An aligned table; plain and never cut unless `opts` says otherwise. */
export function table (spec: Array<string | Column>, rows: string[][], opts: TableOptions = {}): string {
  return renderTable(spec, rows, opts).text
}

// ---------------------------------------------------------------------------------------------
// Did you mean.

/**
 * The candidate `input` was probably meant to be: the only one it is a prefix of, else the
 * nearest by edit distance when that is close (at most 2 edits, or a third of its length).
 */
export function didYouMean (input: string, candidates: readonly string[]): string | null {
  const text = input.toLowerCase()
  if (text === '' || candidates.length === 0) return null
  const lower = candidates.map((c) => c.toLowerCase())
  const prefixed = candidates.filter((_, i) => lower[i]!.startsWith(text))
  if (prefixed.length === 1) return prefixed[0]!
  const best = closest(text, lower)
  return distance(text, best) <= Math.max(2, Math.floor(best.length / 3)) ? candidates[lower.indexOf(best)]! : null
}

/**
 * " — did you mean X?" or '' (for the end of an error message); `quoted`: X in quotes, as a value
 * or command name is (each language quotes its own way), not as an option is.
 */
export function suggest (input: string, candidates: readonly string[], quoted = false, lang: Lang = 'en'): string {
  const best = didYouMean(input, candidates)
  return best === null || best === input ? '' : msg(lang, quoted ? 'didYouMeanQuoted' : 'didYouMean', { name: best })
}

// ---------------------------------------------------------------------------------------------
// Progress on a terminal.

export interface Progress {
  /** Shows (or replaces) the status line. */
  update (text: string): void
  /** Removes the status line, e.g. before a result line is written. */
  clear (): void
}

const FRAMES = ['-', '\\', '|', '/']

/** A Progress that shows nothing. */
export const NO_PROGRESS: Progress = { update () {}, clear () {} }

/**
 * A one-line spinner with a status text, on stderr when it is a terminal; nothing otherwise (logs
 * and pipes get only the result lines). Cleared when the process writes its result.
 */
export function progress (stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Progress {
  if (stream.isTTY !== true || env.TERM === 'dumb') return NO_PROGRESS
  const width = terminalWidth(stream, env)
  let text: string | null = null
  let frame = 0
  let timer: NodeJS.Timeout | null = null
  const draw = (): void => {
    if (text === null) return
    // One column short of the width: a full line would wrap on some terminals.
    stream.write(`\r\x1b[2K${truncate(`${FRAMES[frame++ % FRAMES.length]} ${text}`, width - 1)}`)
  }
  return {
    update (next) {
      text = clean(next)
      // Drawn now the first time, then by the timer: a busy caller does not flood the terminal.
      if (timer === null) {
        draw()
        timer = setInterval(draw, 120)
        timer.unref()
      }
    },
    clear () {
      if (timer !== null) clearInterval(timer)
      timer = null
      if (text !== null) stream.write('\r\x1b[2K')
      text = null
    }
  }
}

/** Bytes for people: 512 B, 3.4 KiB, 1.2 MiB. */
export function size (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
