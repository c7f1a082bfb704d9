import { lookup } from 'node:dns/promises'
import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { checkServerIdentity, connect as tlsConnect, rootCertificates, type PeerCertificate } from 'node:tls'
import { Agent, request } from 'undici'
import type { Lang } from '../i18n/message.js'
import { t } from '../i18n/translate.js'

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'

export interface CheckResult {
  /** Stable id, e.g. `gateway.healthz`. */
  check: string
  status: CheckStatus
  evidence: string
  next_step?: string
}

export interface DoctorOptions {
  /** AI gateway base URL, e.g. http://aigw:5052. */
  gateway: string | null
  /** Model endpoint as configured in GitLab, e.g. http://vllm:8000/v1. */
  model: string | null
  modelName: string | null
  /** Costs tokens: a one-token chat completion. */
  chat: boolean
  apiKey: string | null
  caFile: string | null
  timeoutMs: number
  /** Called with each result as its check completes (the CLI prints them as they come). */
  onResult?: (result: CheckResult) => void
  /** The language of evidence and next steps [en] (the check ids and statuses are stable codes). */
  lang?: Lang
}

/** A line of the `doctor` catalog (src/i18n/catalogs/<lang>/doctor.ts). */
type Say = (key: string, params?: Record<string, string | number>) => string

function sayer (lang: Lang): Say {
  return (key, params = {}) => t(lang, `doctor:${key}`, params)
}

const DAY_MS = 86_400_000
const EXPIRY_WARN_DAYS = 14

/** The playbook's quick checks, automated: network, TLS, health, and the model API. */
export async function runDoctor (opts: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  if (opts.onResult !== undefined) {
    const report = opts.onResult
    const push = results.push.bind(results)
    results.push = (...items: CheckResult[]): number => {
      for (const item of items) report(item)
      return push(...items)
    }
  }
  const ca = opts.caFile === null ? undefined : [...rootCertificates, readFileSync(opts.caFile, 'utf8')]
  const agent = new Agent({ connect: { timeout: opts.timeoutMs, ...(ca ? { ca } : {}) }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs })
  const say = sayer(opts.lang ?? 'en')
  try {
    if (opts.gateway !== null) {
      const url = new URL(opts.gateway)
      if (await network('gateway', url, opts, ca, results, say)) {
        await httpCheck(results, agent, 'gateway.healthz', new URL('/monitoring/healthz', url), say('step.gatewayHealthz'))
        await httpCheck(results, agent, 'gateway.ready', new URL('/monitoring/ready', url), say('step.gatewayReady'))
      }
    }
    if (opts.model !== null) {
      const url = new URL(opts.model)
      const endsV1 = /\/v1\/?$/.test(url.pathname)
      results.push(endsV1
        ? { check: 'model.url_v1', status: 'pass', evidence: say('evidence.endsV1', { url: opts.model }) }
        : { check: 'model.url_v1', status: 'fail', evidence: say('evidence.notEndsV1', { url: opts.model }), next_step: say('step.setV1', { url: `${opts.model.replace(/\/+$/, '')}/v1` }) })
      if (await network('model', url, opts, ca, results, say)) {
        const root = new URL(url.origin)
        const health = await httpCheck(results, agent, 'model.health', new URL('/health', root), say('step.modelHealth'), true)
        if (!health) await httpCheck(results, agent, 'model.health_liveliness', new URL('/health/liveliness', root), say('step.modelLiveliness'))
        const api = endsV1 ? url.href.replace(/\/+$/, '') : `${url.href.replace(/\/+$/, '')}/v1`
        await modelsCheck(results, agent, api, opts, say)
        if (opts.chat) await chatCheck(results, agent, api, opts, say)
        else results.push({ check: 'model.chat_completion', status: 'skip', evidence: say('evidence.chatSkipped') })
      }
    }
  } finally {
    await agent.close()
  }
  return results
}

