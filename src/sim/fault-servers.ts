/**
 * Upstreams that fail at the transport level, for the proxy's failure diagnosis: refused
 * ports, hangs, resets, protocol mismatches and TLS endpoints (self-signed, expired, ...).
 */
import { readFileSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { closeServer, listenEphemeral } from './net.js'
import { sendJson, startSimServer, type SimHandler, type SimServer, type TlsOptions } from './sim-server.js'

/** The kernel's first ephemeral port (Linux); 32768 where it cannot be read. */
function ephemeralLow (): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 21_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

/**
 * A port that was bound and released: connecting to it is refused (ECONNREFUSED). Taken below
 * the ephemeral range, which every `listen(0)` of the simulators and tests draws from: a released
 * ephemeral port could be handed to the next server started — a parallel test's TLS upstream once
 * answered the demo's "gateway down" route, which then failed with tls_error.
 */
export async function refusedPort (): Promise<number> {
  const top = Math.min(ephemeralLow(), 32_768)
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * (top - 20_000))
    const server = createNetServer()
    try {
      await listenEphemeral(server, port)
    } catch {
      continue
    }
    await closeServer(server)
    return port
  }
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
