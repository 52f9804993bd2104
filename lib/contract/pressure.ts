/**
 * The engines' side of memory pressure and policy (TTM's LRU priorities,
 * `ttm_lru_bulk_move`, `eviction_valuable` / `evict_flags`, swapout and
 * purge): native/core/src/device/{lru,bulk,hooks,swap}.rs and
 * lib/reference/device/{lru,bulk,hooks,swap}.ts. Public API: lib/device/eviction.ts.
 */

/** `TTM_MAX_BO_PRIORITY`: LRU priorities 0..3, 0 evicted first. */
export const MAX_PRIORITY = 4

export interface PressureRecord {
  priority: number
  /** Policy tag bits. */
  tags: number
  /** Its bulk move, 0 for none. */
  bulk: number
  purgeable: boolean
  swapped: boolean
  /** Purged while purgeable: contents gone. */
  contentLost: boolean
}

export interface SwapTotalsRecord {
  swapouts: bigint
  swapins: bigint
  bytesSwappedOut: bigint
  bytesSwappedIn: bigint
  purges: bigint
  bytesPurged: bigint
  /** Bytes in swap now. */
  swapUsed: bigint
}

export interface PressureCore {
  /** 0..3 (EINVAL otherwise); a buffer on an LRU moves to its new list's tail. */
  setPriority(id: number, priority: number): void
  setTags(id: number, tags: number): void
  setPurgeable(id: number, on: boolean): void
  pressureInfo(id: number): PressureRecord
  /** Buffers on each priority's LRU of a domain (1..3). */
  lruLengths(domain: number): number[]
  /** A new bulk move; with a resv (0: none), unlocking it moves the bulk to the tail. */
  createBulkMove(resv: number): number
  /** `ttm_bo_set_bulk_move` (0 leaves). */
  setBulkMove(id: number, bulk: number): void
  /** `ttm_lru_bulk_move_tail`. */
  bulkMoveTail(bulk: number): void
  /** Never evict buffers of this priority or above (4: none) or with any of these tags. */
  setEvictionPolicy(protectFromPriority: number, protectTags: number): void
  /** The buffers a user's evictionValuable refused (replaces the last set). */
  setEvictionVeto(ids: number[]): void
  /** Eviction placements for many buffers: `lens[i]` packed places of `ids[i]`, concatenated in `places`. */
  setEvictPlacements(ids: number[], lens: number[], places: number[]): void
  /** The shrinker: swap capacity in bytes, null for none. */
  configureSwap(capacity: bigint | null): void
  /** `ttm_device_swapout`: frees at least `bytes` of SYSTEM if it can; the bytes freed. */
  swapout(bytes: bigint): bigint
  swapTotals(): SwapTotalsRecord
}
