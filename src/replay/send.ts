import { type Agent, type Dispatcher, request } from 'undici'

/** Bounds of what is kept of a replay's response: the head names an error, the tail ends a stream. */
const HEAD_BYTES = 16 * 1024
const TAIL_BYTES = 16 * 1024

export interface SendRequest {
  url: string
  method: string
  headers: Record<string, string | string[]>
  body: string | null
}

export interface SendResult {
  status: number | null
  headers: Record<string, string | string[]>
  /** From sending to the response headers. */
  ttfb_ms: number | null
  duration_ms: number
  bytes: number
  chunks: number
  /** Longest silence between two body chunks (the first counted from the headers). */
  max_gap_ms: number | null
  head: string
  tail: string
  /** The whole body fitted in `head`. */
  complete_head: boolean
  error: { code: string, message: string } | null
  /** The transport failed after the response headers: the request was answered, then cut. */
  after_headers: boolean
}

/** One HTTP exchange with the target, timed the way capture times them. Never throws. */
export async function send (dispatcher: Agent, req: SendRequest, timeoutMs: number): Promise<SendResult> {
  const started = performance.now()
  const r: SendResult = {
    status: null, headers: {}, ttfb_ms: null, duration_ms: 0, bytes: 0, chunks: 0, max_gap_ms: null,
    head: '', tail: '', complete_head: true, error: null, after_headers: false
  }
  let head = Buffer.alloc(0)
  let tail = Buffer.alloc(0)
  try {
    const res = await request(req.url, {
      method: req.method as Dispatcher.HttpMethod,
      headers: req.headers,
      body: req.body ?? undefined,
      dispatcher,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs
    })
    let last = performance.now()
    r.ttfb_ms = round(last - started)
    r.status = res.statusCode
    r.headers = res.headers as Record<string, string | string[]>
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      const now = performance.now()
      r.max_gap_ms = Math.max(r.max_gap_ms ?? 0, round(now - last))
      last = now
      r.chunks++
      r.bytes += chunk.byteLength
      if (head.byteLength < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.byteLength)])
      tail = Buffer.concat([tail, chunk]).subarray(-TAIL_BYTES)
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
    r.error = { code: e.cause?.code ?? e.code ?? 'ERROR', message: e.cause?.message ?? e.message }
    r.after_headers = r.status !== null
  }
  r.duration_ms = round(performance.now() - started)
  r.head = head.toString('utf8')
  r.tail = tail.toString('utf8')
  r.complete_head = r.bytes <= HEAD_BYTES
  return r
}

function round (ms: number): number {
  return Math.round(ms * 1000) / 1000
}
