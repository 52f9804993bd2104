/**
 * The drm_exec helper, from the descriptions of the kernel's drm_exec KUnit
 * cases, plus contention and the retry loop under the scheduler.
 */
import { describe, it, expect } from 'vitest'
import { Device } from '../lib/device/device.js'
import { Exec } from '../lib/device/exec.js'
import type { GemObject } from '../lib/device/gem.js'
import { explore, Scheduler, seeds } from '../lib/device/sched.js'

const engines = ['reference', 'native'] as const

describe.each(engines)('drm_exec on the %s engine', (engine) => {
  const setup = () => {
    const d = new Device({ engine })
    return { d, obj: d.createObject({ size: 4096n }) }
  }

  it('sanitycheck: init and fini without looping', () => {
    const { d } = setup()
    const exec = new Exec(d, { interruptible: true })
    exec.fini()
    expect(d.violations).toEqual([])
  })

  it('test_lock: the loop locks one object', () => {
    const { d, obj } = setup()
    using exec = new Exec(d, { interruptible: true })
    let ret: unknown = 'unset'
    exec.untilAllLocked((e) => {
      ret = e.lockObj(obj)
      e.retryOnContention()
    })
    expect(ret).toBe(0)
    expect(obj.resv.isLocked).toBe(true)
    expect(exec.ticket?.acquired).toBe(1)
    exec.fini()
    expect(obj.resv.isLocked).toBe(false)
    expect(obj.refcount).toBe(1)
    expect(d.violations).toEqual([])
  })

  it('test_lock_unlock: lock, unlock, lock again', () => {
    const { d, obj } = setup()
    const exec = new Exec(d)
    const rets: unknown[] = []
    exec.untilAllLocked((e) => {
      rets.push(e.lockObj(obj))
      e.retryOnContention()
      e.unlockObj(obj)
      expect(obj.resv.isLocked).toBe(false)
      rets.push(e.lockObj(obj))
      e.retryOnContention()
    })
    expect(rets).toEqual([0, 0])
    exec.fini()
    expect(d.violations).toEqual([])
  })

  it('test_duplicates: with IGNORE_DUPLICATES a second lock is not EALREADY', () => {
    const { d, obj } = setup()
    const exec = new Exec(d, { ignoreDuplicates: true })
    const rets: unknown[] = []
    exec.untilAllLocked((e) => {
      rets.push(e.lockObj(obj), e.lockObj(obj))
      e.retryOnContention()
    })
    expect(rets).toEqual([0, 0])
    exec.unlockObj(obj)
    exec.fini()
    expect(obj.resv.isLocked).toBe(false)
    // Without the flag the duplicate is reported.
    const strict = new Exec(d)
    strict.untilAllLocked((e) => {
      expect(e.lockObj(obj)).toBe(0)
      expect(e.lockObj(obj)).toBe('EALREADY')
    })
    strict.fini()
    expect(d.violations).toEqual([])
  })

  it('test_prepare: lock and reserve one fence slot', () => {
    const { d, obj } = setup()
    const exec = new Exec(d)
    let ret: unknown
    exec.untilAllLocked((e) => {
      ret = e.prepareObj(obj, 1)
      e.retryOnContention()
    })
    expect(ret).toBe(0)
    obj.resv.addFence(d.createFence(), 'write')
    exec.fini()
    expect(d.violations).toEqual([])
  })

  it('test_prepare_array: two objects, one fence each', () => {
    const { d, obj } = setup()
    const other = d.createObject({ size: 4096n })
    const exec = new Exec(d)
    exec.untilAllLocked((e) => {
      expect(e.prepareArray([obj, other], 1)).toBe(0)
      e.retryOnContention()
    })
    expect(exec.objects.map((o) => o.id)).toEqual([obj.id, other.id])
    exec.fini()
    expect([obj.resv.isLocked, other.resv.isLocked]).toEqual([false, false])
  })

  it('test_multiple_loops: two loops with an early break, then fini', () => {
    const { d, obj } = setup()
    for (let i = 0; i < 2; i++) {
      const exec = new Exec(d)
      exec.untilAllLocked((e) => {
        e.lockObj(obj)
        return 'break'
      })
      exec.fini()
    }
    expect(obj.resv.isLocked).toBe(false)
    expect(obj.refcount).toBe(1)
    expect(d.violations).toEqual([])
  })

  it('retries on contention with the contended object first, and never deadlocks', () => {
    const build = (seed: bigint) => {
      const d = new Device({ engine })
      const objs = [0, 1, 2].map(() => d.createObject({ size: 4096n }))
      const s = new Scheduler(d, { seed })
      const worker = (order: GemObject[]) =>
        function* () {
          const exec = new Exec(d)
          yield* exec.untilAllLockedOp(function* (e) {
            for (const o of order) {
              yield* e.lockObjOp(o)
              e.retryOnContention()
              yield { op: 'yield' } as const
            }
          })
          for (const o of order) expect(o.resv.holder).toBe(d.thread)
          exec.fini()
        }
      s.spawn('forward', worker(objs))
      s.spawn('backward', worker([...objs].reverse()))
      s.spawn('middle', worker([objs[1], objs[0]]))
      return s
    }
    const reports = explore(build, seeds(40))
    for (const r of reports) {
      expect(r.deadlock).toBeNull()
      expect(r.errors).toEqual([])
      expect(r.completed).toBe(true)
      expect(r.violations).toEqual([])
    }
    const retried = reports.filter((r) => r.trace.some((l) => l.includes('-> EDEADLK')))
    expect(retried.length).toBeGreaterThan(0)
    // After a die the next lock of that thread is the slow lock of the contended object.
    for (const r of retried) {
      const i = r.trace.findIndex((l) => l.includes('-> EDEADLK'))
      const who = r.trace[i].split(':')[0]
      const resv = r.trace[i].match(/resv (\d+)/)![1]
      const next = r.trace.slice(i + 1).find((l) => l.startsWith(`${who}: lock`))!
      expect(next).toMatch(new RegExp(`lock_slow resv ${resv}`))
    }
  })
})
