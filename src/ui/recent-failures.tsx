/**
 * The overview's first answer to "what is broken": the newest failures, one line per GitLab
 * request (correlation ID), each a link to its trace (both hops, cause, next steps). A newcomer
 * lands on the overview; this is the one click between them and the diagnosis.
 */
import { useEffect, useState } from 'preact/hooks'
import { getJson } from './api.js'
import { Flags, HopBadge, Section, Status } from './components.js'
import { formatDateTime, formatTime } from './format.js'
import { t } from './i18n.js'
import { href } from './router.js'
import type { Exchange, Page } from './types.js'

/** Failures read to find the newest traces: enough for a screen of them, never the store. */
const SCAN = 100
const SHOWN = 6

export interface FailedTrace {
  key: string
  /** The exchange the line shows: the GitLab request when it is among the failures, else the newest failure. */
  head: Exchange
  modelCalls: number
}

/**
 * Newest failures → one entry per GitLab request, newest first. A model call carries a correlation
 * ID of its own (the gateway→model hop loses GitLab's), so it joins its gateway request through
 * `parent_id`, the link capture made.
 */
export function groupByTrace (failures: readonly Exchange[]): FailedTrace[] {
  const byId = new Map(failures.map((ex) => [ex.id, ex]))
  const groups = new Map<string, FailedTrace>()
  for (const ex of failures) {
    const parent = ex.parent_id === null ? undefined : byId.get(ex.parent_id)
    const key = parent !== undefined
      ? `cid:${parent.correlation_id}`
      : ex.parent_id !== null ? `parent:${ex.parent_id}` : `cid:${ex.correlation_id}`
    const model = ex.hop === 'model' ? 1 : 0
    const seen = groups.get(key)
    if (seen === undefined) {
      groups.set(key, { key, head: parent ?? ex, modelCalls: model })
      continue
    }
    seen.modelCalls += model
  }
  return [...groups.values()]
}

/** The trace of a line: by correlation ID for a GitLab request; through the exchange otherwise (its page finds the parent). */
function traceHref (tr: FailedTrace): string {
  return tr.head.hop === 'gateway'
    ? href(`/trace/${encodeURIComponent(tr.head.correlation_id)}`)
    : href(`/exchange/${encodeURIComponent(tr.head.id)}`)
}

export function RecentFailures ({ since, refresh, allHref }: { since: string, refresh: number, allHref: string }) {
  const [traces, setTraces] = useState<FailedTrace[] | null>(null)
  const [failed, setFailed] = useState(false)

  useEffect(() => {
    const ac = new AbortController()
    getJson<Page>('/api/exchanges', { failed: 'true', since, limit: SCAN }, ac.signal)
      .then((p) => { setTraces(groupByTrace(p.items).slice(0, SHOWN)); setFailed(false) })
      .catch(() => { if (!ac.signal.aborted) setFailed(true) })
    return () => ac.abort()
  }, [since, refresh])

  // The overview's own error box already says when the API fails; this panel then stays quiet.
  if (failed) return null
  return (
    <Section title={t('overview.recentFailures')} id="recent-failures">
      {traces === null
        ? <p class="muted">{t('loading')}</p>
        : traces.length === 0
          ? <p class="muted" data-testid="no-failures">{t('overview.noFailures')}</p>
          : (
            <>
              <p class="hint">{t('overview.recentFailuresHint')}</p>
              <ul class="failures" data-testid="recent-failures">
                {traces.map((tr) => (
                  <li key={tr.key} data-correlation-id={tr.head.correlation_id} data-exchange-id={tr.head.id}>
                    <div class="failure-head">
                      <time dateTime={tr.head.started_at} title={formatDateTime(tr.head.started_at)}>{formatTime(tr.head.started_at)}</time>
                      <span class="route">{tr.head.route}</span>
                      <HopBadge hop={tr.head.hop} />
                      <code>{tr.head.method} {tr.head.path}</code>
                      <Status status={tr.head.status} />
                      <Flags flags={tr.head.flags} />
                      {tr.modelCalls > 0 && <span class="muted">{t('overview.modelCalls', { count: tr.modelCalls })}</span>}
                    </div>
                    <p class="failure-cause">{tr.head.diagnosis?.cause ?? ''}</p>
                    <a class="button" href={traceHref(tr)} aria-label={t('overview.openTraceLabel', { correlationId: tr.head.correlation_id })}>{t('overview.openTrace')}</a>
                  </li>
                ))}
              </ul>
              <p><a href={allHref}>{t('overview.allFailures')}</a></p>
            </>
            )}
    </Section>
  )
}
