/**
 * The page-table cost model's contract (issue 15): the shape of a driver's
 * GPU page table (a profile), what each engine reports about it, and the
 * built-in profiles. drmsim adds this model; the kernel's drm_gpuvm keeps no
 * page table. The rules are in native/core/src/pagetable/mod.rs, mirrored by
 * lib/reference/pagetable/.
 */

import { DrmError } from '../base/errors.js'

/** One level of a page table; level 0 maps the smallest pages, the last level is the root. */
export interface PageTableLevel {
  /** log2 of the entries of one table of this level. */
  readonly bits: number
  /** Bytes of one entry. */
  readonly entryBytes: number
  /** Whether an entry may map a page of this level's size (always true at level 0). */
  readonly leaf: boolean
}

/** The shape of a GPU page table. */
export interface PageTableProfile {
  readonly name: string
  /** log2 of the smallest page (12 to 16). */
  readonly pageShift: number
  /** From level 0 (smallest pages) to the root; 2 to 6 levels. */
  readonly levels: readonly PageTableLevel[]
}

/** Page-table work, for one request or a whole run. */
export interface PageTableCost {
  /** Leaf entries written or cleared (the entries a split fills included). */
  pteWrites: number
  /** Directory entries written or cleared (pointers to tables). */
  pdeWrites: number
  ptPagesAllocated: number
  ptPagesFreed: number
  tlbInvalidations: number
  /** VA bytes the invalidations covered. */
  tlbBytes: bigint
  hugePageSplits: number
  /** Leaves larger than the smallest page written by map steps. */
  hugePagesFormed: number
}

/** The table as it stands, per level (index 0 = smallest pages, last = root). */
/** A cost of nothing: every count 0. */
export function zeroCost(): PageTableCost {
  return {
    pteWrites: 0,
    pdeWrites: 0,
    ptPagesAllocated: 0,
    ptPagesFreed: 0,
    tlbInvalidations: 0,
    tlbBytes: 0n,
    hugePageSplits: 0,
    hugePagesFormed: 0,
  }
}

export interface PageTableOccupancy {
  /** Table pages (the root counts as one). */
  tables: number[]
  /** Valid entries (leaves and pointers). */
  entries: number[]
  /** Leaves, i.e. pages of each level's size mapped. */
  leaves: number[]
  /** Bytes of all table pages. */
  bytes: number
}

/** What an engine reports of a VA space's page table. */
export interface PageTableRecord {
  total: PageTableCost
  /** Since the last request began (bind, unbind, a batch's request, or `beginRequest`). */
  last: PageTableCost
  /** The ranges the last request invalidated (at most `TLB_RANGES_MAX`). */
  lastTlbRanges: { addr: bigint; range: bigint }[]
  occupancy: PageTableOccupancy
}

/** The most TLB ranges kept for one request (the counts go on). */
export const TLB_RANGES_MAX = 1024

/** What both engines implement (on `VmCore`). */
export interface PageTableCore {
  /** Attaches a page table of `profile`, built from the mappings already there (counted as one request). */
  attachPageTable(profile: PageTableProfile): void
  /** Starts a new request window. */
  pageTableBeginRequest(): void
  /** The costs and occupancy; undefined without a page table. */
  pageTableInfo(): PageTableRecord | undefined
  /** The cheap read of one cost (O(1): no occupancy, no TLB ranges); undefined without a page table. */
  pageTableCost(which: 'last' | 'total'): PageTableCost | undefined
  /** The cheap read of the occupancy (O(levels), kept as the tables change); undefined without a page table. */
  pageTableOccupancy(): PageTableOccupancy | undefined
}

const level = (bits: number, entryBytes: number, leaf: boolean): PageTableLevel => ({ bits, entryBytes, leaf })

/**
 * The built-in profiles.
 * - `xe`: Intel Xe (xe_pt.c): 4 levels of 512 eight-byte entries, 48-bit VA,
 *   4 KiB / 2 MiB / 1 GiB leaves (64 KiB compact pages not modelled).
 * - `panthor`: Arm Mali through panthor and io-pgtable-arm (LPAE stage 1, 4 KiB
 *   granule): 4 levels of 512 eight-byte entries, 48-bit VA, 4 KiB / 2 MiB leaves.
 * - `nouveau`: NVIDIA Pascal and later through nouveau/NVK (nvkm's gp100
 *   layout, small pages): a 512-entry PT, a 256-entry PD0 of 16-byte dual
 *   entries that may map 2 MiB, 512-entry PD1 and PD2, a 4-entry root: 49-bit VA.
 */
export const PAGE_TABLE_PROFILES: Readonly<Record<'xe' | 'panthor' | 'nouveau', PageTableProfile>> = Object.freeze({
  xe: {
    name: 'xe',
    pageShift: 12,
    levels: [level(9, 8, true), level(9, 8, true), level(9, 8, true), level(9, 8, false)],
  },
  panthor: {
    name: 'panthor',
    pageShift: 12,
    levels: [level(9, 8, true), level(9, 8, true), level(9, 8, false), level(9, 8, false)],
  },
  nouveau: {
    name: 'nouveau',
    pageShift: 12,
    levels: [level(9, 8, true), level(8, 16, true), level(9, 8, false), level(9, 8, false), level(2, 8, false)],
  },
})

