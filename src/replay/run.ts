import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { Agent } from 'undici'
import type { Exchange } from '../capture/exchange.js'
import type { ReplayReport } from '../capture/replay-report.js'
import type { QueryClient } from '../cli/query-client.js'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'
import { type ReplayBody, replayBody } from './body.js'
import { replayHeaders, replayRequestId } from './headers.js'
import type { ReplayOriginal } from './original.js'
import { deriveOutcome, type ReplayOutcome } from './outcome.js'
import { findRecords } from './records.js'
import { type ReplayRecorder, replayReport } from './report.js'
import { send, type SendResult } from './send.js'
import { type FaultAdmin, installTtfbFault, removeFault } from './timing-faults.js'

export interface ReplayOptions {
  /** Base URL of the staging gateway, model server, or a proxy route in front of one; its path prefixes each request's. */
  target: string
  /** `--header`s: staging credentials. */
  headers: Array<[string, string]>
  modelEndpoint: string | null
  /** Start each replay at its original's offset from the first (concurrently, as they overlapped). */
  timing: boolean
  timeoutMs: number
  caFile: string | null
  /** The admin API of the proxy that records the replays, to show its flags and cause. */
  records: QueryClient | null
  recordWaitMs: number
  /** Where a replay no proxy recorded is recorded (the admin API of the originals' store); null: nowhere. */
  recorder: ReplayRecorder | null
  /** With `timing`: the staging proxy whose fault injection delays each replay by its original's TTFB. */
  faultAdmin: FaultAdmin | null
  /** The language of the notes, the body's description and a derived cause (the command's) [en]. */
  lang?: Lang
}

export interface ReplayResult {
  n: number
  original: ReplayOriginal
  request_id: string
  url: string
  sent_at: string
  body: Omit<ReplayBody, 'data'>
  dropped_headers: string[]
  /** For the person replaying, in the command's language. */
  notes: string[]
  /** From the first original's start, and from the first replay's. */
  offset_ms: { original: number, replay: number }
  response: Omit<SendResult, 'head' | 'tail' | 'complete_head'>
  outcome: ReplayOutcome
  recorded: Exchange | null
}

