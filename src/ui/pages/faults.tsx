import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { del, getJson } from '../api.js'
import { ErrorBox, Loading, Section } from '../components.js'
import { describeAction, FAULTS_PATH, type FaultList, type FaultRule, isFaultsOff } from '../faults.js'
import { t } from '../i18n.js'
import { FaultForm } from './fault-form.js'

/** `#/faults`: the rules in force, one removed or all of them, one added from a preset. */
export function FaultsPage () {
  const [list, setList] = useState<FaultList | null>(null)
  const [off, setOff] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [notice, setNotice] = useState('')
  const [version, setVersion] = useState(0)

  useEffect(() => {
    const ac = new AbortController()
    getJson<FaultList>(FAULTS_PATH, {}, ac.signal).then(
      (l) => { setList(l); setError(null) },
      (err: unknown) => {
        if (ac.signal.aborted) return
        if (isFaultsOff(err)) setOff(true)
        else setError(err)
      }
    )
    return () => ac.abort()
  }, [version])

  /** After any change: say what happened, and read the rules again (the server is the truth). */
  const changed = (message: string): void => {
    setNotice(message)
    setVersion((v) => v + 1)
  }

  const remove = async (name?: string): Promise<void> => {
    try {
      const { removed } = await del<{ removed: number }>(FAULTS_PATH, { name })
      changed(name === undefined ? t('faults.removedAll', { count: removed }) : t('faults.removed', { name }))
      // The button pressed is gone with its row: keep the keyboard at the list's heading.
      const heading = document.getElementById('fault-rules-title')
      if (heading !== null) {
        heading.tabIndex = -1
        heading.focus()
      }
    } catch (err) {
      setError(err)
    }
  }

  if (off) return <FaultsOff />
  return (
    <div class="page" aria-busy={list === null} data-testid="faults-page">
      <div class="page-head">
        <h1>{t('faults.title')}</h1>
      </div>
      <p class="fault-intro">{t('faults.intro')}</p>
      <p class="fault-notice" role="status" data-testid="fault-notice">{notice}</p>
      {error !== null && <ErrorBox error={error} />}
      {list === null
        ? error === null && <Loading />
        : (
          <>
            <Section
              title={t('faults.rules')}
              id="fault-rules"
              actions={list.rules.length > 0 && <RemoveAll count={list.rules.length} onConfirm={() => void remove()} />}
            >
              <RulesTable rules={list.rules} onRemove={(name) => void remove(name)} />
            </Section>
            <FaultForm presets={list.presets} existing={list.rules.map((r) => r.name)} onAdded={changed} />
          </>
          )}
    </div>
  )
}

function RulesTable ({ rules, onRemove }: { rules: FaultRule[], onRemove: (name: string) => void }) {
  if (rules.length === 0) return <p class="muted empty" data-testid="fault-none">{t('faults.none')}</p>
  return (
    <>
      <p class="hint">{t('faults.order')}</p>
      <div class="table-wrap">
        <table class="faults">
          <thead>
            <tr>
              <th scope="col">{t('faults.col.name')}</th>
              <th scope="col">{t('faults.col.match')}</th>
              <th scope="col">{t('faults.col.action')}</th>
              <th scope="col" class="num">{t('faults.col.percent')}</th>
              <th scope="col"><span class="sr-only">{t('faults.col.remove')}</span></th>
            </tr>
          </thead>
          <tbody>
            {rules.map((rule) => (
              <tr key={rule.name} data-testid="fault-row" data-name={rule.name}>
                <th scope="row" class="fault-name"><code>{rule.name}</code></th>
                <td><MatchList rule={rule} /></td>
                <td><ActionCell rule={rule} /></td>
                <td class="num">{rule.match.percent}%</td>
                <td>
                  <button type="button" class="secondary" aria-label={t('faults.removeRule', { name: rule.name })} onClick={() => onRemove(rule.name)}>
                    {t('faults.remove')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  )
}

function MatchList ({ rule }: { rule: FaultRule }) {
  const m = rule.match
  const conditions: Array<[string, string]> = []
  if (m.route !== undefined) conditions.push([t('faults.match.route'), m.route])
  if (m.method !== undefined) conditions.push([t('faults.match.method'), m.method])
  if (m.path !== undefined) conditions.push([t('faults.match.path'), m.path])
  if (m.header !== undefined) conditions.push([t('faults.match.header'), `${m.header.name}: ${m.header.value}`])
  if (conditions.length === 0) return <span>{t('faults.match.all')}</span>
  return (
    <ul class="fault-match">
      {conditions.map(([label, value]) => <li key={label}><span class="muted">{label}</span> <code>{value}</code></li>)}
    </ul>
  )
}

function ActionCell ({ rule }: { rule: FaultRule }) {
  const action = rule.action
  return (
    <>
      <span class="fault-action">{describeAction(action)}</span>
      {'respond' in action && (
        <details class="fault-body">
          <summary>{t('faults.action.body')}</summary>
          <pre>{Object.entries(action.respond.headers).map(([k, v]) => `${k}: ${v}\n`).join('')}{'\n'}{action.respond.body}</pre>
        </details>
      )}
    </>
  )
}

/** Remove all, in two steps: the first press only asks. Escape or Cancel steps back. */
function RemoveAll ({ count, onConfirm }: { count: number, onConfirm: () => void }) {
  const [asking, setAsking] = useState(false)
  const cancelRef = useRef<HTMLButtonElement>(null)
  const askRef = useRef<HTMLButtonElement>(null)
  const wasAsking = useRef(false)
  // Before the next paint, so no key pressed meanwhile lands on the page's body.
  useLayoutEffect(() => {
    // The least harmful choice gets the focus; back on the first button after a cancel.
    if (asking) cancelRef.current?.focus()
    else if (wasAsking.current) askRef.current?.focus()
    wasAsking.current = asking
  }, [asking])
  if (!asking) {
    return <button type="button" class="secondary" ref={askRef} onClick={() => setAsking(true)} data-testid="fault-remove-all">{t('faults.removeAll')}</button>
  }
  return (
    <div class="fault-confirm" role="group" aria-labelledby="fault-confirm-text" onKeyDown={(e) => { if (e.key === 'Escape') setAsking(false) }}>
      <span id="fault-confirm-text">{t('faults.confirmAll', { count })}</span>
      <button type="button" class="danger" onClick={() => { setAsking(false); onConfirm() }} data-testid="fault-confirm-all">{t('faults.confirmYes')}</button>
      <button type="button" class="secondary" ref={cancelRef} onClick={() => setAsking(false)}>{t('faults.cancel')}</button>
    </div>
  )
}

/** Visited while the configuration keeps fault injection off: why, and how to turn it on. */
function FaultsOff () {
  return (
    <div class="panel fault-off" data-testid="faults-off">
      <h1>{t('faults.off.title')}</h1>
      <p>{t('faults.off.explain')}</p>
      <p>{t('faults.off.how')}</p>
      <pre><code>{'faults:\n  enabled: true'}</code></pre>
    </div>
  )
}
