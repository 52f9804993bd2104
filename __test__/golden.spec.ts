// Both engines against the golden files, which come from the kernel's own
// split/merge code replaying the canonical workload (__test__/golden/).
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { vmbind } from '../lib/index.js'

const golden = path.join(__dirname, 'golden')
const read = (name: string) => readFileSync(path.join(golden, name), 'utf8')

// name → the arguments of `drmsim vmbind` that print it (see __test__/golden/README.md)
const summaries: [string, string][] = [
  ['vmbind-seed1-ops100000.summary', '--seed 1 --ops 100000'],
  ['vmbind-seed2-ops100000.summary', '--seed 2 --ops 100000'],
  [
    'vmbind-seed9-w4096-l16-k4-p60-ops200000.summary',
    '--seed 9 --ops 200000 --window 4096 --max-pages 16 --objects 4 --map-percent 60',
  ],
  ['vmbind-seed1-ops1000000.summary', '--seed 1 --ops 1000000'],
  ['vmbind-seed1-w16777216-l512-ops1000000.summary', '--seed 1 --ops 1000000 --window 16777216 --max-pages 512'],
]

// The long runs go through the CLI in a child process, so this worker stays
// responsive while the reference engine works for half a minute.
const bin = path.resolve(
  __dirname,
  '..',
  JSON.parse(readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')).bin,
)
// --machine: the exact summary format of the golden files (the default output is a report for people).
const drmsim = (args: string) => promisify(execFile)(process.execPath, [bin, 'vmbind', '--machine', ...args.split(' ')])

describe('golden vmbind files', () => {
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

// `vmbind --svg` replays the workload once more through the public API, objects as GemObjects:
// with more distinct objects than the object table ever held at once, both engines must still draw it
// (the reference engine on a shorter run, which still binds thousands of distinct objects).
describe('vmbind --svg with many distinct objects', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-golden-'))
  const args = (ops: number) =>
    `--seed 4 --ops ${ops} --window 16777216 --max-pages 2 --objects 1073741824 --map-percent 80`
  const draw = async (ops: number, engine: string) => {
    const svg = path.join(dir, `${engine}-${ops}.svg`)
    const { stdout } = await drmsim(`${args(ops)} --engine ${engine} --svg ${svg}`)
    return { stdout, svg: readFileSync(svg, 'utf8') }
  }

  it('native, 150,000 requests: over 100,000 objects mapped, the picture drawn', async () => {
    const { stdout, svg } = await draw(150_000, 'native')
    expect(Number(/^mappings (\d+)$/m.exec(stdout)?.[1])).toBeGreaterThan(100_000)
    expect(svg).toMatch(/^<svg/)
  })

  it('5,000 requests: the same summary and picture on both engines', async () => {
    const [native, reference] = [await draw(5000, 'native'), await draw(5000, 'reference')]
    expect(Number(/^mappings (\d+)$/m.exec(native.stdout)?.[1])).toBeGreaterThan(3000)
    expect(native).toEqual(reference)
  })
})