/** The name of a built-in profile. */
export type PageTableProfileName = keyof typeof PAGE_TABLE_PROFILES

/** log2 of the VA one entry of `level` covers (`levels.length` gives the whole VA). */
export function levelShift(profile: PageTableProfile, level: number): number {
  let s = profile.pageShift
  for (let i = 0; i < level; i++) s += profile.levels[i].bits
  return s
}

/**
 * EINVAL for a shape the model cannot hold (the Rust core's `Profile::validate`
 * says the same): 2 to 6 levels of 1 to 12 bits, entries of a power of two up
 * to 64 bytes, pages of 4 KiB to 64 KiB, level 0 a leaf level, at most 63 VA bits.
 */
export function checkPageTableProfile(p: PageTableProfile): PageTableProfile {
  const bad = (what: string): never => {
    throw new DrmError('EINVAL', `page-table profile '${p.name}': ${what}`)
  }
  const int = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v)
  const n = p.levels.length
  if (n < 2 || n > 6) bad(`${n} levels (2 to 6 allowed)`)
  if (!int(p.pageShift) || p.pageShift < 12 || p.pageShift > 16) bad(`page shift ${p.pageShift} (12 to 16 allowed)`)
  p.levels.forEach((l, i) => {
    if (!int(l.bits) || l.bits < 1 || l.bits > 12) bad(`level ${i} has ${l.bits} index bits (1 to 12 allowed)`)
    if (!int(l.entryBytes) || l.entryBytes < 1 || l.entryBytes > 64 || (l.entryBytes & (l.entryBytes - 1)) !== 0) {
      bad(`level ${i} entries of ${l.entryBytes} bytes (a power of two up to 64)`)
    }
    if (typeof l.leaf !== 'boolean') bad(`level ${i} leaf must be a boolean`)
  })
  if (!p.levels[0].leaf) bad('level 0 must map pages')
  const va = levelShift(p, n)
  if (va > 63) bad(`${va} VA bits (at most 63)`)
  return p
}

/** A page table's record as the binding hands it (native/napi/pagetable.rs `PtInfo`). */
export interface PageTableWire {
  total: { counts: number[]; tlbBytes: bigint }
  last: { counts: number[]; tlbBytes: bigint }
  /** `[addr, range]` pairs. */
  tlbRanges: bigint[]
  tables: number[]
  entries: number[]
  leaves: number[]
  bytes: number
}

/** A cost as the binding hands it (`PtCost`). */
export function costFromWire(c: PageTableWire['total']): PageTableCost {
  const [pteWrites, pdeWrites, ptPagesAllocated, ptPagesFreed, tlbInvalidations, hugePageSplits, hugePagesFormed] =
    c.counts
  return {
    pteWrites,
    pdeWrites,
    ptPagesAllocated,
    ptPagesFreed,
    tlbInvalidations,
    tlbBytes: c.tlbBytes,
    hugePageSplits,
    hugePagesFormed,
  }
}

/** The record of a `PageTableWire`. */
export function pageTableFromWire(r: PageTableWire): PageTableRecord {
  const lastTlbRanges: { addr: bigint; range: bigint }[] = []
  for (let i = 0; i + 1 < r.tlbRanges.length; i += 2)
    lastTlbRanges.push({ addr: r.tlbRanges[i], range: r.tlbRanges[i + 1] })
  return {
    total: costFromWire(r.total),
    last: costFromWire(r.last),
    lastTlbRanges,
    occupancy: { tables: r.tables, entries: r.entries, leaves: r.leaves, bytes: r.bytes },
  }
}

/**
 * Numbers the binding's cheap read (`NativeVm.pageTableCounts`) fills: the
 * last request's cost and the total (7 counts, then the TLB bytes' high and
 * low 32 bits, each), the occupancy's bytes, then tables, entries and leaves
 * for 6 levels, then the number of levels.
 */
export const PAGE_TABLE_COUNTS_LEN = 2 * 9 + 1 + 3 * 6 + 1

/** The cost at `at` (0: last request, 9: total) of a `pageTableCounts` array. */
export function costFromCounts(a: Float64Array, at: number): PageTableCost {
  return {
    pteWrites: a[at],
    pdeWrites: a[at + 1],
    ptPagesAllocated: a[at + 2],
    ptPagesFreed: a[at + 3],
    tlbInvalidations: a[at + 4],
    tlbBytes: a[at + 7] === 0 ? BigInt(a[at + 8]) : (BigInt(a[at + 7]) << 32n) | BigInt(a[at + 8]),
    hugePageSplits: a[at + 5],
    hugePagesFormed: a[at + 6],
  }
}

/** The occupancy of a `pageTableCounts` array. */
export function occupancyFromCounts(a: Float64Array): PageTableOccupancy {
  const part = (at: number): number[] => Array.from(a.subarray(at, at + a[37]))
  return { tables: part(19), entries: part(25), leaves: part(31), bytes: a[18] }
}
