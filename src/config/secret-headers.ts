import { inspect } from 'node:util'

const FILTERED = '[FILTERED]'

/**
 * Header values read from the environment (a replay target's staging credentials). They sit in a
 * private field, so that nothing which serializes or prints the configuration — the bundle's
 * config.json, a log line, an API answer, a debugger's inspect — can carry them: only the one
 * place that sends a replay asks for them by name (`entries()`).
 */
export class SecretHeaders {
  readonly #values: ReadonlyArray<readonly [string, string]>

  constructor (values: ReadonlyArray<readonly [string, string]>) {
    this.#values = values.map(([name, value]) => [name.toLowerCase(), value] as const)
  }

  /** [name, value] pairs, for sending. */
  entries (): Array<[string, string]> {
    return this.#values.map(([name, value]) => [name, value])
  }

  /** The names, each value shown as "[FILTERED]". */
  toJSON (): Record<string, string> {
    return Object.fromEntries(this.#values.map(([name]) => [name, FILTERED]))
  }

  [inspect.custom] (): string {
    return `SecretHeaders ${JSON.stringify(this.toJSON())}`
  }
}
