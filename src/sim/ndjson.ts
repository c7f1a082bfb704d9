/** Newline-delimited JSON, the AI gateway's /v2/chat/agent stream format. */

export function ndjsonLine (payload: unknown): string {
  return `${JSON.stringify(payload)}\n`
}

/** Parse an NDJSON body; blank lines are skipped, a malformed line throws. */
export function parseNdjson (text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown)
}
