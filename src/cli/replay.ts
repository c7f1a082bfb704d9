import { parseArgs } from 'node:util'
import { HarError, loadHar } from '../replay/har.js'
import { parseHeaderArg } from '../replay/headers.js'
import { fromExchange, type ReplayOriginal } from '../replay/original.js'
import { renderReplays } from '../replay/render.js'
import { replayAll, type ReplayResult } from '../replay/run.js'
import { err, type ExitCode, out, UsageError } from './output.js'
import { adminBaseUrl, ApiClient, DbClient, DEFAULT_ADMIN_URL, type QueryClient } from './query-client.js'

export const REPLAY_HELP = `Usage: duo-diag-proxy replay <exchange id> | --correlation-id ID | --har FILE  --target URL [flags]

Resends captured requests to a staging AI gateway or model server (or a proxy route in front of
one) and prints original and replay side by side: status, flags, cause, timings.

  <exchange id>          one exchange
  --correlation-id ID    every gateway-hop exchange of that request (all its exchanges if none is)
  --har FILE             every entry of a HAR written by duo-diag-proxy export
  --target URL           where to send them, e.g. http://staging-aigw:5052; its path prefixes each request's
  --header 'N: V'        add or replace a request header (repeatable): staging credentials
  --model-endpoint URL   point the body's model endpoint at a staging model server
  --timing               start each replay at its original's offset from the first, print the
                         original time to first byte and receive time next to the replay's, and
                         when --admin is a staging proxy with fault injection enabled, have it
                         delay each replay by its original's time to first byte
  --timeout-ms N         connect, response headers and body silence, each [90000]
  --ca-file FILE         extra CA bundle (PEM) to trust for an https target
  --json                 JSON output

What is sent: the same method, path and query (query and path values redacted at capture stay
"[FILTERED]"), the original request headers without credentials (capture only kept their
fingerprints; give staging ones with --header), a fresh X-Request-ID replay-<correlation id>-<n>,
and x-duo-diag-replay-of: <original exchange id>. The body is the captured one when the proxy ran
with verbose capture (JSON re-serialised), else synthesized: the shape the record keeps (every
key, the type of every value; generation parameters, roles and model names as sent) at the
original's size, with placeholder text; the output says which.

Where the originals come from (not needed with --har):
  --admin URL|HOST:PORT  a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly (a stopped proxy's SQLite file, or postgres://...)

Where the replays are recorded: a proxy in front of --target records each one (meta.replay_of);
the admin API (--admin, or the default one when the originals come from it) is searched for that
record. A replay no proxy recorded is recorded there, in the originals' store, as a new exchange
linked to its original (meta.replay_of, meta.reported_by: replay), redacted and diagnosed like
live traffic; credentials sent are only fingerprinted. Either way the replay's flags and cause
are the record's. With --db or --har and no --admin, nothing is recorded: they are derived from
the response.

Exit code 0 when every replay was answered (whatever its status), 1 when the target could not
be reached or the originals were not found, 2 on usage errors.
`

/** How long to wait for a replay's record to show up at --admin (it is written after forwarding). */
const RECORD_WAIT_MS = 3_000

