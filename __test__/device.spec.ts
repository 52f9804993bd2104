/**
 * Reservation locks, fences, pin and vmap on both engines: the ttm_bo
 * reserve KUnit cases, ww_mutex classes, lockdep-style violations, every
 * pin/vmap rule and the era profiles.
 */
import { describe, it, expect } from 'vitest'
import { Device, type DeviceOptions } from '../lib/device/device.js'
import { DrmWarning } from '../lib/base/errors.js'
import { GemObject } from '../lib/device/gem.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const
const kinds = (d: Device) => d.takeViolations().map((v) => v.kind)
const errno = errnoOf

describe.each(engines)('%s engine', (engine) => {
  const dev = (o: DeviceOptions = {}) => new Device({ engine, ...o })

  describe('ttm_bo reserve (KUnit)', () => {
    it('reserve_optimistic_no_ticket: a free lock is taken', () => {
      const d = dev()
      const bo = d.createObject({ size: 8192n })
      bo.resv.lock()
      expect(bo.resv.isLocked).toBe(true)
      expect(bo.resv.holder).toBe(0)
      bo.resv.unlock()
      expect(bo.resv.isLocked).toBe(false)
    })

    it('reserve_locked_no_sleep: no-wait on a held lock gives EBUSY', () => {
      const d = dev()
      const bo = d.createObject({ size: 8192n })
      bo.resv.lock()
      d.thread = 1
      expect(bo.resv.trylock()).toBe(false)
      d.thread = 0
      bo.resv.unlock()
      expect(d.violations).toEqual([])
    })

    it('reserve_double_resv: the same ticket twice gives EALREADY', () => {
      const d = dev()
      const bo = d.createObject({ size: 8192n })
      using ctx = d.acquireCtx()
      bo.resv.lock(ctx)
      expect(errno(() => bo.resv.lock(ctx))).toBe('EALREADY')
      expect(ctx.acquired).toBe(1)
      bo.resv.unlock()
    })

    it('reserve_deadlock: a younger ticket meeting an older holder gives EDEADLK', () => {
      const d = dev()
      const [bo1, bo2] = [d.createObject({ size: 8192n }), d.createObject({ size: 8192n })]
      d.thread = 2
      const older = d.acquireCtx()
      d.thread = 1
      const younger = d.acquireCtx()
      expect(older.stamp).toBeLessThan(younger.stamp)
      d.thread = 2
      bo2.resv.lock(older)
      d.thread = 1
      bo1.resv.lock(younger)
      expect(errno(() => bo2.resv.lock(younger))).toBe('EDEADLK')
      expect(bo2.resv.lockingCtx?.id).toBe(older.id)
      // Backoff: unlock everything, slow-lock the contended one (after the older one is done).
      bo1.resv.unlock()
      d.thread = 2
      bo2.resv.unlock()
      older.fini()
      d.thread = 1
      bo2.resv.lockSlow(younger)
      bo1.resv.lock(younger)
      bo1.resv.unlock()
      bo2.resv.unlock()
      younger.fini()
      expect(d.violations).toEqual([])
    })

    it('pin_basic: three pins under the lock give pin count 3; unpin decrements', () => {
      const d = dev()
      const bo = d.createObject({ size: 8192n })
      for (let i = 0; i < 3; i++) {
        using _g = bo.resv.guard()
        bo.pinLocked()
      }
      expect(bo.pinCount).toBe(3)
      expect(bo.unpin()).toBe(2)
      expect(bo.pinCount).toBe(2)
      expect(bo.resv.isLocked).toBe(false)
      expect(d.violations).toEqual([])
    })

    it('multiple_pin_one_unpin', () => {
      const d = dev()
      const bo = d.createObject({ size: 8192n })
      bo.pin()
      bo.pin()
      expect(bo.pinCount).toBe(2)
      bo.unpin()
      expect(bo.pinCount).toBe(1)
      expect(bo.pinDomain).toBe('system')
    })
  })

  describe('ww_mutex classes', () => {
    it('wait-die: the older waits, the younger with locks dies, one without locks waits', () => {
      const d = dev()
      const [a, b] = [d.createObject({ size: 1n }), d.createObject({ size: 1n })]
      d.thread = 1
      const old = d.acquireCtx()
      d.thread = 2
      const young = d.acquireCtx()
      d.thread = 1
      a.resv.lock(old)
      d.thread = 2
      expect(errno(() => a.resv.lock(young))).toBe('EDEADLK') // would block: no locks held, so it waits
      expect(d.takeViolations()).toEqual([])
      expect(young.acquired).toBe(0)
      b.resv.lock(young)
      expect(errno(() => a.resv.lock(young))).toBe('EDEADLK')
      d.thread = 1
      // Older meets younger: it would sleep, never die.
      const out = b.resv.attempt(old, false)
      expect(out).toEqual({ result: 'blocked', holder: 2 })
    })

    it('wound-wait: the older wounds the younger holder, which dies at its next contended lock', () => {
      const d = dev({ wwClass: 'wound-wait' })
      const [a, b] = [d.createObject({ size: 1n }), d.createObject({ size: 1n })]
      d.thread = 1
      const old = d.acquireCtx()
      d.thread = 2
      const young = d.acquireCtx()
      d.thread = 1
      a.resv.lock(old)
      d.thread = 2
      b.resv.lock(young)
      d.thread = 1
      expect(b.resv.attempt(old, false).result).toBe('blocked')
      expect(young.wounded).toBe(true)
      d.thread = 2
      expect(b.resv.attempt(young, false).result).toBe('EALREADY')
      expect(a.resv.attempt(young, false).result).toBe('EDEADLK')
      // A younger requester in wound-wait just waits.
      d.thread = 1
      a.resv.unlock()
      d.thread = 2
      b.resv.unlock()
      expect(young.acquired).toBe(0)
    })

    it('records lockdep-style misuse', () => {
      const d = dev()
      const [a, b] = [d.createObject({ size: 1n }), d.createObject({ size: 1n })]
      const ctx = d.acquireCtx()
      a.resv.lockSlow(ctx)
      expect(kinds(d)).toEqual(['slow-without-edeadlk'])
      d.acquireCtx()
      expect(kinds(d)).toEqual(['ctx-nested-init'])
      b.resv.unlock()
      expect(kinds(d)).toEqual(['unlock-not-held'])
      d.thread = 3
      a.resv.unlock()
      expect(kinds(d)).toEqual(['unlock-not-owner'])
      d.thread = 0
      ctx.done()
      b.resv.lock(ctx)
      expect(kinds(d)).toEqual(['lock-after-done'])
      ctx.fini()
      expect(kinds(d)).toEqual(['fini-with-locks-held'])
      expect(errno(() => a.resv.lock())).toBe('EDEADLK')
      expect(kinds(d)).toEqual(['recursive-lock'])
      expect(errno(() => ctx.fini())).toBe('EINVAL')
    })

    it('records a slow lock while still holding locks, and a wrong first lock after EDEADLK', () => {
      const d = dev()
      const [a, b, c] = [1, 2, 3].map(() => d.createObject({ size: 1n }))
      d.thread = 1
      const old = d.acquireCtx()
      b.resv.lock(old)
      d.thread = 2
      const young = d.acquireCtx()
      a.resv.lock(young)
      expect(errno(() => b.resv.lock(young))).toBe('EDEADLK')
      c.resv.lock(young)
      expect(kinds(d)).toEqual(['edeadlk-wrong-lock', 'edeadlk-not-backed-off'])
      expect(errno(() => b.resv.lock(young))).toBe('EDEADLK')
      expect(errno(() => b.resv.lockSlow(young))).toBe('EDEADLK')
      expect(kinds(d)).toEqual(['slow-while-holding'])
    })

    it('guards unlock on scope exit, even on a throw', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      expect(() => {
        using _g = bo.resv.guard()
        expect(bo.resv.isLocked).toBe(true)
        throw new Error('boom')
      }).toThrow('boom')
      expect(bo.resv.isLocked).toBe(false)
      {
        using ctx = d.acquireCtx()
        using _g = bo.resv.guard(ctx)
        expect(bo.resv.lockingCtx?.id).toBe(ctx.id)
      }
      expect(d.violations).toEqual([])
    })

    it('objects can share one resv, as the objects of a VM do', () => {
      const d = dev()
      const vmResv = d.createResv()
      const a = d.createObject({ size: 1n, resv: vmResv })
      const b = d.createObject({ size: 1n, resv: a })
      expect(a.resv.id).toBe(vmResv.id)
      expect(b.resv.id).toBe(vmResv.id)
      const ctx = d.acquireCtx()
      a.resv.lock(ctx)
      expect(errno(() => b.resv.lock(ctx))).toBe('EALREADY')
    })
  })

  describe('fences', () => {
    it('queries return every fence at or below the usage; usage is promoted, never degraded', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      const f1 = d.createFence({ signalAt: 100n })
      const f2 = d.createFence()
      bo.resv.lock()
      bo.resv.reserveFences(2)
      bo.resv.addFence(f1, 'bookkeep')
      bo.resv.addFence(f2, 'write')
      expect(bo.resv.fences('kernel')).toEqual([])
      expect(bo.resv.fences('write').map((e) => e.fence.id)).toEqual([f2.id])
      expect(bo.resv.fences('bookkeep').length).toBe(2)
      bo.resv.addFence(f1, 'read')
      expect(bo.resv.fences('read').map((e) => [e.fence.id, e.usage])).toEqual([
        [f1.id, 'read'],
        [f2.id, 'write'],
      ])
      bo.resv.reserveFences(1)
      bo.resv.addFence(f2, 'bookkeep')
      expect(bo.resv.fences('write').map((e) => [e.fence.id, e.usage])).toEqual([[f2.id, 'write']])
      expect(d.violations).toEqual([])
      expect(bo.resv.testSignaled('bookkeep')).toBe(false)
      d.advance(100n)
      expect(f1.signaled).toBe(true)
      expect(bo.resv.testSignaled('read')).toBe(false)
      f2.signal()
      expect(bo.resv.testSignaled('bookkeep')).toBe(true)
      bo.resv.unlock()
    })

    it('needs the lock and a reserved slot; unlock drops reserved slots', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      const f = d.createFence()
      bo.resv.addFence(f, 'kernel')
      expect(kinds(d)).toEqual(['resv-not-held', 'fence-slot-not-reserved'])
      bo.resv.lock()
      bo.resv.reserveFences(1)
      bo.resv.unlock()
      bo.resv.lock()
      bo.resv.addFence(d.createFence(), 'kernel')
      expect(kinds(d)).toEqual(['fence-slot-not-reserved'])
    })

    it('wait advances the clock to the last fence; a fence that never signals would wait forever', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      bo.resv.lock()
      bo.resv.reserveFences(2)
      bo.resv.addFence(d.createFence({ signalAt: 50n }), 'kernel')
      bo.resv.addFence(d.createFence({ signalAt: 70n }), 'read')
      bo.resv.wait('write')
      expect(d.now).toBe(50n)
      bo.resv.wait('bookkeep')
      expect(d.now).toBe(70n)
      const never = d.createFence()
      expect(errno(() => never.wait())).toBe('EDEADLK')
    })
  })

  describe('pin and vmap (gem-vram-2024)', () => {
    it('pinLocked needs the lock; unpin at zero is recorded', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      bo.pinLocked()
      expect(kinds(d)).toEqual(['pin-unlocked'])
      bo.unpinLocked()
      expect(kinds(d)).toEqual(['unpin-unlocked'])
      expect(bo.unpin()).toBe(0)
      expect(kinds(d)).toEqual(['unpin-unpinned'])
    })

    it('a first pin moves to the domain; a re-pin elsewhere keeps the old domain and is recorded', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      expect(bo.domain).toBe('system')
      bo.pin('vram')
      expect(bo.domain).toBe('vram')
      expect(bo.generation).toBe(1n)
      bo.pin('system')
      expect(bo.pinDomain).toBe('vram')
      expect(kinds(d)).toEqual(['repin-other-domain'])
      bo.pin('vram')
      bo.pin()
      expect(d.violations).toEqual([])
      expect(bo.pinCount).toBe(4)
      bo.resv.lock()
      expect(errno(() => bo.moveLocked('system'))).toBe('EINVAL')
    })

    it('vmapLocked needs the lock, counts uses and does not pin', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      bo.vmapLocked()
      expect(kinds(d)).toEqual(['vmap-unlocked'])
      bo.resv.lock()
      const m = bo.vmapLocked()
      expect(bo.vmapCount).toBe(2)
      expect(bo.pinCount).toBe(0)
      expect(m.iomem).toBe(false)
      expect(m.access()).toBe(true)
      expect(bo.vunmapLocked()).toBe(1)
      expect(bo.vunmapLocked()).toBe(0)
      expect(bo.vunmapLocked()).toBe(0)
      expect(kinds(d)).toEqual(['vunmap-unbalanced'])
      expect(m.access()).toBe(false)
      expect(kinds(d)).toEqual(['unmapped-access'])
      bo.resv.unlock()
      bo.vunmapLocked()
      expect(kinds(d)).toEqual(['vunmap-unlocked', 'vunmap-unbalanced'])
    })

    it('a mapping used after the buffer moved is stale; moving a vmapped buffer is recorded', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      bo.resv.lock()
      const m = bo.vmapLocked()
      expect(bo.moveLocked('vram')).toBe(true)
      expect(kinds(d)).toEqual(['move-while-vmapped'])
      m.access()
      expect(kinds(d)).toEqual(['stale-mapping'])
      const fresh = bo.vmapLocked()
      expect(fresh.iomem).toBe(true)
      expect(fresh.generation).toBe(1n)
      expect(fresh.addr).not.toBe(m.addr)
      expect(fresh.access()).toBe(true)
      expect(bo.moveLocked('vram')).toBe(false)
      bo.resv.unlock()
      bo.moveLocked('gtt')
      expect(kinds(d)).toEqual(['move-unlocked', 'move-while-vmapped'])
    })

    it('vmapLocal keeps the lock until vunmapLocal; a long-term vmap pins', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      const local = bo.vmapLocal()
      expect(bo.resv.isLocked).toBe(true)
      expect(bo.pinCount).toBe(0)
      expect(local.access()).toBe(true)
      bo.vunmapLocal()
      expect(bo.resv.isLocked).toBe(false)
      const lt = bo.vmap()
      expect(bo.resv.isLocked).toBe(false)
      expect(bo.pinCount).toBe(1)
      expect(lt.access()).toBe(true)
      bo.resv.lock()
      expect(errno(() => bo.moveLocked('vram'))).toBe('EINVAL')
      bo.resv.unlock()
      expect(bo.vunmap()).toBe(0)
      expect(bo.pinCount).toBe(0)
      expect(d.violations).toEqual([])
      expect(errno(() => bo.kmap())).toBe('EINVAL')
    })

    it('an access with neither the lock nor a pin is recorded', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      bo.resv.lock()
      const m = bo.vmapLocked()
      bo.resv.unlock()
      m.access()
      expect(kinds(d)).toEqual(['unprotected-access'])
    })
  })

  describe('era profiles', () => {
    it('gem-vram-2019: vmap pins where the buffer is, kmap neither pins nor locks', () => {
      const d = dev({ profile: 'gem-vram-2019' })
      const bo = d.createObject({ size: 1n })
      const v = bo.vmapLocked()
      expect(bo.pinCount).toBe(1)
      expect(bo.pinDomain).toBe('system')
      const k = bo.kmap()
      expect(bo.vmapCount).toBe(2)
      expect(v.access()).toBe(true)
      bo.vunmapLocked()
      expect(bo.pinCount).toBe(0)
      expect(k.access()).toBe(false)
      expect(kinds(d)).toEqual(['unprotected-access'])
      bo.kunmap()
      bo.kunmap()
      expect(kinds(d)).toEqual(['vunmap-unbalanced'])
      expect(errno(() => bo.vmapLocal())).toBe('EINVAL')
      const lt = bo.vmap()
      expect(lt.kind).toBe('long-term')
      expect(bo.pinCount).toBe(1)
      bo.vunmap()
      expect(bo.pinCount).toBe(0)
      expect(d.violations).toEqual([])
    })

    it('shmem: vmap needs the lock and pins the pages; the object never moves', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n << 20n, profile: 'shmem' })
      expect(bo.profile).toBe('shmem')
      bo.resv.lock()
      bo.vmapLocked()
      bo.vmapLocked()
      expect(bo.pinCount).toBe(1)
      expect(errno(() => bo.moveLocked('vram'))).toBe('EINVAL')
      bo.vunmapLocked()
      bo.vunmapLocked()
      expect(bo.pinCount).toBe(0)
      bo.pinLocked('vram')
      expect(bo.pinDomain).toBe('system')
      expect(d.violations).toEqual([])
    })

    it('the profiles side by side in one device', () => {
      const d = dev()
      const old = d.createObject({ size: 1n, profile: 'gem-vram-2019' })
      const now = d.createObject({ size: 1n })
      old.vmapLocked()
      now.vmapLocked()
      expect(kinds(d)).toEqual(['vmap-unlocked'])
      expect([old.pinCount, now.pinCount]).toEqual([1, 0])
    })
  })

  describe('references and freeing', () => {
    it('get/put; freeing while pinned, vmapped or VA-mapped is recorded', () => {
      const d = dev()
      const vm = new GpuVm({ engine, range: 1n << 32n })
      d.attachVm(vm)
      const bo = d.createObject({ size: 0x2000n })
      vm.bind({ addr: 0x10000n, range: 0x2000n, obj: bo, offset: 0n })
      expect(bo.vaMappings).toBe(1)
      bo.get()
      expect(bo.refcount).toBe(2)
      expect(bo.put()).toBe(false)
      bo.pin()
      bo.vmapLocal()
      bo.resv.unlock()
      expect(bo.put()).toBe(true)
      expect(kinds(d)).toEqual(['free-while-va-mapped', 'free-while-vmapped', 'free-while-pinned'])
      expect(bo.freed).toBe(true)
      expect(errno(() => bo.get())).toBe('EINVAL')
      expect(errno(() => bo.pin())).toBe('EINVAL')
    })

    it('a clean free records nothing', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      expect(bo.put()).toBe(true)
      expect(d.violations).toEqual([])
    })
  })

  describe('bad input and strict mode', () => {
    it('refuses bad arguments with EINVAL and leaves the state unchanged', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      expect(errno(() => d.createObject({ size: -1n }))).toBe('EINVAL')
      expect(errno(() => d.createObject({ size: 1n, profile: 'x' as never }))).toBe('EINVAL')
      expect(errno(() => bo.pin('nowhere' as never))).toBe('EINVAL')
      expect(errno(() => bo.moveLocked('current' as never))).toBe('EINVAL')
      expect(errno(() => bo.resv.fences('all' as never))).toBe('EINVAL')
      expect(errno(() => bo.resv.reserveFences(-1))).toBe('EINVAL')
      expect(errno(() => (d.thread = -1))).toBe('EINVAL')
      expect(errno(() => d.createFence({ signalAt: 1.5 as never }))).toBe('EINVAL')
      expect(errno(() => new Device({ engine, wwClass: 'x' as never }))).toBe('EINVAL')
      expect(errno(() => new GemObject({ size: 1n }).pin())).toBe('EINVAL')
      expect(errno(() => d.createObject({ size: 1n, id: bo.id }))).toBe('EEXIST')
      expect(bo.pinCount).toBe(0)
      expect(bo.resv.isLocked).toBe(false)
      expect(d.violations).toEqual([])
    })

    it('strict mode throws DrmWarning instead of recording', () => {
      const d = dev({ strict: true })
      const bo = d.createObject({ size: 1n })
      expect(() => bo.pinLocked()).toThrow(DrmWarning)
      try {
        bo.unpin()
      } catch (e) {
        expect((e as DrmWarning).warning.kind).toBe('unpin-unpinned')
        expect((e as DrmWarning).warning.rule).toMatch(/WARN_ON/)
      }
      expect(d.violations).toEqual([])
    })

    it('violations carry kind, object, message and rule', () => {
      const d = dev()
      const bo = d.createObject({ size: 1n })
      bo.unpin()
      const [v] = d.violations
      expect(v).toMatchObject({ kind: 'unpin-unpinned', object: bo.id })
      expect(v.message).toContain(`GEM object ${bo.id}`)
      expect(v.rule).toBeTruthy()
    })
  })
})
