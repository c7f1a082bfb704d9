/**
 * JSON Schemas of what the admin API answers, and each operation's documentation. They are the
 * OpenAPI document's components (src/api/openapi.ts) and the routes' `response` schemas;
 * test/openapi.test.ts checks real answers against them, with every object closed except the
 * ones marked open (`additionalProperties: true`), so a field added to a record and not here
 * fails that test instead of going undocumented.
 *
 * Written as JSON Schema draft-07 that is also valid 2020-12 (OpenAPI 3.1's dialect): `type`
 * arrays for null, `examples` arrays, no `nullable`, no `definitions`.
 */
import { ALL_FLAGS } from '../diagnosis/flags.js'
import type { Feature } from '../capture/features.js'
import { EXCHANGE_ID_PATTERN } from '../capture/exchange.js'
import { REPORT_LIMITS } from '../capture/replay-report.js'
import { REPLAY_RUN, REPLAY_RUN_INPUT, REPLAY_TARGETS } from './replay-schemas.js'
import { EXAMPLE_LOG_EVENT, LOG_EVENT, LOG_EVENT_PAGE, TIMELINE_ITEM } from './log-event-schemas.js'

const FEATURES = ['code_completions', 'code_generations', 'code_suggestions', 'chat', 'prompts', 'x_ray', 'health', 'gateway_metrics', 'gateway_other',
  'chat_completions', 'completions', 'embeddings', 'models', 'model_health', 'model_other'] as const satisfies readonly Feature[]
// Compile-time: a Feature missing from the list above is an error here.
type MissingFeature = Exclude<Feature, (typeof FEATURES)[number]>
const featuresComplete: MissingFeature extends never ? true : never = true
void featuresComplete

const ref = (id: string): { $ref: string } => ({ $ref: `${id}#` })
const nullable = (type: string): { type: string[] } => ({ type: [type, 'null'] })

const ISO_TIME = { type: 'string', format: 'date-time' } as const

// ---------------------------------------------------------------------------------------------
// Examples: one exchange as the API serves it (shortened), reused by the operations' examples.

const EXAMPLE_ID = '01a24ef06d32d83cc49156e1'

export const EXAMPLE_EXCHANGE = {
  id: EXAMPLE_ID,
  proxy_instance: 'duo-diag-proxy-0',
  route: 'model',
  hop: 'model',
  correlation_id: '4f1c2d9e8b7a4c3d',
  correlation_source: 'caller',
  original_correlation_id: null,
  started_at: '2026-05-07T05:18:29.170Z',
  method: 'POST',
  http_version: '1.1',
  path: '/chat/completions',
  query: '',
  status: 404,
  flags: ['not_found'],
  timings: { ttfb_ms: 3.412, duration_ms: 3.918 },
  request: {
    headers: { host: 'duo-diag-proxy:5054', 'content-type': 'application/json', authorization: 'Bearer [FILTERED sha256:7d2151d5]', 'x-request-id': '4f1c2d9e8b7a4c3d', 'content-length': '89' },
    bytes: 89,
    content_type: 'application/json'
  },
  response: {
    headers: { 'content-type': 'application/json', 'content-length': '22' },
    bytes: 22,
    content_type: 'application/json',
    body: { detail: 'Not Found' }
  },
  client_ip: '10.0.3.7',
  upstream: 'http://model-server:8000/chat/completions',
  error: null,
  proxy_answered: false,
  upgraded: false,
  meta: { feature: 'chat_completions', model: 'mistral-7b-instruct', stream: false },
  diagnosis: {
    code: 'model_endpoint_missing_v1',
    params: { url: 'http://duo-diag-proxy:5054' },
    cause: 'The model endpoint URL lacks the /v1 suffix.',
    evidence: [{ code: 'text', params: { text: 'POST /chat/completions answered 404 {"detail":"Not Found"}' }, text: 'POST /chat/completions answered 404 {"detail":"Not Found"}' }],
    next_steps: [{ code: 'text', params: { text: 'Set the model endpoint in GitLab to http://duo-diag-proxy:5054/v1' }, text: 'Set the model endpoint in GitLab to http://duo-diag-proxy:5054/v1' }],
    lang: 'en'
  },
  parent_id: null,
  link: null
} as const

const EXAMPLE_ERROR = { error: 'not_found', message: `no exchange ${EXAMPLE_ID}` } as const

// ---------------------------------------------------------------------------------------------
// Component schemas. Each has an $id: fastify shares it (app.addSchema), @fastify/swagger emits it
// as #/components/schemas/<$id>.

export const ERROR_BODY = {
  $id: 'ErrorBody',
  type: 'object',
  description: 'Every error the admin API answers: a stable code and a message for people.',
  required: ['error', 'message'],
  properties: {
    error: {
      type: 'string',
      description: 'A stable code: `not_found`, `unauthorized`, `host_not_allowed`, `cross_origin`, `unsupported_media_type`, ' +
        '`DDP_BAD_PARAMETER`, `DDP_INVALID_CURSOR`, `FST_ERR_VALIDATION` (a parameter failed its schema), `invalid_query`, ' +
        '`DDP_FAULT_RULE_INVALID`, `faults_disabled`, `too_many_tails`, `DDP_BAD_REPORT`, `capture_off`, `capture_unavailable`, ' +
        '`replay_disabled`, `unknown_target`, `replay_busy`, … ' +
        '(`error` for an internal error)'
    },
    message: { type: 'string', description: 'What was wrong, naming the parameter or field' },
    column: { type: 'integer', minimum: 1, description: 'With `invalid_query`: the 1-based column of `q` where the query is wrong' }
  },
  additionalProperties: false,
  examples: [EXAMPLE_ERROR]
} as const

const HEADER_MAP = {
  type: 'object',
  description: 'Redacted headers by lower-case name; a repeated header is an array. Secrets read `[FILTERED]` or `[FILTERED sha256:…]`.',
  additionalProperties: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] }
} as const

export const BODY_RECORD = {
  $id: 'BodyRecord',
  type: 'object',
  description: 'One side of an exchange: headers, size and, when kept, the redacted body.',
  required: ['headers', 'bytes', 'content_type'],
  properties: {
    headers: HEADER_MAP,
    bytes: { type: 'integer', minimum: 0, description: 'Body bytes on the wire' },
    content_type: { ...nullable('string'), description: 'The Content-Type header; null when none' },
    body: {
      description: 'The redacted body, when kept: error responses always (bounded), every body in verbose capture. ' +
        'A JSON value when the body was JSON and fit the capture bound; otherwise text (cut at the bound, ' +
        '`[binary: N bytes]` for binary bodies). Absent when not kept.'
    },
    body_truncated: { type: 'boolean', description: 'The kept body was cut at the capture bound' }
  }
} as const

/** Message parameters: values from traffic or settings (never translated), or a nested message. */
const MESSAGE_PARAMS = {
  type: 'object',
  description: 'The parameters the text was rendered from (URLs, model names, thresholds…), as stored',
  additionalProperties: true
} as const

const DIAGNOSIS_LINE = {
  $id: 'DiagnosisLine',
  type: 'object',
  description: 'One line of evidence or one next step: a stable code, its parameters, and the text in the answer\'s language.',
  required: ['code', 'params', 'text'],
  properties: {
    code: { type: 'string', description: 'Stable code (`text` for a line kept as free text)' },
    params: MESSAGE_PARAMS,
    text: { type: 'string' }
  }
} as const

