/**
 * drm_exec's runs (lib/contract/exec-run.ts, execloop): `execLockRun`,
 * `addFenceRun` and `execUnlockRun` do what the single calls do, stop where
 * those would not be plain, refuse bad input the same way on both engines;
 * and the exec paths that use them (Exec, GpuVmExec) end in the state and
 * violations the one-by-one calls give, strict mode included.
 */
import { describe, expect, it } from 'vitest'
import { SplitMix64 } from '../lib/base/prng.js'
import type { DeviceCore } from '../lib/contract/device.js'
import { Device } from '../lib/device/device.js'
import { Exec } from '../lib/device/exec.js'
import type { GemObject } from '../lib/device/gem.js'
import { type Op, RUN_SYNC_MAX_REQUESTS, runSync, SyncRun } from '../lib/device/resv.js'
import { Scheduler } from '../lib/device/sched.js'
import { engineOf } from '../lib/engines.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import { GpuVmExec } from '../lib/gpuvm/vm-exec.js'
import { outcomeOf } from './errno.js'

const ENGINES = ['native', 'reference'] as const
const u32s = (...v: number[]) => Uint32Array.from(v)
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

/** A device core with objects 1..n, each with its own reservation; returns it and their reservations. */
function core(engine: (typeof ENGINES)[number], n: number): [DeviceCore, Uint32Array] {
  const c = engineOf(engine).device(0, {})
  for (const id of range(n)) c.createObject(id, 4096n, 0, 1)
  return [c, Uint32Array.from(range(n), (id) => c.objectInfo(id).resv)]
}

/** Everything a run can change: refcounts, locks and fences, the contexts, the violations (taken). */
function state(c: DeviceCore, n: number, ctxs: number[]) {
  return {
    objects: range(n).map((id) => [c.objectInfo(id).refcount, c.objectInfo(id).freed]),
    resvs: range(n).map((id) => {
      const r = c.objectInfo(id).resv
      return { ...c.resvInfo(r), fences: c.fences(r, 3) }
    }),
    ctxs: ctxs.map((x) => c.ctxInfo(x)),
    violations: c.takeViolations(),
  }
}

