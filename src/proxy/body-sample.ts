/**
 * A bounded view of a body as it streams past: the first `headLimit` bytes and the last
 * `tailLimit` bytes, by reference (chunks are never copied on the hot path). Capture parses
 * it later, off the request path; a stream's usage line and `[DONE]` sit in the tail.
 */
export class BodySample {
  readonly head: Buffer[] = []
  headBytes = 0
  tail: Buffer[] = []
  tailBytes = 0
  /** Every byte that went past, sampled or not. */
  total = 0

  constructor (readonly headLimit: number, readonly tailLimit: number) {}

  add (chunk: Buffer): void {
    this.total += chunk.length
    if (this.headBytes < this.headLimit) {
      const room = this.headLimit - this.headBytes
      if (chunk.length <= room) {
        this.head.push(chunk)
        this.headBytes += chunk.length
        return
      }
      this.head.push(chunk.subarray(0, room))
      this.headBytes = this.headLimit
      chunk = chunk.subarray(room)
    }
    if (this.tailLimit === 0) return
    this.tail.push(chunk)
    this.tailBytes += chunk.length
    // Drop whole chunks from the front while the rest still covers the tail window.
    while (this.tail.length > 1 && this.tailBytes - (this.tail[0] as Buffer).length >= this.tailLimit) {
      this.tailBytes -= (this.tail.shift() as Buffer).length
    }
  }

  /** True when the head holds the whole body. */
  get complete (): boolean {
    return this.total === this.headBytes
  }

  headBuffer (): Buffer {
    return this.head.length === 1 ? (this.head[0] as Buffer) : Buffer.concat(this.head, this.headBytes)
  }

  /** The last `tailLimit` bytes (or fewer): from the tail window, else from the head. */
  tailBuffer (): Buffer {
    if (this.tail.length === 0) {
      const head = this.headBuffer()
      return head.length > this.tailLimit ? head.subarray(head.length - this.tailLimit) : head
    }
    const buf = Buffer.concat(this.tail, this.tailBytes)
    return buf.length > this.tailLimit ? buf.subarray(buf.length - this.tailLimit) : buf
  }
}
