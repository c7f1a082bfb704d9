/**
 * Replay from the admin API (issue 18, the trace page's Replay button): the real proxy in front
 * of a simulated production AI gateway, with staging targets configured — a simulated staging
 * gateway (JWT auth on, its own model server), a server that echoes what it received, and one
 * that never answers. What each staging server received is checked, the replay's record, the
 * refusals by their stable codes, and that the configured header values are nowhere: not in an
 * answer, the store or the log.
 */
import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'
import { ConfigError } from '../src/config/errors.js'
import { loadConfig } from '../src/config/load.js'
import type { Exchange } from '../src/capture/exchange.js'
import { sendJson, startSimServer } from '../src/sim/sim-server.js'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { call, type Reply } from './helpers/call.js'
import { startHangingServer } from './helpers/fault-servers.js'
import { gatewayClaims, gitlabHeaders, makeJwtKeys, signJwt } from './helpers/jwt.js'
import { type Harness, startHarness } from './helpers/proxy-harness.js'

const AUTH_VARIABLE = 'DDP_TEST_STAGING_AUTHORIZATION'
const TENANT_VARIABLE = 'DDP_TEST_STAGING_TENANT'
/** A header capture has no rule for: only the replay's own fingerprinting keeps it out of the store. */
const TENANT_VALUE = 'tenant-staging-7f3a9c2e51d4'

const HOUR_S = 3600

function codeBody (modelEndpoint: string): Record<string, unknown> {
  return {
    current_file: { file_name: 'calc.py', language_identifier: 'python', content_above_cursor: 'def add(a, b):\n    return ', content_below_cursor: '\n' },
    model_provider: 'litellm',
    model_name: 'mistral',
    model_identifier: `custom_openai/${DEFAULT_MODEL}`,
    model_endpoint: modelEndpoint,
    stream: false,
    prompt_version: 1
  }
}

interface ReplayRun {
  replay: string
  original: string
  target: string
  outcome: { status: number | null, flags: string[], cause: string | null, cause_code: string | null, ttfb_ms: number | null, duration_ms: number, error: unknown }
  sent: { request_id: string, body: string, dropped_headers: string[] }
}