const DIAGNOSIS = {
  $id: 'Diagnosis',
  type: 'object',
  description: "Why an exchange failed, what shows it, and what to do next (the playbook's answer). Stored as codes and " +
    'parameters; the texts are rendered in the language asked for (`?lang=`, else Accept-Language: en or ja).',
  required: ['code', 'params', 'cause', 'evidence', 'next_steps'],
  properties: {
    code: { type: 'string', description: 'The cause\'s stable code (README, "Diagnosis codes"): what the summary, metrics and `?cause=` group by' },
    params: MESSAGE_PARAMS,
    cause: { type: 'string', description: 'The cause, rendered' },
    evidence: { type: 'array', items: ref('DiagnosisLine') },
    next_steps: { type: 'array', items: ref('DiagnosisLine') },
    lang: { type: 'string', enum: ['en', 'ja'], description: 'The language of the texts' },
    root_cause: ref('RootCause')
  }
} as const

const ROOT_CAUSE = {
  $id: 'RootCause',
  type: 'object',
  description: 'The exchange further down (the model hop) that shows the failure, and its cause.',
  required: ['exchange_id', 'route', 'code', 'cause'],
  properties: {
    exchange_id: { type: 'string', pattern: EXCHANGE_ID_PATTERN },
    route: { type: 'string' },
    code: { type: 'string', description: 'The cause\'s stable code' },
    params: MESSAGE_PARAMS,
    cause: { type: 'string' }
  }
} as const

const TOKEN_SUMMARY = {
  type: 'object',
  description: "The caller's GitLab JWT, decoded: claims only, never the token or its signature.",
  properties: {
    alg: { type: 'string' },
    kid: { type: 'string' },
    iss: { type: 'string' },
    aud: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    sub: { type: 'string' },
    exp: { type: 'number' },
    iat: { type: 'number' },
    nbf: { type: 'number' },
    gitlab_realm: { type: 'string' },
    gitlab_instance_id: { type: 'string' },
    gitlab_global_user_id: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    expires_in_s: { type: 'number', description: 'Seconds left until exp at the time of the request (negative: expired)' }
  }
} as const

const GITLAB_INSTANCE = {
  type: 'object',
  description: 'GitLab instance identity, from the X-Gitlab-* headers GitLab sends the gateway.',
  properties: {
    instance_id: { type: 'string' },
    realm: { type: 'string' },
    version: { type: 'string' },
    host_name: { type: 'string' },
    global_user_id: { type: 'string' },
    rails_send_start_ms: { type: 'number', description: 'X-Gitlab-Rails-Send-Start: when GitLab sent the request (epoch ms)' }
  }
} as const

const EXCHANGE_META = {
  $id: 'ExchangeMeta',
  type: 'object',
  description: 'What capture read from the bodies: names, numbers and switches, never prompt or completion text. ' +
    'Open: fields are added as capture learns to read more.',
  required: ['feature'],
  properties: {
    feature: { type: 'string', description: `What the exchange was for, from its path: ${FEATURES.join(', ')}` },
    file_name: { type: 'string' },
    language: { type: 'string' },
    model_provider: { type: 'string' },
    model_name: { type: 'string' },
    model_endpoint: { type: 'string' },
    model_identifier: { type: 'string' },
    model: { type: 'string', description: 'The OpenAI request `model`' },
    stream: { type: 'boolean' },
    max_tokens: { type: 'number' },
    temperature: { type: 'number' },
    n: { type: 'number' },
    stop: { description: 'The request `stop` value, as sent' },
    usage: { type: 'object', additionalProperties: { type: 'number' }, description: 'Token counts the response reported' },
    finish_reason: { type: 'string' },
    response_model: { type: 'string', description: 'Model hop: the response `model`, the model that answered' },
    response_id: { type: 'string', description: 'Model hop: the response `id`' },
    stream_complete: { ...nullable('boolean'), description: 'The stream end marker was seen; null when unknowable' },
    stream_error: { type: 'string', description: 'The first error event of a 200 stream' },
    gitlab: GITLAB_INSTANCE,
    token: TOKEN_SUMMARY,
    notes: { type: 'array', items: { type: 'string' }, description: 'Why a body was not read (too large, not JSON, …)' },
    fault: { type: 'string', description: 'The fault-injection rule that shaped this exchange' },
    replay_of: { type: 'string', description: 'The exchange this one replays' },
    reported_by: {
      type: 'string',
      enum: ['replay', 'logs'],
      description: 'Set when no route of this proxy carried the exchange: `replay` — `duo-diag-proxy replay` sent it straight to its target ' +
        'and reported what it saw (POST /api/exchanges/{id}/replays); `logs` — reconstructed by `duo-diag-proxy logs import` from log ' +
        'lines alone (GitLab\'s llm.log, the AI gateway\'s logs). Not counted in the metrics, not linked to other exchanges.'
    },
    request_shape: {
      description: 'The request body\'s JSON shape when its text was not kept (metadata capture): the keys, and each value as its type ' +
        '(`"<string N>"` for N characters, `"<number>"`), except switches and generation parameters (prompt_version, choices_count, ' +
        'max_tokens, temperature, …) and names a gateway validates (role, type, model names, endpoints without credentials) as sent. ' +
        '`replay` builds a body of this shape. Bounded in depth, keys and array length.'
    }
  },
  additionalProperties: true
} as const

