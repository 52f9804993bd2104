/**
 * Reservation locks: a ww_mutex per resv, acquire contexts with stamps, and
 * the wait-die and wound-wait classes (native/core/src/device/resv.rs).
 */
import type { LockOutcome } from '../../contract/device.js'
import { DrmError } from '../../base/errors.js'
import { lruUnreserve } from './lru.js'
import { type DevState, slot, U32_MAX, WAIT_DIE, WOUND_WAIT } from './state.js'

const NORMAL = 0
const SLOW = 1
const TRY = 2

export function createResv(d: DevState, owner: number): number {
  if (d.resvs.length >= U32_MAX - 1) throw new DrmError('ENOMEM', 'too many reservation objects')
  d.resvs.push({ owner, holder: null, fences: [], maxFences: 0 })
  return d.resvs.length
}

export const resvOf = (d: DevState, id: number) => d.resvs[slot(id, d.resvs.length, 'reservation object')]

export const ctxOf = (d: DevState, id: number) => d.ctxs[slot(id, d.ctxs.length, 'acquire context')]

function liveCtx(d: DevState, id: number, thread: number): number {
  const i = slot(id, d.ctxs.length, 'acquire context')
  const c = d.ctxs[i]
  if (c.fini) throw new DrmError('EINVAL', `acquire context ${id} is finished`)
  if (c.thread !== thread) {
    throw new DrmError('EINVAL', `acquire context ${id} belongs to thread ${c.thread}, not ${thread}`)
  }
  return i
}

export function ctxInit(d: DevState, thread: number): number {
  if (d.ctxs.length >= U32_MAX - 1) throw new DrmError('ENOMEM', 'too many acquire contexts')
  const open = d.ctxs.findIndex((c) => c.thread === thread && !c.fini)
  if (open >= 0) {
    d.violate(
      'ctx-nested-init',
      0,
      `thread ${thread} inits a second acquire context while context ${open + 1} is not finished`,
    )
  }
  d.stamp += 1n
  d.ctxs.push({ thread, stamp: d.stamp, acquired: 0, contending: null, wounded: false, done: false, fini: false })
  return d.ctxs.length
}

export function ctxDone(d: DevState, thread: number, ctx: number): void {
  d.ctxs[liveCtx(d, ctx, thread)].done = true
}

export function ctxFini(d: DevState, thread: number, ctx: number): void {
  const c = d.ctxs[liveCtx(d, ctx, thread)]
  if (c.acquired > 0) {
    d.violate('fini-with-locks-held', 0, `acquire context ${ctx} finished with ${c.acquired} lock(s) still held`)
  }
  c.fini = true
}

export function heldBy(d: DevState, resv: number, thread: number): boolean {
  const r = d.resvs[resv - 1]
  return resv > 0 && r !== undefined && r.holder !== null && r.holder.thread === thread
}

