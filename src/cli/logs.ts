import { open } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { parseArgs } from 'node:util'
import { ENV_CONFIG_FILE, loadConfig } from '../config/load.js'
import { buildRuleSet } from '../capture/redact-rules.js'
import type { Lang } from '../i18n/message.js'
import { followFile, followLogs } from '../logs/follow.js'
import { importLogs, type ImportOptions, type ImportResult, type LogInput } from '../logs/import.js'
import { LOG_SOURCES } from '../logs/event.js'
import { openStore } from '../store/open.js'
import type { ExchangeStore } from '../store/store.js'
import { ClientError, type ExitCode, msg, NO_PROGRESS, out, progress, table, terminal, UsageError } from './output.js'

export const logsHelp = (lang: Lang): string => msg(lang, 'logs.help')

const GZIP_MAGIC = [0x1f, 0x8b]

/**
 * A file as its bytes say: gzip (a rotated `llm.log.1.gz`) is unpacked on the fly, whatever its
 * name. Never read whole: the importer streams it.
 */
async function openFile (path: string): Promise<Readable> {
  const handle = await open(path, 'r')
  try {
    const head = Buffer.alloc(2)
    const { bytesRead } = await handle.read(head, 0, 2, 0)
    const stream = createReadStream(path)
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1] ? stream.pipe(createGunzip()) : stream
  } finally {
    await handle.close()
  }
}

/** Every named file must be a readable file before anything is imported: a typo fails at once. */
async function checkReadable (path: string, lang: Lang): Promise<void> {
  let handle
  try {
    handle = await open(path, 'r')
    if (!(await handle.stat()).isFile()) throw new UsageError(msg(lang, 'logs.notFile', { file: path }))
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new UsageError(msg(lang, 'logs.cannotRead', { file: path, error: (error as NodeJS.ErrnoException).code ?? String(error) }))
  } finally {
    await handle?.close()
  }
}

function inputFor (name: string): LogInput {
  if (name === '-') return { name, open: () => process.stdin }
  return { name, open: () => Readable.from(openFileChunks(name)) }
}

/** openFile as a lazily opened stream (LogInput.open is synchronous: the file opens when read). */
async function * openFileChunks (path: string): AsyncGenerator<Buffer> {
  for await (const chunk of await openFile(path)) yield chunk as Buffer
}

export async function logsCommand (argv: string[], lang: Lang = 'en'): Promise<ExitCode> {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    out(logsHelp(lang))
    return sub === undefined ? 2 : 0
  }
  if (sub !== 'import') throw new UsageError(msg(lang, 'logs.unknownSubcommand', { name: sub }))
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      db: { type: 'string' },
      config: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help) {
    out(logsHelp(lang))
    return 0
  }
  if (positionals.length === 0) throw new UsageError(msg(lang, 'logs.noFiles'))
  if (values.follow && positionals.length !== 1) throw new UsageError(msg(lang, 'logs.followOne'))
  if (positionals.filter((p) => p === '-').length > 1) throw new UsageError(msg(lang, 'logs.stdinOnce'))
  for (const p of positionals) if (p !== '-') await checkReadable(p, lang)

  // The proxy's configuration says where the store is, whether capture is verbose (prompt-bearing
  // log fields kept, redacted) and which redaction rules apply: imported lines are treated as
  // captured traffic is.
  const env = process.env as Record<string, string | undefined>
  const config = loadConfig({ file: values.config ?? env[ENV_CONFIG_FILE] ?? null, env: env as Record<string, string> })
  const location = values.db ?? config.store.path
  let store: ExchangeStore
  try {
    store = await openStore(location)
  } catch (error) {
    throw new ClientError((error as Error).message)
  }
  const opts: ImportOptions = {
    verbose: config.capture.bodies,
    rules: buildRuleSet(config.capture.bodies, config.capture.redaction.add, config.capture.redaction.remove),
    diagnosis: {
      proxyInstance: config.proxyInstance,
      modelRouted: config.routes.some((r) => r.hop === 'model'),
      gatewayModelTimeoutsS: config.diagnosis.gatewayModelTimeoutsS
    }
  }
  const c = terminal().c
  try {
    if (values.follow) {
      const ac = new AbortController()
      const stop = (): void => ac.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      const name = positionals[0]!
      const input: LogInput = name === '-' ? inputFor('-') : { name, open: () => followFile(name, ac.signal) }
      if (!values.json) process.stderr.write(msg(lang, 'logs.following', { file: name }) + '\n')
      const result = await followLogs(store, input, opts, ac.signal, ({ ids, result }) => {
        if (values.json) return
        for (const id of ids) {
          const f = result.failures.find((x) => x.correlation_id === id)
          out(f === undefined ? `${id}\n` : `${id}  ${c.red(f.flags.join(','))}  ${f.cause ?? ''}\n`)
        }
      })
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      report(result, values.json === true, location, lang, config.store.retention.maxAgeHours)
      return 0
    }
    const status = values.json ? NO_PROGRESS : progress()
    status.update(msg(lang, 'logs.importing', { files: positionals.length, count: positionals.length }))
    const result = await importLogs(store, positionals.map(inputFor), opts)
    status.clear()
    report(result, values.json === true, location, lang, config.store.retention.maxAgeHours)
    return 0
  } finally {
    await store.close()
  }
}

function report (r: ImportResult, json: boolean, location: string, lang: Lang, maxAgeHours: number): void {
  // Retention judges records by their own time: lines older than the store keeps would be
  // removed by a running proxy's next pass, with what was reconstructed from them.
  if (r.oldest !== null && Date.parse(r.oldest) < Date.now() - maxAgeHours * 3_600_000) {
    process.stderr.write(msg(lang, 'logs.olderThanRetention', { oldest: r.oldest, hours: maxAgeHours }) + '\n')
  }
  if (json) {
    out(JSON.stringify(r, null, 2) + '\n')
    return
  }
  const term = terminal()
  const c = term.c
  const n = r.counts
  out(msg(lang, 'logs.read', { lines: n.lines, events: n.events, fresh: n.events - n.duplicates, duplicates: n.duplicates }) + '\n')
  const sources = LOG_SOURCES.filter((s) => (n.by_source[s] ?? 0) > 0).map((s) => `${msg(lang, `logs.source.${s}`)} ${n.by_source[s]}`)
  if (sources.length > 0) out(`  ${sources.join(', ')}\n`)
  if (n.unknown + n.too_long + n.skipped > 0) out(`  ${msg(lang, 'logs.notKept', { unknown: n.unknown, tooLong: n.too_long, skipped: n.skipped })}\n`)
  out(msg(lang, 'logs.diagnosed', { traces: r.traces, reconstructed: r.reconstructed, updated: r.updated }) + '\n')
  if (r.failures.length === 0) return
  out('\n' + table([
    { header: msg(lang, 'columns.correlationId'), min: 16 },
    { header: msg(lang, 'columns.flags'), min: 12, paint: (text, colors) => colors.red(text) },
    { header: msg(lang, 'columns.cause'), min: 24 }
  ], r.failures.map((f) => [f.correlation_id + (f.reconstructed ? ` ${msg(lang, 'logs.fromLogs')}` : ''), f.flags.join(','), f.cause ?? '']), { width: term.width, c }) + '\n')
  const first = r.failures[0]!
  out(`\n${msg(lang, 'logs.next', { command: `duo-diag-proxy show ${first.correlation_id} --db ${location}` })}\n`)
}
