import { ConfigError } from './errors.js'

/**
 * Reads one object of the raw configuration with typed accessors that coerce the strings
 * environment variables and flags produce, and names the exact key in every error.
 * `finish()` rejects keys nobody asked for, so a typo never passes silently.
 */
export class Section {
  private readonly seen = new Set<string>()
  private readonly obj: Record<string, unknown>

  constructor (value: unknown, readonly path: string) {
    if (value === undefined || value === null) value = {}
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError(`${path || 'configuration'}: expected a mapping, got ${describe(value)}`)
    }
    this.obj = value as Record<string, unknown>
  }

  private key (name: string): string {
    return this.path ? `${this.path}.${name}` : name
  }

  private take (name: string): unknown {
    this.seen.add(name)
    return this.obj[name]
  }

  string (name: string, fallback: string): string {
    const v = this.take(name)
    if (v === undefined || v === null) return fallback
    if (typeof v === 'string' || typeof v === 'number') return String(v)
    throw new ConfigError(`${this.key(name)}: expected a string, got ${describe(v)}`)
  }

  nullableString (name: string, fallback: string | null): string | null {
    const v = this.take(name)
    if (v === undefined) return fallback
    if (v === null || v === '') return null
    if (typeof v === 'string' || typeof v === 'number') return String(v)
    throw new ConfigError(`${this.key(name)}: expected a string, got ${describe(v)}`)
  }

  integer (name: string, fallback: number, min: number, max: number): number {
    const v = this.take(name)
    if (v === undefined || v === null) return fallback
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${this.key(name)}: expected a whole number from ${min} to ${max}, got ${describe(v)}`)
    }
    return n
  }

  /** A whole number, or null (`null`, empty, or absent with a null fallback). */
  nullableInteger (name: string, fallback: number | null, min: number, max: number): number | null {
    const v = this.obj[name]
    if (v === null || v === '' || (v === undefined && fallback === null)) {
      this.seen.add(name)
      return null
    }
    return this.integer(name, fallback ?? min, min, max)
  }

  boolean (name: string, fallback: boolean): boolean {
    const v = this.take(name)
    if (v === undefined || v === null) return fallback
    if (typeof v === 'boolean') return v
    if (typeof v === 'string') {
      const s = v.trim().toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(s)) return true
      if (['false', '0', 'no', 'off'].includes(s)) return false
    }
    throw new ConfigError(`${this.key(name)}: expected true or false, got ${describe(v)}`)
  }

  oneOf<T extends string> (name: string, fallback: T, allowed: readonly T[]): T {
    const v = this.string(name, fallback)
    if (!(allowed as readonly string[]).includes(v)) {
      throw new ConfigError(`${this.key(name)}: expected one of ${allowed.join(', ')}, got "${v}"`)
    }
    return v as T
  }

  stringList (name: string): string[] {
    const v = this.take(name)
    if (v === undefined || v === null || v === '') return []
    // Environment variables give lists as comma-separated text.
    if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean)
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[]
    throw new ConfigError(`${this.key(name)}: expected a list of strings, got ${describe(v)}`)
  }

  /** Numbers in [min, max]; a list, or comma-separated text from the environment. */
  numberList (name: string, fallback: number[], min: number, max: number): number[] {
    const v = this.take(name)
    if (v === undefined || v === null) return fallback
    const items: unknown[] = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean).map(Number) : Array.isArray(v) ? v : [v]
    if (!items.every((n): n is number => typeof n === 'number' && Number.isFinite(n) && n >= min && n <= max)) {
      throw new ConfigError(`${this.key(name)}: expected a list of numbers from ${min} to ${max}, got ${describe(v)}`)
    }
    return items
  }

  /** A mapping of strings (e.g. headers). */
  stringMap (name: string): Record<string, string> {
    const v = this.take(name)
    if (v === undefined || v === null) return {}
    if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string' || typeof x === 'number')) {
      throw new ConfigError(`${this.key(name)}: expected a mapping of strings, got ${describe(v)}`)
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]))
  }

  section (name: string): Section {
    return new Section(this.take(name), this.key(name))
  }

  list (name: string): Section[] {
    const v = this.take(name)
    if (v === undefined || v === null) return []
    const entries: Array<[string, unknown]> | null = Array.isArray(v)
      ? v.map((item, i) => [String(i), item])
      : isIndexedObject(v) ? Object.entries(v) : null
    if (!entries) throw new ConfigError(`${this.key(name)}: expected a list, got ${describe(v)}`)
    // Sparse lists (DUO_DIAG_ROUTES__2__* with no index 1) keep the index the user wrote.
    return entries.filter(([, item]) => item !== undefined && item !== null).map(([i, item]) => new Section(item, `${this.key(name)}[${i}]`))
  }

  /** A list whose items another parser validates: [path of the item, raw item]. */
  rawList (name: string): Array<[string, unknown]> {
    const v = this.take(name)
    if (v === undefined || v === null) return []
    const entries: Array<[string, unknown]> | null = Array.isArray(v)
      ? v.map((item, i) => [String(i), item])
      : isIndexedObject(v) ? Object.entries(v) : null
    if (entries === null) throw new ConfigError(`${this.key(name)}: expected a list, got ${describe(v)}`)
    return entries.filter(([, item]) => item !== undefined && item !== null).map(([i, item]) => [`${this.key(name)}[${i}]`, item])
  }

  has (name: string): boolean {
    return this.obj[name] !== undefined
  }

  /** Rejects unknown keys. */
  finish (): void {
    for (const k of Object.keys(this.obj)) {
      if (!this.seen.has(k)) throw new ConfigError(`${this.key(k)}: unknown key`)
    }
  }
}

/** Environment variables build lists as objects keyed "0", "1", ... */
function isIndexedObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.keys(v).every((k) => /^\d+$/.test(k))
}

function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'string') return `"${v}"`
  return String(v)
}
