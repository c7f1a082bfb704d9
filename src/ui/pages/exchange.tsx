import { useEffect, useState } from 'preact/hooks'
import { ApiError, download, getJson } from '../api.js'
import { ErrorBox, FlagBadge, Flags, HopBadge, Loading, Section, Status } from '../components.js'
import { flagSeverity, formatDateTime, formatMs, shellQuote } from '../format.js'
import { flagText, numberFormat, t } from '../i18n.js'
import { TokenPanel } from '../token-panel.js'
import { href } from '../router.js'
import type { BodyRecord, Exchange, HeaderMap, Trace, TraceNode } from '../types.js'
import { REPLAY_PANEL_ID, ReplayPanel, useReplayTargets } from './replay.js'
import { FromLogsBadge, fromLogs, LogLines } from './log-lines.js'

interface Props {
  /** An exchange: its trace, with it selected. */
  id?: string
  /** A correlation id: its trace, the failing exchange selected. */
  correlationId?: string
}

interface Loaded {
  trace: Trace
  selected: string
}

/** The trace of an exchange: the gateway request's correlation id (a model call's parent's). */
async function load (props: Props): Promise<Loaded> {
  if (props.id !== undefined) {
    const ex = await getJson<Exchange>(`/api/exchanges/${encodeURIComponent(props.id)}`)
    let cid = ex.correlation_id
    if (ex.parent_id !== null) {
      const parent = await getJson<Exchange>(`/api/exchanges/${encodeURIComponent(ex.parent_id)}`).catch(() => null)
      if (parent !== null) cid = parent.correlation_id
    }
    try {
      return { trace: await getJson<Trace>(`/api/traces/${encodeURIComponent(cid)}`), selected: ex.id }
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        return { trace: { correlation_id: cid, roots: [{ exchange: ex, children: [] }], waterfall: [], root_cause: null, log_events: [], log_events_truncated: false, timeline: [] }, selected: ex.id }
      }
      throw err
    }
  }
  const trace = await getJson<Trace>(`/api/traces/${encodeURIComponent(props.correlationId ?? '')}`)
  return { trace, selected: trace.root_cause?.exchange_id ?? trace.roots[0]?.exchange.id ?? '' }
}

interface Row { node: TraceNode, depth: number }

function flatten (nodes: TraceNode[], depth = 0, out: Row[] = []): Row[] {
  for (const n of nodes) {
    out.push({ node: n, depth })
    flatten(n.children, depth + 1, out)
  }
  return out
}

export function ExchangePage (props: Props) {
  const [data, setData] = useState<Loaded | null>(null)
  const [error, setError] = useState<unknown>(null)
  const targets = useReplayTargets()
  const [replayOpen, setReplayOpen] = useState(false)
  useEffect(() => {
    setReplayOpen(false)
    load(props).then(setData, setError)
  }, [props.id, props.correlationId])

  if (error !== null) {
    return (
      <div class="page">
        <h1>{props.id !== undefined ? t('exchange.title') : t('trace.title')}</h1>
        <ErrorBox error={error} />
      </div>
    )
  }
  if (data === null) return <Loading />
  const rows = flatten(data.trace.roots)
  const selected = rows.find((r) => r.node.exchange.id === data.selected)?.node.exchange ?? rows[0]?.node.exchange
  const failing = data.trace.root_cause

  return (
    // data-replay-targets: how many targets the Replay control offers, once known (tests wait on it).
    <div class="page" data-replay-targets={targets === null ? undefined : targets.length}>
      <div class="page-head">
        <h1>{t('trace.title')} <code class="cid">{data.trace.correlation_id}</code></h1>
        <div class="page-actions">
          <button type="button" onClick={() => {
            download(`/api/traces/${encodeURIComponent(data.trace.correlation_id)}/har`, {}, 'trace.har').catch(setError)
          }} data-testid="export-trace">{t('trace.exportHar')}</button>
          <a class="button secondary" href={href('/exchanges', { correlation_id: data.trace.correlation_id })}>{t('trace.inList')}</a>
          {targets !== null && targets.length > 0 && selected !== undefined && (
            <button type="button" class="secondary" aria-expanded={replayOpen} aria-controls={replayOpen ? REPLAY_PANEL_ID : undefined}
              onClick={() => setReplayOpen(!replayOpen)} data-testid="replay-open">{t('replay.open')}</button>
          )}
        </div>
      </div>
      {replayOpen && targets !== null && selected !== undefined && <ReplayPanel key={selected.id} ex={selected} targets={targets} />}
      {failing !== null && (
        <p class="root-cause" data-testid="root-cause">
          <strong>{t('trace.rootCause')}</strong> {failing.cause} <a href={href(`/exchange/${failing.exchange_id}`)}>{t('trace.rootCauseAt', { route: failing.route })}</a>
        </p>
      )}
      {rows.length === 0 && <p class="muted" data-testid="only-logs">{t('logs.onlyLogs')}</p>}
      {rows.length > 0 && <div class="trace-grid">
        <Section title={t('trace.tree')} id="tree">
          <TreeList nodes={data.trace.roots} selected={selected?.id ?? ''} />
        </Section>
        <Section title={t('trace.waterfall')} id="waterfall">
          <Waterfall rows={rows} selected={selected?.id ?? ''} />
          {data.trace.waterfall.length > 0 && (
            <details class="events">
              <summary>{t('trace.events', { count: data.trace.waterfall.length })}</summary>
              <table>
                <thead><tr><th scope="col" class="num">{t('trace.at')}</th><th scope="col">{t('trace.event')}</th><th scope="col">{t('col.route')}</th></tr></thead>
                <tbody>
                  {data.trace.waterfall.map((s, i) => (
                    <tr key={i}><td class="num">{formatMs(s.at_ms)}</td><td><code>{s.event}</code></td><td>{s.route ?? ''}</td></tr>
                  ))}
                </tbody>
              </table>
            </details>
          )}
        </Section>
      </div>}
      <LogLines trace={data.trace} />
      {selected !== undefined && <ExchangeDetail ex={selected} />}
    </div>
  )
}

