/**
 * State of memory pressure and policy (native/core/src/device/pressure.rs):
 * per-object priority, tags, bulk membership and swap state; the device's
 * bulk moves, eviction policy and swap accounting. The rules live in lru.ts,
 * bulk.ts, hooks.ts and swap.ts.
 */
import BTree from 'sorted-btree'
import type { SwapTotalsRecord } from '../../contract/pressure.js'

export const MAX_PRIORITY = 4

export const cmp = (a: number, b: number) => a - b

/** One domain's LRUs (lru.ts), `seq -> entry` per priority. An entry: a buffer id (> 0), or a bulk range as minus its bulk id. */
export class Lru {
  readonly lists: BTree<number, number>[] = Array.from({ length: MAX_PRIORITY }, () => new BTree(undefined, cmp))
  readonly lens: number[] = new Array(MAX_PRIORITY).fill(0)

  get size(): number {
    return this.lens.reduce((a, b) => a + b, 0)
  }
}

export interface ObjPressure {
  /** LRU priority 0..3: 0 is walked (evicted) first. */
  priority: number
  tags: number
  /** Its bulk move, 0 for none. */
  bulk: number
  /** The priority and bulk its current LRU key belongs to. */
  lruPrio: number
  lruBulk: number
  purgeable: boolean
  swapped: boolean
  /** Purged while purgeable: its contents are gone (sticky). */
  contentLost: boolean
}

export const objPressure = (): ObjPressure => ({
  priority: 0,
  tags: 0,
  bulk: 0,
  lruPrio: 0,
  lruBulk: 0,
  purgeable: false,
  swapped: false,
  contentLost: false,
})

/** A bulk move's range in one (domain, priority): its key in the list and its buffers in order. */
export interface BulkPos {
  seq: number
  members: BTree<number, number>
}

/** One range per [domain index][priority]. */
export type Bulk = (BulkPos | null)[][]

export class Pressure {
  readonly bulks: Bulk[] = []
  /** Bulk moves that go to the tail when a resv is unlocked. */
  readonly resvBulks = new Map<number, number[]>()
  protectFromPriority = MAX_PRIORITY
  protectTags = 0
  /** Victims a user's evictionValuable refused. */
  veto = new Set<number>()
  /** Swap capacity; null: no shrinker. */
  swap: bigint | null = null
  readonly totals: SwapTotalsRecord = {
    swapouts: 0n,
    swapins: 0n,
    bytesSwappedOut: 0n,
    bytesSwappedIn: 0n,
    purges: 0n,
    bytesPurged: 0n,
    swapUsed: 0n,
  }
}
