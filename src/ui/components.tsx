import type { ComponentChildren } from 'preact'
import { flagSeverity, statusClass } from './format.js'
import { flagText, t } from './i18n.js'

export function FlagBadge ({ flag, href }: { flag: string, href?: string }) {
  const cls = `badge badge-${flagSeverity(flag)}`
  const title = flagText(flag)
  if (href !== undefined) return <a class={cls} href={href} title={title}>{flag}</a>
  return <span class={cls} title={title}>{flag}</span>
}

export function Flags ({ flags }: { flags: string[] }) {
  if (flags.length === 0) return <span class="muted">–</span>
  return <span class="flags">{flags.map((f) => <FlagBadge key={f} flag={f} />)}</span>
}

export function Status ({ status }: { status: number | null }) {
  return <span class={`status ${statusClass(status)}`}>{status ?? t('status.none')}</span>
}

export function HopBadge ({ hop }: { hop: string }) {
  return <span class={`hop hop-${hop}`}>{t(`hop.${hop === 'model' ? 'model' : 'gateway'}`)}</span>
}

export function ErrorBox ({ error }: { error: unknown }) {
  const message = error instanceof Error ? error.message : String(error)
  return <p class="error-box" role="alert">{t('error.api', { message })}</p>
}

export function Loading () {
  return <p class="muted" role="status">{t('loading')}</p>
}

export function Section ({ title, id, children, actions }: { title: string, id?: string, children: ComponentChildren, actions?: ComponentChildren }) {
  const headingId = id === undefined ? undefined : `${id}-title`
  return (
    <section class="panel" aria-labelledby={headingId} id={id}>
      <div class="panel-head">
        <h2 id={headingId}>{title}</h2>
        {actions !== undefined && <div class="panel-actions">{actions}</div>}
      </div>
      {children}
    </section>
  )
}
