/**
 * The LRUs of each domain (native/core/src/device/lru.rs): one list per
 * priority, walked from priority 0 up, each from its head. A buffer goes to
 * the tail of its priority's list when it gets a new resource and when its
 * reservation is unlocked; pinned, purged and swapped buffers are off every
 * LRU. A bulk move keeps its buffers of one (domain, priority) as one list
 * entry; touching a member moves it to the end of its range.
 */
import BTree from 'sorted-btree'
import { memOf } from './domain.js'
import { cmp, MAX_PRIORITY } from './pressure.js'
import type { DevState } from './state.js'

export function lruTouch(d: DevState, id: number): void {
  lruRemove(d, id)
  const o = d.objects.get(id)
  if (!o || o.freed || o.pinCount > 0 || o.purged || o.pressure.swapped) return
  const m = memOf(d, o.domain)
  if (!m) return
  const { priority: prio, bulk } = o.pressure
  d.lruSeq += 1
  const seq = d.lruSeq
  if (bulk === 0) m.lru.lists[prio].set(seq, id)
  else {
    const b = d.pressure.bulks[bulk - 1]
    let pos = b[o.domain - 1][prio]
    if (pos === null) {
      pos = b[o.domain - 1][prio] = { seq, members: new BTree<number, number>(undefined, cmp) }
      m.lru.lists[prio].set(seq, -bulk)
    }
    pos.members.set(seq, id)
  }
  m.lru.lens[prio] += 1
  o.lru = seq
  o.pressure.lruPrio = prio
  o.pressure.lruBulk = bulk
}

export function lruRemove(d: DevState, id: number): void {
  const o = d.objects.get(id)
  if (!o || o.lru === null) return
  const seq = o.lru
  o.lru = null
  const { lruPrio: prio, lruBulk: bulk } = o.pressure
  const m = memOf(d, o.domain)
  let emptied: number | null = null
  if (bulk !== 0) {
    const b = d.pressure.bulks[bulk - 1]
    const pos = b[o.domain - 1][prio]
    if (pos !== null) {
      pos.members.delete(seq)
      if (pos.members.size === 0) {
        emptied = pos.seq
        b[o.domain - 1][prio] = null
      }
    }
  }
  if (!m) return
  if (bulk === 0) m.lru.lists[prio].delete(seq)
  else if (emptied !== null) m.lru.lists[prio].delete(emptied)
  m.lru.lens[prio] -= 1
}

/** `ttm_lru_bulk_move_tail`: each range of the bulk to its list's tail. */
export function lruBulkTail(d: DevState, bulk: number): void {
  const b = d.pressure.bulks[bulk - 1]
  if (!b) return
  for (let di = 0; di < b.length; di++) {
    for (let prio = 0; prio < MAX_PRIORITY; prio++) {
      const pos = b[di][prio]
      const m = memOf(d, di + 1)
      if (pos === null || m === null) continue
      d.lruSeq += 1
      m.lru.lists[prio].delete(pos.seq)
      pos.seq = d.lruSeq
      m.lru.lists[prio].set(pos.seq, -bulk)
    }
  }
}

/** Where a walk is: the priority, the next key, and inside a bulk range its id, key and next member key. */
export interface Cursor {
  prio: number
  next: number
  inner: [number, number, number] | null
}

export const cursor = (): Cursor => ({ prio: 0, next: 0, inner: null })

/** The next buffer of a walk of a domain's LRUs, skipping what joined after `last`; 0 at the end. */
export function lruNext(d: DevState, domain: number, cur: Cursor, last: number): number {
  const m = memOf(d, domain)
  if (!m) return 0
  while (cur.prio < MAX_PRIORITY) {
    const inner = cur.inner
    cur.inner = null
    if (inner !== null) {
      const [bulk, key, from] = inner
      const pos = d.pressure.bulks[bulk - 1]?.[domain - 1][cur.prio] ?? null
      if (pos !== null && pos.seq === key) {
        const n = pos.members.getPairOrNextHigher(from)
        if (n !== undefined && n[0] <= last) {
          cur.inner = [bulk, key, n[0] + 1]
          return n[1]
        }
      }
    }
    const e = m.lru.lists[cur.prio].getPairOrNextHigher(cur.next)
    if (e !== undefined && e[0] <= last) {
      cur.next = e[0] + 1
      if (e[1] > 0) return e[1]
      cur.inner = [-e[1], e[0], 0]
    } else {
      cur.prio += 1
      cur.next = 0
    }
  }
  return 0
}

/** Unlocking a reservation bumps every buffer that uses it, in id order, then its tied bulk moves. */
export function lruUnreserve(d: DevState, resv: number): void {
  const users = d.resvUsers.get(resv)
  if (users) for (let i = 0; i < users.length; i++) lruTouch(d, users[i])
  const tied = d.pressure.resvBulks.get(resv)
  if (tied) for (const b of tied) lruBulkTail(d, b)
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

/** A domain's LRUs in eviction order: priority 0 first, each least recently used first. */
export function lruList(d: DevState, domain: number): number[] {
  const out: number[] = []
  const cur = cursor()
  for (
    let id = lruNext(d, domain, cur, Number.MAX_SAFE_INTEGER);
    id !== 0;
    id = lruNext(d, domain, cur, Number.MAX_SAFE_INTEGER)
  )
    out.push(id)
  return out
}

export function lruLengths(d: DevState, domain: number): number[] {
  return memOf(d, domain)?.lru.lens.slice() ?? new Array(MAX_PRIORITY).fill(0)
}
