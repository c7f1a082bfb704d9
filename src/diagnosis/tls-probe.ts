import { connect, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls'
import type { CertSummary, ChainSummary } from './tls-chain.js'

function summary (c: PeerCertificate): CertSummary {
  const name = (o: Record<string, string | string[] | undefined> | undefined): string =>
    o === undefined ? '' : Object.entries(o).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`).join(', ')
  return {
    subject: name(c.subject as unknown as Record<string, string>),
    issuer: name(c.issuer as unknown as Record<string, string>),
    valid_from: new Date(c.valid_from).toISOString(),
    valid_to: new Date(c.valid_to).toISOString(),
    ...(c.subjectaltname ? { san: c.subjectaltname } : {}),
    fingerprint256: c.fingerprint256
  }
}

/**
 * Connects to an upstream without verifying it, to see the chain it presents: evidence for a
 * tls_error and for `doctor`. Bounded in time; resolves null when no TLS handshake completes.
 */
export function probeTlsChain (host: string, port: number, servername: string, timeoutMs = 3_000, ca?: string | string[]): Promise<ChainSummary | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, servername: /^[\d.]+$|:/.test(servername) ? undefined : servername, rejectUnauthorized: false, ca })
    const done = (value: ChainSummary | null): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(value)
    }
    const timer = setTimeout(() => done(null), timeoutMs)
    socket.once('error', () => done(null))
    socket.once('secureConnect', () => {
      const certificates: CertSummary[] = []
      let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true)
      const seen = new Set<string>()
      while (cert !== undefined && cert.fingerprint256 !== undefined && !seen.has(cert.fingerprint256) && certificates.length < 8) {
        seen.add(cert.fingerprint256)
        certificates.push(summary(cert))
        cert = cert.issuerCertificate
      }
      const err = socket.authorizationError
      done({
        authorization_error: err === null || err === undefined ? null : String((err as unknown as { code?: string }).code ?? err),
        certificates,
        self_signed: certificates.length === 1 && certificates[0]!.subject === certificates[0]!.issuer
      })
    })
  })
}
