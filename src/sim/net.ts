/**
 * Small networking utilities shared by the simulators and the tests: listening on an
 * ephemeral 127.0.0.1 port, closing a server without waiting for idle keep-alive sockets,
 * and draining a body stream.
 */
import type { Server, Socket } from 'node:net'

/** Open sockets per server, so closeServer() can destroy them instead of waiting. */
const openSockets = new WeakMap<Server, Set<Socket>>()

/**
 * Start tracking a server's sockets (idempotent). listenEphemeral() calls it; call it
 * yourself only for a server you listen on some other way.
 */
export function trackSockets (server: Server): void {
  if (openSockets.has(server)) return
  const sockets = new Set<Socket>()
  openSockets.set(server, sockets)
  // 'connection' fires for the raw TCP socket on http, https and tls servers alike;
  // destroying it also tears down any TLS session or WebSocket riding on it.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
}

/** Listen on 127.0.0.1 (port 0 = ephemeral unless given) and resolve the bound port. */
export function listenEphemeral (server: Server, port = 0, host = '127.0.0.1'): Promise<number> {
  trackSockets(server)
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      const address = server.address()
      if (address === null || typeof address === 'string') {
        reject(new Error('server is not listening on a TCP port'))
        return
      }
      resolve(address.port)
    })
  })
}

/** Stop listening and destroy every open socket; resolves once the server is closed. */
export function closeServer (server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve()
      return
    }
    server.close((err) => {
      // ERR_SERVER_NOT_RUNNING: closed concurrently by someone else; that is fine.
      if (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') reject(err)
      else resolve()
    })
    for (const socket of openSockets.get(server) ?? []) socket.destroy()
    // Untracked http(s) servers (listened elsewhere) still lose their connections.
    if ('closeAllConnections' in server && typeof server.closeAllConnections === 'function') server.closeAllConnections()
  })
}

/** Read a whole body (node Readable, undici body, any async iterable of bytes) into a Buffer. */
export async function collectBody (stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk))
  return Buffer.concat(chunks)
}
