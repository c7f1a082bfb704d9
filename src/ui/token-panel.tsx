/**
 * The GitLab token the request carried, as capture decoded it (claims only: never the token or
 * its signature, see src/diagnosis/token.ts), beside the token checks' flags: the 401s of the
 * playbook (expired, not yet valid, wrong audience or issuer, headers that disagree with claims)
 * are read here at a glance.
 */
import { Fragment } from 'preact'
import { FlagBadge, Section } from './components.js'
import { formatDateTime } from './format.js'
import { flagText, t } from './i18n.js'
import { href } from './router.js'
import type { TokenSummary } from '../diagnosis/token-summary.js'
import type { Exchange } from './types.js'

const at = (seconds: number | undefined): string | undefined => seconds === undefined ? undefined : formatDateTime(new Date(seconds * 1000).toISOString())

export function TokenPanel ({ ex }: { ex: Exchange }) {
  const token = ex.meta.token as TokenSummary | undefined
  if (token === undefined) return null
  const findings = ex.flags.filter((f) => f.startsWith('token_') || f === 'unauthorized')
  const expiresIn = token.expires_in_s
  const rows: Array<[string, string | undefined]> = [
    [t('token.issuer'), token.iss],
    [t('token.audience'), Array.isArray(token.aud) ? token.aud.join(', ') : token.aud],
    [t('token.subject'), token.sub],
    [t('token.realm'), token.gitlab_realm],
    [t('token.instanceId'), token.gitlab_instance_id],
    [t('token.globalUserId'), token.gitlab_global_user_id],
    [t('token.scopes'), token.scopes?.join(', ')],
    [t('token.issuedAt'), at(token.iat)],
    [t('token.notBefore'), at(token.nbf)],
    [t('token.expiresAt'), at(token.exp)],
    [t('token.algorithm'), token.alg === undefined ? undefined : `${token.alg}${token.kid === undefined ? '' : ` (kid ${token.kid})`}`]
  ]
  return (
    <Section title={t('token.title')} id="token">
      <p class="hint">{t('token.explain')}</p>
      {findings.length > 0
        ? <ul class="flag-list" data-testid="token-findings">{findings.map((f) => <li key={f}><FlagBadge flag={f} href={href('/exchanges', { flag: f })} /> <span>{flagText(f)}</span></li>)}</ul>
        : <p class="muted" data-testid="token-findings">{t('token.noFindings')}</p>}
      <dl class="facts" data-testid="token-claims">
        {rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => <Fragment key={k}><dt>{k}</dt><dd><code>{v}</code></dd></Fragment>)}
        {expiresIn !== undefined && <><dt>{t('token.expiresIn')}</dt><dd class={expiresIn < 0 ? 'token-expired' : undefined}>{expiresIn < 0 ? t('token.expiredAgo', { seconds: -expiresIn }) : t('token.leftSeconds', { seconds: expiresIn })}</dd></>}
      </dl>
    </Section>
  )
}