describe.each(ENGINES)('drm_exec runs on the %s engine', (engine) => {
  it('a run of each kind does what its single calls do', () => {
    const [a, resvs] = core(engine, 6)
    const [b] = core(engine, 6)
    const ids = u32s(...range(6))
    const [ca, cb] = [a.ctxInit(0), b.ctxInit(0)]
    expect(a.execLockRun(0, ca, ids, resvs, 1, 5, 2)).toBe(4)
    for (let i = 1; i < 5; i++) {
      expect(b.lock(0, resvs[i], cb, 0).result).toBe('ok')
      b.get(ids[i])
      b.reserveFences(0, resvs[i], 2)
    }
    expect(state(a, 6, [ca])).toEqual(state(b, 6, [cb]))
    const [fa, fb] = [a.createFence(7, 1, null), b.createFence(7, 1, null)]
    const usages = u32s(0, 1, 2, 3, 3, 0)
    expect(a.addFenceRun(0, resvs, usages, fa, 1, 5)).toBe(4)
    for (let i = 1; i < 5; i++) b.addFence(0, resvs[i], fb, usages[i])
    expect(state(a, 6, [ca])).toEqual(state(b, 6, [cb]))
    expect(a.execUnlockRun(0, ids.reverse(), resvs.reverse(), 1, 5)).toBe(4)
    for (let i = 1; i < 5; i++) {
      b.unlock(0, resvs[i])
      b.put(ids[i], 0)
    }
    const s = state(a, 6, [ca])
    expect(s).toEqual(state(b, 6, [cb]))
    expect(s.objects).toEqual(range(6).map(() => [1, false]))
    expect(s.resvs.map((r) => r.locked)).toEqual(range(6).map(() => false))
    expect(s.violations).toEqual([])
  })

  it('a lock run stops before a held lock, a freed or unknown object and a context it cannot use', () => {
    const [c, resvs] = core(engine, 5)
    const ids = u32s(...range(5))
    const ctx = c.ctxInit(0)
    expect(c.lock(0, resvs[2], ctx, 0).result).toBe('ok')
    expect(c.execLockRun(0, ctx, ids, resvs, 0, 5, -1)).toBe(2)
    const before = state(c, 5, [ctx])
    // Held by this context (EALREADY), by another thread; freed, unknown; unknown reservation.
    expect(c.execLockRun(0, ctx, ids, resvs, 2, 5, -1)).toBe(0)
    expect(c.lock(1, resvs[3], 0, 0).result).toBe('ok')
    expect(c.execLockRun(0, ctx, ids, resvs, 3, 5, -1)).toBe(0)
    c.put(5, 0)
    expect(c.execLockRun(0, ctx, ids, resvs, 4, 5, -1)).toBe(0)
    expect(c.execLockRun(0, ctx, u32s(0, 99), u32s(resvs[0], resvs[0]), 0, 2, -1)).toBe(0)
    expect(c.execLockRun(0, ctx, u32s(1), u32s(999), 0, 1, -1)).toBe(0)
    // Another thread's context, an unknown one, none, one that is done.
    expect(c.execLockRun(1, ctx, ids, resvs, 4, 5, -1)).toBe(0)
    expect(c.execLockRun(0, 0, ids, resvs, 4, 5, -1)).toBe(0)
    expect(c.execLockRun(0, 77, ids, resvs, 4, 5, -1)).toBe(0)
    c.ctxDone(0, ctx)
    const [c2, r2] = core(engine, 2)
    const done = c2.ctxInit(0)
    c2.ctxDone(0, done)
    expect(c2.execLockRun(0, done, u32s(1, 2), r2, 0, 2, 1)).toBe(0)
    expect(c2.takeViolations()).toEqual([])
    const after = state(c, 5, [ctx])
    // Only the calls of the test itself changed anything: thread 1's lock, object 5's put.
    expect(after.resvs.slice(0, 3)).toEqual(before.resvs.slice(0, 3))
    expect(after.resvs[3]).toMatchObject({ locked: true, holderThread: 1, holderCtx: 0 })
    expect(after.objects).toEqual([...before.objects.slice(0, 4), [0, true]])
    expect(after.violations).toEqual([])
  })

  it('an unlock run stops before a lock the thread does not hold and a last reference', () => {
    const [c, resvs] = core(engine, 4)
    const ids = u32s(...range(4))
    const ctx = c.ctxInit(0)
    expect(c.execLockRun(0, ctx, ids, resvs, 0, 4, 1)).toBe(4)
    c.put(3, 0)
    expect(c.execUnlockRun(0, ids, resvs, 0, 4)).toBe(2)
    expect(c.execUnlockRun(1, ids, resvs, 3, 4)).toBe(0)
    expect(c.execUnlockRun(0, ids, resvs, 2, 4)).toBe(0)
    expect(c.execUnlockRun(0, ids, resvs, 0, 1)).toBe(0)
    const s = state(c, 4, [ctx])
    expect(s.objects).toEqual([
      [1, false],
      [1, false],
      [1, false],
      [2, false],
    ])
    expect(s.ctxs[0].acquired).toBe(2)
    expect(s.violations).toEqual([])
  })

  it('a fence run stops after a violation and before an error', () => {
    const [c, resvs] = core(engine, 3)
    const ctx = c.ctxInit(0)
    expect(c.execLockRun(0, ctx, u32s(1, 2), resvs.subarray(0, 2), 0, 2, 1)).toBe(2)
    const f = c.createFence(3, 1, null)
    // The third reservation is not held: recorded (and the fence added anyway), then the run stops.
    expect(c.addFenceRun(0, resvs, u32s(3, 3, 3), f, 0, 3)).toBe(3)
    expect(c.takeViolations().map((v) => v.kind)).toEqual(['resv-not-held', 'fence-slot-not-reserved'])
    expect(c.addFenceRun(0, resvs, u32s(0, 4, 3), f, 0, 3)).toBe(1)
    expect(c.addFenceRun(0, resvs, u32s(3, 3, 3), 999, 0, 3)).toBe(0)
    expect(c.addFenceRun(0, u32s(0, 99), u32s(3, 3), f, 0, 2)).toBe(0)
    expect(c.takeViolations()).toEqual([])
    expect(c.fences(resvs[0], 3)).toEqual([{ fence: f, usage: 0 }])
  })
})

