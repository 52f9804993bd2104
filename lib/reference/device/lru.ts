/**
 * The LRU of each domain (native/core/src/device/lru.rs): a buffer goes to
 * the tail when it gets a new resource and when its reservation is unlocked;
 * pinned and purged buffers are off every LRU.
 */
import { memOf } from './domain.js'
import type { DevState } from './state.js'

export function lruTouch(d: DevState, id: number): void {
  lruRemove(d, id)
  const o = d.objects.get(id)
  if (!o || o.freed || o.pinCount > 0 || o.purged) return
  const m = memOf(d, o.domain)
  d.lruSeq += 1
  if (m) {
    m.lru.set(d.lruSeq, id)
    o.lru = d.lruSeq
  }
}

export function lruRemove(d: DevState, id: number): void {
  const o = d.objects.get(id)
  if (!o) return
  const seq = o.lru
  o.lru = null
  const m = memOf(d, o.domain)
  if (seq !== null && m) m.lru.delete(seq)
}

/** Unlocking a reservation bumps every buffer that uses it, in id order. */
export function lruUnreserve(d: DevState, resv: number): void {
  const users = d.resvUsers.get(resv)
  if (users) for (let i = 0; i < users.length; i++) lruTouch(d, users[i])
}

/** Where `id` is, or would go, in a sorted list (binary search: a VM's resv may have 10^5 users). */
function slot(v: readonly number[], id: number): number {
  let lo = 0
  let hi = v.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (v[mid] < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function resvUserAdd(d: DevState, resv: number, id: number): void {
  let v = d.resvUsers.get(resv)
  if (!v) d.resvUsers.set(resv, (v = []))
  // Ids mostly come in increasing order: appending is the common case.
  if (v.length === 0 || v[v.length - 1] < id) {
    v.push(id)
    return
  }
  const i = slot(v, id)
  if (v[i] !== id) v.splice(i, 0, id)
}

export function resvUserRemove(d: DevState, resv: number, id: number): void {
  const v = d.resvUsers.get(resv)
  if (!v) return
  const i = slot(v, id)
  if (v[i] === id) v.splice(i, 1)
}

export function lruList(d: DevState, domain: number): number[] {
  return memOf(d, domain)?.lru.valuesArray() ?? []
}
