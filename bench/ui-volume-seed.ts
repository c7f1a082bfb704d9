/**
 * Seeds a SQLite store with N exchanges through capture's own write path: the captured
 * templates (ui-volume-templates.ts), moved in time, go through the CaptureEngine the capture
 * worker runs — build (redaction, metadata, flags, diagnosis), linking of model calls to their
 * gateway request, batched insert — into a fresh SqliteStore. Spread over the last 7 days (busier
 * in working hours), with a denser last hour.
 */
import { randomBytes } from 'node:crypto'
import { CaptureEngine } from '../src/capture/engine.js'
import type { ObservationRecord } from '../src/capture/record.js'
import { buildHeaderRuleSet, buildRuleSet } from '../src/capture/redact-rules.js'
import type { Config } from '../src/config/types.js'
import { createLogger } from '../src/log/logger.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { routeSettings, type Template } from './ui-volume-templates.js'

const HOUR = 3_600_000
const WEEK = 7 * 24 * HOUR

/** mulberry32: the same store from run to run. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * How often each template is sent: healthy traffic most of the time, each failure a few percent
 * (a bad week, so that every breakdown and flag filter has rows to show).
 */
function broken (t: Template): boolean {
  const g = t.records[0]!
  return g.status === null || g.status >= 400 || g.failure !== null || g.clientAborted || t.records.some((r) => r.status !== null && r.status >= 400)
}

function weight (t: Template): number {
  if (t.records[0]!.url.startsWith('/monitoring/')) return 3
  return broken(t) ? 1 : 12
}

/** A start time: 20 % in the last hour, the rest over the week, three times busier 08:00–18:00 UTC. */
function startTime (rand: () => number, now: number): number {
  if (rand() < 0.2) return now - 10_000 - rand() * (HOUR - 10_000)
  // The oldest a few minutes inside the week: still in the 7-day window when it is measured.
  const oldest = now - WEEK + 10 * 60_000
  for (let i = 0; i < 20; i++) {
    const t = oldest + rand() * (now - HOUR - oldest)
    const h = new Date(t).getUTCHours()
    if (h >= 8 && h < 18 ? true : rand() < 1 / 3) return t
  }
  return oldest + rand() * (now - HOUR - oldest)
}

/** A JWT's claims moved by `shiftS` seconds (the proxy decodes, never verifies; the signature is kept). */
function retimeToken (authorization: string, shiftS: number): string {
  const parts = authorization.slice(7).split('.')
  if (parts.length !== 3) return authorization
  const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
  for (const k of ['iat', 'nbf', 'exp']) if (typeof claims[k] === 'number') claims[k] = (claims[k] as number) + shiftS
  return `Bearer ${parts[0]}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${parts[2]}`
}

/**
 * The template's records as if sent at `at` under new correlation ids: start times, the token's
 * times and GitLab's send time move together (token checks compare them with the start). Healthy
 * requests are also made `scale` times as long, model calls and all (they stay inside their
 * gateway request's span): percentiles over many copies of one duration would be no test.
 */
function retime (records: readonly ObservationRecord[], at: number, scale: number, ids: Map<string, string>): ObservationRecord[] {
  const t0 = records[0]!.startedAt
  const shiftMs = at - t0
  const shiftS = Math.round(shiftMs / 1000)
  const newId = (old: string): string => {
    let id = ids.get(old)
    if (id === undefined) ids.set(old, id = randomBytes(16).toString('hex'))
    return id
  }
  return records.map((r) => {
    const cid = newId(r.correlationId)
    const headers = r.requestHeaders.slice()
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase()
      const value = headers[i + 1]!
      if (value === r.correlationId) headers[i + 1] = cid
      else if (name === 'authorization' && /^bearer /i.test(value)) headers[i + 1] = retimeToken(value, shiftS)
      else if (name === 'x-gitlab-rails-send-start') headers[i + 1] = (Number(value) + shiftMs / 1000).toFixed(6)
    }
    const ttfbMs = r.ttfbMs === null ? null : r.ttfbMs * scale
    return { ...r, startedAt: Math.round(at + (r.startedAt - t0) * scale), durationMs: r.durationMs * scale, ttfbMs, correlationId: cid, requestHeaders: headers }
  })
}

export interface SeedResult {
  stored: number
  captureErrors: number
  seconds: number
  byTemplate: Map<string, number>
}

/** Records per engine call: about what the worker gets per flush at a few thousand req/s. */
const BATCH = 256

export async function seed (path: string, config: Config, templates: readonly Template[], target: number, now = Date.now()): Promise<SeedResult> {
  const started = performance.now()
  const rand = prng(18)
  const weights = templates.map(weight)
  const total = weights.reduce((a, b) => a + b, 0)
  const pick = (): Template => {
    let x = rand() * total
    for (const [i, t] of templates.entries()) if ((x -= weights[i]!) < 0) return t
    return templates[templates.length - 1]!
  }
  // Which requests, and when: then ordered by the time capture would see them (their end).
  const planned: ObservationRecord[] = []
  const byTemplate = new Map<string, number>()
  const ids = new Map<string, string>()
  while (planned.length < target) {
    const t = pick()
    const at = startTime(rand, now)
    ids.clear()
    // Mostly 0.5-1.5 times as long, a few up to 3 times.
    const scale = broken(t) ? 1 : 0.5 + rand() * rand() * 2.5
    planned.push(...retime(t.records.slice(0, target - planned.length), at, scale, ids))
    byTemplate.set(t.name, (byTemplate.get(t.name) ?? 0) + 1)
  }
  planned.sort((a, b) => (a.startedAt + a.durationMs) - (b.startedAt + b.durationMs))

  const store = new SqliteStore(path)
  const logger = createLogger('error', '/dev/null')
  const engine = new CaptureEngine({
    proxyInstance: config.proxyInstance,
    bodyRules: buildRuleSet(config.capture.bodies, config.capture.redaction.add, config.capture.redaction.remove),
    headerRules: buildHeaderRuleSet(config.capture.redaction.add, config.capture.redaction.remove),
    verbose: config.capture.bodies,
    errorBodyBytes: config.capture.errorBodyBytes,
    routes: routeSettings(config),
    expectedIssuer: config.diagnosis.expectedGitlabUrl,
    clockSkewS: config.diagnosis.clockSkewS,
    gatewayModelTimeoutsS: config.diagnosis.gatewayModelTimeoutsS
  }, store, logger, config.store.retention)
  let stored = 0
  let captureErrors = 0
  try {
    for (let i = 0; i < planned.length; i += BATCH) {
      const { result } = await engine.process(planned.slice(i, i + BATCH))
      stored += result.stored
      captureErrors += result.captureErrors
      if (result.storeError !== null) throw new Error(`seeding: store error ${result.storeError}`)
    }
    // The TLS failures' certificate chain, once probed, is written into their diagnosis.
    await engine.settled()
  } finally {
    await store.close()
  }
  return { stored, captureErrors, seconds: (performance.now() - started) / 1000, byTemplate }
}
