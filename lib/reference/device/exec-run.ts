/**
 * drm_exec's runs (contract/exec-run.ts) in the reference engine: loops over
 * the single steps, each element checked first so that a run does only what
 * its single calls would do without an error or a violation, as
 * native/core/src/device/exec_run.rs.
 */
import { get, put } from './gem.js'
import { addFence } from './fence.js'
import { heldBy, lock, unlock } from './resv.js'
import { reserveFences } from './fence.js'
import { type DevState, U32_MAX } from './state.js'

const NORMAL = 0

export function execLockRun(
  d: DevState,
  thread: number,
  ctx: number,
  objs: Uint32Array,
  resvs: Uint32Array,
  reserve: number,
): number {
  const c = ctx >= 1 ? d.ctxs[ctx - 1] : undefined
  if (c === undefined) return 0
  let done = 0
  for (; done < objs.length; done++) {
    if (c.fini || c.thread !== thread || c.done || c.contending !== null) break
    const r = resvs[done] >= 1 ? d.resvs[resvs[done] - 1] : undefined
    if (r === undefined || r.holder !== null) break
    const o = d.objects.get(objs[done])
    if (o === undefined || o.freed || o.refcount >= U32_MAX) break
    lock(d, thread, resvs[done], ctx, NORMAL)
    get(d, objs[done])
    if (reserve !== -1) reserveFences(d, thread, resvs[done], reserve)
  }
  return done
}

export function addFenceRun(
  d: DevState,
  thread: number,
  resvs: Uint32Array,
  usages: Uint32Array,
  fence: number,
): number {
  let done = 0
  while (done < resvs.length) {
    const u = usages[done]
    if (u > 3) break
    const before = d.violations.length
    try {
      addFence(d, thread, resvs[done], fence, u)
    } catch {
      // It changed nothing: the single call gives the error.
      break
    }
    done++
    if (d.violations.length !== before) break
  }
  return done
}

export function execUnlockRun(d: DevState, thread: number, objs: Uint32Array, resvs: Uint32Array): number {
  let done = 0
  for (; done < objs.length; done++) {
    if (!heldBy(d, resvs[done], thread)) break
    const o = d.objects.get(objs[done])
    if (o === undefined || o.freed || o.refcount <= 1) break
    unlock(d, thread, resvs[done])
    put(d, objs[done], 0)
  }
  return done
}