export const EXCHANGE = {
  $id: 'Exchange',
  type: 'object',
  description: 'One request/response through the proxy, as stored: redacted like the store.',
  required: ['id', 'proxy_instance', 'route', 'hop', 'correlation_id', 'correlation_source', 'original_correlation_id', 'started_at',
    'method', 'path', 'query', 'status', 'flags', 'timings', 'request', 'response', 'client_ip', 'upstream', 'error',
    'proxy_answered', 'upgraded', 'meta', 'diagnosis', 'parent_id', 'link'],
  properties: {
    id: { type: 'string', pattern: EXCHANGE_ID_PATTERN, description: '12 hex of the start time and 12 random hex (8 in stores written before 0.2)' },
    proxy_instance: { type: 'string', description: 'The proxy instance that recorded it (the host name by default)' },
    route: { type: 'string', description: 'The route (listener) it came through' },
    hop: { type: 'string', enum: ['gateway', 'model'], description: 'GitLab → AI gateway, or AI gateway → model' },
    correlation_id: { type: 'string' },
    correlation_source: { type: 'string', enum: ['caller', 'minted', 'replaced'], description: "The caller's X-Request-ID, one the proxy made, or one it replaced (unacceptable)" },
    original_correlation_id: { ...nullable('string'), description: "The caller's id when it was not acceptable, JSON-escaped and cut to 256 characters" },
    started_at: ISO_TIME,
    method: { type: 'string' },
    http_version: { type: 'string', description: "The caller's HTTP version (`1.1`, `1.0`); absent in records written before 0.2" },
    path: { type: 'string', description: 'The path as the caller sent it (redacted)' },
    query: { type: 'string', description: "Redacted query string, without '?'; '' when none" },
    status: { ...nullable('integer'), description: 'The status the caller got; null when none (no response)' },
    flags: { type: 'array', items: { type: 'string' }, description: `Flags from the vocabulary: ${ALL_FLAGS.join(', ')}` },
    timings: {
      type: 'object',
      required: ['ttfb_ms', 'duration_ms'],
      properties: {
        ttfb_ms: { ...nullable('number'), description: 'Time to the first response byte; null when none came' },
        duration_ms: { type: 'number' }
      }
    },
    request: ref('BodyRecord'),
    response: { anyOf: [ref('BodyRecord'), { type: 'null' }], description: 'null when no response came' },
    client_ip: { type: 'string' },
    upstream: { type: 'string', description: 'The upstream URL the request went to (no query)' },
    error: {
      anyOf: [{ type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } }, { type: 'null' }],
      description: 'The transport or proxy failure, when there was one'
    },
    proxy_answered: { type: 'boolean', description: 'The proxy answered the caller itself' },
    upgraded: { type: 'boolean', description: 'A protocol upgrade (WebSocket)' },
    meta: ref('ExchangeMeta'),
    diagnosis: { anyOf: [ref('Diagnosis'), { type: 'null' }], description: 'null when nothing failed' },
    parent_id: { ...nullable('string'), description: 'The gateway-hop exchange that caused this model-hop exchange, when known' },
    link: {
      anyOf: [{
        type: 'object',
        required: ['method', 'confidence'],
        properties: {
          method: { type: 'string', enum: ['header', 'inferred'], description: 'header: a correlation id tied them; inferred: time containment and model/endpoint match' },
          confidence: { type: 'number', minimum: 0, maximum: 1 }
        }
      }, { type: 'null' }],
      description: 'How parent_id was found'
    },
    trace_started: { type: 'string', description: 'The W3C traceparent the proxy added upstream; absent when it added none' }
  },
  examples: [EXAMPLE_EXCHANGE]
} as const

const PAGE = {
  $id: 'ExchangePage',
  type: 'object',
  description: 'A page of exchanges, newest first.',
  required: ['items', 'next_cursor'],
  properties: {
    items: { type: 'array', items: ref('Exchange') },
    next_cursor: { ...nullable('string'), description: 'Pass as `cursor` for the next (older) page; null on the last page' }
  }
} as const

const TRACE_NODE = {
  $id: 'TraceNode',
  type: 'object',
  required: ['exchange', 'children'],
  properties: {
    exchange: ref('Exchange'),
    children: { type: 'array', items: ref('TraceNode'), description: 'The model calls this gateway request made' },
    attempt: { type: 'integer', minimum: 1, description: "Among several model calls of one gateway request (its retries), this call's place" }
  }
} as const

const TRACE = {
  $id: 'Trace',
  type: 'object',
  description: 'A correlation id across both hops: the tree (gateway request → model calls), the waterfall and the root cause; ' +
    'the log lines imported for it, and one timeline of both.',
  required: ['correlation_id', 'roots', 'waterfall', 'root_cause', 'log_events', 'log_events_truncated', 'timeline'],
  properties: {
    correlation_id: { type: 'string' },
    roots: { type: 'array', items: ref('TraceNode') },
    waterfall: {
      type: 'array',
      items: {
        type: 'object',
        required: ['event', 'exchange_id', 'route', 'at_ms'],
        properties: {
          event: { type: 'string', description: 'gitlab_sent, <hop>_request_received, <hop>_first_byte, <hop>_done, …' },
          exchange_id: nullable('string'),
          route: nullable('string'),
          at_ms: { type: 'number', description: "Milliseconds since the trace's first event" }
        }
      }
    },
    root_cause: { anyOf: [ref('RootCause'), { type: 'null' }], description: "The deepest failing exchange's cause, when the trace failed" },
    log_events: { type: 'array', items: ref('LogEvent'), maxItems: 2000, description: 'The log lines imported for this correlation id (`duo-diag-proxy logs import`), oldest first, at most 2 000' },
    log_events_truncated: { type: 'boolean', description: 'More lines are stored than `log_events` holds: GET /api/log-events?correlation_id= pages through all of them' },
    timeline: { type: 'array', items: ref('TimelineItem'), description: 'The waterfall\'s steps (at their absolute times) and the log lines, merged by time' }
  }
} as const

const PERCENTILES = {
  type: 'object',
  required: ['p50', 'p95', 'p99'],
  properties: { p50: nullable('number'), p95: nullable('number'), p99: nullable('number') }
} as const

const COUNTS = { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } } as const

const SUMMARY = {
  $id: 'Summary',
  type: 'object',
  description: 'Totals, error rate, breakdowns (at most 100 keys each; `none` for a missing value) and latency percentiles, computed in the database.',
  required: ['since', 'until', 'total', 'errors', 'error_rate', 'by_route', 'by_feature', 'by_status', 'by_flag', 'by_cause', 'latency'],
  properties: {
    since: { anyOf: [ISO_TIME, { type: 'null' }] },
    until: { anyOf: [ISO_TIME, { type: 'null' }] },
    total: { type: 'integer', minimum: 0 },
    errors: { type: 'integer', minimum: 0, description: 'Exchanges with a failure flag (client aborts, slow and token predictions not counted)' },
    error_rate: { type: 'number', minimum: 0, maximum: 1 },
    by_route: COUNTS,
    by_feature: COUNTS,
    by_status: COUNTS,
    by_flag: COUNTS,
    by_cause: { ...COUNTS, description: 'By diagnosis code (records from before codes: by their text)' },
    cause_titles: { type: 'object', additionalProperties: { type: 'string' }, description: 'A short title for each code in by_cause, in the answer\'s language' },
    latency: {
      type: 'array',
      items: {
        type: 'object',
        required: ['route', 'feature', 'count', 'ttfb_ms', 'duration_ms'],
        properties: { route: { type: 'string' }, feature: { type: 'string' }, count: { type: 'integer', minimum: 0 }, ttfb_ms: PERCENTILES, duration_ms: PERCENTILES }
      }
    }
  },
  examples: [{
    since: '2026-05-07T04:18:29.000Z',
    until: null,
    total: 120,
    errors: 3,
    error_rate: 0.025,
    by_route: { model: 80, 'gitlab-aigw': 40 },
    by_feature: { chat_completions: 80, code_completions: 40 },
    by_status: { 200: 117, 404: 2, none: 1 },
    by_flag: { not_found: 2, connection_refused: 1 },
    by_cause: { model_endpoint_missing_v1: 2, none: 118 },
    cause_titles: { model_endpoint_missing_v1: 'Model endpoint lacks /v1', none: 'none' },
    latency: [{ route: 'model', feature: 'chat_completions', count: 80, ttfb_ms: { p50: 210, p95: 840, p99: 1300 }, duration_ms: { p50: 1900, p95: 5200, p99: 7400 } }]
  }]
} as const

