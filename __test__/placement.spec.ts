/**
 * Placement, validation and eviction on both engines, written from the
 * descriptions of ttm_bo_validate's KUnit cases (1 MiB mock managers, 4K
 * buffers), plus the LRU, pin, vmap and GPU VA rules around a move.
 */
import { describe, it, expect } from 'vitest'
import { Device, type DeviceOptions } from '../lib/device/device.js'
import type { GemObject } from '../lib/device/gem.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const
const K = 1024n
const M = 1024n * K
const kinds = (d: Device) => d.takeViolations().map((v) => v.kind)
const errno = errnoOf

describe.each(engines)('%s engine', (engine) => {
  const dev = (o: DeviceOptions = {}) => new Device({ engine, memory: { vram: M, gtt: M }, ...o })
  /** A buffer validated into `domain` and unlocked again. */
  const resident = (d: Device, size: bigint, domain: 'vram' | 'gtt' = 'vram', toSystem = true) => {
    const bo = d.createObject({ size })
    bo.resv.lock()
    d.validate(bo, [{ domain }])
    bo.resv.unlock()
    // The mock driver's evict_flags: VRAM -> SYSTEM.
    if (toSystem) d.setEvictPlacement(bo, [{ domain: 'system' }])
    return bo
  }
  const ids = (objs: GemObject[]) => objs.map((o) => o.id)

  describe('ttm_bo_validate (KUnit)', () => {
    it('validate_basic: SYSTEM -> VRAM top-down moves the size once', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      expect(bo.domain).toBe('system')
      bo.resv.lock()
      expect(d.validate(bo, [{ domain: 'vram', topDown: true }])).toEqual({
        moved: true,
        bytesMoved: 8n * K,
        evictions: 0,
      })
      expect(bo.domain).toBe('vram')
      expect(bo.offset).toBe(M - 8n * K)
      expect(d.memory('vram').used).toBe(8n * K)
      bo.resv.unlock()
    })

    it('validate_same_placement: nothing moves (SYSTEM and VRAM)', () => {
      const d = dev()
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(d.validate(bo, [{ domain: 'system' }])).toEqual({ moved: false, bytesMoved: 0n, evictions: 0 })
      d.validate(bo, [{ domain: 'vram' }])
      const gen = bo.generation
      expect(d.validate(bo, [{ domain: 'vram' }]).bytesMoved).toBe(0n)
      expect(bo.generation).toBe(gen)
      bo.resv.unlock()
    })

    it('validate_invalid_placement: a domain without a manager gives ENOMEM', () => {
      const d = dev({ memory: { vram: M, gtt: 0n } })
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(errno(() => d.validate(bo, [{ domain: 'gtt' }]))).toBe('ENOMEM')
      expect(bo.domain).toBe('system')
      expect(errno(() => d.memory('gtt'))).toBe('EINVAL')
      bo.resv.unlock()
    })

    it('validate_failed_alloc: a manager that cannot allocate gives ENOMEM', () => {
      const d = dev({ memory: { vram: 4n * K } })
      const bo = d.createObject({ size: 8n * K })
      bo.resv.lock()
      expect(errno(() => d.validate(bo, [{ domain: 'vram' }]))).toBe('ENOMEM')
      expect(bo.domain).toBe('system')
      bo.resv.unlock()
    })

    it('validate_pinned: a pinned buffer cannot move (EINVAL)', () => {
      const d = dev()
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      bo.pinLocked()
      expect(errno(() => d.validate(bo, [{ domain: 'vram' }]))).toBe('EINVAL')
      expect(errno(() => d.validate(bo, []))).toBe('EINVAL')
      // Compatible: no move needed, pinned or not.
      expect(d.validate(bo, [{ domain: 'system' }]).moved).toBe(false)
      bo.unpinLocked()
      bo.resv.unlock()
    })

    it('validate_busy_placement: a full DESIRED place falls back to the FALLBACK one', () => {
      const d = dev({ memory: { vram: 4n * K, gtt: M } })
      const bo = d.createObject({ size: 8n * K })
      bo.resv.lock()
      const r = d.validate(bo, [
        { domain: 'vram', desired: true },
        { domain: 'gtt', fallback: true },
      ])
      expect(r).toEqual({ moved: true, bytesMoved: 8n * K, evictions: 0 })
      expect(bo.domain).toBe('gtt')
      bo.resv.unlock()
      expect(ids(d.lru('gtt'))).toEqual([bo.id])
      // A FALLBACK place is compatible in the second pass only: no move.
      bo.resv.lock()
      expect(
        d.validate(bo, [
          { domain: 'vram', desired: true },
          { domain: 'gtt', fallback: true },
        ]).moved,
      ).toBe(false)
      bo.resv.unlock()
    })

    it('validate_happy_evict: the LRU head goes, VRAM -> SYSTEM counts two hops', () => {
      const d = dev()
      const bos = [resident(d, 8n * K), resident(d, 512n * K), resident(d, M - 520n * K)]
      expect(d.memory('vram').free).toBe(0n)
      expect(ids(d.lru('vram'))).toEqual(ids(bos))
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(d.validate(bo, [{ domain: 'vram' }])).toEqual({
        moved: true,
        bytesMoved: 2n * 8n * K + 4n * K,
        evictions: 1,
      })
      expect(bos.map((b) => b.domain)).toEqual(['system', 'vram', 'vram'])
      expect(bo.domain).toBe('vram')
      bo.resv.unlock()
      expect(ids(d.lru('vram'))).toEqual([bos[1].id, bos[2].id, bo.id])
      expect(d.placementTotals.evictions).toBe(1n)
    })

    it('validate_all_pinned_evict: nothing evictable gives ENOMEM', () => {
      const d = dev()
      const big = resident(d, M)
      big.pin('vram')
      expect(d.lru('vram')).toEqual([])
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(errno(() => d.validate(bo, [{ domain: 'vram' }]))).toBe('ENOMEM')
      expect(big.domain).toBe('vram')
      bo.resv.unlock()
    })

    it('validate_allowed_only_evict: the pinned buffer stays, the other goes', () => {
      const d = dev()
      const pinned = resident(d, 512n * K)
      pinned.pin()
      const other = resident(d, 512n * K)
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(d.validate(bo, [{ domain: 'vram' }]).bytesMoved).toBe(2n * 512n * K + 4n * K)
      bo.resv.unlock()
      expect([pinned.domain, other.domain, bo.domain]).toEqual(['vram', 'system', 'vram'])
    })

    it('validate_evict_gutting: an empty eviction placement purges the victim', () => {
      const d = dev()
      const victim = resident(d, M)
      d.setEvictPlacement(victim, [])
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(d.validate(bo, [{ domain: 'vram' }])).toEqual({ moved: true, bytesMoved: 4n * K, evictions: 1 })
      bo.resv.unlock()
      expect(victim.purged).toBe(true)
      expect(victim.offset).toBe(null)
      expect(d.memory('vram').used).toBe(4n * K)
      // Validating a purged buffer gives it a backing store again.
      victim.resv.lock()
      expect(d.validate(victim, [{ domain: 'gtt' }]).moved).toBe(true)
      expect(victim.purged).toBe(false)
      victim.resv.unlock()
    })

    it('validate_no_placement: an empty placement drops the backing store', () => {
      const d = dev()
      const bo = resident(d, 8n * K)
      bo.resv.lock()
      expect(d.validate(bo, [])).toEqual({ moved: true, bytesMoved: 0n, evictions: 0 })
      expect(d.memory('vram').used).toBe(0n)
      expect(bo.purged).toBe(true)
      bo.resv.unlock()
    })

    it('validate_recursive_evict: a victim may evict to make room for itself', () => {
      const d = dev({ memory: { vram: M, gtt: M } })
      const inGtt = resident(d, M, 'gtt', false)
      d.setEvictPlacement(inGtt, [])
      const inVram = resident(d, M, 'vram', false)
      d.setEvictPlacement(inVram, [{ domain: 'gtt' }])
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(d.validate(bo, [{ domain: 'vram' }]).evictions).toBe(2)
      bo.resv.unlock()
      expect([inGtt.purged, inVram.domain, bo.domain]).toEqual([true, 'gtt', 'vram'])
    })
  })

  describe('locks, LRU and what a move does', () => {
    it('validate needs the reservation lock of the calling thread', () => {
      const d = dev()
      const bo = d.createObject({ size: 4n * K })
      expect(errno(() => d.validate(bo, [{ domain: 'vram' }]))).toBe('EINVAL')
      expect(kinds(d)).toEqual(['validate-unlocked'])
      expect(bo.domain).toBe('system')
    })

    it('bad input is EINVAL and changes nothing', () => {
      const d = dev()
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      expect(errno(() => d.validate(bo, [{ domain: 'nowhere' as never }]))).toBe('EINVAL')
      expect(errno(() => d.validate(bo, [{ domain: 'vram', fallback: 1 as never }]))).toBe('EINVAL')
      expect(errno(() => d.validate(bo, 'vram' as never))).toBe('EINVAL')
      expect(errno(() => d.validate({} as never, []))).toBe('EINVAL')
      expect(errno(() => dev({ memory: { vram: -1n } }))).toBe('EINVAL')
      expect(errno(() => dev({ memory: { system: 0n } }))).toBe('EINVAL')
      expect(bo.domain).toBe('system')
      bo.resv.unlock()
      expect(kinds(d)).toEqual([])
    })

    it('unlocking moves a buffer to the LRU tail; pinned buffers are off the LRU', () => {
      const d = dev()
      const [a, b, c] = [resident(d, 4n * K), resident(d, 4n * K), resident(d, 4n * K)]
      expect(ids(d.lru('vram'))).toEqual(ids([a, b, c]))
      a.resv.lock()
      a.resv.unlock()
      expect(ids(d.lru('vram'))).toEqual(ids([b, c, a]))
      b.pin()
      expect(ids(d.lru('vram'))).toEqual(ids([c, a]))
      b.unpin()
      expect(ids(d.lru('vram'))).toEqual(ids([c, a, b]))
      expect(d.memory('vram').lruLength).toBe(3)
    })

    it('a buffer locked by another thread is skipped; the caller ticket reaches one per walk', () => {
      const d = dev({ memory: { vram: 64n * K } })
      const [a, b] = [resident(d, 32n * K), resident(d, 32n * K)]
      d.thread = 1
      a.resv.lock()
      d.thread = 0
      const bo = d.createObject({ size: 32n * K })
      bo.resv.lock()
      d.validate(bo, [{ domain: 'vram' }])
      expect([a.domain, b.domain]).toEqual(['vram', 'system'])
      bo.resv.unlock()
      // With a ticket: b is trylocked first; a, held by thread 1, is not taken.
      const big = d.createObject({ size: 64n * K })
      const ctx = d.acquireCtx()
      big.resv.lock(ctx)
      expect(errno(() => d.validate(big, [{ domain: 'vram' }]))).toBe('ENOMEM')
      expect(a.domain).toBe('vram')
      big.resv.unlock()
      ctx.fini()
    })

    it('pin(domain) moves the buffer there, evicting if need be', () => {
      const d = dev({ memory: { vram: 64n * K } })
      const old = resident(d, 64n * K)
      const fb = d.createObject({ size: 32n * K })
      expect(fb.pin('vram')).toBe(1)
      expect([fb.domain, old.domain]).toEqual(['vram', 'system'])
      const other = d.createObject({ size: 64n * K })
      expect(errno(() => other.pin('vram'))).toBe('ENOMEM')
      expect(other.pinCount).toBe(0)
    })

    it('a move invalidates GPU VA mappings and evicted buffers go on the VM evict list', () => {
      const d = dev({ memory: { vram: 64n * K } })
      const vm = new GpuVm({ range: 1n << 32n, device: d })
      const a = resident(d, 64n * K)
      vm.bind({ addr: 0x10000n, range: 64n * K, obj: a, offset: 0n })
      const va = vm.find(0x10000n, 64n * K)!
      expect(vm.isInvalidated(va)).toBe(false)
      const bo = d.createObject({ size: 32n * K })
      bo.resv.lock()
      d.validate(bo, [{ domain: 'vram' }])
      bo.resv.unlock()
      expect(vm.isInvalidated(va)).toBe(true)
      expect(ids(d.evictList(vm))).toEqual([a.id])
      // Placed again by its owner, who clears the mark (a driver's vm_bo_validate): off the evict list.
      a.resv.lock()
      d.validate(a, [{ domain: 'gtt' }])
      vm.gemEvict(a, false)
      a.resv.unlock()
      expect(d.evictList(vm)).toEqual([])
    })

    it('a seed-era VA space attached to the device sees its mappings invalidated, and has no evict list', () => {
      const d = dev({ memory: { vram: 64n * K } })
      const vm = new GpuVm({ engine, range: 1n << 32n })
      d.attachVm(vm)
      const a = resident(d, 64n * K)
      vm.bind({ addr: 0x10000n, range: 64n * K, obj: a, offset: 0n })
      const bo = d.createObject({ size: 32n * K })
      bo.resv.lock()
      d.validate(bo, [{ domain: 'vram' }])
      bo.resv.unlock()
      expect(vm.isInvalidated(vm.find(0x10000n, 64n * K)!)).toBe(true)
      expect(errno(() => d.evictList(vm))).toBe('EINVAL')
    })

    it('a vmap held without lock or pin goes stale when evicted; vmapLocal keeps it', () => {
      const d = dev({ memory: { vram: 64n * K } })
      const fb = resident(d, 64n * K)
      fb.resv.lock()
      const m = fb.vmapLocked()
      fb.resv.unlock()
      const bo = d.createObject({ size: 64n * K })
      bo.resv.lock()
      d.validate(bo, [{ domain: 'vram' }])
      bo.resv.unlock()
      // Evicted VRAM -> SYSTEM bounces through a temporary GTT resource: each hop is a move.
      expect(kinds(d)).toEqual(['move-while-vmapped', 'move-while-vmapped'])
      expect(m.access()).toBe(false)
      expect(kinds(d)).toEqual(['stale-mapping', 'unprotected-access'])
    })

    it('memory stats: used, free, largest free block and fragmentation', () => {
      const d = dev({ memory: { vram: 64n * K } })
      const bos = [0, 1, 2, 3].map(() => resident(d, 16n * K))
      bos[1].put()
      bos[3].put()
      const s = d.memory('vram')
      expect(s).toMatchObject({ capacity: 64n * K, used: 32n * K, free: 32n * K, largestFree: 16n * K, lruLength: 2 })
      expect(s.fragmentation).toBeCloseTo(0.5)
      expect(d.memory('system').capacity).toBe((1n << 64n) - 1n)
    })

    it('a bounded SYSTEM refuses new buffers with ENOMEM', () => {
      const d = dev({ memory: { system: 8n * K } })
      d.createObject({ size: 8n * K })
      expect(errno(() => d.createObject({ size: 1n }))).toBe('ENOMEM')
    })
  })
})
