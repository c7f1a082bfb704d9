import { ev } from './codes.js'
import type { DiagnosisLine } from './diagnosis.js'
import type { Flag } from './flags.js'
import type { TokenSummary } from './token-summary.js'

export type { TokenSummary } from './token-summary.js'

export interface TokenFindings {
  token: TokenSummary | null
  flags: Flag[]
  /** One line per flag, for the diagnosis evidence. */
  evidence: DiagnosisLine[]
}

export interface TokenCheckOptions {
  /** The GitLab instance URL the gateway expects as issuer (AIGW_GITLAB_URL), when configured. */
  expectedIssuer: string | null
  /** Clock skew allowed either side, seconds. */
  skewS: number
  now: number
}

const AUDIENCE = 'gitlab-ai-gateway'

/** The X-Gitlab-* headers the gateway compares with the token's claims. */
const HEADER_CLAIMS: ReadonlyArray<[string, keyof TokenSummary]> = [
  ['x-gitlab-instance-id', 'gitlab_instance_id'],
  ['x-gitlab-realm', 'gitlab_realm'],
  ['x-gitlab-global-user-id', 'gitlab_global_user_id']
]

function decodePart (part: string | undefined): Record<string, unknown> | null {
  if (part === undefined || part.length === 0 || part.length > 16_384) return null
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}

type Decoded = { header: Record<string, unknown>, claims: Record<string, unknown> } | null

// A caller's token comes back on every request until it is renewed: decode each header.claims
// pair once (bounded). The key leaves out the signature, so the cache holds nothing replayable.
// The decoded objects are only read, never changed or kept in a result.
const decodedTokens = new Map<string, Decoded>()

function decodeToken (headerPart: string, claimsPart: string): Decoded {
  const key = headerPart + '.' + claimsPart
  const hit = decodedTokens.get(key)
  if (hit !== undefined) return hit
  const header = decodePart(headerPart)
  const claims = decodePart(claimsPart)
  const decoded = header === null || claims === null ? null : { header, claims }
  if (key.length <= 4_096) {
    if (decodedTokens.size >= 1_000) decodedTokens.clear()
    decodedTokens.set(key, decoded)
  }
  return decoded
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length <= 512 ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

function trimSlash (url: string): string {
  return url.replace(/\/+$/, '')
}

/**
 * Decodes a bearer JWT's header and claims (never verifying, never keeping the signature) and
 * predicts the gateway's verdict: expired, not yet valid, wrong audience or issuer, claims that
 * differ from their X-Gitlab-* headers. Flags even when the upstream accepted the request.
 */
export function checkToken (authorization: string | null, headers: (name: string) => string | null, opts: TokenCheckOptions): TokenFindings {
  const out: TokenFindings = { token: null, flags: [], evidence: [] }
  if (authorization === null || !/^bearer\s/i.test(authorization)) return out
  const parts = authorization.slice(7).trim().split('.')
  if (parts.length !== 3) return out
  const decoded = decodeToken(parts[0] as string, parts[1] as string)
  if (decoded === null) return out
  const { header, claims } = decoded
  const t: TokenSummary = {}
  const set = <K extends keyof TokenSummary>(k: K, v: TokenSummary[K] | undefined): void => {
    if (v !== undefined) t[k] = v
  }
  set('alg', str(header.alg))
  set('kid', str(header.kid))
  set('iss', str(claims.iss))
  const aud = claims.aud
  set('aud', Array.isArray(aud) ? aud.map(str).filter((a): a is string => a !== undefined).slice(0, 8) : str(aud))
  set('sub', str(claims.sub))
  set('exp', num(claims.exp))
  set('iat', num(claims.iat))
  set('nbf', num(claims.nbf))
  set('gitlab_realm', str(claims.gitlab_realm))
  set('gitlab_instance_id', str(claims.gitlab_instance_id))
  set('gitlab_global_user_id', str(claims.gitlab_global_user_id))
  if (Array.isArray(claims.scopes)) t.scopes = claims.scopes.map(str).filter((s): s is string => s !== undefined).slice(0, 64)
  out.token = t

  const nowS = opts.now / 1000
  if (t.exp !== undefined) {
    t.expires_in_s = Math.round(t.exp - nowS)
    if (t.exp + opts.skewS < nowS) {
      out.flags.push('token_expired')
      out.evidence.push(ev('jwt_expired', { ago_s: Math.round(nowS - t.exp), exp: new Date(t.exp * 1000).toISOString() }))
    }
  }
  if (t.nbf !== undefined && t.nbf - opts.skewS > nowS) {
    out.flags.push('token_not_yet_valid')
    out.evidence.push(ev('jwt_not_yet_valid', { nbf: new Date(t.nbf * 1000).toISOString(), in_s: Math.round(t.nbf - nowS) }))
  }
  const audiences = t.aud === undefined ? [] : Array.isArray(t.aud) ? t.aud : [t.aud]
  if (!audiences.includes(AUDIENCE)) {
    out.flags.push('token_audience_mismatch')
    out.evidence.push(audiences.length > 0 ? ev('jwt_audience_mismatch', { audience: audiences.join(', '), expected: AUDIENCE }) : ev('jwt_audience_missing', { expected: AUDIENCE }))
  }
  if (opts.expectedIssuer !== null && t.iss !== undefined && trimSlash(t.iss) !== trimSlash(opts.expectedIssuer)) {
    out.flags.push('token_issuer_mismatch')
    out.evidence.push(ev('jwt_issuer_mismatch', { issuer: t.iss, expected: opts.expectedIssuer }))
  }
  for (const [name, claim] of HEADER_CLAIMS) {
    const value = headers(name)
    const claimed = t[claim]
    if (value !== null && typeof claimed === 'string' && value !== claimed) {
      if (!out.flags.includes('token_header_mismatch')) out.flags.push('token_header_mismatch')
      out.evidence.push(ev('jwt_header_mismatch', { header: name, value, claim, claimed }))
    }
  }
  return out
}