function linkText (ex: Exchange): string {
  if (ex.link === null) return ''
  return ex.link.method === 'header'
    ? t('trace.linkHeader')
    : t('trace.linkInferred', { confidence: numberFormat(ex.link.confidence * 100) })
}

function TreeList ({ nodes, selected, nested = false }: { nodes: TraceNode[], selected: string, nested?: boolean }) {
  return (
    <ul class="tree" data-testid={nested ? undefined : 'tree'}>
      {nodes.map((n) => {
        const ex = n.exchange
        return (
          <li key={ex.id} data-id={ex.id} data-hop={ex.hop}>
            <a href={href(`/exchange/${ex.id}`)} aria-current={ex.id === selected ? 'true' : undefined} class="node">
              <HopBadge hop={ex.hop} />
              <span class="route">{ex.route}</span>
              <code>{ex.method} {ex.path}</code>
              <Status status={ex.status} />
              <span class="muted">{formatMs(ex.timings.duration_ms)}</span>
            </a>
            <span class="node-meta">
              {fromLogs(ex) && <FromLogsBadge />}
              {n.attempt !== undefined && <span class="attempt">{t('trace.attempt', { n: n.attempt })}</span>}
              {ex.link !== null && <span class="link-method" data-testid="link">{linkText(ex)}</span>}
              {ex.flags.length > 0 && <Flags flags={ex.flags} />}
            </span>
            {n.children.length > 0 && <TreeList nodes={n.children} selected={selected} nested />}
          </li>
        )
      })}
    </ul>
  )
}

/** A step of about a tenth of the span, rounded to 1, 2 or 5 × 10^n ms. */
function tickStep (span: number): number {
  const raw = span / 8
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 0.001)))
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p
  return 10 * p
}

/**
 * Each exchange as a bar from its start to its end on one time axis, with its first byte marked:
 * positions are percentages of the trace's span, so the picture is to scale at any width.
 */
