import type { Message } from '../i18n/message.js'
import type { LogEventsWritten } from './log-events.js'
import { BUNDLE_LOG_EVENTS_MAX } from './log-events.js'
import { render, t } from '../i18n/translate.js'
import type { FilterParams } from '../store/filter-params.js'
import { VERSION } from '../version.js'

const DESCRIPTIONS: Record<string, string> = {
  'exchanges.har': 'the exchanges as HAR 1.2, redacted like the store (opens in browser dev tools; the proxy record of each entry is under _duo_diag; duo-diag-proxy replay --har replays it)',
  'exchanges.ndjson': 'the same exchanges, one JSON record per line, as the admin API serves them',
  'log-events.ndjson': "log lines imported for this window (duo-diag-proxy logs import: GitLab's llm.log, the AI gateway's logs), redacted when imported, one per line, oldest first",
  'summary.json': 'totals, error rate, counts by route/feature/status/flag/cause, latency percentiles',
  'summary.txt': 'the same summary as duo-diag-proxy summary prints it',
  'metrics.txt': "a snapshot of the proxy's Prometheus metrics (GET /metrics)",
  'config.json': 'the effective configuration (defaults < file < DUO_DIAG_* environment), secrets masked as [FILTERED]',
  'doctor.json': "the playbook's quick checks (duo-diag-proxy doctor) against the gateway and model URLs given",
  'version.json': 'duo-diag-proxy and Node.js versions, platform, the filters used and where the store was read'
}

/**
 * README.txt: what each file is, what was left out, and how it was made safe to share. In English
 * whatever the command's language, like every file of the bundle: it is handed to GitLab support,
 * who read English, and one bundle reads the same whoever made it. (The terminal lines `bundle`
 * prints follow the command's language.)
 */
export function readme (o: { files: string[], omitted: Record<string, Message>, exchanges: number, logEvents?: LogEventsWritten | null, params: FilterParams, doctorRun: boolean }): string {
  const filters = Object.entries(o.params).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ')
  let s = `duo-diag-proxy ${VERSION} support bundle\n\n`
  s += `${o.exchanges} exchange(s) matching: ${filters || 'everything'}\n`
  // Log lines have no route: the window alone chooses them.
  if (o.logEvents === null) s += 'No imported log lines: the proxy\'s admin API is from before log import.\n'
  else if (o.logEvents !== undefined && o.logEvents.count === 0) s += 'No imported log line in the same time window (duo-diag-proxy logs import adds them).\n'
  else if (o.logEvents !== undefined) {
    s += `${o.logEvents.count} imported log line(s) in the same time window${o.logEvents.truncated ? ` (the oldest ${BUNDLE_LOG_EVENTS_MAX}; more were stored)` : ''}\n`
  }
  s += '\n'
  s += 'Files:\n'
  for (const f of o.files) {
    const note = f === 'doctor.json' && !o.doctorRun ? ' (not run this time: the file says how)' : ''
    s += `  ${f.padEnd(18)} ${DESCRIPTIONS[f] ?? ''}${note}\n`
  }
  for (const [f, why] of Object.entries(o.omitted)) s += `  ${f.padEnd(18)} ${t('en', 'cli:bundle.omitted', { why: render('en', why, 'cli:bundle.omit') })}\n`
  s += '\nRedaction: records are redacted when captured, the way GitLab filters its own logs (prompt and\n'
  s += 'code text, credentials and secret-named values become [FILTERED]; authorization headers keep\n'
  s += 'only a fingerprint). Before this archive was written, every file in it was scanned for\n'
  s += 'token-shaped strings (duo-diag-proxy audit) and none was found.\n'
  return s
}
