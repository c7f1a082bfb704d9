/** Where commands write; tests read the same streams. */
export const out = (text: string): void => { process.stdout.write(text) }
export const err = (text: string): void => { process.stderr.write(text) }

/** A command's outcome: the process exit code. 0 ok, 1 checks failed / runtime error, 2 usage or config. */
export type ExitCode = 0 | 1 | 2

export class UsageError extends Error {
  readonly code = 'DDP_USAGE'
}

/** A plain aligned table for terminals. */
export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n'
}
