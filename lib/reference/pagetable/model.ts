/**
 * Mirrors native/core/src/pagetable/mod.rs: the page-table cost model of the
 * reference engine, the same rules and the same counts (see that file's
 * doc comment and lib/contract/pagetable.ts).
 */
import {
  levelShift,
  type PageTableCost,
  type PageTableOccupancy,
  type PageTableProfile,
  TLB_RANGES_MAX,
  zeroCost,
} from '../../contract/pagetable.js'

/** A mapping as the page table sees it. */
export interface PtMapping {
  addr: bigint
  range: bigint
  obj: number
  offset: bigint
}

const U64 = (1n << 64n) - 1n

type Range = [bigint, bigint]
/** A run of equal leaves: level, start, end. */
type Run = [number, bigint, bigint]

function end(m: PtMapping): bigint {
  const e = m.addr + m.range
  return e > U64 ? U64 : e
}

function minus(a: PageTableCost, b: PageTableCost): PageTableCost {
  return {
    pteWrites: a.pteWrites - b.pteWrites,
    pdeWrites: a.pdeWrites - b.pdeWrites,
    ptPagesAllocated: a.ptPagesAllocated - b.ptPagesAllocated,
    ptPagesFreed: a.ptPagesFreed - b.ptPagesFreed,
    tlbInvalidations: a.tlbInvalidations - b.tlbInvalidations,
    tlbBytes: a.tlbBytes - b.tlbBytes,
    hugePageSplits: a.hugePageSplits - b.hugePageSplits,
    hugePagesFormed: a.hugePagesFormed - b.hugePagesFormed,
  }
}

/** A remap's old mapping, taken out; its leaves stay until the step is over, the pieces that keep them known. */
interface Pending {
  old: PtMapping
  /** The pieces that keep the old mapping's leaves, in the order they come. */
  expected: PtMapping[]
  kept: Range[]
}

/** Whether piece `m` of `old` keeps its leaves: non-empty, inside, the same object and backing. */
function keeps(old: PtMapping, m: PtMapping): boolean {
  const sameBacking =
    m.obj === old.obj && (m.obj === 0 || ((m.addr - m.offset) & U64) === ((old.addr - old.offset) & U64))
  return m.range !== 0n && m.addr >= old.addr && end(m) <= end(old) && sameBacking
}

const same = (a: PtMapping | undefined, b: PtMapping): boolean =>
  a !== undefined && a.addr === b.addr && a.range === b.range && a.obj === b.obj && a.offset === b.offset

export class PageTableModel {
  readonly profile: PageTableProfile
  readonly #shifts: bigint[]
  /** Per level below the root: table index -> valid entries. */
  readonly #tables: Map<bigint, number>[]
  /** Per level (the root's too), kept as the tables change: valid entries and leaves. */
  readonly #entries: number[]
  readonly #leaves: number[]
  #total = zeroCost()
  #atRequest = zeroCost()
  #tlb: Range[] = []
  #pending: Pending | undefined

  constructor(profile: PageTableProfile) {
    this.profile = profile
    const n = profile.levels.length
    this.#shifts = Array.from({ length: n + 1 }, (_, i) => BigInt(levelShift(profile, i)))
    this.#tables = Array.from({ length: n - 1 }, () => new Map<bigint, number>())
    this.#entries = new Array<number>(n).fill(0)
    this.#leaves = new Array<number>(n).fill(0)
  }

