/**
 * Upstreams that fail at the transport level, for the proxy's failure diagnosis: refused
 * ports, hangs, resets, protocol mismatches and TLS endpoints (self-signed, expired, ...).
 */
import { createServer as createNetServer } from 'node:net'
import { closeServer, listenEphemeral } from './net.js'
import { sendJson, startSimServer, type SimHandler, type SimServer, type TlsOptions } from './sim-server.js'

/** A port that was bound and released: connecting to it is refused (ECONNREFUSED). */
export async function refusedPort (): Promise<number> {
  const server = createNetServer()
  const port = await listenEphemeral(server)
  await closeServer(server)
  return port
}

/**
 * Accepts connections and reads requests, never answers. Non-HTTP bytes (a TLS
 * ClientHello) hang too instead of getting Node's automatic 400.
 */
export function startHangingServer (): Promise<SimServer> {
  return startSimServer(() => undefined, {
    setup: (server) => server.on('clientError', () => undefined)
  })
}

/** Reads each request completely, then destroys the socket without a response. */
export function startResetServer (): Promise<SimServer> {
  return startSimServer(({ req }) => {
    req.socket.destroy()
  }, { setup: (server) => server.on('clientError', (_err, socket) => socket.destroy()) })
}

/**
 * Plain HTTP answering 200 {"ok":true}. Reached over https, the client's ClientHello gets
 * Node's automatic "400 Bad Request" back and the TLS handshake fails.
 */
export function startPlainHttpServer (): Promise<SimServer> {
  return startSimServer(({ res }) => sendJson(res, 200, { ok: true }))
}

/** An https server with the given certificate; default handler answers 200 {"ok":true}. */
export function startTlsServer (tls: TlsOptions, handler?: SimHandler): Promise<SimServer> {
  return startSimServer(handler ?? (({ res }) => sendJson(res, 200, { ok: true })), { tls })
}
