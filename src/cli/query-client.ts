import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { localizeExchange, localizePage, localizeSummary, localizeTrace } from '../api/localize.js'
import type { Exchange } from '../capture/exchange.js'
import type { Lang } from '../i18n/message.js'
import type { ReplayReport } from '../capture/replay-report.js'
import { openStore } from '../store/open.js'
import type { ExchangeStore } from '../store/store.js'
import { exportChunks, type ExportFormat } from '../store/export.js'
import { type FilterParams, toFilter } from '../store/filter-params.js'
import type { Summary } from '../store/summary.js'
import type { Trace } from '../store/trace.js'
import type { Page } from '../store/types.js'
import type { LogEventPage } from '../store/log-event-sql.js'
import { type LogEventParams, toLogEventFilter } from '../store/log-event-params.js'
import { VERSION } from '../version.js'
import { ClientError, msg, UsageError } from './output.js'

/** What the query commands need, from a running proxy's admin API or straight from the file. */
export interface QueryClient {
  list (params: FilterParams, limit: number, cursor: string | null): Promise<Page>
  get (id: string): Promise<Exchange | null>
  trace (correlationId: string): Promise<Trace | null>
  summary (params: FilterParams): Promise<Summary>
  exportTo (format: ExportFormat, params: FilterParams, dest: Writable): Promise<void>
  purge (params: FilterParams, all: boolean): Promise<number>
  /** Live exchanges until the signal aborts; `onOpen` once the stream is connected. */
  /** `onDropped`: the proxy skipped this many events because this reader fell behind. */
  tail (params: FilterParams, onExchange: (ex: Exchange) => void, signal: AbortSignal, onOpen?: () => void, onDropped?: (n: number) => void): Promise<void>
  /** A page of imported log lines, oldest first; null when the source has none to give (a proxy from before log import). */
  logEvents (params: LogEventParams, limit: number, cursor: string | null): Promise<LogEventPage | null>
  /** The running proxy's route names; null when they cannot be learned (a store file, an old proxy). */
  routes? (): Promise<string[] | null>
  close (): Promise<void>
}

export { ClientError }

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:5099'

/**
 * The admin API's base URL from `--admin`: a URL (http://127.0.0.1:5099, https://host/prefix),
 * or the address `start --admin` listens on: HOST:PORT, [V6]:PORT, :PORT or PORT (0.0.0.0 and
 * [::] are reached on loopback).
 */
export function adminBaseUrl (value: string | undefined, flag = '--admin', lang: Lang = 'en'): string {
  if (value === undefined) return DEFAULT_ADMIN_URL
  const text = value.trim()
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL | null = null
    try {
      url = new URL(text)
    } catch {
      // reported below
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new UsageError(msg(lang, 'admin.notHttp', { flag, value }))
    return `${url.origin}${url.pathname}`.replace(/\/+$/, '')
  }
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]*):)?(\d{1,5})$/.exec(text)
  if (m === null || Number(m[2]) > 65535) {
    throw new UsageError(msg(lang, 'admin.notAddress', { flag, value }))
  }
  let host = m[1] ?? ''
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1'
  if (host === '[::]') host = '[::1]'
  return `http://${host}:${m[2]}`
}

function query (params: Record<string, unknown>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** An error answer's message (`{"error", "message"}`), or its text. */
function errorMessage (text: string): string {
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text
  } catch {
    return text
  }
}

/**
 * Talks to a running proxy's admin API. Every request says `Accept-Language: <contentLang>`: the
 * API renders the diagnosis (cause, evidence, next steps) in that language from its stable codes.
 * `lang` is the language of this client's own errors; the content's is the same unless told
 * otherwise (`bundle` reads English content for its files, and speaks `lang` on the terminal).
 */
export class ApiClient implements QueryClient {
  constructor (private readonly base: string, private readonly token: string | null, private readonly lang: Lang = 'en', private readonly contentLang: Lang = lang) {}

  private headers (): Record<string, string> {
    return { 'accept-language': this.contentLang, ...(this.token === null ? {} : { authorization: `Bearer ${this.token}` }) }
  }

  private unreachable (err: unknown, hint: boolean): ClientError {
    const error = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    return new ClientError(msg(this.lang, hint ? 'client.unreachable' : 'client.unreachableBare', { base: this.base, error }))
  }

  private answered (status: number, message: string): ClientError {
    return new ClientError(msg(this.lang, 'client.answered', { status, message }))
  }

  private async call<T> (method: 'GET' | 'DELETE', path: string, allow404 = false): Promise<T | null> {
    let res
    try {
      res = await request(`${this.base}${path}`, { method, headers: this.headers() })
    } catch (err) {
      throw this.unreachable(err, true)
    }
    const text = await res.body.text()
    if (res.statusCode === 404 && allow404) return null
    if (res.statusCode !== 200) throw this.answered(res.statusCode, errorMessage(text))
    return JSON.parse(text) as T
  }

  /** Records a replay no proxy recorded (POST /api/exchanges/{id}/replays): the exchange as written. */
  async recordReplay (originalId: string, report: ReplayReport): Promise<Exchange> {
    let res
    try {
      res = await request(`${this.base}/api/exchanges/${encodeURIComponent(originalId)}/replays`, {
        method: 'POST',
        headers: { ...this.headers(), 'content-type': 'application/json' },
        body: JSON.stringify(report)
      })
    } catch (err) {
      throw this.unreachable(err, false)
    }
    const text = await res.body.text()
    if (res.statusCode !== 201) throw this.answered(res.statusCode, errorMessage(text))
    return JSON.parse(text) as Exchange
  }

