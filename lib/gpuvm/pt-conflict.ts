/**
 * Which bind jobs of different queues conflict: Xe's range fences
 * (xe_pt.c, xe_pt_update_ops_rfence_interval and xe_pt_vm_dependencies). A
 * page-table update covers its range rounded out to the span of the highest
 * page-table level it writes, and waits for the unsignalled updates of other
 * queues whose spans overlap.
 *
 * drmsim's model of the level written: Xe's 4-level layout with 4 KiB pages
 * (a level-L entry maps 2^(12 + 9L) bytes; a level-0 table spans 2 MiB). A
 * map writes level 0 when every level-0 table of its range exists, else one
 * level above the highest level with a missing table; the tables it needs
 * exist from its submission on (Xe allocates them in the ioctl). Unmaps and
 * the holes of remaps write leaf entries (level 0). Tables are never freed,
 * 2 MiB leaf entries (huge pages) are not modelled, and only binds made
 * through bind queues create tables. This private model is the fallback
 * for a VA space without a page-table model: with one (`vm.pageTable`), the
 * level is what that model wrote (`levelWritten`), for the whole submission.
 */

import type { PageTableOccupancy } from '../contract/pagetable.js'

/** A closed interval of addresses [start, last]. */
export type Interval = readonly [start: bigint, last: bigint]

/** Level-L tables span 2^(21 + 9L) bytes; levels 0..2 are tracked (the root always exists). */
const TABLE_LEVELS = 3
const tableShift = (level: number): bigint => BigInt(21 + 9 * level)
const entryShift = (level: number): bigint => BigInt(12 + 9 * level)

/** Sorted, disjoint, non-adjacent closed intervals of table indices. */
class IndexSet {
  #runs: [bigint, bigint][] = []

  covers(lo: bigint, hi: bigint): boolean {
    return this.#runs.some(([a, b]) => a <= lo && hi <= b)
  }

  add(lo: bigint, hi: bigint): void {
    const kept: [bigint, bigint][] = []
    for (const [a, b] of this.#runs) {
      if (b + 1n < lo || hi + 1n < a) kept.push([a, b])
      else [lo, hi] = [a < lo ? a : lo, b > hi ? b : hi]
    }
    kept.push([lo, hi])
    this.#runs = kept.sort((x, y) => (x[0] < y[0] ? -1 : 1))
  }
}

/** The page tables one VA space has, as its bind queues learn them. */
export class PageTables {
  readonly #present = Array.from({ length: TABLE_LEVELS }, () => new IndexSet())

  /** The level a map of [addr, addr + range) writes; makes the tables it needs. */
  mapLevel(addr: bigint, range: bigint): number {
    const last = addr + range - 1n
    let level = 0
    for (let l = 0; l < TABLE_LEVELS; l++) {
      const [lo, hi] = [addr >> tableShift(l), last >> tableShift(l)]
      if (!this.#present[l].covers(lo, hi)) level = l + 1
      this.#present[l].add(lo, hi)
    }
    return level
  }
}

/** [addr, addr + range) rounded out to the span of a level-`level` entry (Xe's layout). */
export function interval(addr: bigint, range: bigint, level: number): Interval {
  return spanOf(addr, range, entryShift(level))
}

/**
 * The level a submission wrote, from a VA space's page-table model (`vm.pageTable`) before and after it:
 * a table made or freed at level L means an entry written at L + 1; leaves added or removed at L, at L.
 */
export function levelWritten(before: PageTableOccupancy, after: PageTableOccupancy): number {
  let level = 0
  const top = after.tables.length - 1
  for (let l = 0; l <= top; l++) {
    if (l < top && after.tables[l] !== before.tables[l]) level = Math.max(level, l + 1)
    if (after.leaves[l] !== before.leaves[l]) level = Math.max(level, l)
  }
  return level
}

/** [addr, addr + range) rounded out to a multiple of 2^shift. */
export function spanOf(addr: bigint, range: bigint, shift: bigint): Interval {
  const size = 1n << shift
  const start = addr & ~(size - 1n)
  const end = (addr + range + size - 1n) & ~(size - 1n)
  return [start, end - 1n]
}

export function overlaps(a: readonly Interval[], b: readonly Interval[]): boolean {
  return a.some(([s, l]) => b.some(([t, m]) => s <= m && t <= l))
}
