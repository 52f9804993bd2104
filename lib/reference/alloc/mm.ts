/**
 * The reference `drm_mm` range allocator: a plain TypeScript port of
 * native/core/src/alloc/mm.rs, written to be read. Every slot owns the hole
 * that follows it; a head slot at the end of the range owns the hole before
 * the first node (its start + size wraps around to the range start). Holes
 * are indexed by address, by (size, newest first) and by age (the hole stack).
 * Colours: a guard between allocated neighbours of different colours, or a
 * JavaScript colour-adjust hook (this engine only), shrinks each hole tested.
 */

import BTree from 'sorted-btree'
import type {
  ColorAdjustFn,
  ColorAdjustRecord,
  ColorNeighbour,
  HoleRecord,
  InsertMode,
  MmCore,
  MmNodeRecord,
  MmStatsRecord,
  ScanRunRecord,
} from '../../contract/alloc.js'
import { DrmError } from '../../base/errors.js'
import { hex } from '../../base/check.js'

const MASK = (1n << 64n) - 1n
const U64_MAX = MASK

interface Slot {
  start: bigint
  size: bigint
  color: bigint
  prev: Slot
  next: Slot
  /** Size of the hole after this slot; 0 when there is none. */
  holeSize: bigint
  /** When that hole was last indexed. */
  holeSeq: number
  scanned: boolean
}

interface SizeKey {
  size: bigint
  seq: number
}

const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0)
/** Smallest first; among equal sizes the newest first, as the kernel's size tree. */
const cmpSize = (a: SizeKey, b: SizeKey): number => cmpBig(a.size, b.size) || b.seq - a.seq

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b)
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)
const isPow2 = (x: bigint): boolean => x !== 0n && (x & (x - 1n)) === 0n

/** Where a node of `size` goes in `[holeStart, holeEnd)`, with the kernel's wrap-arounds. */
function fit(
  holeStart: bigint,
  holeEnd: bigint,
  size: bigint,
  alignment: bigint,
  rangeStart: bigint,
  rangeEnd: bigint,
  high: boolean,
): bigint | null {
  const lo = max(holeStart, rangeStart)
  const hi = min(holeEnd, rangeEnd)
  if (hi <= lo || hi - lo < size) return null
  let at = high ? hi - size : lo
  if (alignment !== 0n) {
    const rem = isPow2(alignment) ? at & (alignment - 1n) : at % alignment
    if (rem !== 0n) {
      at -= rem
      if (!high) at = (at + alignment) & MASK
      if (at < lo || ((hi - at) & MASK) < size || hi <= at) return null
    }
  }
  return at
}

interface Scan {
  size: bigint
  alignment: bigint
  color: bigint
  high: boolean
  rangeStart: bigint
  rangeEnd: bigint
  hitStart: bigint
  hitEnd: bigint
}

export class ReferenceMm implements MmCore {
  readonly engine = 'reference' as const
  readonly #size: bigint
  readonly #byAddr = new BTree<bigint, Slot>(undefined, cmpBig)
  readonly #holesAddr = new BTree<bigint, Slot>(undefined, cmpBig)
  readonly #holesSize = new BTree<SizeKey, Slot>(undefined, cmpSize)
  readonly #holeStack = new BTree<number, Slot>(undefined, (a, b) => a - b)
  #seq = 0
  #used = 0n
  #scan: Scan | null = null
  readonly #scanned: Slot[] = []
  readonly #head: Slot
  readonly #guard: bigint
  readonly #hook: ColorAdjustFn | null

  constructor(start: bigint, size: bigint, adjust?: ColorAdjustRecord) {
    if (size === 0n) throw new DrmError('EINVAL', 'size must be non-zero')
    const end = start + size
    if (end > U64_MAX) throw new DrmError('EINVAL', `start ${hex(start)} + size ${hex(size)} overflows u64`)
    const head = { start: end, size: -size & MASK, color: 0n, holeSize: 0n, holeSeq: 0, scanned: false } as Slot
    head.prev = head
    head.next = head
    this.#head = head
    this.#guard = adjust !== undefined && 'guard' in adjust ? adjust.guard : 0n
    this.#hook = adjust !== undefined && 'hook' in adjust ? adjust.hook : null
    this.#size = size
    this.#addHole(head)
  }

