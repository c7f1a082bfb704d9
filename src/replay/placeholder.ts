/**
 * ASCII text whose JSON-encoded form is exactly `bytes` long: comment lines saying what it is
 * (a newline encodes as two bytes), the last one cut to fit. No quotes or backslashes.
 */
export function placeholder (bytes: number, comment = '#'): string {
  let text = ''
  let size = 0
  for (let n = 1; ; n++) {
    const line = `${comment} duo-diag-proxy replay placeholder ${String(n).padStart(4, '0')}: the original text was not captured`
    if (size + line.length + 2 > bytes) return text + line.slice(0, bytes - size)
    text += line + '\n'
    size += line.length + 2
  }
}
