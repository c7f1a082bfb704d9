/**
 * Real captures to seed a large store from (issue 18): the demo's stack (simulated gateway and
 * model server behind the proxy, src/demo/stack.ts) is sent the demo's scripted traffic — healthy
 * and broken, on both hops — plus a few other features, and every Observation the routes hand to
 * capture is kept, as the data plane hands it over. Grouped by request: a gateway request with the
 * model calls that fall inside its span (the proxy links them by that span).
 */
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { type ObservationRecord, toRecord } from '../src/capture/record.js'
import type { RouteSettings } from '../src/capture/build.js'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/types.js'
import { GATEWAY_ROUTE, MODEL_ROUTE, settle, startDemoStack, type DemoStack } from '../src/demo/stack.js'
import { runTraffic } from '../src/demo/traffic.js'
import { gatewayClaims, gitlabHeaders, signJwt } from '../src/sim/jwt.js'
import { DEFAULT_MODEL } from '../src/sim/model-completions.js'

/** One request as captured: the gateway exchange first, then the model calls it made. */
export interface Template {
  name: string
  records: ObservationRecord[]
}

export interface Captured {
  stack: DemoStack
  config: Config
  templates: Template[]
}

/** Route settings as the capture worker gets them (src/app.ts). */
export function routeSettings (config: Config): Map<string, RouteSettings> {
  return new Map(config.routes.map((r) => [r.name, { hop: r.hop, timeouts: r.timeouts, slow: r.slow, insecureTls: r.tls.insecureSkipVerify }]))
}

const CODE_ABOVE = 'def add(a, b):\n    """Return the sum of a and b."""\n'

/**
 * Features the demo's script does not send: code generation (v2), suggestions (v4, as GitLab 17.x
 * sends prompt_components), and the gateway's health check. Bodies in GitLab's shapes.
 */
async function moreFeatures (stack: DemoStack): Promise<void> {
  const dispatcher = new Agent({ connect: { timeout: 5_000 } })
  const token = signJwt(gatewayClaims(), stack.keys.privateKey)
  const endpoint = stack.routeUrl(MODEL_ROUTE) + '/v1'
  const modelFields = { model_provider: 'litellm', model_endpoint: endpoint, model_name: 'mistral', model_api_key: 'sk-demo0123456789abcdefghijklmnop', model_identifier: `custom_openai/${DEFAULT_MODEL}` }
  const file = { file_name: 'app/calc.py', content_above_cursor: CODE_ABOVE, content_below_cursor: '' }
  const posts: Array<[string, unknown]> = [
    ['/v2/code/generations', { current_file: file, telemetry: [], stream: false, prompt_version: 2, prompt: null, ...modelFields }],
    ['/v4/code/suggestions', {
      prompt_components: [{ type: 'code_editor_completion', payload: { ...file, language_identifier: 'python', stream: true } }],
      model_metadata: { provider: 'openai', name: 'mistral', endpoint, api_key: modelFields.model_api_key, identifier: modelFields.model_identifier }
    }]
  ]
  try {
    for (const [path, body] of posts) {
      const res = await request(stack.routeUrl(GATEWAY_ROUTE) + path, { method: 'POST', headers: gitlabHeaders(token), body: JSON.stringify(body), dispatcher })
      await res.body.text()
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const res = await request(stack.routeUrl(GATEWAY_ROUTE) + '/monitoring/healthz', { dispatcher })
    await res.body.text()
  } finally {
    await dispatcher.destroy()
  }
}

/** Model calls inside a gateway request's span belong to it (sequential traffic: no overlap). */
function group (records: ObservationRecord[]): Template[] {
  const gateways = records.filter((r) => r.route !== MODEL_ROUTE).sort((a, b) => a.startedAt - b.startedAt)
  const models = records.filter((r) => r.route === MODEL_ROUTE)
  const templates: Template[] = gateways.map((g) => ({ name: `${g.route} ${g.method} ${g.url.split('?')[0]} ${g.status ?? g.failure?.code ?? 'none'}`, records: [g] }))
  for (const m of models) {
    const i = gateways.findIndex((g) => m.startedAt >= g.startedAt && m.startedAt <= g.startedAt + g.durationMs)
    if (i >= 0) templates[i]!.records.push(m)
    else templates.push({ name: `model ${m.url}`, records: [m] })
  }
  return templates
}

/** Starts the demo's stack, records its traffic, and leaves it running (its TLS upstream is probed while seeding). */
export async function captureTemplates (): Promise<Captured> {
  const stack = await startDemoStack({ admin: '127.0.0.1:0', listen: '127.0.0.1:0', modelListen: '127.0.0.1:0', db: null })
  try {
    const config = loadConfig({ file: join(stack.dir, 'config.yaml'), env: {} })
    const records: ObservationRecord[] = []
    for (const route of stack.proxy.routes) {
      const sink = route.runtime.sink
      // A deep copy: the body samples are the socket's buffers.
      route.runtime.sink = { record: (o) => { records.push(structuredClone(toRecord(o))); sink.record(o) } }
    }
    await runTraffic(stack, () => undefined)
    await moreFeatures(stack)
    await settle(stack)
    return { stack, config, templates: group(records) }
  } catch (err) {
    await stack.close()
    throw err
  }
}
