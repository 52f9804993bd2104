// Both engines against the golden files, which come from the kernel's own
// split/merge code replaying the canonical workload (shared/golden/).
import { execFile } from 'node:child_process'
import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { vmbind } from '../lib/index.js'

const golden = path.resolve(__dirname, '../../shared/golden')
const read = (name: string) => readFileSync(path.join(golden, name), 'utf8')

// name → the arguments of `drmsim vmbind` that print it (see shared/golden/README.md)
const summaries: [string, string][] = [
  ['vmbind-seed1-ops100000.summary', '--seed 1 --ops 100000'],
  ['vmbind-seed2-ops100000.summary', '--seed 2 --ops 100000'],
  ['vmbind-seed9-w4096-l16-k4-p60-ops200000.summary', '--seed 9 --ops 200000 --window 4096 --max-pages 16 --objects 4 --map-percent 60'],
  ['vmbind-seed1-ops1000000.summary', '--seed 1 --ops 1000000'],
  ['vmbind-seed1-w16777216-l512-ops1000000.summary', '--seed 1 --ops 1000000 --window 16777216 --max-pages 512'],
]

// The long runs go through the CLI in a child process, so this worker stays
// responsive while the reference engine works for half a minute.
const bin = path.resolve(__dirname, '..', JSON.parse(readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')).bin)
const drmsim = (args: string) => promisify(execFile)(process.execPath, [bin, 'vmbind', ...args.split(' ')])

describe.skipIf(!existsSync(golden))('golden vmbind files', () => {
  describe.each(['native', 'reference'] as const)('%s engine', (engine) => {
    it('vmbind-seed1-ops2000.trace: every trace line and the summary', () => {
      const out = vmbind({ seed: 1n, ops: 2000, trace: 'full', engine })
      expect(out.trace + out.summary).toBe(read('vmbind-seed1-ops2000.trace'))
    })

    it.each(summaries)('%s', async (name, args) => {
      const { stdout } = await drmsim(`${args} --engine ${engine}`)
      expect(stdout).toBe(read(name))
    })
  })
})