  async list (params: FilterParams, limit: number, cursor: string | null): Promise<Page> {
    return (await this.call<Page>('GET', `/api/exchanges${query({ ...params, limit, cursor })}`))!
  }

  get (id: string): Promise<Exchange | null> {
    return this.call<Exchange>('GET', `/api/exchanges/${encodeURIComponent(id)}`, true)
  }

  trace (correlationId: string): Promise<Trace | null> {
    return this.call<Trace>('GET', `/api/traces/${encodeURIComponent(correlationId)}`, true)
  }

  async summary (params: FilterParams): Promise<Summary> {
    return (await this.call<Summary>('GET', `/api/summary${query({ ...params })}`))!
  }

  /** 404: a proxy from before log import, whose API has no such route. */
  logEvents (params: LogEventParams, limit: number, cursor: string | null): Promise<LogEventPage | null> {
    return this.call<LogEventPage>('GET', `/api/log-events${query({ ...params, limit, cursor })}`, true)
  }

  async exportTo (format: ExportFormat, params: FilterParams, dest: Writable): Promise<void> {
    let res
    try {
      res = await request(`${this.base}/api/export${query({ ...params, format })}`, { headers: this.headers() })
    } catch (err) {
      throw this.unreachable(err, true)
    }
    if (res.statusCode !== 200) throw this.answered(res.statusCode, await res.body.text())
    await pipeline(res.body, dest, { end: false })
  }

  async purge (params: FilterParams, all: boolean): Promise<number> {
    return (await this.call<{ removed: number }>('DELETE', `/api/exchanges${query({ ...params, ...(all ? { all: true } : {}) })}`))!.removed
  }

  async tail (params: FilterParams, onExchange: (ex: Exchange) => void, signal: AbortSignal, onOpen?: () => void, onDropped?: (n: number) => void): Promise<void> {
    let res
    try {
      res = await request(`${this.base}/api/stream${query({ ...params })}`, { headers: this.headers(), signal, bodyTimeout: 0 })
    } catch (err) {
      if (signal.aborted) return
      throw this.unreachable(err, false)
    }
    if (res.statusCode !== 200) throw this.answered(res.statusCode, await res.body.text())
    onOpen?.()
    let buffer = ''
    try {
      for await (const chunk of res.body) {
        buffer += chunk.toString()
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const lines = event.split('\n')
          const data = lines.find((l) => l.startsWith('data: '))
          if (data === undefined) continue
          if (lines.includes('event: dropped')) onDropped?.((JSON.parse(data.slice(6)) as { dropped: number }).dropped)
          else onExchange(JSON.parse(data.slice(6)) as Exchange)
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err
    }
  }

  /** From /metrics: every route has a duo_diag_connections_max series, traffic or not. */
  async routes (): Promise<string[] | null> {
    try {
      const res = await request(`${this.base}/metrics`, { headers: this.headers(), headersTimeout: 5_000, bodyTimeout: 5_000 })
      const text = await res.body.text()
      if (res.statusCode !== 200) return null
      const names = [...text.matchAll(/^duo_diag_connections_max\{(?:[^}]*,)?route="((?:[^"\\]|\\.)*)"/gm)].map((m) => JSON.parse(`"${m[1]!}"`) as string)
      return names.length === 0 ? null : [...new Set(names)]
    } catch {
      return null
    }
  }

  async close (): Promise<void> {}
}

/**
 * Reads (and purges) the store directly: a stopped proxy's SQLite file, or the shared
 * PostgreSQL database (every instance's records, running or not).
 */
export class DbClient implements QueryClient {
  private constructor (private readonly reader: ExchangeStore, private readonly lang: Lang) {}

  /** `lang`: the language the diagnoses read are rendered in, as the admin API renders them. */
  static async open (location: string, write = false, lang: Lang = 'en'): Promise<DbClient> {
    try {
      return new DbClient(await openStore(location, write ? { mustExist: true } : { readonly: true }), lang)
    } catch (err) {
      throw new ClientError((err as Error).message)
    }
  }

  async list (params: FilterParams, limit: number, cursor: string | null): Promise<Page> {
    return localizePage(await this.reader.list(toFilter(params), { limit, cursor }), this.lang)
  }

  async get (id: string): Promise<Exchange | null> {
    const e = await this.reader.get(id)
    return e === null ? null : localizeExchange(e, this.lang)
  }

  async trace (correlationId: string): Promise<Trace | null> {
    const trace = await this.reader.trace(correlationId)
    return trace === null ? null : localizeTrace(trace, this.lang)
  }

  async summary (params: FilterParams): Promise<Summary> {
    return localizeSummary(await this.reader.summary(toFilter(params)), this.lang)
  }

  logEvents (params: LogEventParams, limit: number, cursor: string | null): Promise<LogEventPage> {
    return this.reader.listLogEvents(toLogEventFilter(params), { limit, cursor })
  }

  async exportTo (format: ExportFormat, params: FilterParams, dest: Writable): Promise<void> {
    const localize = (ex: Exchange): Exchange => localizeExchange(ex, this.lang)
    await pipeline(Readable.from(exportChunks(this.reader, format, toFilter(params), { max: 10_000_000, version: VERSION, localize, lang: this.lang })), dest, { end: false })
  }

  purge (params: FilterParams): Promise<number> {
    return this.reader.purge(toFilter(params))
  }

  async tail (): Promise<void> {
    throw new UsageError(msg(this.lang, 'client.tailNeedsAdmin'))
  }

  close (): Promise<void> {
    return this.reader.close()
  }
}

