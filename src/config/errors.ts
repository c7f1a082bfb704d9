/** A configuration problem: start-up stops with this message and exit code 2, before any listener opens. */
export class ConfigError extends Error {
  readonly code = 'DDP_CONFIG_INVALID'
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
