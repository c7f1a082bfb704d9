import { useEffect, useState } from 'preact/hooks'
import { getJson, sendJson } from '../api.js'
import { Section } from '../components.js'
import { FAULTS_PATH, type FaultRule, presetText } from '../faults.js'
import { t } from '../i18n.js'
import type { Summary } from '../types.js'

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

interface Draft { preset: string, name: string, route: string, method: string, path: string, header: string, percent: string }

/**
 * The POST /api/faults body for the draft: empty fields left out (they match everything). No
 * check of its own: the API's parser (the configuration's) judges, and its message names the field.
 */
function ruleBody (d: Draft): Record<string, string | number> {
  const body: Record<string, string | number> = { preset: d.preset }
  for (const k of ['name', 'route', 'method', 'path', 'header'] as const) {
    const v = d[k].trim()
    if (v !== '') body[k] = v
  }
  const percent = d.percent.trim()
  // A whole number goes as a number; anything else as typed, for the API to explain.
  if (percent !== '') body.percent = /^\d+$/.test(percent) ? Number(percent) : percent
  return body
}

/** Adds a rule from a preset; `existing` tells an addition from a replacement (same name). */
export function FaultForm ({ presets, existing, onAdded }: { presets: string[], existing: string[], onAdded: (message: string) => void }) {
  const [draft, setDraft] = useState<Draft>({ preset: presets[0] ?? '', name: '', route: '', method: '', path: '', header: '', percent: '100' })
  const [refusal, setRefusal] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [routes, setRoutes] = useState<string[]>([])

  useEffect(() => {
    // Suggestions only: the routes that carried traffic this week (the summary's breakdown).
    getJson<Summary>('/api/summary', { since: '7d' }).then((s) => setRoutes(Object.keys(s.by_route).sort()), () => undefined)
  }, [])

  const submit = async (): Promise<void> => {
    setBusy(true)
    try {
      const rule = await sendJson<FaultRule>('POST', FAULTS_PATH, ruleBody(draft))
      setRefusal(null)
      onAdded(t(existing.includes(rule.name) ? 'faults.replaced' : 'faults.added', { name: rule.name }))
    } catch (err) {
      setRefusal(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }

  const text = (key: keyof Draft, hint?: string) => ({
    id: `fault-${key}`,
    name: key,
    value: draft[key],
    autoComplete: 'off',
    spellcheck: false,
    'aria-describedby': hint,
    onInput: (e: Event) => {
      const value = (e.currentTarget as HTMLInputElement).value
      setDraft((d) => ({ ...d, [key]: value }))
    }
  })

  return (
    <Section title={t('faults.add')} id="fault-add">
      <p class="hint" id="fault-add-hint">{t('faults.addHint')}</p>
      {/* noValidate: the API is the one judge of a rule, with messages naming the field. */}
      <form class="fault-form" noValidate data-testid="fault-form" aria-describedby="fault-add-hint" onSubmit={(e) => { e.preventDefault(); void submit() }}>
        <div class="field field-wide">
          <label for="fault-preset">{t('faults.preset')}</label>
          <select id="fault-preset" name="preset" value={draft.preset} onChange={(e) => { const preset = e.currentTarget.value; setDraft((d) => ({ ...d, preset })) }}>
            {presets.map((p) => {
              const symptom = presetText(p)
              return <option key={p} value={p}>{symptom === '' ? p : `${p} — ${symptom}`}</option>
            })}
          </select>
        </div>
        <div class="field">
          <label for="fault-name">{t('faults.name')}</label>
          <input {...text('name', 'fault-name-hint')} placeholder={draft.preset} />
          <span class="hint" id="fault-name-hint">{t('faults.nameHint')}</span>
        </div>
        <div class="field">
          <label for="fault-route">{t('faults.route')}</label>
          <input {...text('route')} list="fault-routes" />
          <datalist id="fault-routes">{routes.map((r) => <option key={r} value={r} />)}</datalist>
        </div>
        <div class="field">
          <label for="fault-method">{t('faults.method')}</label>
          <select id="fault-method" name="method" value={draft.method} onChange={(e) => { const method = e.currentTarget.value; setDraft((d) => ({ ...d, method })) }}>
            <option value="">{t('faults.anyMethod')}</option>
            {METHODS.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="fault-path">{t('faults.path')}</label>
          <input {...text('path')} placeholder="/v1/chat/completions" />
        </div>
        <div class="field">
          <label for="fault-header">{t('faults.header')}</label>
          <input {...text('header', 'fault-header-hint')} placeholder="X-Gitlab-Realm: self-managed" />
          <span class="hint" id="fault-header-hint">{t('faults.headerHint')}</span>
        </div>
        <div class="field">
          <label for="fault-percent">{t('faults.percent')}</label>
          <input {...text('percent')} inputMode="numeric" />
        </div>
        <div class="field field-buttons">
          <button type="submit" disabled={busy || draft.preset === ''} data-testid="fault-submit">{t('faults.submit')}</button>
        </div>
      </form>
      {refusal !== null && <p class="error-box" role="alert" data-testid="fault-error">{t('faults.refused', { message: refusal })}</p>}
    </Section>
  )
}
