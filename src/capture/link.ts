import { ev, MODEL_HOP_STEPS, part } from '../diagnosis/codes.js'
import type { Diagnosis, DiagnosisLine } from '../diagnosis/diagnosis.js'
import { CAUSE_PREFIX, EVIDENCE_PREFIX, readStoredDiagnosis, UNCLASSIFIED } from '../diagnosis/render.js'
import type { Message, MessageParams } from '../i18n/message.js'
import { hasKey } from '../i18n/translate.js'
import { type EndWindow, type ExchangeStore, type HeldExchanges, NONE_HELD } from '../store/store.js'
import type { Exchange, ExchangeLink } from './exchange.js'

/** Flags on a gateway exchange that a failing model call behind it would explain. */
const EXPLAINED_BY_CHILD = new Set(['upstream_error', 'model_error', 'stream_error', 'stream_truncated', 'stream_aborted', 'headers_timeout', 'body_timeout', 'slow', 'not_found'])

/** What linking needs of the store. */
export type LinkStore = Pick<ExchangeStore, 'unlinkedModelExchanges' | 'gatewaysSpanning' | 'gatewaysEndedWithin' | 'setParent'>

// Start times are compared O(gateways x model calls) times per batch: parse each ISO string once.
const startCache = new WeakMap<Exchange, number>()
const start = (e: Exchange): number => {
  let ms = startCache.get(e)
  if (ms === undefined) {
    ms = Date.parse(e.started_at)
    startCache.set(e, ms)
  }
  return ms
}
const end = (e: Exchange): number => start(e) + e.timings.duration_ms

/**
 * A route of this proxy carried it. A replay the CLI sent elsewhere and reported is neither a
 * parent nor a child: its time span says nothing of the calls the proxy saw meanwhile.
 */
const carried = (e: Exchange): boolean => e.meta.reported_by === undefined

/** The store's answer is capped at this many rows (the LIMIT of UNLINKED_MODEL_SQL). */
const STORE_LIMIT = 500

/** The gateway's call must sit inside its request; a little slack for clock rounding. */
const SLACK_MS = 5
/**
 * A model call's record can end after its gateway request's: the gateway answers as soon as it
 * has read the model's Content-Length worth of body, before the proxy's own completion of the
 * model exchange fires (measured up to 17 ms in-process on a busy machine). Its start cannot.
 */
const END_SLACK_MS = 50
/**
 * A model call cannot start after its gateway request ended (the gateway answers with what the
 * model said): only the millisecond rounding of recorded start times may put it there. The
 * next request's call, sent a moment after this one ended and recorded before its own gateway
 * request (still in flight), fell inside a 5 ms slack and was given to the wrong request.
 */
const ROUNDING_MS = 1
/**
 * A written request can end after a later-recorded call only when another proxy instance wrote
 * it (a shared store: its records are not in this thread's order); then by as long as the
 * gateway takes after the model answers.
 */
const LATE_PARENT_AFTER_MS = 1_000

/** Exchanges sorted by start time, for the ones that started within a window. */
class ByStart {
  readonly items: Exchange[]
  private readonly starts: number[]

  constructor (exchanges: readonly Exchange[]) {
    this.items = [...exchanges].sort((a, b) => start(a) - start(b))
    this.starts = this.items.map(start)
  }

  /** Those that started within [from, to], in start order. */
  within (from: number, to: number): Exchange[] {
    let lo = 0
    let hi = this.starts.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.starts[mid]! < from) lo = mid + 1
      else hi = mid
    }
    const out: Exchange[] = []
    for (let i = lo; i < this.starts.length && this.starts[i]! <= to; i++) out.push(this.items[i]!)
    return out
  }
}

/** What a gateway request says of its model call, read once per request (URL parsing is not free). */
interface GatewayAsks { names: Set<string>, endpointHost: string | null }
const asksCache = new WeakMap<Exchange, GatewayAsks>()
function asksOf (g: Exchange): GatewayAsks {
  let asks = asksCache.get(g)
  if (asks === undefined) {
    asks = { names: servedNames(g), endpointHost: hostOf(g.meta.model_endpoint) }
    asksCache.set(g, asks)
  }
  return asks
}

function hostOf (url: string | undefined): string | null {
  if (url === undefined) return null
  try {
    return new URL(url).host.toLowerCase()
  } catch {
    return null
  }
}

