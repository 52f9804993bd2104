/**
 * The fence, wait and reserve cases of the kernel's TTM KUnit suites, ported
 * to the public API on both engines (written from the test descriptions,
 * drivers/gpu/drm/ttm/tests/ttm_bo_test.c and ttm_bo_validate_test.c).
 *
 * Ported from ttm_bo_test.c: reserve_optimistic_no_ticket (3 params),
 * reserve_locked_no_sleep, reserve_no_wait_ticket, reserve_double_resv,
 * reserve_interrupted (a scheduler thread instead of a kthread, a signal
 * from another thread instead of SIGTERM), reserve_deadlock,
 * unreserve_basic, unreserve_pinned, put_basic, put_shared_resv, pin_basic,
 * multiple_pin_one_unpin.
 * Ported from ttm_bo_validate_test.c: move_fence_signaled,
 * move_fence_not_signaled (wait / no_wait_gpu); the mock manager's
 * `man->move` is VRAM's last pipelined eviction, VRAM+1 is GTT.
 * Skipped: unreserve_bulk and pin_unpin_resource (bulk moves belong to the
 * LRU slice), no_placement_not_signaled (gutting waits are not modelled:
 * a purge is instant), and the placement cases without fences, which
 * placement.spec.ts ports.
 */
import { describe, it, expect } from 'vitest'
import { Device } from '../lib/device/device.js'
import { Scheduler } from '../lib/device/sched.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const
const K = 1024n
const M = 1024n * K

