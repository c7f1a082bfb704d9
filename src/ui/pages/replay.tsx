/**
 * The trace page's Replay: resend the selected exchange to a staging target the proxy has
 * configured (replay.targets), through POST /api/exchanges/{id}/replay, and show what came back
 * beside the original. The page only names a target; the URL and credentials stay on the server.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { getJson, sendJson } from '../api.js'
import { ErrorBox, Flags, Status } from '../components.js'
import { formatMs } from '../format.js'
import { t } from '../i18n.js'
import { href } from '../router.js'
import type { Exchange, ReplayRun, ReplayTarget } from '../types.js'

export const REPLAY_PANEL_ID = 'replay'

/** The configured targets (null until known); none, or an API that cannot tell: no Replay control at all. */
export function useReplayTargets (): ReplayTarget[] | null {
  const [targets, setTargets] = useState<ReplayTarget[] | null>(null)
  useEffect(() => {
    const ac = new AbortController()
    getJson<{ targets: ReplayTarget[] }>('/api/replay/targets', {}, ac.signal).then((r) => setTargets(r.targets), () => setTargets([]))
    return () => ac.abort()
  }, [])
  return targets
}

export function ReplayPanel ({ ex, targets }: { ex: Exchange, targets: ReplayTarget[] }) {
  const [target, setTarget] = useState(targets[0]?.name ?? '')
  const [running, setRunning] = useState(false)
  const [run, setRun] = useState<ReplayRun | null>(null)
  const [error, setError] = useState<unknown>(null)
  const select = useRef<HTMLSelectElement>(null)
  // Opened from the "Replay…" button: the keyboard goes on to the choice it opened — before the
  // panel is painted (a layout effect), so no key pressed once it shows lands elsewhere.
  useLayoutEffect(() => select.current?.focus(), [])

  const submit = (e: Event): void => {
    e.preventDefault()
    if (running) return
    setRunning(true)
    setError(null)
    setRun(null)
    sendJson<ReplayRun>('POST', `/api/exchanges/${encodeURIComponent(ex.id)}/replay`, { target })
      .then(setRun, setError)
      .finally(() => setRunning(false))
  }
  const announced = running ? t('replay.waiting') : run !== null ? t('replay.done', { target: run.target, status: run.outcome.status ?? t('status.none') }) : ''

  return (
    <section class="panel replay" id={REPLAY_PANEL_ID} aria-labelledby="replay-title" data-testid="replay-panel">
      <div class="panel-head"><h2 id="replay-title">{t('replay.title')}</h2></div>
      <p class="muted">{t('replay.intro')}</p>
      <form class="replay-form" onSubmit={submit} aria-busy={running}>
        <div class="field">
          <label for="replay-target">{t('replay.target')}</label>
          <select id="replay-target" ref={select} value={target} disabled={running} onChange={(e) => setTarget((e.currentTarget as HTMLSelectElement).value)}>
            {targets.map((x) => <option key={x.name} value={x.name}>{x.name} ({x.url})</option>)}
          </select>
        </div>
        <button type="submit" disabled={running} data-testid="replay-run">{running ? t('replay.running') : t('replay.run')}</button>
      </form>
      <p role="status" class="replay-status" data-testid="replay-status">{announced}</p>
      {error !== null && <ErrorBox error={error} />}
      {run !== null && <ReplayOutcome original={ex} run={run} />}
    </section>
  )
}

/** Original and replay side by side, then what was sent in the original's place, and the replay's own record. */
function ReplayOutcome ({ original, run }: { original: Exchange, run: ReplayRun }) {
  const o = run.outcome
  const notes = [
    ...(run.sent.body === 'synthesized' ? [t('replay.synthesized')] : []),
    ...(run.sent.dropped_headers.length > 0 ? [t('replay.dropped', { headers: run.sent.dropped_headers.join(', ') })] : [])
  ]
  return (
    <div class="replay-outcome" data-testid="replay-outcome" data-replay-id={run.replay}>
      <table class="replay-compare">
        <caption>{t('replay.result', { target: run.target })}</caption>
        <thead><tr><td /><th scope="col">{t('replay.original')}</th><th scope="col">{t('replay.replay')}</th></tr></thead>
        <tbody>
          <tr data-row="status"><th scope="row">{t('col.status')}</th><td><Status status={original.status} /></td><td><Status status={o.status} /></td></tr>
          <tr data-row="flags"><th scope="row">{t('col.flags')}</th><td><Flags flags={original.flags} /></td><td><Flags flags={o.flags} /></td></tr>
          <tr data-row="cause"><th scope="row">{t('col.cause')}</th><td>{original.diagnosis?.cause ?? t('replay.noCause')}</td><td>{o.cause ?? t('replay.noCause')}</td></tr>
          <tr data-row="ttfb"><th scope="row">{t('exchange.ttfb')}</th><td>{formatMs(original.timings.ttfb_ms)}</td><td>{formatMs(o.ttfb_ms)}</td></tr>
          <tr data-row="duration"><th scope="row">{t('col.duration')}</th><td>{formatMs(original.timings.duration_ms)}</td><td>{formatMs(o.duration_ms)}</td></tr>
        </tbody>
      </table>
      {o.error !== null && <p><strong>{t('exchange.error')}:</strong> <code>{o.error.code}</code> {o.error.message}</p>}
      {notes.length > 0 && <ul class="replay-notes">{notes.map((n) => <li key={n}>{n}</li>)}</ul>}
      <p>
        <a href={href(`/exchange/${run.replay}`)} data-testid="replay-link">{t('replay.openRecord')}</a>{' '}
        <code class="muted">{run.sent.request_id}</code>
      </p>
    </div>
  )
}
