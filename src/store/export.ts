import type { Exchange } from '../capture/exchange.js'
import type { LogEvent } from '../logs/event.js'
import { STATUS_CODES } from 'node:http'
import type { ExchangeFilter, StoreReader } from './types.js'

export type ExportFormat = 'har' | 'ndjson'

const PAGE = 500

export interface ExportOptions {
  /** At most this many exchanges: the newest. */
  max: number
  /** The proxy's version, for the HAR creator. */
  version: string
  /** Exchanges per store read (tests make it small). */
  pageSize?: number
  /** The language of the diagnosis texts (the API renders them; stated in the export). */
  lang?: string
  /** Each exchange as the reader should see it (the API renders its diagnosis in `lang`). */
  localize?: (ex: Exchange) => Exchange
}

const startMs = (ex: Exchange): number => Date.parse(ex.started_at)

/** Every exchange matching the filter, newest first (the store's order), fetched a page at a time. */
async function * newestFirst (store: StoreReader, filter: ExchangeFilter, max: number, page: number): AsyncGenerator<Exchange> {
  let cursor: string | null = null
  let served = 0
  do {
    const p = await store.list(filter, { limit: Math.min(page, max - served), cursor })
    for (const ex of p.items) yield ex
    served += p.items.length
    cursor = p.next_cursor
  } while (cursor !== null && served < max)
}

/**
 * The same exchanges oldest first, in memory bounded by a page, not by the export. The store
 * pages newest first, so two passes. The first walks the export newest first and keeps only,
 * per page, the start time (ms) of its oldest exchange: the page boundaries. The second reads
 * the windows between boundaries from the oldest one on, each newest first (about a page) and
 * written reversed. Windows are half-open in ms, [boundary, next boundary), so they are disjoint
 * and an exchange sharing a millisecond with a boundary is written once. The newest window ends
 * at the newest start time the first pass saw (what starts during the export is left out); an
 * exchange recorded meanwhile with an older start (a long stream ending) is in its window. When
 * `max` cut the walk, the oldest window starts at the last exchange served and, at that
 * millisecond, keeps only those served.
 */
