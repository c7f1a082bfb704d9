/**
 * Writes a streamed or whole response body while applying the in-body faults of a FaultPlan
 * (slow-first-chunk, reset-mid-stream, truncate) and an optional delay between chunks.
 */
import type { ServerResponse } from 'node:http'
import { sleep, type FaultPlan } from './fault-plan.js'

export class FaultyWriter {
  private chunks = 0

  constructor (
    private readonly res: ServerResponse,
    private readonly plan: FaultPlan,
    private readonly signal: AbortSignal,
    private readonly chunkDelayMs = 0
  ) {}

  /** Producers skip their terminal parts (finish_reason, [DONE], stream_end...) when set. */
  get truncate (): boolean {
    return this.plan.truncate
  }

  /** Send status and headers now: streams flush headers before the first chunk. */
  start (status: number, headers: Record<string, string>): void {
    this.res.writeHead(status, headers)
    this.res.flushHeaders()
  }

  /** Write one chunk. False means stop producing: the client left or the fault reset the socket. */
  async write (chunk: string): Promise<boolean> {
    await sleep(this.chunks === 0 ? this.plan.slowFirstChunkMs : this.chunkDelayMs, this.signal)
    if (this.res.destroyed) return false
    if (this.plan.resetMidStream && this.chunks === 1) {
      await this.writeAndFlush(chunk)
      this.res.socket?.destroy()
      return false
    }
    this.res.write(chunk)
    this.chunks += 1
    return true
  }

  /**
   * A last chunk, then the connection dropped without the terminating chunk: how uvicorn ends
   * a stream whose generator raised after yielding (ai_gateway/chat/agents/react.py).
   */
  async writeThenDrop (chunk: string): Promise<void> {
    if (this.res.destroyed) return
    await this.writeAndFlush(chunk)
    this.res.socket?.destroy()
  }

  end (): void {
    if (!this.res.destroyed) this.res.end()
  }

  /**
   * A whole (non-streamed) body. reset-mid-stream sends half of it under a full
   * content-length then destroys the socket; truncate ends cleanly (chunked) after half;
   * slow-first-chunk sends the headers first.
   */
  async sendWhole (status: number, contentType: string, payload: string): Promise<void> {
    const half = payload.slice(0, Math.ceil(payload.length / 2))
    const headers = { 'content-type': contentType }
    if (this.plan.resetMidStream) {
      this.res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(payload)) })
      await this.writeAndFlush(half)
      this.res.socket?.destroy()
      return
    }
    if (this.plan.truncate) {
      this.res.writeHead(status, headers)
      this.res.end(half)
      return
    }
    if (this.plan.slowFirstChunkMs > 0) {
      this.start(status, headers)
      await sleep(this.plan.slowFirstChunkMs, this.signal)
      this.res.end(payload)
      return
    }
    this.res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(payload)) })
    this.res.end(payload)
  }

  /** Resolve once the chunk reached the kernel, so a following destroy() cannot drop it. */
  private writeAndFlush (chunk: string): Promise<void> {
    return new Promise((resolve) => {
      this.res.once('close', resolve)
      this.res.write(chunk, () => resolve())
    })
  }
}
