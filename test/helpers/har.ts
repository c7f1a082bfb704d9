import { createRequire } from 'node:module'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'

const require = createRequire(import.meta.url)

/** The published HAR 1.2 JSON schema (har-schema, draft-06), compiled once. */
export function harValidator (): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: false })
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object)
  addFormats.default(ajv)
  const schemas = require('har-schema') as Record<string, { $id: string }>
  for (const [name, schema] of Object.entries(schemas)) if (name !== 'har') ajv.addSchema(schema)
  return ajv.compile(schemas.har!)
}
