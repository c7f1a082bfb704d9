import type { Json } from '../capture/redact.js'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'
import type { ReplayOriginal } from './original.js'
import { synthesize } from './synthesize.js'

export interface ReplayBody {
  /** exact: the captured body (verbose capture); synthesized: same shape and size, placeholder text. */
  mode: 'exact' | 'synthesized' | 'none'
  data: string | null
  content_type: string | null
  bytes: number
  /** The synthesized shape, or where the exact body came from (in the command's language). */
  detail: string
  /** For the person replaying, in the command's language. */
  notes: string[]
}

const BINARY = /^\[binary: \d+ bytes\]$/

/** The body to send: the captured one when there is a whole one, else one built from the metadata. */
export function replayBody (o: ReplayOriginal, modelEndpoint: string | null, lang: Lang = 'en'): ReplayBody {
  const say = (key: string, params: Record<string, string | number> = {}): string => t(lang, `cli:replay.${key}`, params)
  const captured = o.request.body
  if (captured === undefined && o.request.bytes === 0) return { mode: 'none', data: null, content_type: null, bytes: 0, detail: say('detail.noBody'), notes: [] }
  const notes: string[] = []
  if (captured !== undefined && !o.request.body_truncated && !(typeof captured === 'string' && BINARY.test(captured))) {
    const body = structuredClone(captured)
    if (modelEndpoint !== null && typeof body === 'object' && body !== null && replaceEndpoints(body, modelEndpoint)) {
      notes.push(say('note.endpointReplaced', { url: modelEndpoint }))
    }
    // A JSON body is re-serialised; a text body (or JSON that did not parse) goes as it was kept.
    const data = typeof body === 'string' ? body : JSON.stringify(body)
    if (data.includes('[FILTERED')) notes.push(say('note.filteredBody'))
    return { mode: 'exact', data, content_type: o.request.content_type, bytes: Buffer.byteLength(data), detail: say('detail.captured'), notes }
  }
  const why = captured === undefined ? 'notCaptured' : o.request.body_truncated ? 'truncated' : 'binary'
  const s = synthesize(o, modelEndpoint, lang)
  notes.push(say('note.synthesized', { why: say(`why.${why}`) }))
  return { mode: 'synthesized', data: s.text, content_type: s.content_type, bytes: Buffer.byteLength(s.text), detail: s.shape, notes }
}

/** Points every model endpoint of a gateway body (top level, model_metadata, prompt components) at `url`. */
function replaceEndpoints (body: Json, url: string, depth = 0): boolean {
  if (depth > 4 || typeof body !== 'object' || body === null) return false
  let changed = false
  if (Array.isArray(body)) {
    for (const item of body) changed = replaceEndpoints(item, url, depth + 1) || changed
    return changed
  }
  for (const [k, v] of Object.entries(body)) {
    if (k === 'model_endpoint' && typeof v === 'string') {
      body[k] = url
      changed = true
    } else if (k === 'model_metadata' && typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.endpoint === 'string') {
      v.endpoint = url
      changed = true
    } else {
      changed = replaceEndpoints(v, url, depth + 1) || changed
    }
  }
  return changed
}
