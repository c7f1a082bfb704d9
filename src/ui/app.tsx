import { useEffect, useState } from 'preact/hooks'
import { getToken, onUnauthorized, setToken } from './api.js'
import { useFaultsAvailability } from './faults.js'
import { currentLang, LANGS, type Lang, setLang, t } from './i18n.js'
import { DoctorPage } from './pages/doctor.js'
import { ExchangePage } from './pages/exchange.js'
import { ExchangesPage } from './pages/exchanges.js'
import { FaultsPage } from './pages/faults.js'
import { OverviewPage } from './pages/overview.js'
import { href, useLocation } from './router.js'

type Theme = 'auto' | 'light' | 'dark'
const THEME_KEY = 'duo-diag-proxy.theme'

function storedTheme (): Theme {
  try {
    const v = localStorage.getItem(THEME_KEY)
    return v === 'light' || v === 'dark' ? v : 'auto'
  } catch {
    return 'auto'
  }
}

function applyTheme (theme: Theme): void {
  if (theme === 'auto') delete document.documentElement.dataset.theme
  else document.documentElement.dataset.theme = theme
}

export function App () {
  const loc = useLocation()
  const [lang, setLangState] = useState<Lang>(currentLang())
  const [theme, setTheme] = useState<Theme>(storedTheme())
  const [login, setLogin] = useState<{ refused: boolean } | null>(null)
  // Bumped after a login: every page reloads its data with the token.
  const [session, setSession] = useState(0)
  const faults = useFaultsAvailability(session)

  useEffect(() => {
    document.documentElement.lang = lang
    document.title = `${t('app.title')} · duo-diag-proxy`
  }, [lang, loc.path])
  useEffect(() => applyTheme(theme), [theme])
  useEffect(() => onUnauthorized((hadToken) => setLogin({ refused: hadToken })), [])

  const changeLang = (l: Lang): void => {
    setLang(l)
    setLangState(l)
  }
  const changeTheme = (th: Theme): void => {
    try {
      localStorage.setItem(THEME_KEY, th)
    } catch {
      // Not kept.
    }
    setTheme(th)
  }

  const nav = [
    { path: '/overview', label: t('nav.overview') },
    { path: '/exchanges', label: t('nav.exchanges') },
    { path: '/live', label: t('nav.live') },
    { path: '/doctor', label: t('nav.doctor') },
    // Only where the configuration turned fault injection on (the API answers 409 otherwise).
    ...(faults === 'on' ? [{ path: '/faults', label: t('nav.faults') }] : [])
  ]
  const current = loc.path === '/' ? '/overview' : loc.path

  return (
    <div class="shell" key={`${lang}`}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus() }}>{t('nav.skip')}</a>
      <header class="top">
        <a class="brand" href={href('/overview')}>duo-diag-proxy</a>
        <nav aria-label={t('nav.label')} data-faults={faults}>
          <ul>
            {nav.map((n) => (
              <li key={n.path}><a href={href(n.path)} aria-current={current.startsWith(n.path) ? 'page' : undefined}>{n.label}</a></li>
            ))}
          </ul>
        </nav>
        <div class="prefs">
          <label>
            <span class="label">{t('prefs.language')}</span>
            <select value={lang} onChange={(e) => changeLang((e.currentTarget.value === 'ja' ? 'ja' : 'en'))} data-testid="lang">
              {LANGS.map((l) => <option key={l} value={l}>{t(`prefs.lang_${l}`)}</option>)}
            </select>
          </label>
          <label>
            <span class="label">{t('prefs.theme')}</span>
            <select value={theme} onChange={(e) => changeTheme(e.currentTarget.value as Theme)}>
              <option value="auto">{t('prefs.theme_auto')}</option>
              <option value="light">{t('prefs.theme_light')}</option>
              <option value="dark">{t('prefs.theme_dark')}</option>
            </select>
          </label>
          {getToken() !== null && (
            <button type="button" class="link" onClick={() => { setToken(null); setLogin({ refused: false }) }}>{t('login.signOut')}</button>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {login !== null
          ? <Login refused={login.refused} onDone={() => { setLogin(null); setSession((s) => s + 1) }} />
          : <Page key={`${session}`} path={current} params={loc.params} />}
      </main>
    </div>
  )
}

function Page ({ path, params }: { path: string, params: URLSearchParams }) {
  if (path.startsWith('/exchange/')) return <ExchangePage id={decodeURIComponent(path.slice('/exchange/'.length))} />
  if (path.startsWith('/trace/')) return <ExchangePage correlationId={decodeURIComponent(path.slice('/trace/'.length))} />
  if (path === '/exchanges') return <ExchangesPage key={params.toString()} params={params} live={false} />
  if (path === '/live') return <ExchangesPage key={params.toString()} params={params} live />
  if (path === '/faults') return <FaultsPage />
  if (path === '/overview') return <OverviewPage key={params.toString()} params={params} />
  if (path === '/doctor') return <DoctorPage />
  return (
    <div class="panel">
      <h1>{t('notFound.title')}</h1>
      <p><a href={href('/overview')}>{t('nav.overview')}</a></p>
    </div>
  )
}

function Login ({ refused, onDone }: { refused: boolean, onDone: () => void }) {
  const [value, setValue] = useState('')
  return (
    <form class="panel login" onSubmit={(e) => {
      e.preventDefault()
      setToken(value.trim())
      onDone()
    }}>
      <h1>{t('login.title')}</h1>
      <p>{t('login.explain')}</p>
      {refused && <p class="error-box" role="alert">{t('login.refused')}</p>}
      <label for="token">{t('login.token')}</label>
      <input id="token" type="password" autoComplete="off" spellcheck={false} required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit">{t('login.submit')}</button>
    </form>
  )
}
