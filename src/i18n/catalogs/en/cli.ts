/**
 * cli catalog (en): every line the CLI says to a person — help, usage errors, table headers (with
 * their units), status and progress lines. English is the source: ja (../ja/cli.ts) has the same
 * keys and placeholders ({{name}}). Plurals: `_one` / `_other` with `count`.
 *
 * The proxy's own log lines (pino JSON) are not here: they stay English, beside GitLab's logs.
 */
export const cli = {
  main: {
    help: `duo-diag-proxy {{version}} — diagnostic proxy for GitLab Duo Self-Hosted

Usage: duo-diag-proxy <command> [flags]

Commands:
  start      run the proxy (GitLab -> proxy -> AI gateway, and optionally gateway -> proxy -> model)
  failures   failed exchanges: time, route, correlation id, status, flags, cause
  show       one request across both hops (by exchange id or correlation id), with the waterfall
  tail       live exchanges as they are captured
  summary    totals, error rate, breakdowns, latency percentiles
  export     redacted HAR 1.2 or NDJSON
  purge      delete exchanges (after a customer session)
  doctor     the support playbook's quick checks against a gateway and a model endpoint
  audit      scan the store, exports and logs for token-shaped strings (exit 1 when found)
  replay     resend captured requests to a staging gateway, side by side with the originals
  bundle     a support bundle: redacted HAR, NDJSON, summary, metrics, config, doctor, versions
  demo       a simulated gateway and model, the proxy on both hops, scripted failures: see it work
  logs       import GitLab's llm.log and the AI gateway's logs: diagnosed like captured traffic

Run duo-diag-proxy <command> --help for a command's flags.
  -h, --help       this help
  -v, --version    print the version
  --lang en|ja     messages, help and tables in English or Japanese (every command takes it);
                   else DUO_DIAG_LANG, else the locale: LC_ALL, LC_MESSAGES, LANG (ja_JP.UTF-8: ja)
Exit codes: 0 success, 1 failed checks or an unexpected error, 2 invalid usage or configuration.

Output: tables fit the terminal's width (the widest column is cut with …, optional columns are
left out on narrow terminals); piped or redirected output is never cut unless COLUMNS is set.
Colour on a terminal only; NO_COLOR=1 turns it off, FORCE_COLOR=1 forces it (also into a pipe).
Progress goes to stderr, on a terminal only.
`,
    unknownCommand: 'unknown command "{{name}}"',
    unknownOption: 'unknown option "{{name}}"',
    runHelp: 'Run duo-diag-proxy --help for usage.',
    runCommandHelp: 'Run duo-diag-proxy {{command}} --help for usage.'
  },
  lang: {
    invalid: '--lang: "{{value}}" is not a language with messages; use one of: {{langs}}',
    missing: '--lang needs a value: en or ja'
  },
  didYouMean: ' — did you mean {{name}}?',
  didYouMeanQuoted: ' — did you mean "{{name}}"?',
  list: {
    separator: ', '
  },
  args: {
    unknownOption: 'unknown option {{option}}',
    missingValue: "Option '{{option}} <value>' argument missing",
    noValue: "Option '{{option}}' does not take an argument",
    ambiguousValue: "Option '{{option}}' argument is ambiguous",
    unexpected: "Unexpected argument '{{arg}}'. This command does not take positional arguments"
  },
  help: {
    source: `Where the data comes from:
  --admin URL|HOST:PORT  a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly: a stopped proxy's SQLite file, or the
                         shared PostgreSQL database (postgres://...: every instance's records)
  --json                 JSON for scripts instead of tables
`,
    filter: `Filters:
  --route NAME  --method M  --path PREFIX  --status 404|4xx  --flag F (repeatable: any of)
  --feature F  --correlation-id ID  --since 15m|2h|ISO  --until ...  --min-duration-ms N
  --proxy-instance NAME  (the proxy instance that recorded it, in a shared store)

Query (the arguments, best in single quotes; ANDed with the flags above):
  'flag:timeout feature:chat status:5xx since:1h'   field:value terms side by side are ANDed
  'status:5xx OR flag:timeout'  'NOT route:model'  '-flag:slow'  '(a OR b) c'  'flag:timeout,tls_error'
  fields: route hop method path(prefix) status flag feature correlation_id|cid cause(contains) model
  proxy_instance|instance duration ttfb since until time
  status:404|5xx|400..499|>=500|none  duration:>5s|<=100ms|100ms..2s  ttfb:>1s|none
  since:1h  until:2026-12-07T10:00Z  time:2026-12-07..2026-12-08   bare words: path or cause contains
  "quoted text" for spaces: cause:"not reachable"
`,
    failures: `Usage: duo-diag-proxy failures [QUERY] [filters] [--limit N]

Failed exchanges, newest first: time, route, correlation id, status, flags, cause. Without
--flag, every failure flag counts (client aborts, slow and token predictions do not).

{{filters}}
{{source}}`,
    show: `Usage: duo-diag-proxy show <exchange id | correlation id>

One request across both hops: each exchange's status, flags, cause, evidence and next steps,
the model calls linked under the gateway request, and the waterfall. Log lines imported for it
(duo-diag-proxy logs import: GitLab's llm.log, the AI gateway's logs) are shown with the
proxy's exchanges on one timeline; exchanges reconstructed from logs alone say (from logs).

{{source}}`,
    tail: `Usage: duo-diag-proxy tail [QUERY] [filters]

Live exchanges as they are captured (needs a running proxy). Ctrl-C stops.

{{filters}}
{{source}}`,
    summary: `Usage: duo-diag-proxy summary [QUERY] [filters]

Totals and error rate; counts by route, feature, status, flag and cause; time-to-first-byte and
duration percentiles by route and feature. Default --since 1h.

{{filters}}
{{source}}`,
    export: `Usage: duo-diag-proxy export --format har|ndjson [--out FILE] [QUERY] [filters]

Redacted HAR 1.2 (opens in browser dev tools) or NDJSON, streamed. --out - (default) is stdout.

{{filters}}
{{source}}`,
    purge: `Usage: duo-diag-proxy purge [QUERY] [filters] | --all

Deletes the matching exchanges (after a customer session). Prints how many were removed.

{{filters}}  --all                  everything
{{source}}`,
    start: `Usage: duo-diag-proxy start [flags]

Runs the proxy. Defaults: route gitlab-aigw on 0.0.0.0:5053 -> http://127.0.0.1:5052, admin API
on 127.0.0.1:5099, store ./data/exchanges.db. Point GitLab's AI gateway URL at the proxy's listen
address (and, optionally, a self-hosted model's endpoint at a second route). Traffic is forwarded
unchanged; each exchange is recorded, redacted the way GitLab redacts its logs, and queryable at
http://127.0.0.1:5099/api/exchanges.

Flags (each overrides the config file and DUO_DIAG_* environment variables):
  --config FILE          YAML configuration (see config/default.yaml); also DUO_DIAG_CONFIG
  --listen HOST:PORT     listen address of the one-route quick form      [0.0.0.0:5053]
  --upstream URL         upstream of the one-route quick form            [http://127.0.0.1:5052]
  --route NAME[:HOP]=LISTEN=UPSTREAM
                         add a route, e.g. model=127.0.0.1:5054=http://127.0.0.1:8000;
                         HOP is gateway, model or auto (by path); a route named model or
                         gateway sits on that hop, e.g. vllm:model=0.0.0.0:5054=http://vllm:8000
                         (repeatable; flags-defined routes replace the file's routes)
  --admin HOST:PORT|URL  admin/query API address (or http://HOST:PORT), or "off" [127.0.0.1:5099]
  --admin-token TOKEN    require "Authorization: Bearer TOKEN" on the admin API (needed to
                         bind it to a non-loopback address); also DUO_DIAG_ADMIN__TOKEN
  --db PATH|URL          the store: a SQLite file (or sqlite:PATH, :memory:), or a shared
                         PostgreSQL database postgres://user:pass@host:5432/db [./data/exchanges.db]
  --proxy-instance NAME  this proxy's name in its records (several share one PostgreSQL store)
                                                                         [the host name]
  --capture-bodies       verbose capture: keep prompt and completion text (secrets are still
                         redacted). Off by default, like GitLab's verbose AI logging.
  --no-capture           forward only, record nothing (a kill switch; the benchmark baseline)
  --ca-file FILE         extra CA bundle (PEM) trusted for https upstreams
  --insecure-skip-verify do not verify upstream TLS certificates (logged loudly; staging only)
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent         [info]

While reproducing a problem (each applies to every route):
  --connect-timeout D    upstream TCP + TLS handshake (500ms, 10s, 2m)    [10s]
  --headers-timeout D    request sent -> upstream response headers        [90s]
  --body-timeout D       longest silence between two response chunks      [90s]
  --slow-ttfb D          flag \`slow\` past this time to first byte          [15s]
  --slow-duration D      flag \`slow\` past this duration                    [30s]
  --max-body SIZE        larger request bodies get 413 (bytes, 512KiB, 64MiB) [64MiB]
  --faults / --no-faults fault injection on or off (staging only)
  --set KEY=VALUE        any configuration key, e.g. --set store.flush_interval_ms=10,
                         --set routes.0.timeouts.connect_ms=5000 (value read as YAML; repeatable)

Once started, each route's upstream is tried once (a TCP connect, in the background): when it
does not answer, a warning says so in plain words (also on stderr, on a terminal).

Stopping: SIGTERM/SIGINT lets in-flight exchanges finish (shutdown_grace_ms, 10 s) and writes
every record. A second signal stops waiting (those exchanges are cut and recorded as aborted,
every record is still written); a third exits at once.

Environment: DUO_DIAG_<SECTION>__<KEY>, nested with "__" like the AI gateway's AIGW_* variables,
e.g. DUO_DIAG_STORE__PATH=/data/x.db, DUO_DIAG_CAPTURE__BODIES=true, DUO_DIAG_PROXY_INSTANCE=aigw-0,
DUO_DIAG_ROUTES__0__UPSTREAM=https://aigw.example.com.
`,
    doctor: `Usage: duo-diag-proxy doctor [--gateway URL] [--model URL] [flags]

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
`,
    audit: `Usage: duo-diag-proxy audit [--db FILE]... [--file EXPORT]... [--dir DIR]...

Scans the store (and exports, logs, bundles) for token-shaped strings that should never be
there: JWTs, glpat-/gldt-/... GitLab tokens, sk- keys, bearer and basic credentials, AWS keys,
private keys. Prints the record ids (never the secrets) and exits 1 when anything is found.

  --db FILE|URL  a store: a SQLite file, or a PostgreSQL database (postgres://...)
                 [./data/exchanges.db when nothing else is given]
  --file FILE    a HAR / NDJSON export or a log
  --dir DIR      every *.db, *.har, *.ndjson, *.json, *.log below DIR
  --json         JSON output
`,
    replay: `Usage: duo-diag-proxy replay <exchange id> | --correlation-id ID | --har FILE  --target URL [flags]

Resends captured requests to a staging AI gateway or model server (or a proxy route in front of
one) and prints original and replay side by side: status, flags, cause, timings.

  <exchange id>          one exchange
  --correlation-id ID    every gateway-hop exchange of that request (all its exchanges if none is)
  --har FILE             every entry of a HAR written by duo-diag-proxy export
  --target URL           where to send them, e.g. http://staging-aigw:5052; its path prefixes each request's
  --header 'N: V'        add or replace a request header (repeatable): staging credentials
  --model-endpoint URL   point the body's model endpoint at a staging model server
  --timing               start each replay at its original's offset from the first, print the
                         original time to first byte and receive time next to the replay's, and
                         when --admin is a staging proxy with fault injection enabled, have it
                         delay each replay by its original's time to first byte
  --timeout-ms N         connect, response headers and body silence, each [90000]
  --ca-file FILE         extra CA bundle (PEM) to trust for an https target
  --json                 JSON output

What is sent: the same method, path and query (query and path values redacted at capture stay
"[FILTERED]"), the original request headers without credentials (capture only kept their
fingerprints; give staging ones with --header), a fresh X-Request-ID replay-<correlation id>-<n>,
and x-duo-diag-replay-of: <original exchange id>. The body is the captured one when the proxy ran
with verbose capture (JSON re-serialised), else synthesized: the shape the record keeps (every
key, the type of every value; generation parameters, roles and model names as sent) at the
original's size, with placeholder text; the output says which.

Where the originals come from (not needed with --har):
  --admin URL|HOST:PORT  a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly (a stopped proxy's SQLite file, or postgres://...)

Where the replays are recorded: a proxy in front of --target records each one (meta.replay_of);
the admin API (--admin, or the default one when the originals come from it) is searched for that
record. A replay no proxy recorded is recorded there, in the originals' store, as a new exchange
linked to its original (meta.replay_of, meta.reported_by: replay), redacted and diagnosed like
live traffic; credentials sent are only fingerprinted. Either way the replay's flags and cause
are the record's. With --db or --har and no --admin, nothing is recorded: they are derived from
the response.

Exit code 0 when every replay was answered (whatever its status), 1 when the target could not
be reached or the originals were not found, 2 on usage errors.
`,
    bundle: `Usage: duo-diag-proxy bundle [--since 24h] [--out FILE] [--admin URL | --db FILE] [flags]

A support bundle to hand over: a gzipped tar holding exchanges.har (redacted HAR 1.2),
exchanges.ndjson, summary.json and summary.txt, metrics.txt (a /metrics snapshot; not with --db),
config.json (the effective configuration, secrets masked), doctor.json (with --gateway/--model),
version.json and a README.txt saying what each file is. Every file is scanned for token-shaped
strings first (duo-diag-proxy audit): when anything is found, nothing is written and the exit
code is 1, naming the file and record.

  --out FILE             the archive [duo-diag-bundle-<time>.tar.gz]
  --since 24h|ISO        exchanges since [24h]
  --until 15m|ISO        and until
  --route NAME           one route only
  --config FILE          the proxy's configuration file (else DUO_DIAG_CONFIG); DUO_DIAG_* applies
  --gateway URL          run doctor against the AI gateway, e.g. http://aigw:5052
  --model URL            run doctor against the model endpoint, e.g. http://vllm:8000/v1
  --model-name NAME      the model identifier configured in GitLab (doctor)
  --ca-file FILE         extra CA bundle (PEM) for doctor's TLS checks
  --json                 JSON output

Where the data comes from:
  --admin URL|HOST:PORT  a running proxy's admin API [http://127.0.0.1:5099]
  --admin-token TOKEN    its token (or DUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          read the store directly (a stopped proxy's SQLite file, or postgres://...)
`,
    demo: `Usage: duo-diag-proxy demo [flags]

Shows what the proxy does in under a minute, without a GitLab instance. Starts, on 127.0.0.1:
a simulated vLLM model server, a simulated AI gateway (the 2025 line, GitLab JWT auth on), a
second gateway behind a self-signed certificate, and the proxy in front of them (routes
{{gateway}}, {{model}}, {{tls}}, and {{down}} to a port nothing listens on).
Then sends GitLab-shaped traffic through both hops — healthy code completions and chat streams,
an expired token (401), a model endpoint missing /v1 and an unknown model (the gateway's bare
500, the model's 404), a model that times out on Duo Chat (every retry, then the error line), a
hung gateway, the self-signed gateway, the gateway down, a chat stream the IDE cancels — prints
the summary and the failures table from the admin API, and leaves everything up until Ctrl-C.

  --admin HOST:PORT|URL     admin/query API address (or http://HOST:PORT)  [127.0.0.1:5099]
  --listen HOST:PORT        the {{gateway}} route (GitLab -> proxy -> gateway)  [127.0.0.1:0]
  --model-listen HOST:PORT  the {{model}} route (gateway -> proxy -> model)         [127.0.0.1:0]
  --db PATH                 SQLite store file to keep        [a temporary file, removed on exit]
  --once                    exit after printing, for CI and tests (exit code 1 when a
                            scripted failure was not recorded with its flag)
`
  },
  columns: {
    time: 'time',
    route: 'route',
    correlationId: 'correlation id',
    status: 'status',
    method: 'method',
    path: 'path',
    durationMs: 'duration ms',
    ttfbMs: 'ttfb ms',
    flags: 'flags',
    cause: 'cause',
    request: 'request',
    feature: 'feature',
    flag: 'flag',
    count: 'count',
    ttfbP50Ms: 'ttfb p50 ms',
    durationP50Ms: 'duration p50 ms',
    p95Ms: 'p95 ms',
    p99Ms: 'p99 ms',
    source: 'source',
    file: 'file',
    record: 'record',
    kind: 'kind',
    startsWith: 'starts with'
  },
  admin: {
    notHttp: '{{flag}}: "{{value}}" is not an http(s) URL',
    notAddress: '{{flag}}: "{{value}}" is neither a URL nor HOST:PORT (e.g. http://127.0.0.1:5099 or 127.0.0.1:5099)'
  },
  client: {
    unreachable: "cannot reach the admin API at {{base}} ({{error}}): is the proxy running? Use --db FILE to read a stopped proxy's store",
    unreachableBare: 'cannot reach the admin API at {{base}} ({{error}})',
    answered: 'admin API answered {{status}}: {{message}}',
    tailNeedsAdmin: 'tail needs a running proxy (--admin URL), not --db'
  },
  filter: {
    unknownFlag: '--flag: unknown flag "{{flag}}"{{hint}} (see the README\'s flag table)',
    invalidQuery: 'invalid query: {{message}}'
  },
  failures: {
    badLimit: '--limit: a whole number from 1 to 1000',
    none: 'No failures.',
    noneSince: 'No failures since {{since}}.',
    noneQuery: 'No failures matching the query.',
    noneSinceQuery: 'No failures since {{since}} matching the query.',
    notShown: '(not shown at {{width}} columns: {{columns}}; --json has every field)'
  },
  show: {
    oneKey: 'show takes one exchange id or correlation id',
    notFound: 'no exchange or correlation id "{{key}}"'
  },
  trace: {
    correlationId: 'correlation id {{id}}',
    rootCause: 'root cause: {{cause}} (exchange {{id}}, route {{route}})',
    attempt: 'attempt {{n}}: ',
    noResponse: 'no response',
    timing: 'ttfb {{ttfb}} ms, total {{total}} ms',
    timingNoTtfb: 'ttfb - ms, total {{total}} ms',
    linked: '  (linked: {{method}}, confidence {{confidence}})',
    flags: 'flags: {{flags}}',
    cause: 'cause: {{cause}}',
    causeCode: 'cause [{{code}}]: {{cause}}',
    evidence: 'evidence: {{text}}',
    next: 'next: {{text}}',
    waterfall: 'waterfall (ms from the first event):',
    fromLogs: '  (from logs)',
    logsOnly: 'no exchange through the proxy: only imported log lines',
    timeline: 'timeline (UTC, {{date}}): GitLab and AI gateway log lines, and the proxy\'s exchanges',
    severalDays: 'several days',
    timelineTruncated: '  (the first {{count}} log lines: GET /api/log-events?correlation_id= has every one)',
    columns: {
      time: 'time',
      source: 'source',
      level: 'level',
      message: 'message'
    },
    // Who wrote a timeline row: the log's writer (src/logs/event.ts LogSource), or the proxy.
    source: {
      gitlab_llm: 'GitLab llm.log',
      gitlab_request: 'GitLab Rails',
      gateway: 'AI gateway',
      gateway_text: 'AI gateway',
      proxy: 'proxy',
      reconstructed: 'from logs'
    },
    // The waterfall's events: in English, their names as the API reports them.
    event: {
      gitlab_sent: 'gitlab_sent',
      gateway_request_received: 'gateway_request_received',
      gateway_first_byte: 'gateway_first_byte',
      gateway_failed: 'gateway_failed',
      gateway_done: 'gateway_done',
      model_request_received: 'model_request_received',
      model_first_byte: 'model_first_byte',
      model_failed: 'model_failed',
      model_done: 'model_done'
    }
  },
  tail: {
    noRoute: '--route: this proxy has no route "{{route}}"{{hint}} (its routes: {{routes}})',
    started: 'tailing live exchanges (Ctrl-C stops)',
    dropped_one: '(this terminal fell behind: the proxy skipped {{count}} exchange)',
    dropped_other: '(this terminal fell behind: the proxy skipped {{count}} exchanges)'
  },
  summary: {
    head: 'since {{since}}: {{total}} exchanges, {{failed}}',
    headAll: 'since the beginning: {{total}} exchanges, {{failed}}',
    failed: '{{errors}} failed ({{rate}}%)'
  },
  export: {
    badFormat: '--format: har or ndjson, not "{{format}}"{{hint}}',
    progress: 'exporting {{format}}: {{size}}',
    wrote_one: 'wrote {{count}} exchange as {{format}} ({{size}}) to {{dest}}',
    wrote_other: 'wrote {{count}} exchanges as {{format}} ({{size}}) to {{dest}}',
    stdout: 'stdout'
  },
  purge: {
    needFilter: 'give at least one filter, or --all',
    removed: 'removed {{removed}} exchanges'
  },
  doctor: {
    needTarget: 'doctor needs --gateway URL and/or --model URL',
    badTimeout: '--timeout-ms: a whole number from 100 to 120000',
    and: ' and ',
    checking: 'checking {{targets}}',
    checkingDone: 'checking {{targets}}: {{done}} done',
    someFailed: 'Some checks failed.',
    allPassed: 'All checks passed.'
  },
  start: {
    adminNotAddress: '--admin: "{{value}}" is neither HOST:PORT nor a URL',
    adminNotHttp: '--admin: "{{value}}": the admin API serves plain http; give HOST:PORT or http://HOST:PORT',
    adminPath: '--admin: "{{value}}": a listen address is a host and a port, with no path',
    firstStart: ' (first start: creating it)',
    starting_one: 'starting: {{count}} route, store {{store}}',
    starting_other: 'starting: {{count}} routes, store {{store}}',
    listening: 'route {{route}}: listening on {{address}} -> {{upstream}}',
    admin: 'admin API: http://{{address}} (duo-diag-proxy failures, tail, summary read it)',
    ready: 'ready; Ctrl-C stops',
    warning: 'warning',
    upstreamProblem: 'route {{route}} -> {{upstream}}: {{problem}}'
  },
  upstream: {
    refusedGateway: 'nothing listens on {{address}} — is the AI gateway running?',
    refusedModel: 'nothing listens on {{address}} — is the model server running?',
    notResolved: 'the name {{host}} does not resolve',
    noAnswer: '{{address}} does not answer (firewall?)',
    unreachable: '{{address}} cannot be reached ({{code}})'
  },
  audit: {
    cannotRead: 'cannot read: {{message}}',
    clean: 'audit: {{scanned}} file(s) scanned, no token-shaped strings found',
    found: 'audit: {{findings}} finding(s) in {{scanned}} file(s)'
  },
  bundle: {
    adminOrDb: 'give --admin URL or --db FILE, not both',
    collecting: 'collecting exchanges, summary, config from {{from}}',
    collectingMetrics: 'collecting exchanges, summary, metrics, config from {{from}}',
    collectingDoctor: 'collecting exchanges, summary, config and doctor checks from {{from}}',
    collectingMetricsDoctor: 'collecting exchanges, summary, metrics, config and doctor checks from {{from}}',
    auditing: 'auditing {{files}} files for token-shaped strings',
    refused: 'refused',
    refusedWhy: 'the secret audit found {{findings}} token-shaped string(s); nothing was written',
    refusedNext: 'Purge or fix those records (duo-diag-proxy purge, or a narrower --since/--route), then bundle again.',
    writing: 'writing {{file}}',
    wrote_one: 'wrote {{file}} ({{count}} exchange, {{files}} files, {{size}}; unpacks into {{folder}}/)',
    wrote_other: 'wrote {{file}} ({{count}} exchanges, {{files}} files, {{size}}; unpacks into {{folder}}/)',
    report: 'bundle: {{exchanges}} exchange(s) since {{since}}, from {{from}}',
    reportRoute: 'bundle: {{exchanges}} exchange(s) since {{since}} on route {{route}}, from {{from}}',
    omitted: 'not included: {{why}}',
    audited: 'audit: {{files}} files scanned, no token-shaped strings found',
    // Why a file was left out. Said on the terminal in the command's language; README.txt (and
    // every file of the bundle) says it in English: the bundle goes to GitLab support.
    omit: {
      metricsFromDb: 'made from a store file (--db): metrics live in a running proxy (GET /metrics on its admin API)',
      metricsStatus: 'GET {{url}}/metrics answered {{status}}',
      metricsFailed: 'GET {{url}}/metrics failed: {{error}}'
    }
  },
  replay: {
    oneId: 'replay takes one exchange id (or --correlation-id, or --har)',
    exactlyOne: 'give exactly one of: an exchange id, --correlation-id ID, --har FILE',
    needTarget: '--target URL is required (the staging gateway or model server)',
    dbOrHar: '--db and --har both name where the originals are: give one',
    badHeader: '--header "{{value}}": expected \'Name: value\'',
    badTimeout: '--timeout-ms: a whole number from 100 to 3600000',
    notUrl: '{{flag}}: "{{value}}" is not a URL',
    noExchangeId: 'no exchange with id "{{id}}"',
    noExchangeHar: 'no exchange in {{file}}',
    noExchangeCorrelation: 'no exchange with correlation id "{{id}}"',
    notAnswered: '{{unreached}} of {{total}} not answered: {{target}} could not be reached ({{code}})',
    har: {
      notJson: '--har {{file}}: cannot be read as JSON ({{error}})',
      notHar: '--har {{file}}: not a HAR file (no log.entries)',
      noUrl: 'HAR entry {{n}}: no request.url',
      badUrl: 'HAR entry {{n}}: request.url "{{url}}" is not a URL'
    },
    // What was sent as the body (src/replay/body.ts, synthesize.ts).
    detail: {
      noBody: 'no body',
      captured: 'captured body (verbose capture)'
    },
    why: {
      notCaptured: 'bodies were not captured (verbose capture off)',
      truncated: 'the captured body was cut at the capture bound',
      binary: 'a binary body is kept as its size only'
    },
    shape: {
      recorded: "the original's recorded shape ({{fields}} fields)",
      recordedCut: "the original's recorded shape ({{fields}} fields, deeper parts cut at capture)",
      codeCompletion: 'code completion (current_file)',
      codeGeneration: 'code generation (current_file)',
      promptComponents: '{{type}} (prompt_components)',
      chatMessages: 'chat (messages)',
      chatPromptComponents: 'chat (prompt_components)',
      promptInputs: 'prompt (inputs)',
      openaiChat: 'OpenAI chat (messages)',
      openaiCompletion: 'OpenAI completion (prompt)',
      openaiEmbeddings: 'OpenAI embeddings (input)',
      unknownJson: 'unknown endpoint: JSON placeholder',
      unknownText: 'unknown endpoint: text placeholder'
    },
    // Notes under a replay (src/replay/body.ts, run.ts, timing-faults.ts).
    note: {
      endpointReplaced: 'model endpoint replaced by {{url}} (--model-endpoint)',
      filteredBody: 'values redacted at capture (secret-named keys such as model_api_key) are sent as "[FILTERED]"',
      synthesized: 'body synthesized: {{why}}',
      filteredQuery: 'query/path values redacted at capture are sent as "[FILTERED]"',
      droppedCredentials: "credentials redacted at capture were not sent: {{headers}} (--header 'Name: value' supplies staging ones)",
      delayed: "the staging proxy delayed this replay by the original's time to first byte ({{ms}} ms, fault rule {{rule}})",
      faultsOff: 'fault injection is off on the staging proxy (faults.enabled): the original time to first byte was not reproduced',
      faultRefused: 'the staging proxy refused the timing rule ({{status}}: {{text}})',
      faultUnreachable: 'cannot install the timing rule on {{base}} ({{error}})',
      recordsNotRead: 'replay records not read from --admin: {{error}}',
      notRecorded: 'not recorded: --admin (the proxy whose store holds the original) records a replay no proxy in front of --target did; flags derived from the response',
      notRecordedAt: 'not recorded at --admin ({{error}}): flags derived from the response'
    },
    // A replay's cause when no record diagnosed it: derived from the response (src/replay/outcome.ts).
    cause: {
      notAnswered: 'not answered: {{error}}',
      cutOff: 'cut off after the headers: {{code}}',
      answered: 'answered: {{answer}}',
      streamError: 'stream error: {{error}}',
      faultInjected: 'fault injected: {{fault}}',
      both: '{{first}}; {{second}}'
    },
    // The side-by-side output (src/replay/render.ts).
    render: {
      ms: '{{ms}} ms',
      offset: '+{{ms}} ms',
      notRecorded: 'not recorded',
      chunks: '{{chunks}} (longest gap {{gap}})',
      bytes: '{{bytes}} bytes',
      bytesChunks_one: '{{bytes}} bytes, {{count}} chunk',
      bytesChunks_other: '{{bytes}} bytes, {{count}} chunks',
      label: {
        original: 'original',
        replay: 'replay',
        body: 'body',
        error: 'error'
      },
      row: {
        start: 'start',
        status: 'status',
        flags: 'flags',
        cause: 'cause',
        ttfb: 'ttfb',
        receive: 'receive',
        chunks: 'chunks',
        duration: 'duration',
        response: 'response'
      },
      column: {
        original: 'original',
        replay: 'replay'
      },
      sourceProxy: ' (as recorded by the proxy)',
      sourceReport: " (as recorded in the originals' store)",
      recordedReport: "(no proxy recorded it: recorded in the originals' store as {{id}})",
      recordedProxy: '(recorded there as {{id}}, route {{route}})',
      bodyNone: 'none',
      body: '{{mode}}: {{detail}}, {{bytes}} bytes (original {{original}})',
      mode: {
        exact: 'exact',
        synthesized: 'synthesized'
      },
      originalLine: '{{id}}  correlation {{correlation}}  route {{route}}  {{time}}',
      note: 'note: {{text}}',
      summary: '{{total}} replayed to {{target}}: {{answered}} answered, {{unreached}} not answered.',
      timing: "Timing: each replay started at its original's offset; its time to first byte is reproduced by the staging proxy's fault injection when --admin points at one with faults enabled. Chunk gaps are not recorded (only ttfb and duration).",
      records: "Their records, by X-Request-ID (on the proxy in front of the target, or the originals' when none was): duo-diag-proxy show {{id}}{{more}}"
    }
  },
  demo: {
    adminOff: '--admin: the demo reads its results from the admin API; it cannot be off',
    pickAnother: '; pick another address, e.g. --admin 127.0.0.1:0',
    title: 'duo-diag-proxy demo: simulated GitLab Duo traffic through the proxy, on both hops',
    modelServer: 'model server (vLLM-like)',
    gateway: 'AI gateway (JWT auth)',
    tlsGateway: 'AI gateway, self-signed',
    proxy: 'proxy',
    admin: 'admin API',
    toGateway: '{{url}} -> AI gateway (headers timeout {{seconds}} s)',
    toModel: "{{url}} -> model server (GitLab's model endpoint: {{url}}/v1)",
    toTlsGateway: '{{url}} -> self-signed AI gateway',
    traffic: 'Traffic (what the client saw):',
    staysUp: 'Everything stays up until Ctrl-C.',
    stopping: 'Stopping...',
    // The scripted traffic (src/demo/traffic.ts): each scenario's name, and what the client saw.
    scenario: {
      codeCompletion: 'code completion',
      codeCompletionStreamed: 'code completion, streamed',
      chatStream: 'Duo Chat stream',
      expiredToken: 'expired GitLab token (401)',
      missingV1: 'model endpoint without /v1',
      unknownModel: 'unknown model (identifier typo)',
      modelTimeout: 'model timeout (Duo Chat)',
      gatewayHangs: 'gateway hangs (headers timeout)',
      gatewayDown: 'gateway down (connection refused)',
      selfSigned: 'self-signed gateway certificate',
      chatCancelled: 'chat stream cancelled by the IDE'
    },
    result: {
      fromProxy: '{{status}} from the proxy ({{flag}})',
      chat: '{{status}}: {{chat}}',
      dropped: '{{status}}, dropped',
      chatError: 'error "{{error}}"',
      noLines: 'no lines',
      thenDropped: '{{lines}}, then dropped',
      hungUp_one: '{{status}}, hung up after {{count}} chunk',
      hungUp_other: '{{status}}, hung up after {{count}} chunks',
      notAborted: '{{status}}, not aborted (the stream ended first)',
      clientError: 'client error: {{message}}'
    },
    // What the proxy made of it (src/demo/report.ts).
    summary: 'Summary: {{total}} exchanges recorded ({{gateway}} on the gateway hop, {{model}} on the model hop); {{clean}} clean, {{flagged}} flagged.',
    column: {
      flag: 'FLAG',
      exchanges: 'EXCHANGES',
      timeUtc: 'TIME (UTC)',
      route: 'ROUTE',
      correlationId: 'CORRELATION ID',
      status: 'STATUS',
      flags: 'FLAGS',
      cause: 'CAUSE',
      scenario: 'SCENARIO'
    },
    failures: 'Failures:',
    proxyAnswered: 'proxy',
    checkOk: 'ok',
    checkMissing: 'MISSING',
    allRecorded: 'Every scripted failure was recorded with its flag ({{checks}} checks).',
    notRecorded: '{{missing}} of {{total}} scripted failures were NOT recorded with their flag.',
    openView: 'Open the browser view: {{url}}',
    explore: 'Explore (jq optional):',
    exploreOnce: 'Explore (with --once everything stops now: run the demo without it to try these):',
    commentMissingV1: 'the missing /v1 request on both hops',
    commentModelTimeout: 'the chat whose model timed out: every retry',
    sendYourOwn: 'Send your own (x-sim-fault: hang, reset-mid-stream, truncate, status:CODE, delay-headers:MS, ...):',
    proxyLog: 'Proxy log: {{file}}',
    proxyLogRemoved: 'Proxy log: {{file}} (removed on exit)'
  },
  logs: {
    help: `Usage: duo-diag-proxy logs import [--db FILE|URL] [--config FILE] [--follow] <file>... | -

Reads the logs people already have and diagnoses them like captured traffic: GitLab's llm.log
(Gitlab::Llm::Logger), production_json.log and api_json.log lines, and the AI gateway's logs
(JSON lines, docker logs / kubectl logs output with or without timestamps, plain-text lines and
tracebacks, litellm's messages). Each file is recognised by its content, not its name; gzip is
unpacked. Every line is redacted like captured traffic (prompt-bearing fields only when
capture.bodies is on) and kept beside the exchanges of its correlation id, which is diagnosed
again: an exchange the proxy captured gets the logs' evidence, and one the proxy never saw is
reconstructed from the logs and marked so. Importing the same lines again adds nothing. Then
duo-diag-proxy show <correlation id> shows the log lines and the exchanges on one timeline.

  --db FILE|URL   the store [the configuration's store.path, ./data/exchanges.db]
  --config FILE   the proxy's configuration (else DUO_DIAG_CONFIG): store, capture.bodies,
                  redaction rules; DUO_DIAG_* applies
  -f, --follow    keep reading one file as it grows (like tail -f; also after rotation), or
                  stdin (docker logs -f aigw | duo-diag-proxy logs import --follow -); each
                  second, what arrived is stored and diagnosed. Ctrl-C stops
  --json          the import's counts and the failing correlation ids as JSON
`,
    unknownSubcommand: 'unknown logs subcommand "{{name}}": use logs import <file>...',
    noFiles: 'logs import needs at least one file (or - for stdin)',
    followOne: '--follow reads one file (or - for stdin)',
    stdinOnce: '- (stdin) can be named once',
    notFile: '{{file}}: not a file',
    cannotRead: '{{file}}: cannot be read ({{error}})',
    importing_one: 'importing {{files}} file',
    importing_other: 'importing {{files}} files',
    following: 'following {{file}} (Ctrl-C stops)',
    read: '{{lines}} lines read: {{events}} log events, {{fresh}} new, {{duplicates}} already imported',
    notKept: 'not kept: {{unknown}} unrecognised lines, {{tooLong}} too long, {{skipped}} health probes',
    diagnosed: '{{traces}} correlation ids diagnosed: {{reconstructed}} exchanges reconstructed from the logs, {{updated}} recorded exchanges updated',
    fromLogs: '(from logs)',
    olderThanRetention: 'note: lines from {{oldest}} on are older than store.retention.max_age_hours ({{hours}} h): a running proxy on this store removes them, and what was reconstructed from them, at its next retention pass. Import old logs into a store of their own (--db FILE), or raise max_age_hours.',
    next: 'Next: {{command}}',
    source: {
      gitlab_llm: 'llm.log',
      gitlab_request: 'GitLab request log',
      gateway: 'AI gateway (JSON)',
      gateway_text: 'AI gateway (text)'
    }
  }
}
