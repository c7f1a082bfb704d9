/** Accessors for untrusted JSON bodies: never throw, undefined when the shape is wrong. */

export type JsonRecord = Record<string, unknown>

export function isRecord (value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function asString (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/** A non-empty string, or undefined (empty strings count as "not set" for endpoints/keys). */
export function asNonEmptyString (value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

export function asNumber (value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

export function asRecord (value: unknown): JsonRecord | undefined {
  return isRecord(value) ? value : undefined
}

export type JsonParse = { ok: true, value: unknown } | { ok: false, message: string }

export function parseJson (body: Buffer | string): JsonParse {
  try {
    return { ok: true, value: JSON.parse(body.toString()) as unknown }
  } catch (err) {
    return { ok: false, message: (err as Error).message }
  }
}
