import type { RouteConfig } from '../config/types.js'
import { type CheckResult, type CheckStatus, runDoctor } from '../doctor/checks.js'
import type { Lang } from '../i18n/message.js'
import { hasKey, t } from '../i18n/translate.js'

export type DoctorHop = 'gateway' | 'model'

/** A route the doctor may check: its upstream as the running configuration has it. */
export interface DoctorTarget {
  route: string
  hop: DoctorHop
  /** Origin and base path, no user info (the proxy forwards to the origin; credentials are never echoed). */
  upstream: string
  caFile: string | null
}

/** One line of POST /api/doctor: a check's result, the route checked (null: no route on that hop), its name in the reader's language. */
export interface DoctorLine extends CheckResult {
  route: string | null
  hop: DoctorHop
  name: string
}

export type DoctorCounts = Record<CheckStatus, number>

/**
 * The checkable routes of a configuration. An `auto` route is checked as the gateway: it is
 * what the embedded default route is (GitLab's AI gateway URL pointed at the proxy, the
 * gateway behind it); a route in front of a model server says `hop: model`.
 */
export function doctorTargets (routes: readonly RouteConfig[]): DoctorTarget[] {
  return routes.map((r) => ({
    route: r.name,
    hop: r.hop === 'model' ? 'model' : 'gateway',
    upstream: r.upstream.origin + (r.upstream.pathname === '/' ? '' : r.upstream.pathname.replace(/\/+$/, '')),
    caFile: r.tls.caFile
  }))
}

export interface DoctorRunOptions {
  targets: readonly DoctorTarget[]
  modelName: string | null
  lang: Lang
  timeoutMs: number
  onLine: (line: DoctorLine) => void
}

const HOPS: readonly DoctorHop[] = ['gateway', 'model']

/**
 * The playbook's quick checks (src/doctor/checks.ts) against the proxy's own upstreams, gateway
 * routes first, one route after the other (their lines stay together). Only configured URLs are
 * ever contacted: nothing a caller sends names a host.
 */
export async function runDoctorOnRoutes (opts: DoctorRunOptions): Promise<void> {
  const say = (key: string, params: Record<string, string | number> = {}): string => t(opts.lang, `doctor:${key}`, params)
  const line = (target: DoctorTarget | null, hop: DoctorHop, result: CheckResult): DoctorLine => ({
    route: target?.route ?? null,
    hop,
    ...result,
    name: hasKey(`doctor:check.${result.check}`) ? t(opts.lang, `doctor:check.${result.check}`) : result.check
  })
  for (const hop of HOPS) {
    const targets = opts.targets.filter((x) => x.hop === hop)
    if (targets.length === 0) {
      opts.onLine(line(null, hop, { check: `${hop}.route`, status: 'skip', evidence: say(`evidence.noRoute.${hop}`) }))
      continue
    }
    for (const target of targets) {
      await runDoctor({
        gateway: hop === 'gateway' ? target.upstream : null,
        model: hop === 'model' ? target.upstream : null,
        modelName: opts.modelName,
        // Never the paid check: a chat completion costs tokens and needs a key the proxy does not hold.
        chat: false,
        apiKey: null,
        caFile: target.caFile,
        timeoutMs: opts.timeoutMs,
        lang: opts.lang,
        onResult: (r) => opts.onLine(line(target, hop, fromTheProxy(r, target, say)))
      })
    }
  }
}

/**
 * Two checks mean something else when the proxy runs them. `model.url_v1` checks the endpoint
 * GitLab was given, which the proxy never sees: GitLab points at the proxy's route, and the
 * route's upstream rightly has no /v1 when GitLab's endpoint does (the path carries it through).
 * Passing the upstream would "pass" or "fail" the wrong URL, so it is skipped, saying where the
 * answer is (a request without /v1 is diagnosed in the recorded traffic). runDoctor still
 * derives the model API as the CLI does: the upstream if it ends in /v1, else upstream + /v1.
 * The chat completion is never run here; its skip says why in the API's words, not the CLI's flag.
 */
function fromTheProxy (r: CheckResult, target: DoctorTarget, say: (key: string, params?: Record<string, string | number>) => string): CheckResult {
  if (r.check === 'model.url_v1') return { check: r.check, status: 'skip', evidence: say('evidence.urlV1NotSeen', { upstream: target.upstream }) }
  if (r.check === 'model.chat_completion' && r.status === 'skip') return { check: r.check, status: 'skip', evidence: say('evidence.chatNotFromApi') }
  return r
}

export function countLines (lines: readonly DoctorLine[]): DoctorCounts {
  const counts: DoctorCounts = { pass: 0, warn: 0, fail: 0, skip: 0 }
  for (const l of lines) counts[l.status]++
  return counts
}
