import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { ConfigError } from './errors.js'

/**
 * The configuration's one JSON Schema, config/schema.json: editors complete and check the YAML
 * with it (config/default.yaml names it), and loading validates against it with ajv. The schema
 * holds types, ranges, enums and defaults; load.ts keeps only the checks a schema cannot say
 * (addresses, URLs, readable files, names used twice).
 */
export const SCHEMA_URL = new URL('../../config/schema.json', import.meta.url)

type Json = Record<string, unknown>
interface SchemaNode {
  type?: string | string[]
  properties?: Record<string, SchemaNode>
  additionalProperties?: boolean | SchemaNode
  items?: SchemaNode
  allOf?: SchemaNode[]
  $ref?: string
  minimum?: number
  maximum?: number
  enum?: unknown[]
  'x-messages'?: Record<string, string>
}

/** The index a list item had as the user wrote it (`DUO_DIAG_ROUTES__2__…` may leave gaps). */
export type UserIndex = (list: string, i: number) => number

let compiled: { validate: ValidateFunction, root: SchemaNode } | null = null

function schema (): { validate: ValidateFunction, root: SchemaNode } {
  if (compiled !== null) return compiled
  const root = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as SchemaNode
  // coerceTypes: environment variables and --set give text ("25", "true"); useDefaults fills
  // what the file left out, route settings included.
  const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: false, verbose: true, strict: true })
  ajv.addKeyword({ keyword: 'x-messages', schemaType: 'object' })
  compiled = { validate: ajv.compile(root), root }
  return compiled
}

/** The schema's own description of one key (for help and tests). */
export function schemaRoot (): SchemaNode {
  return schema().root
}

/**
 * Validates the merged raw configuration in place (coercing text and filling defaults) and
 * throws a ConfigError naming the key as the user wrote it: `store.flush_interval_ms: expected
 * a whole number from 1 to 10000, got "soon"`, `routes[2].upstrem: unknown key`.
 */
export function validateAgainstSchema (raw: Json): UserIndex {
  const { validate, root } = schema()
  const original = structuredClone(raw)
  const indexes = new Map<string, number[]>()
  normalize(raw, root, root, '', indexes)
  if (validate(raw)) return (list, i) => indexes.get(`/${list}`)?.[i] ?? i
  const error = (validate.errors ?? [])[0]
  if (error === undefined) throw new ConfigError('configuration: invalid')
  throw new ConfigError(describeError(error, original, indexes))
}

/** Follows `$ref` and a lone `allOf` to the schema that says what a value is. */
function resolve (node: SchemaNode | undefined, root: SchemaNode): SchemaNode | undefined {
  if (node === undefined) return undefined
  if (node.$ref !== undefined) {
    const path = node.$ref.replace(/^#\//, '').split('/')
    let target: unknown = root
    for (const p of path) target = (target as Json)[p]
    return resolve(target as SchemaNode, root)
  }
  if (node.type === undefined && node.allOf?.length === 1) return { ...resolve(node.allOf[0], root), ...node, allOf: undefined }
  return node
}

function types (node: SchemaNode | undefined): string[] {
  if (node?.type === undefined) return []
  return Array.isArray(node.type) ? node.type : [node.type]
}

const TRUE = new Set(['true', '1', 'yes', 'on'])
const FALSE = new Set(['false', '0', 'no', 'off'])

/**
 * What ajv's coercion does not: environment variables build lists as comma-separated text or
 * as objects keyed "0", "1"…; booleans come as yes/no/on/off; an empty YAML section is null;
 * an empty value for a nullable key means null. Sparse lists are compacted, and `indexes`
 * remembers the index each item had, so errors name it as the user wrote it.
 */
function normalize (value: unknown, node: SchemaNode | undefined, root: SchemaNode, pointer: string, indexes: Map<string, number[]>): unknown {
  const s = resolve(node, root)
  const ts = types(s)
  if (s === undefined) return value
  if (value === '' && ts.includes('null')) return null
  if (ts.includes('boolean') && typeof value === 'string') {
    const v = value.trim().toLowerCase()
    if (TRUE.has(v)) return true
    if (FALSE.has(v)) return false
    return value
  }
  if (ts.includes('array')) {
    let list: unknown[] | null = null
    if (typeof value === 'string') list = value.split(',').map((x) => x.trim()).filter(Boolean)
    else if (Array.isArray(value)) list = value
    else if (isIndexed(value)) list = Object.keys(value).sort((a, b) => Number(a) - Number(b)).map((k) => value[k])
    if (list === null) return value
    const positions: number[] = []
    const kept: unknown[] = []
    const keys = Array.isArray(value) ? [...value.keys()] : isIndexed(value) ? Object.keys(value).map(Number).sort((a, b) => a - b) : list.map((_, i) => i)
    list.forEach((item, i) => {
      if (item === undefined || item === null) return
      positions.push(keys[i] ?? i)
      kept.push(normalize(item, s.items, root, `${pointer}/${kept.length}`, indexes))
    })
    if (positions.some((p, i) => p !== i)) indexes.set(pointer, positions)
    return kept
  }
  if (ts.includes('object')) {
    if (value === null && !ts.includes('null')) return {}
    if (!isPlain(value)) return value
    for (const [k, v] of Object.entries(value)) {
      const child = s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined)
      if (child !== undefined) value[k] = normalize(v, child, root, `${pointer}/${k}`, indexes)
    }
    return value
  }
  return value
}