function Waterfall ({ rows, selected }: { rows: Row[], selected: string }) {
  if (rows.length === 0) return null
  const start = (ex: Exchange): number => Date.parse(ex.started_at)
  const sent = rows.map((r) => r.node.exchange.meta.gitlab?.rails_send_start_ms).filter((x): x is number => typeof x === 'number')
  const t0 = Math.min(...rows.map((r) => start(r.node.exchange)), ...sent)
  const t1 = Math.max(...rows.map((r) => start(r.node.exchange) + r.node.exchange.timings.duration_ms))
  const span = Math.max(t1 - t0, 1)
  const pct = (ms: number): number => (ms / span) * 100
  const step = tickStep(span)
  const ticks: number[] = []
  for (let x = 0; x <= span + 1e-9; x += step) ticks.push(x)

  return (
    <div class="waterfall" data-testid="waterfall" data-span-ms={span}>
      <div class="wf-row wf-axis" aria-hidden="true">
        <span class="wf-label" />
        <span class="wf-track">
          {ticks.map((x) => <span key={x} class="wf-tick" style={{ left: `${pct(x)}%` }}>{formatMs(x)}</span>)}
        </span>
      </div>
      {sent.length > 0 && (
        <div class="wf-row">
          <span class="wf-label">{t('trace.gitlabSent')}</span>
          <span class="wf-track"><span class="wf-mark" style={{ left: `${pct(sent[0]! - t0)}%` }} title={t('trace.gitlabSent')} /></span>
        </div>
      )}
      {rows.map(({ node, depth }) => {
        const ex = node.exchange
        const at = start(ex) - t0
        const failed = ex.flags.some((f) => flagSeverity(f) === 'error')
        const warned = !failed && ex.flags.length > 0
        const label = `${ex.route} ${ex.method} ${ex.path}`
        const desc = t('trace.barLabel', { label, start: formatMs(at), duration: formatMs(ex.timings.duration_ms), ttfb: formatMs(ex.timings.ttfb_ms) })
        return (
          <div key={ex.id} class={`wf-row${ex.id === selected ? ' selected' : ''}`}>
            <span class="wf-label" style={{ paddingInlineStart: `${depth * 1.2}em` }}>
              <a href={href(`/exchange/${ex.id}`)} title={label}>{ex.route}</a>
            </span>
            <span class="wf-track">
              <span
                class={`wf-bar wf-${ex.hop}${failed ? ' wf-failed' : warned ? ' wf-warn' : ''}`}
                style={{ left: `${pct(at)}%`, width: `${Math.max(pct(ex.timings.duration_ms), 0.2)}%` }}
                data-exchange-id={ex.id}
                data-start-ms={at}
                data-duration-ms={ex.timings.duration_ms}
                role="img"
                aria-label={desc}
                title={desc}
              >
                {ex.timings.ttfb_ms !== null && <span class="wf-ttfb" style={{ left: `${(ex.timings.ttfb_ms / Math.max(ex.timings.duration_ms, 0.001)) * 100}%` }} />}
              </span>
              <span class="wf-value">{formatMs(ex.timings.duration_ms)}</span>
            </span>
          </div>
        )
      })}
    </div>
  )
}

const HOP_BY_HOP = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection'])

function bodyText (body: unknown): string | null {
  if (body === undefined || body === null) return null
  return typeof body === 'string' ? body : JSON.stringify(body, null, 2)
}

/** The redacted request as a curl command line: what the store holds, secrets already [FILTERED]. */
export function curlCommand (ex: Exchange): string {
  const url = ex.upstream + (ex.query !== '' ? `?${ex.query}` : '')
  const parts = ['curl', '-X', ex.method, shellQuote(url)]
  for (const [name, value] of Object.entries(ex.request.headers)) {
    if (HOP_BY_HOP.has(name.toLowerCase())) continue
    for (const v of Array.isArray(value) ? value : [value]) parts.push('-H', shellQuote(`${name}: ${v}`))
  }
  const body = ex.request.body
  if (body !== undefined && body !== null) parts.push('--data-raw', shellQuote(typeof body === 'string' ? body : JSON.stringify(body)))
  return parts.join(' ')
}

