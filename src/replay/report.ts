import { EchoFilter } from '../capture/echo.js'
import { type HeaderMap, redactHeaders } from '../capture/redact.js'
import { buildHeaderRuleSet } from '../capture/redact-rules.js'
import type { Exchange } from '../capture/exchange.js'
import type { ReplayReport } from '../capture/replay-report.js'
import type { SendRequest, SendResult } from './send.js'

/** Where a replay no proxy recorded is recorded: the admin API of the store its original is in. */
export interface ReplayRecorder {
  recordReplay (originalId: string, report: ReplayReport): Promise<Exchange>
}

/** Body text reported: as much as a proxy samples by default (capture.sample_bytes). */
const BODY_CHARS = 64 * 1024

const HEADER_RULES = buildHeaderRuleSet()

/**
 * What to tell the admin API of a replay no proxy recorded (POST /api/exchanges/{id}/replays).
 * The credentials sent never leave this process: they are fingerprinted as capture fingerprints
 * them (the record names the same credential a proxy would have), and any echo of them in the
 * response is filtered. The admin API redacts all of it again, with its own rules.
 */
export function replayReport (target: string, path: string, sent: SendRequest, res: SendResult, sentAt: number): ReplayReport {
  const echo = new EchoFilter()
  const body = sent.body ?? ''
  return {
    sent_at: new Date(sentAt).toISOString(),
    target: withoutCredentials(target),
    request: {
      method: sent.method,
      path,
      headers: redactHeaders(flat(sent.headers), HEADER_RULES, echo.add),
      bytes: Buffer.byteLength(body),
      ...(body === '' ? {} : { body: body.length > BODY_CHARS ? body.slice(0, BODY_CHARS) : body })
    },
    response: res.status === null
      ? null
      : {
          status: res.status,
          headers: echo.filterJson(redactHeaders(flat(res.headers), HEADER_RULES)),
          bytes: res.bytes,
          head: echo.filter(res.head),
          tail: res.complete_head ? '' : echo.filter(res.tail)
        },
    timings: { ttfb_ms: res.ttfb_ms, duration_ms: res.duration_ms },
    error: res.error === null ? null : { code: res.error.code.slice(0, 64), message: echo.filter(res.error.message).slice(0, 1024) }
  }
}

/** The target's origin and base path: no user:password, query or fragment. */
function withoutCredentials (target: string): string {
  const url = new URL(target)
  return `${url.origin}${url.pathname}`
}

function flat (headers: HeaderMap): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) out.push(name, v)
  }
  return out
}