/** DNS, TCP and (for https) TLS; false when the host cannot be reached at all. */
async function network (name: string, url: URL, opts: DoctorOptions, ca: string[] | undefined, results: CheckResult[], say: Say): Promise<boolean> {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  try {
    const addresses = await lookup(host, { all: true })
    results.push({ check: `${name}.dns`, status: 'pass', evidence: say('evidence.resolves', { host, addresses: addresses.map((a) => a.address).join(', ') }) })
  } catch (err) {
    results.push({ check: `${name}.dns`, status: 'fail', evidence: say('evidence.notResolves', { host, code: String((err as NodeJS.ErrnoException).code) }), next_step: say('step.dns') })
    return false
  }
  const tcp = await new Promise<string | null>((resolve) => {
    const socket = netConnect({ host, port })
    const timer = setTimeout(() => { socket.destroy(); resolve('ETIMEDOUT') }, opts.timeoutMs)
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve(null) })
    socket.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(err.code ?? err.message) })
  })
  if (tcp !== null) {
    results.push({
      check: `${name}.tcp`,
      status: 'fail',
      evidence: say('evidence.connectFailed', { host, port, code: tcp }),
      next_step: tcp === 'ECONNREFUSED' ? say('step.refused', { host, port }) : say('step.routing')
    })
    return false
  }
  results.push({ check: `${name}.tcp`, status: 'pass', evidence: say('evidence.connected', { host, port }) })
  if (url.protocol === 'https:') return tlsCheck(name, host, port, ca, opts.timeoutMs, results, say)
  return true
}

function tlsCheck (name: string, host: string, port: number, ca: string[] | undefined, timeoutMs: number, results: CheckResult[], say: Say): Promise<boolean> {
  return new Promise((resolve) => {
    const isIp = /^[\d.]+$|:/.test(host)
    const socket = tlsConnect({ host, port, ...(isIp ? {} : { servername: host }), rejectUnauthorized: false, ...(ca ? { ca } : {}) })
    const timer = setTimeout(() => finish({ check: `${name}.tls`, status: 'fail', evidence: say('evidence.tlsTimeout'), next_step: say('step.speaksTls') }, false), timeoutMs)
    function finish (r: CheckResult, ok: boolean): void {
      clearTimeout(timer)
      socket.destroy()
      results.push(r)
      resolve(ok)
    }
    socket.once('error', (err: NodeJS.ErrnoException) => finish({
      check: `${name}.tls`,
      status: 'fail',
      evidence: say('evidence.tlsFailed', { error: err.code ?? err.message }),
      next_step: /WRONG_VERSION|PACKET_LENGTH/.test(`${err.code} ${err.message}`) ? say('step.plainHttp') : say('step.tlsConfig')
    }, false))
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate(true)
      const chain: string[] = []
      let c: PeerCertificate | undefined = cert
      const seen = new Set<string>()
      while (c !== undefined && c.fingerprint256 !== undefined && !seen.has(c.fingerprint256) && chain.length < 6) {
        seen.add(c.fingerprint256)
        chain.push(say('evidence.chainLink', { subject: String(c.subject?.CN ?? '?'), issuer: String(c.issuer?.CN ?? '?'), until: new Date(c.valid_to).toISOString().slice(0, 10) }))
        c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate
      }
      const problems: string[] = []
      const steps: string[] = []
      if (!socket.authorized) {
        const code = String((socket.authorizationError as unknown as { code?: string })?.code ?? socket.authorizationError)
        problems.push(say('evidence.notTrusted', { code }))
        steps.push(code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? say('step.selfSigned') : say('step.trustCa'))
      }
      const identity = isIp ? checkIpIdentity(host, cert, say) : checkServerIdentity(host, cert)
      if (identity !== undefined) {
        problems.push(say('evidence.hostMismatch', { message: identity.message }))
        steps.push(say('step.hostName'))
      }
      const left = (new Date(cert.valid_to).getTime() - Date.now()) / DAY_MS
      if (left < 0) {
        problems.push(say('evidence.expired', { date: cert.valid_to }))
        steps.push(say('step.renew'))
      }
      const evidence = say('evidence.chain', { chain: chain.join(' <- ') })
      if (problems.length > 0) return finish({ check: `${name}.tls`, status: 'fail', evidence: say('evidence.tlsProblems', { problems: problems.join(say('separator.problems')), chain: evidence }), next_step: steps.reduce((a, b) => say('separator.sentences', { a, b })) }, true)
      if (left < EXPIRY_WARN_DAYS) return finish({ check: `${name}.tls`, status: 'warn', evidence: say('evidence.expiresIn', { days: Math.floor(left), chain: evidence }), next_step: say('step.renewSoon') }, true)
      finish({ check: `${name}.tls`, status: 'pass', evidence: say('evidence.tlsOk', { days: Math.floor(left), chain: evidence }) }, true)
    })
  })
}

