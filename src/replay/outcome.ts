import { scrubText } from '../capture/redact.js'
import { readNdjson, readSse, type StreamFacts } from '../capture/streams.js'
import { classify } from '../diagnosis/classify.js'
import { classifyTransport } from '../diagnosis/transport.js'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'
import type { SendResult } from './send.js'

/** Response headers a duo-diag-proxy adds to the answers it makes itself (src/proxy). */
const PROXY_FLAG_HEADER = 'x-duo-diag-flag'
const PROXY_FAULT_HEADER = 'x-duo-diag-fault'

export interface ReplayOutcome {
  flags: string[]
  cause: string | null
  /**
   * record: capture recorded and diagnosed it — the proxy in front of the target, or the admin API
   * of the originals' store from this command's report; derived: from the response here.
   */
  source: 'record' | 'derived'
}

function header (r: SendResult, name: string): string | undefined {
  const v = r.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** What an error body says, in one line: the gateway's `detail`/`error`, OpenAI's `error.message`, the proxy's `error`. */
function answerText (r: SendResult): string | null {
  if (r.head === '') return null
  let text = r.head
  try {
    const b = JSON.parse(r.head) as Record<string, unknown>
    const e = b.error
    const found = [b.detail, typeof e === 'object' && e !== null ? (e as Record<string, unknown>).message : e, b.message].find((v) => typeof v === 'string')
    if (typeof found === 'string') text = found
  } catch {
    // not JSON (or cut): the start of the text
  }
  text = scrubText(text.replace(/\s+/g, ' ').trim())
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

function streamFacts (r: SendResult): StreamFacts | null {
  const ct = (header(r, 'content-type') ?? '').toLowerCase()
  const fromStart = r.bytes <= Buffer.byteLength(r.tail)
  if (ct.includes('event-stream')) return readSse(r.tail, fromStart)
  if (ct.includes('ndjson') || ct.includes('jsonl')) return readNdjson(r.tail, fromStart)
  return null
}

/** Flags and cause from the response alone, named like capture names them; the cause in `lang`. */
export function deriveOutcome (r: SendResult, lang: Lang = 'en'): ReplayOutcome {
  const say = (key: string, params: Record<string, string | number>): string => t(lang, `cli:replay.cause.${key}`, params)
  if (r.status === null) {
    const code = r.error?.code ?? 'ERROR'
    return { flags: classifyTransport(code, false).flags, cause: say('notAnswered', { error: `${code} ${scrubText(r.error?.message ?? '')}`.trim() }), source: 'derived' }
  }
  const stream = r.error === null ? streamFacts(r) : null
  const flags: string[] = classify({
    status: r.status,
    failureCode: r.error?.code ?? null,
    failureAfterHeaders: r.after_headers,
    proxyAnsweredFlag: null,
    clientAborted: false,
    streamComplete: stream?.complete ?? null,
    streamError: stream?.error != null
  })
  const add = (f: string): void => {
    if (!flags.includes(f)) flags.push(f)
  }
  const proxyFlag = header(r, PROXY_FLAG_HEADER)
  if (proxyFlag !== undefined) for (const f of proxyFlag.split(',')) add(f.trim())
  const fault = header(r, PROXY_FAULT_HEADER)
  if (fault !== undefined) add('fault_injected')
  let cause: string | null = null
  if (r.error !== null) cause = say('cutOff', { code: r.error.code })
  else if (r.status >= 400) {
    const answer = answerText(r)
    if (answer !== null) cause = say('answered', { answer })
  }
  else if (stream?.error != null) cause = say('streamError', { error: scrubText(stream.error) })
  if (fault !== undefined) {
    const injected = say('faultInjected', { fault })
    cause = cause === null ? injected : say('both', { first: cause, second: injected })
  }
  return { flags, cause, source: 'derived' }
}
