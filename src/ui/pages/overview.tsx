import { href } from '../router.js'
import { t } from '../i18n.js'

export function OverviewPage (_props: { params: URLSearchParams }) {
  return (
    <div class="page">
      <h1>{t('overview.title')}</h1>
      <p><a href={href('/exchanges')}>{t('nav.exchanges')}</a></p>
    </div>
  )
}
