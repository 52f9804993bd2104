/**
 * System memory pressure on both engines: a bounded SYSTEM with a shrinker
 * purges purgeable buffers first (contents lost), then swaps out the head of
 * the SYSTEM LRUs; a swapped buffer comes back on its next validate.
 *
 * Ported from ttm_tt_test.c / ttm_bo_validate_test.c by description:
 * ttm_tt_swapout_basic (a populated buffer swaps out, its pages counted),
 * ttm_tt_swapout_not_populated (an empty buffer has nothing to give: skipped),
 * ttm_tt_swapin_basic (swap-in restores it, a move), ttm_bo_validate_swapout
 * (an allocation that does not fit swaps out the LRU head). Skipped: the page
 * pool and dma32 cases (no page pools here) and the swap-storage failures
 * (swap is a byte budget: `capacity`).
 */
import { describe, it, expect } from 'vitest'
import { Device } from '../lib/device/device.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import { errnoOf } from './errno.js'
import { runScenario } from '../lib/workloads/scenarios.js'

const engines = ['reference', 'native'] as const
const K = 1024n

describe.each(engines)('%s engine', (engine) => {
  const dev = (system = 64n * K) => new Device({ engine, memory: { vram: 64n * K, gtt: 64n * K, system } })
  const ids = (objs: { id: number }[]) => objs.map((o) => o.id)

  it('without a shrinker a full SYSTEM is ENOMEM, as before', () => {
    const d = dev()
    for (let i = 0; i < 4; i++) d.createObject({ size: 16n * K })
    expect(errnoOf(() => d.createObject({ size: 16n * K }))).toBe('ENOMEM')
    expect(errnoOf(() => d.swapout(1n))).toBe('EINVAL')
  })

  it('ttm_bo_validate_swapout / ttm_tt_swapout_basic: the LRU head swaps out, priority 0 first', () => {
    const d = dev()
    d.setSwap({})
    const objs = [1, 0, 0, 1].map((priority) => d.createObject({ size: 16n * K, priority }))
    const gen = objs[1].generation
    const fresh = d.createObject({ size: 16n * K })
    expect(objs.map((o) => o.swapped)).toEqual([false, true, false, false])
    expect(objs[1].generation).toBe(gen + 1n)
    expect(ids(d.lru('system'))).toEqual(ids([objs[2], fresh, objs[0], objs[3]]))
    const t = d.placementTotals
    expect([t.swapouts, t.bytesSwappedOut, t.swapUsed, t.moves]).toEqual([1n, 16n * K, 16n * K, 0n])
  })

  it('purgeable buffers go first and lose their contents', () => {
    const d = dev()
    d.setSwap({})
    const objs = [0, 1, 2, 3].map(() => d.createObject({ size: 16n * K }))
    objs[2].setPurgeable(true)
    expect(objs[2].purgeable).toBe(true)
    d.createObject({ size: 16n * K })
    expect(objs[2].purged).toBe(true)
    expect(objs[2].contentLost).toBe(true)
    expect(objs[0].swapped).toBe(false)
    const t = d.placementTotals
    expect([t.purges, t.bytesPurged, t.swapouts]).toEqual([1n, 16n * K, 0n])
    // Validating it again gives it a fresh (empty) backing store; the loss stays recorded.
    objs[2].resv.lock()
    d.validate(objs[2], [{ domain: 'system' }])
    objs[2].resv.unlock()
    expect([objs[2].purged, objs[2].contentLost, objs[0].swapped]).toEqual([false, true, true])
  })

  it('ttm_tt_swapin_basic: validate swaps back in (a move); locked, pinned and empty buffers stay', () => {
    const d = dev()
    d.setSwap({ capacity: 32n * K })
    const empty = d.createObject({ size: 0n })
    const pinned = d.createObject({ size: 16n * K })
    pinned.pin()
    const locked = d.createObject({ size: 16n * K })
    const a = d.createObject({ size: 16n * K })
    const b = d.createObject({ size: 16n * K })
    locked.resv.lock()
    d.createObject({ size: 16n * K })
    expect([empty.swapped, pinned.swapped, locked.swapped, a.swapped, b.swapped]).toEqual([
      false,
      false,
      false,
      true,
      false,
    ])
    a.resv.lock()
    const r = d.validate(a, [{ domain: 'system' }])
    a.resv.unlock()
    locked.resv.unlock()
    expect(r.moved).toBe(true)
    expect(r.bytesMoved).toBe(16n * K)
    expect([a.swapped, b.swapped]).toEqual([false, true])
    const t = d.placementTotals
    expect([t.swapouts, t.swapins, t.bytesSwappedIn, t.swapUsed]).toEqual([2n, 1n, 16n * K, 16n * K])
    // Swap holds 32K: one more fits, then ENOMEM.
    expect(d.swapout(16n * K)).toBe(16n * K)
    expect(errnoOf(() => d.createObject({ size: 32n * K }))).toBe('ENOMEM')
    expect(errnoOf(() => d.setSwap({ capacity: 16n * K }))).toBe('EINVAL')
  })

  it('an eviction to a full SYSTEM swaps out its head (VRAM -> SYSTEM)', () => {
    const d = new Device({ engine, memory: { vram: 32n * K, gtt: 0n, system: 64n * K } })
    d.setSwap({})
    const [s1, s2] = [0, 1].map(() => d.createObject({ size: 16n * K }))
    const v1 = d.createObject({ size: 32n * K })
    v1.resv.lock()
    d.validate(v1, [{ domain: 'vram' }])
    v1.resv.unlock()
    const [s3, s4] = [0, 1].map(() => d.createObject({ size: 16n * K }))
    // SYSTEM is full: making `n` swaps out the head, s1.
    const n = d.createObject({ size: 16n * K })
    expect([s1, s2, s3, s4].map((o) => o.swapped)).toEqual([true, false, false, false])
    // n to VRAM evicts v1 (32K) to SYSTEM, which swaps out s2 and s3 (n is locked, so it stays).
    n.resv.lock()
    expect(d.validate(n, [{ domain: 'vram' }])).toEqual({ moved: true, bytesMoved: 48n * K, evictions: 1 })
    n.resv.unlock()
    expect([s1, s2, s3, s4].map((o) => o.swapped)).toEqual([true, true, true, false])
    expect([v1.domain, n.domain]).toEqual(['system', 'vram'])
    expect(d.placementTotals.swapouts).toBe(3n)
    expect(d.memory('system').used).toBe(48n * K)
  })

  it('a swapout marks the vm_bo evicted in an attached drm_gpuvm', () => {
    const d = dev()
    d.setSwap({})
    const vm = new GpuVm({ name: 'swap', range: 1n << 40n, device: d })
    const o = d.createObject({ size: 16n * K })
    vm.bind({ addr: 0n, range: 4096n, obj: o })
    d.swapout(16n * K)
    expect(o.swapped).toBe(true)
    expect(d.evictList(vm).map((x) => x.id)).toEqual([o.id])
    expect([...vm].map((v) => v.invalidated)).toEqual([true])
  })
})

