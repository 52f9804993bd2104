// drmsim vmbind --cost / replay --cost (issue 15): the page-table cost model's report, its JSON `cost`
// object (the same on both engines, and equal to the API's totals), the machine line after an unchanged
// summary, and the occupancy panel in the picture.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { GemObject, GpuVm, vmbind } from '../lib/index.js'
import { defaultParams, requests, vmbindVmOptions } from '../lib/workloads/vmbind.js'

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

  it('--json: the worst request and the PTE writes per request, as the public API counts them request by request', () => {
    const ops = 1500
    const costs = ['native', 'reference'].map((engine) => {
      const r = drmsim(
        'vmbind',
        '--ops',
        String(ops),
        '--cost',
        '--json',
        '--engine',
        engine,
        '--pt-profile',
        'nouveau',
      )
      expect(r.code).toBe(0)
      return JSON.parse(r.stdout).cost
    })
    expect(costs[0]).toEqual(costs[1])
    // The same requests through bind/unbind, reading each request's cost.
    const { name, start, range, reserve } = vmbindVmOptions()
    const vm = new GpuVm({ name, start, range, reserve, pageTable: 'nouveau' })
    const objects = new Map<number, GemObject>()
    const obj = (id: number) => objects.get(id) ?? objects.set(id, new GemObject({ size: 1n << 30n })).get(id)
    const writes: number[] = []
    let worst = { request: -1, pteWrites: -1 }
    for (const r of requests({ ...defaultParams, ops })) {
      if (r.kind === 'map') vm.bind({ addr: r.addr, range: r.range, obj: obj(r.obj), offset: r.offset })
      else vm.unbind(r.addr, r.range)
      const last = vm.pageTable!.last
      if (last.pteWrites > worst.pteWrites) worst = { request: writes.length, pteWrites: last.pteWrites }
      writes.push(last.pteWrites)
    }
    const c = costs[0]
    expect(c.worst.request).toBe(worst.request)
    expect(c.worst.pteWrites).toBe(worst.pteWrites)
    expect(Object.keys(c.worst)).toEqual(['request', ...Object.keys(vm.pageTable!.last)])
    const sorted = [...writes].sort((a, b) => a - b)
    const rank = (p: number) => sorted[Math.ceil((p / 100) * ops) - 1]
    const { p50, p90, p99, max, histogram } = c.pteWritesPerRequest
    expect({ p50, p90, p99, max }).toEqual({ p50: rank(50), p90: rank(90), p99: rank(99), max: sorted[ops - 1] })
    for (const b of histogram) {
      expect(b.lo === 0 ? b.hi === 0 : b.hi === 2 * b.lo - 1).toBe(true)
      expect(b.requests).toBe(writes.filter((w) => w >= b.lo && w <= b.hi).length)
    }
    expect(histogram.reduce((n: number, b: { requests: number }) => n + b.requests, 0)).toBe(ops)
    // The existing keys stay.
    for (const k of [...KEYS, 'perRequest', 'occupancy', 'tlbBytes', 'profile']) expect(c).toHaveProperty(k)
    // The human table says the same.
    const human = drmsim('vmbind', '--ops', String(ops), '--cost', '--pt-profile', 'nouveau').stdout
    expect(human).toMatch(new RegExp(`worst request +#${worst.request} +${worst.pteWrites} PTE writes`))
    expect(human).toContain(`p50 ${rank(50)}, p90 ${rank(90)}, p99 ${rank(99)}, max ${sorted[ops - 1]}`)
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
