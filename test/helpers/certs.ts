/** Certificate generation now lives in src/sim (the demo serves a self-signed upstream); re-exported for the tests. */
export * from '../../src/sim/certs.js'
