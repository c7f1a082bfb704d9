import type { Exchange } from '../capture/exchange.js'
import { readStoredDiagnosis, renderDiagnosis } from '../diagnosis/render.js'
import type { Lang } from '../i18n/message.js'
import { hasKey, t } from '../i18n/translate.js'
import type { Summary } from '../store/summary.js'
import type { Page } from '../store/types.js'
import { type Trace, type TraceNode, traceRootCause } from '../store/trace.js'

/**
 * Records keep codes and parameters (and English text); every answer renders them in the
 * reader's language, and says which (`diagnosis.lang`). Older records are read into today's
 * shape first, so the API's promise holds for any store.
 */
export function localizeExchange (ex: Exchange, lang: Lang): Exchange {
  if (ex.diagnosis === null || ex.diagnosis === undefined) return ex
  const stored = readStoredDiagnosis(ex.diagnosis)
  return { ...ex, diagnosis: stored === null ? null : { ...renderDiagnosis(stored, lang), lang } }
}

export function localizePage (page: Page, lang: Lang): Page {
  return { ...page, items: page.items.map((ex) => localizeExchange(ex, lang)) }
}

export function localizeTrace (trace: Trace, lang: Lang): Trace {
  const node = (n: TraceNode): TraceNode => ({ ...n, exchange: localizeExchange(n.exchange, lang), children: n.children.map(node) })
  const roots = trace.roots.map(node)
  return { ...trace, roots, root_cause: traceRootCause(roots) }
}

/** The summary, with a short title for each cause code it counts (`title.<code>`), in `lang`. */
export function localizeSummary (summary: Summary, lang: Lang): Summary & { cause_titles: Record<string, string> } {
  const titles: Record<string, string> = {}
  for (const code of Object.keys(summary.by_cause)) {
    const key = `title.${code}`
    // Records from before codes are counted by their text, which is its own title.
    titles[code] = hasKey(key) ? t(lang, key) : code
  }
  return { ...summary, cause_titles: titles }
}
