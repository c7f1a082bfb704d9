import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'

/**
 * The browser view (issue 18): static files built by `npm run build` (scripts/build-ui.mjs,
 * from src/ui/) into dist/ui/, found from the package root so the same path serves from src/
 * (tests, through tsx) and from dist/. They hold no data: every record is read by the page
 * itself through /api/*, with the token when one is set, so they are served without one (the
 * login form is among them). The request guard (Host, Origin, Sec-Fetch-Site) applies as to
 * the API: server.ts runs it on every path.
 */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url))

/**
 * No inline script or style, nothing from elsewhere, no framing, no form posts: a page that
 * renders a stranger's text (paths, headers, bodies) must not be able to run it.
 */
export const UI_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** The files a build writes; anything else is not ours to serve. */
const ASSET = /^[a-z0-9][a-z0-9._-]{0,100}\.(js|css|svg|png|map)$/
const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  map: 'application/json; charset=utf-8'
}

/** Paths of the view: served without the token (they carry no data), guarded like the API. */
export function isUiPath (path: string): boolean {
  return path === '/' || path === '/index.html' || path.startsWith('/ui/')
}

function secure (reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
}

const MISSING = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>duo-diag-proxy: browser view not built</title></head>
<body><h1>The browser view is not built</h1>
<p>dist/ui/ is missing. Run <code>npm run build</code> in the duo-diag-proxy directory, then reload.
The JSON API is at <a href="/api/openapi.json">/api/openapi.json</a>.</p></body></html>
`

export function registerUiRoutes (app: FastifyInstance, dir = UI_DIR): void {
  const page = async (reply: FastifyReply): Promise<FastifyReply> => {
    secure(reply).header('cache-control', 'no-cache')
    try {
      const html = await readFile(dir + 'index.html')
      return await reply.type('text/html; charset=utf-8').send(html)
    } catch {
      return await reply.code(503).type('text/html; charset=utf-8').send(MISSING)
    }
  }
  const hidden = { schema: { hide: true } }
  app.get('/', hidden, async (_req, reply) => page(reply))
  app.get('/index.html', hidden, async (_req, reply) => page(reply))
  app.get<{ Params: { file: string } }>('/ui/:file', hidden, async (req, reply) => {
    const file = req.params.file
    const m = ASSET.exec(file)
    if (m === null || file.includes('..')) return reply.code(404).send({ error: 'not_found', message: `no file ${file.slice(0, 100)}` })
    try {
      const body = await readFile(dir + file)
      // Not hashed: revalidated each time (a few tens of KB, from the same machine).
      return await secure(reply).header('cache-control', 'no-cache').type(TYPES[m[1]!]!).send(body)
    } catch {
      return reply.code(404).send({ error: 'not_found', message: `no file ${file.slice(0, 100)}: run npm run build` })
    }
  })
}
