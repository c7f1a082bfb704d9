import { setFlagsFromString } from 'node:v8'

/**
 * V8's allocation-site pretenuring off, for every isolate of the process (the flag is global:
 * the capture and query threads are created after this runs). Imported first by main.ts, so it
 * is set before the proxy allocates anything; NODE_OPTIONS refuses this flag, hence code.
 *
 * Why: a few seconds into load, V8 judged two of forwarding's allocation sites long-lived
 * (`--trace-pretenuring-statistics`: "maybe tenure => tenure"; by `--trace-deopt`, in undici's
 * Request constructor and in proxy/headers.ts downstreamResponseHeaders) and allocated their
 * objects straight in the old generation. Their young children then outlive every scavenge
 * through those old, already dead parents until the next mark-compact, are promoted, and fill
 * the old generation again: at 1 000 req/s each scavenge copied ~2 MB instead of ~0.08 MB and
 * paused 6–8 ms instead of 1–2, a mark-compact ran every 2–3 s, and that was the proxy's p99
 * gap to the bare pipe (forwarding only: p99 6.4–6.7 ms against the pipe's 2.9–3.2; with this
 * flag 3.3–3.7). Measured with `--trace-gc-nvp`; the figures are in the README's performance
 * section. The admin API's heap made it happen on every run; any larger heap could. Node
 * documents flag changes after start as use-with-care: this one only steers the GC's
 * heuristics, is read at each scavenge, and test/launch-flags.test.ts checks that it takes effect.
 */
setFlagsFromString('--no-allocation-site-pretenuring')
