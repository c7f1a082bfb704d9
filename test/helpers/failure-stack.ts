/**
 * A proxy with captured traffic of three outcomes on the model hop: `good-1` answered, `nov1-1`
 * a model endpoint without /v1 (404), `down-1` nothing listening (connection refused). What the
 * CLI tests query, in either language.
 */
import type { Test } from 'tap'
import { request } from 'undici'
import { DEFAULT_MODEL, startModelServer } from '../fixtures/model-server.js'
import { refusedPort } from './fault-servers.js'
import { type Harness, startHarness } from './proxy-harness.js'

export const CHAT = JSON.stringify({ model: DEFAULT_MODEL, messages: [{ role: 'user', content: 'hi' }] })

/** Starts it, sends the three requests, waits until they are written; closed at teardown. */
export async function startFailureStack (t: Test, opts: { db?: string } = {}): Promise<Harness> {
  const model = await startModelServer()
  const port = await refusedPort()
  const h = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model' }, { name: 'down', upstream: `http://127.0.0.1:${port}`, hop: 'model' }], ...opts })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  await sendChat(h, 'model', '/v1/chat/completions', 'good-1')
  await sendChat(h, 'model', '/chat/completions', 'nov1-1')
  await sendChat(h, 'down', '/v1/chat/completions', 'down-1')
  await h.exchanges()
  return h
}

/** One chat completion through a route, with its X-Request-ID; the answer read to the end. */
export async function sendChat (h: Harness, route: string, path: string, id: string): Promise<void> {
  const res = await request(`${h.url(route)}${path}`, { method: 'POST', body: CHAT, headers: { 'content-type': 'application/json', 'x-request-id': id } })
  await res.body.text()
}