function isPlain (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isIndexed (v: unknown): v is Json {
  return isPlain(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => /^\d+$/.test(k))
}

/** `/routes/1/timeouts/connect_ms` → `routes[2].timeouts.connect_ms` (the user's own index). */
function keyPath (instancePath: string, indexes: Map<string, number[]>): { key: string, pointer: string[] } {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  let key = ''
  let pointer = ''
  const userPointer: string[] = []
  for (const part of parts) {
    const positions = indexes.get(pointer)
    if (/^\d+$/.test(part)) {
      const index = positions?.[Number(part)] ?? Number(part)
      key += `[${index}]`
      userPointer.push(String(index))
    } else {
      key += key === '' ? part : `.${part}`
      userPointer.push(part)
    }
    pointer += `/${part}`
  }
  return { key, pointer: userPointer }
}

function at (doc: unknown, pointer: string[]): unknown {
  let v = doc
  for (const p of pointer) v = isPlain(v) || Array.isArray(v) ? (v as Json)[p] : undefined
  return v
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'a whole number',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'null'
}

function describeError (e: ErrorObject, original: unknown, indexes: Map<string, number[]>): string {
  const { key, pointer } = keyPath(e.instancePath, indexes)
  const where = (name: string): string => (key === '' ? name : `${key}.${name}`)
  const given = at(original, pointer) ?? e.data
  const got = describe(given)
  const parent = (e.parentSchema ?? {}) as SchemaNode
  const custom = parent['x-messages']?.[e.keyword]
  if (custom !== undefined) return `${key || 'configuration'}: ${custom.replace('{value}', typeof given === 'string' ? given.slice(0, 64) : got)}`
  const whole = types(parent).includes('integer')
  const range = parent.minimum !== undefined && parent.maximum !== undefined
    ? `${whole ? 'a whole number' : 'a number'} from ${parent.minimum} to ${parent.maximum}`
    : null
  switch (e.keyword) {
    case 'additionalProperties':
      return `${where(String((e.params as { additionalProperty: string }).additionalProperty))}: unknown key`
    case 'required':
      return `${where(String((e.params as { missingProperty: string }).missingProperty))}: missing`
    case 'enum':
      return `${key}: expected one of ${(parent.enum ?? []).join(', ')}, got ${got}`
    case 'const':
      return `${key}: expected ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, got ${got}`
    case 'type':
    case 'minimum':
    case 'maximum':
      if (range !== null && types(parent).some((t) => t === 'integer' || t === 'number')) {
        return `${key}: expected ${range}${types(parent).includes('null') ? ' or null' : ''}, got ${got}`
      }
      return `${key}: expected ${types(parent).map((t) => TYPE_WORDS[t] ?? t).join(' or ')}, got ${got}`
    default:
      return `${key || 'configuration'}: ${e.message ?? 'invalid'}, got ${got}`
  }
}

function describe (v: unknown): string {
  if (v === null) return 'null'
  if (v === undefined) return 'nothing'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'string') return `"${v.length > 64 ? `${v.slice(0, 64)}…` : v}"`
  return String(v)
}
