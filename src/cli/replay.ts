import { parseArgs } from 'node:util'
import { HarError, loadHar } from '../replay/har.js'
import { parseHeaderArg } from '../replay/headers.js'
import { fromExchange, type ReplayOriginal } from '../replay/original.js'
import { renderReplays } from '../replay/render.js'
import { replayAll, type ReplayResult } from '../replay/run.js'
import type { Lang } from '../i18n/message.js'
import { err, type ExitCode, msg, out, UsageError } from './output.js'
import { adminBaseUrl, ApiClient, DbClient, DEFAULT_ADMIN_URL, type QueryClient } from './query-client.js'

export const replayHelp = (lang: Lang): string => msg(lang, 'help.replay')

/** How long to wait for a replay's record to show up at --admin (it is written after forwarding). */
const RECORD_WAIT_MS = 3_000

export async function replayCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
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
    out(replayHelp(lang))
    return 0
  }
  const m = (key: string, params: Record<string, string | number> = {}): string => msg(lang, `replay.${key}`, params)
  if (positionals.length > 1) throw new UsageError(m('oneId'))
  const id = positionals[0]
  const chosen = [id, values['correlation-id'], values.har].filter((v) => v !== undefined)
  if (chosen.length !== 1) throw new UsageError(m('exactlyOne'))
  if (values.target === undefined) throw new UsageError(m('needTarget'))
  const target = httpUrl('--target', values.target, lang)
  if (values['model-endpoint'] !== undefined) httpUrl('--model-endpoint', values['model-endpoint'], lang)
  if (values.db !== undefined && values.har !== undefined) throw new UsageError(m('dbOrHar'))
  const headers: Array<[string, string]> = []
  for (const h of values.header ?? []) {
    const parsed = parseHeaderArg(h)
    if (parsed === null) throw new UsageError(m('badHeader', { value: h }))
    headers.push(parsed)
  }
  const timeoutMs = values['timeout-ms'] === undefined ? 90_000 : Number(values['timeout-ms'])
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 3_600_000) throw new UsageError(m('badTimeout'))
  const token = values['admin-token'] ?? process.env.DUO_DIAG_ADMIN_TOKEN ?? process.env.DUO_DIAG_ADMIN__TOKEN ?? null
  const adminUrl = values.admin === undefined ? null : adminBaseUrl(values.admin, '--admin', lang)
  // In `lang`: the API renders the recorded causes in it, and the client's errors are said in it.
  const admin = adminUrl === null ? null : new ApiClient(adminUrl, token || null, lang)
  // The admin API where the replays' records are looked for, and where a replay no proxy recorded
  // is recorded: --admin, or the default one when the originals are read from it.
  const recordsAt = admin ?? (values.db === undefined && values.har === undefined ? new ApiClient(DEFAULT_ADMIN_URL, token || null, lang) : null)

  let originals: ReplayOriginal[]
  if (values.har !== undefined) {
    try {
      originals = loadHar(values.har, lang)
    } catch (error) {
      if (error instanceof HarError) throw new UsageError(error.message)
      throw error
    }
  } else {
    const source: QueryClient = values.db !== undefined ? await DbClient.open(values.db, false, lang) : recordsAt!
    try {
      originals = await load(source, id, values['correlation-id'])
    } finally {
      if (source !== recordsAt) await source.close()
    }
  }
  if (originals.length === 0) {
    const none = id !== undefined ? m('noExchangeId', { id }) : values.har !== undefined ? m('noExchangeHar', { file: values.har }) : m('noExchangeCorrelation', { id: values['correlation-id']! })
    err(`duo-diag-proxy replay: ${none}\n`)
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
    faultAdmin: adminUrl === null ? null : { base: adminUrl, token: token || null },
    lang
  })
  out(values.json ? JSON.stringify(toJson(results, target), null, 2) + '\n' : renderReplays(results, target, values.timing === true, lang))
  const unreached = results.filter((r) => r.response.status === null)
  if (unreached.length > 0) {
    err(`duo-diag-proxy replay: ${m('notAnswered', { unreached: unreached.length, total: results.length, target, code: unreached[0]!.response.error?.code ?? 'error' })}\n`)
    return 1
  }
  return 0
}

function httpUrl (flag: string, text: string, lang: Lang): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(msg(lang, 'replay.notUrl', { flag, value: text }))
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(msg(lang, 'admin.notHttp', { flag, value: text }))
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