export async function replayCommand (argv: string[]): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      'correlation-id': { type: 'string' },
      har: { type: 'string' },
      target: { type: 'string' },
      header: { type: 'string', multiple: true },
      'model-endpoint': { type: 'string' },
      timing: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      'ca-file': { type: 'string' },
      admin: { type: 'string' },
      'admin-token': { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    out(REPLAY_HELP)
    return 0
  }
  if (positionals.length > 1) throw new UsageError('replay takes one exchange id (or --correlation-id, or --har)')
  const id = positionals[0]
  const chosen = [id, values['correlation-id'], values.har].filter((v) => v !== undefined)
  if (chosen.length !== 1) throw new UsageError('give exactly one of: an exchange id, --correlation-id ID, --har FILE')
  if (values.target === undefined) throw new UsageError('--target URL is required (the staging gateway or model server)')
  const target = httpUrl('--target', values.target)
  if (values['model-endpoint'] !== undefined) httpUrl('--model-endpoint', values['model-endpoint'])
  if (values.db !== undefined && values.har !== undefined) throw new UsageError('--db and --har both name where the originals are: give one')
  const headers: Array<[string, string]> = []
  for (const h of values.header ?? []) {
    const parsed = parseHeaderArg(h)
    if (parsed === null) throw new UsageError(`--header "${h}": expected 'Name: value'`)
    headers.push(parsed)
  }
  const timeoutMs = values['timeout-ms'] === undefined ? 90_000 : Number(values['timeout-ms'])
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 3_600_000) throw new UsageError('--timeout-ms: a whole number from 100 to 3600000')
  const token = values['admin-token'] ?? process.env.DUO_DIAG_ADMIN_TOKEN ?? process.env.DUO_DIAG_ADMIN__TOKEN ?? null
  const admin = values.admin === undefined ? null : new ApiClient(adminBaseUrl(values.admin), token || null)
  // The admin API where the replays' records are looked for, and where a replay no proxy recorded
  // is recorded: --admin, or the default one when the originals are read from it.
  const recordsAt = admin ?? (values.db === undefined && values.har === undefined ? new ApiClient(DEFAULT_ADMIN_URL, token || null) : null)

  let originals: ReplayOriginal[]
  if (values.har !== undefined) {
    try {
      originals = loadHar(values.har)
    } catch (error) {
      if (error instanceof HarError) throw new UsageError(error.message)
      throw error
    }
  } else {
    const source: QueryClient = values.db !== undefined ? await DbClient.open(values.db) : recordsAt!
    try {
      originals = await load(source, id, values['correlation-id'])
    } finally {
      if (source !== recordsAt) await source.close()
    }
  }
  if (originals.length === 0) {
    err(`duo-diag-proxy replay: no exchange ${id !== undefined ? `with id "${id}"` : values.har !== undefined ? `in ${values.har}` : `with correlation id "${values['correlation-id']}"`}\n`)
    return 1
  }

  const results = await replayAll(originals, {
    target,
    headers,
    modelEndpoint: values['model-endpoint'] ?? null,
    timing: values.timing === true,
    timeoutMs,
    caFile: values['ca-file'] ?? null,
    records: recordsAt,
    recordWaitMs: RECORD_WAIT_MS,
    recorder: recordsAt,
    faultAdmin: values.admin === undefined ? null : { base: adminBaseUrl(values.admin), token: token || null }
  })
  out(values.json ? JSON.stringify(toJson(results, target), null, 2) + '\n' : renderReplays(results, target, values.timing === true))
  const unreached = results.filter((r) => r.response.status === null)
  if (unreached.length > 0) {
    err(`duo-diag-proxy replay: ${unreached.length} of ${results.length} not answered: ${target} could not be reached (${unreached[0]!.response.error?.code ?? 'error'})\n`)
    return 1
  }
  return 0
}

function httpUrl (flag: string, text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`${flag}: "${text}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag}: "${text}" is not an http(s) URL`)
  return text
}

/** One exchange, or a request's gateway-hop exchanges (its model calls carry minted ids), oldest first. */
async function load (c: QueryClient, id: string | undefined, correlationId: string | undefined): Promise<ReplayOriginal[]> {
  if (id !== undefined) {
    const ex = await c.get(id)
    return ex === null ? [] : [fromExchange(ex)]
  }
  const page = await c.list({ correlation_id: correlationId }, 1000, null)
  const gateway = page.items.filter((e) => e.hop === 'gateway')
  return (gateway.length > 0 ? gateway : page.items).map(fromExchange)
    .sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at))
}

function toJson (results: ReplayResult[], target: string): Record<string, unknown> {
  const unreached = results.filter((r) => r.response.status === null).length
  return {
    target,
    answered: results.length - unreached,
    not_answered: unreached,
    replays: results.map((r) => ({
      n: r.n,
      request_id: r.request_id,
      url: r.url,
      sent_at: r.sent_at,
      offset_ms: r.offset_ms,
      body: r.body,
      dropped_headers: r.dropped_headers,
      notes: r.notes,
      original: {
        id: r.original.id,
        correlation_id: r.original.correlation_id,
        route: r.original.route,
        hop: r.original.hop,
        started_at: r.original.started_at,
        method: r.original.method,
        path: r.original.path,
        query: r.original.query,
        status: r.original.status,
        flags: r.original.flags,
        cause: r.original.cause,
        timings: r.original.timings,
        request_bytes: r.original.request.bytes,
        response_bytes: r.original.response_bytes
      },
      replay: {
        status: r.response.status,
        flags: r.outcome.flags,
        cause: r.outcome.cause,
        source: r.outcome.source,
        timings: { ttfb_ms: r.response.ttfb_ms, duration_ms: r.response.duration_ms },
        bytes: r.response.bytes,
        chunks: r.response.chunks,
        max_gap_ms: r.response.max_gap_ms,
        error: r.response.error,
        recorded_id: r.recorded?.id ?? null,
        recorded_by: r.recorded === null ? null : r.recorded.meta.reported_by === 'replay' ? 'report' : 'proxy',
        diagnosis: r.recorded?.diagnosis ?? null
      }
    }))
  }
}
