/**
 * The AI gateway's authentication middleware and scope check, with its exact error bodies:
 * 401 `{"error": …}` from MiddlewareAuthentication.on_auth_error (ai_gateway/api/middleware.py,
 * 2025 api/middleware/authentication.py; messages as in tests/code_suggestions/
 * test_authentication.py) and 403 `{"detail": "Unauthorized to access …"}` from the routes.
 */
import type { KeyObject } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { GATEWAY_AUDIENCE, verifyJwt } from './jwt.js'

export type Scope = 'complete_code' | 'generate_code' | 'duo_chat'

export interface AuthReject {
  status: 401 | 403
  body: { error: string } | { detail: string }
}

export type Claims = Record<string, unknown>

export type AuthOutcome = { ok: true, claims: Claims } | ({ ok: false } & AuthReject)

/** Claims that must equal the matching header when present in the token. */
const BOUND_HEADERS: Array<[claim: string, header: string, name: string]> = [
  ['gitlab_instance_id', 'x-gitlab-instance-id', 'X-Gitlab-Instance-Id'],
  ['gitlab_realm', 'x-gitlab-realm', 'X-Gitlab-Realm'],
  ['gitlab_global_user_id', 'x-gitlab-global-user-id', 'X-Gitlab-Global-User-Id']
]

function reject401 (error: string): AuthOutcome {
  return { ok: false, status: 401, body: { error } }
}

export function authenticate (headers: IncomingHttpHeaders, publicKey: KeyObject | string): AuthOutcome {
  const authorization = headers.authorization
  if (authorization === undefined) return reject401('No authorization header presented')
  const match = /^Bearer (\S+)$/.exec(authorization)
  if (match?.[1] === undefined) return reject401('Invalid authorization header')
  if (headers['x-gitlab-authentication-type'] !== 'oidc') {
    return reject401('Invalid authentication token type - only OIDC is supported')
  }
  // Signature, audience and expiry failures all look the same from outside.
  const verified = verifyJwt(match[1], publicKey, GATEWAY_AUDIENCE)
  if (!verified.ok) return reject401('Forbidden by auth provider')
  for (const [claim, header, name] of BOUND_HEADERS) {
    const expected = verified.claims[claim]
    if (expected !== undefined && headers[header] !== String(expected)) return reject401(`Header mismatch '${name}'`)
  }
  return { ok: true, claims: verified.claims }
}

const SCOPE_WORDS: Record<Scope, string> = {
  complete_code: 'code completions',
  generate_code: 'code generations',
  duo_chat: 'duo chat'
}

/** 403 when the token's `scopes` claim lacks the feature's scope. */
export function checkScope (claims: Record<string, unknown>, scope: Scope): AuthReject | undefined {
  const scopes = Array.isArray(claims.scopes) ? claims.scopes : []
  if (scopes.includes(scope)) return undefined
  return { status: 403, body: { detail: `Unauthorized to access ${SCOPE_WORDS[scope]}` } }
}
