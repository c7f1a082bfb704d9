/** One HTTP exchange with a simulator through undici: status, headers and the whole body text. */
import { request, type Dispatcher } from 'undici'

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => unknown
}

/** GET without a body, POST (JSON-encoded unless a string) with one. */
export async function call (
  url: string,
  opts: { method?: Dispatcher.HttpMethod, body?: unknown, headers?: Record<string, string>, dispatcher?: Dispatcher, headersTimeout?: number, bodyTimeout?: number } = {}
): Promise<Reply> {
  const res = await request(url, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', ...opts.headers },
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
    dispatcher: opts.dispatcher,
    headersTimeout: opts.headersTimeout,
    bodyTimeout: opts.bodyTimeout
  })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as unknown }
}
