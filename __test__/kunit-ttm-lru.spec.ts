/**
 * TTM's LRU, priority and bulk-move KUnit cases, written from their
 * descriptions against the public API, on both engines (1 MiB managers).
 *
 * Ported: ttm_bo_test.c ttm_bo_unreserve_basic (the buffer goes to the tail
 * of its priority's LRU), ttm_bo_unreserve_pinned (a pinned buffer stays off
 * the LRUs), ttm_bo_unreserve_bulk (two buffers sharing a resv in one bulk
 * keep one range, first and last in order); ttm_resource_test.c
 * ttm_resource_init_basic / ttm_resource_fini_basic (a new resource joins
 * the LRU of its bo's priority, a freed one leaves it); ttm_bo_validate_test.c
 * ttm_bo_validate_happy_evict with priorities (priority 0 goes first),
 * ttm_bo_validate_evict_gutting (an eviction placement with no place drops
 * the victim's backing store; here through the evictFlags hook),
 * ttm_bo_validate_busy_domain_evict (no eviction target: ENOMEM, the
 * victim stays; here through evictionValuable).
 *
 * Skipped: ttm_bo_validate_swapout (ttm-pressure.spec.ts covers swapout),
 * the move-fence and multihop cases (other helpers' slices), and the
 * list-internals checks of ttm_resource_manager_* (no manager object here).
 */
import { describe, it, expect } from 'vitest'
import { Device } from '../lib/device/device.js'
import type { GemObject } from '../lib/device/gem.js'
import { errnoOf } from './errno.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'

const engines = ['reference', 'native'] as const
const K = 1024n
const M = 1024n * K

