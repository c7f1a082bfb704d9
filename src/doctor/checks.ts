import { lookup } from 'node:dns/promises'
import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { checkServerIdentity, connect as tlsConnect, rootCertificates, type PeerCertificate } from 'node:tls'
import { Agent, request } from 'undici'

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
  try {
    if (opts.gateway !== null) {
      const url = new URL(opts.gateway)
      if (await network('gateway', url, opts, ca, results)) {
        await httpCheck(results, agent, 'gateway.healthz', new URL('/monitoring/healthz', url), 'The gateway is not healthy: check its container logs (docker logs <ai-gateway-container>).')
        await httpCheck(results, agent, 'gateway.ready', new URL('/monitoring/ready', url), 'A readiness check failed: the body names it (often the model or GitLab is unreachable from the gateway).')
      }
    }
    if (opts.model !== null) {
      const url = new URL(opts.model)
      const endsV1 = /\/v1\/?$/.test(url.pathname)
      results.push(endsV1
        ? { check: 'model.url_v1', status: 'pass', evidence: `${opts.model} ends in /v1` }
        : { check: 'model.url_v1', status: 'fail', evidence: `${opts.model} does not end in /v1`, next_step: `Set the model endpoint in GitLab to ${opts.model.replace(/\/+$/, '')}/v1.` })
      if (await network('model', url, opts, ca, results)) {
        const root = new URL(url.origin)
        const health = await httpCheck(results, agent, 'model.health', new URL('/health', root), 'The model server is not healthy: check its logs.', true)
        if (!health) await httpCheck(results, agent, 'model.health_liveliness', new URL('/health/liveliness', root), 'Neither /health (vLLM) nor /health/liveliness (LiteLLM) answered 200.')
        const api = endsV1 ? url.href.replace(/\/+$/, '') : `${url.href.replace(/\/+$/, '')}/v1`
        await modelsCheck(results, agent, api, opts)
        if (opts.chat) await chatCheck(results, agent, api, opts)
        else results.push({ check: 'model.chat_completion', status: 'skip', evidence: 'not run (it costs tokens): add --chat' })
      }
    }
  } finally {
    await agent.close()
  }
  return results
}

/** DNS, TCP and (for https) TLS; false when the host cannot be reached at all. */
async function network (name: string, url: URL, opts: DoctorOptions, ca: string[] | undefined, results: CheckResult[]): Promise<boolean> {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  try {
    const addresses = await lookup(host, { all: true })
    results.push({ check: `${name}.dns`, status: 'pass', evidence: `${host} resolves to ${addresses.map((a) => a.address).join(', ')}` })
  } catch (err) {
    results.push({ check: `${name}.dns`, status: 'fail', evidence: `${host} does not resolve (${(err as NodeJS.ErrnoException).code})`, next_step: 'Check the host name, and DNS from where the gateway runs.' })
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
      evidence: `connect to ${host}:${port}: ${tcp}`,
      next_step: tcp === 'ECONNREFUSED'
        ? `Nothing listens on ${host}:${port}: start the service, or fix the port. Inside a container, localhost is the container itself.`
        : 'Check firewalls and routing to the host.'
    })
    return false
  }
  results.push({ check: `${name}.tcp`, status: 'pass', evidence: `connected to ${host}:${port}` })
  if (url.protocol === 'https:') return tlsCheck(name, host, port, ca, opts.timeoutMs, results)
  return true
}

