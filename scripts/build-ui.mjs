/**
 * Builds the browser view (src/ui/) into dist/ui/: index.html, app.js and app.css, bundled and
 * minified by esbuild (Preact and uPlot included: the page loads nothing from elsewhere).
 * Run by `npm run build`; `--watch` rebuilds on change while working on the view.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}dist/ui/`
const watch = process.argv.includes('--watch')

await rm(out, { recursive: true, force: true })
await mkdir(out, { recursive: true })
await copyFile(`${root}src/ui/index.html`, `${out}index.html`)

const options = {
  entryPoints: { app: `${root}src/ui/main.tsx` },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !watch,
  sourcemap: watch ? 'inline' : false,
  legalComments: 'linked',
  tsconfig: `${root}src/ui/tsconfig.json`,
  logLevel: 'warning',
  metafile: true
}

if (watch) {
  const ctx = await esbuild.context(options)
  await ctx.watch()
  console.error(`watching src/ui/ → ${out}`)
} else {
  const result = await esbuild.build(options)
  const sizes = Object.entries(result.metafile.outputs).map(([file, o]) => `${file.split('/').pop()} ${(o.bytes / 1024).toFixed(1)} KiB`)
  // stderr: npm pack --json prints its answer on stdout, after prepare (this build).
  console.error(`browser view built: ${sizes.join(', ')}`)
}
