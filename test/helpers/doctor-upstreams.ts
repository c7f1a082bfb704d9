/**
 * For the doctor's admin API and page: a model server that holds `GET /health` until the test
 * releases it (so a test can read what streamed before the run could end), and reading an
 * NDJSON answer line by line as it arrives.
 */
import { sendJson, startSimServer, type SimServer } from '../../src/sim/sim-server.js'

export interface GatedModelServer extends SimServer {
  /** Resolves once a `GET /health` is being held. */
  healthAsked: Promise<void>
  /** Lets the held (and any later) `GET /health` answer 200. */
  release (): void
}

/** vLLM's surface as the doctor uses it: /health (held until released) and /v1/models. */
export async function startGatedModelServer (models: string[]): Promise<GatedModelServer> {
  let release = (): void => undefined
  const gate = new Promise<void>((resolve) => { release = resolve })
  let asked = (): void => undefined
  const healthAsked = new Promise<void>((resolve) => { asked = resolve })
  const sim = await startSimServer(async ({ res, pathname }) => {
    if (pathname === '/health') {
      asked()
      await gate
      res.writeHead(200, { 'content-length': '0' }).end()
      return
    }
    if (pathname === '/v1/models') return sendJson(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model' })) })
    sendJson(res, 404, { detail: 'Not Found' })
  })
  return { ...sim, healthAsked, release }
}

/** The lines of an NDJSON body, parsed, each as soon as it is complete. */
export async function * ndjsonLines (body: AsyncIterable<Buffer | string>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })
    let end: number
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end)
      buffer = buffer.slice(end + 1)
      if (line.trim() !== '') yield JSON.parse(line) as Record<string, unknown>
    }
  }
  if (buffer.trim() !== '') yield JSON.parse(buffer) as Record<string, unknown>
}
