/**
 * Schemas of imported log lines (issue 19): the LogEvent record (src/logs/event.ts), a page of
 * them (GET /api/log-events) and a trace's timeline item. OpenAPI components like the rest of
 * src/api/schemas.ts, which lists them among COMPONENT_SCHEMAS and documents the operations.
 */
import { LOG_EVENT_KINDS, LOG_LIMITS, LOG_SOURCES } from '../logs/event.js'

const ref = (id: string): { $ref: string } => ({ $ref: `${id}#` })

const LEVEL = { type: ['string', 'null'], enum: ['debug', 'info', 'warn', 'error', null] } as const

export const EXAMPLE_LOG_EVENT = {
  fingerprint: '3f0c2d6a9b1e4f7a8c5d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b',
  source: 'gateway',
  kind: 'exception',
  time: '2026-05-07T05:18:29.201Z',
  correlation_id: '4f1c2d9e8b7a4c3d',
  level: 'error',
  message: 'litellm.NotFoundError: OpenAIException - Not Found',
  fields: { logger: 'exceptions', exception_class: 'NotFoundError', status_code: 404 },
  origin: { file: 'ai-gateway.log', line: 1832 }
} as const

export const LOG_EVENT = {
  $id: 'LogEvent',
  type: 'object',
  description: 'One line (or one multi-line record, such as a traceback) of a log imported by `duo-diag-proxy logs import`: GitLab\'s ' +
    'llm.log, production_json.log / api_json.log, or the AI gateway\'s logs. Redacted and bounded when it was imported.',
  required: ['fingerprint', 'source', 'kind', 'time', 'correlation_id', 'level', 'message', 'fields', 'origin'],
  properties: {
    fingerprint: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'sha256 of the source and the raw record: the same line imported twice is stored once' },
    source: { type: 'string', enum: LOG_SOURCES, description: 'The writer, recognised by the line\'s content' },
    kind: { type: 'string', enum: LOG_EVENT_KINDS, description: 'What the line says, as far as the diagnosis and the timeline care' },
    time: { type: 'string', format: 'date-time', description: 'When the writer says it happened (UTC, milliseconds)' },
    correlation_id: { type: ['string', 'null'], description: 'The request it belongs to; null for lines outside any request' },
    level: { ...LEVEL, description: 'The line\'s level, when it has one' },
    message: { type: 'string', maxLength: LOG_LIMITS.messageChars, description: 'The message, redacted' },
    fields: {
      type: 'object',
      additionalProperties: true,
      description: 'The fields people read, under GitLab\'s own names (`status_code`, `duration_s`, `exception_class`, ' +
        '`duo_chat_error_code`, `path`, …), redacted and bounded'
    },
    origin: {
      type: 'object',
      required: ['file', 'line'],
      properties: {
        file: { type: 'string', description: 'The file as given to the import (`-` for stdin)' },
        line: { type: 'integer', description: 'Its first line number there' }
      }
    }
  },
  examples: [EXAMPLE_LOG_EVENT]
} as const

export const LOG_EVENT_PAGE = {
  $id: 'LogEventPage',
  type: 'object',
  description: 'A page of imported log lines, oldest first.',
  required: ['items', 'next_cursor'],
  properties: {
    items: { type: 'array', items: ref('LogEvent') },
    next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next (newer) page; null on the last page' }
  }
} as const

export const TIMELINE_ITEM = {
  $id: 'TimelineItem',
  description: 'One item of a trace\'s timeline: a step of an exchange (`type: step`) or an imported log line (`type: log`, ' +
    'the line itself at `index` in the trace\'s `log_events`).',
  anyOf: [{
    type: 'object',
    required: ['type', 'time', 'at_ms', 'event', 'exchange_id', 'route'],
    properties: {
      type: { type: 'string', enum: ['step'] },
      time: { type: 'string', format: 'date-time' },
      at_ms: { type: 'number', description: 'Milliseconds since the timeline\'s first item' },
      event: { type: 'string', description: 'gitlab_sent, <hop>_request_received, <hop>_first_byte, <hop>_done, <hop>_failed' },
      exchange_id: { type: ['string', 'null'] },
      route: { type: ['string', 'null'] }
    }
  }, {
    type: 'object',
    required: ['type', 'time', 'at_ms', 'index', 'source', 'level'],
    properties: {
      type: { type: 'string', enum: ['log'] },
      time: { type: 'string', format: 'date-time' },
      at_ms: { type: 'number', description: 'Milliseconds since the timeline\'s first item' },
      index: { type: 'integer', minimum: 0, description: 'The line\'s place in the trace\'s `log_events`' },
      source: { type: 'string', enum: LOG_SOURCES },
      level: LEVEL
    }
  }]
} as const

/** The query string of GET /api/log-events. */
export const LOG_EVENTS_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    correlation_id: { type: 'string', minLength: 1, maxLength: LOG_LIMITS.fieldChars, description: 'only the lines of this request' },
    source: { type: 'string', enum: LOG_SOURCES, description: 'only the lines of this writer' },
    kind: { type: 'string', enum: LOG_EVENT_KINDS, description: 'only lines of this kind' },
    since: { type: 'string', maxLength: 64, description: 'ISO 8601, or relative: 15m, 2h, 7d' },
    until: { type: 'string', maxLength: 64, description: 'ISO 8601, or relative: 15m, 2h, 7d' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'page size' },
    cursor: { type: 'string', maxLength: 128, description: "the previous page's next_cursor" },
    lang: { type: 'string', maxLength: 35, description: 'accepted like everywhere; log lines are served as they were written' }
  }
} as const