const FAULT_ACTION = {
  $id: 'FaultAction',
  type: 'object',
  description: 'What a matching request suffers: exactly one of these.',
  minProperties: 1,
  maxProperties: 1,
  properties: {
    respond: {
      type: 'object',
      required: ['status', 'body', 'headers'],
      properties: { status: { type: 'integer', minimum: 200, maximum: 599 }, body: { type: 'string' }, headers: { type: 'object', additionalProperties: { type: 'string' } } },
      description: 'The proxy answers itself'
    },
    delay_ms: { type: 'integer', minimum: 0, description: 'Wait before forwarding' },
    timeout: { type: 'boolean', enum: [true], description: "No answer until the route's headers timeout, then the proxy's own 504" },
    refuse: { type: 'boolean', enum: [true], description: "As if nothing listened upstream: the proxy's own 502" },
    first_chunk_delay_ms: { type: 'integer', minimum: 0, description: 'Forward, then hold the first body chunk this long' },
    stall_after_bytes: { type: 'integer', minimum: 0, description: 'Forward, then stop relaying after this many body bytes' },
    reset: { type: 'string', enum: ['before_headers', 'after_headers'], description: "Close the caller's connection" },
    truncate_after_chunks: { type: 'integer', minimum: 0, description: 'End the response cleanly after this many chunks' },
    bandwidth_bps: { type: 'integer', minimum: 1, description: 'Relay the body at most this many bytes per second' }
  }
} as const

const FAULT_RULE = {
  $id: 'FaultRule',
  type: 'object',
  description: 'A fault-injection rule as the proxy applies it (presets and error bodies resolved to their action).',
  required: ['name', 'match', 'action'],
  properties: {
    name: { type: 'string' },
    match: {
      type: 'object',
      required: ['percent'],
      properties: {
        route: { type: 'string' },
        method: { type: 'string' },
        path: { type: 'string', description: 'Path prefix' },
        header: { type: 'object', required: ['name', 'value'], properties: { name: { type: 'string' }, value: { type: 'string' } } },
        percent: { type: 'integer', minimum: 0, maximum: 100, description: 'Share of matching requests affected' }
      }
    },
    action: ref('FaultAction')
  },
  examples: [{ name: 'missing-v1', match: { percent: 100, route: 'model' }, action: { respond: { status: 404, body: '{"detail":"Not Found"}', headers: { 'content-type': 'application/json' } } } }]
} as const

const FAULT_LIST = {
  $id: 'FaultList',
  type: 'object',
  required: ['rules', 'presets', 'error_bodies'],
  properties: {
    rules: { type: 'array', items: ref('FaultRule'), description: 'In the order they are tried: the first match applies' },
    presets: { type: 'array', items: { type: 'string' }, description: 'Names for `preset`' },
    error_bodies: { type: 'array', items: { type: 'string' }, description: "Names for `error_body`: the gateway's and model servers' exact error bodies" }
  }
} as const

/**
 * The POST /api/faults body: the shape of an entry of `faults.rules` in the configuration. It is
 * checked by the same parser as the configuration's (src/faults/rules.ts parseFaultRule), so the
 * file and the API accept the same rules and errors name the field; this schema documents it.
 */
export const FAULT_RULE_INPUT = {
  $id: 'FaultRuleInput',
  type: 'object',
  description: 'A rule as in `faults.rules` of the configuration: a name, optional match fields, and exactly one action ' +
    '(`preset`, `error_body`, `respond`, `delay_ms`, `timeout`, `refuse`, `first_chunk_delay_ms`, `stall_after_bytes`, ' +
    '`reset`, `truncate_after_chunks`, `bandwidth_bps`). A rule with the name of an existing one replaces it.',
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'Defaults to the preset name with `preset`' },
    route: { type: 'string', maxLength: 2048 },
    method: { type: 'string', maxLength: 2048 },
    path: { type: 'string', maxLength: 2048, description: 'Path prefix' },
    header: { type: 'string', pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+:', description: '`Name: value`: the request must carry this header with exactly this value' },
    percent: { type: 'integer', minimum: 0, maximum: 100, default: 100, description: 'Share of matching requests affected' },
    preset: { type: 'string', description: "A playbook symptom by name (GET /api/faults lists them): 'missing-v1', 'gateway-down', 'model-timeout', …" },
    error_body: { type: 'string', description: "One of the gateway's or model servers' exact error bodies by name (GET /api/faults lists them)" },
    respond: {
      type: 'object',
      required: ['status'],
      properties: {
        status: { type: 'integer', minimum: 200, maximum: 599 },
        body: { description: 'Text, or JSON (sent as JSON with Content-Type: application/json)' },
        headers: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } }
      }
    },
    delay_ms: { type: 'integer', minimum: 0, maximum: 600_000 },
    timeout: { type: 'boolean', enum: [true] },
    refuse: { type: 'boolean', enum: [true] },
    first_chunk_delay_ms: { type: 'integer', minimum: 0, maximum: 600_000 },
    stall_after_bytes: { type: 'integer', minimum: 0 },
    reset: { type: 'string', enum: ['before_headers', 'after_headers'] },
    truncate_after_chunks: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    bandwidth_bps: { type: 'integer', minimum: 1, maximum: 10_000_000_000 }
  },
  additionalProperties: false,
  minProperties: 1,
  examples: [
    { name: 'no-v1', route: 'model', preset: 'missing-v1' },
    { name: 'slow-chat', path: '/v1/chat/completions', percent: 50, delay_ms: 5000 },
    { name: 'seat', header: 'X-Gitlab-Realm: self-managed', error_body: 'unauthorized_code_suggestions' }
  ]
} as const

const HEADERS_SENT = {
  type: 'object',
  description: 'Headers by name; a repeated header is an array. Redacted by capture like the headers of live traffic.',
  maxProperties: REPORT_LIMITS.headers,
  propertyNames: { pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,256}$' },
  additionalProperties: {
    anyOf: [
      { type: 'string', maxLength: REPORT_LIMITS.headerChars },
      { type: 'array', maxItems: REPORT_LIMITS.headerValues, items: { type: 'string', maxLength: REPORT_LIMITS.headerChars } }
    ]
  }
} as const

/**
 * The POST /api/exchanges/{id}/replays body: what `duo-diag-proxy replay` saw of a replay it sent
 * with no proxy in front of the target. Capture builds the record from it like from live traffic.
 */