  #holeStart(s: Slot): bigint {
    return (s.start + s.size) & MASK
  }

  #addHole(s: Slot): void {
    const start = this.#holeStart(s)
    s.holeSize = (s.next.start - start) & MASK
    s.holeSeq = ++this.#seq
    this.#holesAddr.set(start, s)
    this.#holesSize.set({ size: s.holeSize, seq: s.holeSeq }, s)
    this.#holeStack.set(s.holeSeq, s)
  }

  #rmHole(s: Slot): void {
    if (s.holeSize === 0n) return
    this.#holesAddr.delete(this.#holeStart(s))
    this.#holesSize.delete({ size: s.holeSize, seq: s.holeSeq })
    this.#holeStack.delete(s.holeSeq)
    s.holeSize = 0n
  }

  #neighbour(s: Slot): ColorNeighbour | null {
    return s === this.#head ? null : { start: s.start, size: s.size, color: s.color }
  }

  /** The usable part of the hole `[start, end)` between `prev` and `next` for a node of `color`. */
  #adjust(prev: Slot, next: Slot, color: bigint, start: bigint, end: bigint): [bigint, bigint] {
    if (this.#hook !== null) {
      const r = this.#hook(this.#neighbour(prev), this.#neighbour(next), color, start, end)
      const ok = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v <= U64_MAX
      if (r === null || typeof r !== 'object' || !ok(r.start) || !ok(r.end)) {
        throw new DrmError('EINVAL', 'the colour-adjust hook must return { start, end } as u64 bigints')
      }
      return [r.start, r.end]
    }
    if (this.#guard === 0n) return [start, end]
    let s = start
    let e = end
    if (prev !== this.#head && prev.color !== color) s = min(s + this.#guard, U64_MAX)
    if (next !== this.#head && next.color !== color) e = e > this.#guard ? e - this.#guard : 0n
    return [s, e]
  }

  #notScanning(): void {
    if (this.#scanned.length > 0) {
      throw new DrmError('EBUSY', `a scan is in progress (${this.#scanned.length} blocks added)`)
    }
  }

  #node(start: bigint): Slot {
    const s = this.#byAddr.get(start)
    if (s === undefined) throw new DrmError('EINVAL', `no node starts at ${hex(start)}`)
    return s
  }

  /** Puts a node at `start` inside the hole owned by `hole`. */
  #place(hole: Slot, start: bigint, size: bigint, color: bigint): void {
    const holeStart = this.#holeStart(hole)
    const holeEnd = hole.next.start
    const s: Slot = { start, size, color, prev: hole, next: hole.next, holeSize: 0n, holeSeq: 0, scanned: false }
    hole.next.prev = s
    hole.next = s
    this.#rmHole(hole)
    if (start > holeStart) this.#addHole(hole)
    if (start + size < holeEnd) this.#addHole(s)
    this.#byAddr.set(start, s)
    this.#used += size
  }

  insert(
    size: bigint,
    alignment: bigint,
    color: bigint,
    rangeStart: bigint,
    rangeEnd: bigint,
    mode: InsertMode,
  ): bigint {
    this.#notScanning()
    if (rangeStart > rangeEnd) {
      throw new DrmError('EINVAL', `range start ${hex(rangeStart)} is above range end ${hex(rangeEnd)}`)
    }
    if (size === 0n) throw new DrmError('ENOSPC', 'size must be non-zero')
    if (rangeEnd - rangeStart < size) {
      throw new DrmError('ENOSPC', `size ${hex(size)} does not fit in range [${hex(rangeStart)}, ${hex(rangeEnd)})`)
    }
    const align = alignment <= 1n ? 0n : alignment
    const high = mode === 'high'
    const tryHole = (s: Slot): bigint | null => {
      const hs = this.#holeStart(s)
      const [cs, ce] = this.#adjust(s, s.next, color, hs, (hs + s.holeSize) & MASK)
      return fit(cs, ce, size, align, rangeStart, rangeEnd, high)
    }
    let found: [Slot, bigint] | null = null
    const consider = (s: Slot): boolean => {
      const at = tryHole(s)
      if (at !== null) found = [s, at]
      return at !== null
    }
    switch (mode) {
      case 'best':
        for (const [, s] of this.#holesSize.entries({ size, seq: Infinity })) if (consider(s)) break
        break
      case 'low': {
        // Start from the hole that holds rangeStart, if any.
        const from = this.#holesAddr.getPairOrNextLower(rangeStart)?.[0] ?? rangeStart
        for (const [a, s] of this.#holesAddr.entries(from)) {
          if (a >= rangeEnd) break
          if (s.holeSize >= size && consider(s)) break
        }
        break
      }
      case 'high':
        for (const [a, s] of this.#holesAddr.entriesReversed(rangeEnd, undefined, true)) {
          if (((a + s.holeSize) & MASK) <= rangeStart) break
          if (s.holeSize >= size && consider(s)) break
        }
        break
      case 'evict':
        for (const [, s] of this.#holeStack.entriesReversed()) if (consider(s)) break
        break
    }
    if (found === null) throw new DrmError('ENOSPC', `no hole fits size ${hex(size)}`)
    const [hole, at] = found as [Slot, bigint]
    this.#place(hole, at, size, color)
    return at
  }

  reserve(start: bigint, size: bigint, color: bigint): void {
    this.#notScanning()
    const end = (start + size) & MASK
    if (end <= start) {
      throw new DrmError('ENOSPC', `node at ${hex(start)} of size ${hex(size)} is empty or overflows u64`)
    }
    const pair = this.#holesAddr.getPairOrNextLower(start)
    if (pair === undefined || end > ((pair[0] + pair[1].holeSize) & MASK)) {
      throw new DrmError('ENOSPC', `[${hex(start)}, ${hex(end)}) is not free`)
    }
    const [cs, ce] = this.#adjust(pair[1], pair[1].next, color, pair[0], (pair[0] + pair[1].holeSize) & MASK)
    if (cs > start || ce < end) {
      throw new DrmError('ENOSPC', `[${hex(start)}, ${hex(end)}) is free but too close to a node of another colour`)
    }
    this.#place(pair[1], start, size, color)
  }

  replace(start: bigint, color: bigint): void {
    this.#notScanning()
    const s = this.#node(start)
    const [cs, ce] = this.#adjust(s.prev, s.next, color, this.#holeStart(s.prev), s.next.start)
    const end = start + s.size
    if (cs > start || ce < end) {
      throw new DrmError(
        'ENOSPC',
        `[${hex(start)}, ${hex(end)}) is too close to a node of another colour for colour ${hex(color)}`,
      )
    }
    s.color = color
  }

  remove(start: bigint): void {
    this.#notScanning()
    const s = this.#node(start)
    const prev = s.prev
    this.#rmHole(s)
    prev.next = s.next
    s.next.prev = prev
    this.#rmHole(prev)
    this.#addHole(prev)
    this.#byAddr.delete(start)
    this.#used -= s.size
  }

  nodes(): MmNodeRecord[] {
    return this.#byAddr.valuesArray().map((s) => ({ start: s.start, size: s.size, color: s.color }))
  }

  holes(): HoleRecord[] {
    return this.#holesAddr.valuesArray().map((s) => ({ start: this.#holeStart(s), size: s.holeSize }))
  }

  stats(): MmStatsRecord {
    return {
      used: this.#used,
      free: this.#size - this.#used,
      largestHole: this.#holesSize.maxKey()?.size ?? 0n,
      nodes: this.#byAddr.size,
      holes: this.#holesAddr.size,
    }
  }

  // ---- eviction scan --------------------------------------------------------

  scanInit(
    size: bigint,
    alignment: bigint,
    color: bigint,
    rangeStart: bigint,
    rangeEnd: bigint,
    mode: InsertMode,
  ): void {
    this.#notScanning()
    if (mode === 'evict') throw new DrmError('EINVAL', "a scan's mode must be best, low or high")
    if (rangeStart >= rangeEnd || size === 0n || size > rangeEnd - rangeStart) {
      throw new DrmError(
        'EINVAL',
        `scan size ${hex(size)} does not fit in range [${hex(rangeStart)}, ${hex(rangeEnd)})`,
      )
    }
    this.#scan = {
      size,
      alignment: alignment <= 1n ? 0n : alignment,
      color,
      high: mode === 'high',
      rangeStart,
      rangeEnd,
      hitStart: U64_MAX,
      hitEnd: 0n,
    }
  }

  #scanState(): Scan {
    if (this.#scan === null) throw new DrmError('EINVAL', 'no scan was started')
    return this.#scan
  }

  /** Unlinks the node (keeping its own links) and checks the hole around it. */
  scanAdd(start: bigint): boolean {
    const scan = this.#scanState()
    const s = this.#node(start)
    if (s.scanned) throw new DrmError('EINVAL', `node at ${hex(start)} is already in the scan`)
    const hs = this.#holeStart(s.prev)
    s.prev.next = s.next
    s.next.prev = s.prev
    let col: [bigint, bigint]
    try {
      col = this.#adjust(s.prev, s.next, scan.color, hs, s.next.start)
    } catch (e) {
      s.prev.next = s
      s.next.prev = s
      throw e
    }
    const [cs, ce] = col
    s.scanned = true
    this.#scanned.push(s)
    const at = fit(cs, ce, scan.size, scan.alignment, scan.rangeStart, scan.rangeEnd, scan.high)
    if (at === null) return false
    scan.hitStart = at
    scan.hitEnd = at + scan.size
    return true
  }

  /** Undoes the last add; true when the node overlaps the hole found. */
  scanRemove(start: bigint): boolean {
    const scan = this.#scanState()
    const s = this.#node(start)
    if (!s.scanned) throw new DrmError('EINVAL', `node at ${hex(start)} is not in the scan`)
    if (this.#scanned[this.#scanned.length - 1] !== s) {
      throw new DrmError('EINVAL', `node at ${hex(start)} is not the last one added to the scan`)
    }
    this.#scanned.pop()
    s.scanned = false
    s.prev.next = s
    s.next.prev = s
    return start + s.size > scan.hitStart && start < scan.hitEnd
  }

  scanHit(): { start: bigint; end: bigint } | null {
    const s = this.#scan
    return s === null || s.hitEnd === 0n ? null : { start: s.hitStart, end: s.hitEnd }
  }

  scanRun(candidates: bigint[]): ScanRunRecord {
    this.#scanState()
    const added: bigint[] = []
    let found = false
    for (const start of candidates) {
      try {
        const hit = this.scanAdd(start)
        added.push(start)
        if (hit) {
          found = true
          break
        }
      } catch (e) {
        for (const s of added.reverse()) this.scanRemove(s)
        throw e
      }
    }
    const evict: bigint[] = []
    for (const s of added.reverse()) if (this.scanRemove(s)) evict.push(s)
    return { found, evict }
  }

  scanColorEvict(): bigint | null {
    const scan = this.#scanState()
    this.#notScanning()
    if ((this.#guard === 0n && this.#hook === null) || scan.hitEnd === 0n) return null
    // Newest hole first: the scan's hole is normally on top of the stack.
    for (const [, h] of this.#holeStack.entriesReversed()) {
      const hs = this.#holeStart(h)
      const he = (hs + h.holeSize) & MASK
      if (hs > scan.hitStart || he < scan.hitEnd) continue
      const [cs, ce] = this.#adjust(h, h.next, scan.color, hs, he)
      const victim = cs > scan.hitStart ? h : ce < scan.hitEnd ? h.next : null
      return victim === null || victim === this.#head ? null : victim.start
    }
    return null
  }
}