t.test('replay to configured staging targets through the admin API', async (t) => {
  const keys = makeJwtKeys()
  const productionModel = await startModelServer()
  const stagingModel = await startModelServer()
  const production = await startAiGateway({ jwtPublicKey: keys.publicKey, modelEndpoint: `${productionModel.url}/v1` })
  const staging = await startAiGateway({ jwtPublicKey: keys.publicKey, modelEndpoint: `${stagingModel.url}/v1` })
  // A staging server with a debugging habit: its error answers quote the request headers.
  const echo = await startSimServer(({ req, res }) => sendJson(res, 400, { detail: 'bad request', headers: req.headers }))
  const hanging = await startHangingServer()
  // Where a caller would like the proxy to send: it must never receive anything.
  const trap = await startSimServer(({ res }) => sendJson(res, 200, {}))
  const stagingAuth = `Bearer ${signJwt(gatewayClaims(), keys.privateKey)}`
  const headersFromEnv = { authorization: AUTH_VARIABLE, 'x-staging-tenant': TENANT_VARIABLE }
  const h = await startHarness({
    routes: [{ name: 'gitlab-aigw', upstream: production.url, hop: 'gateway' }],
    env: { [AUTH_VARIABLE]: stagingAuth, [TENANT_VARIABLE]: TENANT_VALUE },
    extra: {
      replay: {
        targets: [
          { name: 'staging-aigw', url: staging.url, headers_from_env: headersFromEnv, model_endpoint: `${stagingModel.url}/v1` },
          { name: 'echo', url: echo.url, headers_from_env: headersFromEnv },
          { name: 'stuck', url: hanging.url, headers_from_env: headersFromEnv }
        ]
      }
    }
  })
  const closed = { proxy: false }
  t.teardown(async () => {
    if (!closed.proxy) await h.close()
    for (const s of [production, staging, echo, hanging, trap, productionModel, stagingModel]) await s.close()
  })
  /** Every answer the admin API gave, to look for the values in at the end. */
  const answers: string[] = []
  const api = async (path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply> => {
    const r = await call(`${h.adminUrl}${path}`, { body, headers })
    answers.push(r.text)
    return r
  }
  const replay = (id: string, body: unknown, headers?: Record<string, string>): Promise<Reply> => api(`/api/exchanges/${id}/replay`, body, headers)

  // The customer's failure: GitLab sent an expired token, the production gateway refused it.
  const hourAgo = Math.floor(Date.now() / 1000) - HOUR_S
  const expired = signJwt(gatewayClaims({ iat: hourAgo - HOUR_S, nbf: hourAgo - HOUR_S, exp: hourAgo }), keys.privateKey)
  const sent = await call(`${h.url()}/v2/code/completions`, { body: codeBody(`${productionModel.url}/v1`), headers: gitlabHeaders(expired, undefined, { 'x-request-id': 'expired-1' }) })
  t.equal(sent.status, 401, 'the production gateway refused the expired token')
  const [original] = await h.exchanges('correlation_id=expired-1') as [Exchange]
  t.ok(original, 'the failure was recorded')

  t.test('GET /api/replay/targets: names and URLs, no header values', async (t) => {
    const r = await api('/api/replay/targets')
    t.equal(r.status, 200)
    t.same(r.json(), { targets: [{ name: 'staging-aigw', url: `${staging.url}/` }, { name: 'echo', url: `${echo.url}/` }, { name: 'stuck', url: `${hanging.url}/` }] })
    t.notMatch(r.text, /DDP_TEST_STAGING/, 'not even the variables\' names')
  })

  t.test('a replay reaches staging with the configured headers and is recorded beside its original', async (t) => {
    const r = await replay(original.id, { target: 'staging-aigw' })
    t.equal(r.status, 201, r.text)
    const run = r.json() as ReplayRun
    t.equal(staging.requests.length, 1, 'staging received one request')
    const got = staging.requests[0]!
    t.equal(got.path, '/v2/code/completions')
    t.equal(got.headers.authorization, stagingAuth, 'with the staging credential from the environment, not the captured one')
    t.equal(got.headers['x-staging-tenant'], TENANT_VALUE)
    t.equal(got.headers['x-request-id'], 'replay-expired-1-1')
    t.equal(got.headers['x-duo-diag-replay-of'], original.id)
    t.equal(got.headers['x-gitlab-instance-id'], original.request.headers['x-gitlab-instance-id'], 'the other captured headers go as they came')
    const body = JSON.parse(got.body.toString()) as { model_endpoint: string }
    t.equal(body.model_endpoint, `${stagingModel.url}/v1`, 'the body points the staging gateway at the staging model')
    t.equal(got.body.byteLength, original.request.bytes, 'synthesized to the original\'s size (bodies were not captured)')
    t.equal(stagingModel.requests.length, 1, 'the staging gateway called the staging model')
    t.equal(productionModel.requests.length, 0, 'and production\'s model never')

    t.match(run, { original: original.id, target: 'staging-aigw', outcome: { status: 200, flags: [], cause: null, cause_code: null, error: null } })
    t.same(run.sent, { request_id: 'replay-expired-1-1', body: 'synthesized', dropped_headers: [] }, 'the captured credential was replaced, not dropped')
    t.ok(run.outcome.duration_ms >= 0 && run.outcome.ttfb_ms !== null)

    const record = (await api(`/api/exchanges/${run.replay}`)).json() as Exchange
    t.equal(record.meta.replay_of, original.id)
    t.equal(record.meta.reported_by, 'replay')
    t.equal(record.route, original.route, 'on the original\'s route')
    t.equal(record.status, 200)
    t.equal(record.correlation_id, 'replay-expired-1-1')
    t.match(record.request.headers.authorization, /^Bearer \[FILTERED sha256:[0-9a-f]{8}\]$/, 'the credential as a fingerprint')
    t.match(record.request.headers['x-staging-tenant'], /^\[FILTERED sha256:[0-9a-f]{8}\]$/, 'so is the header no capture rule names')
    t.ok((await h.exchanges()).some((e) => e.id === run.replay), 'listed like any exchange')
  })

  t.test('a target that echoes what it received: the values are filtered out of the recorded answer', async (t) => {
    const r = await replay(original.id, { target: 'echo' })
    t.equal(r.status, 201, r.text)
    t.equal(echo.requests[0]?.headers['x-staging-tenant'], TENANT_VALUE, 'it got the value')
    const run = r.json() as ReplayRun
    t.equal(run.outcome.status, 400)
    const record = (await api(`/api/exchanges/${run.replay}`)).json() as Exchange
    const kept = JSON.stringify(record.response?.body)
    t.match(kept, /bad request/, 'the answer is kept')
    t.notOk(kept.includes(TENANT_VALUE), 'without the tenant value')
    t.notOk(kept.includes(stagingAuth.slice('Bearer '.length)), 'without the token')
  })

  t.test('refusals, each with its stable code; a caller never names a URL', async (t) => {
    const code = (r: Reply): string => (r.json() as { error: string }).error
    const unknownTarget = await replay(original.id, { target: 'production' })
    t.equal(unknownTarget.status, 400)
    t.equal(code(unknownTarget), 'unknown_target')
    t.match(unknownTarget.text, /staging-aigw, echo, stuck/, 'the message names the configured targets')
    const unknownExchange = await replay('0123456789abcdef01234567', { target: 'staging-aigw' })
    t.equal(unknownExchange.status, 404)
    t.equal(code(unknownExchange), 'not_found')
    t.equal((await replay('not-an-id', { target: 'staging-aigw' })).status, 400, 'a malformed id')
    const bad: Array<[unknown, string]> = [
      [{ target: trap.url }, 'FST_ERR_VALIDATION'],
      [{ target: `${trap.url}/v2/code/completions` }, 'FST_ERR_VALIDATION'],
      [{ target: 'staging-aigw', url: trap.url }, 'FST_ERR_VALIDATION'],
      [{ url: trap.url }, 'FST_ERR_VALIDATION'],
      [{}, 'FST_ERR_VALIDATION'],
      // The API coerces parameters ("7"): a name, and none configured.
      [{ target: 7 }, 'unknown_target'],
      ['{"target":', 'FST_ERR_CTP_INVALID_JSON_BODY']
    ]
    for (const [body, expected] of bad) {
      const r = await replay(original.id, body)
      t.equal(r.status, 400, `${JSON.stringify(body)}: 400`)
      t.equal(code(r), expected, `${JSON.stringify(body)}: ${expected}`)
    }
    t.equal(trap.requests.length, 0, 'nothing was ever sent to a URL a caller gave')
    const plain = await replay(original.id, JSON.stringify({ target: 'staging-aigw' }), { 'content-type': 'text/plain' })
    t.equal(plain.status, 415, 'a body a page could send without a preflight')
    t.equal(code(plain), 'unsupported_media_type')
    t.equal(staging.requests.length, 1, 'no refused request reached staging')
  })

  t.test('one replay at a time: the next is refused while one runs, and runs once it ended', async (t) => {
    const first = replay(original.id, { target: 'stuck' })
    for (let i = 0; i < 400 && hanging.requests.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    t.equal(hanging.requests.length, 1, 'the first replay is waiting on the stuck target')
    const second = await replay(original.id, { target: 'staging-aigw' })
    t.equal(second.status, 429)
    t.equal((second.json() as { error: string }).error, 'replay_busy')
    t.equal(staging.requests.length, 1, 'the refused replay was not sent')
    await hanging.close()
    const ended = await first
    t.equal(ended.status, 201, 'the stuck replay ends when its target goes away, and is recorded')
    const run = ended.json() as ReplayRun
    t.equal(run.outcome.status, null, 'no answer')
    t.ok(run.outcome.flags.length > 0, `flagged: ${run.outcome.flags.join(', ')}`)
    const third = await replay(original.id, { target: 'staging-aigw' })
    t.equal(third.status, 201, 'the next replay runs')
    t.equal(staging.requests.length, 2)
  })

  t.test('the configured values are nowhere: answers, store, log', async (t) => {
    const everything = [
      (await api('/api/exchanges?limit=1000')).text,
      (await api('/api/export?format=ndjson')).text,
      (await api('/api/export?format=har')).text,
      (await api(`/api/traces/${original.correlation_id}`)).text
    ]
    await h.close()
    closed.proxy = true
    const token = stagingAuth.slice('Bearer '.length)
    const files = [h.dbPath, `${h.dbPath}-wal`, h.logFile].filter((f) => existsSync(f))
    t.ok(files.includes(h.dbPath) && files.includes(h.logFile), 'the store and the log were written')
    for (const [what, text] of [...answers.map((a, i) => [`answer ${i + 1}`, a]), ...everything.map((a, i) => [`read ${i + 1}`, a])] as Array<[string, string]>) {
      t.notOk(text.includes(token) || text.includes(TENANT_VALUE), `${what}: no configured value`)
    }
    for (const file of files) {
      const bytes = readFileSync(file)
      t.notOk(bytes.includes(token) || bytes.includes(TENANT_VALUE), `${file}: no configured value`)
    }
    t.ok(h.logs().some((l) => l.message === 'replay sent from the admin API' && l.target === 'staging-aigw'), 'each replay is logged, by target name')
  })
})

t.test('without targets, replay from the page is off', async (t) => {
  const model = await startModelServer()
  const h: Harness = await startHarness({ routes: [{ name: 'model', upstream: model.url, hop: 'model' }] })
  t.teardown(async () => {
    await h.close()
    await model.close()
  })
  await call(`${h.url()}/v1/models`)
  const [ex] = await h.exchanges() as [Exchange]
  const targets = await call(`${h.adminUrl}/api/replay/targets`)
  t.same(targets.json(), { targets: [] }, 'no targets: the page shows no Replay control')
  const r = await call(`${h.adminUrl}/api/exchanges/${ex.id}/replay`, { body: { target: 'staging' } })
  t.equal(r.status, 409)
  t.equal((r.json() as { error: string }).error, 'replay_disabled')
})

t.test('a bad target stops start-up: a missing variable is named, its value never shown; URLs, names, headers checked', async (t) => {
  const target = (variable: string): string[] => [`replay.targets[0]={name: s, url: "http://127.0.0.1:9", headers_from_env: {authorization: ${variable}}}`]
  const failure = (set: string[], env: NodeJS.ProcessEnv): string => {
    try {
      loadConfig({ flags: { set }, env })
    } catch (err) {
      return err instanceof ConfigError ? err.message : `not a ConfigError: ${String(err)}`
    }
    return 'no error'
  }
  t.equal(failure(target('STAGING_TOKEN'), {}), 'replay.targets[0].headers_from_env.authorization: the environment variable STAGING_TOKEN is not set')
  t.equal(failure(target('STAGING_TOKEN'), { STAGING_TOKEN: ' ' }), 'replay.targets[0].headers_from_env.authorization: the environment variable STAGING_TOKEN is empty')
  const broken = failure(target('STAGING_TOKEN'), { STAGING_TOKEN: 'Bearer secret-part-1\nsecret-part-2' })
  t.match(broken, /^replay\.targets\[0\]\.headers_from_env\.authorization: the environment variable STAGING_TOKEN holds characters/)
  t.notMatch(broken, /secret-part/, 'the value is not in the message')
  t.match(failure(target('DUO_DIAG_STAGING'), {}), /DUO_DIAG_STAGING would be read as configuration/)
  const twice = ['replay.targets[0]={name: s, url: "http://127.0.0.1:9"}', 'replay.targets[1]={name: s, url: "http://127.0.0.1:8"}']
  t.equal(failure(twice, {}), 'replay.targets: the name "s" is used twice')
  t.equal(failure(['replay.targets[0]={name: s, url: "http://user:pw@127.0.0.1:9"}'], {}), 'replay.targets[0].url: no credentials in the URL: give them as a header in headers_from_env')
  t.match(failure(['replay.targets[0]={name: s, url: "file:///etc/passwd"}'], {}), /^replay\.targets\[0\]\.url: "file:\/\/\/etc\/passwd" must use http or https/)
  t.match(failure(['replay.targets[0]={name: s, url: "http://127.0.0.1:9", headers_from_env: {host: H}}'], { H: 'x' }), /headers_from_env\.host: the replay sets this header itself/)
  const loaded = loadConfig({ flags: { set: target('STAGING_TOKEN') }, env: { STAGING_TOKEN: 'Bearer secret-value-123456' } })
  const shown = JSON.stringify(loaded)
  t.notMatch(shown, /secret-value/, 'the configuration serializes without the value')
  t.match(shown, /"headersFromEnv":\{"authorization":"STAGING_TOKEN"\}/, 'but names the variable')
  t.same(loaded.replay.targets[0]!.headers.entries(), [['authorization', 'Bearer secret-value-123456']], 'the sender gets it')
})
