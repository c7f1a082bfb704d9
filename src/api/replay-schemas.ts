/**
 * Schemas of replay from the browser view (GET /api/replay/targets, POST
 * /api/exchanges/{id}/replay): OpenAPI components like the rest of src/api/schemas.ts, which
 * lists them among COMPONENT_SCHEMAS and documents the operations.
 */
/** A target's name, as config/schema.json allows it. */
export const TARGET_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'

export const REPLAY_TARGETS = {
  $id: 'ReplayTargets',
  type: 'object',
  description: 'The staging targets configured in replay.targets, by name. Their header values are never part of an answer.',
  required: ['targets'],
  properties: {
    targets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'url'],
        properties: {
          name: { type: 'string', description: 'What POST /api/exchanges/{id}/replay takes as `target`' },
          url: { type: 'string', description: 'The base URL replays go to (each request\'s path below it)' }
        }
      }
    }
  },
  examples: [{ targets: [{ name: 'staging-aigw', url: 'http://staging-aigw:5052/' }] }]
} as const

export const REPLAY_RUN_INPUT = {
  $id: 'ReplayRunInput',
  type: 'object',
  description: 'Which configured target to replay to. Only a name: the proxy never sends to a URL a caller gives.',
  required: ['target'],
  additionalProperties: false,
  properties: {
    target: { type: 'string', pattern: TARGET_NAME_PATTERN, description: 'A name from GET /api/replay/targets' }
  },
  examples: [{ target: 'staging-aigw' }]
} as const

const EXAMPLE_REPLAY_ID = '01a24ef06d32d83cc4915f02'

export const REPLAY_RUN = {
  $id: 'ReplayRun',
  type: 'object',
  description: 'A replay sent and recorded: the new exchange\'s id (GET /api/exchanges/{id}, with `meta.replay_of` and ' +
    '`meta.reported_by: "replay"`) and its outcome as capture diagnosed it, in the reader\'s language.',
  required: ['replay', 'original', 'target', 'outcome', 'sent'],
  properties: {
    replay: { type: 'string', description: 'The id of the exchange recorded for the replay' },
    original: { type: 'string', description: 'The exchange replayed' },
    target: { type: 'string' },
    outcome: {
      type: 'object',
      required: ['status', 'flags', 'cause', 'cause_code', 'ttfb_ms', 'duration_ms', 'error'],
      properties: {
        status: { type: ['integer', 'null'], description: 'The target\'s status; null when it did not answer' },
        flags: { type: 'array', items: { type: 'string' }, description: 'Flags, as on the Exchange' },
        cause: { type: ['string', 'null'], description: 'The diagnosed cause; null when nothing went wrong' },
        cause_code: { type: ['string', 'null'], description: 'Its diagnosis code' },
        ttfb_ms: { type: ['number', 'null'] },
        duration_ms: { type: 'number' },
        error: {
          anyOf: [{ type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } }, { type: 'null' }],
          description: 'The transport failure, if any (redacted)'
        }
      }
    },
    sent: {
      type: 'object',
      required: ['request_id', 'body', 'dropped_headers'],
      properties: {
        request_id: { type: 'string', description: 'The X-Request-ID the replay carried: replay-<original correlation id>-1' },
        body: { type: 'string', enum: ['exact', 'synthesized', 'none'], description: 'exact: the captured body (verbose capture); synthesized: the original\'s shape and size, placeholder text' },
        dropped_headers: { type: 'array', items: { type: 'string' }, description: 'Headers redacted at capture that the target configures no value for: not sent' }
      }
    }
  },
  examples: [{
    replay: EXAMPLE_REPLAY_ID,
    original: '01a24ef06d32d83cc49156e1',
    target: 'staging-model',
    outcome: { status: 200, flags: [], cause: null, cause_code: null, ttfb_ms: 41.2, duration_ms: 380.5, error: null },
    sent: { request_id: 'replay-4f1c2d9e8b7a4c3d-1', body: 'synthesized', dropped_headers: [] }
  }]
} as const
