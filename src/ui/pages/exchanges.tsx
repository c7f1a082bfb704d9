import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { download, getJson, type Params, tail, type TailState } from '../api.js'
import { ErrorBox, Flags, HopBadge, Loading, Status } from '../components.js'
import { formatDateTime, formatMs, formatTime } from '../format.js'
import { FLAG_NAMES, t } from '../i18n.js'
import { href, navigate } from '../router.js'
import type { Exchange, Page, Summary } from '../types.js'

/** The filters the list takes from its URL, by their API names. */
export const FILTER_KEYS = ['route', 'hop', 'feature', 'flag', 'failed', 'status', 'correlation_id', 'cause', 'q', 'since', 'until'] as const
export const WINDOWS = ['15m', '1h', '6h', '24h', '7d'] as const
const PAGE_SIZE = 50
/** Rows kept on screen while new ones arrive; older ones are a page away. */
const MAX_ROWS = 1_000

export function filterParams (params: URLSearchParams): Params {
  const out: Params = {}
  for (const k of FILTER_KEYS) {
    if (k === 'flag') {
      const flags = params.getAll('flag').filter((f) => f !== '')
      if (flags.length > 0) out.flag = flags
    } else {
      const v = params.get(k)
      if (v !== null && v !== '') out[k] = v
    }
  }
  return out
}

interface Props {
  params: URLSearchParams
  /** The live tail: only what arrives from now on. */
  live: boolean
}