export const REPLAY_REPORT = {
  $id: 'ReplayReport',
  type: 'object',
  description: 'A replay sent to a target with no proxy in front of it, as the sender saw it: the request, the response ' +
    '(samples of its body), timings and any transport failure. Nothing in it is trusted: it is bounded here and redacted by capture ' +
    'like live traffic (headers, query, bodies), diagnosed, and recorded on the route and hop of the original it replays.',
  required: ['sent_at', 'target', 'request', 'response', 'timings', 'error'],
  additionalProperties: false,
  properties: {
    sent_at: { type: 'string', maxLength: 64, description: 'When the request was sent (ISO 8601): within the last day' },
    target: { type: 'string', maxLength: 2048, description: 'The target\'s base URL (origin and base path); the request path is below it' },
    request: {
      type: 'object',
      required: ['method', 'path', 'headers', 'bytes'],
      additionalProperties: false,
      properties: {
        method: { type: 'string', pattern: '^[A-Za-z]{1,16}$' },
        path: { type: 'string', pattern: '^/', maxLength: REPORT_LIMITS.pathChars, description: 'Path and query as sent, below the target\'s base path' },
        headers: HEADERS_SENT,
        bytes: { type: 'integer', minimum: 0, maximum: 1e12, description: 'Body bytes sent' },
        body: { type: 'string', maxLength: REPORT_LIMITS.requestBody, description: 'The body text sent (its start when longer); absent when none' }
      }
    },
    response: {
      anyOf: [{
        type: 'object',
        required: ['status', 'headers', 'bytes', 'head', 'tail'],
        additionalProperties: false,
        properties: {
          status: { type: 'integer', minimum: 100, maximum: 599 },
          headers: HEADERS_SENT,
          bytes: { type: 'integer', minimum: 0, maximum: 1e12, description: 'Body bytes received' },
          head: { type: 'string', maxLength: REPORT_LIMITS.responseSample, description: 'The body\'s first bytes' },
          tail: { type: 'string', maxLength: REPORT_LIMITS.responseSample, description: 'Its last bytes when the body was longer than `head`, else empty' }
        }
      }, { type: 'null' }],
      description: 'null when no response came'
    },
    timings: {
      type: 'object',
      required: ['ttfb_ms', 'duration_ms'],
      additionalProperties: false,
      properties: {
        ttfb_ms: { type: ['number', 'null'], minimum: 0, maximum: 86_400_000, description: 'From sending to the response headers; null when none came' },
        duration_ms: { type: 'number', minimum: 0, maximum: 86_400_000 }
      }
    },
    error: {
      anyOf: [{
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, …' },
          message: { type: 'string', maxLength: 1024 }
        }
      }, { type: 'null' }],
      description: 'The transport failure: before any response (`response` null) or after its headers'
    }
  },
  examples: [{
    sent_at: '2026-05-07T05:20:11.402Z',
    target: 'http://staging-model:8000',
    request: {
      method: 'POST',
      path: '/chat/completions',
      headers: { 'content-type': 'application/json', authorization: 'Bearer [FILTERED sha256:9f86d081]', 'x-request-id': 'replay-4f1c2d9e8b7a4c3d-1' },
      bytes: 89
    },
    response: { status: 404, headers: { 'content-type': 'application/json' }, bytes: 22, head: '{"detail":"Not Found"}', tail: '' },
    timings: { ttfb_ms: 2.9, duration_ms: 3.4 },
    error: null
  }]
} as const

const HAR = {
  $id: 'Har',
  type: 'object',
  description: 'HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), entries oldest first, redacted like the store. ' +
    'Each entry carries the proxy record under `_duo_diag`; `request.postData` holds the redacted request body text where one was kept.',
  required: ['log'],
  properties: {
    log: {
      type: 'object',
      required: ['version', 'creator', 'entries'],
      properties: {
        version: { type: 'string', enum: ['1.2'] },
        creator: { type: 'object', required: ['name', 'version'], properties: { name: { type: 'string' }, version: { type: 'string' } } },
        pages: { type: 'array', items: { type: 'object', additionalProperties: true } },
        comment: { type: 'string' },
        _duo_diag: {
          type: 'object',
          description: 'HAR custom field: the language of the diagnosis texts in the entries; for a trace, its imported log lines',
          required: ['lang'],
          properties: {
            lang: { type: 'string', enum: ['en', 'ja'] },
            log_events: { type: 'array', items: ref('LogEvent'), description: 'A trace\'s export only: the log lines imported for it, oldest first (as the trace holds them)' }
          }
        },
        entries: { type: 'array', items: { type: 'object', additionalProperties: true, description: 'A HAR 1.2 entry' } }
      }
    }
  }
} as const

const TIME_SERIES = {
  $id: 'TimeSeries',
  type: 'object',
  description: 'Requests and failures per time bucket, computed in the database. Only buckets with requests are listed (a missing bucket had none), oldest first; at most the newest 2 000.',
  required: ['since', 'until', 'step_s', 'buckets'],
  properties: {
    since: { anyOf: [ISO_TIME, { type: 'null' }] },
    until: { anyOf: [ISO_TIME, { type: 'null' }] },
    step_s: { type: 'integer', minimum: 1, description: 'The width of a bucket, in seconds' },
    buckets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['start', 'requests', 'errors'],
        properties: {
          start: { ...ISO_TIME, description: 'The bucket\'s start (a multiple of step_s since the epoch)' },
          requests: { type: 'integer', minimum: 1 },
          errors: { type: 'integer', minimum: 0, description: 'Exchanges with a failure flag, counted like the summary\'s `errors`' }
        }
      }
    }
  },
  examples: [{
    since: '2026-05-07T09:00:00.000Z',
    until: null,
    step_s: 60,
    buckets: [{ start: '2026-05-07T09:00:00.000Z', requests: 42, errors: 3 }, { start: '2026-05-07T09:02:00.000Z', requests: 17, errors: 0 }]
  }]
} as const

const READINESS = {
  $id: 'Readiness',
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not ready'] },
    checks: { type: 'object', additionalProperties: { type: 'string' }, description: '`ok`, or what is wrong, per check (listeners, store)' }
  }
} as const

const DOCTOR_STATUS = { type: 'string', enum: ['pass', 'warn', 'fail', 'skip'] } as const

const DOCTOR_REQUEST = {
  $id: 'DoctorRequest',
  type: 'object',
  description: 'What to run the checks with. No URL: the checks run against the upstreams of the proxy\'s own routes, never a host the caller names.',
  additionalProperties: false,
  properties: {
    model_name: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      pattern: '^[^\\u0000-\\u001f\\u007f]+$',
      description: 'The model identifier configured in GitLab: `model.name` checks the model routes serve it'
    }
  },
  examples: [{ model_name: 'mistral-7b-instruct' }, {}]
} as const

const DOCTOR_RESULT = {
  $id: 'DoctorResult',
  type: 'object',
  description: 'One check\'s result, as `duo-diag-proxy doctor --json` reports it, with the route checked and the check\'s name in the answer\'s language.',
  required: ['route', 'hop', 'check', 'name', 'status', 'evidence'],
  additionalProperties: false,
  properties: {
    route: { ...nullable('string'), description: 'The route whose upstream was checked; null when no route sits on that hop (`<hop>.route`, skipped)' },
    hop: { type: 'string', enum: ['gateway', 'model'], description: 'An `auto` route is checked as the gateway' },
    check: { type: 'string', pattern: '^(gateway|model)\\.[a-z0-9_]+$', description: 'A stable id: `gateway.healthz`, `model.models`, `model.route`…' },
    name: { type: 'string', description: 'The check\'s name in the answer\'s language (in English, its id)' },
    status: DOCTOR_STATUS,
    evidence: { type: 'string', description: 'What was seen, in the answer\'s language; values from the network as they came' },
    next_step: { type: 'string', description: 'What to do, when the check did not pass' }
  },
  examples: [
    { route: 'gitlab-aigw', hop: 'gateway', check: 'gateway.healthz', name: 'gateway.healthz', status: 'pass', evidence: 'GET /monitoring/healthz 200' },
    { route: 'model', hop: 'model', check: 'model.tcp', name: 'model.tcp', status: 'fail', evidence: 'connect to vllm:8000: ECONNREFUSED', next_step: 'Nothing listens on vllm:8000: start the service, or fix the port. Inside a container, localhost is the container itself.' }
  ]
} as const

