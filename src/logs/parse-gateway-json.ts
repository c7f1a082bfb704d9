/**
 * The AI gateway's JSON lines (ai_gateway/structured_logging.py): structlog's JSONRenderer with
 * `add_custom_keys` stamping `type: "mlops"` and `stage: "main"` on every line, `logger` and
 * `level` from the processor chain, `timestamp` (ISO, UTC), `event` renamed `message`
 * (docs/log-formats.md §3.1). Key order is not relied on.
 */
import { LOG_LIMITS } from './event.js'
import { gatewayKind, keepGatewayFields, litellmLine } from './gateway-fields.js'
import { keepText } from './keep.js'
import { keepCorrelationId, levelOf, type ParsedRecord, type ParseOptions } from './record.js'
import { isoTime } from './time.js'

export function isGatewayJsonLine (o: Record<string, unknown>): boolean {
  return typeof o.logger === 'string' && typeof o.level === 'string' && o.type === 'mlops'
}

export function parseGatewayJson (o: Record<string, unknown>, opts: ParseOptions): ParsedRecord {
  const logger = o.logger as string
  const raw = typeof o.message === 'string' ? o.message : typeof o.event === 'string' ? o.event : ''
  const fields = keepGatewayFields(Object.keys(o), (k) => o[k], opts)
  const message = logger === 'LiteLLM' ? litellmLine(raw, fields, opts) : raw
  return {
    source: 'gateway',
    kind: gatewayKind(logger, message, fields),
    time: isoTime(o.timestamp) ?? isoTime(o.time),
    correlation_id: keepCorrelationId(o.correlation_id),
    level: levelOf(o.level),
    message: keepText(message.trimEnd(), LOG_LIMITS.messageChars),
    fields
  }
}
