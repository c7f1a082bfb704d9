import { FilterParamError } from '../store/filter-params.js'
import { QueryError } from '../store/query-language.js'
import type { Lang } from './message.js'
import { t } from './translate.js'

/**
 * A query error in `lang`, from its codes (the query catalog): the reason, the column, the hint.
 * In English it is the error's own `message`, word for word.
 */
export function queryErrorText (err: QueryError, lang: Lang): string {
  const reason = t(lang, `query:reason.${err.reason.code}`, err.reason.params)
  if (err.hint === null) return t(lang, 'query:at', { reason, column: err.column })
  return t(lang, 'query:atHint', { reason, column: err.column, hint: t(lang, `query:hint.${err.hint.code}`, err.hint.params) })
}

/**
 * A bad filter parameter in `lang`, the parameter named as the reader knows it: `--since` on
 * the command line, `querystring/since` (the default, as the API names it) in an API answer.
 */
export function filterParamErrorText (err: FilterParamError, lang: Lang, name = `querystring/${err.param}`): string {
  return t(lang, 'query:param', { param: name, reason: t(lang, `query:paramReason.${err.reason}`) })
}

/** An error's message for a reader of `lang`: query and filter errors said in it, any other as it is. */
export function errorMessageIn (err: unknown, lang: Lang): string {
  if (err instanceof QueryError) return queryErrorText(err, lang)
  if (err instanceof FilterParamError) return filterParamErrorText(err, lang)
  return (err as Error).message
}
