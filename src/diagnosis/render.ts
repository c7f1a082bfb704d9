import { hasKey, t } from '../i18n/translate.js'
import type { Lang, MessageParams } from '../i18n/message.js'
import type { Diagnosis, DiagnosisLine } from './diagnosis.js'

/** Catalog prefixes (namespace `diagnosis`) of a cause, an evidence line and a next step. */
export const CAUSE_PREFIX = 'cause'
export const EVIDENCE_PREFIX = 'evidence'
export const STEP_PREFIX = 'step'

/** A line's text from its code, in `lang`; the stored text when this version has no such code. */
function line (l: DiagnosisLine, prefix: string, lang: Lang): DiagnosisLine {
  const key = `${prefix}.${l.code}`
  return hasKey(key) ? { ...l, text: t(lang, key, l.params) } : l
}

/**
 * The code records of older versions are read under (readStoredDiagnosis): no code was stored,
 * so the stored text is all there is. Nothing this version diagnoses has it.
 */
export const UNCLASSIFIED = 'unclassified'

/** A cause's text from its code, in `lang`; the stored text for a code this version does not know. */
function causeText (code: string, params: MessageParams, stored: string, lang: Lang): string {
  // A record stored without a code keeps its own words; only an empty one is "unclassified".
  if (code === UNCLASSIFIED && stored !== '') return stored
  const key = `${CAUSE_PREFIX}.${code}`
  return hasKey(key) ? t(lang, key, params) : stored
}

/**
 * The same diagnosis with every text rendered in `lang` from its codes. Records from another
 * version keep the text they were stored with where this version does not know the code.
 */
export function renderDiagnosis (d: Diagnosis, lang: Lang): Diagnosis {
  const out: Diagnosis = {
    ...d,
    cause: causeText(d.code, d.params, d.cause, lang),
    evidence: d.evidence.map((l) => line(l, EVIDENCE_PREFIX, lang)),
    next_steps: d.next_steps.map((l) => line(l, STEP_PREFIX, lang))
  }
  if (d.root_cause !== undefined) {
    out.root_cause = { ...d.root_cause, cause: causeText(d.root_cause.code, d.root_cause.params, d.root_cause.cause, lang) }
  }
  return out
}

/**
 * A diagnosis read from a store, which may hold records of older versions (evidence and steps
 * as plain strings, no code) or anything at all: the shape the API promises, never a throw.
 */
export function readStoredDiagnosis (raw: unknown): Diagnosis | null {
  if (typeof raw !== 'object' || raw === null) return null
  const r = raw as Record<string, unknown>
  const text = (v: unknown): string => (typeof v === 'string' ? v : '')
  const lines = (v: unknown): DiagnosisLine[] => (Array.isArray(v) ? v : []).map((item): DiagnosisLine => {
    if (typeof item === 'string') return { code: 'text', params: { text: item }, text: item }
    const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>
    return { code: text(o.code) || 'text', params: isParams(o.params) ? o.params : {}, text: text(o.text) }
  })
  const d: Diagnosis = {
    code: text(r.code) || UNCLASSIFIED,
    params: isParams(r.params) ? r.params : {},
    cause: text(r.cause),
    evidence: lines(r.evidence),
    next_steps: lines(r.next_steps)
  }
  if (typeof r.root_cause === 'object' && r.root_cause !== null) {
    const rc = r.root_cause as Record<string, unknown>
    d.root_cause = { exchange_id: text(rc.exchange_id), route: text(rc.route), code: text(rc.code) || UNCLASSIFIED, params: isParams(rc.params) ? rc.params : {}, cause: text(rc.cause) }
  }
  return d
}

function isParams (v: unknown): v is MessageParams {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
