/**
 * query catalog (en): what is wrong with a query (src/store/query-language.ts, QueryError) or a
 * filter parameter (src/store/filter-params.ts, FilterParamError). The errors keep a code and
 * parameters; their English `message` is rendered from this catalog by the store itself (a plain
 * object, no i18next: the query language bundles into a browser page as it is), and the CLI and
 * the admin API render them again in the reader's language (src/i18n/query-errors.ts).
 *
 * Pure data, no imports. ja (../ja/query.ts) has the same keys and placeholders.
 */
export const query = {
  /** A QueryError's whole message: the reason, the column (1-based, in characters), the hint. */
  at: '{{reason}} at column {{column}}',
  atHint: '{{reason}} at column {{column}} ({{hint}})',
  reason: {
    tooLong: 'the query is longer than {{max}} characters',
    control: 'control character {{char}}',
    loneSurrogate: 'invalid character (a lone UTF-16 surrogate)',
    unmatchedClose: "unexpected ')' (no '(' to close)",
    unexpectedText: 'unexpected text',
    negationSpace: "'-' must be written right before the term it negates",
    spaceAfterQuote: 'expected a space after the closing quote',
    ambiguous: "'{{word}}' is ambiguous",
    unterminatedQuote: 'unterminated quote',
    termAfter: '{{operator}} needs a term after it',
    termBefore: '{{operator}} needs a term before it',
    unexpectedClose: "unexpected ')'",
    expectedTerm: 'expected a term',
    tooDeep: 'parentheses nested more than {{max}} deep',
    emptyParentheses: 'empty parentheses',
    missingClose: "missing ')' for this '('",
    tooManyTerms: 'more than {{max}} terms',
    unknownField: "unknown field '{{field}}'",
    missingValue: "missing value after '{{after}}'",
    emptyListValue: "empty value in the list after '{{field}}:'",
    /** `what`: the field, method, status, duration or ttfb. */
    invalid: "invalid {{what}} '{{value}}'",
    invalidTime: "invalid time '{{value}}'",
    invalidDate: "invalid date '{{value}}'",
    /** `what`: hop, feature or flag. */
    unknownValue: "unknown {{what}} '{{value}}'",
    needsRange: '{{field}} needs a comparison or a range',
    rangeNoStart: 'the range has no start',
    rangeNoEnd: 'the range has no end',
    rangeEmpty: 'the range is empty (its start is after its end)',
    unreadable: 'cannot read the query ({{error}})'
  },
  hint: {
    noSpace: 'no space after it',
    operator: 'write {{operator}} for the operator, or "{{word}}" to search for the word',
    closeQuote: 'close it with "',
    didYouMean: 'did you mean {{name}}?',
    fields: "fields: {{fields}}; quote text that contains ':'",
    method: 'an HTTP method: GET, POST, ...',
    oneOf: 'one of {{values}}',
    flagTable: "see the README's flag table",
    status: 'use 404, 5xx, 400..499, >=500, <400 or none',
    durationRange: 'duration:>5s, duration:<=100ms or duration:100ms..2s',
    ttfbRange: 'ttfb:>5s, ttfb:<=100ms or ttfb:100ms..2s, or ttfb:none',
    durationValue: 'a number with ms, s or m: 250ms, 1.5s, 2m (ms when bare)',
    timeRange: 'time:>2h, time:<=2026-12-07T10:00Z or time:2026-12-07..2026-12-08',
    timeValue: 'a relative time (15m, 2h, 7d) or ISO 8601 (2026-12-07, 2026-12-07T10:00Z)'
  },
  /** A FilterParamError: `querystring/<param> <reason>` (the API's wording for a bad parameter). */
  param: '{{param}} {{reason}}',
  paramReason: {
    hop: 'must be gateway or model',
    method: 'must be an HTTP method',
    status: 'must be a status (404) or a class (4xx)',
    cause: 'must be a diagnosis code such as model_endpoint_missing_v1',
    time: 'must be an ISO 8601 time or a relative duration like 15m, 2h, 7d',
    minDuration: 'must be a number >= 0'
  }
}
