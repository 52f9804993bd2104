/**
 * ttm_bo_validate_test.c's placement cases, ported to the public API on both
 * engines (1 MiB managers, 4 KiB buffers), plus the cases ttm-res adds:
 * page windows (fpfn/lpfn), CONTIGUOUS on the buddy allocator, TEMPORARY
 * places and configurable multihop.
 *
 * Ported: ttm_bo_init_reserved_sys_man and _mock_man (an object born without
 * a resource: its first validate counts its bytes), ttm_bo_init_reserved_resv,
 * ttm_bo_validate_basic, _invalid_placement (a type without a manager),
 * _failed_alloc (a manager that never has room: a window past its end),
 * _pinned, _same_placement (SYSTEM and VRAM), _busy_placement (DESIRED that
 * fails, FALLBACK in another type), _multihop, _no_placement_signaled.
 * Skipped: _no_placement_not_signaled, _move_fence_*, _swapout (fences and
 * waits: ttm-time), _happy_evict, _all_pinned_evict, _allowed_only_evict,
 * _deleted_evict, _busy_evict, _evict_gutting, _recrusive_evict (eviction
 * walks: placement.spec.ts and ttm-lru); the checks of bo->ttm page flags,
 * bo->type and the vma node (drmsim has no ttm_tt, bo types or mmap offsets),
 * and resource->placement == TOPDOWN (drmsim's resources keep CONTIGUOUS and
 * TEMPORARY only).
 */
import { describe, it, expect } from 'vitest'
import { Device, type DeviceOptions } from '../lib/device/device.js'
import type { GemObject } from '../lib/device/gem.js'
import type { Placement } from '../lib/device/placement.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const
const K = 1024n
const M = 1n << 20n
const BO = 4n * K

