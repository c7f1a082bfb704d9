/** Networking utilities now live in src/sim; re-exported for the tests. */
export * from '../../src/sim/net.js'
