/**
 * ttm_resource_test.c's cases, ported to the public API on both engines:
 * a device's managers (size, use_tt, usage) and the resources placed in
 * them, seen through `Device.memory()` and `Device.resource()`.
 *
 * Ported: ttm_resource_init_basic (SYSTEM, VRAM, a private type with and
 * without use_tt), ttm_resource_init_pinned (a pinned resource is off the
 * LRU), ttm_resource_fini_basic (freeing returns the usage),
 * ttm_resource_manager_init_basic (size, use_tt, empty LRU),
 * ttm_resource_manager_usage_basic, ttm_sys_man_alloc_basic and
 * ttm_sys_man_free_basic. Skipped: ttm_resource_manager_set_used_basic
 * (drmsim has no manager enable/disable) and the checks of
 * resource->bus (no io memory model) and of bulk moves (ttm-lru).
 */
import { describe, it, expect } from 'vitest'
import { Device } from '../lib/device/device.js'
import type { GemObject } from '../lib/device/gem.js'
import type { Placement } from '../lib/device/placement.js'

const engines = ['reference', 'native'] as const
const K = 1024n
const M = 1n << 20n
const RES = 8n * K

describe.each(engines)('%s engine', (engine) => {
  const dev = () =>
    new Device({
      engine,
      memory: {
        vram: M,
        gtt: M,
        private: [
          { name: 'priv-tt', size: M, useTt: true },
          { name: 'priv', size: M, allocator: 'buddy' },
        ],
      },
    })
  const validate = (d: Device, bo: GemObject, p: Placement) => {
    bo.resv.lock()
    const r = d.validate(bo, p)
    bo.resv.unlock()
    return r
  }

  it('resource_manager_init_basic: size, use_tt, allocator, nothing used', () => {
    const d = dev()
    expect(d.memoryTypes).toEqual(['system', 'gtt', 'vram', 'priv-tt', 'priv'])
    const want = {
      vram: { capacity: M, useTt: false, allocator: 'buddy' },
      gtt: { capacity: M, useTt: true, allocator: 'mm' },
      'priv-tt': { capacity: M, useTt: true, allocator: 'mm' },
      priv: { capacity: M, useTt: false, allocator: 'buddy' },
    }
    for (const [t, w] of Object.entries(want)) {
      expect(d.memory(t)).toMatchObject({ ...w, used: 0n, free: M, lruLength: 0 })
    }
  })

  for (const t of ['system', 'vram', 'priv-tt', 'priv']) {
    it(`resource_init_basic (${t}): the resource is in its type, one run, counted in its usage`, () => {
      const d = dev()
      const bo = d.createObject({ size: RES, unbacked: true })
      validate(d, bo, [{ domain: t }])
      const r = d.resource(bo)
      expect(r).toMatchObject({ domain: t, contiguous: true, temporary: false })
      expect(r?.blocks.reduce((n, b) => n + b.size, 0n)).toBe(RES)
      expect(d.memory(t).used).toBe(RES)
      expect(d.lru(t)).toEqual([bo])
    })
  }

  it('resource_init_pinned: a pinned resource is off the LRU, still used', () => {
    const d = dev()
    const bo = d.createObject({ size: RES })
    bo.resv.lock()
    bo.pinLocked('vram')
    bo.resv.unlock()
    expect(d.lru('vram')).toEqual([])
    expect(d.memory('vram').used).toBe(RES)
    expect(d.resource(bo)?.domain).toBe('vram')
  })

  it('resource_fini_basic / manager_usage_basic: usage follows allocation and free', () => {
    const d = dev()
    const a = d.createObject({ size: RES })
    const b = d.createObject({ size: 3n * RES })
    validate(d, a, [{ domain: 'priv' }])
    validate(d, b, [{ domain: 'priv' }])
    expect(d.memory('priv').used).toBe(4n * RES)
    a.put()
    expect(d.memory('priv').used).toBe(3n * RES)
    b.put()
    expect(d.memory('priv')).toMatchObject({ used: 0n, free: M, largestFree: M, lruLength: 0 })
  })

  it('sys_man_alloc_basic / free_basic: SYSTEM resources come and go', () => {
    const d = dev()
    const bo = d.createObject({ size: RES })
    expect(d.resource(bo)).toMatchObject({ domain: 'system', blocks: [{ size: RES }] })
    expect(d.memory('system').used).toBe(RES)
    bo.put()
    expect(d.memory('system').used).toBe(0n)
  })
})
