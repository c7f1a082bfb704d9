/** GitLab-style JWTs now live in src/sim (the demo signs its own); re-exported for the tests. */
export * from '../../src/sim/jwt.js'