export function ExchangesPage ({ params, live }: Props) {
  const filters = useMemo(() => filterParams(params), [params.toString()])
  const [items, setItems] = useState<Exchange[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(!live)
  const [error, setError] = useState<unknown>(null)
  const [following, setFollowing] = useState(true)
  const [tailState, setTailState] = useState<TailState>('connecting')
  const [arrived, setArrived] = useState(0)
  const fresh = useRef(new Set<string>())

  // The first page (not for the live tail: it shows what arrives).
  useEffect(() => {
    if (live) return
    const ac = new AbortController()
    setLoading(true)
    getJson<Page>('/api/exchanges', { ...filters, limit: PAGE_SIZE }, ac.signal)
      .then((p) => { setItems(p.items); setCursor(p.next_cursor); setError(null) })
      .catch((err: unknown) => { if (!ac.signal.aborted) setError(err) })
      .finally(() => { if (!ac.signal.aborted) setLoading(false) })
    return () => ac.abort()
  }, [filters, live])

  // New exchanges from the live tail, with the same filters, on top.
  useEffect(() => {
    if (!following) {
      setTailState('closed')
      return
    }
    const { since: _since, ...tailFilters } = filters
    return tail(tailFilters, (ex) => {
      fresh.current.add(ex.id)
      setArrived((n) => n + 1)
      setItems((list) => list.some((x) => x.id === ex.id) ? list : [ex, ...list].slice(0, MAX_ROWS))
    }, (s) => setTailState(s))
  }, [filters, following])

  const more = async (): Promise<void> => {
    if (cursor === null) return
    try {
      const p = await getJson<Page>('/api/exchanges', { ...filters, limit: PAGE_SIZE, cursor })
      setItems((list) => [...list, ...p.items.filter((x) => !list.some((y) => y.id === x.id))])
      setCursor(p.next_cursor)
    } catch (err) {
      setError(err)
    }
  }

  const exportAs = (format: 'har' | 'ndjson'): void => {
    download('/api/export', { ...filters, format }, `duo-diag.${format}`).catch((err: unknown) => setError(err))
  }

  return (
    <div class="page" aria-busy={loading} data-query={params.toString()} data-testid="exchanges-page">
      <div class="page-head">
        <h1>{live ? t('live.title') : t('exchanges.title')}</h1>
        <div class="page-actions">
          <label class="toggle">
            <input type="checkbox" checked={following} onChange={(e) => setFollowing(e.currentTarget.checked)} data-testid="follow" />
            {t('exchanges.follow')}
          </label>
          <span class={`tail tail-${tailState}`} role="status" data-testid="tail-state">{t(`tail.${tailState}`)}{arrived > 0 ? ` · ${t('exchanges.arrived', { count: arrived })}` : ''}</span>
          <button type="button" onClick={() => exportAs('har')}>{t('exchanges.exportHar')}</button>
          <button type="button" onClick={() => exportAs('ndjson')}>{t('exchanges.exportNdjson')}</button>
        </div>
      </div>
      <FilterForm params={params} path={live ? '/live' : '/exchanges'} />
      {error !== null && <ErrorBox error={error} />}
      {loading ? <Loading /> : <ExchangeTable items={items} fresh={fresh.current} empty={live ? t('live.waiting') : t('exchanges.none')} />}
      {!live && cursor !== null && !loading && (
        <p class="more"><button type="button" onClick={() => void more()} data-testid="older">{t('exchanges.older')}</button></p>
      )}
    </div>
  )
}

function FilterForm ({ params, path }: { params: URLSearchParams, path: string }) {
  const [draft, setDraft] = useState(() => ({
    route: params.get('route') ?? '',
    feature: params.get('feature') ?? '',
    correlation_id: params.get('correlation_id') ?? '',
    q: params.get('q') ?? ''
  }))
  const [options, setOptions] = useState<{ routes: string[], features: string[] }>({ routes: [], features: [] })
  const [wantOptions, setWantOptions] = useState(false)
  useEffect(() => {
    if (!wantOptions) return
    // The choices: what the store holds from the last week (the summary's breakdowns). Asked for
    // when a field that offers them is first focused, not with the page: a week's summary is the
    // dearest read there is, and the list's own query would queue behind it (issue 18).
    getJson<Summary>('/api/summary', { since: '7d' })
      .then((s) => setOptions({ routes: Object.keys(s.by_route).sort(), features: Object.keys(s.by_feature).sort() }))
      .catch(() => undefined)
  }, [wantOptions])

  const apply = (change: Record<string, string | string[] | undefined>): void => {
    const next = new URLSearchParams()
    const merged: Record<string, string | string[] | undefined> = { ...Object.fromEntries(FILTER_KEYS.map((k) => [k, k === 'flag' ? params.getAll('flag') : params.get(k) ?? undefined])), ...draft, ...change }
    for (const k of FILTER_KEYS) {
      const v = merged[k]
      if (Array.isArray(v)) for (const x of v) { if (x !== '') next.append(k, x) } else if (v !== undefined && v !== '') next.set(k, v)
    }
    navigate(href(path, next))
  }
  const field = (name: keyof typeof draft) => ({
    id: `f-${name}`,
    name,
    value: draft[name],
    onInput: (e: Event) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value })
  })
  const cause = params.get('cause')
  const since = params.get('since')
  const until = params.get('until')

  return (
    <form class="filters" role="search" aria-label={t('filters.label')} onSubmit={(e) => { e.preventDefault(); apply({}) }}>
      <div class="field">
        <label for="f-route">{t('filters.route')}</label>
        <input {...field('route')} list="routes" autoComplete="off" onFocus={() => setWantOptions(true)} />
        <datalist id="routes">{options.routes.map((r) => <option key={r} value={r} />)}</datalist>
      </div>
      <div class="field">
        <label for="f-hop">{t('filters.hop')}</label>
        <select id="f-hop" value={params.get('hop') ?? ''} onChange={(e) => apply({ hop: e.currentTarget.value })}>
          <option value="">{t('filters.any')}</option>
          <option value="gateway">{t('hop.gateway')}</option>
          <option value="model">{t('hop.model')}</option>
        </select>
      </div>
      <div class="field">
        <label for="f-feature">{t('filters.feature')}</label>
        <input {...field('feature')} list="features" autoComplete="off" onFocus={() => setWantOptions(true)} />
        <datalist id="features">{options.features.map((r) => <option key={r} value={r} />)}</datalist>
      </div>
      <div class="field">
        <label for="f-flag">{t('filters.flag')}</label>
        <select id="f-flag" value={params.get('flag') ?? ''} onChange={(e) => apply({ flag: e.currentTarget.value === '' ? [] : [e.currentTarget.value] })}>
          <option value="">{t('filters.any')}</option>
          {FLAG_NAMES.map((f) => <option key={f} value={f}>{f}</option>)}
        </select>
      </div>
      <div class="field field-check">
        <label>
          <input type="checkbox" id="f-failed" checked={params.get('failed') === 'true'} onChange={(e) => apply({ failed: e.currentTarget.checked ? 'true' : undefined })} />
          {t('filters.failedOnly')}
        </label>
      </div>
      <div class="field">
        <label for="f-status">{t('filters.status')}</label>
        <select id="f-status" value={params.get('status') ?? ''} onChange={(e) => apply({ status: e.currentTarget.value })}>
          <option value="">{t('filters.any')}</option>
          {['2xx', '3xx', '4xx', '5xx'].map((s) => <option key={s} value={s}>{s}</option>)}
          {params.get('status') !== null && !/^[2-5]xx$/.test(params.get('status')!) && <option value={params.get('status')!}>{params.get('status')}</option>}
        </select>
      </div>
      <div class="field">
        <label for="f-since">{t('filters.window')}</label>
        <select id="f-since" value={params.get('since') ?? ''} onChange={(e) => apply({ since: e.currentTarget.value })}>
          <option value="">{t('filters.allTime')}</option>
          {WINDOWS.map((w) => <option key={w} value={w}>{t(`window.${w}`)}</option>)}
          {since !== null && !(WINDOWS as readonly string[]).includes(since) && <option value={since}>{t('filters.from', { time: formatDateTime(since) })}</option>}
        </select>
      </div>
      <div class="field">
        <label for="f-correlation_id">{t('filters.correlationId')}</label>
        <input {...field('correlation_id')} autoComplete="off" spellcheck={false} />
      </div>
      <div class="field field-wide">
        <label for="f-q">{t('filters.query')}</label>
        <input {...field('q')} type="search" autoComplete="off" spellcheck={false} placeholder="flag:timeout status:5xx duration:>2s" aria-describedby="q-help" />
        <span id="q-help" class="hint">{t('filters.queryHelp')}</span>
      </div>
      <div class="field field-buttons">
        <button type="submit">{t('filters.apply')}</button>
        <a class="button secondary" href={href(path)}>{t('filters.clear')}</a>
      </div>
      {(cause !== null || until !== null) && (
        <p class="chips">
          {cause !== null && <span class="chip">{t('filters.cause')}: <code>{cause}</code> <a href={href(path, withoutParam(params, 'cause'))} aria-label={t('filters.remove', { name: cause })}>✕</a></span>}
          {until !== null && <span class="chip">{t('filters.until', { time: formatDateTime(until) })} <a href={href(path, withoutParam(params, 'until'))} aria-label={t('filters.remove', { name: until })}>✕</a></span>}
        </p>
      )}
    </form>
  )
}

