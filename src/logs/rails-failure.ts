/**
 * How Rails failed to reach the AI gateway, from the exception text llm.log quotes as `message`
 * of Duo Chat's A9999/A1003 answer (ee/lib/gitlab/duo/chat/react_executor.rb #error_answer):
 * Ruby's and net-http's own words (docs/log-formats.md §1.2, §6.4), named by the transport error
 * code the proxy would have recorded on the same hop (diagnosis/transport.ts).
 */
import { tlsCodeFromReason } from './tls-reason.js'

export interface RailsTransportFailure {
  /** Node's code for the same failure: ECONNREFUSED, ENOTFOUND, a TLS code, …. */
  code: string
  /** The gateway URL Rails used, as far as the text names it (scheme, host, port). */
  upstream: string | null
  /** The gateway had started its answer (EOFError mid-stream). */
  afterHeaders: boolean
}

// `Failed to open TCP connection to aigw.internal:5052 (Connection refused - connect(2) for "aigw.internal" port 5052)`
const OPEN_TCP = /Failed to open TCP connection to \[?([^\s()[\]]{1,300}?)\]?:(\d{1,5}) \(([^\n]{0,300})\)/
// `SSL_connect returned=1 errno=0 peeraddr=10.20.0.15:5052 state=error: certificate verify failed (self-signed certificate)`
const SSL_CONNECT = /SSL_connect returned=\d{1,3} errno=\d{1,5}(?: peeraddr=(\S{1,300}))? state=[^:\n]{1,100}: ?([^\n]{0,300})/
// `hostname "aigw" does not match the server certificate` (OpenSSL::SSL.verify_certificate_identity)
const HOSTNAME = /hostname "[^"\n]{1,300}" does not match the server certificate/
const REFUSED_FOR = /Connection refused - connect\(2\) for "([^"\n]{1,300})" port (\d{1,5})/

/** Ruby's errno texts inside `Failed to open TCP connection … (…)`. */
const CONNECT_ERRORS: ReadonlyArray<[RegExp, string]> = [
  [/Connection refused/i, 'ECONNREFUSED'],
  [/Temporary failure in name resolution/i, 'EAI_AGAIN'],
  [/getaddrinfo|Name or service not known|nodename nor servname|No address associated/i, 'ENOTFOUND'],
  [/execution expired|timed out|OpenTimeout/i, 'ETIMEDOUT'],
  [/No route to host/i, 'EHOSTUNREACH'],
  [/Network is unreachable/i, 'ENETUNREACH'],
  [/Connection reset/i, 'ECONNRESET']
]

function url (scheme: 'http' | 'https', host: string, port: string): string {
  const h = host.includes(':') ? `[${host}]` : host
  return `${port === '443' ? 'https' : scheme}://${h}:${port}`
}

export function railsTransportFailure (message: string): RailsTransportFailure | null {
  const ssl = SSL_CONNECT.exec(message)
  if (ssl !== null) {
    const peer = ssl[1] === undefined ? null : /^(.{1,300}):(\d{1,5})$/.exec(ssl[1])
    return { code: tlsCodeFromReason(ssl[2] ?? ''), upstream: peer === null ? null : url('https', peer[1]!, peer[2]!), afterHeaders: false }
  }
  if (HOSTNAME.test(message)) return { code: 'HOSTNAME_MISMATCH', upstream: null, afterHeaders: false }
  const open = OPEN_TCP.exec(message)
  if (open !== null) {
    const code = CONNECT_ERRORS.find(([re]) => re.test(open[3]!))?.[1]
    if (code !== undefined) return { code, upstream: url('http', open[1]!, open[2]!), afterHeaders: false }
  }
  const refused = REFUSED_FOR.exec(message)
  if (refused !== null) return { code: 'ECONNREFUSED', upstream: url('http', refused[1]!, refused[2]!), afterHeaders: false }
  if (/Connection reset by peer|ECONNRESET/.test(message)) return { code: 'ECONNRESET', upstream: null, afterHeaders: false }
  // EOFError (A1003): the gateway closed the stream it had started.
  if (/^end of file reached$|EOFError/.test(message)) return { code: 'UND_ERR_SOCKET', upstream: null, afterHeaders: true }
  return null
}

/** Net::ReadTimeout and its Gitlab::HTTP_V2 subclasses (A1000): Rails stopped waiting for the gateway. */
export function isRailsReadTimeout (message: string, errorCode: string | undefined): boolean {
  return errorCode === 'A1000' || /Net::ReadTimeout|ReadTotalTimeout|HeaderReadTimeout/.test(message)
}
