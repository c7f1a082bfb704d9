import type { Flag } from './flags.js'
import { classifyTransport } from './transport.js'

/** The facts flags are computed from; capture fills it, tests can too. */
export interface FlagInput {
  status: number | null
  /** Transport error code, when the exchange failed in transport. */
  failureCode: string | null
  failureAfterHeaders: boolean
  /** The proxy's own answer (413 etc.), when it rejected the request itself. */
  proxyAnsweredFlag: string | null
  clientAborted: boolean
  /** From the stream's tail: its end marker arrived; null when the stream has none to check. */
  streamComplete: boolean | null
  streamError: boolean
  /** A fault-injection rule was applied. */
  faultInjected?: boolean
}

export function statusFlag (status: number): Flag | null {
  if (status < 400) return null
  switch (status) {
    case 401: return 'unauthorized'
    case 403: return 'forbidden'
    case 404: return 'not_found'
    case 421: return 'model_error'
    case 429: return 'rate_limited'
  }
  return status >= 500 ? 'upstream_error' : 'client_error'
}

/** Total over its input: every combination yields a (possibly empty) list, in a stable order. */
export function classify (input: FlagInput): Flag[] {
  const flags: Flag[] = []
  const add = (f: Flag): void => {
    if (!flags.includes(f)) flags.push(f)
  }
  if (input.proxyAnsweredFlag === 'request_rejected') add('request_rejected')
  if (input.status !== null) {
    const f = statusFlag(input.status)
    if (f !== null) add(f)
  }
  // The caller leaving is not an upstream failure: our own abort must not look like one.
  if (input.failureCode !== null && !input.clientAborted && input.proxyAnsweredFlag !== 'request_rejected') {
    for (const f of classifyTransport(input.failureCode, input.failureAfterHeaders).flags) add(f)
  }
  if (input.status !== null && input.status < 300 && !input.clientAborted) {
    // The gateway's chat stream writes its error event and then drops the connection
    // (ai_gateway/chat/agents/react.py re-raises): the event is the failure, the drop follows it.
    if (input.streamError) add('stream_error')
    if (input.streamComplete === false && input.failureCode === null) add('stream_truncated')
  }
  if (input.clientAborted) add('client_aborted')
  if (input.faultInjected === true) add('fault_injected')
  return flags
}
