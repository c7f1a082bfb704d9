/**
 * Echo filtering finds a response's copies of filtered request values two ways (src/capture/echo.ts):
 * the first few texts by looking their windows up from each form of the values, later ones (and
 * any text longer than the forms) through an index of the forms. Both must filter the same
 * spans: fast-check builds values and responses that quote them, whole, cut, escaped, repeated.
 */
import fc from 'fast-check'
import t from 'tap'
import { EchoFilter } from '../src/capture/echo.js'

// A small alphabet makes windows repeat and collide, as indentation and boilerplate do.
const char = fc.constantFrom(...'abcdefgh ijk\n"\'\\é{}:,0123'.split(''))
const text = (min: number, max: number): fc.Arbitrary<string> => fc.array(char, { minLength: min, maxLength: max }).map((a) => a.join(''))

/** A response: noise with pieces of the values (or of their JSON form) spliced in. */
const quoting = (values: string[]): fc.Arbitrary<string> => fc.array(fc.tuple(text(0, 20), fc.nat(values.length - 1), fc.nat(400), fc.nat(400), fc.boolean()), { minLength: 1, maxLength: 5 })
  .map((parts) => parts.map(([noise, v, a, b, json]) => {
    const value = values[v]!
    const piece = value.slice(Math.min(a, b) % (value.length + 1), Math.max(a, b) % (value.length + 1) + 24)
    return noise + (json ? JSON.stringify(piece).slice(1, -1) : piece)
  }).join(''))

function filterWith (scans: number, values: string[], responses: string[]): string[] {
  const echo = new EchoFilter(scans)
  for (const v of values) echo.add(v)
  return responses.map((r) => echo.filter(r))
}

t.test('scanning from the text and the forms\' index filter the same spans', async (t) => {
  const values = fc.array(text(8, 300), { minLength: 1, maxLength: 4 })
  let filtered = 0
  fc.assert(fc.property(values.chain((vs) => fc.tuple(fc.constant(vs), fc.array(quoting(vs), { minLength: 1, maxLength: 6 }))), ([vs, responses]) => {
    const indexed = filterWith(0, vs, responses)
    const scanned = filterWith(100, vs, responses)
    if (JSON.stringify(indexed) !== JSON.stringify(scanned)) throw new Error(`differ:\nindexed ${JSON.stringify(indexed)}\nscanned ${JSON.stringify(scanned)}`)
    if (indexed.some((out, i) => out !== responses[i])) filtered++
  }), { numRuns: 400, seed: 20261207 })
  t.ok(filtered >= 200, `400 generated cases agree; ${filtered} of them had something filtered`)
})

t.test('a text that quotes a long value is filtered by either path; the fifth text uses the index', async (t) => {
  const prompt = 'def fibonacci(n):\n    """Return the n-th Fibonacci number, computed iteratively."""\n    a, b = 0, 1\n'
  const body = `{"detail":"model rejected: ${JSON.stringify(prompt).slice(1, -1)} (400)"}`
  const echo = new EchoFilter()
  echo.add(prompt)
  const outs = Array.from({ length: 6 }, () => echo.filter(body))
  for (const out of outs) t.equal(out, '{"detail":"model rejected: [FILTERED] (400)"}')
})
