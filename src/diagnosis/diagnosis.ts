import type { Lang, MessageParams } from '../i18n/message.js'

/**
 * One line of evidence or one next step: a stable code, its parameters, and the text rendered
 * from them (English when stored; re-rendered in the reader's language by renderDiagnosis).
 */
export interface DiagnosisLine {
  code: string
  params: MessageParams
  text: string
}

/**
 * Why an exchange failed, what shows it, and what to do next (the playbook's answer). `code` is
 * the cause's stable code (README, "Diagnosis codes"): what the summary, metrics, `?cause=` and
 * the browser view group by. Codes are added, never renamed or reused.
 */
export interface Diagnosis {
  code: string
  params: MessageParams
  cause: string
  evidence: DiagnosisLine[]
  next_steps: DiagnosisLine[]
  /** The language of the texts, when an API answer rendered them (stored records are English). */
  lang?: Lang
  /** When the failure was caused further down (the model hop), the exchange that shows it. */
  root_cause?: { exchange_id: string, route: string, code: string, params: MessageParams, cause: string }
}
