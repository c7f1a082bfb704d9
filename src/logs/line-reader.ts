/**
 * Physical lines of a log stream, one at a time: never the whole file in memory. A line longer
 * than the bound is reported as too long and its bytes are dropped as they arrive, so a hostile
 * file with one endless line costs at most the bound. CRLF and LF both end a line; a last line
 * without its newline still counts; invalid UTF-8 becomes U+FFFD (Buffer's decoder).
 */
import type { Readable } from 'node:stream'

export type PhysicalLine =
  | { kind: 'line', number: number, text: string }
  | { kind: 'too_long', number: number }

const NEWLINE = 0x0a
const CR = 0x0d

export async function * readPhysicalLines (input: Readable, maxBytes: number): AsyncGenerator<PhysicalLine> {
  let parts: Buffer[] = []
  let held = 0
  let overflowed = false
  let number = 0

  const finish = (): PhysicalLine => {
    number++
    if (overflowed) {
      overflowed = false
      parts = []
      held = 0
      return { kind: 'too_long', number }
    }
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, held)
    parts = []
    held = 0
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1)
    if (bytes.length > maxBytes) return { kind: 'too_long', number }
    return { kind: 'line', number, text: bytes.toString('utf8') }
  }

  const hold = (piece: Buffer): void => {
    if (overflowed || piece.length === 0) return
    // The CR of a CRLF may still come: allow one byte over the bound for it.
    if (held + piece.length > maxBytes + 1) {
      overflowed = true
      parts = []
      held = 0
      return
    }
    parts.push(piece)
    held += piece.length
  }

  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk as Buffer
    let start = 0
    for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      hold(buf.subarray(start, nl))
      yield finish()
      start = nl + 1
    }
    // Copied: the stream may reuse its chunk's memory after we return.
    if (start < buf.length) hold(Buffer.from(buf.subarray(start)))
  }
  if (held > 0 || overflowed) yield finish()
}