describe.each(engines)('%s engine', (engine) => {
  const dev = (memory: DeviceOptions['memory'] = { vram: M, gtt: M }) => new Device({ engine, memory })
  const validate = (d: Device, bo: GemObject, p: Placement) => {
    bo.resv.lock()
    try {
      return d.validate(bo, p)
    } finally {
      bo.resv.unlock()
    }
  }

  describe('ttm_bo_validate_test.c', () => {
    it('init_reserved_sys_man / mock_man: a first validate of an unbacked object moves its size', () => {
      for (const domain of ['system', 'vram'] as const) {
        const d = dev()
        const bo = d.createObject({ size: BO, unbacked: true })
        expect(d.resource(bo)).toBeNull()
        expect(bo.purged).toBe(true)
        expect(d.memory('system').used).toBe(0n)
        expect(validate(d, bo, [{ domain }])).toEqual({ moved: true, bytesMoved: BO, evictions: 0 })
        expect(d.resource(bo)?.domain).toBe(domain)
        expect(d.memory(domain).used).toBe(BO)
        expect(d.lru(domain)).toEqual([bo])
      }
    })

    it('init_reserved_resv: an unbacked object on a shared resv uses it', () => {
      const d = dev()
      const r = d.createResv()
      const bo = d.createObject({ size: BO, unbacked: true, resv: r })
      expect(bo.resv.id).toBe(r.id)
      expect(validate(d, bo, [{ domain: 'system' }]).bytesMoved).toBe(BO)
    })

    it('validate_basic: SYSTEM -> VRAM top-down moves 8 KiB once, into the top of the buddy', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      expect(validate(d, bo, [{ domain: 'vram', topDown: true }])).toEqual({
        moved: true,
        bytesMoved: 8n * K,
        evictions: 0,
      })
      expect(d.resource(bo)).toEqual({
        domain: 'vram',
        contiguous: true,
        temporary: false,
        blocks: [{ offset: M - 8n * K, size: 8n * K }],
      })
    })

    it('validate_invalid_placement: a memory type without a manager is ENOMEM', () => {
      const d = dev({ vram: M, gtt: M, private: [{ name: 'gds', size: 0n }] })
      const bo = d.createObject({ size: BO })
      expect(errnoOf(() => validate(d, bo, [{ domain: 'gds' }]))).toBe('ENOMEM')
      expect(d.resource(bo)?.domain).toBe('system')
    })

    it('validate_failed_alloc: a manager that never has room is ENOMEM', () => {
      const d = dev()
      const bo = d.createObject({ size: BO })
      // A window starting past the end of VRAM: no allocation, no victim worth evicting.
      expect(errnoOf(() => validate(d, bo, [{ domain: 'vram', fpfn: 512 }]))).toBe('ENOMEM')
      expect(d.placementTotals.moves).toBe(0n)
    })

    it('validate_pinned: EINVAL', () => {
      const d = dev()
      const bo = d.createObject({ size: BO })
      bo.resv.lock()
      bo.pinLocked()
      expect(errnoOf(() => d.validate(bo, [{ domain: 'vram' }]))).toBe('EINVAL')
      bo.unpinLocked()
      bo.resv.unlock()
    })

    it('validate_same_placement: nothing moves (SYSTEM and VRAM)', () => {
      for (const domain of ['system', 'vram'] as const) {
        const d = dev()
        const bo = d.createObject({ size: BO, unbacked: true })
        validate(d, bo, [{ domain }])
        expect(validate(d, bo, [{ domain }])).toEqual({ moved: false, bytesMoved: 0n, evictions: 0 })
      }
    })

    it('validate_busy_placement: the DESIRED place fails, the FALLBACK type takes it', () => {
      const d = dev({ vram: M, gtt: M, private: [{ name: 'snd', size: M }] })
      const bo = d.createObject({ size: BO })
      const r = validate(d, bo, [
        { domain: 'vram', desired: true, fpfn: 256 + 512 },
        { domain: 'snd', fallback: true },
      ])
      expect(r).toEqual({ moved: true, bytesMoved: BO, evictions: 0 })
      expect(d.resource(bo)?.domain).toBe('snd')
      expect(d.lru('snd')).toEqual([bo])
    })

    it('validate_multihop: VRAM -> SYSTEM bounces through GTT, twice the size', () => {
      const d = dev()
      const bo = d.createObject({ size: BO })
      validate(d, bo, [{ domain: 'vram' }])
      d.core.trackMoves(true)
      expect(validate(d, bo, [{ domain: 'system' }])).toEqual({ moved: true, bytesMoved: 2n * BO, evictions: 0 })
      expect(d.resource(bo)?.domain).toBe('system')
      expect(d.core.takeMoves().map((m) => [m.from, m.to])).toEqual([
        [3, 2],
        [2, 1],
      ])
      expect(d.memory('gtt').used).toBe(0n)
    })

    it('validate_no_placement_signaled: an empty placement drops the resource, no bytes', () => {
      const d = dev()
      const bo = d.createObject({ size: BO })
      expect(d.memory('system').used).toBe(BO)
      expect(validate(d, bo, [])).toEqual({ moved: true, bytesMoved: 0n, evictions: 0 })
      expect(d.memory('system').used).toBe(0n)
      expect(d.resource(bo)).toBeNull()
    })
  })

  describe('windows, contiguity, TEMPORARY and multihop (ttm-res)', () => {
    it('a buffer outside a windowed place is not compatible and moves into the window', () => {
      const d = dev()
      const bo = d.createObject({ size: 64n * K })
      validate(d, bo, [{ domain: 'vram', topDown: true }])
      expect(d.resource(bo)?.blocks).toEqual([{ offset: M - 64n * K, size: 64n * K }])
      // The CPU-visible window: the low 256 KiB.
      const r = validate(d, bo, [{ domain: 'vram', lpfn: 64 }])
      expect(r).toEqual({ moved: true, bytesMoved: 64n * K, evictions: 0 })
      const b = d.resource(bo)?.blocks ?? []
      expect(b.every((x) => x.offset + x.size <= 256n * K)).toBe(true)
      // Inside the window now: the windowed place and the plain one are both compatible.
      expect(validate(d, bo, [{ domain: 'vram', lpfn: 64 }]).moved).toBe(false)
      expect(validate(d, bo, [{ domain: 'vram' }]).moved).toBe(false)
    })

    it('a full window evicts only the buffers inside it; the rest of VRAM stays', () => {
      const d = dev()
      const inWin = [0, 1, 2, 3].map(() => d.createObject({ size: 64n * K }))
      for (const bo of inWin) validate(d, bo, [{ domain: 'vram', lpfn: 64 }])
      const high = d.createObject({ size: 64n * K })
      validate(d, high, [{ domain: 'vram', topDown: true }])
      const next = d.createObject({ size: 64n * K })
      expect(validate(d, next, [{ domain: 'vram', lpfn: 64 }])).toEqual({
        moved: true,
        bytesMoved: 128n * K,
        evictions: 1,
      })
      expect(d.resource(inWin[0])?.domain).toBe('gtt')
      expect(d.resource(high)?.domain).toBe('vram')
    })

    it('CONTIGUOUS on the buddy: one run; a scattered resource moves to become one', () => {
      const d = dev({ vram: 128n * K, gtt: M })
      const a = [0, 1, 2, 3, 4, 5, 6, 7].map(() => d.createObject({ size: 16n * K }))
      for (const bo of a) validate(d, bo, [{ domain: 'vram' }])
      for (const i of [0, 2, 4, 6]) a[i].put()
      // Four 16 KiB holes, no two of them buddies: 32 KiB comes in two blocks.
      const bo = d.createObject({ size: 32n * K })
      validate(d, bo, [{ domain: 'vram' }])
      expect(d.resource(bo)?.blocks.length).toBe(2)
      expect(d.resource(bo)?.contiguous).toBe(false)
      expect(validate(d, bo, [{ domain: 'vram' }]).moved).toBe(false)
      for (const i of [5, 7]) a[i].put()
      // Asked for one run: not compatible, and the freed low 64 KiB has one.
      expect(validate(d, bo, [{ domain: 'vram', contiguous: true }])).toEqual({
        moved: true,
        bytesMoved: 32n * K,
        evictions: 0,
      })
      expect(d.resource(bo)?.contiguous).toBe(true)
      expect(d.resource(bo)?.blocks).toHaveLength(1)
      expect(validate(d, bo, [{ domain: 'vram', contiguous: true }]).moved).toBe(false)
    })

    it('drm_mm ranges are always one run: CONTIGUOUS asks nothing more', () => {
      const d = dev({ vram: { size: M, allocator: 'mm' }, gtt: M })
      expect(d.memory('vram').allocator).toBe('mm')
      const bo = d.createObject({ size: 12n * K })
      validate(d, bo, [{ domain: 'vram' }])
      expect(validate(d, bo, [{ domain: 'vram', contiguous: true }]).moved).toBe(false)
    })

    it('a buffer left in a TEMPORARY place is never compatible', () => {
      const d = dev()
      const bo = d.createObject({ size: BO })
      validate(d, bo, [{ domain: 'gtt', temporary: true }])
      expect(d.resource(bo)?.temporary).toBe(true)
      expect(validate(d, bo, [{ domain: 'gtt' }])).toEqual({ moved: true, bytesMoved: BO, evictions: 0 })
      expect(d.resource(bo)?.temporary).toBe(false)
      expect(validate(d, bo, [{ domain: 'gtt' }]).moved).toBe(false)
    })

    it('multihop is the device rule: none, or a private type as the hop', () => {
      const none = dev({ vram: M, gtt: M, multihop: [] })
      const a = none.createObject({ size: BO })
      validate(none, a, [{ domain: 'vram' }])
      expect(validate(none, a, [{ domain: 'system' }]).bytesMoved).toBe(BO)
      const via = dev({
        vram: M,
        gtt: M,
        private: [{ name: 'stage', size: M, useTt: true }],
        multihop: [{ from: 'vram', to: 'gtt', via: 'stage' }],
      })
      const b = via.createObject({ size: BO })
      validate(via, b, [{ domain: 'vram' }])
      via.core.trackMoves(true)
      expect(validate(via, b, [{ domain: 'gtt' }]).bytesMoved).toBe(2n * BO)
      expect(via.core.takeMoves().map((m) => m.to)).toEqual([4, 2])
      expect(via.memory('stage')).toMatchObject({ used: 0n, useTt: true, allocator: 'mm' })
    })

    it('a hop without room fails the validate with ENOMEM and leaves the buffer where it was', () => {
      const d = dev({ vram: M, gtt: 4n * K })
      const pin = d.createObject({ size: 4n * K })
      pin.resv.lock()
      pin.pinLocked('gtt')
      pin.resv.unlock()
      const bo = d.createObject({ size: 8n * K })
      validate(d, bo, [{ domain: 'vram' }])
      const before = d.memory('vram').used
      expect(errnoOf(() => validate(d, bo, [{ domain: 'system' }]))).toBe('ENOMEM')
      expect(d.resource(bo)?.domain).toBe('vram')
      expect(d.memory('vram').used).toBe(before)
    })

    it('an unbacked buffer never bounces, and counts as a move out of "none"', () => {
      const d = dev()
      const bo = d.createObject({ size: BO, unbacked: true })
      d.core.trackMoves(true)
      expect(validate(d, bo, [{ domain: 'vram' }]).bytesMoved).toBe(BO)
      expect(d.core.takeMoves()).toEqual([{ id: bo.id, from: 1, to: 3, evicted: false }])
    })
  })

  describe('bad input: typed errors, nothing changed', () => {
    const cases: [string, (d: Device, bo: GemObject) => unknown][] = [
      ['fpfn above lpfn', (d, bo) => d.validate(bo, [{ domain: 'vram', fpfn: 8, lpfn: 4 }])],
      ['an empty window', (d, bo) => d.validate(bo, [{ domain: 'vram', fpfn: 4, lpfn: 4 }])],
      ['a negative fpfn', (d, bo) => d.validate(bo, [{ domain: 'vram', fpfn: -1 }])],
      ['an lpfn past u32', (d, bo) => d.validate(bo, [{ domain: 'vram', lpfn: 2 ** 32 }])],
      ['an unknown type name', (d, bo) => d.validate(bo, [{ domain: 'gds' }])],
      ['a non-boolean contiguous', (d, bo) => d.validate(bo, [{ domain: 'vram', contiguous: 1 as never }])],
      ['an unknown type in evict placement', (d, bo) => d.setEvictPlacement(bo, [{ domain: 'nope' }])],
      ['memory() of an unknown type', (d) => d.memory('gds')],
    ]
    for (const [what, f] of cases) {
      it(`${what}: EINVAL`, () => {
        const d = dev()
        const bo = d.createObject({ size: BO })
        bo.resv.lock()
        const before = [d.resource(bo), d.memory('vram'), d.placementTotals]
        expect(errnoOf(() => f(d, bo))).toBe('EINVAL')
        expect([d.resource(bo), d.memory('vram'), d.placementTotals]).toEqual(before)
        bo.resv.unlock()
      })
    }

    const devices: [string, DeviceOptions['memory']][] = [
      ['seven private types', { private: [1, 2, 3, 4, 5, 6, 7].map((i) => ({ name: `p${i}`, size: M })) }],
      ['a private type named vram', { private: [{ name: 'vram', size: M }] }],
      [
        'two private types of one name',
        {
          private: [
            { name: 'a', size: M },
            { name: 'a', size: M },
          ],
        },
      ],
      ['an unknown allocator', { vram: { size: M, allocator: 'slab' as never } }],
      ['a buddy below one page', { vram: { size: 100n, allocator: 'buddy' } }],
      ['a hop through an unknown type', { multihop: [{ from: 'vram', to: 'system', via: 'x' }] }],
      ['a hop that is no detour', { multihop: [{ from: 'vram', to: 'gtt', via: 'gtt' }] }],
    ]
    for (const [what, memory] of devices) {
      it(`a device with ${what}: EINVAL`, () => {
        expect(errnoOf(() => dev(memory))).toBe('EINVAL')
      })
    }
  })
})
