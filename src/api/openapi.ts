import swagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { COMPONENT_SCHEMAS } from './schemas.js'

/**
 * OpenAPI 3.1, not 3.0: its Schema Object is JSON Schema (2020-12), so the very schemas fastify
 * validates parameters with and the records' schemas (`type: ['string', 'null']`, `examples`
 * arrays) go into the document as they are. 3.0 has its own JSON Schema dialect (`nullable`, no
 * `type` arrays, a single `example`): every nullable field of an exchange would need rewriting,
 * and the document would no longer be the schemas the API runs with.
 */
export const OPENAPI_VERSION = '3.1.0'

export const OPENAPI_TAGS = [
  { name: 'exchanges', description: 'Recorded exchanges: list, read, purge' },
  { name: 'analysis', description: 'Traces across both hops and summaries' },
  { name: 'export', description: 'HAR 1.2 and NDJSON downloads' },
  { name: 'live', description: 'The live tail (server-sent events)' },
  { name: 'logs', description: 'Log lines imported by `duo-diag-proxy logs import` (GitLab\'s llm.log, the AI gateway\'s logs)' },
  { name: 'replay', description: 'Replay of a recorded exchange to a configured staging target (the browser view\'s Replay button)' },
  { name: 'faults', description: 'Fault injection at run time (only when enabled in the configuration)' },
  { name: 'doctor', description: "The playbook's quick checks against this proxy's own upstreams" },
  { name: 'operations', description: 'Liveness, readiness and Prometheus metrics' },
  { name: 'meta', description: 'This document' }
]

function options (version: string): FastifyDynamicSwaggerOptions {
  return {
    mode: 'dynamic',
    openapi: {
      openapi: OPENAPI_VERSION,
      info: {
        title: 'duo-diag-proxy admin API',
        version,
        description: 'The admin and query API of duo-diag-proxy: recorded exchanges (redacted), traces, summaries, exports, ' +
          'the live tail, fault injection and health. Local-only by default; a token is required when it listens elsewhere. ' +
          "Browsers' cross-origin requests are refused, and a POST must be sent as application/json. " +
          'Every error is `{"error": code, "message": text}`.'
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'The admin token (admin.token, --admin-token or DUO_DIAG_ADMIN__TOKEN), when one is set; ' +
              'required on a non-loopback address. Without a token set, no Authorization is needed.'
          }
        }
      },
      // Either the token, or nothing (an admin API without a token): the deployment decides.
      security: [{ bearer: [] }, {}],
      tags: OPENAPI_TAGS
    },
    // Shared schemas become #/components/schemas/<their $id> rather than def-0, def-1, …
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    }
  }
}

/**
 * The OpenAPI document, generated from the routes' own schemas by @fastify/swagger (dynamic
 * mode). It collects routes as they are added, so the routes must be registered after it, in a
 * plugin of their own (avvio loads plugins in order). The shared schemas (src/api/schemas.ts) are
 * the document's components; `app.swagger()` returns the document once the server is ready.
 *
 * The response schemas document and are tested (test/openapi.test.ts); they do not serialize.
 * fastify's default would compile them with fast-json-stringify, which drops every property a
 * schema does not name and coerces values to the declared types: a field added to a record and
 * not yet to its schema would silently vanish from the API. Answers are JSON.stringify'd as
 * before, and the test fails on anything undocumented instead.
 */
export function registerOpenApi (app: FastifyInstance, version: string): void {
  for (const schema of COMPONENT_SCHEMAS) app.addSchema(schema)
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
  void app.register(swagger, options(version))
}
