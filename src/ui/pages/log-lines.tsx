/**
 * The trace page's "Log lines": the lines imported for this correlation id (GitLab's llm.log,
 * the AI gateway's logs) and the proxy's steps, in time order, as the API's `timeline` lists
 * them. Each line: time, source, level, message and where it was read; its fields on demand.
 */
import { formatDateTime, formatTime } from '../format.js'
import { t } from '../i18n.js'
import { href } from '../router.js'
import type { Exchange, LogEvent, TimelineItem, Trace, TraceNode } from '../types.js'

/** Whether an exchange was rebuilt from log lines alone (the proxy never saw it). */
export function fromLogs (ex: Exchange): boolean {
  return ex.meta.reported_by === 'logs'
}

/** The "from logs" mark beside a reconstructed exchange. */
export function FromLogsBadge () {
  return <span class="from-logs" title={t('logs.fromLogsTitle')} data-testid="from-logs">{t('logs.fromLogs')}</span>
}

function exchangesById (roots: readonly TraceNode[], out = new Map<string, Exchange>()): Map<string, Exchange> {
  for (const n of roots) {
    out.set(n.exchange.id, n.exchange)
    exchangesById(n.children, out)
  }
  return out
}

function fieldText (value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2)
}

function LogLine ({ ev }: { ev: LogEvent }) {
  const [first, ...rest] = ev.message.split(/\r?\n/)
  const fields = Object.entries(ev.fields)
  const level = ev.level ?? 'none'
  return (
    <li class={`log-item log-line log-level-${level}`} data-source={ev.source} data-level={level} data-fingerprint={ev.fingerprint}>
      <time dateTime={ev.time} title={formatDateTime(ev.time)}>{formatTime(ev.time)}</time>
      <span class={`log-source log-source-${ev.source}`}>{t(`logs.source.${ev.source}`)}</span>
      <span class="log-level">{t(`logs.level.${level}`)}</span>
      <span class="log-message">{first}{rest.length > 0 ? ' …' : ''}</span>
      <span class="log-origin muted">{ev.origin.file}:{ev.origin.line}</span>
      {(rest.length > 0 || fields.length > 0) && (
        <details class="log-details">
          <summary>{t('logs.details', { count: fields.length })}</summary>
          {rest.length > 0 && <pre tabIndex={0}><code>{ev.message}</code></pre>}
          {fields.length > 0 && (
            <table class="log-fields">
              <caption class="sr-only">{t('logs.fieldsCaption')}</caption>
              <tbody>
                {fields.map(([k, v]) => <tr key={k}><th scope="row"><code>{k}</code></th><td><code>{fieldText(v)}</code></td></tr>)}
              </tbody>
            </table>
          )}
        </details>
      )}
    </li>
  )
}

function Step ({ item, ex }: { item: Extract<TimelineItem, { type: 'step' }>, ex: Exchange | undefined }) {
  const by = ex !== undefined && fromLogs(ex) ? 'reconstructed' : 'proxy'
  return (
    <li class="log-item log-step" data-exchange-id={item.exchange_id ?? undefined}>
      <time dateTime={item.time} title={formatDateTime(item.time)}>{formatTime(item.time)}</time>
      <span class={`log-source log-source-${by}`}>{t(`logs.source.${by}`)}</span>
      <span class="log-level" />
      <span class="log-message">
        <code>{item.event}</code>{item.route !== null && item.exchange_id !== null && <> <a href={href(`/exchange/${item.exchange_id}`)}>{item.route}</a></>}
      </span>
      <span class="log-origin" />
    </li>
  )
}

/** The section, or nothing when no line was imported for this correlation id. */
export function LogLines ({ trace }: { trace: Trace }) {
  const events = trace.log_events ?? []
  if (events.length === 0) return null
  const byId = exchangesById(trace.roots)
  return (
    <section class="panel" aria-labelledby="log-lines-title" id="log-lines" data-testid="log-lines">
      <div class="panel-head"><h2 id="log-lines-title">{t('logs.title')}</h2></div>
      <p class="muted">{t('logs.intro', { count: events.length })}</p>
      {trace.log_events_truncated && <p class="muted" data-testid="log-lines-truncated">{t('logs.truncated', { count: events.length, cid: trace.correlation_id })}</p>}
      <ol class="log-timeline" data-testid="log-timeline">
        {(trace.timeline ?? []).map((item, i) => {
          if (item.type === 'step') return <Step key={`s${i}`} item={item} ex={item.exchange_id === null ? undefined : byId.get(item.exchange_id)} />
          const ev = events[item.index]
          return ev === undefined ? null : <LogLine key={ev.fingerprint} ev={ev} />
        })}
      </ol>
    </section>
  )
}
