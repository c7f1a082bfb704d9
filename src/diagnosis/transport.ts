import { hint } from './codes.js'
import type { Flag } from './flags.js'

/** Our own abort reason when the caller hangs up; never leaves the process. */
export const CLIENT_ABORTED_CODE = 'DDP_CLIENT_ABORTED'
/** The proxy itself cut the exchange: a forced stop (a second SIGTERM/SIGINT) while in flight. */
export const PROXY_STOPPED_CODE = 'DDP_PROXY_STOPPED'

/** OpenSSL certificate-verification codes as Node reports them. */
const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_CRL',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID'
])

export function isTlsErrorCode (code: string): boolean {
  return TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO'
}

export interface TransportClass {
  /** The most specific flag, first; `timeout` accompanies each timeout phase. */
  flags: Flag[]
  /** The status the proxy answers with when it has to answer itself. */
  status: 502 | 504
}

/**
 * Names a transport failure from its error code. Total: an unknown code is an `upstream_error`.
 * `afterHeaders` distinguishes a reset before any response from a stream cut off mid-way.
 */
export function classifyTransport (code: string, afterHeaders: boolean): TransportClass {
  switch (code) {
    case CLIENT_ABORTED_CODE:
      return { flags: ['client_aborted'], status: 502 }
    case 'ECONNREFUSED':
      return { flags: ['connection_refused'], status: 502 }
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return { flags: ['network_unreachable'], status: 502 }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
    case 'EAI_NODATA':
      return { flags: ['dns_failure'], status: 502 }
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return { flags: ['connect_timeout', 'timeout'], status: 504 }
    case 'UND_ERR_HEADERS_TIMEOUT':
      return { flags: ['headers_timeout', 'timeout'], status: 504 }
    case 'UND_ERR_BODY_TIMEOUT':
      return { flags: ['body_timeout', 'timeout', ...(afterHeaders ? ['stream_aborted' as const] : [])], status: 504 }
  }
  if (isTlsErrorCode(code)) return { flags: ['tls_error'], status: 502 }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return { flags: [afterHeaders ? 'stream_aborted' : 'connection_reset'], status: 502 }
  }
  return { flags: afterHeaders ? ['stream_aborted'] : ['upstream_error'], status: 502 }
}

/**
 * One-line hint for the proxy's own error response (English: it goes to the caller, GitLab);
 * diagnosis gives the full cause and next steps.
 */
export function transportHint (flag: Flag, upstream: string): string {
  switch (flag) {
    case 'connection_refused':
      return hint('connection_refused', { upstream })
    case 'network_unreachable':
      return hint('network_unreachable', { upstream })
    case 'dns_failure':
      return hint('dns_failure', { upstream })
    case 'connect_timeout':
      return hint('connect_timeout', { upstream })
    case 'headers_timeout':
      return hint('headers_timeout', { upstream })
    case 'tls_error':
      return hint('tls_error', { upstream })
    case 'connection_reset':
      return hint('connection_reset', { upstream })
    default:
      return hint('request_failed', { upstream })
  }
}
