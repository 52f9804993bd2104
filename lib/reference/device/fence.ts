/**
 * Fences and a resv's fence list: usages, slot reservation, replacement on
 * add, queries at or below a usage (native/core/src/device/fence.rs).
 */
import type { FenceEntry } from '../../contract/device.js'
import { DrmError } from '../../base/errors.js'
import { assertHeld, resvOf } from './resv.js'
import { type DevState, slot, U32_MAX } from './state.js'

export function createFence(d: DevState, context: number, seqno: number, signalAt: bigint | null): number {
  if (d.fences.length >= U32_MAX - 1) throw new DrmError('ENOMEM', 'too many fences')
  d.fences.push({ context, seqno, signalAt, signaled: false, error: 0 })
  return d.fences.length
}

/** `MAX_ERRNO`: a fence error is a negative errno in -4095..-1. */
const MAX_ERRNO = 4095

function checkError(error: number): void {
  if (!Number.isInteger(error) || error < -MAX_ERRNO || error > -1) {
    throw new DrmError('EINVAL', `a fence error is a negative errno (-4095..-1), got ${error}`)
  }
}

export function setFenceError(d: DevState, id: number, error: number): void {
  const f = fenceOf(d, id)
  checkError(error)
  if (fenceSignaled(d, id))
    d.violate('fence-error-after-signal', 0, `fence ${id}: error ${error} set after it signaled`)
  f.error = error
}

export function scheduleFence(d: DevState, id: number, signalAt: bigint | null, error: number): void {
  const f = fenceOf(d, id)
  if (error !== 0) checkError(error)
  if (fenceSignaled(d, id)) throw new DrmError('EINVAL', `fence ${id} has signaled: its time and error are final`)
  f.signalAt = signalAt
  f.error = error
}

export const fenceOf = (d: DevState, id: number) => d.fences[slot(id, d.fences.length, 'fence')]

export function fenceSignaled(d: DevState, id: number): boolean {
  const f = fenceOf(d, id)
  return f.signaled || (f.signalAt !== null && d.now >= f.signalAt)
}

function nextPow2(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

export function reserveFences(d: DevState, thread: number, resv: number, n: number): void {
  const r = resvOf(d, resv)
  assertHeld(d, thread, resv, 'dma_resv_reserve_fences')
  const num = r.fences.length
  const max = r.maxFences
  let newMax: number
  if (max > 0) {
    if (num + n <= max) return
    newMax = Math.max(num + n, max * 2)
  } else {
    newMax = Math.max(nextPow2(n), 4)
  }
  r.fences = r.fences.filter(([f]) => !fenceSignaled(d, f))
  r.maxFences = newMax
}

export function addFence(d: DevState, thread: number, resv: number, fence: number, usage: number): void {
  const r = resvOf(d, resv)
  const f = fenceOf(d, fence)
  assertHeld(d, thread, resv, 'dma_resv_add_fence')
  for (let i = 0; i < r.fences.length; i++) {
    const [old, oldUsage] = r.fences[i]
    const o = fenceOf(d, old)
    const same = o.context === f.context && oldUsage >= usage && f.seqno >= o.seqno
    if (same || fenceSignaled(d, old)) {
      r.fences[i] = [fence, usage]
      return
    }
  }
  const num = r.fences.length
  if (num >= r.maxFences) {
    d.violate(
      'fence-slot-not-reserved',
      r.owner,
      `fence ${fence} added to resv ${resv} without a reserved slot (${num} of ${r.maxFences} used)`,
    )
  }
  r.fences.push([fence, usage])
  r.maxFences = Math.max(r.maxFences, r.fences.length)
}

export function fences(d: DevState, resv: number, usage: number): FenceEntry[] {
  return resvOf(d, resv)
    .fences.filter(([, u]) => u <= usage)
    .map(([fence, u]) => ({ fence, usage: u }))
}

export function testSignaled(d: DevState, resv: number, usage: number): boolean {
  return fences(d, resv, usage).every(({ fence }) => fenceSignaled(d, fence))
}