const DOCTOR_DONE = {
  $id: 'DoctorDone',
  type: 'object',
  description: 'The last line of a run: how many checks ended in each status.',
  required: ['done', 'counts', 'timed_out'],
  additionalProperties: false,
  properties: {
    done: { type: 'boolean', enum: [true] },
    counts: {
      type: 'object',
      required: ['pass', 'warn', 'fail', 'skip'],
      additionalProperties: false,
      properties: Object.fromEntries(DOCTOR_STATUS.enum.map((s) => [s, { type: 'integer', minimum: 0 }]))
    },
    timed_out: { type: 'boolean', description: 'The run passed its deadline (60 s): the checks still running are not reported' },
    error: { type: 'string', description: '`doctor_failed`: the run stopped on an unexpected error (logged); `message` says which' },
    message: { type: 'string' }
  },
  examples: [{ done: true, counts: { pass: 9, warn: 0, fail: 1, skip: 2 }, timed_out: false }]
} as const

/** Every shared schema, for app.addSchema (order: referenced ones first). */
export const COMPONENT_SCHEMAS = [ERROR_BODY, BODY_RECORD, ROOT_CAUSE, DIAGNOSIS_LINE, DIAGNOSIS, EXCHANGE_META, EXCHANGE, PAGE, TRACE_NODE, LOG_EVENT, LOG_EVENT_PAGE, TIMELINE_ITEM, TRACE, SUMMARY,
  FAULT_ACTION, FAULT_RULE, FAULT_LIST, FAULT_RULE_INPUT, REPLAY_REPORT, REPLAY_TARGETS, REPLAY_RUN_INPUT, REPLAY_RUN, HAR, READINESS, TIME_SERIES, DOCTOR_REQUEST, DOCTOR_RESULT, DOCTOR_DONE] as const

// ---------------------------------------------------------------------------------------------
// Responses and operations.

type Json = Record<string, unknown>

/** A JSON response: its schema, and named examples. */
function json (description: string, schema: Json, examples: Record<string, unknown> = {}): Json {
  const named = Object.entries(examples)
  return {
    description,
    content: {
      'application/json': {
        schema,
        ...(named.length > 0 ? { examples: Object.fromEntries(named.map(([k, v]) => [k, { value: v }])) } : {})
      }
    }
  }
}

const ERRORS = {
  400: json('A parameter or the body is not acceptable: the message names it', ref('ErrorBody'), {
    bad_parameter: { error: 'DDP_BAD_PARAMETER', message: 'querystring/since must be an ISO 8601 time or a relative duration like 15m, 2h, 7d' },
    invalid_query: { error: 'invalid_query', message: "unknown field 'stauts' at column 1 (did you mean status?)", column: 1 }
  }),
  401: json('The admin API has a token and the request did not send it (`Authorization: Bearer <token>`)', ref('ErrorBody'), {
    unauthorized: { error: 'unauthorized', message: 'send Authorization: Bearer <admin token>' }
  }),
  403: json('A browser request from another origin (Origin or Sec-Fetch-Site)', ref('ErrorBody'), {
    cross_origin: { error: 'cross_origin', message: 'cross-origin requests are refused (from https://evil.example)' }
  }),
  404: json('Not found', ref('ErrorBody'), { not_found: EXAMPLE_ERROR }),
  409: json('Fault injection is off in the configuration', ref('ErrorBody'), {
    faults_disabled: { error: 'faults_disabled', message: 'fault injection is off: set faults.enabled: true in the configuration (never on by accident)' }
  }),
  413: json('The body is over 1 MiB', ref('ErrorBody'), {
    too_large: { error: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'Request body is too large' }
  }),
  415: json('A POST whose Content-Type is not application/json (a page could send it without a CORS preflight)', ref('ErrorBody'), {
    unsupported_media_type: { error: 'unsupported_media_type', message: 'send the body as Content-Type: application/json' }
  }),
  421: json('The Host header is not a name of this admin API (DNS rebinding); admin.allowed_hosts adds names', ref('ErrorBody'), {
    host_not_allowed: { error: 'host_not_allowed', message: 'Host "evil.example" is not a name of this admin API; add it to admin.allowed_hosts if it is yours' }
  }),
  500: json('Internal error (logged)', ref('ErrorBody'), { internal: { error: 'error', message: 'internal error' } })
} as const

type ErrorCode = keyof typeof ERRORS
/** Any guarded route may answer these: the guard's and the token's refusals, an internal error. */
type CommonError = 401 | 403 | 421 | 500

/** The route's own error answers and the common ones (typed by code: fastify checks reply.code against them). */
function errors<C extends ErrorCode = never> (...own: C[]): { [K in C | CommonError]: Json } {
  const codes: ErrorCode[] = [...own, 401, 403, 421, 500]
  return Object.fromEntries(codes.sort((a, b) => a - b).map((c) => [c, ERRORS[c]])) as { [K in C | CommonError]: Json }
}

const REMOVED = {
  type: 'object',
  required: ['removed'],
  properties: { removed: { type: 'integer', minimum: 0, description: 'How many were removed' } }
} as const

const SSE_EXAMPLE = `event: exchange\nid: ${EXAMPLE_ID}\ndata: ${JSON.stringify(EXAMPLE_EXCHANGE)}\n\nevent: dropped\ndata: {"dropped":12,"reason":"slow reader"}\n\n`

/**
 * Each route's documentation (`operationId`, `summary`, `description`, `tags`, `response`),
 * spread into its route schema beside its parameters.
 */
