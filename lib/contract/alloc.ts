/**
 * The contract between the allocator APIs (mm.ts, buddy.ts) and the two
 * engines that implement them: native (Rust, native/core/src/alloc) and
 * reference (lib/reference/mm.ts, buddy.ts). Engines take values already
 * validated by the public API (u64 bigints, known modes and flags) and throw
 * DrmError, leaving their state unchanged. Nodes and blocks are named by
 * their start, unique among allocated ones.
 */

import type { EngineName } from './vm.js'

export type InsertMode = 'best' | 'low' | 'high' | 'evict'

/** The numbering the binding uses for insert modes. */
export const INSERT_MODES: readonly InsertMode[] = ['best', 'low', 'high', 'evict']

export interface MmNodeRecord {
  start: bigint
  size: bigint
  color: bigint
}

export interface HoleRecord {
  start: bigint
  size: bigint
}

export interface MmStatsRecord {
  used: bigint
  free: bigint
  largestHole: bigint
  nodes: number
  holes: number
}

export interface ScanRunRecord {
  found: boolean
  /** Starts of the nodes to evict, in removal (reverse adding) order. */
  evict: bigint[]
}

/** What the hook sees of a neighbour of the hole: an allocated node, or null at the range's edge. */
export interface ColorNeighbour {
  start: bigint
  size: bigint
  color: bigint
}

/**
 * The kernel's `mm->color_adjust(hole_node, color, &start, &end)`: given the
 * hole's neighbours and the colour of the node to place, returns the usable
 * part of `[start, end)`. Reference engine only: the native engine would need
 * one N-API crossing per hole tested.
 */
export type ColorAdjustFn = (
  before: ColorNeighbour | null,
  after: ColorNeighbour | null,
  color: bigint,
  start: bigint,
  end: bigint,
) => { start: bigint; end: bigint }

/** How an engine's drm_mm adjusts holes for colours: a guard of bytes (both engines) or a hook. */
export type ColorAdjustRecord = { guard: bigint } | { hook: ColorAdjustFn }

export interface MmCore {
  readonly engine: EngineName
  /** Returns the start of the new node. */
  insert(size: bigint, alignment: bigint, color: bigint, rangeStart: bigint, rangeEnd: bigint, mode: InsertMode): bigint
  reserve(start: bigint, size: bigint, color: bigint): void
  remove(start: bigint): void
  /** `drm_mm_replace_node`: the node at `start` stays where it is, with `color`. */
  replace(start: bigint, color: bigint): void
  /** Allocated nodes in address order. */
  nodes(): MmNodeRecord[]
  /** Holes in address order. */
  holes(): HoleRecord[]
  stats(): MmStatsRecord
  scanInit(size: bigint, alignment: bigint, color: bigint, rangeStart: bigint, rangeEnd: bigint, mode: InsertMode): void
  scanAdd(start: bigint): boolean
  scanRemove(start: bigint): boolean
  /** `[start, end)` of the hole the scan found last. */
  scanHit(): { start: bigint; end: bigint } | null
  scanRun(candidates: bigint[]): ScanRunRecord
  /** `drm_mm_scan_color_evict`: the start of a further node to evict, or null. */
  scanColorEvict(): bigint | null
}

/** `DRM_BUDDY_*` flag bits, as the kernel numbers them. */
export const BUDDY_RANGE = 1 << 0
export const BUDDY_TOPDOWN = 1 << 1
export const BUDDY_CONTIGUOUS = 1 << 2
export const BUDDY_CLEAR_ALLOCATION = 1 << 3
export const BUDDY_TRIM_DISABLE = 1 << 5

export interface BlockRecord {
  offset: bigint
  size: bigint
  /** Known to hold zeroes (an allocated block: when it was handed out). */
  clear: boolean
}

export interface BuddyStatsRecord {
  size: bigint
  avail: bigint
  /** Free bytes known to be cleared. */
  clearAvail: bigint
  used: bigint
  largestFree: bigint
  freeBlocks: number
  allocatedBlocks: number
}

export interface BuddyCore {
  readonly engine: EngineName
  /** Size after rounding down to a multiple of the chunk. */
  readonly size: bigint
  readonly maxOrder: number
  /** Blocks in the kernel's list order. */
  alloc(start: bigint, end: bigint, size: bigint, minBlockSize: bigint, flags: number): BlockRecord[]
  /** Every offset must name an allocated block, once; otherwise nothing is freed. `cleared`: DRM_BUDDY_CLEARED. */
  free(offsets: bigint[], cleared: boolean): void
  /** `drm_buddy_reset_clear`. */
  resetClear(isClear: boolean): void
  trim(offset: bigint, newSize: bigint): BlockRecord[]
  roots(): BlockRecord[]
  /** Free blocks in address order. */
  freeList(): BlockRecord[]
  /** Allocated blocks in address order. */
  allocatedList(): BlockRecord[]
  stats(): BuddyStatsRecord
}
