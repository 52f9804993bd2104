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
  d.fences.push({ context, seqno, signalAt, signaled: false })
  return d.fences.length
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
