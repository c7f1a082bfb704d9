/**
 * What the container runtime adds around a log line, removed before any parser sees it:
 * ANSI colours (structlog's ConsoleRenderer, litellm's own handler), the RFC 3339 timestamp
 * `docker logs -t` and `kubectl logs --timestamps` put first, and `kubectl logs --prefix`'s
 * `[pod/NAME/CONTAINER]`. The timestamp is kept: it dates lines that carry no time of their own.
 */

export interface CleanLine {
  text: string
  /** The runtime's timestamp, as written, when the line had one. */
  prefixTime: string | null
}

// CSI sequences (ESC [ params intermediates final): disjoint classes, linear time.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g
const KUBECTL_PREFIX = /^\[pod\/[^\]\s]{1,300}\] /
// docker: 2025-11-18T09:15:04.654912345Z; kubectl may write an offset instead of Z.
const RUNTIME_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d))(?: |$)/

export function cleanLine (raw: string): CleanLine {
  let text = raw.includes('\x1b') ? raw.replace(ANSI, '') : raw
  const pod = KUBECTL_PREFIX.exec(text)
  if (pod !== null) text = text.slice(pod[0].length)
  const m = RUNTIME_TIME.exec(text)
  // A ConsoleRenderer line starts with its own timestamp and " [level": that one is the record's.
  if (m === null || text.charCodeAt(m[0].length) === 0x5b /* [ */) return { text, prefixTime: null }
  return { text: text.slice(m[0].length), prefixTime: m[1]! }
}
