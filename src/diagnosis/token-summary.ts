/**
 * What a GitLab JWT says, without its signature: never enough to replay it. Apart from
 * token.ts's checks, so that the browser view can read the shape without the checks.
 */
export interface TokenSummary {
  alg?: string
  kid?: string
  iss?: string
  aud?: string | string[]
  sub?: string
  exp?: number
  iat?: number
  nbf?: number
  gitlab_realm?: string
  gitlab_instance_id?: string
  gitlab_global_user_id?: string
  scopes?: string[]
  /** Seconds left until exp at the time of the request (negative: expired). */
  expires_in_s?: number
}
