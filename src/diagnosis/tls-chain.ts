/** A presented certificate chain, summarised for evidence (no key material). */
export interface CertSummary {
  subject: string
  issuer: string
  valid_from: string
  valid_to: string
  san?: string
  fingerprint256: string
}

export interface ChainSummary {
  /** OpenSSL's verdict on the chain, as Node reports it; null when it verified. */
  authorization_error: string | null
  certificates: CertSummary[]
  self_signed: boolean
}
