import type { Exchange } from '../capture/exchange.js'
import { STATUS_CODES } from 'node:http'
import type { ExchangeFilter, StoreReader } from './types.js'

export type ExportFormat = 'har' | 'ndjson'

const PAGE = 500

/** Every exchange matching the filter, oldest page last, fetched a page at a time. */
async function * pages (store: StoreReader, filter: ExchangeFilter, max: number): AsyncGenerator<Exchange> {
  let cursor: string | null = null
  let served = 0
  do {
    const page = await store.list(filter, { limit: Math.min(PAGE, max - served), cursor })
    for (const ex of page.items) yield ex
    served += page.items.length
    cursor = page.next_cursor
  } while (cursor !== null && served < max)
}

type NameValue = Array<{ name: string, value: string }>

function headerList (headers: Record<string, string | string[]>): NameValue {
  const out: NameValue = []
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) out.push({ name, value: v })
  }
  return out
}

function bodyText (body: unknown): string | undefined {
  if (body === undefined) return undefined
  return typeof body === 'string' ? body : JSON.stringify(body)
}

/** One HAR 1.2 entry. Redacted like the store; proxy extras under `_duo_diag`. */
export function harEntry (ex: Exchange): Record<string, unknown> {
  const ttfb = ex.timings.ttfb_ms ?? ex.timings.duration_ms
  const url = ex.upstream + (ex.query ? `?${ex.query}` : '')
  const reqText = bodyText(ex.request.body)
  const resText = bodyText(ex.response?.body)
  const httpVersion = 'HTTP/1.1'
  return {
    startedDateTime: ex.started_at,
    time: ex.timings.duration_ms,
    request: {
      method: ex.method,
      url,
      httpVersion,
      cookies: [],
      headers: headerList(ex.request.headers),
      queryString: [...new URLSearchParams(ex.query)].map(([name, value]) => ({ name, value })),
      ...(reqText !== undefined ? { postData: { mimeType: ex.request.content_type ?? '', text: reqText } } : {}),
      headersSize: -1,
      bodySize: ex.request.bytes
    },
    response: {
      status: ex.status ?? 0,
      statusText: ex.status === null ? '' : STATUS_CODES[ex.status] ?? '',
      httpVersion,
      cookies: [],
      headers: headerList(ex.response?.headers ?? {}),
      content: {
        size: ex.response?.bytes ?? 0,
        mimeType: ex.response?.content_type ?? '',
        ...(resText !== undefined ? { text: resText } : {})
      },
      redirectURL: '',
      headersSize: -1,
      bodySize: ex.response?.bytes ?? -1
    },
    cache: {},
    timings: { blocked: -1, dns: -1, connect: -1, send: 0, wait: ttfb, receive: Math.max(0, ex.timings.duration_ms - ttfb), ssl: -1 },
    _duo_diag: {
      id: ex.id,
      route: ex.route,
      hop: ex.hop,
      correlation_id: ex.correlation_id,
      flags: ex.flags,
      diagnosis: ex.diagnosis,
      error: ex.error,
      parent_id: ex.parent_id,
      meta: ex.meta,
      // What `replay --har` needs beyond the URL and HAR timings: the proxy-side path (an
      // upstream base path is not part of it), a null ttfb, and whether the body was cut.
      path: ex.path,
      timings: ex.timings,
      request_body_truncated: ex.request.body_truncated === true
    }
  }
}

/**
 * An export as text chunks, streamed page by page: a large export never sits in memory.
 * HAR opens in browser dev tools; NDJSON is one exchange per line.
 */
export async function * exportChunks (store: StoreReader, format: ExportFormat, filter: ExchangeFilter, opts: { max: number, version: string }): AsyncGenerator<string> {
  if (format === 'ndjson') {
    for await (const ex of pages(store, filter, opts.max)) yield JSON.stringify(ex) + '\n'
    return
  }
  yield `{"log":{"version":"1.2","creator":{"name":"duo-diag-proxy","version":${JSON.stringify(opts.version)}},"pages":[],"entries":[`
  let first = true
  for await (const ex of pages(store, filter, opts.max)) {
    yield (first ? '\n' : ',\n') + JSON.stringify(harEntry(ex))
    first = false
  }
  yield '\n]}}\n'
}
