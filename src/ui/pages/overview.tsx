import { useEffect, useMemo, useState } from 'preact/hooks'
import { getJson } from '../api.js'
import { TimeChart } from '../chart.js'
import { ErrorBox, FlagBadge, Loading, Section } from '../components.js'
import { formatMs } from '../format.js'
import { numberFormat, t } from '../i18n.js'
import { RecentFailures } from '../recent-failures.js'
import { href, navigate } from '../router.js'
import type { Summary } from '../types.js'

interface TimeSeries {
  since: string | null
  until: string | null
  step_s: number
  buckets: Array<{ start: string, requests: number, errors: number }>
}

/** The windows the overview offers, and its bucket width for each (at most ~1 500 buckets). */
const WINDOWS: Record<string, { ms: number, step: number }> = {
  '15m': { ms: 15 * 60_000, step: 60 },
  '1h': { ms: 3_600_000, step: 60 },
  '6h': { ms: 6 * 3_600_000, step: 60 },
  '24h': { ms: 24 * 3_600_000, step: 60 },
  '7d': { ms: 7 * 24 * 3_600_000, step: 600 }
}
const LIVE_WINDOW = '15m'
const LIVE_REFRESH_MS = 5_000

/** Every bucket of the window, the empty ones as zeros (the API lists only buckets with requests). */
function fill (series: TimeSeries, windowMs: number, now: number): { x: number[], requests: number[], errors: number[] } {
  const step = series.step_s * 1000
  const first = Math.floor((now - windowMs) / step) * step
  const last = Math.floor(now / step) * step
  const byStart = new Map(series.buckets.map((b) => [Date.parse(b.start), b]))
  const x: number[] = []
  const requests: number[] = []
  const errors: number[] = []
  for (let s = first; s <= last; s += step) {
    const b = byStart.get(s)
    x.push(s / 1000)
    requests.push(b?.requests ?? 0)
    errors.push(b?.errors ?? 0)
  }
  return { x, requests, errors }
}

export function OverviewPage ({ params }: { params: URLSearchParams }) {
  const chosen = params.get('window') ?? '1h'
  const live = chosen === 'live'
  const windowKey = live ? LIVE_WINDOW : (chosen in WINDOWS ? chosen : '1h')
  const win = WINDOWS[windowKey]!
  const [data, setData] = useState<{ summary: Summary, series: TimeSeries, now: number } | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [tick, setTick] = useState(0)

  useEffect(() => {
    const ac = new AbortController()
    const now = Date.now()
    Promise.all([
      getJson<Summary>('/api/summary', { since: windowKey }, ac.signal),
      getJson<TimeSeries>('/api/timeseries', { since: windowKey, step: win.step }, ac.signal)
    ]).then(([summary, series]) => { setData({ summary, series, now }); setError(null) }, (err: unknown) => { if (!ac.signal.aborted) setError(err) })
    return () => ac.abort()
  }, [windowKey, tick])

  useEffect(() => {
    if (!live) return
    const timer = setInterval(() => setTick((n) => n + 1), LIVE_REFRESH_MS)
    return () => clearInterval(timer)
  }, [live])

  const filled = useMemo(() => data === null ? null : fill(data.series, win.ms, data.now), [data])
  const series = useMemo(() => filled === null
    ? []
    : [
        { label: t('overview.requests'), colorVar: '--gateway', values: filled.requests },
        { label: t('overview.failures'), colorVar: '--failed', values: filled.errors }
      ], [filled])

  /** The list, filtered by one more thing, over this window. */
  const list = (extra: Record<string, string>): string => href('/exchanges', { since: windowKey, ...extra })

  return (
    <div class="page" aria-busy={data === null} data-testid="overview" data-window={chosen}>
      <div class="page-head">
        <h1>{t('overview.title')}</h1>
        <div class="page-actions">
          <label class="toggle" for="ov-window">{t('filters.window')}</label>
          <select id="ov-window" value={chosen} onChange={(e) => navigate(href('/overview', { window: e.currentTarget.value }))}>
            {Object.keys(WINDOWS).map((w) => <option key={w} value={w}>{t(`window.${w}`)}</option>)}
            <option value="live">{t('overview.live')}</option>
          </select>
        </div>
      </div>
      {error !== null && <ErrorBox error={error} />}
      {data === null || filled === null
        ? <Loading />
        : (
          <>
            <div class="stats">
              <a class="stat" href={list({})} data-testid="stat-total">
                <span class="stat-value">{numberFormat(data.summary.total)}</span>
                <span class="stat-label">{t('overview.requests')}</span>
              </a>
              <a class="stat" href={list({ failed: 'true' })} data-testid="stat-errors">
                <span class="stat-value">{numberFormat(data.summary.errors)}</span>
                <span class="stat-label">{t('overview.failures')}</span>
              </a>
              <div class="stat" data-testid="stat-rate">
                <span class="stat-value">{numberFormat(data.summary.error_rate * 100, 1)}%</span>
                <span class="stat-label">{t('overview.errorRate')}</span>
              </div>
            </div>
            <RecentFailures since={windowKey} refresh={tick} allHref={list({ failed: 'true' })} />
            <Section title={t('overview.perMinute', { count: data.series.step_s / 60 })} id="series">
              <TimeChart
                x={filled.x}
                series={series}
                label={t('overview.chartLabel', { requests: data.summary.total, errors: data.summary.errors })}
                onPick={(i) => {
                  const start = (filled.x[i] ?? 0) * 1000
                  navigate(href('/exchanges', { since: new Date(start).toISOString(), until: new Date(start + data.series.step_s * 1000 - 1).toISOString() }))
                }}
              />
              <p class="hint">{t('overview.chartHint')}</p>
            </Section>
            <div class="breakdowns">
              <Breakdown title={t('overview.byFlag')} id="by-flag" counts={data.summary.by_flag} render={(k) => <FlagBadge flag={k} />} link={(k) => list({ flag: k })} />
              <Breakdown title={t('overview.byCause')} id="by-cause" counts={data.summary.by_cause} skip="none" render={(k) => <span title={k}>{data.summary.cause_titles[k] ?? k}</span>} link={(k) => list({ cause: k })} />
              <Breakdown title={t('overview.byFeature')} id="by-feature" counts={data.summary.by_feature} render={(k) => <span>{k}</span>} link={(k) => list(k === 'none' ? {} : { feature: k })} />
              <Breakdown title={t('overview.byRoute')} id="by-route" counts={data.summary.by_route} render={(k) => <span class="route">{k}</span>} link={(k) => list({ route: k })} />
              <Breakdown title={t('overview.byStatus')} id="by-status" counts={data.summary.by_status} render={(k) => <span>{k === 'none' ? t('status.none') : k}</span>} link={(k) => list(k === 'none' ? { q: 'status:none' } : { status: k })} />
            </div>
            <Section title={t('overview.latency')} id="latency">
              <LatencyTable summary={data.summary} link={list} />
            </Section>
          </>
          )}
    </div>
  )
}

