/**
 * Plain-text lines of the AI gateway's container output folded into records: a ConsoleRenderer
 * event with its multi-line message or traceback, litellm's debug lines with their request
 * dump, litellm's `Give Feedback / Get Help` print, uvicorn's own lines, run.sh's echo, and a
 * Python traceback together with the line before it (docs/log-formats.md §3.6). A record is cut
 * at LOG_LIMITS.recordLines lines; a line that starts nothing and continues nothing is unknown.
 */
import { LOG_LIMITS } from './event.js'
import { isConsoleHead } from './parse-console.js'

export type TextRecordType = 'console' | 'litellm_debug' | 'litellm_feedback' | 'uvicorn' | 'runsh' | 'traceback'

export interface TextRecord {
  type: TextRecordType
  /** The record's text as read (cleaned lines joined by \n), at most LOG_LIMITS.recordChars. */
  text: string
  firstLine: number
  /** The runtime's timestamp on the record's first line. */
  prefixTime: string | null
  /** The first line is a line no parser knew, kept because a traceback followed it. */
  leadLine: boolean
}

export type TextOutcome = { record: TextRecord } | { unknown: number } | { skipped: number }

export interface CleanedLine {
  text: string
  number: number
  prefixTime: string | null
}

interface OpenRecord {
  type: TextRecordType
  lines: string[]
  chars: number
  count: number
  firstLine: number
  prefixTime: string | null
  leadLine: boolean
  /** The message is not finished: any line that starts no record belongs to it. */
  messageOpen: boolean
  /** Inside a traceback: indented frames, chained-exception lines, the exception line. */
  inTraceback: boolean
}

const TRACEBACK = 'Traceback (most recent call last):'
const LITELLM_DEBUG = /^\d\d:\d\d:\d\d - LiteLLM(?: [A-Za-z]{1,20})?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\b/
const LITELLM_FEEDBACK = /^Give Feedback \/ Get Help: /
const LITELLM_INFO = /^LiteLLM\.Info: /
const UVICORN = /^(?:INFO|WARNING|ERROR|DEBUG|CRITICAL|TRACE):(?: +\S|[\w.]{1,100}:)/
const RUNSH = /^(?:Running single service with exec\.\.\.|Storing multiprocess metrics in )/
const CHAINED = /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)$/
const EXCEPTION_LINE = /^[A-Za-z_][\w.]{0,200}(?::(?: .*)?)?$/
const LOGGER_LINE = /^ \[[A-Za-z_][\w.]{0,100}\](?: |$)/
const LOGGER_MARKER = / \[[A-Za-z_][\w.]{0,100}\](?: |$)/

type Head = TextRecordType | 'litellm_info'

function headOf (text: string): Head | null {
  if (text.startsWith(TRACEBACK)) return 'traceback'
  if (isConsoleHead(text)) return 'console'
  if (LITELLM_DEBUG.test(text)) return 'litellm_debug'
  if (LITELLM_FEEDBACK.test(text)) return 'litellm_feedback'
  if (LITELLM_INFO.test(text)) return 'litellm_info'
  if (UVICORN.test(text)) return 'uvicorn'
  if (RUNSH.test(text)) return 'runsh'
  return null
}

export class TextRecordAssembler {
  private open: OpenRecord | null = null
  /** An unknown line held back: it leads a traceback if one follows. */
  private pending: CleanedLine | null = null

  line (line: CleanedLine, out: TextOutcome[]): void {
    const { text } = line
    if (this.open !== null && this.open.count >= LOG_LIMITS.recordLines) this.emit(out)
    if (text.trim() === '') {
      if (this.open !== null && (this.open.messageOpen || this.open.inTraceback)) this.append(text)
      else {
        this.dropPending(out)
        out.push({ skipped: 1 })
      }
      return
    }
    const head = headOf(text)
    if (head === 'traceback') {
      if (this.open === null) {
        const lead = this.pending
        this.pending = null
        if (lead === null) this.start('traceback', line)
        else {
          this.start('traceback', lead, true)
          this.append(text)
        }
      } else this.append(text)
      this.open!.messageOpen = false
      this.open!.inTraceback = true
      return
    }
    if (head === 'litellm_info' && this.open?.type === 'litellm_feedback' && this.open.count === 1) {
      this.append(text)
      return
    }
    if (head !== null) {
      this.flush(out)
      this.start(head === 'litellm_info' ? 'litellm_feedback' : head, line)
      return
    }
    if (this.open !== null && this.continues(this.open, text)) {
      this.append(text)
      return
    }
    this.flush(out)
    this.pending = line
  }

  /** Ends what is open: before a JSON line, and at the end of the input. */
  flush (out: TextOutcome[]): void {
    this.emit(out)
    this.dropPending(out)
  }

  private continues (open: OpenRecord, text: string): boolean {
    if (open.messageOpen) {
      // ` [logger] k=v…` ends a console message that ran over lines.
      if (open.type === 'console' && LOGGER_LINE.test(text)) {
        open.messageOpen = false
        open.inTraceback = text.endsWith(`=${TRACEBACK}`)
      }
      return true
    }
    if (open.inTraceback) return /^\s/.test(text) || CHAINED.test(text) || EXCEPTION_LINE.test(text)
    return false
  }

  private start (type: TextRecordType, line: CleanedLine, leadLine = false): void {
    const text = line.text
    this.open = {
      type,
      lines: [],
      chars: 0,
      count: 0,
      firstLine: line.number,
      prefixTime: line.prefixTime,
      leadLine,
      messageOpen: type === 'litellm_debug' || (type === 'console' && !LOGGER_MARKER.test(text)),
      inTraceback: type === 'traceback' || text.endsWith(`=${TRACEBACK}`)
    }
    this.append(text)
  }

  private append (text: string): void {
    const open = this.open!
    open.count++
    if (open.chars >= LOG_LIMITS.recordChars) return
    const kept = text.length + open.chars > LOG_LIMITS.recordChars ? text.slice(0, LOG_LIMITS.recordChars - open.chars) : text
    open.lines.push(kept)
    open.chars += kept.length + 1
  }

  private emit (out: TextOutcome[]): void {
    const open = this.open
    if (open === null) return
    this.open = null
    let end = open.lines.length
    while (end > 1 && open.lines[end - 1]!.trim() === '') end--
    out.push({ record: { type: open.type, text: open.lines.slice(0, end).join('\n'), firstLine: open.firstLine, prefixTime: open.prefixTime, leadLine: open.leadLine } })
  }

  private dropPending (out: TextOutcome[]): void {
    if (this.pending === null) return
    this.pending = null
    out.push({ unknown: 1 })
  }
}
