/**
 * The metrics registry fed batches of exchange summaries, as the capture worker sends them:
 * counters summed per label set within a batch, histograms per exchange, across batches.
 */
import t from 'tap'
import type { ExchangeSummary } from '../src/capture/engine.js'
import { Metrics } from '../src/metrics/registry.js'

function metrics (): Metrics {
  return new Metrics({ inflight: () => [], capture: () => ({ stored: 0, dropped: 0, droppedQueueFull: 0, droppedStoreError: 0, captureErrors: 0, shed: 0, queued: 0, storeError: null }), storeRows: async () => 0 })
}

function summary (over: Partial<ExchangeSummary>): ExchangeSummary {
  return { route: 'gateway', hop: 'gateway', feature: 'code_completions', status: 200, flags: [], ttfbMs: 12, durationMs: 20, cause: null, ...over }
}

function value (text: string, line: RegExp): number | null {
  const found = text.split('\n').find((l) => line.test(l))
  return found === undefined ? null : Number(found.slice(found.lastIndexOf(' ') + 1))
}

t.test('a batch counts each exchange once per flag, summed per label set; histograms count every exchange', async (t) => {
  const m = metrics()
  m.observe([
    summary({}),
    summary({ durationMs: 300 }),
    summary({ status: 404, flags: ['not_found'], cause: 'model_endpoint_missing_v1' }),
    summary({ status: null, ttfbMs: null, flags: ['connection_refused', 'slow'], cause: 'gateway_unreachable' }),
    summary({})
  ])
  m.observe([summary({}), summary({ route: 'model', feature: 'chat_completions', status: 401, flags: ['unauthorized'] })])
  const text = await m.registry.metrics()
  const ok = /^duo_diag_exchanges_total\{route="gateway",feature="code_completions",status_class="2xx",flag="none"\} /
  t.equal(value(text, ok), 4, 'three in the first batch, one in the second')
  t.equal(value(text, /^duo_diag_exchanges_total\{route="gateway",feature="code_completions",status_class="4xx",flag="not_found"\} /), 1)
  t.equal(value(text, /^duo_diag_exchanges_total\{route="gateway",feature="code_completions",status_class="none",flag="connection_refused"\} /), 1)
  t.equal(value(text, /^duo_diag_exchanges_total\{route="gateway",feature="code_completions",status_class="none",flag="slow"\} /), 1)
  t.equal(value(text, /^duo_diag_exchanges_total\{route="model",feature="chat_completions",status_class="4xx",flag="unauthorized"\} /), 1)
  t.equal(value(text, /^duo_diag_upstream_errors_total\{route="gateway",flag="connection_refused"\} /), 1)
  t.equal(value(text, /^duo_diag_diagnoses_total\{route="gateway",code="model_endpoint_missing_v1"\} /), 1, 'diagnoses counted by code')
  t.equal(value(text, /^duo_diag_diagnoses_total\{route="gateway",code="gateway_unreachable"\} /), 1)
  t.equal(value(text, /^duo_diag_duration_seconds_count\{route="gateway",feature="code_completions"\} /), 6)
  t.equal(value(text, /^duo_diag_duration_seconds_bucket\{le="0.025",route="gateway",feature="code_completions"\} /), 5, 'the 300 ms one is above 25 ms')
  t.equal(value(text, /^duo_diag_ttfb_seconds_count\{route="gateway",feature="code_completions"\} /), 5, 'no ttfb without a response')
})
