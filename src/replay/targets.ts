import { EchoFilter } from '../capture/echo.js'
import type { Exchange } from '../capture/exchange.js'
import type { ObservationRecord } from '../capture/record.js'
import { fingerprint } from '../capture/redact.js'
import { type ReplayReport, type ReportedHeaders, replayObservation } from '../capture/replay-report.js'
import type { ReplayTarget } from '../config/types.js'
import { fromExchange } from './original.js'
import type { ReplayRecorder } from './report.js'
import { replayAll, type ReplayResult } from './run.js'

/**
 * One replay at a time: a staging gateway is a place to look at one failure again, not a load
 * target, and each replay may hold a connection for its target's whole timeout.
 */
export const MAX_RUNNING_REPLAYS = 1

export class ReplayBusyError extends Error {
  readonly code = 'replay_busy'
}

/** The replay was sent, but capture could not record it (queue full, store failing, stopping). */
export class ReplayNotRecordedError extends Error {
  readonly code = 'capture_unavailable'
}

export interface Capture {
  ingest (record: ObservationRecord): Promise<Exchange>
}

export interface TargetReplay {
  /** The replay as capture recorded it (meta.replay_of: the original). */
  recorded: Exchange
  result: ReplayResult
}

/**
 * Replays of one recorded exchange to a configured staging target, for the admin API (the
 * browser view's Replay button): the CLI's replay (src/replay/run.ts) with the target's
 * headers, recorded in this proxy's store through capture, as `duo-diag-proxy replay` has its
 * replays recorded when no proxy sits in front of the target.
 */
export class TargetReplays {
  private running = 0

  constructor (private readonly targets: readonly ReplayTarget[], private readonly capture: Capture | null) {}

  /** Names and URLs only: the header values stay in the configuration. */
  list (): Array<{ name: string, url: string }> {
    return this.targets.map((t) => ({ name: t.name, url: t.url.href }))
  }

  find (name: string): ReplayTarget | undefined {
    return this.targets.find((t) => t.name === name)
  }

  get enabled (): boolean {
    return this.targets.length > 0
  }

  /** Throws ReplayBusyError past MAX_RUNNING_REPLAYS, ReplayNotRecordedError when capture refuses the record. */
  async run (original: Exchange, target: ReplayTarget, clientIp: string): Promise<TargetReplay> {
    const capture = this.capture
    if (capture === null) throw new ReplayNotRecordedError('capture is off (capture.enabled: false): nothing is recorded')
    if (this.running >= MAX_RUNNING_REPLAYS) throw new ReplayBusyError(`a replay is already running (at most ${MAX_RUNNING_REPLAYS} at a time): try again when it ends`)
    this.running++
    try {
      const headers = target.headers.entries()
      let refusal: Error | null = null
      const recorder: ReplayRecorder = {
        recordReplay: async (_id, report) => {
          try {
            return await capture.ingest(replayObservation(withoutValues(report, headers), original, clientIp))
          } catch (err) {
            refusal = err as Error
            throw err
          }
        }
      }
      const [result] = await replayAll([fromExchange(original)], {
        target: target.url.href,
        headers,
        modelEndpoint: target.modelEndpoint,
        timing: false,
        timeoutMs: target.timeoutMs,
        caFile: null,
        records: null,
        recordWaitMs: 0,
        recorder,
        faultAdmin: null
      })
      if (result?.recorded == null) {
        throw new ReplayNotRecordedError(`the replay was sent but could not be recorded: ${(refusal as Error | null)?.message ?? 'no record'}`)
      }
      return { recorded: result.recorded, result }
    } finally {
      this.running--
    }
  }
}

const FINGERPRINTED = /\[FILTERED/

/**
 * The report without the target's header values, whatever their names: capture redacts only
 * the headers its rules call credentials, and a staging server may echo a header back in an
 * error. Sent headers are fingerprinted as capture fingerprints credentials; any echo of a value
 * in the response (in the forms a server writes text back in) is filtered.
 */
function withoutValues (report: ReplayReport, headers: Array<[string, string]>): ReplayReport {
  const echo = new EchoFilter()
  for (const [, value] of headers) echo.add(value)
  const names = new Set(headers.map(([name]) => name))
  const hide = (v: string): string => FINGERPRINTED.test(v) ? v : `[FILTERED sha256:${fingerprint(v)}]`
  const sent: ReportedHeaders = {}
  for (const [name, value] of Object.entries(report.request.headers)) {
    sent[name] = !names.has(name.toLowerCase()) ? value : Array.isArray(value) ? value.map(hide) : hide(value)
  }
  return {
    ...report,
    request: { ...report.request, headers: sent },
    response: report.response === null ? null : echo.filterJson(report.response),
    error: report.error === null ? null : echo.filterJson(report.error)
  }
}