async function * oldestFirst (store: StoreReader, filter: ExchangeFilter, max: number, page: number): AsyncGenerator<Exchange> {
  const bounds: number[] = []
  let newest: number | null = null
  let cursor: string | null = null
  let served = 0
  // The ids served at the oldest millisecond so far (for a cut by `max`).
  let oldestMs = Number.NaN
  let atOldestMs: string[] = []
  do {
    const p = await store.list(filter, { limit: Math.min(page, max - served), cursor })
    const last = p.items[p.items.length - 1]
    if (last === undefined) break
    newest ??= startMs(p.items[0]!)
    for (const ex of p.items) {
      const t = startMs(ex)
      if (t !== oldestMs) {
        oldestMs = t
        atOldestMs = []
      }
      atOldestMs.push(ex.id)
    }
    bounds.push(startMs(last))
    served += p.items.length
    cursor = p.next_cursor
  } while (cursor !== null && served < max)
  if (newest === null) return
  // More exchanges than `max`: the export starts at the last one served, and at that millisecond
  // holds only what was served. Otherwise the oldest window is open below (to the filter's since).
  const cut = cursor !== null ? new Set(atOldestMs) : null
  for (let i = bounds.length - 1; i >= 0; i--) {
    const since = i === bounds.length - 1 && cut === null ? filter.since : Math.max(bounds[i]!, filter.since ?? -Infinity)
    const until = Math.min(i === 0 ? newest : bounds[i - 1]! - 1, filter.until ?? Infinity)
    if (since !== undefined && since > until) continue
    const window: Exchange[] = []
    for await (const ex of newestFirst(store, { ...filter, ...(since !== undefined ? { since } : {}), until }, Number.MAX_SAFE_INTEGER, page)) {
      // Windows are disjoint in ms: the one holding the cut's millisecond is the only one to check.
      if (cut !== null && startMs(ex) === oldestMs && !cut.has(ex.id)) continue
      window.push(ex)
    }
    for (let j = window.length - 1; j >= 0; j--) yield window[j]!
  }
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

/**
 * The request body as HAR: `postData` with the redacted text where capture kept it (verbose
 * capture; a JSON body as JSON text, a body cut at the capture bound says so in its comment).
 * Where no text was kept (metadata capture, a binary body kept as its size), there is no
 * postData: HAR 1.2 has postData carry the posted text, and an empty or placeholder text would
 * replay as a different body. The request's comment then says a body was sent and not kept.
 */
function harRequestBody (req: Exchange['request']): { postData?: Record<string, string>, comment?: string } {
  const text = bodyText(req.body)
  if (text === undefined || text === `[binary: ${req.bytes} bytes]`) {
    if (req.bytes <= 0) return {}
    return { comment: `request body of ${req.bytes} bytes not captured${text === undefined ? ' (verbose capture keeps bodies)' : ' (binary)'}` }
  }
  return {
    postData: {
      mimeType: req.content_type ?? '',
      text,
      ...(req.body_truncated === true ? { comment: `cut at the capture bound: the request had ${req.bytes} bytes` } : {})
    }
  }
}

/** Characters a URI holds as they are (RFC 3986: unreserved, reserved but '[', ']', '#', and '%' escapes). */
const NOT_IN_URI = /%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~:/?@!$&'()*+,;=%]/gu

/**
 * The request URL as a valid URI: what capture redacted reads `[FILTERED]`, and brackets (like
 * any character a URI cannot hold) are percent-encoded after the authority. The query as
 * recorded is in `_duo_diag.query` for `replay --har`.
 */
function harUrl (upstream: string, query: string): string {
  const raw = upstream + (query !== '' ? `?${query}` : '')
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(.*)$/is.exec(raw)
  const [authority, rest] = m === null ? ['', raw] : [m[1]!, m[2]!]
  return authority + rest.replace(NOT_IN_URI, (c) => {
    try {
      return encodeURIComponent(c)
    } catch {
      return '%EF%BF%BD' // a lone surrogate: U+FFFD
    }
  })
}

/** One HAR 1.2 entry. Redacted like the store; proxy extras under `_duo_diag`. */
export function harEntry (ex: Exchange): Record<string, unknown> {
  const ttfb = ex.timings.ttfb_ms ?? ex.timings.duration_ms
  const url = harUrl(ex.upstream, ex.query)
  const resText = bodyText(ex.response?.body)
  // The upstream's version is not recorded; the proxy speaks HTTP/1.1 to it.
  const httpVersion = 'HTTP/1.1'
  const { postData, comment } = harRequestBody(ex.request)
  return {
    startedDateTime: ex.started_at,
    time: ex.timings.duration_ms,
    request: {
      method: ex.method,
      url,
      httpVersion: ex.http_version !== undefined ? `HTTP/${ex.http_version}` : httpVersion,
      cookies: [],
      headers: headerList(ex.request.headers),
      queryString: [...new URLSearchParams(ex.query)].map(([name, value]) => ({ name, value })),
      ...(postData !== undefined ? { postData } : {}),
      headersSize: -1,
      bodySize: ex.request.bytes,
      ...(comment !== undefined ? { comment } : {})
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
      // upstream base path is not part of it), the query as recorded (the URL's is
      // percent-encoded), a null ttfb, and whether the body was cut.
      path: ex.path,
      query: ex.query,
      timings: ex.timings,
      request_body_truncated: ex.request.body_truncated === true
    }
  }
}

const HAR_COMMENT = 'Redacted like the store: secrets read [FILTERED]. Entries oldest first. Request bodies (postData) where capture kept them ' +
  '(verbose capture); the proxy record of each entry is under _duo_diag.'

/** The log's head; a trace's imported log lines ride in its `_duo_diag` (a custom field: HAR stays valid). */
function harHead (version: string, lang: string | undefined, logEvents?: readonly LogEvent[]): string {
  const comment = `${HAR_COMMENT} Diagnosis texts in language: ${lang ?? 'en'}.${logEvents !== undefined ? ' Imported log lines under _duo_diag.log_events.' : ''}`
  const extra = logEvents !== undefined ? `,"log_events":${JSON.stringify(logEvents)}` : ''
  return `{"log":{"version":"1.2","creator":{"name":"duo-diag-proxy","version":${JSON.stringify(version)}},"pages":[],` +
    `"comment":${JSON.stringify(comment)},"_duo_diag":{"lang":${JSON.stringify(lang ?? 'en')}${extra}},"entries":[`
}

/** A few exchanges (a trace's) as one HAR document, oldest first; the same shape as the export's, with the trace's log lines. */
export function harDocument (exchanges: readonly Exchange[], version: string, lang?: string, logEvents?: readonly LogEvent[]): string {
  const sorted = [...exchanges].sort((a, b) => startMs(a) - startMs(b))
  return harHead(version, lang, logEvents) + sorted.map((ex) => '\n' + JSON.stringify(harEntry(ex))).join(',') + '\n]}}\n'
}

/**
 * An export as text chunks, streamed page by page: a large export never sits in memory.
 * HAR opens in browser dev tools and lists its entries oldest first, as browsers write them and
 * replay tools play them. NDJSON is one exchange per line, newest first like the API's list and
 * the CLI's tables (the latest is at the top, and `head` takes it); one pass over the store.
 */
export async function * exportChunks (store: StoreReader, format: ExportFormat, filter: ExchangeFilter, opts: ExportOptions): AsyncGenerator<string> {
  const page = opts.pageSize ?? PAGE
  const localize = opts.localize ?? ((ex: Exchange) => ex)
  if (format === 'ndjson') {
    // Each line's diagnosis.lang states the language of its texts.
    for await (const ex of newestFirst(store, filter, opts.max, page)) yield JSON.stringify(localize(ex)) + '\n'
    return
  }
  yield harHead(opts.version, opts.lang)
  let first = true
  for await (const ex of oldestFirst(store, filter, opts.max, page)) {
    yield (first ? '\n' : ',\n') + JSON.stringify(harEntry(localize(ex)))
    first = false
  }
  yield '\n]}}\n'
}
