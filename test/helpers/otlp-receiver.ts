/**
 * A local OTLP/HTTP trace receiver that decodes what it is sent with the real OTLP schema:
 * opentelemetry-proto's .proto files (test/fixtures/otlp-proto, v1.11.0) loaded by protobufjs.
 *
 * The proxy's exporter (@opentelemetry/exporter-trace-otlp-http) sends OTLP/JSON, the protobuf
 * JSON mapping with OTLP's exceptions (trace and span ids as hex, enums as integers). Each
 * request is checked against the schema by a round trip: JSON → ExportTraceServiceRequest →
 * binary protobuf → decoded message, which must say everything the JSON said (a field the
 * schema lacks, a wrong type, an enum by name, a malformed id would not survive it). A request
 * that fails is answered 400 and its problem recorded; the spans the tests look at are the
 * decoded ones.
 */
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import protobuf from 'protobufjs'
import { listenEphemeral } from './net.js'

const PROTO_ROOT = join(import.meta.dirname, '..', 'fixtures', 'otlp-proto')

let requestType: protobuf.Type | null = null

/** ExportTraceServiceRequest, from opentelemetry/proto/collector/trace/v1/trace_service.proto. */
export function exportTraceServiceRequest (): protobuf.Type {
  if (requestType !== null) return requestType
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => join(PROTO_ROOT, target)
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto')
  root.resolveAll()
  requestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest')
  return requestType
}

export type AttrValue = string | number | boolean | AttrValue[] | { [key: string]: AttrValue } | null

export interface DecodedLink {
  traceId: string
  spanId: string
  attributes: Record<string, AttrValue>
}

export interface DecodedSpan {
  traceId: string
  spanId: string
  /** Absent on a root span. */
  parentSpanId?: string
  name: string
  /** OTLP SpanKind: 1 INTERNAL, 2 SERVER, 3 CLIENT. */
  kind: number
  /** OTLP StatusCode: 0 UNSET, 1 OK, 2 ERROR. */
  status: { code: number, message?: string }
  startTimeUnixNano: bigint
  endTimeUnixNano: bigint
  attributes: Record<string, AttrValue>
  events: Array<{ name: string, timeUnixNano: bigint }>
  links: DecodedLink[]
  resource: Record<string, AttrValue>
  scope: { name: string, version?: string }
}

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const
export const STATUS = { UNSET: 0, OK: 1, ERROR: 2 } as const

export interface OtlpReceiver {
  spans: DecodedSpan[]
  /** Schema violations and bad requests, one line each: a test asserts there are none. */
  problems: string[]
  /** Every request body as sent (JSON text), for greps. */
  bodies: string[]
  port: number
  url: string
  server: Server
  /** Waits until `predicate` holds on the spans so far (polling), at most `ms`. */
  waitFor (predicate: (spans: DecodedSpan[]) => boolean, ms?: number): Promise<boolean>
}

const ID_FIELDS: Record<string, number> = { traceId: 32, spanId: 16, parentSpanId: 16 }

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** OTLP/JSON ids are hex (not base64 like other bytes): checked, then turned into protobuf JSON's base64. */
function idsToBase64 (value: Json, path: string, problems: string[]): Json {
  if (Array.isArray(value)) return value.map((v, i) => idsToBase64(v, `${path}[${i}]`, problems))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, Json> = {}
  for (const [k, v] of Object.entries(value)) {
    const length = ID_FIELDS[k]
    if (length !== undefined && typeof v === 'string') {
      if (v === '' && k === 'parentSpanId') continue
      if (!new RegExp(`^[0-9a-f]{${length}}$`).test(v) || /^0+$/.test(v)) problems.push(`${path}.${k}: "${v}" is not ${length} hex digits, not all zero`)
      out[k] = Buffer.from(v, 'hex').toString('base64')
    } else {
      out[k] = idsToBase64(v, `${path}.${k}`, problems)
    }
  }
  return out
}

/** proto3 leaves default values off the wire: absent after the round trip means the default. */
function isDefault (v: Json): boolean {
  return v === null || v === 0 || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)
}

/** Everything `sent` says, `decoded` must say too (64-bit integers compared as decimal text). */
function compare (sent: Json, decoded: Json | undefined, path: string, problems: string[]): void {
  if (decoded === undefined) {
    if (!isDefault(sent)) problems.push(`${path}: ${JSON.stringify(sent)} did not survive decoding (not in the schema, or of the wrong type)`)
    return
  }
  if (Array.isArray(sent)) {
    if (!Array.isArray(decoded) || decoded.length !== sent.length) {
      problems.push(`${path}: array changed in decoding`)
      return
    }
    sent.forEach((v, i) => compare(v, decoded[i], `${path}[${i}]`, problems))
    return
  }
  if (sent !== null && typeof sent === 'object') {
    if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded)) {
      problems.push(`${path}: object changed in decoding`)
      return
    }
    for (const [k, v] of Object.entries(sent)) compare(v, decoded[k], `${path}.${k}`, problems)
    return
  }
  if (String(sent) !== String(decoded)) problems.push(`${path}: ${JSON.stringify(sent)} decoded as ${JSON.stringify(decoded)}`)
}

