/**
 * `logs import --follow`: a live log (a file being written, or stdin from `docker logs -f`) is
 * imported as it grows. Events reach the store at least every `passMs`, and the correlation IDs
 * they touched are diagnosed again then, so `show`, the API and the browser view follow along.
 */
import { randomUUID } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ExchangeStore } from '../store/store.js'
import { BATCH, diagnoseOne, emptyResult, EventWriter, type ImportOptions, type ImportResult, type LogInput } from './import.js'
import { emptyImportCounts, readLogEvents } from './read-events.js'

const CHUNK = 64 * 1024

/**
 * A file read like `tail -f`: what it holds, then what is appended, until `signal` aborts. When
 * it shrinks or is replaced (log rotation), reading starts again at the new file's beginning.
 */
export function followFile (path: string, signal: AbortSignal, pollMs = 250): Readable {
  async function * chunks (): AsyncGenerator<Buffer> {
    let handle = await open(path, 'r')
    let inode = (await handle.stat()).ino
    let position = 0
    try {
      while (!signal.aborted) {
        const now = await stat(path).catch(() => null)
        if (now !== null && (now.ino !== inode || now.size < position)) {
          await handle.close()
          handle = await open(path, 'r')
          inode = (await handle.stat()).ino
          position = 0
        }
        const buffer = Buffer.allocUnsafe(CHUNK)
        const { bytesRead } = await handle.read(buffer, 0, CHUNK, position)
        if (bytesRead > 0) {
          position += bytesRead
          yield buffer.subarray(0, bytesRead)
          continue
        }
        await sleep(pollMs, undefined, { signal }).catch(() => undefined)
      }
    } finally {
      await handle.close()
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}

export interface FollowPass {
  /** Correlation IDs with new events in this pass, diagnosed again. */
  ids: string[]
  result: ImportResult
}

/**
 * Imports `input` until it ends (stdin closed) or `signal` aborts (Ctrl-C), with a pass every
 * `passMs`: pending events stored, touched IDs diagnosed, `onPass` told. Passes never overlap.
 */
export async function followLogs (store: ExchangeStore, input: LogInput, opts: ImportOptions & { passMs?: number }, signal: AbortSignal, onPass: (pass: FollowPass) => void): Promise<ImportResult> {
  const result = emptyResult(randomUUID(), emptyImportCounts())
  const writer = new EventWriter(store, result, opts.batchSize ?? BATCH, true)
  // Every store access goes through this chain: the timer's passes and the reader's batches
  // take turns, never two transactions of this import at once.
  let chain: Promise<void> = Promise.resolve()
  let failure: unknown = null
  const run = (step: () => Promise<void>): Promise<void> => {
    chain = chain.then(step).catch((err: unknown) => { failure ??= err })
    return chain
  }
  const pass = async (): Promise<void> => {
    await writer.flush()
    const ids = writer.takeTouched()
    for (const id of ids) await diagnoseOne(store, id, opts, result)
    if (ids.length > 0) onPass({ ids, result })
  }
  const timer = setInterval(() => { void run(pass) }, opts.passMs ?? 1_000)
  try {
    const stream = input.open()
    signal.addEventListener('abort', () => stream.destroy(), { once: true })
    for await (const event of readLogEvents(stream, { file: input.name, verbose: opts.verbose, rules: opts.rules }, result.counts)) {
      await run(() => writer.add(event))
      if (failure !== null) break
    }
  } catch (err) {
    // A stream destroyed by Ctrl-C ends the import; anything else is the caller's to report.
    if (!signal.aborted) throw err
  } finally {
    clearInterval(timer)
    await run(pass)
  }
  if (failure !== null) throw failure
  return result
}
