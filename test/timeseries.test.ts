/**
 * GET /api/timeseries's store side (issue 18, the overview's chart): requests and failures per
 * bucket, computed in the database, the same on SQLite and PostgreSQL; with filters; failures
 * counted like the summary's errors (client aborts and slow alone are not failures).
 */
import t from 'tap'
import { eachBackend, exchange } from './helpers/stores.js'

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000)

eachBackend(t, 'per minute and per 10 s, with filters, errors like the summary', async (t, store) => {
  // Minute 0: 3 requests, 1 failure; minute 1: none; minute 2: 2 requests (1 slow only, 1 timeout on the model hop).
  await store.insert([
    exchange({ startMs: T0 - 1_800_000_000_000 + 1_000 }),
    exchange({ startMs: T0 - 1_800_000_000_000 + 15_000, status: 500, flags: ['upstream_error'] }),
    exchange({ startMs: T0 - 1_800_000_000_000 + 59_999, flags: ['client_aborted'] }),
    exchange({ startMs: T0 - 1_800_000_000_000 + 120_000, flags: ['slow'] }),
    exchange({ startMs: T0 - 1_800_000_000_000 + 121_000, hop: 'model', status: null, flags: ['timeout', 'model_timeout'] })
  ])
  const minute = await store.timeseries({}, 60_000)
  t.equal(minute.step_s, 60)
  t.same(minute.buckets, [
    { start: new Date(T0).toISOString(), requests: 3, errors: 1 },
    { start: new Date(T0 + 120_000).toISOString(), requests: 2, errors: 1 }
  ], 'two buckets; the empty minute is not listed')
  const summary = await store.summary({})
  t.equal(minute.buckets.reduce((n, b) => n + b.errors, 0), summary.errors, 'errors as the summary counts them')

  const tens = await store.timeseries({}, 10_000)
  t.same(tens.buckets.map((b) => [Date.parse(b.start) - T0, b.requests]), [[0, 1], [10_000, 1], [50_000, 1], [120_000, 2]], 'per 10 s')

  const model = await store.timeseries({ hop: 'model' }, 60_000)
  t.same(model.buckets, [{ start: new Date(T0 + 120_000).toISOString(), requests: 1, errors: 1 }], 'filtered by hop')
  const since = await store.timeseries({ since: T0 + 60_000 }, 60_000)
  t.equal(since.since, new Date(T0 + 60_000).toISOString(), 'the window is stated')
  t.same(since.buckets.map((b) => b.requests), [2], 'and bounds the series')
  const flagged = await store.timeseries({ flags: ['upstream_error'] }, 60_000)
  t.same(flagged.buckets.map((b) => [b.requests, b.errors]), [[1, 1]], 'filtered by flag')
})
