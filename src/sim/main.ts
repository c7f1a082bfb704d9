#!/usr/bin/env node
/**
 * Runs one simulator as a small service (docker-compose, manual experiments):
 *
 *   node dist/sim/main.js gateway --port 5052 [--model-endpoint URL]
 *   node dist/sim/main.js model --port 8000 [--flavor vllm|litellm|ollama]
 *
 * Logs one JSON line when listening, stops on SIGTERM/SIGINT (exit 0); usage errors exit 2.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startAiGateway } from './ai-gateway.js'
import { DEFAULT_PORTS, isModelServerFlavor, MODEL_SERVER_FLAVORS, startModelServer, type ModelServerFlavor } from './model-server.js'
import type { SimServer } from './sim-server.js'

const HELP = `Usage: node dist/sim/main.js <gateway|model> [flags]

Runs a simulator as a service: the GitLab AI gateway or an OpenAI-compatible model server
(vLLM, LiteLLM proxy or Ollama), with x-sim-fault request headers to inject failures (see
src/sim/fault-plan.ts).

Common flags:
  --host HOST              listen address; 0.0.0.0 in a container   [127.0.0.1]
  --port N                 listen port    [gateway 5052; model: vllm 8000, litellm 4000,
                                           ollama 11434]
  --chunk-delay-ms N       delay between streamed chunks             [0]

gateway:
  --model-endpoint URL     model endpoint used when a request names none, e.g.
                           http://model:8000/v1 (none: canned answers)
  --model-name NAME        model name used when a request names none
  --gateway-version V      the gateway line to behave like: 2024 (ai-assist, litellm 1.55)
                           or 2025 (ai-gateway, litellm 1.88)                    [2025]
  --model-timeout-ms N     litellm's model timeout (per read)                    [30000]
  --jwt-public-key FILE    PEM public key: require GitLab JWTs signed by its private key
                           (default: no authentication)
model:
  --flavor NAME            the server to simulate: vllm, litellm or ollama        [vllm]
                           vllm:    /v1/* only, 404 {"detail":"Not Found"} elsewhere
                           litellm: the LiteLLM proxy, routes with and without /v1
                           ollama:  Ollama's OpenAI layer, GET / "Ollama is running"
  --server-version V       upstream version to behave like, where it matters
                           [vllm 0.10.0, litellm 1.80.0, ollama 0.33.0]
  --model NAME             a served model id (repeatable)            [mistral-7b-instruct]
  --api-key KEY            vllm: require "Authorization: Bearer KEY" on /v1/*;
                           litellm: the master key; not accepted with ollama (no auth)
`

class UsageError extends Error {}

type Kind = 'gateway' | 'model'

function log (fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), pid: process.pid, ...fields }) + '\n')
}

function intFlag (name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > max) throw new UsageError(`--${name}: a whole number from 0 to ${max}`)
  return n
}

async function start (kind: Kind, argv: string[]): Promise<SimServer | null> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'chunk-delay-ms': { type: 'string' },
      'model-endpoint': { type: 'string' },
      'model-name': { type: 'string' },
      'jwt-public-key': { type: 'string' },
      'gateway-version': { type: 'string' },
      'model-timeout-ms': { type: 'string' },
      model: { type: 'string', multiple: true },
      'api-key': { type: 'string' },
      flavor: { type: 'string' },
      'server-version': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    process.stdout.write(HELP)
    return null
  }
  const gatewayOnly = ['model-endpoint', 'model-name', 'jwt-public-key', 'gateway-version', 'model-timeout-ms'] as const
  const modelOnly = ['model', 'api-key', 'flavor', 'server-version'] as const
  for (const name of kind === 'gateway' ? modelOnly : gatewayOnly) {
    if (values[name] !== undefined) throw new UsageError(`--${name} is not a ${kind} flag`)
  }
  let flavor: ModelServerFlavor = 'vllm'
  if (values.flavor !== undefined) {
    if (!isModelServerFlavor(values.flavor)) throw new UsageError(`--flavor: one of ${MODEL_SERVER_FLAVORS.join(', ')}, not "${values.flavor}"`)
    flavor = values.flavor
  }
  if (flavor === 'ollama' && values['api-key'] !== undefined) throw new UsageError('--api-key: Ollama has no authentication')
  const serverVersion = values['server-version']
  if (serverVersion !== undefined && !/^v?\d+(\.\d+){0,2}([-+].*)?$/.test(serverVersion)) throw new UsageError(`--server-version: a version like 0.10.1, not "${serverVersion}"`)
  const listen = { host: values.host ?? '127.0.0.1', port: intFlag('port', values.port, kind === 'gateway' ? 5052 : DEFAULT_PORTS[flavor], 65535) }
  const chunkDelayMs = intFlag('chunk-delay-ms', values['chunk-delay-ms'], 0, 60_000)
  if (kind === 'model') {
    return startModelServer({ listen, record: false, chunkDelayMs, models: values.model, apiKey: values['api-key'], flavor, serverVersion })
  }
  const endpoint = values['model-endpoint']
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`--model-endpoint: "${endpoint}" is not an http(s) URL`)
  let jwtPublicKey: string | undefined
  if (values['jwt-public-key'] !== undefined) {
    try {
      jwtPublicKey = readFileSync(values['jwt-public-key'], 'utf8')
    } catch (err) {
      throw new UsageError(`--jwt-public-key: cannot read ${values['jwt-public-key']} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
    }
  }
  const version = values['gateway-version'] ?? '2025'
  if (version !== '2024' && version !== '2025') throw new UsageError(`--gateway-version: 2024 or 2025, not "${version}"`)
  const modelTimeoutMs = intFlag('model-timeout-ms', values['model-timeout-ms'], 30_000, 3_600_000)
  return startAiGateway({ listen, record: false, chunkDelayMs, modelEndpoint: endpoint, modelName: values['model-name'], jwtPublicKey, version, modelTimeoutMs })
}

async function main (argv: string[]): Promise<number> {
  const [kind, ...rest] = argv
  if (kind === '--help' || kind === '-h') {
    process.stdout.write(HELP)
    return 0
  }
  if (kind !== 'gateway' && kind !== 'model') {
    process.stderr.write(`sim: expected "gateway" or "model", got ${kind === undefined ? 'nothing' : `"${kind}"`}\n\n${HELP}`)
    return 2
  }
  let server: SimServer | null
  try {
    server = await start(kind, rest)
  } catch (err) {
    const usage = err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')
    process.stderr.write(`sim ${kind}: ${(err as Error).message}\n`)
    return usage ? 2 : 1
  }
  if (server === null) return 0
  const running = server
  log({ level: 'info', msg: 'simulator listening', sim: kind, url: running.url, port: running.port, ...('flavor' in running ? { flavor: running.flavor } : {}) })
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      running.close().then(() => {
        log({ level: 'info', msg: 'simulator stopped', sim: kind, signal })
        resolve(0)
      }, (err: Error) => {
        log({ level: 'error', msg: 'simulator failed to stop', sim: kind, signal, error: err.message })
        resolve(1)
      })
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`sim: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
