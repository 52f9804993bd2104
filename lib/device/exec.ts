/**
 * A drm_exec-style helper: locks a set of GEM objects under one acquire
 * context with the retry loop. On contention every lock is dropped and the
 * contended object is slow-locked first on the next pass. Every method that
 * may sleep has an `...Op` generator twin for scheduler threads.
 */
import { count, flag, func, instance, isObject, list, options } from '../base/check.js'
import { isDevice } from './brand.js'
import type { Device } from './device.js'
import { DrmError } from '../base/errors.js'
import { GemObject } from './gem.js'
import { ownObject } from './placement.js'
import { type Op, runSync, SyncRun, type WwAcquireCtx } from './resv.js'

export interface ExecOptions {
  /** `DRM_EXEC_INTERRUPTIBLE_WAIT` (no signals in the simulation: recorded only). */
  interruptible?: boolean
  /** `DRM_EXEC_IGNORE_DUPLICATES`: locking an object twice is not an error. */
  ignoreDuplicates?: boolean
}

/** 0 on success, else the kernel's error. */
export type ExecResult = 0 | 'EDEADLK' | 'EALREADY'

/** Thrown by `retryOnContention` to restart the loop body. */
class Retry {}
const RETRY = new Retry()
/** Before the first cleanup: no context yet. */
const DUMMY = Symbol('drm-exec-dummy')

// biome-ignore lint/suspicious/noConfusingVoidType: a body that returns nothing (void) goes on to the next try
export type ExecBody = (exec: Exec) => void | 'break'
// biome-ignore lint/suspicious/noConfusingVoidType: as ExecBody
export type ExecBodyOp = (exec: Exec) => Op<void | 'break'>

export class Exec implements Disposable {
  readonly device: Device
  readonly interruptible: boolean
  readonly ignoreDuplicates: boolean
  #ctx: WwAcquireCtx | null = null
  #contended: GemObject | null | typeof DUMMY = DUMMY
  #prelocked: GemObject | null = null
  #objects: GemObject[] = []
  #finished = false

  constructor(device: Device, opts: ExecOptions = {}) {
    this.device = instance(device, isDevice, 'device', 'a Device')
    const o = options<ExecOptions>(opts, 'Exec options')
    this.interruptible = flag(o.interruptible, 'interruptible')
    this.ignoreDuplicates = flag(o.ignoreDuplicates, 'ignoreDuplicates')
  }

  /** Whether `value` is a real `Exec` (a Proxy or look-alike is not). */
  static isExec(value: unknown): value is Exec {
    return isObject(value) && #finished in value
  }

  /** The acquire context (`exec->ticket`), once the loop started. */
  get ticket(): WwAcquireCtx | null {
    return this.#ctx
  }

  /** Locked objects, in locking order. */
  get objects(): readonly GemObject[] {
    return this.#objects
  }

  get contended(): GemObject | null {
    return this.#contended === DUMMY ? null : this.#contended
  }

