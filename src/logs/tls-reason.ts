/**
 * OpenSSL's certificate-verification texts (X509_verify_cert_error_string), as Ruby's
 * OpenSSL::SSL::SSLError (`… state=error: certificate verify failed (self-signed certificate)`)
 * and Python's ssl module (`[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable
 * to get local issuer certificate (_ssl.c:1010)`) quote them, named by the code Node gives the
 * same failure: the proxy's TLS causes are keyed on Node's codes (diagnosis/explain.ts).
 */
const REASONS: ReadonlyArray<[RegExp, string]> = [
  [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/self[- ]signed certificate/i, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [/unable to get local issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/unable to get issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT'],
  [/unable to verify the first certificate/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
  [/certificate is not yet valid/i, 'CERT_NOT_YET_VALID'],
  [/hostname mismatch|IP address mismatch|does not match the server certificate/i, 'HOSTNAME_MISMATCH'],
  [/wrong version number|packet length too long|record layer failure/i, 'ERR_SSL_WRONG_VERSION_NUMBER']
]

/** Node's code for an OpenSSL verification text; a generic TLS code for one not listed. */
export function tlsCodeFromReason (text: string): string {
  for (const [re, code] of REASONS) if (re.test(text)) return code
  return 'ERR_SSL_CERTIFICATE_VERIFY_FAILED'
}

// Python: `ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify
// failed: …`, `httpx.ConnectError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:…)`.
const PYTHON_SSL = /\[SSL: [A-Z_]{1,60}\][^\n]{0,300}/

/** The TLS failure a Python traceback names (the model hop's cause behind "Connection error."). */
export function tlsFailureInTraceback (text: string): { code: string, reason: string } | null {
  const m = PYTHON_SSL.exec(text)
  if (m === null) return null
  return { code: tlsCodeFromReason(m[0]), reason: m[0].trim() }
}
