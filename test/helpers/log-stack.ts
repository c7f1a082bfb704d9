/**
 * A proxy on both hops (the simulated AI gateway and model server behind it) with one real
 * request captured under a correlation id we choose, and log lines for it written through the
 * store's own methods, as `logs import` will: GitLab's llm.log line before it, the gateway's
 * traceback and access line during it, llm.log's error after it. Beside it, a request known from
 * logs alone (an exchange reconstructed from them, `meta.reported_by: logs`) and one with log
 * lines and nothing else. What the API, CLI, page and bundle tests of issue 19 look at.
 */
import type { Test } from 'tap'
import { request } from 'undici'
import type { Exchange } from '../../src/capture/exchange.js'
import type { LogEvent } from '../../src/logs/event.js'
import { openStore } from '../../src/store/open.js'
import { startAiGateway } from '../fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from '../fixtures/model-server.js'
import { logEvent } from './log-events.js'
import { type Harness, startHarness } from './proxy-harness.js'
import { exchange } from './stores.js'

export const CAPTURED_CID = 'logs-trace-1'
export const RECONSTRUCTED_CID = 'logs-rebuilt-2'
export const BARE_CID = 'logs-bare-3'
export const IMPORT_ID = 'test-import-1'

export interface LogStack {
  h: Harness
  /** The captured exchanges of CAPTURED_CID's trace (the gateway request and its model call). */
  captured: Exchange[]
  /** Every log line written, by correlation id. */
  lines: Record<string, LogEvent[]>
  /** The exchange reconstructed from logs (RECONSTRUCTED_CID). */
  rebuilt: Exchange
}

const iso = (ms: number): string => new Date(Math.floor(ms)).toISOString()

/** Starts it; everything is closed when `t` ends. `db`: a PostgreSQL URL (a SQLite file otherwise). */
export async function startLogStack (t: Test, opts: { db?: string } = {}): Promise<LogStack> {
  const model = await startModelServer()
  const gateway = await startAiGateway()
  const h = await startHarness({ routes: [{ name: 'gitlab-aigw', upstream: gateway.url }, { name: 'model', upstream: model.url, hop: 'model' }], ...opts })
  t.teardown(async () => {
    await h.close()
    await gateway.close()
    await model.close()
  })
  // A model endpoint without /v1: the model answers 404, the gateway fails the completion.
  const body = JSON.stringify({
    current_file: { file_name: 'a.py', language_identifier: 'python', content_above_cursor: 'def f():\n', content_below_cursor: '' },
    model_name: DEFAULT_MODEL, model_identifier: `custom_openai/${DEFAULT_MODEL}`, model_endpoint: h.url('model')
  })
  const res = await request(`${h.url()}/v2/code/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-request-id': CAPTURED_CID } })
  await res.body.text()
  const all = await h.exchanges()
  const gatewayEx = all.find((e) => e.correlation_id === CAPTURED_CID && e.hop === 'gateway')
  if (gatewayEx === undefined) throw new Error(`no gateway exchange for ${CAPTURED_CID}: ${all.map((e) => e.correlation_id).join(', ')}`)
  const captured = all.filter((e) => e.id === gatewayEx.id || e.parent_id === gatewayEx.id)

  const start = Date.parse(gatewayEx.started_at)
  const end = start + gatewayEx.timings.duration_ms
  const lines: Record<string, LogEvent[]> = {
    [CAPTURED_CID]: [
      logEvent({
        source: 'gitlab_llm', kind: 'info', level: 'info', correlation_id: CAPTURED_CID, time: iso(start - 40),
        message: 'Performing request to AI Gateway', fields: { class: 'Gitlab::Llm::AiGateway::Client', ai_event_name: 'performing_request' },
        origin: { file: 'llm.log', line: 10 }
      }),
      logEvent({
        source: 'gateway', kind: 'exception', level: 'error', correlation_id: CAPTURED_CID, time: iso(end),
        message: 'Traceback (most recent call last):\n  File "ai_gateway/models/litellm.py", line 312, in generate\nlitellm.NotFoundError: OpenAIException - Not Found',
        fields: { logger: 'exceptions', exception_class: 'NotFoundError', status_code: 404 },
        origin: { file: 'gateway.log', line: 42 }
      }),
      logEvent({
        source: 'gateway', kind: 'access', level: 'info', correlation_id: CAPTURED_CID, time: iso(end + 1),
        message: 'POST /v2/code/completions 500', fields: { logger: 'api.access', status_code: 500, duration_s: 0.01 },
        origin: { file: 'gateway.log', line: 43 }
      }),
      logEvent({
        source: 'gitlab_llm', kind: 'gateway_error', level: 'error', correlation_id: CAPTURED_CID, time: iso(end + 60),
        message: 'Error response from AI Gateway', fields: { class: 'Gitlab::Llm::AiGateway::Client', status: 500 },
        origin: { file: 'llm.log', line: 11 }
      })
    ],
    [RECONSTRUCTED_CID]: [
      logEvent({ source: 'gitlab_llm', kind: 'info', level: 'info', correlation_id: RECONSTRUCTED_CID, time: iso(end + 1_000), message: 'Performing request to AI Gateway', origin: { file: 'llm.log', line: 20 } }),
      logEvent({ source: 'gateway', kind: 'access', level: 'warn', correlation_id: RECONSTRUCTED_CID, time: iso(end + 1_500), message: 'POST /v2/chat/agent 401', fields: { status_code: 401 }, origin: { file: 'gateway.log', line: 80 } })
    ],
    [BARE_CID]: [
      logEvent({ source: 'gitlab_request', kind: 'request', level: 'info', correlation_id: BARE_CID, time: iso(end + 2_000), message: 'POST /api/v4/code_suggestions/completions 200', origin: { file: 'api_json.log', line: 5 } }),
      logEvent({ source: 'gateway_text', kind: 'info', level: null, correlation_id: BARE_CID, time: iso(end + 2_001), message: 'INFO:     127.0.0.1:5052 - "POST /v2/code/completions HTTP/1.1" 200', origin: { file: 'gateway-stdout.log', line: 7 } })
    ]
  }
  const rebuilt = exchange({ correlation_id: RECONSTRUCTED_CID, path: '/v2/chat/agent', status: 401, flags: ['unauthorized'], started_at: iso(end + 1_200), timings: { ttfb_ms: null, duration_ms: 300 } })
  rebuilt.meta.reported_by = 'logs'
  rebuilt.diagnosis = { code: 'jwt_rejected', params: {}, cause: 'The gateway rejected GitLab\'s token (signature, audience or expiry), or it cannot fetch GitLab\'s signing keys from AIGW_GITLAB_URL.', evidence: [], next_steps: [] }

  // Through the store's own methods, on the store the proxy is using (as `logs import` will).
  const store = await openStore(h.dbPath)
  try {
    const written = await store.addLogEvents(Object.values(lines).flat(), IMPORT_ID)
    if (written !== 8) throw new Error(`wrote ${written} log events, not 8`)
    await store.insert([rebuilt])
  } finally {
    await store.close()
  }
  return { h, captured, lines, rebuilt }
}

/** GET on the admin API: status and parsed JSON (or text). */
export async function api<T> (h: Harness, path: string, headers: Record<string, string> = {}): Promise<{ status: number, body: T }> {
  const res = await request(`${h.adminUrl}${path}`, { headers })
  const text = await res.body.text()
  return { status: res.statusCode, body: (res.headers['content-type'] ?? '').toString().includes('json') ? JSON.parse(text) as T : text as T }
}