describe.each(engines)('%s engine', (engine) => {
  const dev = () => new Device({ engine, memory: { vram: M, gtt: M } })
  const resident = (d: Device, size: bigint, priority = 0) => {
    const bo = d.createObject({ size, priority })
    bo.resv.lock()
    d.validate(bo, [{ domain: 'vram' }])
    bo.resv.unlock()
    d.setEvictPlacement(bo, [{ domain: 'system' }])
    return bo
  }
  const ids = (objs: GemObject[]) => objs.map((o) => o.id)

  it('ttm_bo_unreserve_basic: unreserve puts the buffer at the tail of its priority', () => {
    const d = dev()
    const a = resident(d, 4n * K, 2)
    const b = resident(d, 4n * K, 2)
    const low = resident(d, 4n * K, 0)
    expect(ids(d.lru('vram'))).toEqual(ids([low, a, b]))
    a.resv.lock()
    a.resv.unlock()
    expect(ids(d.lru('vram'))).toEqual(ids([low, b, a]))
    expect(d.memory('vram').lruPriorities).toEqual([1, 0, 2, 0])
    expect(a.priority).toBe(2)
  })

  it('ttm_bo_unreserve_pinned: a pinned buffer stays off the LRUs', () => {
    const d = dev()
    const a = resident(d, 4n * K, 1)
    a.resv.lock()
    a.pinLocked()
    a.resv.unlock()
    expect(d.lru('vram')).toEqual([])
    expect(d.memory('vram').lruPriorities).toEqual([0, 0, 0, 0])
    a.resv.lock()
    a.unpinLocked()
    a.resv.unlock()
    expect(ids(d.lru('vram'))).toEqual(ids([a]))
  })

  it('ttm_bo_unreserve_bulk: buffers of one bulk keep one range in order', () => {
    const d = dev()
    const vm = d.createResv()
    const other = resident(d, 4n * K)
    const bulk = d.createBulkMove()
    const bo1 = d.createObject({ size: 4n * K, resv: vm })
    const bo2 = d.createObject({ size: 4n * K, resv: vm })
    bulk.add(bo1)
    bulk.add(bo2)
    vm.lock()
    d.validate(bo1, [{ domain: 'vram' }])
    d.validate(bo2, [{ domain: 'vram' }])
    const late = d.createObject({ size: 4n * K })
    late.resv.lock()
    d.validate(late, [{ domain: 'vram' }])
    late.resv.unlock()
    // Unreserving bumps each inside the range, not past `late`.
    vm.unlock()
    expect(ids(d.lru('vram'))).toEqual(ids([other, bo1, bo2, late]))
    bulk.moveTail()
    expect(ids(d.lru('vram'))).toEqual(ids([other, late, bo1, bo2]))
    expect(d.pressure(bo1).bulk).toBe(bulk.id)
  })

  it('a bulk tied to a GpuVm-like resv moves to the tail when the resv is unlocked', () => {
    const d = dev()
    const vm = d.createResv()
    const bulk = d.createBulkMove({ resv: vm })
    const objs = [0, 1, 2].map(() => d.createObject({ size: 4n * K, resv: vm }))
    for (const o of objs) bulk.add(o)
    const solo = d.createObject({ size: 4n * K })
    expect(ids(d.lru('system'))).toEqual(ids([...objs, solo]))
    vm.lock()
    vm.unlock()
    expect(ids(d.lru('system'))).toEqual(ids([solo, ...objs]))
    bulk.remove(objs[1])
    expect(ids(d.lru('system'))).toEqual(ids([solo, objs[0], objs[2], objs[1]]))
  })

  it('a bulk tied to a GpuVm: its private objects follow the VM resv', () => {
    const d = dev()
    const vm = new GpuVm({ name: 'bulk', range: 1n << 40n, device: d })
    const rObj = vm.resvObject
    if (rObj === null) throw new Error('a drm_gpuvm on a device has a resv object')
    const bulk = d.createBulkMove({ resv: vm })
    const priv = [0, 1].map(() => d.createObject({ size: 4n * K, resv: rObj }))
    for (const o of priv) bulk.add(o)
    const solo = d.createObject({ size: 4n * K })
    vm.resv?.lock()
    vm.resv?.unlock()
    const order = ids(d.lru('system'))
    expect(order.slice(-2)).toEqual(ids(priv))
    expect(order.indexOf(solo.id)).toBeLessThan(order.indexOf(priv[0].id))
    expect(() => d.createBulkMove({ resv: {} as never })).toThrow(/resv/)
  })

  it('ttm_resource_init_basic / fini_basic: the LRU of the priority gains and loses the buffer', () => {
    const d = dev()
    const a = d.createObject({ size: 4n * K, priority: 3 })
    expect(d.memory('system').lruPriorities).toEqual([0, 0, 0, 1])
    a.put()
    expect(d.memory('system').lruPriorities).toEqual([0, 0, 0, 0])
    expect(() => d.createObject({ size: 4n * K, priority: 4 })).toThrow(/priority/)
  })

  it('ttm_bo_validate_happy_evict with priorities: priority 0 is evicted first', () => {
    const d = dev()
    const keep = resident(d, 512n * K, 1)
    const first = resident(d, 512n * K, 0)
    const bo = d.createObject({ size: 4n * K })
    bo.resv.lock()
    expect(d.validate(bo, [{ domain: 'vram' }])).toEqual({
      moved: true,
      bytesMoved: 2n * 512n * K + 4n * K,
      evictions: 1,
    })
    bo.resv.unlock()
    expect([keep.domain, first.domain]).toEqual(['vram', 'system'])
    // A new priority requeues at its tail: now `keep` goes first.
    bo.priority = 2
    expect(ids(d.lru('vram'))).toEqual(ids([keep, bo]))
  })

  it('ttm_bo_validate_evict_gutting: an empty evictFlags placement drops the victim', () => {
    const d = dev()
    const victim = resident(d, M)
    d.setEvictionPolicy({ evictFlags: () => [] })
    const bo = d.createObject({ size: 4n * K })
    bo.resv.lock()
    expect(d.validate(bo, [{ domain: 'vram' }]).evictions).toBe(1)
    bo.resv.unlock()
    expect(victim.purged).toBe(true)
    expect(victim.offset).toBeNull()
    expect(d.evictPlacement(victim)).toEqual([])
  })

  it('ttm_bo_validate_busy_domain_evict: a refused victim stays, ENOMEM', () => {
    const d = dev()
    const victim = resident(d, M)
    const asked: [number, string][] = []
    d.setEvictionPolicy({
      evictionValuable: (v, place) => {
        asked.push([v.id, place.domain])
        return false
      },
    })
    const bo = d.createObject({ size: 4n * K })
    bo.resv.lock()
    expect(errnoOf(() => d.validate(bo, [{ domain: 'vram' }]))).toBe('ENOMEM')
    bo.resv.unlock()
    expect(victim.domain).toBe('vram')
    expect(asked).toEqual([[victim.id, 'vram']])
    d.setEvictionPolicy(null)
    bo.resv.lock()
    expect(d.validate(bo, [{ domain: 'vram' }]).evictions).toBe(1)
    bo.resv.unlock()
  })

  it('declarative protections: by priority and by tag', () => {
    const d = dev()
    const scanout = resident(d, 512n * K, 0)
    const high = resident(d, 512n * K, 3)
    d.setTags(scanout, ['scanout'])
    d.setEvictionPolicy({ protectTags: ['scanout'], protectFromPriority: 3 })
    const bo = d.createObject({ size: 4n * K })
    bo.resv.lock()
    expect(errnoOf(() => d.validate(bo, [{ domain: 'vram' }]))).toBe('ENOMEM')
    d.setEvictionPolicy({ protectTags: ['scanout'] })
    expect(d.validate(bo, [{ domain: 'vram' }]).evictions).toBe(1)
    bo.resv.unlock()
    expect([scanout.domain, high.domain]).toEqual(['vram', 'system'])
    expect(d.pressure(scanout).tags).toEqual(['scanout'])
    expect(() => d.setEvictionPolicy({ protectFromPriority: 5 })).toThrow(/protectFromPriority/)
  })
})