function Breakdown ({ title, id, counts, render, link, skip }: { title: string, id: string, counts: Record<string, number>, render: (k: string) => preact.JSX.Element, link: (k: string) => string, skip?: string }) {
  const entries = Object.entries(counts).filter(([k]) => k !== skip).sort((a, b) => b[1] - a[1])
  const max = Math.max(1, ...entries.map(([, n]) => n))
  return (
    <Section title={title} id={id}>
      {entries.length === 0
        ? <p class="muted">{t('overview.nothing')}</p>
        : (
          <table class="breakdown" data-testid={id}>
            <thead><tr><th scope="col">{t('overview.key')}</th><th scope="col" class="num">{t('overview.count')}</th></tr></thead>
            <tbody>
              {entries.map(([k, n]) => (
                <tr key={k} data-key={k}>
                  <td>
                    {render(k)}
                    <span class="bar" aria-hidden="true"><span style={{ width: `${(n / max) * 100}%` }} /></span>
                  </td>
                  <td class="num"><a href={link(k)} aria-label={t('overview.openList', { count: n, name: k })}>{numberFormat(n)}</a></td>
                </tr>
              ))}
            </tbody>
          </table>
          )}
    </Section>
  )
}

function LatencyTable ({ summary, link }: { summary: Summary, link: (extra: Record<string, string>) => string }) {
  if (summary.latency.length === 0) return <p class="muted">{t('overview.nothing')}</p>
  return (
    <div class="table-wrap">
      <table class="latency" data-testid="latency">
        <thead>
          <tr>
            <th scope="col" rowSpan={2}>{t('col.route')}</th>
            <th scope="col" rowSpan={2}>{t('filters.feature')}</th>
            <th scope="col" rowSpan={2} class="num">{t('overview.count')}</th>
            <th scope="colgroup" colSpan={3} class="num">{t('exchange.ttfb')}</th>
            <th scope="colgroup" colSpan={3} class="num">{t('col.duration')}</th>
          </tr>
          <tr>
            {['p50', 'p95', 'p99', 'p50', 'p95', 'p99'].map((p, i) => <th key={i} scope="col" class="num">{p}</th>)}
          </tr>
        </thead>
        <tbody>
          {summary.latency.map((r) => (
            <tr key={`${r.route}/${r.feature}`}>
              <td class="route">{r.route}</td>
              <td>{r.feature}</td>
              <td class="num"><a href={link({ route: r.route, ...(r.feature === 'none' ? {} : { feature: r.feature }) })}>{numberFormat(r.count)}</a></td>
              <td class="num">{formatMs(r.ttfb_ms.p50)}</td>
              <td class="num">{formatMs(r.ttfb_ms.p95)}</td>
              <td class="num">{formatMs(r.ttfb_ms.p99)}</td>
              <td class="num">{formatMs(r.duration_ms.p50)}</td>
              <td class="num">{formatMs(r.duration_ms.p95)}</td>
              <td class="num">{formatMs(r.duration_ms.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