  #obj(obj: unknown): GemObject {
    return ownObject(this.device, obj)
  }

  #ticket(): WwAcquireCtx {
    if (this.#ctx === null)
      throw new DrmError('EINVAL', 'drm_exec: lock inside untilAllLocked (no acquire context yet)')
    return this.#ctx
  }

  /** `drm_exec_cleanup`: true while the loop body must run (again). */
  cleanup(): boolean {
    if (this.#finished) throw new DrmError('EINVAL', 'drm_exec: already finished')
    if (this.#contended === DUMMY) {
      this.#ctx = this.device.acquireCtx()
      this.#contended = null
      return true
    }
    if (this.#contended === null) {
      this.#ticket().done()
      return false
    }
    this.#unlockAll()
    return true
  }

  #unlockAll(): void {
    const objs = this.#objects.splice(0).reverse()
    // Runs of plain unlock + put in one engine call; the element a run stops at goes one by one.
    const ids = new Uint32Array(objs.length)
    const resvs = new Uint32Array(objs.length)
    for (let i = 0; i < objs.length; i++) {
      ids[i] = objs[i].id
      resvs[i] = objs[i].resv.id
    }
    const d = this.device
    let i = 0
    while (i < objs.length) {
      const from = i
      const k = d.run(() => d.core.execUnlockRun(d.thread, ids, resvs, from, objs.length))
      if (k > 0) {
        i += k
        continue
      }
      const obj = objs[i++]
      obj.resv.unlock()
      obj.put()
    }
    this.#prelocked?.put()
    this.#prelocked = null
  }

  /** `drm_exec_retry_on_contention`: restarts the body when a lock was contended. */
  retryOnContention(): void {
    if (this.#contended !== null && this.#contended !== DUMMY) throw RETRY
  }

  /** `drm_exec_until_all_locked`: runs `body` until it completes without contention (or returns 'break'). */
  untilAllLocked(body: ExecBody): void {
    func(body, 'body')
    while (this.cleanup()) {
      try {
        if (body(this) === 'break') return
      } catch (e) {
        if (e !== RETRY) throw e
      }
    }
  }

  *untilAllLockedOp(body: ExecBodyOp): Op<void> {
    func(body, 'body')
    while (this.cleanup()) {
      try {
        if ((yield* body(this)) === 'break') return
      } catch (e) {
        if (e !== RETRY) throw e
      }
    }
  }

  /** Slow-locks the object contended on the previous pass. */
  *#prelockContended(): Op<void> {
    const obj = this.#contended
    if (obj === null || obj === DUMMY) return
    this.#contended = null
    const r = yield* obj.resv.lockSlowOp(this.#ticket())
    if (r !== 'ok') throw new DrmError(r, `drm_exec: lock_slow of ${obj} failed`)
    this.#objects.push(obj.get())
    this.#prelocked = obj
  }

  /** `drm_exec_lock_obj`: 0, 'EDEADLK' (then retryOnContention) or 'EALREADY'. */
  *lockObjOp(object: GemObject): Op<ExecResult> {
    const obj = this.#obj(object)
    const ticket = this.#ticket()
    yield* this.#prelockContended()
    if (this.#prelocked === obj) {
      this.#prelocked.put()
      this.#prelocked = null
      return 0
    }
    const r = yield* obj.resv.lockOp(ticket)
    if (r === 'EDEADLK') {
      this.#contended = obj.get()
      return 'EDEADLK'
    }
    if (r === 'EALREADY') return this.ignoreDuplicates ? 0 : 'EALREADY'
    this.#objects.push(obj.get())
    return 0
  }

  /**
   * `lockObjOp` (`numFences` null) or `prepareObjOp` on each of `objs` in
   * order, up to the first that is not 0. Under `runSync` the runs of plain
   * locks (a free reservation, no back-off pending) take one engine call
   * each; the outcome is the same as one call per object.
   */
  *lockEachOp(objects: readonly GemObject[], numFences: number | null): Op<ExecResult> {
    const objs = list(objects, 'objs') as readonly GemObject[]
    const n = numFences === null ? null : count(numFences, 'numFences', 0xffff_ffff)
    const run = new LockRun(objs)
    let runs = true
    let i = 0
    while (i < objs.length) {
      if (runs && this.#ctx !== null && this.#contended === null) {
        const from = i
        const k = (yield new SyncRun((budget) => this.#lockRun(run, from, budget, n))) as number
        if (k > 0) {
          i += k
          continue
        }
        runs = k === 0
      }
      const obj = objs[i++]
      const r = n === null ? yield* this.lockObjOp(obj) : yield* this.prepareObjOp(obj, n)
      if (r !== 0) return r
    }
    return 0
  }

  /** One run from `from`: the plain objects after it, at most `budget`, locked in one call. */
  #lockRun(run: LockRun, from: number, budget: number, numFences: number | null): number {
    const objs = run.objs
    const end = Math.min(objs.length, from + Math.max(0, budget))
    let to = from
    for (; to < end; to++) {
      const o = objs[to]
      // What lockObjOp would refuse, or take as the object slow-locked on this pass, goes one by one.
      if (!GemObject.isGemObject(o) || this.device.object(o.id) !== o || o === this.#prelocked) break
      run.fill(to)
    }
    if (to === from) return 0
    const d = this.device
    const ctx = this.#ticket().id
    const k = d.run(() => d.core.execLockRun(d.thread, ctx, run.ids, run.resvs, from, to, numFences ?? -1))
    for (let i = from; i < from + k; i++) this.#objects.push(objs[i])
    return k
  }

  lockObj(obj: GemObject): ExecResult {
    return runSync(this.device, this.lockObjOp(obj))
  }

  /** `drm_exec_unlock_obj`. */
  unlockObj(object: GemObject): void {
    const obj = this.#obj(object)
    const i = this.#objects.lastIndexOf(obj)
    if (i < 0) return
    this.#objects.splice(i, 1)
    obj.resv.unlock()
    obj.put()
  }

  /** `drm_exec_prepare_obj`: lock and reserve fence slots. */
  *prepareObjOp(obj: GemObject, numFences: number): Op<ExecResult> {
    const n = count(numFences, 'numFences', 0xffff_ffff)
    const r = yield* this.lockObjOp(obj)
    if (r !== 0) return r
    obj.resv.reserveFences(n)
    return 0
  }

  prepareObj(obj: GemObject, numFences: number): ExecResult {
    return runSync(this.device, this.prepareObjOp(obj, numFences))
  }

  /** `drm_exec_prepare_array`: stops at the first error. */
  *prepareArrayOp(objs: readonly GemObject[], numFences: number): Op<ExecResult> {
    // Every argument checked before the first lock.
    const all = list(objs, 'objs').map((o) => this.#obj(o))
    count(numFences, 'numFences', 0xffff_ffff)
    return yield* this.lockEachOp(all, numFences)
  }

  prepareArray(objs: readonly GemObject[], numFences: number): ExecResult {
    return runSync(this.device, this.prepareArrayOp(objs, numFences))
  }

  /** `drm_exec_fini`: unlocks everything (an early break is fine) and finishes the context. */
  fini(): void {
    if (this.#finished) return
    this.#unlockAll()
    if (this.#contended !== DUMMY) {
      this.#contended?.put()
      this.#ticket().fini()
    }
    this.#finished = true
  }

  [Symbol.dispose](): void {
    this.fini()
  }
}

/** The ids a lock run passes, filled as the runs reach them (0: not yet; each reservation read once). */
class LockRun {
  readonly ids: Uint32Array
  readonly resvs: Uint32Array

  constructor(readonly objs: readonly GemObject[]) {
    this.ids = new Uint32Array(objs.length)
    this.resvs = new Uint32Array(objs.length)
  }

  fill(i: number): void {
    if (this.ids[i] !== 0) return
    const o = this.objs[i]
    this.resvs[i] = o.resv.id
    this.ids[i] = o.id
  }
}
