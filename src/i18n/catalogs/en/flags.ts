/**
 * Flags catalog (en): what each flag of the vocabulary (src/diagnosis/flags.ts) means. Keys are
 * the flag names: add, never rename. Placeholders ({{name}}) are the same in every language.
 */
export const flags = {
  // From the upstream's status.
  unauthorized: '401 from upstream: the caller was not authenticated',
  forbidden: '403 from upstream: authenticated but not allowed (seat, license, scope)',
  not_found: '404 from upstream: wrong path, often a model URL missing /v1, or an unknown model',
  rate_limited: '429 from upstream',
  model_error: "the gateway's 421: the model behind it returned an error",
  upstream_error: '5xx from upstream, or a transport failure with no more specific flag',
  client_error: 'another 4xx from upstream',
  // Transport: the proxy got no (complete) response.
  connection_refused: 'nothing accepted the TCP connection at the upstream address',
  network_unreachable: 'no route to the upstream host (network or firewall)',
  dns_failure: 'the upstream host name did not resolve',
  timeout: 'any of connect_timeout, headers_timeout, body_timeout, model_timeout (always set with one of them)',
  connect_timeout: 'TCP/TLS connection to the upstream not established in time',
  headers_timeout: 'upstream accepted the request but sent no response headers in time',
  body_timeout: 'upstream went silent in the middle of the response body',
  model_timeout: "model hop: the AI gateway hung up on the model at its own model timeout (litellm's, 30 s for chat and code, 60 s for prompts)",
  tls_error: 'TLS handshake failed: untrusted, self-signed, expired or mismatched certificate, or TLS spoken to a plain-HTTP port',
  connection_reset: 'upstream closed or reset the connection before response headers',
  // Streams.
  stream_aborted: 'upstream died after response headers: the caller got a cut-off body',
  stream_truncated: 'stream ended cleanly but without its final event ([DONE], finish_reason, stream_end); never on formats without one',
  stream_error: 'the stream answered 200 but carried an error event (whatever happened to the connection after it)',
  // The caller.
  client_aborted: 'the caller hung up before the response was complete (normal for code completion)',
  // Predictions from the caller's GitLab token (decoded, never verified or stored).
  token_expired: "the bearer JWT's exp has passed (beyond the clock-skew allowance)",
  token_not_yet_valid: "the bearer JWT's nbf is in the future: clocks disagree",
  token_audience_mismatch: 'the bearer JWT is not for gitlab-ai-gateway',
  token_issuer_mismatch: 'the bearer JWT was issued by another GitLab URL than the one configured (AIGW_GITLAB_URL)',
  token_header_mismatch: "a claim differs from its X-Gitlab-* header (the gateway's own check)",
  // Time.
  slow: "time to first byte or duration over the route's thresholds, which warn well before GitLab's own timeouts",
  // The route's configuration.
  tls_unverified: "the route does not verify the upstream's certificate (tls.insecure_skip_verify)",
  // Staging.
  fault_injected: 'a fault-injection rule shaped this response (x-duo-diag-fault names it)',
  // Requests the proxy refused itself.
  request_rejected: 'the proxy rejected the request before forwarding (malformed or over a limit)'
} as const
