import { readFileSync } from 'node:fs'
import type { ExchangeMeta } from '../capture/exchange.js'
import { classifyPath, type Hop } from '../capture/features.js'
import type { HeaderMap, Json } from '../capture/redact.js'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'
import type { ReplayOriginal } from './original.js'

type Obj = Record<string, unknown>

export class HarError extends Error {
  readonly code = 'DDP_HAR'
}

function obj (v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {}
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function num (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/**
 * Every entry of a HAR file, oldest first. `duo-diag-proxy export` entries carry the record in
 * `_duo_diag`. A file that is no HAR is a HarError, said in `lang`.
 */
export function loadHar (file: string, lang: Lang = 'en'): ReplayOriginal[] {
  let doc: unknown
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new HarError(t(lang, 'cli:replay.har.notJson', { file, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message }))
  }
  const entries = obj(obj(doc).log).entries
  if (!Array.isArray(entries)) throw new HarError(t(lang, 'cli:replay.har.notHar', { file }))
  return entries.map((e, i) => fromHarEntry(obj(e), i, lang))
    .sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at))
}

/** One entry; a HAR from elsewhere (browser dev tools) works too, with less to show. */
export function fromHarEntry (entry: Obj, index: number, lang: Lang = 'en'): ReplayOriginal {
  const req = obj(entry.request)
  const d = obj(entry._duo_diag)
  const url = str(req.url)
  if (url === undefined) throw new HarError(t(lang, 'cli:replay.har.noUrl', { n: index + 1 }))
  const q = url.indexOf('?')
  // The query as recorded (the URL's is percent-encoded to be a valid URI); from a HAR written
  // elsewhere, split by hand: URL parsing would re-encode the query's "[FILTERED]" values.
  const query = str(d.query) ?? (q < 0 ? '' : url.slice(q + 1))
  let path = str(d.path)
  if (path === undefined) {
    try {
      path = new URL(url).pathname
    } catch {
      throw new HarError(t(lang, 'cli:replay.har.badUrl', { n: index + 1, url: url.slice(0, 100) }))
    }
  }
  const headers: HeaderMap = {}
  for (const h of Array.isArray(req.headers) ? req.headers : []) {
    const name = str(obj(h).name)?.toLowerCase()
    const value = str(obj(h).value)
    if (name === undefined || value === undefined) continue
    const prev = headers[name]
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value]
  }
  const post = obj(req.postData)
  const contentType = str(post.mimeType) || headerText(headers['content-type']) || null
  const text = str(post.text)
  let body: Json | undefined
  let truncated = d.request_body_truncated === true
  if (text !== undefined) {
    if (contentType !== null && /json/i.test(contentType)) {
      try {
        body = JSON.parse(text) as Json
      } catch {
        // A verbose body over the capture bound was kept cut: it no longer parses.
        truncated = true
      }
    } else {
      body = text
    }
  }
  const timings = obj(d.timings)
  const harTimings = obj(entry.timings)
  const duration = num(timings.duration_ms) ?? num(entry.time) ?? 0
  const ttfb = timings.ttfb_ms === null ? null : num(timings.ttfb_ms) ?? num(harTimings.wait) ?? null
  const hop = d.hop === 'gateway' || d.hop === 'model' ? d.hop as Hop : classifyPath(path, 'auto').hop
  const meta = (Object.keys(obj(d.meta)).length > 0 ? d.meta : { feature: classifyPath(path, 'auto').feature }) as ExchangeMeta
  const res = obj(entry.response)
  const status = num(res.status)
  const requestId = headerText(headers['x-request-id'])
  return {
    id: str(d.id) ?? `har-entry-${index + 1}`,
    correlation_id: str(d.correlation_id) ?? requestId ?? `har-${index + 1}`,
    route: str(d.route) ?? '-',
    hop,
    started_at: str(entry.startedDateTime) ?? new Date(0).toISOString(),
    method: (str(req.method) ?? 'GET').toUpperCase(),
    path,
    query,
    status: status === undefined || status === 0 ? null : status,
    flags: Array.isArray(d.flags) ? d.flags.filter((f): f is string => typeof f === 'string') : [],
    cause: str(obj(d.diagnosis).cause) ?? null,
    timings: { ttfb_ms: ttfb, duration_ms: duration },
    request: {
      headers,
      bytes: num(req.bodySize) !== undefined && (req.bodySize as number) >= 0 ? req.bodySize as number : Buffer.byteLength(text ?? ''),
      content_type: contentType,
      ...(body !== undefined ? { body } : {}),
      body_truncated: truncated
    },
    response_bytes: num(obj(res.content).size) ?? null,
    meta
  }
}

function headerText (v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}