function targetUrl (target: string, o: ReplayOriginal): string {
  const base = new URL(target)
  return `${base.origin}${base.pathname.replace(/\/+$/, '')}${o.path}${o.query === '' ? '' : `?${o.query}`}`
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** Resends each original to the target, in order (or on the original schedule with `timing`). */
export async function replayAll (originals: ReplayOriginal[], opts: ReplayOptions): Promise<ReplayResult[]> {
  const lang = opts.lang ?? 'en'
  const note = (key: string, params: Record<string, string | number> = {}): string => t(lang, `cli:replay.note.${key}`, params)
  const ca = opts.caFile === null ? undefined : [...rootCertificates, readFileSync(opts.caFile, 'utf8')]
  const agent = new Agent({ connect: { timeout: opts.timeoutMs, ...(ca ? { ca } : {}) } })
  const first = Date.parse(originals[0]?.started_at ?? '') || 0
  const started = Date.now()
  // What each replay saw, for recording it when no proxy in front of the target did.
  const reports = new Map<ReplayResult, ReplayReport>()
  const one = async (o: ReplayOriginal, i: number): Promise<ReplayResult> => {
    const offset = (Date.parse(o.started_at) || first) - first
    if (opts.timing) await sleep(started + offset - Date.now())
    const n = i + 1
    const requestId = replayRequestId(o.correlation_id, n)
    const body = replayBody(o, opts.modelEndpoint, lang)
    const h = replayHeaders(o.request.headers, opts.headers, requestId, o.id)
    if (body.content_type !== null) h.headers['content-type'] = body.content_type
    const url = targetUrl(opts.target, o)
    const notes = [...body.notes]
    if (o.query.includes('[FILTERED') || o.path.includes('[FILTERED')) notes.push(note('filteredQuery'))
    if (h.dropped.length > 0) notes.push(note('droppedCredentials', { headers: h.dropped.join(', ') }))
    let rule: string | null = null
    if (opts.timing && opts.faultAdmin !== null && o.timings.ttfb_ms !== null) {
      const installed = await installTtfbFault(opts.faultAdmin, requestId, o.timings.ttfb_ms, lang)
      if ('rule' in installed) {
        rule = installed.rule
        notes.push(note('delayed', { ms: Math.round(o.timings.ttfb_ms), rule }))
      } else {
        notes.push(installed.note)
      }
    }
    const sentAt = Date.now()
    const sent = { url, method: o.method, headers: h.headers, body: body.data }
    const res = await send(agent, sent, opts.timeoutMs)
    if (rule !== null) await removeFault(opts.faultAdmin!, rule)
    const { data: _data, ...bodyInfo } = body
    const { head: _head, tail: _tail, complete_head: _complete, ...response } = res
    const result: ReplayResult = {
      n,
      original: o,
      request_id: requestId,
      url,
      body: bodyInfo,
      dropped_headers: h.dropped,
      notes,
      sent_at: new Date(sentAt).toISOString(),
      offset_ms: { original: offset, replay: sentAt - started },
      response,
      outcome: deriveOutcome(res, lang),
      recorded: null
    }
    if (opts.recorder !== null) reports.set(result, replayReport(opts.target, `${o.path}${o.query === '' ? '' : `?${o.query}`}`, sent, res, sentAt))
    return result
  }
  let results: ReplayResult[]
  try {
    if (opts.timing) {
      results = await Promise.all(originals.map(one))
    } else {
      results = []
      for (const [i, o] of originals.entries()) results.push(await one(o, i))
    }
  } finally {
    await agent.close()
  }
  if (opts.records !== null) await attachRecords(results, opts.records, opts.recordWaitMs, lang)
  await recordUnrecorded(results, reports, opts.recorder, lang)
  return results
}

/** The proxy's own record of each answered replay: its flags and diagnosed cause replace the derived ones. */
async function attachRecords (results: ReplayResult[], client: QueryClient, waitMs: number, lang: Lang): Promise<void> {
  const answered = results.filter((r) => r.response.status !== null)
  const wanted = answered.map((r) => ({ requestId: r.request_id, path: new URL(r.url).pathname, sentAt: Date.parse(r.sent_at) }))
  let found: Map<string, Exchange>
  try {
    found = await findRecords(client, wanted, waitMs)
  } catch (err) {
    // The replays were sent: their derived outcome still stands.
    for (const r of answered) r.notes.push(t(lang, 'cli:replay.note.recordsNotRead', { error: (err as Error).message }))
    return
  }
  for (const r of answered) {
    const ex = found.get(r.request_id)
    if (ex === undefined) continue
    r.recorded = ex
    r.outcome = { flags: ex.flags, cause: ex.diagnosis?.cause ?? null, source: 'record' }
  }
}

/**
 * Each replay no proxy recorded (sent straight to the target, or the target was unreachable) is
 * recorded by the admin API of its original's store, diagnosed by capture like live traffic:
 * its flags and cause replace the derived ones.
 */
async function recordUnrecorded (results: ReplayResult[], reports: Map<ReplayResult, ReplayReport>, recorder: ReplayRecorder | null, lang: Lang): Promise<void> {
  for (const r of results) {
    if (r.recorded !== null) continue
    const report = reports.get(r)
    if (recorder === null || report === undefined) {
      r.notes.push(t(lang, 'cli:replay.note.notRecorded'))
      continue
    }
    try {
      const ex = await recorder.recordReplay(r.original.id, report)
      r.recorded = ex
      r.outcome = { flags: ex.flags, cause: ex.diagnosis?.cause ?? null, source: 'record' }
    } catch (err) {
      r.notes.push(t(lang, 'cli:replay.note.notRecordedAt', { error: (err as Error).message }))
    }
  }
}
