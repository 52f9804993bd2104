/**
 * The deterministic scheduler: the seed stories as scenarios (seed 002's
 * private kmap mutex racing a move, against the same code under the
 * reservation lock; a 2024 fbdev blit with neither lock nor pin, and its
 * fixes), deadlock detection, wait-die under contention, reproducibility.
 */
import { describe, it, expect } from 'vitest'
import { Device } from '../lib/device/device.js'
import { DrmError } from '../lib/base/errors.js'
import { explore, type RunReport, Scheduler, seeds, SplitMix64 } from '../lib/device/sched.js'

const engines = ['reference', 'native'] as const
const has = (r: RunReport, kind: string) => r.violations.some((v) => v.kind === kind)
const N = 60

describe('SplitMix64', () => {
  it('gives the reference stream for seed 0', () => {
    const r = new SplitMix64(0n)
    expect(r.next()).toBe(0xe220a8397b1dcdafn)
    expect(r.next()).toBe(0x6e789e6aa1b965f4n)
  })
})

describe.each(engines)('scheduler on the %s engine', (engine) => {
  /** A move thread that holds only the reservation lock, as TTM eviction does. */
  const mover = (_device: Device, bo: ReturnType<Device['createObject']>) =>
    function* (t: import('../lib/device/sched.js').SimThread) {
      for (const to of ['vram', 'system', 'vram'] as const) {
        yield* t.lock(bo.resv)
        try {
          bo.moveLocked(to)
        } catch (e) {
          if (!(e instanceof DrmError) || e.errno !== 'EINVAL') throw e // pinned: refused
        } finally {
          bo.resv.unlock()
        }
        yield* t.sleep(3n)
      }
    }

  describe('seed 002: kmap under a private mutex vs a move under the resv lock', () => {
    const scenario = (useResv: boolean) => (seed: bigint) => {
      const d = new Device({ engine, profile: 'gem-vram-2019' })
      const bo = d.createObject({ size: 1n << 20n })
      const kmapLock = d.createMutex()
      const s = new Scheduler(d, { seed })
      s.spawn('fbdev', function* (t) {
        for (let i = 0; i < 3; i++) {
          const lock = useResv ? bo.resv : kmapLock
          yield* t.lock(lock)
          const m = bo.kmap()
          if (!useResv) lock.unlock()
          yield* t.yield()
          m.access() // the blit
          yield* t.yield()
          if (!useResv) yield* t.lock(lock)
          bo.kunmap()
          lock.unlock()
          yield* t.sleep(2n)
        }
      })
      s.spawn('modeset', mover(d, bo))
      return s
    }

    it('the private mutex races the move: some interleavings use a stale mapping', () => {
      const reports = explore(scenario(false), seeds(N))
      for (const r of reports) {
        expect(r.completed).toBe(true)
        expect(has(r, 'unprotected-access')).toBe(true)
      }
      const raced = reports.filter((r) => has(r, 'stale-mapping'))
      expect(raced.length).toBeGreaterThan(0)
      expect(raced.length).toBeLessThan(N)
      for (const r of raced) expect(has(r, 'move-while-vmapped')).toBe(true)
    })

    it('the same code under the reservation lock is clean in every interleaving', () => {
      for (const r of explore(scenario(true), seeds(N))) {
        expect(r.completed).toBe(true)
        expect(r.violations).toEqual([])
      }
    })
  })

  describe('fbdev blit (2024): neither lock nor pin, vmap_local, long-term vmap', () => {
    const scenario = (mode: 'bare' | 'local' | 'pinned') => (seed: bigint) => {
      const d = new Device({ engine })
      const bo = d.createObject({ size: 1n << 20n })
      const s = new Scheduler(d, { seed })
      s.spawn('fbdev', function* (t) {
        if (mode === 'bare') {
          // vmap once (amdgpu did not pin), then blit without the lock.
          yield* t.lock(bo.resv)
          const m = bo.vmapLocked()
          bo.resv.unlock()
          for (let i = 0; i < 3; i++) {
            yield* t.sleep(2n)
            m.access()
          }
        } else if (mode === 'local') {
          for (let i = 0; i < 3; i++) {
            yield* t.sleep(2n)
            const m = yield* bo.vmapLocalOp()
            yield* t.yield()
            m.access()
            bo.vunmapLocal()
          }
        } else {
          const m = yield* bo.vmapOp()
          for (let i = 0; i < 3; i++) {
            yield* t.sleep(2n)
            m.access()
          }
          yield* bo.vunmapOp()
        }
      })
      s.spawn('modeset', mover(d, bo))
      return s
    }

    it('without lock or pin the blit is unprotected and, when the move comes first, stale', () => {
      const reports = explore(scenario('bare'), seeds(N))
      for (const r of reports) expect(has(r, 'unprotected-access')).toBe(true)
      expect(reports.some((r) => has(r, 'stale-mapping'))).toBe(true)
    })

    it('vmap_local (the 2024 fix) and a pinned long-term vmap are clean', () => {
      for (const mode of ['local', 'pinned'] as const) {
        for (const r of explore(scenario(mode), seeds(N))) {
          expect(r.errors).toEqual([])
          expect(r.completed).toBe(true)
          expect(r.violations).toEqual([])
        }
      }
    })
  })

  describe('deadlocks', () => {
    const abba = (useCtx: boolean) => (seed: bigint) => {
      const d = new Device({ engine })
      const [a, b] = [d.createObject({ size: 1n }), d.createObject({ size: 1n })]
      const s = new Scheduler(d, { seed })
      const body = (first: typeof a, second: typeof a) =>
        function* (t: import('../lib/device/sched.js').SimThread) {
          if (!useCtx) {
            yield* t.lock(first.resv)
            yield* t.yield()
            yield* t.lock(second.resv)
            second.resv.unlock()
            first.resv.unlock()
            return
          }
          // The ww backoff protocol by hand.
          const ctx = d.acquireCtx()
          let order = [first, second]
          for (;;) {
            const held: (typeof a)[] = []
            let contended = null as typeof a | null
            for (const o of order) {
              const r =
                held.length === 0 && contended === o ? yield* t.lockSlow(o.resv, ctx) : yield* t.lock(o.resv, ctx)
              if (r === 'EDEADLK') {
                contended = o
                break
              }
              held.push(o)
              yield* t.yield()
            }
            if (contended === null) {
              for (const o of held.reverse()) o.resv.unlock()
              break
            }
            for (const o of held.reverse()) o.resv.unlock()
            const c: typeof a = contended
            order = [c, ...order.filter((o) => o !== c)]
            const r = yield* t.lockSlow(c.resv, ctx)
            expect(r).toBe('ok')
            c.resv.unlock()
          }
          ctx.fini()
        }
      s.spawn('A', body(a, b))
      s.spawn('B', body(b, a))
      return s
    }

    it('an ABBA deadlock among plain locks is detected and reported, not hung', () => {
      const reports = explore(abba(false), seeds(N))
      const dead = reports.filter((r) => r.deadlock !== null)
      expect(dead.length).toBeGreaterThan(0)
      expect(reports.some((r) => r.completed)).toBe(true)
      for (const r of dead) {
        expect(r.completed).toBe(false)
        expect([...r.deadlock!.cycle].sort()).toEqual(['A', 'B'])
        expect(r.deadlock!.message).toMatch(/-> (A|B)$/)
        expect(r.deadlock!.waiting).toHaveLength(2)
      }
    })

    it('the same locks with wait-die contexts never deadlock', () => {
      for (const r of explore(abba(true), seeds(N))) {
        expect(r.errors).toEqual([])
        expect(r.deadlock).toBeNull()
        expect(r.completed).toBe(true)
        expect(r.violations).toEqual([])
      }
    })

    it('a thread relocking its own plain lock is a deadlock of one', () => {
      const d = new Device({ engine })
      const m = d.createMutex()
      const s = new Scheduler(d, { seed: 1 })
      s.spawn('self', function* (t) {
        yield* t.lock(m)
        yield* t.lock(m)
      })
      const r = s.run()
      expect(r.deadlock?.cycle).toEqual(['self'])
      expect(r.violations.map((v) => v.kind)).toEqual(['recursive-lock'])
    })

    it('a thread waiting on a fence that never signals is reported', () => {
      const d = new Device({ engine })
      const f = d.createFence()
      const s = new Scheduler(d, { seed: 1 })
      s.spawn('waiter', (t) => t.wait(f))
      const r = s.run()
      expect(r.deadlock?.waiting).toEqual([{ thread: 'waiter', on: `fence ${f.id}`, holder: null }])
    })
  })

  describe('blocking, time and reproducibility', () => {
    it('a blocked lock waits for the unlock; fences signal on simulated time', () => {
      const d = new Device({ engine })
      const bo = d.createObject({ size: 1n })
      const f = d.createFence({ signalAt: 500n })
      const s = new Scheduler(d, { seed: 7 })
      const order: string[] = []
      s.spawn('holder', function* (t) {
        yield* t.lock(bo.resv)
        order.push('holder locked')
        yield* t.wait(f)
        order.push(`holder woke at ${d.now}`)
        bo.resv.unlock()
      })
      s.spawn('waiter', function* (t) {
        yield* t.sleep(1n)
        yield* t.lock(bo.resv)
        order.push(`waiter locked at ${d.now}`)
        bo.resv.unlock()
      })
      const r = s.run()
      expect(r.completed).toBe(true)
      expect(order).toEqual(['holder locked', 'holder woke at 500', 'waiter locked at 500'])
      expect(r.trace).toContain('waiter: lock resv 1 blocks on holder')
    })

    it('the same seed replays the same interleaving; different seeds explore others', () => {
      const build = (seed: bigint) => {
        const d = new Device({ engine })
        const objs = [0, 1].map(() => d.createObject({ size: 1n }))
        const s = new Scheduler(d, { seed })
        for (const name of ['x', 'y', 'z']) {
          s.spawn(name, function* (t) {
            for (const o of objs) {
              yield* t.lock(o.resv)
              yield* t.yield()
              o.resv.unlock()
            }
          })
        }
        return s
      }
      const a = explore(build, [42n, 42n, 43n])
      expect(a[0].trace).toEqual(a[1].trace)
      const traces = new Set(explore(build, seeds(20)).map((r) => r.trace.join('\n')))
      expect(traces.size).toBeGreaterThan(5)
    })

    it('both engines give the same trace for a seed', () => {
      if (engine !== 'native') return
      const run = (e: 'native' | 'reference') => {
        const d = new Device({ engine: e, profile: 'gem-vram-2019' })
        const bo = d.createObject({ size: 1n })
        const s = new Scheduler(d, { seed: 99n })
        s.spawn('a', mover(d, bo))
        s.spawn('b', mover(d, bo))
        return s.run()
      }
      expect(run('native').trace).toEqual(run('reference').trace)
    })
  })
})
