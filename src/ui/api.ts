/**
 * The view's only way to the proxy: the public JSON API under /api (OpenAPI-described), with the
 * admin token when one is set. The token lives in this tab's sessionStorage, never in a cookie
 * (a cookie would ride along on requests other pages make) and never in a URL.
 */
import { currentLang } from './i18n.js'
import type { Exchange } from './types.js'

const TOKEN_KEY = 'duo-diag-proxy.token'

export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** 401: the API wants a token, or refused the one sent. */
export class Unauthorized extends ApiError {}

let unauthorizedListener: (hadToken: boolean) => void = () => undefined

export function onUnauthorized (listener: (hadToken: boolean) => void): void {
  unauthorizedListener = listener
}

export function getToken (): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export function setToken (token: string | null): void {
  try {
    if (token === null || token === '') sessionStorage.removeItem(TOKEN_KEY)
    else sessionStorage.setItem(TOKEN_KEY, token)
  } catch {
    // Storage disabled: the token lasts as long as the page (see below).
  }
  memoryToken = token
}

let memoryToken: string | null = null

function headers (accept = 'application/json'): Record<string, string> {
  const h: Record<string, string> = { accept, 'accept-language': currentLang() }
  const token = getToken() ?? memoryToken
  if (token !== null && token !== '') h.authorization = `Bearer ${token}`
  return h
}

export type Params = Record<string, string | string[] | number | undefined | null>

export function queryString (params: Params): string {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue
    if (Array.isArray(v)) for (const x of v) u.append(k, x)
    else u.append(k, String(v))
  }
  const s = u.toString()
  return s === '' ? '' : `?${s}`
}

async function failure (res: Response): Promise<ApiError> {
  let code = 'error'
  let message = `${res.status} ${res.statusText}`
  try {
    const body = await res.json() as { error?: string, message?: string }
    code = body.error ?? code
    message = body.message ?? message
  } catch {
    // Not JSON: the status says it.
  }
  if (res.status === 401) {
    const had = headers().authorization !== undefined
    unauthorizedListener(had)
    return new Unauthorized(401, code, message)
  }
  return new ApiError(res.status, code, message)
}

export async function getJson<T> (path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path + queryString(params), { headers: headers(), cache: 'no-store', credentials: 'omit', signal })
  if (!res.ok) throw await failure(res)
  return await res.json() as T
}

/**
 * A state change with a JSON body. Always `Content-Type: application/json`: no page elsewhere can
 * send that without a CORS preflight (never granted), so the request guard accepts only ours.
 */
export async function sendJson<T> (method: 'POST' | 'PUT' | 'PATCH', path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { ...headers(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit'
  })
  if (!res.ok) throw await failure(res)
  return await res.json() as T
}

/** DELETE: by its method alone a request no other page can send without a preflight. */
export async function del<T> (path: string, params: Params = {}): Promise<T> {
  const res = await fetch(path + queryString(params), { method: 'DELETE', headers: headers(), cache: 'no-store', credentials: 'omit' })
  if (!res.ok) throw await failure(res)
  return await res.json() as T
}

/** A download through fetch (a plain link could not send the token), saved under the server's name. */
export async function download (path: string, params: Params, fallbackName: string): Promise<void> {
  const res = await fetch(path + queryString(params), { headers: headers('*/*'), cache: 'no-store', credentials: 'omit' })
  if (!res.ok) throw await failure(res)
  const disposition = res.headers.get('content-disposition') ?? ''
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName
  const url = URL.createObjectURL(await res.blob())
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export type TailState = 'connecting' | 'live' | 'retrying' | 'closed'

/**
 * The live tail (GET /api/stream, server-sent events) read with fetch and a stream reader:
 * EventSource cannot send the Authorization header. Reconnects after a pause until aborted.
 */
export function tail (params: Params, onExchange: (ex: Exchange) => void, onState: (s: TailState, detail?: string) => void): () => void {
  const controller = new AbortController()
  let retryMs = 1_000
  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      onState('connecting')
      try {
        const res = await fetch('/api/stream' + queryString(params), { headers: headers('text/event-stream'), cache: 'no-store', credentials: 'omit', signal: controller.signal })
        if (!res.ok || res.body === null) {
          const err = await failure(res)
          if (err instanceof Unauthorized) {
            onState('closed', err.message)
            return
          }
          throw err
        }
        onState('live')
        retryMs = 1_000
        // Server-sent events are blocks ended by a blank line; the rest of a block that the
        // stream ends in is no event.
        for await (const block of pieces(res.body, '\n\n', false)) {
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim()
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
          }
          if (event === 'exchange' && data.length > 0) onExchange(JSON.parse(data.join('\n')) as Exchange)
        }
      } catch (err) {
        if (controller.signal.aborted) break
        onState('retrying', (err as Error).message)
      }
      if (controller.signal.aborted) break
      onState('retrying')
      await new Promise((resolve) => setTimeout(resolve, retryMs))
      retryMs = Math.min(retryMs * 2, 15_000)
    }
    onState('closed')
  }
  void run()
  return () => controller.abort()
}

/**
 * A POST whose answer is NDJSON (POST /api/doctor), read with a stream reader: each line is
 * handed on as soon as it is complete, not when the answer ends. Sent as application/json,
 * a request no other page can make without a preflight. Throws ApiError on an error status.
 */
export async function postNdjson (path: string, body: unknown, onLine: (line: unknown) => void, signal?: AbortSignal): Promise<void> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { ...headers('application/x-ndjson'), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
    signal
  })
  if (!res.ok || res.body === null) throw await failure(res)
  for await (const line of pieces(res.body, '\n', true)) {
    if (line.trim() !== '') onLine(JSON.parse(line))
  }
}

/**
 * A streamed text answer cut at `separator`, each piece handed on as soon as it is complete;
 * `withRest`: the text after the last separator too, when the stream ends.
 */
async function * pieces (body: NonNullable<Response['body']>, separator: string, withRest: boolean): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let end: number
    while ((end = buffer.indexOf(separator)) >= 0) {
      yield buffer.slice(0, end)
      buffer = buffer.slice(end + separator.length)
    }
  }
  if (withRest && buffer !== '') yield buffer
}
