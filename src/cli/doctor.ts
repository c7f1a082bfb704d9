import { parseArgs } from 'node:util'
import { type CheckResult, runDoctor } from '../doctor/checks.js'
import { type ExitCode, out, UsageError } from './output.js'

export const DOCTOR_HELP = `Usage: duo-diag-proxy doctor [--gateway URL] [--model URL] [flags]

The support playbook's quick checks, automated. For each URL: DNS resolves, TCP connects, TLS
chain trusted / not expiring within 14 days / host name matches (https). Gateway:
/monitoring/healthz and /monitoring/ready. Model: the URL ends in /v1, /health (vLLM) or
/health/liveliness (LiteLLM), /v1/models (and that --model-name is served), and with --chat a
one-token POST /v1/chat/completions. Exit code 1 when any check fails.

  --gateway URL        AI gateway base URL, e.g. http://aigw:5052
  --model URL          model endpoint as configured in GitLab, e.g. http://vllm:8000/v1
  --model-name NAME    the model identifier configured in GitLab
  --api-key KEY        model API key (or DUO_DIAG_MODEL_API_KEY)
  --chat               also send a one-token chat completion (it costs a token)
  --ca-file FILE       extra CA bundle (PEM) to trust
  --timeout-ms N       per check [5000]
  --json               JSON output
`

const MARK: Record<CheckResult['status'], string> = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' }

export async function doctorCommand (argv: string[]): Promise<ExitCode> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      gateway: { type: 'string' },
      model: { type: 'string' },
      'model-name': { type: 'string' },
      'api-key': { type: 'string' },
      chat: { type: 'boolean' },
      'ca-file': { type: 'string' },
      'timeout-ms': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    out(DOCTOR_HELP)
    return 0
  }
  if (values.gateway === undefined && values.model === undefined) throw new UsageError('doctor needs --gateway URL and/or --model URL')
  for (const [flag, url] of [['--gateway', values.gateway], ['--model', values.model]] as const) {
    if (url !== undefined && !/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`${flag}: "${url}" is not an http(s) URL`)
  }
  const timeoutMs = values['timeout-ms'] === undefined ? 5_000 : Number(values['timeout-ms'])
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 120_000) throw new UsageError('--timeout-ms: a whole number from 100 to 120000')
  const results = await runDoctor({
    gateway: values.gateway ?? null,
    model: values.model ?? null,
    modelName: values['model-name'] ?? null,
    apiKey: values['api-key'] ?? process.env.DUO_DIAG_MODEL_API_KEY ?? null,
    chat: values.chat ?? false,
    caFile: values['ca-file'] ?? null,
    timeoutMs
  })
  const failed = results.some((r) => r.status === 'fail')
  if (values.json) {
    out(JSON.stringify({ ok: !failed, checks: results }, null, 2) + '\n')
  } else {
    for (const r of results) {
      out(`${MARK[r.status]}  ${r.check.padEnd(24)} ${r.evidence}\n`)
      if (r.next_step !== undefined && r.status !== 'pass') out(`      ${''.padEnd(24)} -> ${r.next_step}\n`)
    }
    out(failed ? '\nSome checks failed.\n' : '\nAll checks passed.\n')
  }
  return failed ? 1 : 0
}