/**
 * Ties model-hop exchanges to the gateway-hop exchange that caused them. Model providers never
 * see the correlation id, so unless a header carries it, the link is inferred: the model call
 * lies within the gateway request's span, and its model name and endpoint agree with what the
 * gateway request asked for; confidence is shared among the gateway requests in flight then.
 * Runs in the capture worker before the batch is written: children already stored are updated
 * there, children in the batch in memory. A failing gateway exchange takes its failing child's
 * cause as its root cause.
 */
export interface Link {
  child: Exchange
  parent: Exchange
}

export async function linkBatch (batch: Exchange[], store: LinkStore, held: HeldExchanges = NONE_HELD): Promise<Link[]> {
  const isParent = (e: Exchange): boolean => carried(e) && e.hop === 'gateway' && e.meta.feature !== 'health' && e.meta.feature !== 'gateway_metrics'
  const batchModels = batch.filter((e) => e.hop === 'model' && carried(e))
  const gateways = batch.filter(isParent)
  // A model call whose record comes after its gateway request's (it can end up to END_SLACK_MS
  // later, and so land in a later batch): the gateway requests already written compete for it.
  // Each call has its own window, exactly the written requests score() could give it: started
  // by its start (+ slack), still running when it started, ended at most END_SLACK_MS before it
  // ended; the store answers all of them at once. One window spanning the whole batch read ~400
  // documents a batch at saturation, nearly all of them short requests that ended before the
  // call began.
  const storedGateways = new Set<Exchange>()
  const unlinked = batchModels.filter((m) => m.parent_id === null)
  const windows: EndWindow[] = unlinked.map((m) => ({
    endFrom: Math.max(end(m) - END_SLACK_MS, start(m) - ROUNDING_MS),
    endBy: end(m) + LATE_PARENT_AFTER_MS,
    startBy: start(m) + SLACK_MS
  }))
  if (windows.length > 0) {
    for (const g of await store.gatewaysEndedWithin(windows, held)) {
      if (!isParent(g)) continue
      storedGateways.add(g)
      gateways.push(g)
    }
  }
  if (gateways.length === 0) return []
  const links: Link[] = []
  const stored = new Set<Exchange>()
  const candidates = new Map<string, { child: Exchange, parents: Array<{ g: Exchange, link: ExchangeLink, strict: boolean }> }>()
  // One store query for the whole batch's span instead of one per gateway exchange (a round trip
  // each on PostgreSQL); each gateway then takes its own window of it. When the span's answer is
  // capped, the windows are asked one by one as before, so every gateway sees exactly the rows its
  // own query would return.
  let spanFrom = Infinity
  let spanTo = -Infinity
  for (const g of gateways) {
    if (storedGateways.has(g)) continue
    spanFrom = Math.min(spanFrom, start(g) - SLACK_MS)
    spanTo = Math.max(spanTo, end(g) + ROUNDING_MS)
  }
  const span = spanFrom === Infinity ? [] : await store.unlinkedModelExchanges(spanFrom, spanTo, held)
  const spanComplete = span.length < STORE_LIMIT
  // The batch's unlinked calls by start time: each gateway request takes its window by binary
  // search (hundreds of gateway requests a batch at saturation, each against every call, was
  // most of linking's time), plus the calls that name it in a forwarded header.
  const open = new ByStart(unlinked)
  const byForwardedId = new Map<string, Exchange[]>()
  for (const m of open.items) {
    const id = m.request.headers['x-request-id']
    if (typeof id === 'string') byForwardedId.set(id, [...(byForwardedId.get(id) ?? []), m])
  }
  const spanByStart = new ByStart(span)
  for (const g of gateways) {
    const from = start(g) - SLACK_MS
    const to = end(g) + ROUNDING_MS
    // A written gateway request already had its chance at the written calls.
    const fromStore = (storedGateways.has(g) ? [] : spanComplete ? spanByStart.within(from, to) : await store.unlinkedModelExchanges(from, to, held)).filter(carried)
    for (const c of fromStore) stored.add(c)
    const inBatch = open.within(from, to)
    for (const m of byForwardedId.get(g.correlation_id) ?? []) if (start(m) < from || start(m) > to) inBatch.push(m)
    for (const c of [...inBatch, ...fromStore]) {
      const link = score(g, c, from, to, end(g) + END_SLACK_MS)
      if (link === null) continue
      const entry = candidates.get(c.id) ?? { child: c, parents: [] }
      entry.parents.push({ g, link, strict: start(c) >= start(g) && end(c) <= end(g) })
      candidates.set(c.id, entry)
    }
  }
  const children = new Map<Exchange, Exchange[]>()
  for (const { child, parents } of candidates.values()) {
    // The best parent: the higher score, then a fit without slack, then the request that
    // started last before the call (a gateway calls the model right after it is asked).
    parents.sort((a, b) => b.link.confidence - a.link.confidence || Number(b.strict) - Number(a.strict) || start(b.g) - start(a.g))
    const best = parents[0]!
    // Confidence is shared among the requests that fit equally well (concurrent identical
    // requests), including earlier-written gateway requests that span the call.
    // A written gateway request that spans the call is counted by gatewaysSpanning already.
    const tied = parents.filter((p) => p.link.confidence === best.link.confidence && p.strict === best.strict && !(storedGateways.has(p.g) && end(p.g) >= end(child))).length
    const rivals = best.link.method === 'header' ? 1 : tied + await store.gatewaysSpanning(start(child), end(child))
    const link: ExchangeLink = best.link.method === 'header' ? best.link : { method: 'inferred', confidence: Math.round((best.link.confidence / Math.max(1, rivals)) * 100) / 100 }
    if (link.confidence < 0.2) continue
    child.parent_id = best.g.id
    child.link = link
    if (stored.has(child)) await store.setParent(child)
    children.set(best.g, [...(children.get(best.g) ?? []), child])
    links.push({ child, parent: best.g })
  }
  for (const [g, kids] of children) {
    explainByChildren(g, kids)
    // Written before its late child came: rewrite it with what the child explains.
    if (storedGateways.has(g)) await store.setParent(g)
  }
  return links
}