export function lock(d: DevState, thread: number, resv: number, ctx: number, mode: number): LockOutcome {
  const ri = slot(resv, d.resvs.length, 'reservation object')
  let ci: number | null = null
  if (ctx !== 0) ci = liveCtx(d, ctx, thread)
  else if (mode === SLOW) throw new DrmError('EINVAL', 'lock_slow needs an acquire context')
  const r = d.resvs[ri]
  const owner = r.owner
  const h = r.holder

  if (ci !== null) {
    const c = d.ctxs[ci]
    if (c.done && mode !== TRY) {
      d.violate('lock-after-done', owner, `resv ${resv} locked with context ${ci + 1} after ww_acquire_done`)
    }
    if (d.wwClass === WOUND_WAIT && c.acquired === 0) c.wounded = false
    if (mode === SLOW) checkSlow(d, ci, resv, owner)
  }

  if (h === null) {
    if (ci !== null && mode === NORMAL) checkAfterEdeadlk(d, ci, resv, owner)
    if (ci !== null) {
      const c = d.ctxs[ci]
      c.acquired += 1
      if (mode !== TRY) c.contending = null
    }
    r.holder = { thread, ctx: ctx === 0 ? null : ctx }
    return { result: 'ok', holder: 0 }
  }

  if (mode === TRY) return { result: 'EBUSY', holder: 0 }
  if (ctx !== 0 && h.ctx === ctx) return { result: 'EALREADY', holder: 0 }
  if (h.thread === thread && (ctx === 0 || h.ctx === null)) {
    d.violate('recursive-lock', owner, `thread ${thread} locks resv ${resv}, which it already holds`)
    return { result: 'blocked', holder: thread }
  }
  if (ci === null || h.ctx === null) return { result: 'blocked', holder: h.thread }
  const me = d.ctxs[ci]
  const them = d.ctxs[h.ctx - 1]
  const theirStamp = them ? them.stamp : (1n << 64n) - 1n
  if (d.wwClass === WAIT_DIE) {
    if (me.acquired > 0 && theirStamp < me.stamp) {
      me.contending = resv
      return { result: 'EDEADLK', holder: 0 }
    }
  } else {
    if (me.acquired > 0 && me.wounded) {
      me.contending = resv
      return { result: 'EDEADLK', holder: 0 }
    }
    // An older transaction that holds locks wounds a younger holder.
    if (me.acquired > 0 && theirStamp > me.stamp && them) them.wounded = true
  }
  return { result: 'blocked', holder: h.thread }
}

function checkSlow(d: DevState, ci: number, resv: number, owner: number): void {
  const c = d.ctxs[ci]
  const id = ci + 1
  if (c.contending === null) {
    d.violate('slow-without-edeadlk', owner, `lock_slow of resv ${resv} by context ${id} without a prior -EDEADLK`)
  } else if (c.contending !== resv) {
    d.violate(
      'slow-wrong-lock',
      owner,
      `lock_slow of resv ${resv} by context ${id}, but resv ${c.contending} was contended`,
    )
  }
  if (c.acquired > 0) {
    d.violate(
      'slow-while-holding',
      owner,
      `lock_slow of resv ${resv} by context ${id} while it holds ${c.acquired} lock(s)`,
    )
  }
}

function checkAfterEdeadlk(d: DevState, ci: number, resv: number, owner: number): void {
  const c = d.ctxs[ci]
  if (c.contending === null) return
  const id = ci + 1
  if (c.contending !== resv) {
    d.violate(
      'edeadlk-wrong-lock',
      owner,
      `context ${id} got -EDEADLK on resv ${c.contending} but locks resv ${resv} first`,
    )
  }
  if (c.acquired > 0) {
    d.violate(
      'edeadlk-not-backed-off',
      owner,
      `context ${id} locks resv ${resv} after -EDEADLK with ${c.acquired} lock(s) still held`,
    )
  }
}

/** Unlocking also moves the resv's buffers to their LRU tails (`ttm_bo_unreserve`). */
export function unlock(d: DevState, thread: number, resv: number): void {
  unlockResv(d, thread, resv, true)
}

/** `bump`: false for eviction's own unlock (a bare `dma_resv_unlock`). */
export function unlockResv(d: DevState, thread: number, resv: number, bump: boolean): void {
  const r = d.resvs[slot(resv, d.resvs.length, 'reservation object')]
  const h = r.holder
  if (h === null) {
    d.violate('unlock-not-held', r.owner, `thread ${thread} unlocks resv ${resv}, which is not locked`)
  } else if (h.thread !== thread) {
    d.violate('unlock-not-owner', r.owner, `thread ${thread} unlocks resv ${resv}, held by thread ${h.thread}`)
  } else {
    const c = h.ctx === null ? undefined : d.ctxs[h.ctx - 1]
    if (c) c.acquired = Math.max(0, c.acquired - 1)
    r.holder = null
    r.maxFences = r.fences.length
    if (bump) lruUnreserve(d, resv)
  }
}

export function assertHeld(d: DevState, thread: number, resv: number, what: string): boolean {
  const owner = resvOf(d, resv).owner
  if (heldBy(d, resv, thread)) return true
  d.violate('resv-not-held', owner, `${what} on resv ${resv} without its lock (thread ${thread})`)
  return false
}
