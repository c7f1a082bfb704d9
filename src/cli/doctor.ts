import { parseArgs } from 'node:util'
import { type CheckResult, runDoctor } from '../doctor/checks.js'
import { type Colors, type ExitCode, NO_PROGRESS, out, progress, terminal, UsageError } from './output.js'

export const DOCTOR_HELP = `Usage: duo-diag-proxy doctor [--gateway URL] [--model URL] [flags]

The support playbook's quick checks, automated. For each URL: DNS resolves, TCP connects, TLS
chain trusted / not expiring within 14 days / host name matches (https). Gateway:
/monitoring/healthz and /monitoring/ready. Model: the URL ends in /v1, /health (vLLM) or
/health/liveliness (LiteLLM), /v1/models (and that --model-name is served), and with --chat a
one-token POST /v1/chat/completions. Exit code 1 when any check fails. Each check is printed as
it completes.

  --gateway URL        AI gateway base URL, e.g. http://aigw:5052
  --model URL          model endpoint as configured in GitLab, e.g. http://vllm:8000/v1
  --model-name NAME    the model identifier configured in GitLab
  --api-key KEY        model API key (or DUO_DIAG_MODEL_API_KEY)
  --chat               also send a one-token chat completion (it costs a token)
  --ca-file FILE       extra CA bundle (PEM) to trust
  --timeout-ms N       per check [5000]
  --json               JSON output
`

const MARK: Record<CheckResult['status'], (c: Colors) => string> = {
  pass: (c) => c.green('ok  '),
  warn: (c) => c.yellow('WARN'),
  fail: (c) => c.red('FAIL'),
  skip: (c) => c.dim('skip')
}

/** A check's lines: mark, id, evidence, and the next step when it did not pass. */
export function renderCheck (r: CheckResult, c: Colors): string {
  // eslint-disable-next-line no-control-regex
  const clean = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
  let text = `${MARK[r.status](c)}  ${r.check.padEnd(24)} ${clean(r.evidence)}\n`
  if (r.next_step !== undefined && r.status !== 'pass') text += `      ${''.padEnd(24)} ${c.cyan('->')} ${clean(r.next_step)}\n`
  return text
}

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
  const c = terminal().c
  // On a terminal: a status line on stderr while checks run, each check printed as it completes.
  const status = values.json ? NO_PROGRESS : progress()
  const targets = [values.gateway, values.model].filter((u) => u !== undefined).join(' and ')
  let done = 0
  status.update(`checking ${targets}`)
  const results = await runDoctor({
    gateway: values.gateway ?? null,
    model: values.model ?? null,
    modelName: values['model-name'] ?? null,
    apiKey: values['api-key'] ?? process.env.DUO_DIAG_MODEL_API_KEY ?? null,
    chat: values.chat ?? false,
    caFile: values['ca-file'] ?? null,
    timeoutMs,
    onResult (r) {
      if (values.json) return
      status.clear()
      out(renderCheck(r, c))
      status.update(`checking ${targets}: ${++done} done`)
    }
  })
  status.clear()
  const failed = results.some((r) => r.status === 'fail')
  if (values.json) {
    out(JSON.stringify({ ok: !failed, checks: results }, null, 2) + '\n')
  } else {
    out(failed ? `\n${c.red('Some checks failed.')}\n` : `\n${c.green('All checks passed.')}\n`)
  }
  return failed ? 1 : 0
}
