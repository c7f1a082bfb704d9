/**
 * `#/doctor`: the playbook's quick checks, run by the proxy against its own upstreams
 * (POST /api/doctor), each result shown as it arrives. The list is an aria-live region, so a
 * screen reader hears each result; the status line says when the run starts and how it ended.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, postNdjson } from '../api.js'
import { numberFormat, t } from '../i18n.js'

type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'
const STATUSES: readonly CheckStatus[] = ['pass', 'warn', 'fail', 'skip']

/** The API's DoctorResult and DoctorDone (the OpenAPI document's components). */
interface DoctorResult {
  route: string | null
  hop: 'gateway' | 'model'
  check: string
  name: string
  status: CheckStatus
  evidence: string
  next_step?: string
}

interface DoctorDone {
  done: true
  counts: Record<CheckStatus, number>
  timed_out: boolean
  error?: string
  message?: string
}

type RunState =
  | { phase: 'idle' }
  | { phase: 'running' }
  | { phase: 'done', summary: DoctorDone }
  | { phase: 'failed', message: string }

function isDone (line: unknown): line is DoctorDone {
  return typeof line === 'object' && line !== null && (line as { done?: unknown }).done === true
}

/** What went wrong, for the reader: the busy and network cases in words, the rest as the API said. */
function describeFailure (err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'doctor_busy') return t('doctor.busy')
    if (err.status === 401) return t('doctor.unauthorized')
    return t('error.api', { message: err.message })
  }
  // fetch rejects with a TypeError when the proxy cannot be reached at all.
  return t('doctor.network', { message: err instanceof Error ? err.message : String(err) })
}

export function DoctorPage () {
  const [modelName, setModelName] = useState('')
  const [results, setResults] = useState<DoctorResult[]>([])
  const [state, setState] = useState<RunState>({ phase: 'idle' })
  const running = useRef<AbortController | null>(null)
  // Leaving the page stops reading (the run itself ends on the proxy, within its bounds).
  useEffect(() => () => running.current?.abort(), [])

  const run = async (): Promise<void> => {
    const controller = new AbortController()
    running.current = controller
    setResults([])
    setState({ phase: 'running' })
    const last: { done: DoctorDone | null } = { done: null }
    try {
      const name = modelName.trim()
      await postNdjson('/api/doctor', name === '' ? {} : { model_name: name }, (line) => {
        if (isDone(line)) last.done = line
        else setResults((list) => [...list, line as DoctorResult])
      }, controller.signal)
      setState(last.done === null ? { phase: 'failed', message: t('doctor.cut') } : { phase: 'done', summary: last.done })
    } catch (err) {
      if (!controller.signal.aborted) setState({ phase: 'failed', message: describeFailure(err) })
    }
  }

  const busy = state.phase === 'running'
  return (
    <div data-testid="doctor-page" aria-busy={busy ? 'true' : 'false'}>
      <div class="page-head"><h1>{t('doctor.title')}</h1></div>
      <form class="panel doctor-form" onSubmit={(e) => { e.preventDefault(); if (!busy) void run() }}>
        <p class="doctor-intro">{t('doctor.intro')}</p>
        <div class="doctor-controls">
          <div class="field">
            <label for="doctor-model">{t('doctor.modelName')}</label>
            <input id="doctor-model" maxLength={256} spellcheck={false} autoComplete="off" aria-describedby="doctor-model-help"
              value={modelName} onInput={(e) => setModelName(e.currentTarget.value)} />
          </div>
          <button type="submit" disabled={busy} data-testid="doctor-run">{busy ? t('doctor.running') : t('doctor.run')}</button>
        </div>
        <p id="doctor-model-help" class="hint">{t('doctor.modelNameHelp')}</p>
      </form>
      <p role="status" class="doctor-status" data-testid="doctor-status">{statusText(state)}</p>
      {state.phase === 'failed' && <p class="error-box" role="alert" data-testid="doctor-error">{state.message}</p>}
      {state.phase !== 'idle' && <Results results={results} />}
      {state.phase === 'done' && <Summary summary={state.summary} />}
    </div>
  )
}

function statusText (state: RunState): string {
  if (state.phase === 'running') return t('doctor.runningStatus')
  if (state.phase !== 'done') return ''
  return t('doctor.summaryText', Object.fromEntries(STATUSES.map((s) => [s, numberFormat(state.summary.counts[s])])))
}

/** Mounted when a run starts, empty: a live region must exist before what it announces. */
function Results ({ results }: { results: DoctorResult[] }) {
  return (
    <section class="panel" aria-labelledby="doctor-results-title">
      <div class="panel-head"><h2 id="doctor-results-title">{t('doctor.results')}</h2></div>
      <ol class="doctor-results" data-testid="doctor-results" aria-live="polite" aria-relevant="additions">
        {results.map((r, i) => (
          <li key={i} class="doctor-result" data-check={r.check} data-status={r.status} data-route={r.route ?? ''}>
            <span class={`doctor-badge doctor-badge-${r.status}`}>{t(`doctor.status.${r.status}`)}</span>
            <span class="doctor-name">{r.name}</span>
            {r.route !== null && <span class="doctor-route muted">{t('doctor.onRoute', { route: r.route })}</span>}
            <p class="doctor-evidence">{r.evidence}</p>
            {r.next_step !== undefined && r.status !== 'pass' && (
              <p class="doctor-step"><span class="doctor-step-label">{t('doctor.nextStep')}</span> {r.next_step}</p>
            )}
          </li>
        ))}
      </ol>
    </section>
  )
}

function Summary ({ summary }: { summary: DoctorDone }) {
  const { counts } = summary
  const verdict = counts.fail > 0 ? 'someFailed' : counts.warn > 0 ? 'someWarned' : 'allPassed'
  return (
    <section class="panel" aria-labelledby="doctor-summary-title" data-testid="doctor-summary" data-verdict={verdict}>
      <div class="panel-head"><h2 id="doctor-summary-title">{t('doctor.summary')}</h2></div>
      <div class="stats">
        {STATUSES.map((s) => (
          <div key={s} class={`stat doctor-stat-${s}`} data-status={s}>
            <span class="stat-value">{numberFormat(counts[s])}</span>
            <span class="stat-label">{t(`doctor.count.${s}`)}</span>
          </div>
        ))}
      </div>
      <p class={`doctor-verdict doctor-verdict-${verdict}`}>{t(`doctor.${verdict}`)}</p>
      {summary.timed_out && <p class="error-box">{t('doctor.timedOut')}</p>}
      {summary.error !== undefined && <p class="error-box">{t('doctor.runFailed', { message: summary.message ?? summary.error })}</p>}
    </section>
  )
}