function ExchangeDetail ({ ex }: { ex: Exchange }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null)
  const curl = curlCommand(ex)
  const copy = (): void => {
    navigator.clipboard.writeText(curl).then(() => setCopied('yes'), () => setCopied('no'))
  }
  const d = ex.diagnosis
  return (
    <div class="detail" data-testid="detail" data-id={ex.id}>
      <Section title={t('exchange.summary')} id="summary">
        <dl class="facts">
          <dt>{t('exchange.request')}</dt><dd><code>{ex.method} {ex.path}{ex.query !== '' ? `?${ex.query}` : ''}</code></dd>
          <dt>{t('col.status')}</dt><dd><Status status={ex.status} />{ex.proxy_answered && <span class="muted"> {t('exchange.proxyAnswered')}</span>}</dd>
          <dt>{t('col.route')}</dt><dd>{ex.route} <HopBadge hop={ex.hop} />{fromLogs(ex) && <> <FromLogsBadge /></>}</dd>
          <dt>{t('exchange.started')}</dt><dd>{formatDateTime(ex.started_at)}</dd>
          <dt>{t('exchange.ttfb')}</dt><dd>{formatMs(ex.timings.ttfb_ms)}</dd>
          <dt>{t('col.duration')}</dt><dd>{formatMs(ex.timings.duration_ms)}</dd>
          <dt>{t('exchange.upstream')}</dt><dd><code>{ex.upstream}</code></dd>
          <dt>{t('filters.correlationId')}</dt><dd><code>{ex.correlation_id}</code> <span class="muted">({ex.correlation_source})</span></dd>
          <dt>{t('filters.feature')}</dt><dd>{ex.meta.feature}</dd>
          {(ex.meta.model ?? ex.meta.model_name) !== undefined && <><dt>{t('exchange.model')}</dt><dd><code>{ex.meta.model ?? ex.meta.model_name}</code></dd></>}
          {ex.link !== null && <><dt>{t('exchange.link')}</dt><dd>{linkText(ex)}</dd></>}
          {ex.error !== null && <><dt>{t('exchange.error')}</dt><dd><code>{ex.error.code}</code> {ex.error.message}</dd></>}
        </dl>
      </Section>
      <Section title={t('exchange.diagnosis')} id="diagnosis">
        {ex.flags.length > 0
          ? (
            <ul class="flag-list">
              {ex.flags.map((f) => <li key={f}><FlagBadge flag={f} href={href('/exchanges', { flag: f })} /> <span>{flagText(f)}</span></li>)}
            </ul>
            )
          : <p class="muted">{t('exchange.noFlags')}</p>}
        {d !== null && (
          <div class="diagnosis" data-testid="diagnosis">
            <p class="cause"><strong>{t('col.cause')}:</strong> {d.cause} <code class="muted">{d.code}</code></p>
            {d.root_cause !== undefined && <p>{t('trace.rootCause')} <a href={href(`/exchange/${d.root_cause.exchange_id}`)}>{d.root_cause.cause}</a></p>}
            {d.evidence.length > 0 && <><h3>{t('exchange.evidence')}</h3><ul>{d.evidence.map((e, i) => <li key={i}>{e.text}</li>)}</ul></>}
            {d.next_steps.length > 0 && <><h3>{t('exchange.nextSteps')}</h3><ol>{d.next_steps.map((e, i) => <li key={i}>{e.text}</li>)}</ol></>}
          </div>
        )}
      </Section>
      <TokenPanel ex={ex} />
      <Section title={t('exchange.requestTitle')} id="request" actions={
        <button type="button" onClick={copy} data-testid="copy-curl">{copied === 'yes' ? t('exchange.copied') : copied === 'no' ? t('exchange.copyFailed') : t('exchange.copyCurl')}</button>
      }>
        <Message record={ex.request} />
        <details class="curl">
          <summary>{t('exchange.curl')}</summary>
          <pre data-testid="curl"><code>{curl}</code></pre>
        </details>
      </Section>
      <Section title={t('exchange.responseTitle')} id="response">
        {ex.response === null ? <p class="muted">{t('exchange.noResponse')}</p> : <Message record={ex.response} />}
      </Section>
    </div>
  )
}

const MAX_BODY_CHARS = 200_000

function Message ({ record }: { record: BodyRecord }) {
  const text = bodyText(record.body)
  return (
    <>
      <Headers headers={record.headers} />
      <p class="muted">{t('exchange.bodyBytes', { bytes: numberFormat(record.bytes), type: record.content_type ?? '–' })}{record.body_truncated === true ? ` · ${t('exchange.truncated')}` : ''}</p>
      {text !== null
        ? <pre class="body" tabIndex={0}><code>{text.length > MAX_BODY_CHARS ? `${text.slice(0, MAX_BODY_CHARS)}\n…` : text}</code></pre>
        : <p class="muted">{t('exchange.noBody')}</p>}
    </>
  )
}

function Headers ({ headers }: { headers: HeaderMap }) {
  const entries = Object.entries(headers)
  if (entries.length === 0) return <p class="muted">{t('exchange.noHeaders')}</p>
  return (
    <table class="headers">
      <thead><tr><th scope="col">{t('exchange.header')}</th><th scope="col">{t('exchange.value')}</th></tr></thead>
      <tbody>
        {entries.map(([k, v]) => <tr key={k}><th scope="row"><code>{k}</code></th><td><code>{Array.isArray(v) ? v.join('\n') : v}</code></td></tr>)}
      </tbody>
    </table>
  )
}
