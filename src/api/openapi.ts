import type { RouteOptions } from 'fastify'

interface Collected {
  method: string
  url: string
  schema?: RouteOptions['schema']
  summary?: string
}

/** Builds the OpenAPI 3.1 document from the routes' own JSON schemas: one source of truth. */
export function openApiDocument (routes: readonly Collected[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    if (r.method === 'HEAD' || r.url === '/api/openapi.json') continue
    const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}')
    const schema = (r.schema ?? {}) as { querystring?: { properties?: Record<string, unknown>, required?: string[] }, params?: { properties?: Record<string, unknown> } }
    const parameters: unknown[] = []
    for (const [name, s] of Object.entries(schema.params?.properties ?? {})) parameters.push({ name, in: 'path', required: true, schema: s })
    for (const [name, s] of Object.entries(schema.querystring?.properties ?? {})) {
      parameters.push({ name, in: 'query', required: schema.querystring?.required?.includes(name) ?? false, schema: s, ...((s as { type?: string }).type === 'array' ? { style: 'form', explode: true } : {}) })
    }
    ;(paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary ?? '',
      parameters,
      responses: { 200: { description: 'OK' }, 400: { description: 'Bad parameter: the message names it' }, 401: { description: 'Missing or wrong admin token' } }
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'duo-diag-proxy admin API', version },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths
  }
}

export type { Collected as CollectedRoute }
