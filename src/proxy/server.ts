import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { HttpForward, rejectMalformed, type RouteRuntime, UpgradeForward } from './forward.js'

/**
 * The data plane of one route: a plain node:http server whose every request is forwarded by
 * undici. No router, no framework: measured, a framework in front adds milliseconds at p99.
 */
export function createRouteServer (route: RouteRuntime): Server {
  const server = createServer({
    // Longer than the callers' pools keep idle connections (Workhorse, Rails, httpx), so a
    // reused connection is never one the proxy is just closing.
    keepAliveTimeout: 65_000,
    // Node answers 431 itself past this (16 KiB is Node's default too; stated for clarity).
    maxHeaderSize: 16 * 1024,
    noDelay: true,
    // Checked in the forwarder instead, so the refusal is recorded like any other.
    requireHostHeader: false
  }, function onRequest (req: IncomingMessage, res: ServerResponse) {
    new HttpForward(route, req, res).start(req)
  })
  server.on('upgrade', function onUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer) {
    new UpgradeForward(route, req, socket, head).start(req)
  })
  // Requests Node's strict parser refuses (malformed lines, CL+TE, duplicate Content-Length,
  // obs-fold, oversized headers) are answered and recorded, never forwarded. A caller that
  // merely hung up mid-request is not worth a record.
  server.on('clientError', function onClientError (err: Error & { code?: string }, socket: Duplex) {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
      socket.destroy()
      return
    }
    rejectMalformed(route, err, socket)
  })
  return server
}