interface PbAnyValue { stringValue?: string, boolValue?: boolean, intValue?: string, doubleValue?: number, arrayValue?: { values?: PbAnyValue[] }, kvlistValue?: { values?: PbKeyValue[] }, bytesValue?: string }
interface PbKeyValue { key: string, value?: PbAnyValue }

function anyValue (v: PbAnyValue | undefined): AttrValue {
  if (v === undefined) return null
  if (v.stringValue !== undefined) return v.stringValue
  if (v.boolValue !== undefined) return v.boolValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValue)
  if (v.kvlistValue !== undefined) return attributes(v.kvlistValue.values)
  if (v.bytesValue !== undefined) return v.bytesValue
  return null
}

function attributes (kvs: PbKeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {}
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value)
  return out
}

const hexOf = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('hex')

interface PbSpan {
  traceId?: string
  spanId?: string
  parentSpanId?: string
  name?: string
  kind?: number
  startTimeUnixNano?: string
  endTimeUnixNano?: string
  attributes?: PbKeyValue[]
  events?: Array<{ name?: string, timeUnixNano?: string }>
  links?: Array<{ traceId?: string, spanId?: string, attributes?: PbKeyValue[] }>
  status?: { code?: number, message?: string }
}
interface PbRequest { resourceSpans?: Array<{ resource?: { attributes?: PbKeyValue[] }, scopeSpans?: Array<{ scope?: { name?: string, version?: string }, spans?: PbSpan[] }> }> }

/** Decodes one OTLP/JSON request body; schema problems go to `problems`. */
export function decodeOtlpJson (body: string, problems: string[]): DecodedSpan[] {
  const type = exportTraceServiceRequest()
  let sent: Json
  try {
    sent = JSON.parse(body) as Json
  } catch (err) {
    problems.push(`not JSON: ${(err as Error).message}`)
    return []
  }
  const before = problems.length
  const withIds = idsToBase64(sent, '$', problems)
  const binary = type.encode(type.fromObject(withIds as Record<string, unknown>)).finish()
  const decoded = type.toObject(type.decode(binary), { longs: String, enums: Number, bytes: String }) as PbRequest
  compare(withIds, decoded as Json, '$', problems)
  if (problems.length > before) return []
  const out: DecodedSpan[] = []
  for (const rs of decoded.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes)
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const parent = hexOf(s.parentSpanId)
        out.push({
          traceId: hexOf(s.traceId),
          spanId: hexOf(s.spanId),
          ...(parent !== '' ? { parentSpanId: parent } : {}),
          name: s.name ?? '',
          kind: s.kind ?? 0,
          status: { code: s.status?.code ?? 0, ...(s.status?.message !== undefined ? { message: s.status.message } : {}) },
          startTimeUnixNano: BigInt(s.startTimeUnixNano ?? '0'),
          endTimeUnixNano: BigInt(s.endTimeUnixNano ?? '0'),
          attributes: attributes(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name ?? '', timeUnixNano: BigInt(e.timeUnixNano ?? '0') })),
          links: (s.links ?? []).map((l) => ({ traceId: hexOf(l.traceId), spanId: hexOf(l.spanId), attributes: attributes(l.attributes) })),
          resource,
          scope: { name: ss.scope?.name ?? '', ...(ss.scope?.version !== undefined ? { version: ss.scope.version } : {}) }
        })
      }
    }
  }
  return out
}

/** Listens on 127.0.0.1 for POST /v1/traces (OTLP/HTTP, JSON encoding). */
export async function startOtlpReceiver (): Promise<OtlpReceiver> {
  const spans: DecodedSpan[] = []
  const problems: string[] = []
  const bodies: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const type = String(req.headers['content-type'] ?? '')
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        problems.push(`${req.method ?? '?'} ${req.url ?? '?'}: not an OTLP/HTTP trace export`)
        res.writeHead(404).end()
        return
      }
      if (!type.startsWith('application/json')) {
        problems.push(`content-type ${type}: this receiver decodes OTLP/JSON, which the exporter sends`)
        res.writeHead(415).end()
        return
      }
      const body = Buffer.concat(chunks).toString('utf8')
      bodies.push(body)
      const before = problems.length
      const decoded = decodeOtlpJson(body, problems)
      if (problems.length > before) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 3, message: problems.slice(before).join('; ') }))
        return
      }
      spans.push(...decoded)
      // ExportTraceServiceResponse, all accepted.
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  const port = await listenEphemeral(server)
  return {
    spans,
    problems,
    bodies,
    port,
    url: `http://127.0.0.1:${port}/v1/traces`,
    server,
    async waitFor (predicate, ms = 5_000) {
      const until = Date.now() + ms
      while (!predicate(spans)) {
        if (Date.now() > until) return false
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      return true
    }
  }
}