describe('drm_exec runs: bad input and hostile values, native against reference', () => {
  const calls: [string, (c: DeviceCore, r: Uint32Array) => unknown][] = [
    ['ids as a plain array', (c, r) => c.execLockRun(0, 1, [1, 2] as unknown as Uint32Array, r, 0, 2, -1)],
    ['reservations as an Int32Array', (c) => c.execUnlockRun(0, u32s(1), Int32Array.of(1) as never, 0, 1)],
    ['arrays of two lengths', (c, r) => c.execLockRun(0, 1, u32s(1), r, 0, 1, -1)],
    ['usages of another length', (c, r) => c.addFenceRun(0, r, u32s(3), 1, 0, 1)],
    ['from after to', (c, r) => c.execUnlockRun(0, u32s(1, 2), r, 2, 1)],
    ['to past the end', (c, r) => c.addFenceRun(0, r, u32s(3, 3), 1, 0, 3)],
    ['a negative from', (c, r) => c.execLockRun(0, 1, u32s(1, 2), r, -1, 2, -1)],
    ['a fractional to', (c, r) => c.execLockRun(0, 1, u32s(1, 2), r, 0, 1.5, -1)],
    ['a thread past u32', (c, r) => c.execUnlockRun(2 ** 32, u32s(1, 2), r, 0, 2)],
    ['a thread as a string', (c, r) => c.addFenceRun('0' as never, r, u32s(3, 3), 1, 0, 2)],
    ['a negative context', (c, r) => c.execLockRun(0, -1, u32s(1, 2), r, 0, 2, -1)],
    ['reserve -2', (c, r) => c.execLockRun(0, 1, u32s(1, 2), r, 0, 2, -2)],
    ['reserve NaN', (c, r) => c.execLockRun(0, 1, u32s(1, 2), r, 0, 2, Number.NaN)],
    ['a fence as a bigint', (c, r) => c.addFenceRun(0, r, u32s(3, 3), 1n as never, 0, 2)],
  ]
  it.each(calls)('%s: EINVAL with the same message, nothing changed', (_, f) => {
    const out = ENGINES.map((e) => {
      const [c, r] = core(e, 2)
      c.ctxInit(0)
      c.createFence(1, 1, null)
      const before = state(c, 2, [1])
      const o = outcomeOf(() => f(c, r))
      return { o, same: JSON.stringify(state(c, 2, [1]), big) === JSON.stringify(before, big) }
    })
    expect(out[0].o).toMatchObject({ errno: 'EINVAL' })
    expect(out[0]).toEqual(out[1])
    expect(out[0].same).toBe(true)
  })

  it('random runs and single calls over hostile ids agree call by call', () => {
    for (const seed of [1, 2, 3, 4]) {
      const rng = new SplitMix64(seed)
      const pick = (n: number) => Number(rng.below(BigInt(n)))
      const ops: ((c: DeviceCore) => unknown)[] = []
      for (let k = 0; k < 250; k++) {
        // Ids 0..9 over 8 objects and reservations: unknown ones included; threads 0 and 1; contexts 0..4.
        const len = pick(5)
        const ids = Uint32Array.from({ length: len }, () => pick(10))
        const rs = Uint32Array.from({ length: len }, () => pick(10))
        const [from, to] = [pick(len + 1), len]
        const [thread, ctx] = [pick(2), pick(5)]
        const [x, y, z] = [pick(3), pick(4), pick(10)]
        switch (pick(9)) {
          case 0:
            ops.push((c) => c.execLockRun(thread, ctx, ids, rs, Math.min(from, to), to, x - 1))
            break
          case 1:
            ops.push((c) => c.execUnlockRun(thread, ids, rs, Math.min(from, to), to))
            break
          case 2: {
            const us = Uint32Array.from({ length: len }, () => pick(5))
            ops.push((c) => c.addFenceRun(thread, rs, us, y, Math.min(from, to), to))
            break
          }
          case 3:
            ops.push((c) => c.ctxInit(thread))
            break
          case 4:
            ops.push((c) => c.ctxDone(thread, ctx))
            break
          case 5:
            ops.push((c) => c.lock(thread, z, ctx, x))
            break
          case 6:
            ops.push((c) => c.unlock(thread, z))
            break
          case 7:
            ops.push((c) => c.createFence(x, y, null))
            break
          default:
            ops.push((c) => c.put(1 + (z % 8), 0))
        }
      }
      const [a] = core('native', 8)
      const [b] = core('reference', 8)
      for (const [i, op] of ops.entries()) {
        const got = [a, b].map((c) => ({ out: outcomeOf(() => op(c)), violations: c.takeViolations() }))
        expect(got[0], `seed ${seed}, call ${i}`).toEqual(got[1])
      }
      expect(state(a, 8, [])).toEqual(state(b, 8, []))
    }
  })
})

