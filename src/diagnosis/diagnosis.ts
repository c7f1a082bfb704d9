/** Why an exchange failed, what shows it, and what to do next (the playbook's answer). */
export interface Diagnosis {
  cause: string
  evidence: string[]
  next_steps: string[]
  /** When the failure was caused further down (the model hop), the exchange that shows it. */
  root_cause?: { exchange_id: string, route: string, cause: string }
}