  /**
   * Saves the whole model, counters included, for an atomic array: an array
   * that is undone never reached the page tables (Xe writes them only after
   * the array's point of no return). Returns what puts it back.
   */
  saved(): () => void {
    const tables = this.#tables.map((t) => new Map(t))
    const [entries, leaves] = [[...this.#entries], [...this.#leaves]]
    const [total, atRequest] = [{ ...this.#total }, { ...this.#atRequest }]
    const [tlb, pending] = [[...this.#tlb], this.#pending]
    return () => {
      tables.forEach((t, i) => {
        this.#tables[i] = t
      })
      entries.forEach((n, i) => {
        this.#entries[i] = n
      })
      leaves.forEach((n, i) => {
        this.#leaves[i] = n
      })
      ;[this.#total, this.#atRequest, this.#tlb, this.#pending] = [total, atRequest, tlb, pending]
    }
  }

  get vaBits(): number {
    return Number(this.#shifts[this.profile.levels.length])
  }

  #top(): number {
    return this.profile.levels.length - 1
  }

  #size(level: number): bigint {
    return 1n << this.#shifts[level]
  }

  // ---- the hooks the VA space calls ---------------------------------------

  mapped(m: PtMapping): void {
    const p = this.#pending
    if (p !== undefined && same(p.expected[p.kept.length], m)) {
      p.kept.push([m.addr, end(m)])
      if (p.kept.length === p.expected.length) this.#flush()
      return
    }
    this.#flush()
    this.#write(m)
  }

  unmapped(m: PtMapping): void {
    this.#flush()
    this.#clear(m, [[m.addr, end(m)]])
  }

  /** A remap takes `old` out and puts `pieces` (in address order) in; those with the old backing keep its leaves. */
  detached(old: PtMapping, pieces: PtMapping[]): void {
    this.#flush()
    this.#pending = { old, expected: pieces.filter((p) => keeps(old, p)), kept: [] }
  }

  beginRequest(): void {
    this.#flush()
    this.#atRequest = { ...this.#total }
    this.#tlb = []
  }

  // ---- reading ------------------------------------------------------------

  total(): PageTableCost {
    this.#flush()
    return { ...this.#total }
  }

  lastRequest(): PageTableCost {
    this.#flush()
    return minus(this.#total, this.#atRequest)
  }

  lastTlbRanges(): { addr: bigint; range: bigint }[] {
    this.#flush()
    return this.#tlb.map(([a, b]) => ({ addr: a, range: b - a }))
  }

  /** The occupancy from the counts kept as the tables change (O(levels)). */
  occupancy(): PageTableOccupancy {
    this.#flush()
    return this.#occupancyOf(this.#entries)
  }

  /** The occupancy counted afresh over every table (what `occupancy` keeps; the tests compare the two). */
  occupancyCounted(): PageTableOccupancy {
    this.#flush()
    const entries = this.#entries.map((root, i) => {
      if (i === this.#top()) return root
      let sum = 0
      for (const u of this.#tables[i].values()) sum += u
      return sum
    })
    return this.#occupancyOf(entries)
  }

  #occupancyOf(entries: readonly number[]): PageTableOccupancy {
    const o: PageTableOccupancy = { tables: [], entries: [], leaves: [], bytes: 0 }
    this.profile.levels.forEach((spec, i) => {
      const tables = i === this.#top() ? 1 : this.#tables[i].size
      o.tables.push(tables)
      o.entries.push(entries[i])
      o.leaves.push(this.#leaves[i])
      o.bytes += tables * 2 ** spec.bits * spec.entryBytes
    })
    return o
  }

  // ---- the model ----------------------------------------------------------

  #flush(): void {
    const p = this.#pending
    if (p === undefined) return
    this.#pending = undefined
    const kept = [...p.kept].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
    const removed: Range[] = []
    let at = p.old.addr
    for (const [a, b] of kept) {
      if (at < a) removed.push([at, a])
      at = b
    }
    if (at < end(p.old)) removed.push([at, end(p.old)])
    this.#clear(p.old, removed)
  }

  /** The leaves of `m` as runs: from its first whole page, the largest aligned leaf that fits (backing aligned alike). */
  #layout(m: PtMapping): Run[] {
    const runs: Run[] = []
    const page = this.#size(0)
    const hi = end(m) & ~(page - 1n)
    let x = m.addr + page - 1n > U64 ? U64 : (m.addr + page - 1n) & ~(page - 1n)
    const delta = (m.addr - m.offset) & U64
    const n = this.profile.levels.length
    const allowed = (l: number): boolean =>
      l === 0 || (this.profile.levels[l].leaf && (m.obj === 0 || (delta & (this.#size(l) - 1n)) === 0n))
    const fits = (l: number, at: bigint): boolean => (at & (this.#size(l) - 1n)) === 0n && at + this.#size(l) <= hi
    while (x < hi && runs.length < 16) {
      let level = 0
      for (let l = n - 1; l >= 1; l--) {
        if (allowed(l) && fits(l, x)) {
          level = l
          break
        }
      }
      let stop = hi & ~(this.#size(level) - 1n)
      for (let b = level + 1; b < n; b++) {
        if (!allowed(b)) continue
        const next = (x | (this.#size(b) - 1n)) + 1n
        if (next <= U64 && fits(b, next) && next < stop) stop = next
        break
      }
      runs.push([level, x, stop])
      x = stop
    }
    return runs
  }

  #write(m: PtMapping): void {
    for (const [level, a, b] of this.#layout(m)) this.#writeRun(level, a, b, true)
  }

  #clear(m: PtMapping, removed: Range[]): void {
    if (m.range === 0n) return
    for (const [a, b] of removed) {
      if (a >= b) continue
      this.#total.tlbInvalidations++
      this.#total.tlbBytes += b - a
      if (this.#tlb.length < TLB_RANGES_MAX) this.#tlb.push([a, b])
    }
    for (const [level, a, b] of this.#layout(m)) this.#clearRun(level, a, b, removed)
  }

  #writeRun(level: number, a: bigint, b: bigint, formed: boolean): void {
    const count = Number((b - a) >> this.#shifts[level])
    this.#total.pteWrites += count
    this.#leaves[level] += count
    if (formed && level > 0) this.#total.hugePagesFormed += count
    this.#eachTable(level, a, b, (idx, k) => this.#tableAdd(level, idx, k))
  }

  #clearLeaves(level: number, a: bigint, b: bigint): void {
    const count = Number((b - a) >> this.#shifts[level])
    this.#total.pteWrites += count
    this.#leaves[level] -= count
    this.#eachTable(level, a, b, (idx, k) => this.#tableSub(level, idx, k))
  }

  #eachTable(level: number, a: bigint, b: bigint, f: (idx: bigint, k: number) => void): void {
    const shift = this.#shifts[level]
    if (level === this.#top()) {
      f(0n, Number((b - a) >> shift))
      return
    }
    const span = this.#shifts[level + 1]
    for (let x = a; x < b; ) {
      const idx = x >> span
      const e = (idx + 1n) << span
      const stop = e < b ? e : b
      f(idx, Number((stop - x) >> shift))
      x = stop
    }
  }

  #tableAdd(level: number, idx: bigint, k: number): void {
    this.#entries[level] += k
    if (level === this.#top()) return
    const used = this.#tables[level].get(idx) ?? 0
    this.#tables[level].set(idx, used + k)
    if (used === 0) {
      this.#total.ptPagesAllocated++
      this.#total.pdeWrites++
      this.#tableAdd(level + 1, idx >> BigInt(this.profile.levels[level + 1].bits), 1)
    }
  }

  #tableSub(level: number, idx: bigint, k: number): void {
    if (level === this.#top()) {
      this.#entries[level] -= k
      return
    }
    const used = this.#tables[level].get(idx)
    if (used === undefined) return
    this.#entries[level] -= k
    if (used - k === 0) {
      this.#tables[level].delete(idx)
      this.#total.ptPagesFreed++
      this.#total.pdeWrites++
      this.#tableSub(level + 1, idx >> BigInt(this.profile.levels[level + 1].bits), 1)
    } else {
      this.#tables[level].set(idx, used - k)
    }
  }

  #childLeaf(level: number): number {
    for (let l = level - 1; l >= 1; l--) if (this.profile.levels[l].leaf) return l
    return 0
  }

  /** Replaces the huge leaf of `level` at `b` by a table of the next leaf size, every entry a copy of the leaf. */
  #split(level: number, b: bigint): void {
    this.#leaves[level]--
    this.#total.hugePageSplits++
    this.#writeRun(this.#childLeaf(level), b, b + this.#size(level), false)
    // The new table's pointer took the leaf's entry, which stays valid.
    if (level === this.#top()) this.#entries[level]--
    else {
      const idx = b >> this.#shifts[level + 1]
      const used = this.#tables[level].get(idx)
      if (used !== undefined) {
        this.#tables[level].set(idx, used - 1)
        this.#entries[level]--
      }
    }
  }

  #clearRun(level: number, start: bigint, stop: bigint, removed: Range[]): void {
    const size = this.#size(level)
    const mask = size - 1n
    const cut = new Set<bigint>()
    for (const [r0, r1] of removed) {
      const lo = start > r0 ? start : r0
      const hi = stop < r1 ? stop : r1
      if (lo >= hi) continue
      const fullLo = lo + mask > U64 ? U64 & ~mask : (lo + mask) & ~mask
      const fullHi = hi & ~mask
      if (fullLo < fullHi) this.#clearLeaves(level, fullLo, fullHi)
      if ((lo & mask) !== 0n) cut.add(lo & ~mask)
      if ((hi & mask) !== 0n) cut.add(hi & ~mask)
    }
    for (const b of [...cut].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))) {
      if (level === 0) {
        this.#clearLeaves(0, b, b + size)
      } else {
        this.#split(level, b)
        this.#clearRun(this.#childLeaf(level), b, b + size, removed)
      }
    }
  }
}
