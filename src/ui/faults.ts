/**
 * Fault injection as the view reads it (GET /api/faults). The rule's type is the server's own
 * (src/faults/rules.ts holds plain data, no Node): the API sends it as JSON unchanged.
 */
import { useEffect, useState } from 'preact/hooks'
import type { FaultAction, FaultRule } from '../faults/rules.js'
import { ApiError, getJson } from './api.js'
import { formatMs } from './format.js'
import { numberFormat, t } from './i18n.js'

export type { FaultAction, FaultRule }

export interface FaultList {
  rules: FaultRule[]
  presets: string[]
  error_bodies: string[]
}

export const FAULTS_PATH = '/api/faults'

/** The API's answer while fault injection is off in the configuration. */
export function isFaultsOff (err: unknown): boolean {
  return err instanceof ApiError && err.status === 409 && err.code === 'faults_disabled'
}

export type FaultsAvailability = 'unknown' | 'on' | 'off'

/**
 * Whether this proxy injects faults: the nav shows the page only then. Asked again after a
 * sign-in (`session`), since a 401 says nothing about it.
 */
export function useFaultsAvailability (session: number): FaultsAvailability {
  const [state, setState] = useState<FaultsAvailability>('unknown')
  useEffect(() => {
    const ac = new AbortController()
    getJson<FaultList>(FAULTS_PATH, {}, ac.signal).then(
      () => setState('on'),
      (err: unknown) => { if (!ac.signal.aborted) setState(isFaultsOff(err) ? 'off' : 'unknown') }
    )
    return () => ac.abort()
  }, [session])
  return state
}

/** What a rule does, in a sentence of the reader's language. */
export function describeAction (action: FaultAction): string {
  if ('respond' in action) return t('faults.action.respond', { status: action.respond.status })
  if ('delay_ms' in action) return t('faults.action.delay_ms', { duration: formatMs(action.delay_ms) })
  if ('timeout' in action) return t('faults.action.timeout')
  if ('refuse' in action) return t('faults.action.refuse')
  if ('first_chunk_delay_ms' in action) return t('faults.action.first_chunk_delay_ms', { duration: formatMs(action.first_chunk_delay_ms) })
  if ('stall_after_bytes' in action) return t('faults.action.stall_after_bytes', { bytes: numberFormat(action.stall_after_bytes) })
  if ('reset' in action) return t(action.reset === 'before_headers' ? 'faults.action.reset_before_headers' : 'faults.action.reset_after_headers')
  if ('truncate_after_chunks' in action) return t('faults.action.truncate_after_chunks', { count: action.truncate_after_chunks })
  if ('bandwidth_bps' in action) return t('faults.action.bandwidth_bps', { bps: numberFormat(action.bandwidth_bps) })
  // A newer server's action this view does not know yet.
  return t('faults.action.other')
}

/** A preset's symptom, or '' for a preset the catalogs do not describe (a newer server's). */
export function presetText (name: string): string {
  const key = `faults.presets.${name}`
  const text = t(key)
  return text === key ? '' : text
}
