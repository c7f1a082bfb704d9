import { setPriority } from 'node:os'

/**
 * Forwarding first (capture.thread_nice): when the proxy has one core (a pinned or CPU-limited
 * container), the calling thread yields it to the thread that forwards traffic. Only on Linux,
 * where nice values are per thread (elsewhere the call would lower the whole process). If capture
 * then falls behind, its bounded queue drops and counts records; traffic is never slowed for it.
 * Not permitted: the thread runs at normal priority.
 */
export function yieldToForwarding (nice: number): void {
  if (process.platform !== 'linux' || nice <= 0) return
  try {
    setPriority(nice)
  } catch {
    // not permitted
  }
}