/** A model call whose own record shows a failure (the caller leaving or being slow is not one). */
function failed (c: Exchange): boolean {
  return c.diagnosis !== null && c.flags.some((f) => f !== 'client_aborted' && f !== 'slow' && f !== 'tls_unverified' && !f.startsWith('token_'))
}

/**
 * A failing gateway request takes the cause of the model call that failed behind it: the
 * gateway's own answer (a 500 with no body, an error event) says little, the model hop says
 * why. When the gateway called the model more than once (the 2025 gateway retries), the
 * attempts are listed. Codes and parameters come along: the gateway request is counted under
 * its model call's code, and its own answer is quoted as a nested message.
 */
function explainByChildren (g: Exchange, kids: Exchange[]): void {
  const d = current(g.diagnosis)
  if (d === null) return
  g.diagnosis = d
  kids.sort((a, b) => start(a) - start(b))
  const failing = kids.filter(failed)
  if (kids.length > 1) {
    const outcomes = kids.map((c, i): Message => {
      const outcome = c.status ?? c.flags.find((f) => f !== 'slow')
      const seconds = (c.timings.duration_ms / 1000).toFixed(1)
      return outcome === undefined ? part('attempt_no_answer', { n: i + 1, seconds }) : part('attempt', { n: i + 1, outcome, seconds })
    })
    d.evidence.push(ev('gateway_retried', { calls: kids.length, attempts: joined(outcomes) }))
  }
  const cause = failing[failing.length - 1]
  if (cause === undefined || !g.flags.some((f) => EXPLAINED_BY_CHILD.has(f))) return
  const child = current(cause.diagnosis)!
  d.root_cause = { exchange_id: cause.id, route: cause.route, code: child.code, params: child.params, cause: child.cause }
  d.evidence.unshift(ev('gateway_own_answer', { answer: quote(CAUSE_PREFIX, d.code, d.params, d.cause) }))
  const first = child.evidence[0]
  d.evidence.unshift(ev('model_call_failed', {
    exchange_id: cause.id,
    route: cause.route,
    detail: first !== undefined ? quote(EVIDENCE_PREFIX, first.code, first.params, first.text) : quote(CAUSE_PREFIX, child.code, child.params, child.cause)
  }))
  d.code = child.code
  d.params = child.params
  d.cause = child.cause
  const same = (a: DiagnosisLine, b: DiagnosisLine): boolean => a.code === b.code && a.text === b.text
  d.next_steps = [...child.next_steps, ...d.next_steps.filter((s) => !child.next_steps.some((c) => same(c, s)) && !asksForModelHop(s))]
}

