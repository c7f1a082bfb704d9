/** Server-sent events: framing (OpenAI streams, the gateway's /v4 code suggestions) and parsing. */

export interface SseEvent {
  event?: string
  id?: string
  data: string
}

/** One `data:` frame, as OpenAI-compatible servers send them. */
export function sseData (payload: unknown): string {
  return `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`
}

/** A named SSE event (the AI gateway's /v4 format). */
export function sseEvent (event: string, payload: unknown): string {
  return `event: ${event}\n${sseData(payload)}`
}

/** Incremental SSE parser: push() text as it arrives, get back the complete events. */
export class SseParser {
  private buffer = ''

  push (text: string): SseEvent[] {
    this.buffer += text
    // Normalise line endings, but keep a trailing '\r' until we know whether '\n' follows.
    const keepCr = this.buffer.endsWith('\r')
    const normalised = (keepCr ? this.buffer.slice(0, -1) : this.buffer).replace(/\r\n?/g, '\n')
    const blocks = normalised.split('\n\n')
    this.buffer = (blocks.pop() ?? '') + (keepCr ? '\r' : '')
    return blocks.flatMap((block) => parseBlock(block))
  }

  /** Events left in the buffer when the stream ended without a final blank line. */
  flush (): SseEvent[] {
    const rest = this.buffer.replace(/\r\n?/g, '\n')
    this.buffer = ''
    return rest.trim() === '' ? [] : parseBlock(rest)
  }
}

function parseBlock (block: string): SseEvent[] {
  const event: SseEvent = { data: '' }
  const data: string[] = []
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'data') data.push(value)
    else if (field === 'event') event.event = value
    else if (field === 'id') event.id = value
  }
  if (data.length === 0 && event.event === undefined) return []
  event.data = data.join('\n')
  return [event]
}

/** Parse a whole SSE body. */
export function parseSse (text: string): SseEvent[] {
  const parser = new SseParser()
  return [...parser.push(text), ...parser.flush()]
}
