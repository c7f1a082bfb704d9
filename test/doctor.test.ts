/** `duo-diag-proxy doctor` against real simulated services, healthy and broken. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startAiGateway } from './fixtures/ai-gateway.js'
import { DEFAULT_MODEL, startModelServer } from './fixtures/model-server.js'
import { caSignedCert, expiredCert, makeCa, makeLeaf, selfSignedCert } from './helpers/certs.js'
import { refusedPort } from './helpers/fault-servers.js'
import { runCli, type Run } from './helpers/command.js'


interface Check { check: string, status: string, evidence: string, next_step?: string }

/** English whatever the runner's locale (test/cli-ja.test.ts runs doctor in Japanese). */
function doctor (args: string[]): Promise<Run> {
  return runCli(['doctor', ...args], { ...process.env, DUO_DIAG_LANG: 'en' })
}

async function doctorJson (t: Test, args: string[]): Promise<{ code: number | null, checks: Map<string, Check> }> {
  const r = await doctor([...args, '--json', '--timeout-ms', '2000'])
  t.equal(r.stderr, '', 'nothing on stderr')
  const parsed = JSON.parse(r.stdout) as { ok: boolean, checks: Check[] }
  t.equal(parsed.ok, r.code === 0, 'ok agrees with the exit code')
  return { code: r.code, checks: new Map(parsed.checks.map((c) => [c.check, c])) }
}



t.test('a healthy gateway and model pass every check', async (t) => {
  const model = await startModelServer({ apiKey: 'sk-doctorkey000000000000' })
  const gateway = await startAiGateway()
  t.teardown(async () => { await Promise.all([model.close(), gateway.close()]) })
  const { code, checks } = await doctorJson(t, ['--gateway', gateway.url, '--model', `${model.url}/v1`, '--model-name', DEFAULT_MODEL, '--api-key', 'sk-doctorkey000000000000', '--chat'])
  t.equal(code, 0)
  for (const id of ['gateway.dns', 'gateway.tcp', 'gateway.healthz', 'gateway.ready', 'model.url_v1', 'model.dns', 'model.tcp', 'model.health', 'model.models', 'model.name', 'model.chat_completion']) {
    t.equal(checks.get(id)?.status, 'pass', `${id} passes (${checks.get(id)?.evidence})`)
  }
  t.equal(model.requests.filter((r) => r.path === '/v1/chat/completions').length, 1, 'one real chat completion was sent')
  const plain = await doctor(['--gateway', gateway.url])
  t.equal(plain.code, 0)
  t.match(plain.stdout, /^ok\s+gateway\.healthz\s+GET \/monitoring\/healthz 200$/m)
  t.match(plain.stdout, /All checks passed/)
})

t.test('broken set-ups fail with evidence and the next step', async (t) => {
  const model = await startModelServer()
  const gateway = await startAiGateway({ ready: false })
  const port = await refusedPort()
  t.teardown(async () => { await Promise.all([model.close(), gateway.close()]) })
  const { code, checks } = await doctorJson(t, ['--gateway', gateway.url, '--model', model.url, '--model-name', 'llama-3'])
  t.equal(code, 1, 'exit 1 when a check fails')
  t.equal(checks.get('gateway.healthz')?.status, 'pass')
  t.equal(checks.get('gateway.ready')?.status, 'fail')
  t.match(checks.get('gateway.ready')?.evidence, /503/)
  t.equal(checks.get('model.url_v1')?.status, 'fail')
  t.equal(checks.get('model.url_v1')?.next_step, `Set the model endpoint in GitLab to ${model.url}/v1.`)
  t.equal(checks.get('model.name')?.status, 'fail')
  t.match(checks.get('model.name')?.evidence, new RegExp(`"llama-3" is not among ${DEFAULT_MODEL}`))
  t.equal(checks.get('model.chat_completion')?.status, 'skip', 'no tokens spent without --chat')

  const refused = await doctorJson(t, ['--model', `http://127.0.0.1:${port}/v1`])
  t.equal(refused.code, 1)
  t.equal(refused.checks.get('model.tcp')?.status, 'fail')
  t.match(refused.checks.get('model.tcp')?.next_step, /Nothing listens .* localhost is the container itself/)
  t.notOk(refused.checks.has('model.health'), 'no HTTP checks against a closed port')

  const dns = await doctorJson(t, ['--gateway', 'http://no-such-host.invalid:5052'])
  t.equal(dns.checks.get('gateway.dns')?.status, 'fail')

  const usage = await doctor([])
  t.equal(usage.code, 2, 'no target: usage error')
  t.match(usage.stderr, /needs --gateway URL and\/or --model URL/)
})

t.test('TLS: trusted, self-signed, expired, and expiring soon', async (t) => {
  const good = caSignedCert()
  const ca = makeCa('doctor test CA')
  const soon = makeLeaf({ ca, commonName: 'localhost', notAfter: new Date(Date.now() + 5 * 86_400_000) })
  const trusted = await startModelServer({ tls: good })
  const self = await startModelServer({ tls: selfSignedCert() })
  const expired = await startModelServer({ tls: expiredCert() })
  const expiring = await startModelServer({ tls: soon })
  t.teardown(async () => { await Promise.all([trusted.close(), self.close(), expired.close(), expiring.close()]) })
  const dir = t.testdir({})
  const caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, good.caCert)
  const soonCa = join(dir, 'soon-ca.pem')
  writeFileSync(soonCa, ca.cert)

  const ok = await doctorJson(t, ['--model', `${trusted.url}/v1`, '--ca-file', caFile])
  t.equal(ok.checks.get('model.tls')?.status, 'pass')
  t.match(ok.checks.get('model.tls')?.evidence, /trusted, host name matches, valid \d+ more days; chain: /)
  t.equal(ok.code, 0)

  const untrusted = await doctorJson(t, ['--model', `${self.url}/v1`])
  t.equal(untrusted.checks.get('model.tls')?.status, 'fail')
  t.match(untrusted.checks.get('model.tls')?.evidence, /DEPTH_ZERO_SELF_SIGNED_CERT/)
  t.match(untrusted.checks.get('model.tls')?.next_step, /does not support them on GitLab/)

  const old = await doctorJson(t, ['--model', `${expired.url}/v1`])
  t.equal(old.checks.get('model.tls')?.status, 'fail')
  t.match(old.checks.get('model.tls')?.evidence, /CERT_HAS_EXPIRED|expired on/)

  const warn = await doctorJson(t, ['--model', `${expiring.url}/v1`, '--ca-file', soonCa])
  t.equal(warn.checks.get('model.tls')?.status, 'warn', 'expiring within 14 days warns')
  t.match(warn.checks.get('model.tls')?.evidence, /expires in [45] days/)
  t.equal(warn.code, 0, 'a warning is not a failure')
})