/** A stored message quoted in another: by its code when this version knows it, else its text. */
function quote (prefix: string, code: string, params: MessageParams, text: string): Message {
  const key = `${prefix}.${code}`
  const known = hasKey(key) && !(prefix === CAUSE_PREFIX && code === UNCLASSIFIED)
  return known ? { code: key, params } : { code: `${EVIDENCE_PREFIX}.text`, params: { text } }
}

/**
 * A diagnosis in this version's shape: one read back from the store may have been written by an
 * older version (no codes, evidence as plain strings) and is read into it first.
 */
function current (d: Diagnosis | null): Diagnosis | null {
  if (d === null) return null
  const isLine = (l: unknown): boolean => typeof l === 'object' && l !== null
  const isCurrent = typeof d.code === 'string' && Array.isArray(d.evidence) && Array.isArray(d.next_steps) && d.evidence.every(isLine) && d.next_steps.every(isLine)
  return isCurrent ? d : readStoredDiagnosis(d)
}

/**
 * One message for a list ("a; b; c"), nested in groups of up to four: the renderer follows nested
 * messages four deep, and three levels of lists hold 64 items (a request's attempts are far fewer:
 * the OpenAI SDK's 3 tries times the gateway's 4 at most).
 */
function joined (items: Message[]): Message {
  if (items.length === 1) return items[0]!
  const kept = items.slice(0, 64)
  const size = Math.ceil(kept.length / 4)
  const [a, b, c, d] = [0, 1, 2, 3].map((i) => kept.slice(i * size, (i + 1) * size)).filter((g) => g.length > 0).map(joined)
  if (d !== undefined) return part('list_4', { a: a!, b: b!, c: c!, d })
  if (c !== undefined) return part('list_3', { a: a!, b: b!, c })
  return part('list_2', { a: a!, b: b! })
}

/** Next steps that ask for the model hop to be seen: moot once it was. */
const ROUTE_THE_MODEL_HOP = /route the model (hop|endpoint) through this proxy|look at the model hop/i

function asksForModelHop (s: DiagnosisLine): boolean {
  // By code; a step stored by an older version (code `text`) by its words.
  return MODEL_HOP_STEPS.has(s.code) || (s.code === 'text' && ROUTE_THE_MODEL_HOP.test(s.text))
}

/**
 * The names a gateway request's model is sent to the model server under ("served names"). The
 * model call asks for exactly one of them, so any other name is another request's call.
 */
export function servedNames (g: Exchange): Set<string> {
  const names = new Set<string>()
  const identifier = g.meta.model_identifier
  if (identifier !== undefined && identifier !== '') {
    // ai_gateway/model_metadata.py to_params, models/base.py: "provider/model" sends "model"
    // (partition at the first slash); an identifier without a slash is sent whole.
    const slash = identifier.indexOf('/')
    names.add(slash < 0 ? identifier : identifier.slice(slash + 1))
    return names
  }
  const family = g.meta.model_name
  if (family === undefined) return names
  // No identifier: the family name is sent (2024: custom_openai/<name> and the prompt paths;
  // 2025: models.yml params.model, the family's own name), except for the families with no
  // params.model, where langchain's ChatLiteLLM default applies (model_selection/models.yml).
  names.add(family)
  if (family === 'claude_3' || family === 'general' || family === 'gemini') names.add('gpt-3.5-turbo')
  return names
}

/** How well a model call fits a gateway request, before sharing among rivals (0 to 1), or null. */
function score (g: Exchange, c: Exchange, from: number, to: number, endTo: number): ExchangeLink | null {
  const forwardedId = c.request.headers['x-request-id']
  if (c.correlation_source === 'caller' && forwardedId === g.correlation_id) return { method: 'header', confidence: 1 }
  if (start(c) < from || start(c) > to || end(c) > endTo) return null
  let s = 0.5
  const { names, endpointHost } = asksOf(g)
  if (c.meta.model !== undefined && names.size > 0) {
    // The request named its model and the call asked for another: not its call.
    if (!names.has(c.meta.model)) return null
    s += 0.25
  }
  const called = c.request.headers.host
  const calledHost = typeof called === 'string' ? called.toLowerCase() : null
  if (endpointHost !== null && calledHost !== null) {
    // The gateway calls the endpoint it was given (api_base, nothing appended): another host is another request's call.
    if (endpointHost !== calledHost) return null
    s += 0.25
  }
  return { method: 'inferred', confidence: s }
}