function tlsCheck (name: string, host: string, port: number, ca: string[] | undefined, timeoutMs: number, results: CheckResult[]): Promise<boolean> {
  return new Promise((resolve) => {
    const isIp = /^[\d.]+$|:/.test(host)
    const socket = tlsConnect({ host, port, ...(isIp ? {} : { servername: host }), rejectUnauthorized: false, ...(ca ? { ca } : {}) })
    const timer = setTimeout(() => finish({ check: `${name}.tls`, status: 'fail', evidence: 'no TLS handshake in time', next_step: 'Check the port speaks TLS.' }, false), timeoutMs)
    function finish (r: CheckResult, ok: boolean): void {
      clearTimeout(timer)
      socket.destroy()
      results.push(r)
      resolve(ok)
    }
    socket.once('error', (err: NodeJS.ErrnoException) => finish({
      check: `${name}.tls`,
      status: 'fail',
      evidence: `TLS handshake failed: ${err.code ?? err.message}`,
      next_step: /WRONG_VERSION|PACKET_LENGTH/.test(`${err.code} ${err.message}`) ? 'The port speaks plain HTTP: use http://.' : 'Check the certificate and the TLS configuration.'
    }, false))
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate(true)
      const chain: string[] = []
      let c: PeerCertificate | undefined = cert
      const seen = new Set<string>()
      while (c !== undefined && c.fingerprint256 !== undefined && !seen.has(c.fingerprint256) && chain.length < 6) {
        seen.add(c.fingerprint256)
        chain.push(`${c.subject?.CN ?? '?'} (issuer ${c.issuer?.CN ?? '?'}, until ${new Date(c.valid_to).toISOString().slice(0, 10)})`)
        c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate
      }
      const problems: string[] = []
      const steps: string[] = []
      if (!socket.authorized) {
        const code = String((socket.authorizationError as unknown as { code?: string })?.code ?? socket.authorizationError)
        problems.push(`not trusted: ${code}`)
        steps.push(code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? 'A self-signed certificate: the AI gateway does not support them on GitLab; use a CA-signed certificate, or trust the CA (--ca-file here, SSL_CERT_FILE / REQUESTS_CA_BUNDLE in the gateway).' : 'Trust the issuing CA (--ca-file here, SSL_CERT_FILE / REQUESTS_CA_BUNDLE in the gateway), or use a publicly trusted certificate.')
      }
      const identity = isIp ? checkIpIdentity(host, cert) : checkServerIdentity(host, cert)
      if (identity !== undefined) {
        problems.push(`host name mismatch: ${identity.message}`)
        steps.push('Issue the certificate for the host name used in the URL (subjectAltName).')
      }
      const left = (new Date(cert.valid_to).getTime() - Date.now()) / DAY_MS
      if (left < 0) {
        problems.push(`expired on ${cert.valid_to}`)
        steps.push('Renew the certificate.')
      }
      const evidence = `chain: ${chain.join(' <- ')}`
      if (problems.length > 0) return finish({ check: `${name}.tls`, status: 'fail', evidence: `${problems.join('; ')}; ${evidence}`, next_step: steps.join(' ') }, true)
      if (left < EXPIRY_WARN_DAYS) return finish({ check: `${name}.tls`, status: 'warn', evidence: `expires in ${Math.floor(left)} days; ${evidence}`, next_step: 'Renew the certificate soon.' }, true)
      finish({ check: `${name}.tls`, status: 'pass', evidence: `trusted, host name matches, valid ${Math.floor(left)} more days; ${evidence}` }, true)
    })
  })
}

function checkIpIdentity (ip: string, cert: PeerCertificate): Error | undefined {
  return (cert.subjectaltname ?? '').split(', ').includes(`IP Address:${ip}`) ? undefined : new Error(`IP ${ip} is not in the certificate's subjectAltName`)
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

async function modelsCheck (results: CheckResult[], agent: Agent, api: string, opts: DoctorOptions): Promise<void> {
  try {
    const res = await request(`${api}/models`, { dispatcher: agent, headers: authHeaders(opts) })
    const text = await res.body.text()
    if (res.statusCode !== 200) {
      results.push({ check: 'model.models', status: 'fail', evidence: `GET ${new URL(api).pathname}/models ${res.statusCode}: ${text.slice(0, 200)}`, next_step: res.statusCode === 401 ? 'The model server wants an API key: pass --api-key and set it on the model in GitLab.' : 'Check the endpoint serves the OpenAI API.' })
      return
    }
    const ids = ((JSON.parse(text) as { data?: Array<{ id?: unknown }> }).data ?? []).map((m) => String(m.id))
    results.push({ check: 'model.models', status: 'pass', evidence: `serves ${ids.join(', ') || '(none listed)'}` })
    if (opts.modelName !== null) {
      results.push(ids.includes(opts.modelName)
        ? { check: 'model.name', status: 'pass', evidence: `"${opts.modelName}" is served` }
        : { check: 'model.name', status: 'fail', evidence: `"${opts.modelName}" is not among ${ids.join(', ')}`, next_step: 'Set the model identifier in GitLab to a served name.' })
    }
  } catch (err) {
    results.push({ check: 'model.models', status: 'fail', evidence: `${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, next_step: 'Check the model endpoint.' })
  }
}

async function chatCheck (results: CheckResult[], agent: Agent, api: string, opts: DoctorOptions): Promise<void> {
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
      ? { check: 'model.chat_completion', status: 'pass', evidence: `POST ${new URL(api).pathname}/chat/completions 200 in ${Date.now() - started} ms` }
      : { check: 'model.chat_completion', status: 'fail', evidence: `POST ${new URL(api).pathname}/chat/completions ${res.statusCode}: ${text.slice(0, 300)}`, next_step: 'The model answers the health check but not the API: check its logs and the model name.' })
  } catch (err) {
    results.push({ check: 'model.chat_completion', status: 'fail', evidence: `${(err as NodeJS.ErrnoException).code ?? (err as Error).message} after ${Date.now() - started} ms`, next_step: 'The model is too slow or down.' })
  }
}