/** 'ok', or what `f` threw as `name: message` (DrmWarning is not a DrmError). */
function caught(f: () => unknown): string {
  try {
    f()
    return 'ok'
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`
  }
}

const big = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)

/** What the exec paths leave: each object's refcount, lock holder and fences, the violations. */
function deviceState(d: Device, objs: readonly GemObject[]) {
  return {
    objects: objs.map((o) => ({
      refcount: o.refcount,
      freed: o.freed,
      locked: o.resv.isLocked,
      fences: o.resv.fences('bookkeep').map((f) => [f.fence.id, f.usage]),
    })),
    violations: d.violations.map((v) => [v.kind, v.message]),
  }
}

describe.each(ENGINES)('the exec paths on the %s engine end as one call per object would', (engine) => {
  /** A device with 40 objects, the last 10 on one shared reservation (duplicates), plus a bare one. */
  const setup = (strict = false) => {
    const d = new Device({ engine, strict })
    const shared = d.createObject({ size: 4096n })
    const objs = range(40).map((i) => d.createObject({ size: 4096n, ...(i > 30 ? { resv: shared } : {}) }))
    return { d, objs }
  }

  for (const ignoreDuplicates of [true, false])
    it(`prepareArray against prepareObj one by one (ignoreDuplicates ${ignoreDuplicates})`, () => {
      const out = [0, 1].map((oneByOne) => {
        const { d, objs } = setup()
        const exec = new Exec(d, { ignoreDuplicates })
        const rets: unknown[] = []
        exec.untilAllLocked((e) => {
          if (oneByOne) {
            for (const o of objs) {
              const r = e.prepareObj(o, 2)
              rets.push(r)
              if (r !== 0) break
            }
          } else rets.push(e.prepareArray(objs, 2))
          e.retryOnContention()
        })
        const locked = exec.objects.map((o) => objs.indexOf(o))
        const mid = { ...deviceState(d, objs), ctx: exec.ticket?.acquired }
        exec.fini()
        return { last: rets.at(-1), locked, mid, end: deviceState(d, objs) }
      })
      expect(out[0]).toEqual(out[1])
      expect(out[0].last).toBe(ignoreDuplicates ? 0 : 'EALREADY')
      expect(out[0].locked).toHaveLength(31)
      expect(out[0].end.objects.every((o) => o.refcount === 1 && !o.locked)).toBe(true)
    })

  it('a lock held by another context of the thread: EDEADLK (a wait that never ends), the locks before kept', () => {
    const out = [0, 1].map((oneByOne) => {
      const { d, objs } = setup()
      const exec = new Exec(d)
      const err = outcomeOf(() =>
        exec.untilAllLocked((e) => {
          // A younger context holds object 20: the exec's (older) waits for it, which never ends here.
          objs[20].resv.lock(d.acquireCtx())
          if (oneByOne) for (const o of objs) e.prepareObj(o, 1)
          else e.prepareArray(objs, 1)
        }),
      )
      return { err, locked: exec.objects.map((o) => objs.indexOf(o)), state: deviceState(d, objs) }
    })
    expect(out[0]).toEqual(out[1])
    expect(out[0].err).toMatchObject({ errno: 'EDEADLK' })
    expect(out[0].locked).toHaveLength(20)
  })

  for (const strict of [false, true])
    it(`locks after ww_acquire_done are recorded per lock (strict ${strict})`, () => {
      const out = [0, 1].map((oneByOne) => {
        const { d, objs } = setup(strict)
        const exec = new Exec(d)
        const err = caught(() =>
          exec.untilAllLocked((e) => {
            e.ticket?.done()
            if (oneByOne) for (const o of objs.slice(0, 5)) e.prepareObj(o, 1)
            else e.prepareArray(objs.slice(0, 5), 1)
          }),
        )
        const warned = caught(() => exec.fini())
        return { err, warned, locked: exec.objects.map((o) => objs.indexOf(o)), state: deviceState(d, objs) }
      })
      expect(out[0]).toEqual(out[1])
      if (!strict) expect(out[0].state.violations.filter((v) => v[0] === 'lock-after-done')).toHaveLength(5)
    })

  for (const strict of [false, true])
    it(`fini with a lock dropped behind the exec's back (strict ${strict})`, () => {
      const { d, objs } = setup(strict)
      const some = objs.slice(0, 6)
      const exec = new Exec(d)
      exec.untilAllLocked((e) => {
        e.prepareArray(some, 1)
      })
      some[2].resv.unlock()
      const threw = caught(() => exec.fini())
      const s = deviceState(d, some)
      // Strict mode throws the warning instead of recording it.
      expect(s.violations.map((v) => v[0])).toEqual(strict ? [] : ['unlock-not-held'])
      if (strict) {
        // Unlocked in reverse: 5, 4, 3, then the warning at 2 before its put; 1 and 0 stay locked.
        expect(threw).toMatch(/^DrmWarning: WARN unlock-not-held/)
        expect(s.objects.map((o) => [o.refcount, o.locked])).toEqual([
          [2, true],
          [2, true],
          [2, false],
          [1, false],
          [1, false],
          [1, false],
        ])
      } else {
        expect(threw).toBe('ok')
        expect(s.objects.map((o) => [o.refcount, o.locked])).toEqual(some.map(() => [1, false]))
      }
    })

  it('fini drops the last reference of an object its creator put while the exec held it', () => {
    const { d, objs } = setup()
    const exec = new Exec(d)
    exec.untilAllLocked((e) => {
      e.prepareArray(objs.slice(0, 4), 1)
    })
    expect(objs[1].put()).toBe(false)
    exec.fini()
    expect(objs.slice(0, 4).map((o) => o.freed)).toEqual([false, true, false, false])
    expect(d.violations).toEqual([])
  })

  for (const strict of [false, true])
    it(`GpuVmExec: the fence added up to an external object not held, then that one recorded (strict ${strict})`, () => {
      const d = new Device({ engine, strict })
      const vm = new GpuVm({ name: 'v', range: 1n << 40n, device: d, resvProtected: true })
      const ext = range(6).map(() => d.createObject({ size: 4096n }))
      for (const [i, o] of ext.entries()) {
        o.resv.lock()
        vm.bind({ addr: BigInt(i + 1) << 20n, range: 4096n, obj: o })
        o.resv.unlock()
      }
      const job = new GpuVmExec(vm, { numFences: 1 }).lock()
      const locked = job.exec.objects
      expect(locked).toHaveLength(7)
      locked[3].resv.unlock()
      const fence = d.createFence({ context: 9, seqno: 1 })
      const threw = caught(() => job.resvAddFence(fence, 'write', 'read'))
      const fences = locked.map((o) => o.resv.fences('bookkeep').map((f) => f.usage))
      // Strict mode throws the first warning (after that add) instead of recording it.
      expect(d.violations.map((v) => v.kind)).toEqual(strict ? [] : ['resv-not-held', 'fence-slot-not-reserved'])
      expect(threw).toMatch(strict ? /^DrmWarning: WARN resv-not-held/ : /^ok$/)
      expect(fences).toEqual(locked.map((_, i) => (i === 0 ? ['write'] : strict && i > 3 ? [] : ['read'])))
    })

  it('GpuVmExec: a bad usage is refused at the first object that takes it, the ones before fenced', () => {
    const d = new Device({ engine })
    const vm = new GpuVm({ name: 'v', range: 1n << 40n, device: d, resvProtected: true })
    for (const i of range(3)) {
      const o = d.createObject({ size: 4096n })
      o.resv.lock()
      vm.bind({ addr: BigInt(i) << 20n, range: 4096n, obj: o })
      o.resv.unlock()
    }
    const job = new GpuVmExec(vm, { numFences: 1 }).lock()
    const fence = d.createFence({ context: 9, seqno: 1 })
    expect(outcomeOf(() => job.resvAddFence(fence, 'bookkeep', 'bogus' as never))).toMatchObject({ errno: 'EINVAL' })
    expect(job.exec.objects.map((o) => o.resv.fences('bookkeep').length)).toEqual([1, 0, 0, 0])
    expect(outcomeOf(() => job.resvAddFence(fence, 'bogus' as never, 'read'))).toMatchObject({ errno: 'EINVAL' })
    const other = new Device({ engine }).createFence({ context: 1, seqno: 1 })
    expect(outcomeOf(() => job.resvAddFence(other, 'read', 'read'))).toMatchObject({ errno: 'EINVAL' })
    job.unlock()
    expect(d.violations).toEqual([])
  })

  it('under the scheduler each lock stays a step of its own (no runs)', () => {
    const { d, objs } = setup()
    const s = new Scheduler(d, { seed: 3 })
    s.spawn('t', function* () {
      const exec = new Exec(d)
      yield* exec.untilAllLockedOp(function* (e) {
        expect(yield* e.prepareArrayOp(objs.slice(0, 8), 1)).toBe(0)
      })
      exec.fini()
    })
    const report = s.run()
    expect(report.errors).toEqual([])
    expect(report.trace.filter((l) => l.includes('lock resv'))).toEqual(
      objs.slice(0, 8).map((o) => `t: lock resv ${o.resv.id} -> ok`),
    )
  })
})

describe('runSync and a run: the run counts as the requests it did', () => {
  const d = new Device({ engine: 'reference' })
  function* op(k: number): Op<string> {
    const budget: number[] = []
    yield new SyncRun((b) => {
      budget.push(b)
      return k
    })
    yield { op: 'yield' }
    return `budget ${budget[0]}`
  }
  it('a run that leaves one request to answer finishes', () => {
    expect(runSync(d, op(RUN_SYNC_MAX_REQUESTS - 2))).toBe(`budget ${RUN_SYNC_MAX_REQUESTS - 1}`)
  })
  it('a run that used the whole budget: the next request is the last, a livelock', () => {
    expect(outcomeOf(() => runSync(d, op(RUN_SYNC_MAX_REQUESTS - 1)))).toMatchObject({ errno: 'EDEADLK' })
  })
})
