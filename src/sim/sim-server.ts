/**
 * The plumbing every simulator shares: an http or https server (127.0.0.1, ephemeral port by
 * default) that records each request (after reading its body) and hands it to a route
 * handler, plus JSON reply helpers.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { closeServer, collectBody, listenEphemeral } from './net.js'

export interface RecordedRequest {
  method: string
  /** Path with query string, exactly as received. */
  path: string
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
}

export interface SimServer {
  /** e.g. http://127.0.0.1:PORT (https:// when started with tls) */
  url: string
  port: number
  /** Every request received, in arrival order (never trimmed: for tests and short demos). */
  requests: RecordedRequest[]
  /** Stop listening and destroy open sockets (including hung and streaming ones). */
  close (): Promise<void>
}

export interface TlsOptions {
  key: string
  cert: string
}

/** Where a simulator listens; default 127.0.0.1 on an ephemeral port. */
export interface ListenOptions {
  host?: string
  port?: number
}

export interface SimContext {
  req: IncomingMessage
  res: ServerResponse
  method: string
  /** Path without the query string. */
  pathname: string
  query: URLSearchParams
  body: Buffer
  recorded: RecordedRequest
  /** Aborted when the response closes (finished, or the connection went away). */
  signal: AbortSignal
}

export type SimHandler = (ctx: SimContext) => Promise<void> | void

export interface SimServerOptions {
  tls?: TlsOptions
  listen?: ListenOptions
  /** Value of the `server` response header (the Python services run on uvicorn). */
  serverHeader?: string
  /** Called with the server before it listens (extra listeners, e.g. 'upgrade'). */
  setup?: (server: Server) => void
  /** Keep every request in `requests` (default true); services turn it off. */
  record?: boolean
}

export async function startSimServer (handler: SimHandler, opts: SimServerOptions = {}): Promise<SimServer> {
  const requests: RecordedRequest[] = []
  const record = opts.record ?? true

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const controller = new AbortController()
    res.once('close', () => controller.abort())
    if (opts.serverHeader !== undefined) res.setHeader('server', opts.serverHeader)
    void (async () => {
      const body = await collectBody(req)
      const url = req.url ?? '/'
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body
      }
      if (record) requests.push(recorded)
      const parsed = new URL(url, 'http://sim.invalid')
      await handler({
        req,
        res,
        method: recorded.method,
        pathname: parsed.pathname,
        query: parsed.searchParams,
        body,
        recorded,
        signal: controller.signal
      })
    })().catch((err: unknown) => {
      // Aborted sleeps and reads after the client (or close()) went away are expected.
      if (controller.signal.aborted || res.destroyed || req.destroyed) return
      console.error('simulator handler failed:', err)
      if (!res.headersSent) sendJson(res, 500, { detail: 'Internal Server Error' })
      else res.destroy()
    })
  }

  const server: Server = opts.tls
    ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest)
    : createHttpServer(onRequest)
  opts.setup?.(server)
  const host = opts.listen?.host ?? '127.0.0.1'
  const port = await listenEphemeral(server, opts.listen?.port ?? 0, host)
  return {
    url: `${opts.tls ? 'https' : 'http'}://${urlHost(host)}:${port}`,
    port,
    requests,
    close: () => closeServer(server)
  }
}

/** A host for URLs: the loopback address when listening on every interface. */
function urlHost (host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') ? `[${host}]` : host
}

/** A complete JSON reply with content-length. */
export function sendJson (res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(payload)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text))
  })
  res.end(text)
}

/** A reply with no body (e.g. vLLM's GET /health). */
export function sendEmpty (res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0' })
  res.end()
}
