import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { ConnectionGuard } from './connections.js'
import { HttpForward, rejectConnect, rejectMalformed, type RouteRuntime, UpgradeForward } from './forward.js'

/** How long callers may take, and how many may be connected at once. */
export interface CallerLimits {
  /** Request headers must arrive within this (Node answers 408). */
  headersMs: number
  /** The whole request, headers and body, within this. */
  requestMs: number
  maxConnections: number
}

export interface RouteServer {
  server: Server
  connections: ConnectionGuard
}

/**
 * The data plane of one route: a plain node:http server whose every request is forwarded by
 * undici. No router, no framework: measured, a framework in front adds milliseconds at p99.
 */
export function createRouteServer (route: RouteRuntime, limits: CallerLimits): RouteServer {
  const server = createServer({
    // Longer than the callers' pools keep idle connections (Workhorse, Rails, httpx), so a
    // reused connection is never one the proxy is just closing.
    keepAliveTimeout: 65_000,
    headersTimeout: limits.headersMs,
    requestTimeout: limits.requestMs,
    // Node checks both timeouts on this period (30 s by default): a slow sender would hold its
    // slot up to that much longer than configured.
    connectionsCheckingInterval: Math.min(1_000, limits.headersMs),
    // Node answers 431 itself past this (16 KiB is Node's default too; stated for clarity).
    maxHeaderSize: 16 * 1024,
    noDelay: true,
    // Checked in the forwarder instead, so the refusal is recorded like any other.
    requireHostHeader: false
  }, function onRequest (req: IncomingMessage, res: ServerResponse) {
    new HttpForward(route, req, res).start(req)
  })
  const connections = new ConnectionGuard(server, limits.maxConnections)
  server.on('upgrade', function onUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer) {
    new UpgradeForward(route, req, socket, head).start(req)
  })
  // Without a listener Node destroys a CONNECT's socket unanswered and unrecorded. This is a
  // reverse proxy, not a tunnel: 405 with Allow (what nginx answers), recorded as request_rejected.
  server.on('connect', function onConnect (req: IncomingMessage, socket: Duplex) {
    rejectConnect(route, req, socket)
  })
  // Requests Node's strict parser refuses (malformed lines, CL+TE, duplicate Content-Length,
  // obs-fold, oversized headers) are answered and recorded, never forwarded. A caller that
  // merely hung up mid-request is not worth a record.
  server.on('clientError', function onClientError (err: Error & { code?: string }, socket: Duplex) {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
      socket.destroy()
      return
    }
    // client_request_ms ran out while the body was still coming: the forwarder of that request
    // answers and records it (it sees the caller go); a second answer would corrupt the stream.
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && connections.requestUnderWay(socket)) {
      if (connections.answerStarted(socket)) socket.destroy()
      else socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    rejectMalformed(route, err, socket)
  })
  return { server, connections }
}
