/**
 * Where the reader is, in the URL's fragment: `#/exchanges?route=…&flag=…`. The fragment never
 * reaches the server (the static files are the same for every page), and filters stay in the
 * address: a view is bookmarked, shared and reloaded as it is.
 */
import { useEffect, useState } from 'preact/hooks'

export interface Location {
  /** `/exchanges`, `/exchange/<id>`, … */
  path: string
  params: URLSearchParams
}

export function parseHash (hash: string): Location {
  const h = hash.replace(/^#/, '')
  const q = h.indexOf('?')
  const path = (q < 0 ? h : h.slice(0, q)) || '/'
  return { path, params: new URLSearchParams(q < 0 ? '' : h.slice(q + 1)) }
}

export function href (path: string, params?: URLSearchParams | Record<string, string | string[] | undefined>): string {
  let qs = ''
  if (params instanceof URLSearchParams) qs = params.toString()
  else if (params !== undefined) {
    const u = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === '') continue
      if (Array.isArray(v)) for (const x of v) u.append(k, x)
      else u.append(k, v)
    }
    qs = u.toString()
  }
  return `#${path}${qs === '' ? '' : `?${qs}`}`
}

export function navigate (to: string, replace = false): void {
  if (replace) {
    history.replaceState(null, '', to)
    window.dispatchEvent(new HashChangeEvent('hashchange'))
  } else {
    location.hash = to.replace(/^#/, '')
  }
}

export function useLocation (): Location {
  const [loc, setLoc] = useState(() => parseHash(location.hash))
  useEffect(() => {
    const on = (): void => setLoc(parseHash(location.hash))
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  return loc
}