function checkIpIdentity (ip: string, cert: PeerCertificate, say: Say): Error | undefined {
  return (cert.subjectaltname ?? '').split(', ').includes(`IP Address:${ip}`) ? undefined : new Error(say('evidence.ipNotInSan', { ip }))
}

async function httpCheck (results: CheckResult[], agent: Agent, check: string, url: URL, nextStep: string, quietFail = false): Promise<boolean> {
  try {
    const res = await request(url, { dispatcher: agent })
    const body = (await res.body.text()).slice(0, 300)
    if (res.statusCode === 200) {
      results.push({ check, status: 'pass', evidence: `GET ${url.pathname} 200` })
      return true
    }
    if (!quietFail || res.statusCode !== 404) {
      results.push({ check, status: 'fail', evidence: `GET ${url.pathname} ${res.statusCode}${body ? `: ${body}` : ''}`, next_step: nextStep })
    }
    return false
  } catch (err) {
    results.push({ check, status: 'fail', evidence: `GET ${url.pathname}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, next_step: nextStep })
    return false
  }
}

function authHeaders (opts: DoctorOptions): Record<string, string> {
  return opts.apiKey === null ? {} : { authorization: `Bearer ${opts.apiKey}` }
}

async function modelsCheck (results: CheckResult[], agent: Agent, api: string, opts: DoctorOptions, say: Say): Promise<void> {
  try {
    const res = await request(`${api}/models`, { dispatcher: agent, headers: authHeaders(opts) })
    const text = await res.body.text()
    if (res.statusCode !== 200) {
      results.push({ check: 'model.models', status: 'fail', evidence: `GET ${new URL(api).pathname}/models ${res.statusCode}: ${text.slice(0, 200)}`, next_step: res.statusCode === 401 ? say('step.apiKey') : say('step.openAiApi') })
      return
    }
    const ids = ((JSON.parse(text) as { data?: Array<{ id?: unknown }> }).data ?? []).map((m) => String(m.id))
    results.push({ check: 'model.models', status: 'pass', evidence: ids.length === 0 ? say('evidence.servesNone') : say('evidence.serves', { models: ids.join(', ') }) })
    if (opts.modelName !== null) {
      results.push(ids.includes(opts.modelName)
        ? { check: 'model.name', status: 'pass', evidence: say('evidence.nameServed', { name: opts.modelName }) }
        : { check: 'model.name', status: 'fail', evidence: say('evidence.nameNotServed', { name: opts.modelName, models: ids.join(', ') }), next_step: say('step.modelName') })
    }
  } catch (err) {
    results.push({ check: 'model.models', status: 'fail', evidence: `${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, next_step: say('step.modelEndpoint') })
  }
}

async function chatCheck (results: CheckResult[], agent: Agent, api: string, opts: DoctorOptions, say: Say): Promise<void> {
  const started = Date.now()
  try {
    const res = await request(`${api}/chat/completions`, {
      dispatcher: agent,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(opts) },
      body: JSON.stringify({ model: opts.modelName ?? 'default', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1 })
    })
    const text = await res.body.text()
    results.push(res.statusCode === 200
      ? { check: 'model.chat_completion', status: 'pass', evidence: say('evidence.chatOk', { path: `${new URL(api).pathname}/chat/completions`, ms: Date.now() - started }) }
      : { check: 'model.chat_completion', status: 'fail', evidence: `POST ${new URL(api).pathname}/chat/completions ${res.statusCode}: ${text.slice(0, 300)}`, next_step: say('step.chatFailed') })
  } catch (err) {
    results.push({ check: 'model.chat_completion', status: 'fail', evidence: say('evidence.chatError', { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message, ms: Date.now() - started }), next_step: say('step.chatDown') })
  }
}
