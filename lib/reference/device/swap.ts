/**
 * System memory pressure (native/core/src/device/swap.rs): with a shrinker
 * set, a full SYSTEM drops purgeable buffers first (contents lost), then
 * swaps out the buffers at the head of the SYSTEM LRUs (priority 0 first).
 * Locked and vmapped buffers are skipped; pinned ones are off the LRUs.
 */
import { DrmError } from '../../base/errors.js'
import { domainAlloc, domainFree, domainStats } from './domain.js'
import { cursor, lruNext, lruRemove } from './lru.js'
import { objectOf, relocate } from './objects.js'
import { lock, unlockResv } from './resv.js'
import { type DevState, SYSTEM, U32_MAX } from './state.js'
import { ttUnpopulate } from './tt-pool.js'

const SHRINKER = U32_MAX
const TRY = 2

type Goal = { size: bigint; topdown: boolean } | bigint

export function configureSwap(d: DevState, capacity: bigint | null): void {
  const used = d.pressure.totals.swapUsed
  if (capacity !== null && capacity < used)
    throw new DrmError('EINVAL', `swap capacity ${capacity} is below the ${used} bytes in swap`)
  d.pressure.swap = capacity
}

/** `ttm_device_swapout`: frees at least `bytes` of SYSTEM if it can; the bytes freed. */
export function swapout(d: DevState, bytes: bigint): bigint {
  if (d.pressure.swap === null) throw new DrmError('EINVAL', 'the device has no shrinker (configure swap first)')
  const before = domainStats(d, SYSTEM).used
  if (bytes > 0n) shrink(d, bytes)
  return before - domainStats(d, SYSTEM).used
}

/** A SYSTEM range after shrinking: undefined when the shrinker is off or could not make room. */
export function swapAlloc(d: DevState, size: bigint, topdown: boolean): bigint | null | undefined {
  if (d.pressure.swap === null) return undefined
  return shrink(d, { size, topdown })
}

function shrink(d: DevState, goal: Goal): bigint | null | undefined {
  let freed = 0n
  for (const purging of [true, false]) {
    const last = d.lruSeq
    const cur = cursor()
    for (let v = lruNext(d, SYSTEM, cur, last); v !== 0; v = lruNext(d, SYSTEM, cur, last)) {
      const o = objectOf(d, v)
      if (o.node === null || o.vmapCount > 0 || o.pressure.purgeable !== purging) continue
      const cap = d.pressure.swap ?? 0n
      if (!purging && cap - d.pressure.totals.swapUsed < o.size) continue
      if (lock(d, SHRINKER, o.resv, 0, TRY).result !== 'ok') continue
      try {
        shrinkOne(d, v, purging)
      } finally {
        unlockResv(d, SHRINKER, o.resv, false)
      }
      freed += o.size
      if (typeof goal === 'bigint') {
        if (freed >= goal) return null
      } else {
        try {
          return domainAlloc(d, SYSTEM, goal.size, goal.topdown)
        } catch (e) {
          if (!(e instanceof DrmError && e.errno === 'ENOSPC')) throw e
        }
      }
    }
  }
  return undefined
}

function shrinkOne(d: DevState, id: number, purging: boolean): void {
  const o = objectOf(d, id)
  lruRemove(d, id)
  domainFree(d, SYSTEM, o.node)
  o.node = null
  const t = d.pressure.totals
  if (purging) {
    o.purged = true
    o.populated = false
    o.pressure.contentLost = true
    t.purges += 1n
    t.bytesPurged += o.size
  } else {
    o.pressure.swapped = true
    t.swapouts += 1n
    t.bytesSwappedOut += o.size
    t.swapUsed += o.size
  }
  relocate(d, id, SYSTEM)
  ttUnpopulate(d, id)
  // As placement.ts's logMove: a move to nowhere, told to the VA spaces.
  if (d.trackMoves) d.moves.push({ id, from: SYSTEM, to: 0, evicted: true })
  d.moved(id, true)
}

export function swapIn(d: DevState, id: number): void {
  // Nothing is swapped while swap is empty (swapped buffers are never empty).
  if (d.pressure.totals.swapUsed === 0n) return
  const o = d.objects.get(id)
  if (!o?.pressure.swapped) return
  o.pressure.swapped = false
  const t = d.pressure.totals
  t.swapins += 1n
  t.bytesSwappedIn += o.size
  t.swapUsed -= o.size
}

export function swapForget(d: DevState, id: number): void {
  if (d.pressure.totals.swapUsed === 0n) return
  const o = d.objects.get(id)
  if (!o?.pressure.swapped) return
  o.pressure.swapped = false
  d.pressure.totals.swapUsed -= o.size
}