describe.each(engines)('the ttm-swap-storm scenario (%s)', (engine) => {
  it('purges once, swaps the LRU heads out, skips the locked and the high-priority buffer, swaps tex0 back in', () => {
    const r = runScenario('ttm-swap-storm', { engine })
    expect(r.outcome).toEqual({
      purges: 1,
      swapouts: 5,
      swapins: 1,
      swapUsedKiB: 256,
      swapped: ['tex1', 'frame0', 'frame1', 'frame2'],
      uiResident: true,
      error: 'ENOMEM',
      frames: ['frame0', 'frame1', 'frame2', 'frame3'],
    })
    expect(r.lines).toHaveLength(8)
    expect(r.violations).toEqual([])
  })
})

describe.each(engines)('bad input to the pressure API (%s)', (engine) => {
  it('gets EINVAL (or ENOSPC for the 33rd tag name) and changes nothing', () => {
    const d = new Device({ engine, memory: { vram: 64n * K, gtt: 64n * K, system: 64n * K } })
    const other = new Device({ engine })
    const o = d.createObject({ size: 16n * K })
    const foreign = other.createObject({ size: 4n * K })
    const bulk = d.createBulkMove()
    const cases: [string, () => unknown][] = [
      ['setSwap capacity -1', () => d.setSwap({ capacity: -1n })],
      ['setSwap not an object', () => d.setSwap(5 as never)],
      ['swapout -1', () => d.setSwap({}) ?? d.swapout(-1n)],
      ['createBulkMove resv 5', () => d.createBulkMove({ resv: 5 as never })],
      ['createBulkMove foreign resv', () => d.createBulkMove({ resv: foreign })],
      ['bulk.add foreign object', () => bulk.add(foreign)],
      ['setTags not strings', () => d.setTags(o, [1 as never])],
      ['setTags empty name', () => d.setTags(o, [''])],
      ['policy evictFlags not a function', () => d.setEvictionPolicy({ evictFlags: 3 as never })],
      ['policy protectFromPriority -1', () => d.setEvictionPolicy({ protectFromPriority: -1 })],
      [
        'priority 1.5',
        () => {
          o.priority = 1.5
        },
      ],
      ['createObject priority 4', () => d.createObject({ size: 4n * K, priority: 4 })],
      ['setPurgeable not a boolean', () => o.setPurgeable('yes' as never)],
    ]
    for (const [what, f] of cases) expect(errnoOf(f), what).toBe('EINVAL')
    expect(d.pressure(o)).toEqual({
      priority: 0,
      tags: [],
      bulk: 0,
      purgeable: false,
      swapped: false,
      contentLost: false,
    })
    expect(d.memory('system').used).toBe(16n * K)
    const names = Array.from({ length: 32 }, (_, i) => `t${i}`)
    d.setTags(o, names)
    expect(errnoOf(() => d.setTags(o, ['one-too-many']))).toBe('ENOSPC')
    expect(d.pressure(o).tags).toEqual(names)
  })
})
