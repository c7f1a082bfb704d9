import { diagnosis as catalog } from '../i18n/catalogs/en/diagnosis.js'
import type { Message, MessageParam, MessageParams } from '../i18n/message.js'
import { seconds, t } from '../i18n/translate.js'
import type { Diagnosis, DiagnosisLine } from './diagnosis.js'
import { CAUSE_PREFIX, EVIDENCE_PREFIX, STEP_PREFIX } from './render.js'

/**
 * The diagnosis codes, read from the English catalog (src/i18n/catalogs/en/diagnosis.ts): an
 * unknown code, or a message without the parameters its English text names, does not compile.
 * test/catalogs.test.ts checks the other way round: every code here is used in src/, has its
 * Japanese text with the same placeholders, and every cause is in the README's table.
 */
type Catalog = typeof catalog
export type Group = keyof Catalog

export type CauseCode = keyof Catalog['cause'] & string
export type EvidenceCode = keyof Catalog['evidence'] & string
export type StepCode = keyof Catalog['step'] & string
export type PartCode = keyof Catalog['part'] & string
export type HintCode = keyof Catalog['hint'] & string

export const CAUSE_CODES = Object.keys(catalog.cause) as CauseCode[]
export const EVIDENCE_CODES = Object.keys(catalog.evidence) as EvidenceCode[]
export const STEP_CODES = Object.keys(catalog.step) as StepCode[]
export const PART_CODES = Object.keys(catalog.part) as PartCode[]
export const HINT_CODES = Object.keys(catalog.hint) as HintCode[]

type Trim<S extends string> = S extends ` ${infer R}` ? Trim<R> : S extends `${infer R} ` ? Trim<R> : S
/** `{{ms, seconds}}` names `ms`. */
type Name<P extends string> = P extends `${infer N},${string}` ? Trim<N> : Trim<P>
/** The placeholder names of a catalog text (a union of texts gives the union of their names). */
export type Placeholders<S> = S extends `${string}{{${infer P}}}${infer Rest}` ? Name<P> | Placeholders<Rest> : never

/** The parameters a message of `G` with code `C` takes: exactly its placeholders. */
export type ParamsOf<G extends Group, C extends keyof Catalog[G]> = { [K in Placeholders<Catalog[G][C]>]: MessageParam }
/** Optional when the text has no placeholder. */
type Args<G extends Group, C extends keyof Catalog[G]> = [Placeholders<Catalog[G][C]>] extends [never] ? [params?: Record<string, never>] : [params: ParamsOf<G, C>]

/** A cause (or any message) kept as code and parameters: what a diagnosis is built from. */
export interface Cause {
  code: CauseCode
  params: MessageParams
}

export function cause<C extends CauseCode> (code: C, ...[params]: Args<'cause', C>): Cause {
  return { code, params: (params ?? {}) as MessageParams }
}

/** An evidence line: its code, parameters and English text. */
export function ev<C extends EvidenceCode> (code: C, ...[params]: Args<'evidence', C>): DiagnosisLine {
  const p = (params ?? {}) as MessageParams
  return { code, params: p, text: englishText(`${EVIDENCE_PREFIX}.${code}`, p) }
}

/** A next step: its code, parameters and English text. */
export function step<C extends StepCode> (code: C, ...[params]: Args<'step', C>): DiagnosisLine {
  const p = (params ?? {}) as MessageParams
  return { code, params: p, text: englishText(`${STEP_PREFIX}.${code}`, p) }
}

/** A part of a sentence, quoted by another message as a parameter (rendered in its language). */
export function part<C extends PartCode> (code: C, ...[params]: Args<'part', C>): Message {
  return { code: `part.${code}`, params: (params ?? {}) as MessageParams }
}

/** The proxy's own error answer's one-line hint, in English (it goes to the caller, GitLab). */
export function hint<C extends HintCode> (code: C, ...[params]: Args<'hint', C>): string {
  return englishText(`hint.${code}`, (params ?? {}) as MessageParams)
}

/** A diagnosis from a cause: codes and parameters, with the English text rendered from them. */
export function fromCause (c: Cause, lines: { evidence?: DiagnosisLine[], next_steps?: DiagnosisLine[] } = {}): Diagnosis {
  return {
    code: c.code,
    params: c.params,
    cause: englishText(`${CAUSE_PREFIX}.${c.code}`, c.params),
    evidence: lines.evidence ?? [],
    next_steps: lines.next_steps ?? []
  }
}

/** `diagnosis('model_not_found', { model }, { evidence: [...], next_steps: [...] })`. */
export function diagnosis<C extends CauseCode> (code: C, params: ParamsOf<'cause', C>, lines: { evidence?: DiagnosisLine[], next_steps?: DiagnosisLine[] } = {}): Diagnosis {
  return fromCause({ code, params: params as MessageParams }, lines)
}

type Piece = string | { name: string, format: string | undefined, raw: string }
const compiled = new Map<string, Piece[]>()

/** A catalog text cut into literal pieces and placeholders, once per key. */
function pieces (key: string): Piece[] | null {
  let out = compiled.get(key)
  if (out !== undefined) return out
  const dot = key.indexOf('.')
  const group = (catalog as unknown as Record<string, Record<string, unknown> | undefined>)[key.slice(0, dot)]
  const text = dot > 0 && group !== undefined && Object.hasOwn(group, key.slice(dot + 1)) ? group[key.slice(dot + 1)] : undefined
  if (typeof text !== 'string') return null
  out = []
  let at = 0
  for (const m of text.matchAll(/\{\{\s*([^,}\s]+)\s*(?:,\s*([^}\s]+)\s*)?\}\}/g)) {
    if (m.index > at) out.push(text.slice(at, m.index))
    out.push({ name: m[1]!, format: m[2], raw: m[0] })
    at = m.index + m[0].length
  }
  if (at < text.length) out.push(text.slice(at))
  compiled.set(key, out)
  return out
}

/**
 * The English text of a diagnosis message, as t('en', key, params) renders it (nested messages
 * four deep, the seconds formatter), without i18next: capture renders every line of every
 * failure, and this is about ten times faster. test/catalogs.test.ts holds the two equal.
 */
export function englishText (key: string, params: MessageParams, depth = 0): string {
  const list = pieces(key)
  if (list === null) return t('en', key, params)
  let out = ''
  for (const p of list) {
    if (typeof p === 'string') {
      out += p
      continue
    }
    const v = params[p.name]
    if (v === undefined) out += p.raw
    else if (typeof v === 'object') out += depth < 4 && v !== null && typeof v.code === 'string' ? englishText(v.code, v.params ?? {}, depth + 1) : ''
    else out += p.format === 'seconds' ? seconds(Number(v), 'en') : String(v)
  }
  return out
}

/**
 * The next steps that ask for the model hop to be seen (routed through the proxy, or looked at):
 * moot once the model call is linked to its gateway request.
 */
export const MODEL_HOP_STEPS: ReadonlySet<string> = new Set<StepCode>([
  'route_model_hop_for_answer',
  'route_model_hop',
  'route_model_hop_slow',
  'see_model_hop_trace',
  'look_at_model_hop'
])
