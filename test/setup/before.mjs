// Before the test files: a fresh folder for every store and log the tests capture, so the
// after-script can audit all of them for leaked secrets.
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..', '..', '.tap', 'ddp-captures')
rmSync(root, { recursive: true, force: true })
mkdirSync(root, { recursive: true })
