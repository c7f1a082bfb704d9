import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { FAULT_HEADER } from '../faults/rules.js'

/** Marks every response the proxy made itself; an upstream response never carries it. */
export const ORIGIN_HEADER = 'x-duo-diag-origin'
export const FLAG_HEADER = 'x-duo-diag-flag'

export interface ProxyAnswer {
  status: number
  flag: string
  error: string
  hint: string
  correlationId: string
  /** More headers for this answer (the Allow of a 405). */
  headers?: string[]
}

function body (a: ProxyAnswer): string {
  return JSON.stringify({ error: a.error, flag: a.flag, hint: a.hint, correlation_id: a.correlationId })
}

function headerList (a: ProxyAnswer, length: number): string[] {
  const list = [
    'content-type', 'application/json; charset=utf-8',
    'content-length', String(length),
    'x-request-id', a.correlationId,
    FLAG_HEADER, a.flag,
    ORIGIN_HEADER, 'proxy'
  ]
  if (a.headers !== undefined) list.push(...a.headers)
  return list
}

/** Answers the caller when no upstream response can be relayed (or a fault says so). */
export function writeProxyAnswer (res: ServerResponse, a: ProxyAnswer, fault: string | null = null): void {
  const text = body(a)
  const headers = headerList(a, Buffer.byteLength(text))
  if (fault !== null) headers.push(FAULT_HEADER, fault)
  res.writeHead(a.status, headers)
  res.end(text)
}

/** The same answer on a raw socket (an upgrade request that never got upgraded). */
export function writeProxyAnswerToSocket (socket: Duplex, a: ProxyAnswer, statusText: string): void {
  const text = body(a)
  const h = headerList(a, Buffer.byteLength(text))
  let head = `HTTP/1.1 ${a.status} ${statusText}\r\n`
  for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`
  head += 'connection: close\r\n\r\n'
  socket.end(head + text)
}
