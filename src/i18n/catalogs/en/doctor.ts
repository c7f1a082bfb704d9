/**
 * doctor catalog (en): the names, marks, evidence and next steps of `duo-diag-proxy doctor`'s
 * checks (src/doctor/checks.ts). Check ids (`gateway.healthz`) are stable codes: in English a
 * check's name is its id, as --json reports it. Placeholders ({{name}}) are the same in every
 * language; values from the network (addresses, error codes, response bodies) are never translated.
 */
export const doctor = {
  check: {
    gateway: {
      dns: 'gateway.dns',
      tcp: 'gateway.tcp',
      tls: 'gateway.tls',
      healthz: 'gateway.healthz',
      ready: 'gateway.ready',
      route: 'gateway.route'
    },
    model: {
      url_v1: 'model.url_v1',
      dns: 'model.dns',
      tcp: 'model.tcp',
      tls: 'model.tls',
      health: 'model.health',
      health_liveliness: 'model.health_liveliness',
      models: 'model.models',
      name: 'model.name',
      chat_completion: 'model.chat_completion',
      route: 'model.route'
    }
  },
  mark: {
    pass: 'ok',
    warn: 'WARN',
    fail: 'FAIL',
    skip: 'skip'
  },
  separator: {
    problems: '; ',
    // Two next steps, one after the other.
    sentences: '{{a}} {{b}}'
  },
  evidence: {
    endsV1: '{{url}} ends in /v1',
    notEndsV1: '{{url}} does not end in /v1',
    resolves: '{{host}} resolves to {{addresses}}',
    notResolves: '{{host}} does not resolve ({{code}})',
    connectFailed: 'connect to {{host}}:{{port}}: {{code}}',
    connected: 'connected to {{host}}:{{port}}',
    tlsTimeout: 'no TLS handshake in time',
    tlsFailed: 'TLS handshake failed: {{error}}',
    chainLink: '{{subject}} (issuer {{issuer}}, until {{until}})',
    chain: 'chain: {{chain}}',
    notTrusted: 'not trusted: {{code}}',
    hostMismatch: 'host name mismatch: {{message}}',
    ipNotInSan: "IP {{ip}} is not in the certificate's subjectAltName",
    expired: 'expired on {{date}}',
    tlsProblems: '{{problems}}; {{chain}}',
    expiresIn: 'expires in {{days}} days; {{chain}}',
    tlsOk: 'trusted, host name matches, valid {{days}} more days; {{chain}}',
    serves: 'serves {{models}}',
    servesNone: 'serves (none listed)',
    nameServed: '"{{name}}" is served',
    nameNotServed: '"{{name}}" is not among {{models}}',
    chatOk: 'POST {{path}} 200 in {{ms}} ms',
    chatError: '{{error}} after {{ms}} ms',
    chatSkipped: 'not run (it costs tokens): add --chat',
    // From the admin API (POST /api/doctor), which checks the proxy's own routes.
    chatNotFromApi: 'not run from the proxy: it costs tokens and needs the model\'s API key (duo-diag-proxy doctor --chat runs it)',
    urlV1NotSeen: 'not checked from the proxy: GitLab\'s model endpoint points at this route, whose upstream is {{upstream}}; a request without /v1 shows in the recorded exchanges (cause model_endpoint_missing_v1)',
    noRoute: {
      gateway: 'no route on the gateway hop is configured',
      model: 'no route on the model hop is configured (a route with hop: model in front of the model server)'
    }
  },
  step: {
    gatewayHealthz: 'The gateway is not healthy: check its container logs (docker logs <ai-gateway-container>).',
    gatewayReady: 'A readiness check failed: the body names it (often the model or GitLab is unreachable from the gateway).',
    setV1: 'Set the model endpoint in GitLab to {{url}}.',
    modelHealth: 'The model server is not healthy: check its logs.',
    modelLiveliness: 'Neither /health (vLLM) nor /health/liveliness (LiteLLM) answered 200.',
    dns: 'Check the host name, and DNS from where the gateway runs.',
    refused: 'Nothing listens on {{host}}:{{port}}: start the service, or fix the port. Inside a container, localhost is the container itself.',
    routing: 'Check firewalls and routing to the host.',
    speaksTls: 'Check the port speaks TLS.',
    plainHttp: 'The port speaks plain HTTP: use http://.',
    tlsConfig: 'Check the certificate and the TLS configuration.',
    selfSigned: 'A self-signed certificate: the AI gateway does not support them on GitLab; use a CA-signed certificate, or trust the CA (--ca-file here, SSL_CERT_FILE / REQUESTS_CA_BUNDLE in the gateway).',
    trustCa: 'Trust the issuing CA (--ca-file here, SSL_CERT_FILE / REQUESTS_CA_BUNDLE in the gateway), or use a publicly trusted certificate.',
    hostName: 'Issue the certificate for the host name used in the URL (subjectAltName).',
    renew: 'Renew the certificate.',
    renewSoon: 'Renew the certificate soon.',
    apiKey: 'The model server wants an API key: pass --api-key and set it on the model in GitLab.',
    openAiApi: 'Check the endpoint serves the OpenAI API.',
    modelName: 'Set the model identifier in GitLab to a served name.',
    modelEndpoint: 'Check the model endpoint.',
    chatFailed: 'The model answers the health check but not the API: check its logs and the model name.',
    chatDown: 'The model is too slow or down.'
  }
}