function withoutParam (params: URLSearchParams, name: string): URLSearchParams {
  const p = new URLSearchParams(params)
  p.delete(name)
  return p
}

export function ExchangeTable ({ items, fresh, empty }: { items: Exchange[], fresh?: Set<string>, empty: string }) {
  if (items.length === 0) return <p class="muted empty" data-testid="empty">{empty}</p>
  return (
    <div class="table-wrap">
      <table class="exchanges" data-testid="exchanges">
        <caption class="sr-only">{t('exchanges.caption', { count: items.length })}</caption>
        <thead>
          <tr>
            <th scope="col">{t('col.time')}</th>
            <th scope="col">{t('col.route')}</th>
            <th scope="col" class="method-cell">{t('col.method')}</th>
            <th scope="col">{t('col.path')}</th>
            <th scope="col" class="num">{t('col.status')}</th>
            <th scope="col">{t('col.flags')}</th>
            <th scope="col" class="num">{t('col.duration')}</th>
            <th scope="col">{t('col.cause')}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((ex) => (
            <tr key={ex.id} class={fresh?.has(ex.id) === true ? 'fresh' : undefined} data-id={ex.id} data-started-at={ex.started_at}>
              <td class="time"><a href={href(`/exchange/${ex.id}`)} title={formatDateTime(ex.started_at)}>{formatTime(ex.started_at)}</a></td>
              <td class="route-cell"><span class="route">{ex.route}</span> <HopBadge hop={ex.hop} /></td>
              <td class="method-cell"><code>{ex.method}</code></td>
              <td class="path" title={ex.path}><code>{ex.path}</code></td>
              <td class="num"><Status status={ex.status} /></td>
              <td class="flags-cell"><Flags flags={ex.flags} /></td>
              <td class="num">{formatMs(ex.timings.duration_ms)}</td>
              <td class="cause" title={ex.diagnosis?.cause ?? ''}><span class="clamp">{ex.diagnosis?.cause ?? ''}</span></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

