/**
 * RS256 JWTs as GitLab mints them for the AI gateway, built with node:crypto only: key pairs,
 * realistic claims, signing, the gateway's verification, and the headers GitLab sends along.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto'

export interface JwtKeys {
  publicKey: KeyObject
  privateKey: KeyObject
  /** SPKI PEM of the public key (what a JWKS-less config would hold). */
  publicKeyPem: string
}

/** A fresh RSA 2048 key pair (~0.1-0.3 s; reuse it). */
export function makeJwtKeys (): JwtKeys {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { publicKey, privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

export interface GatewayClaims {
  iss: string
  aud: string | string[]
  sub: string
  exp: number
  iat: number
  nbf: number
  jti: string
  gitlab_realm: string
  gitlab_instance_id: string
  gitlab_global_user_id: string
  scopes: string[]
  [claim: string]: unknown
}

export const GITLAB_URL = 'https://gitlab.example.com'
export const INSTANCE_ID = 'a7b6c1d2-3e4f-4a5b-8c6d-7e8f9a0b1c2d'
export const GLOBAL_USER_ID = 'Hn3KyJzmXmPyGxq2hGvqJQ'
export const GATEWAY_AUDIENCE = 'gitlab-ai-gateway'

/** Realistic claims of a self-managed instance token, valid for an hour from now. */
export function gatewayClaims (overrides: Partial<GatewayClaims> = {}): GatewayClaims {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: GITLAB_URL,
    aud: GATEWAY_AUDIENCE,
    sub: INSTANCE_ID,
    exp: now + 3600,
    iat: now,
    nbf: now - 5,
    jti: randomUUID(),
    gitlab_realm: 'self-managed',
    gitlab_instance_id: INSTANCE_ID,
    gitlab_global_user_id: GLOBAL_USER_ID,
    // duo_classic_chat: the 2025 gateway's unit primitive for classic Duo Chat (api/v2/chat/agent.py get_agent).
    scopes: ['complete_code', 'generate_code', 'duo_chat', 'duo_classic_chat'],
    ...overrides
  }
}

function base64url (input: Buffer | string): string {
  return Buffer.from(input).toString('base64url')
}

export function signJwt (claims: Record<string, unknown>, privateKey: KeyObject | string, opts: { kid?: string } = {}): string {
  const header = { alg: 'RS256', typ: 'JWT', ...(opts.kid === undefined ? {} : { kid: opts.kid }) }
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey
  return `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), key))}`
}

export type JwtVerification =
  | { ok: true, claims: Record<string, unknown> }
  | { ok: false, reason: 'malformed' | 'algorithm' | 'signature' | 'audience' | 'expired' | 'not-yet-valid' }

/** Leeway for exp and nbf, seconds. */
const LEEWAY_S = 30

/** Verify an RS256 token's signature, audience and validity window (30 s leeway). */
export function verifyJwt (token: string, publicKey: KeyObject | string, audience: string): JwtVerification {
  const parts = token.split('.')
  if (parts.length !== 3) return { ok: false, reason: 'malformed' }
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts
  let header: unknown
  let claims: unknown
  try {
    header = JSON.parse(Buffer.from(headerPart, 'base64url').toString())
    claims = JSON.parse(Buffer.from(payloadPart, 'base64url').toString())
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (typeof header !== 'object' || header === null || typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    return { ok: false, reason: 'malformed' }
  }
  if ((header as { alg?: unknown }).alg !== 'RS256') return { ok: false, reason: 'algorithm' }
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey
  const valid = verify('sha256', Buffer.from(`${headerPart}.${payloadPart}`), key, Buffer.from(signaturePart, 'base64url'))
  if (!valid) return { ok: false, reason: 'signature' }
  const record = claims as Record<string, unknown>
  const aud = record.aud
  if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) return { ok: false, reason: 'audience' }
  const now = Date.now() / 1000
  if (typeof record.exp === 'number' && record.exp + LEEWAY_S < now) return { ok: false, reason: 'expired' }
  if (typeof record.nbf === 'number' && record.nbf - LEEWAY_S > now) return { ok: false, reason: 'not-yet-valid' }
  return { ok: true, claims: record }
}

/**
 * The headers GitLab Rails/Workhorse send to the AI gateway with this token; the instance,
 * realm and user headers are taken from the claims so they match unless overridden.
 */
export function gitlabHeaders (
  token: string,
  claims: Partial<GatewayClaims> = gatewayClaims(),
  overrides: Record<string, string> = {}
): Record<string, string> {
  return {
    authorization: `Bearer ${token}`,
    'x-gitlab-authentication-type': 'oidc',
    'x-request-id': randomUUID().replaceAll('-', ''),
    'x-gitlab-rails-send-start': (Date.now() / 1000).toFixed(6),
    'x-gitlab-instance-id': claims.gitlab_instance_id ?? INSTANCE_ID,
    'x-gitlab-realm': claims.gitlab_realm ?? 'self-managed',
    'x-gitlab-global-user-id': claims.gitlab_global_user_id ?? GLOBAL_USER_ID,
    'x-gitlab-host-name': new URL(GITLAB_URL).hostname,
    'x-gitlab-version': '18.2.0',
    'x-gitlab-feature-enabled-by-namespace-ids': '',
    'x-gitlab-feature-enablement-type': 'duo_enterprise',
    'x-gitlab-enabled-instance-verbose-ai-logs': 'false',
    'content-type': 'application/json',
    ...overrides
  }
}
