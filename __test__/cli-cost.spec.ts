// drmsim vmbind --cost / replay --cost (issue 15): the page-table cost model's report, its JSON `cost`
// object (the same on both engines, and equal to the API's totals), the machine line after an unchanged
// summary, and the occupancy panel in the picture.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { vmbind } from '../lib/index.js'

const root = path.resolve(__dirname, '..')
const example = path.join(root, 'examples/replay.jsonl')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-cli-cost-'))

function drmsim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const KEYS = ['pteWrites', 'ptPagesAllocated', 'ptPagesFreed', 'tlbInvalidations', 'hugePageSplits']

describe('vmbind --cost', () => {
  it('--json gains a cost object, the same on both engines and equal to the API run', () => {
    const costs = ['native', 'reference'].map((engine) => {
      const r = drmsim('vmbind', '--ops', '2000', '--cost', '--json', '--engine', engine)
      expect(r.code).toBe(0)
      return JSON.parse(r.stdout).cost
    })
    for (const k of KEYS) expect(costs[0]).toHaveProperty(k)
    expect(costs[0]).toEqual(costs[1])
    const api = vmbind({ ops: 2000, pageTable: 'xe' }).cost!
    expect(costs[0].pteWrites).toBe(api.total.pteWrites)
    expect(costs[0].occupancy).toEqual(api.occupancy)
    expect(costs[0].perRequest.pteWrites).toBeCloseTo(api.total.pteWrites / 2000, 3)
    // Without --cost, no cost key.
    expect(JSON.parse(drmsim('vmbind', '--ops', '200', '--json').stdout)).not.toHaveProperty('cost')
  })

  it('--machine keeps the summary byte for byte and adds one pt_cost line', () => {
    const plain = drmsim('vmbind', '--ops', '2000', '--machine').stdout
    const costed = drmsim('vmbind', '--ops', '2000', '--machine', '--cost', '--pt-profile', 'panthor').stdout
    expect(costed.startsWith(plain)).toBe(true)
    expect(costed.slice(plain.length)).toMatch(
      /^pt_cost profile=panthor pte_writes=\d+ pde_writes=\d+ .*tlb_bytes=\d+\n$/,
    )
  })

  it('the human report has a cost table; --svg draws the occupancy panel', () => {
    const svg = path.join(dir, 'v.svg')
    const r = drmsim('vmbind', '--ops', '500', '--cost', '--pt-profile', 'nouveau', '--svg', svg)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/page table \(a drmsim model\): profile nouveau, 5 levels/)
    expect(r.stdout).toMatch(/PTE writes +[\d,]+ +[\d.]+ a request/)
    const text = readFileSync(svg, 'utf8')
    expect(text).toContain('Page table: profile &#39;nouveau&#39;, 5 levels, 49-bit VA')
    expect(text).toContain('L4 (root)')
  })

  it('refuses an unknown profile (usage error)', () => {
    const r = drmsim('vmbind', '--ops', '10', '--cost', '--pt-profile', 'amdgpu')
    expect(r.code).toBe(2)
  })
})

describe('replay --cost', () => {
  it('prints the costs of each live VA space, and a cost object per VA space in --json', () => {
    const human = drmsim('replay', example, '--summary', '--cost')
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/vm ctx:\npage table \(a drmsim model\): profile xe/)
    const lines = drmsim('replay', example, '--json', '--cost').stdout.trimEnd().split('\n')
    const last = JSON.parse(lines[lines.length - 1])
    for (const k of KEYS) expect(last.cost.ctx).toHaveProperty(k)
    expect(last.cost.ctx.hugePageSplits).toBe(1)
    const reference = drmsim('replay', example, '--json', '--cost', '--engine', 'reference')
      .stdout.trimEnd()
      .split('\n')
    expect(JSON.parse(reference[reference.length - 1]).cost).toEqual(last.cost)
  })
})