describe.each(engines)('%s engine', (engine) => {
  // KUnit's mock TTM device moves between any two types directly: no multihop.
  const dev = (copy = false) =>
    new Device({ engine, memory: { vram: M, gtt: M, multihop: [] }, ...(copy ? { copy: {} } : {}) })

  describe('ttm_bo (KUnit)', () => {
    it.each([
      [false, false],
      [false, true],
      [true, false],
    ])('reserve_optimistic_no_ticket (interruptible %s, no_wait %s) -> 0', (interruptible, noWait) => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      d.thread = 1
      bo.resv.reserve({ interruptible, noWait })
      expect(bo.resv.holder).toBe(1)
      bo.resv.unlock()
    })

    it('reserve_locked_no_sleep: a held resv with no_wait -> EBUSY', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      bo.resv.lock()
      expect(errnoOf(() => bo.resv.reserve({ noWait: true }))).toBe('EBUSY')
      bo.resv.unlock()
    })

    it('reserve_no_wait_ticket: no_wait with a ticket -> EBUSY, nothing locked', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      const ctx = d.acquireCtx()
      expect(errnoOf(() => bo.resv.reserve({ noWait: true, ticket: ctx }))).toBe('EBUSY')
      expect(bo.resv.isLocked).toBe(false)
      ctx.fini()
    })

    it('reserve_double_resv: the same ticket twice -> EALREADY', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      const ctx = d.acquireCtx()
      bo.resv.reserve({ ticket: ctx })
      expect(errnoOf(() => bo.resv.reserve({ ticket: ctx }))).toBe('EALREADY')
      bo.resv.unlock()
      ctx.fini()
    })

    it('reserve_interrupted: an interruptible reserve of a held resv, then a signal -> ERESTARTSYS', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      const s = new Scheduler(d, { seed: 7 })
      const results: string[] = []
      const waiter = s.spawn('waiter', function* (t) {
        while (!bo.resv.isLocked) yield* t.yield()
        results.push(yield* bo.resv.reserveOp({ interruptible: true }))
      })
      s.spawn('holder', function* (t) {
        yield* t.lock(bo.resv)
        // Let the waiter block on the lock before the signal.
        for (let i = 0; i < 4; i++) yield* t.yield()
        s.signal(waiter)
        for (let i = 0; i < 4; i++) yield* t.yield()
        bo.resv.unlock()
      })
      const report = s.run()
      expect(report.completed).toBe(true)
      expect(results).toEqual(['ERESTARTSYS'])
    })

    it('an uninterruptible reserve ignores the signal and gets the lock', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      const s = new Scheduler(d, { seed: 7 })
      const results: string[] = []
      const waiter = s.spawn('waiter', function* (t) {
        while (!bo.resv.isLocked) yield* t.yield()
        results.push(yield* bo.resv.reserveOp())
        bo.resv.unlock()
      })
      s.spawn('holder', function* (t) {
        yield* t.lock(bo.resv)
        for (let i = 0; i < 4; i++) yield* t.yield()
        s.signal(waiter)
        bo.resv.unlock()
      })
      expect(s.run().completed).toBe(true)
      expect(results).toEqual(['ok'])
    })

    it('reserve_deadlock: bo2 held by an older ticket -> EDEADLK (wait-die)', () => {
      const d = dev()
      const [bo1, bo2] = [d.createObject({ size: 8n * K }), d.createObject({ size: 8n * K })]
      d.thread = 2
      const older = d.acquireCtx()
      bo2.resv.reserve({ ticket: older })
      d.thread = 1
      const younger = d.acquireCtx()
      expect(older.stamp < younger.stamp).toBe(true)
      bo1.resv.reserve({ ticket: younger })
      expect(errnoOf(() => bo2.resv.reserve({ ticket: younger }))).toBe('EDEADLK')
      bo1.resv.unlock()
      younger.fini()
      d.thread = 2
      bo2.resv.unlock()
      older.fini()
    })

    it('unreserve_basic: after unreserve the buffer is last on its LRU', () => {
      const d = dev()
      const [bo1, bo2] = [d.createObject({ size: 8n * K }), d.createObject({ size: 8n * K })]
      expect(d.lru('system').map((o) => o.id)).toEqual([bo1.id, bo2.id])
      bo1.resv.reserve()
      bo1.resv.unlock()
      expect(d.lru('system').at(-1)).toBe(bo1)
    })

    it('unreserve_pinned: a pinned buffer stays off the LRU after unreserve', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      bo.resv.reserve()
      bo.pinLocked()
      bo.resv.unlock()
      expect(d.lru('system')).not.toContain(bo)
      expect(bo.pinCount).toBe(1)
    })

    it('put_basic: the last put frees the buffer at once', () => {
      const d = dev(true)
      const bo = d.createObject({ size: 8n * K })
      expect(bo.put()).toBe(true)
      expect(d.pendingDestroy()).toEqual([])
      expect(d.memory('system').used).toBe(0n)
    })

    it('put_shared_resv: a shared resv with a signaled BOOKKEEP fence does not delay the put', () => {
      const d = dev(true)
      const resv = d.createResv()
      const f = d.createFence()
      f.signal()
      resv.lock()
      resv.reserveFences(1)
      resv.addFence(f, 'bookkeep')
      resv.unlock()
      const bo = d.createObject({ size: 8n * K, resv })
      expect(bo.put()).toBe(true)
      expect(d.pendingDestroy()).toEqual([])
    })

    it('pin_basic: three lock/pin/unlock rounds -> pin count 3', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      for (let i = 0; i < 3; i++) {
        bo.resv.reserve()
        bo.pinLocked()
        bo.resv.unlock()
      }
      expect(bo.pinCount).toBe(3)
    })

    it('multiple_pin_one_unpin: pin twice, unpin once -> 1, still off the LRU', () => {
      const d = dev()
      const bo = d.createObject({ size: 8n * K })
      bo.resv.reserve()
      bo.pinLocked()
      bo.pinLocked()
      expect(bo.pinCount).toBe(2)
      bo.unpinLocked()
      bo.resv.unlock()
      expect(bo.pinCount).toBe(1)
      expect(d.lru('system')).not.toContain(bo)
    })
  })

  describe('ttm_bo_validate (KUnit, fences)', () => {
    /** VRAM full with a 1 MiB buffer that has pages, then a 4K buffer evicts it: VRAM's last eviction copies. */
    const pipelined = (d: Device) => {
      const victim = d.createObject({ size: M })
      victim.resv.lock()
      d.validate(victim, [{ domain: 'gtt' }])
      d.validate(victim, [{ domain: 'vram' }])
      victim.resv.unlock()
      d.advance(1_000_000n)
      d.setEvictPlacement(victim, [{ domain: 'system' }])
      const first = d.createObject({ size: 4n * K })
      first.resv.lock()
      const r = d.validate(first, [{ domain: 'vram' }])
      first.resv.unlock()
      expect(r.evictions).toBe(1)
      return d.copyJobs().find((j) => j.object === victim.id && j.evicted)
    }
    const placement = [
      { domain: 'vram' as const, desired: true },
      { domain: 'gtt' as const, fallback: true },
    ]

    it('move_fence_signaled: a signaled domain move fence -> placed, bytes moved = size', () => {
      const d = dev(true)
      const job = pipelined(d)
      d.advance((job?.end as bigint) - d.now)
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      const r = d.validate(bo, placement, { noWaitGpu: true })
      expect([bo.domain, r.bytesMoved, r.fence]).toEqual(['vram', 4n * K, null])
      bo.resv.unlock()
    })

    it.each([
      [false, 'vram'],
      [true, 'gtt'],
    ])('move_fence_not_signaled (no_wait_gpu %s) -> %s, bytes moved = size', (noWaitGpu, where) => {
      const d = dev(true)
      const job = pipelined(d)
      const bo = d.createObject({ size: 4n * K })
      bo.resv.lock()
      const r = d.validate(bo, placement, { noWaitGpu })
      expect([bo.domain, r.bytesMoved]).toEqual([where, 4n * K])
      // Waiting: the eviction fence is the buffer's KERNEL fence (a null move of an empty buffer).
      if (!noWaitGpu) expect([r.fence?.id, r.fenceEnd]).toEqual([job?.fence.id, job?.end])
      bo.resv.unlock()
    })
  })
})
