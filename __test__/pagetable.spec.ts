/**
 * The page-table cost model (issue 15): the classic cases against counts
 * computed by hand (Xe-like profile: 512-entry tables, 4 KiB / 2 MiB / 1 GiB
 * leaves), on both engines; both engines equal on random workloads; the
 * occupancy a function of the live mappings alone.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BindBatch, Device, GpuVm, PAGE_TABLE_PROFILES, type PageTableProfile } from '../lib/index.js'
import type { EngineName } from '../lib/contract/vm.js'
import { PageTableModel, type PtMapping } from '../lib/reference/pagetable/index.js'

const K4 = 0x1000n
const M2 = 0x20_0000n
const G1 = 0x4000_0000n
const VA = 1n << 48n
const ENGINES: EngineName[] = ['native', 'reference']

function setup(engine: EngineName, pageTable: 'xe' | 'panthor' | 'nouveau' | PageTableProfile = 'xe') {
  const device = new Device({ engine })
  const vm = new GpuVm({ range: VA, engine, pageTable, device })
  const obj = device.createObject({ size: 4n * G1 })
  const pt = vm.pageTable
  if (pt === undefined) throw new Error('no page table')
  return { vm, obj, pt }
}

describe.each(ENGINES)('page table, %s engine', (engine) => {
  it('bind 2 MiB aligned: one huge PTE and the two tables above it', () => {
    const { vm, obj, pt } = setup(engine)
    vm.bind({ addr: M2, range: M2, obj, offset: 0n })
    expect(pt.last).toEqual({
      pteWrites: 1,
      pdeWrites: 2,
      ptPagesAllocated: 2,
      ptPagesFreed: 0,
      tlbInvalidations: 0,
      tlbBytes: 0n,
      hugePageSplits: 0,
      hugePagesFormed: 1,
    })
    expect(pt.occupancy).toEqual({ tables: [0, 1, 1, 1], entries: [0, 1, 1, 1], leaves: [0, 1, 0, 0], bytes: 3 * 4096 })
  })

  it('unbind 4 KiB out of it: one split, 512 small PTEs filling the new table, the 4 KiB cleared, one TLB invalidation', () => {
    const { vm, obj, pt } = setup(engine)
    vm.bind({ addr: M2, range: M2, obj, offset: 0n })
    vm.unbind(M2, K4)
    expect(pt.last).toEqual({
      pteWrites: 512 + 1,
      pdeWrites: 1,
      ptPagesAllocated: 1,
      ptPagesFreed: 0,
      tlbInvalidations: 1,
      tlbBytes: K4,
      hugePageSplits: 1,
      hugePagesFormed: 0,
    })
    expect(pt.info().lastTlbRanges).toEqual([{ addr: M2, range: K4 }])
    expect(pt.occupancy.leaves).toEqual([511, 0, 0, 0])
    expect(pt.total.pteWrites).toBe(1 + 513)
  })

  it('a 1 GiB leaf, then 4 KiB out of it: two splits (1 GiB -> 2 MiB -> 4 KiB)', () => {
    const { vm, obj, pt } = setup(engine)
    vm.bind({ addr: G1, range: G1, obj, offset: G1 })
    expect([pt.last.pteWrites, pt.last.hugePagesFormed, pt.last.ptPagesAllocated]).toEqual([1, 1, 1])
    vm.unbind(G1 + G1 / 2n, K4)
    const c = pt.last
    expect([c.hugePageSplits, c.pteWrites, c.ptPagesAllocated, c.tlbInvalidations]).toEqual([2, 512 + 512 + 1, 2, 1])
    // Leaves a split writes are not huge pages formed (only a map step forms them).
    expect(c.hugePagesFormed).toBe(0)
    expect(pt.occupancy.leaves).toEqual([511, 511, 0, 0])
  })

  it('a backing offset not 2 MiB-aligned forbids the huge leaf; no object, the VA alone decides', () => {
    const { vm, obj, pt } = setup(engine)
    vm.bind({ addr: M2, range: M2, obj, offset: K4 })
    expect([pt.last.pteWrites, pt.last.hugePagesFormed, pt.last.ptPagesAllocated]).toEqual([512, 0, 3])
    vm.bind({ addr: 2n * M2, range: M2, offset: K4 })
    expect(pt.last.hugePagesFormed).toBe(1)
  })

  it('unbinding everything frees every table but the root', () => {
    const { vm, obj, pt } = setup(engine)
    vm.bind({ addr: M2, range: M2, obj, offset: 0n })
    vm.bind({ addr: G1 + K4, range: 5n * M2, obj, offset: K4 })
    vm.bind({ addr: 3n * G1, range: G1 + 3n * M2, obj, offset: 0n })
    vm.unbind(M2, K4)
    vm.unbind(3n * G1 + M2 + K4, 5n * K4)
    vm.unbind(0n, 1n << 40n)
    const t = pt.total
    expect(t.ptPagesFreed).toBe(t.ptPagesAllocated)
    expect(pt.occupancy).toEqual({ tables: [0, 0, 0, 1], entries: [0, 0, 0, 0], leaves: [0, 0, 0, 0], bytes: 4096 })
  })

  it('the profiles differ where their drivers do', () => {
    const p = setup(engine, 'panthor')
    p.vm.bind({ addr: G1, range: G1, obj: p.obj, offset: 0n })
    expect([p.pt.last.pteWrites, p.pt.last.hugePagesFormed]).toEqual([512, 512])
    const n = setup(engine, 'nouveau')
    n.vm.bind({ addr: 0n, range: 512n << 20n, obj: n.obj, offset: 0n })
    expect([n.pt.last.pteWrites, n.pt.last.ptPagesAllocated]).toEqual([256, 3])
    // PD0 256 x 16 B, PD1 and PD2 512 x 8 B, the 4-entry root.
    expect(n.pt.occupancy.bytes).toBe(3 * 4096 + 32)
  })

  it('refuses a bad profile and a VA space wider than its VA', () => {
    const bad = {
      ...PAGE_TABLE_PROFILES.xe,
      levels: [{ bits: 9, entryBytes: 8, leaf: false }, ...PAGE_TABLE_PROFILES.xe.levels.slice(1)],
    }
    expect(() => new GpuVm({ range: VA, engine, pageTable: bad })).toThrow(/level 0 must map pages/)
    expect(() => new GpuVm({ range: 1n << 50n, engine, pageTable: 'xe' })).toThrow(/does not fit the 48-bit VA/)
    expect(() => new GpuVm({ range: VA, engine, pageTable: 'amdgpu' as 'xe' })).toThrow(/no page-table profile/)
    expect(new GpuVm({ range: VA, engine }).pageTable).toBeUndefined()
  })

  it('an atomic array that is undone leaves the page table as it was, counters included; one that succeeds is bindBatch', () => {
    const run = (failAt?: number) => {
      const { vm, obj, pt } = setup(engine)
      vm.bind({ addr: M2, range: 2n * M2, obj, offset: 0n })
      const batch = new BindBatch()
      batch.map({ addr: M2 + K4, range: K4, obj: null })
      batch.unmap(2n * M2, M2)
      batch.map({ addr: G1, range: M2, obj, offset: M2 })
      const before = { total: pt.total, occupancy: pt.occupancy }
      if (failAt === undefined) vm.bindBatch(batch)
      else expect(() => vm.bindArray(batch, { failAt })).toThrow(/ENOSPC/)
      return { before, after: { total: pt.total, occupancy: pt.occupancy } }
    }
    for (const failAt of [0, 1, 2]) {
      const { before, after } = run(failAt)
      expect(after).toEqual(before)
    }
    const sequential = run()
    const { vm, obj, pt } = setup(engine)
    vm.bind({ addr: M2, range: 2n * M2, obj, offset: 0n })
    const batch = new BindBatch()
    batch.map({ addr: M2 + K4, range: K4, obj: null })
    batch.unmap(2n * M2, M2)
    batch.map({ addr: G1, range: M2, obj, offset: M2 })
    vm.bindArray(batch)
    expect({ total: pt.total, occupancy: pt.occupancy }).toEqual(sequential.after)
    expect(sequential.after.total.hugePageSplits).toBe(1)
  })
})

// ---- both engines, random workloads ----------------------------------------

type Cmd = { bind: boolean; addr: bigint; range: bigint; obj: number; offset: bigint }

const cmd = fc.record({
  bind: fc.boolean(),
  // Addresses and sizes near the 4 KiB / 2 MiB / 1 GiB boundaries, a few unaligned.
  addr: fc
    .tuple(
      fc.integer({ min: 0, max: 7 }),
      fc.constantFrom(0n, K4, M2, G1),
      fc.integer({ min: 0, max: 600 }),
      fc.constantFrom(0n, 0n, 0n, 0x10n),
    )
    .map(([g, unit, n, b]) => BigInt(g) * G1 + (unit === G1 ? 0n : BigInt(n) * unit) + b),
  range: fc.oneof(
    fc.integer({ min: 1, max: 1200 }).map((p) => BigInt(p) * K4),
    fc.integer({ min: 1, max: 5 }).map((m) => BigInt(m) * M2),
    fc.constantFrom(G1, 2n * G1, G1 + M2, 3n * K4 + 5n),
  ),
  obj: fc.integer({ min: 0, max: 2 }),
  offset: fc.constantFrom(0n, K4, M2, G1),
})

function runOn(engine: EngineName, cmds: Cmd[], pageTable: 'xe' | 'panthor' | 'nouveau') {
  const device = new Device({ engine })
  const vm = new GpuVm({ range: VA, engine, pageTable, device })
  const objs = [null, device.createObject({ size: 4n * G1 }), device.createObject({ size: 4n * G1 })]
  const lasts = []
  for (const c of cmds) {
    if (c.bind) vm.bind({ addr: c.addr, range: c.range, obj: objs[c.obj], offset: c.offset })
    else vm.unbind(c.addr, c.range)
    lasts.push(vm.pageTable?.info())
  }
  return { lasts, vm }
}

describe('page table, both engines', () => {
  const numRuns = Number(process.env.DRMSIM_FC_RUNS ?? 60)
  it.each(['xe', 'panthor', 'nouveau'] as const)('the same counts, request by request (%s)', (profile) => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 40 }), (cmds) => {
        const a = runOn('native', cmds, profile)
        const b = runOn('reference', cmds, profile)
        expect(a.lasts).toEqual(b.lasts)
      }),
      { numRuns, seed: 15 },
    )
  })

  it('the occupancy is a function of the live mappings (rebuilt from them, the same)', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 40 }), fc.constantFrom(...ENGINES), (cmds, engine) => {
        const { vm } = runOn(engine, cmds, 'xe')
        const device = new Device({ engine })
        const objs = [null, device.createObject({ size: 4n * G1 }), device.createObject({ size: 4n * G1 })]
        const fresh = new GpuVm({ range: VA, engine, pageTable: 'xe', device })
        // Only whether a mapping has an object, and its backing offset, decide its leaves.
        for (const va of vm.vas()) {
          if (va.range === 0n) continue
          fresh.bind({ addr: va.addr, range: va.range, obj: va.obj === null ? null : objs[1], offset: va.offset })
        }
        expect(fresh.pageTable?.occupancy).toEqual(vm.pageTable?.occupancy)
      }),
      { numRuns, seed: 16 },
    )
  })

  it('the cheap reads (last, total, occupancy) are what info() says, request by request', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 30 }), fc.constantFrom(...ENGINES), (cmds, engine) => {
        const device = new Device({ engine })
        const vm = new GpuVm({ range: VA, engine, pageTable: 'nouveau', device })
        const obj = device.createObject({ size: 4n * G1 })
        const pt = vm.pageTable
        if (pt === undefined) throw new Error('no page table')
        for (const c of cmds) {
          if (c.bind) vm.bind({ addr: c.addr, range: c.range, obj: c.obj === 0 ? null : obj, offset: c.offset })
          else vm.unbind(c.addr, c.range)
          const { last, total, occupancy } = pt.info()
          expect({ last: pt.last, total: pt.total, occupancy: pt.occupancy }).toEqual({ last, total, occupancy })
        }
      }),
      { numRuns, seed: 17 },
    )
  })
})

describe('page table, reference model', () => {
  const numRuns = Number(process.env.DRMSIM_FC_RUNS ?? 60)
  // Mappings put in, taken out, and cut by remaps (pieces before and after a
  // cut keep their backing): the occupancy kept as the tables change is the
  // one counted afresh over every table.
  const op = fc.record({
    at: fc.integer({ min: 0, max: 2047 }),
    pages: fc.integer({ min: 1, max: 1100 }),
    huge: fc.boolean(),
    obj: fc.integer({ min: 0, max: 2 }),
    cut: fc.tuple(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: 1 << 20 })),
    kind: fc.constantFrom('map', 'unmap', 'remap'),
  })
  it.each(['xe', 'panthor', 'nouveau'] as const)('the occupancy kept is the one counted (%s)', (name) => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const pt = new PageTableModel(PAGE_TABLE_PROFILES[name])
        const live: PtMapping[] = []
        for (const o of ops) {
          const unit = o.huge ? M2 : K4
          if (o.kind === 'map') {
            const m = { addr: BigInt(o.at) * unit, range: BigInt(o.pages) * K4, obj: o.obj, offset: 0n }
            if (live.some((v) => v.addr < m.addr + m.range && m.addr < v.addr + v.range)) continue
            live.push(m)
            pt.mapped(m)
          } else if (live.length > 0) {
            const [old] = live.splice(o.at % live.length, 1)
            if (o.kind === 'unmap') pt.unmapped(old)
            else {
              // A cut [c0, c1) inside the old mapping, page-granular or not.
              const span = Number(old.range)
              const [c0, c1] = [o.cut[0] % span, o.cut[1] % span].sort((a, b) => a - b).map(BigInt)
              const pieces: PtMapping[] = []
              if (c0 > 0n) pieces.push({ ...old, range: c0 })
              if (c1 > c0 && c1 < old.range)
                pieces.push({ ...old, addr: old.addr + c1, range: old.range - c1, offset: old.offset + c1 })
              if (pieces.length === 0) pt.unmapped(old)
              else {
                pt.detached(old, pieces)
                for (const p of pieces) {
                  live.push(p)
                  pt.mapped(p)
                }
              }
            }
          }
          expect(pt.occupancy()).toEqual(pt.occupancyCounted())
        }
      }),
      { numRuns, seed: 18 },
    )
  })
})

describe('page table, the cheap read of a large TLB range', () => {
  // 63 bits of VA: 4 KiB pages, leaves of 16 MiB, 64 GiB and 256 TiB, a root of 8 entries of 2^60 bytes.
  const wide: PageTableProfile = {
    name: 'wide',
    pageShift: 12,
    levels: [
      { bits: 12, entryBytes: 8, leaf: true },
      { bits: 12, entryBytes: 8, leaf: true },
      { bits: 12, entryBytes: 8, leaf: true },
      { bits: 12, entryBytes: 8, leaf: true },
      { bits: 3, entryBytes: 8, leaf: false },
    ],
  }
  it.each(ENGINES)('TLB bytes past 2^53 cross exactly (%s)', (engine) => {
    const vm = new GpuVm({ range: 1n << 62n, engine, pageTable: wide })
    const pt = vm.pageTable
    if (pt === undefined) throw new Error('no page table')
    vm.bind({ addr: 0n, range: 1n << 60n, obj: null, offset: 0n })
    expect(pt.last.pteWrites).toBe(4096)
    vm.unbind(0x1000n, (1n << 60n) - 0x2000n)
    expect(pt.last.tlbBytes).toBe((1n << 60n) - 0x2000n)
    expect(pt.total.tlbBytes).toBe((1n << 60n) - 0x2000n)
    // Two leaves cut, each split down three levels of 4096 entries, then all but one page cleared at each end.
    expect(pt.last.hugePageSplits).toBe(6)
    expect(pt.occupancy.leaves).toEqual([2, 0, 0, 0, 0])
    expect(pt.info().last).toEqual(pt.last)
  })
})