export const OPERATIONS = {
  listExchanges: {
    operationId: 'listExchanges',
    tags: ['exchanges'],
    summary: 'Exchanges, newest first, keyset-paginated',
    description: 'The exchanges matching every filter given, newest first. `next_cursor` fetches the next (older) page; it stays stable while records arrive.',
    response: { 200: json('A page of exchanges', ref('ExchangePage'), { page: { items: [EXAMPLE_EXCHANGE], next_cursor: 'MTc3ODEzMTUwOTE3MC4xMjM0' } }), ...errors(400) }
  },
  getExchange: {
    operationId: 'getExchange',
    tags: ['exchanges'],
    summary: 'One exchange',
    description: 'One exchange by id, with its diagnosis.',
    response: { 200: json('The exchange', ref('Exchange'), { not_found_v1: EXAMPLE_EXCHANGE }), ...errors(400, 404) }
  },
  recordReplay: {
    operationId: 'recordReplay',
    tags: ['exchanges'],
    summary: 'Record a replay of this exchange that no proxy saw',
    description: '`duo-diag-proxy replay` sends it when the target of a replay has no proxy in front to record it. The report (what was ' +
      'sent and received) goes through capture like live traffic: redacted, diagnosed and written as a new exchange on the original\'s ' +
      'route and hop, with `meta.replay_of` set to the original and `meta.reported_by: "replay"`. It is not counted in the metrics. ' +
      '404 when the original is not in this store. Send it as `Content-Type: application/json`.',
    response: {
      201: json('The exchange as recorded', ref('Exchange')),
      ...errors(400, 404, 413, 415),
      409: json('Capture is off (capture.enabled: false): nothing is recorded', ref('ErrorBody'), {
        capture_off: { error: 'capture_off', message: 'capture is off (capture.enabled: false): nothing is recorded' }
      }),
      503: json('It cannot be recorded now: the capture queue is full, the store is failing, or the proxy is stopping', ref('ErrorBody'), {
        capture_unavailable: { error: 'capture_unavailable', message: 'the capture queue is full: try again shortly' }
      })
    }
  },
  listReplayTargets: {
    operationId: 'listReplayTargets',
    tags: ['replay'],
    summary: 'The staging targets an exchange may be replayed to',
    description: 'The targets configured in `replay.targets`, by name and URL; empty when none is (replay from the browser view is off). ' +
      'The headers a target sends are configured as environment variables, and their values are never answered.',
    response: { 200: json('The targets', ref('ReplayTargets'), { one: REPLAY_TARGETS.examples[0] }), ...errors() }
  },
  runReplay: {
    operationId: 'runReplay',
    tags: ['replay'],
    summary: 'Replay this exchange to a configured staging target, and record the replay',
    description: 'Resends the exchange to the named target as `duo-diag-proxy replay` would (the captured body, or one of its shape ' +
      'and size; credentials redacted at capture dropped; the target\'s configured headers added; no timing), waits for the answer, ' +
      'and records it as a new exchange (`meta.replay_of`, `meta.reported_by: "replay"`), redacted and diagnosed like live traffic. ' +
      'Only a configured target\'s name is accepted, never a URL. One replay runs at a time. Send it as `Content-Type: application/json`.',
    response: {
      201: json('The replay, recorded', ref('ReplayRun'), { recorded: REPLAY_RUN.examples[0] }),
      ...errors(400, 404, 413, 415),
      409: json('No replay target is configured, or capture is off (nothing could be recorded)', ref('ErrorBody'), {
        replay_disabled: { error: 'replay_disabled', message: 'no replay target is configured (replay.targets): replay from the page is off' },
        capture_off: { error: 'capture_off', message: 'capture is off (capture.enabled: false): a replay could not be recorded' }
      }),
      429: json('A replay is already running', ref('ErrorBody'), {
        replay_busy: { error: 'replay_busy', message: 'a replay is already running (at most 1 at a time): try again when it ends' }
      }),
      503: json('The replay was sent but could not be recorded: the capture queue is full, the store is failing, or the proxy is stopping', ref('ErrorBody'), {
        capture_unavailable: { error: 'capture_unavailable', message: 'the replay was sent but could not be recorded: the capture queue is full' }
      })
    }
  },
  purgeExchanges: {
    operationId: 'purgeExchanges',
    tags: ['exchanges'],
    summary: 'Purge the exchanges matching the filters (all=true for everything)',
    description: 'Deletes the matching exchanges from the store. Without any filter it refuses (400) unless `all=true`.',
    response: { 200: json('How many were removed', REMOVED, { removed: { removed: 42 } }), ...errors(400) }
  },
  getTrace: {
    operationId: 'getTrace',
    tags: ['analysis'],
    summary: 'A correlation id across both hops: tree, waterfall, root cause, imported log lines, timeline',
    description: 'Every exchange of the correlation id (GitLab → gateway, gateway → model), as a tree with a waterfall of events and the deepest failure; ' +
      'the log lines imported for it (`duo-diag-proxy logs import`: GitLab\'s llm.log, the AI gateway\'s logs), and one timeline merging the ' +
      'waterfall\'s steps and those lines by time. Exchanges reconstructed from logs alone carry `meta.reported_by: "logs"`. ' +
      'A correlation id with log lines and no exchange is a trace too; 404 only when it has neither.',
    response: {
      200: json('The trace', ref('Trace'), {
        failed: {
          correlation_id: EXAMPLE_EXCHANGE.correlation_id,
          roots: [{ exchange: EXAMPLE_EXCHANGE, children: [] }],
          waterfall: [
            { event: 'model_request_received', exchange_id: EXAMPLE_ID, route: 'model', at_ms: 0 },
            { event: 'model_first_byte', exchange_id: EXAMPLE_ID, route: 'model', at_ms: 3.412 },
            { event: 'model_done', exchange_id: EXAMPLE_ID, route: 'model', at_ms: 3.918 }
          ],
          root_cause: { exchange_id: EXAMPLE_ID, route: 'model', code: EXAMPLE_EXCHANGE.diagnosis.code, params: EXAMPLE_EXCHANGE.diagnosis.params, cause: EXAMPLE_EXCHANGE.diagnosis.cause },
          log_events: [EXAMPLE_LOG_EVENT],
          log_events_truncated: false,
          timeline: [
            { type: 'step', time: '2026-05-07T05:18:29.170Z', at_ms: 0, event: 'model_request_received', exchange_id: EXAMPLE_ID, route: 'model' },
            { type: 'step', time: '2026-05-07T05:18:29.173Z', at_ms: 3.412, event: 'model_first_byte', exchange_id: EXAMPLE_ID, route: 'model' },
            { type: 'step', time: '2026-05-07T05:18:29.174Z', at_ms: 3.918, event: 'model_done', exchange_id: EXAMPLE_ID, route: 'model' },
            { type: 'log', time: EXAMPLE_LOG_EVENT.time, at_ms: 31, index: 0, source: 'gateway', level: 'error' }
          ]
        }
      }),
      ...errors(400, 404)
    }
  },
  listLogEvents: {
    operationId: 'listLogEvents',
    tags: ['logs'],
    summary: 'Imported log lines, oldest first, keyset-paginated',
    description: 'The log lines `duo-diag-proxy logs import` stored (GitLab\'s llm.log, production_json.log / api_json.log, the AI gateway\'s ' +
      'logs), redacted, oldest first, filtered by correlation id, source, kind and time. `next_cursor` fetches the next (newer) page.',
    response: { 200: json('A page of log lines', ref('LogEventPage'), { page: { items: [EXAMPLE_LOG_EVENT], next_cursor: null } }), ...errors(400) }
  },
  getSummary: {
    operationId: 'getSummary',
    tags: ['analysis'],
    summary: 'Totals, error rate, breakdowns and latency percentiles (computed in the database)',
    description: 'Aggregates over the matching exchanges.',
    response: { 200: json('The summary', ref('Summary')), ...errors(400) }
  },
  getTimeSeries: {
    operationId: 'getTimeSeries',
    tags: ['analysis'],
    summary: 'Requests and failures per minute (or per `step` seconds), computed in the database',
    description: 'The matching exchanges counted per bucket of `step` seconds (60 by default), with the failures among them: ' +
      "the browser view's overview chart. Give `since` to bound the window; without it, the newest 2 000 buckets.",
    response: { 200: json('The series', ref('TimeSeries')), ...errors(400) }
  },
  exportExchanges: {
    operationId: 'exportExchanges',
    tags: ['export'],
    summary: 'HAR 1.2 or NDJSON, streamed',
    description: 'The matching exchanges as a download, streamed page by page. HAR (`format=har`, the default) lists entries oldest first, ' +
      'as browsers write them and replay tools play them; NDJSON (`format=ndjson`) is one exchange per line, newest first like ' +
      '`GET /api/exchanges`. Both are redacted like the store. `max` bounds the count (the newest `max`).',
    response: {
      200: {
        description: 'The export, as an attachment (Content-Disposition names the file)',
        headers: { 'content-disposition': { type: 'string', description: 'attachment; filename="duo-diag-<time>.har" (or .ndjson)' } },
        content: {
          'application/json': { schema: ref('Har') },
          'application/x-ndjson': {
            schema: { type: 'string', description: 'One Exchange (#/components/schemas/Exchange) per line, newest first' },
            example: JSON.stringify(EXAMPLE_EXCHANGE) + '\n'
          }
        }
      },
      ...errors(400)
    }
  },
  exportTrace: {
    operationId: 'exportTrace',
    tags: ['export'],
    summary: 'A trace as HAR 1.2: the GitLab request and the model calls it caused',
    description: 'Every exchange of the trace of `correlation_id` (as `GET /api/traces/{correlation_id}` lists them, both hops), ' +
      'as one HAR document, oldest first, redacted like the store; the log lines imported for it under the log\'s `_duo_diag.log_events`. ' +
      'What the browser view\'s "Export trace as HAR" downloads.',
    response: {
      200: {
        description: 'The trace as an attachment (Content-Disposition names the file)',
        headers: { 'content-disposition': { type: 'string', description: 'attachment; filename="duo-diag-trace-<correlation id>.har"' } },
        content: { 'application/json': { schema: ref('Har') } }
      },
      ...errors(404)
    }
  },
  streamExchanges: {
    operationId: 'streamExchanges',
    tags: ['live'],
    summary: 'Live tail as server-sent events',
    description: 'Exchanges as they are recorded, as server-sent events, with the same filters (`since` is ignored). ' +
      '`event: exchange` carries one Exchange (#/components/schemas/Exchange) as JSON in `data`, its id in `id`; `event: dropped` ' +
      '(`{"dropped": N, "reason": "slow reader"}`) says this reader fell behind and N were skipped. A reader that takes nothing for 60 s is disconnected.',
    response: {
      200: {
        description: 'The event stream (open until the client closes it)',
        content: {
          'text/event-stream': {
            schema: { type: 'string', description: 'Server-sent events: `event: exchange` (data: an Exchange) and `event: dropped` (data: {"dropped": N, "reason": …})' },
            example: SSE_EXAMPLE
          }
        }
      },
      ...errors(400),
      503: json('Too many live tails at once', ref('ErrorBody'), { too_many_tails: { error: 'too_many_tails', message: 'at most 16 live tails at once' } })
    }
  },
  listFaults: {
    operationId: 'listFaults',
    tags: ['faults'],
    summary: 'Fault-injection rules, presets and error bodies',
    description: 'The rules in force, and the names `preset` and `error_body` accept. 409 when fault injection is off.',
    response: {
      200: json('The rules and the names', ref('FaultList'), {
        one_rule: { rules: FAULT_RULE.examples, presets: ['missing-v1', 'gateway-down', 'model-timeout'], error_bodies: ['not_found_v1', 'inference_failed'] }
      }),
      ...errors(409)
    }
  },
  putFaultRule: {
    operationId: 'putFaultRule',
    tags: ['faults'],
    summary: 'Add or replace (by name) a fault-injection rule',
    description: 'Adds the rule, or replaces the rule of that name. Send it as `Content-Type: application/json`. 409 when fault injection is off.',
    response: { 201: json('The rule as it applies', ref('FaultRule'), { added: FAULT_RULE.examples[0] }), ...errors(400, 409, 413, 415) }
  },
  removeFaultRules: {
    operationId: 'removeFaultRules',
    tags: ['faults'],
    summary: 'Remove a rule by name, or all of them',
    description: 'Without `name`, every rule is removed.',
    response: { 200: json('How many were removed', REMOVED, { removed: { removed: 1 } }), ...errors(400, 409) }
  },
  runDoctor: {
    operationId: 'runDoctor',
    tags: ['doctor'],
    summary: 'Run the playbook\'s quick checks against this proxy\'s upstreams, streamed',
    description: 'What `duo-diag-proxy doctor` checks (DNS, TCP, the TLS chain, gateway health and readiness, model health, served ' +
      'models and `model_name`), run against the upstream of each route of the running configuration: gateway (and `auto`) routes ' +
      'first, then model routes. The caller names no URL. Never the chat completion (it costs tokens and needs the model\'s API ' +
      'key); `model.url_v1` is skipped (it checks the endpoint GitLab was given, which the proxy does not see). A hop with no ' +
      'route is one skipped `<hop>.route` line. The answer is NDJSON: one DoctorResult (#/components/schemas/DoctorResult) per line ' +
      'as each check completes, in the answer\'s language, then one DoctorDone (#/components/schemas/DoctorDone). One run at a ' +
      'time (409 otherwise); a run ends within 60 s. Send the body as `Content-Type: application/json` (`{}` for no options).',
    response: {
      200: {
        description: 'The results as they come (NDJSON)',
        content: {
          'application/x-ndjson': {
            schema: { type: 'string', description: 'One DoctorResult per line as each check completes, then one DoctorDone' },
            example: [...DOCTOR_RESULT.examples, ...DOCTOR_DONE.examples].map((line) => JSON.stringify(line)).join('\n') + '\n'
          }
        }
      },
      ...errors(400, 413, 415),
      409: json('A run is already under way', ref('ErrorBody'), {
        doctor_busy: { error: 'doctor_busy', message: 'the doctor checks are already running: wait for that run to finish' }
      })
    }
  },
  getLiveness: {
    operationId: 'getLiveness',
    tags: ['operations'],
    summary: 'Liveness',
    description: 'Answers while the process runs. Open to any caller: no token, any Host.',
    security: [],
    response: {
      200: json('Alive', { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } }, { ok: { status: 'ok' } }),
      500: ERRORS[500]
    }
  },
  getReadiness: {
    operationId: 'getReadiness',
    tags: ['operations'],
    summary: 'Readiness: listeners up, store writable',
    description: 'Ready when every route listens and the store takes writes. Open to any caller: no token, any Host.',
    security: [],
    response: {
      200: json('Ready', ref('Readiness'), { ready: { status: 'ready', checks: { listeners: 'ok', store: 'ok' } } }),
      500: ERRORS[500],
      503: json('Not ready: `checks` says what is failing', ref('Readiness'), {
        store_failing: { status: 'not ready', checks: { listeners: 'ok', store: 'failing: SQLITE_FULL: database or disk is full' } }
      })
    }
  },
  getMetrics: {
    operationId: 'getMetrics',
    tags: ['operations'],
    summary: 'Prometheus metrics',
    description: 'The Prometheus text exposition format (version 0.0.4). Labels carry no ids or paths.',
    response: {
      200: {
        description: 'The metrics',
        content: {
          'text/plain': {
            schema: { type: 'string' },
            example: '# HELP duo_diag_exchanges_total Exchanges recorded\n# TYPE duo_diag_exchanges_total counter\n' +
              'duo_diag_exchanges_total{route="model",feature="chat_completions",status_class="2xx",flag="none"} 117\n'
          }
        }
      },
      ...errors()
    }
  },
  getOpenApi: {
    operationId: 'getOpenApi',
    tags: ['meta'],
    summary: 'This document',
    description: 'The OpenAPI 3.1 document of the admin API, generated from the routes.',
    response: { 200: json('The OpenAPI document', { type: 'object', additionalProperties: true }), ...errors() }
  }
} as const
