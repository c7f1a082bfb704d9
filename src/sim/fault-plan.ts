/**
 * Fault injection shared by the simulators, driven by the `x-sim-fault` request header.
 * Clients send the header through the proxy, so the proxy sees the failure on a real socket.
 *
 * Values (comma-separated to combine, e.g. `delay-headers:200,truncate`):
 *   hang                   read the request, never answer
 *   stall-after-headers    send 200 + SSE headers, then nothing
 *   reset-before-headers   destroy the socket without answering
 *   reset-mid-stream       send two chunks (or half a JSON body), then destroy the socket
 *   truncate               end the response cleanly but without the stream's terminal parts
 *   slow-first-chunk:MS    headers at once, first body chunk after MS
 *   status:CODE            answer CODE with a plausible error body
 *   delay-headers:MS       wait MS before answering at all
 *
 * This module parses the header and applies the faults that act before an answer; the ones
 * that act inside a body are FaultyWriter's (faulty-writer.ts).
 */
import { setTimeout as delay } from 'node:timers/promises'
import { sendJson, type SimContext } from './sim-server.js'

export const FAULT_HEADER = 'x-sim-fault'

export interface FaultPlan {
  hang: boolean
  stallAfterHeaders: boolean
  resetBeforeHeaders: boolean
  resetMidStream: boolean
  truncate: boolean
  slowFirstChunkMs: number
  delayHeadersMs: number
  status?: number
}

export class UnknownFaultError extends Error {}

export function parseFaults (header: string | string[] | undefined): FaultPlan {
  const plan: FaultPlan = {
    hang: false,
    stallAfterHeaders: false,
    resetBeforeHeaders: false,
    resetMidStream: false,
    truncate: false,
    slowFirstChunkMs: 0,
    delayHeadersMs: 0
  }
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '')
  for (const token of raw.split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    const [name = '', arg] = token.split(':', 2)
    const num = arg === undefined ? NaN : Number(arg)
    switch (name) {
      case 'hang': plan.hang = true; break
      case 'stall-after-headers': plan.stallAfterHeaders = true; break
      case 'reset-before-headers': plan.resetBeforeHeaders = true; break
      case 'reset-mid-stream': plan.resetMidStream = true; break
      case 'truncate': plan.truncate = true; break
      case 'slow-first-chunk': plan.slowFirstChunkMs = requireInt(token, num); break
      case 'delay-headers': plan.delayHeadersMs = requireInt(token, num); break
      case 'status': plan.status = requireInt(token, num); break
      default: throw new UnknownFaultError(`unknown ${FAULT_HEADER} '${token}'`)
    }
  }
  return plan
}

function requireInt (token: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new UnknownFaultError(`bad ${FAULT_HEADER} '${token}'`)
  return value
}

/** Sleep that rejects (AbortError) when the response closes, so close() never waits on timers. */
export function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return ms > 0 ? delay(ms, undefined, { signal }) : Promise.resolve()
}

export interface FaultReply {
  body: unknown
  headers?: Record<string, string>
}

/**
 * Parse the header and apply every fault that acts before a normal answer. Returns the
 * plan to keep applying while answering, or undefined when the fault took over the request.
 * `statusReply` builds the service-specific error body for `status:CODE`.
 */
export async function applyEarlyFaults (ctx: SimContext, statusReply: (code: number) => FaultReply): Promise<FaultPlan | undefined> {
  let plan: FaultPlan
  try {
    plan = parseFaults(ctx.req.headers[FAULT_HEADER])
  } catch (err) {
    if (!(err instanceof UnknownFaultError)) throw err
    sendJson(ctx.res, 400, { detail: err.message })
    return undefined
  }
  await sleep(plan.delayHeadersMs, ctx.signal)
  if (plan.hang) return undefined
  if (plan.resetBeforeHeaders) {
    ctx.req.socket.destroy()
    return undefined
  }
  if (plan.status !== undefined) {
    const reply = statusReply(plan.status)
    const headers = plan.status === 429 ? { 'retry-after': '1', ...reply.headers } : (reply.headers ?? {})
    sendJson(ctx.res, plan.status, reply.body, headers)
    return undefined
  }
  if (plan.stallAfterHeaders) {
    ctx.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    ctx.res.flushHeaders()
    return undefined
  }
  return plan
}
