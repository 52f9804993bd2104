/**
 * The reference `drm_buddy` allocator: a plain TypeScript port of
 * native/core/src/alloc/buddy.rs. Blocks form binary trees under one root per
 * set bit of the size; free blocks are listed per clear state and order by
 * offset. Buddies of different clear states merge only when forced.
 */

import BTree from 'sorted-btree'
import {
  BUDDY_CLEAR_ALLOCATION,
  BUDDY_CONTIGUOUS,
  BUDDY_RANGE,
  BUDDY_TOPDOWN,
  BUDDY_TRIM_DISABLE,
  type BlockRecord,
  type BuddyCore,
  type BuddyStatsRecord,
} from '../../contract/alloc.js'
import { DrmError } from '../../base/errors.js'
import { hex } from '../../base/check.js'

const MASK = (1n << 64n) - 1n
const KNOWN_FLAGS = BUDDY_RANGE | BUDDY_TOPDOWN | BUDDY_CONTIGUOUS | BUDDY_CLEAR_ALLOCATION | BUDDY_TRIM_DISABLE
const MIN_CHUNK = 4096n

type State = 'free' | 'allocated' | 'split'

interface Node {
  offset: bigint
  order: number
  state: State
  parent: Node | null
  left: Node | null
  right: Node | null
  /** Known to hold zeroes; never set on a split block. */
  clear: boolean
}

/** The free tree of a block: 0 cleared, 1 dirty. */
const tree = (clear: boolean): number => (clear ? 0 : 1)

const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0)
const isPow2 = (x: bigint): boolean => x !== 0n && (x & (x - 1n)) === 0n
/** floor(log2(x)) for x > 0. */
const ilog2 = (x: bigint): number => x.toString(2).length - 1
const overlaps = (s1: bigint, e1: bigint, s2: bigint, e2: bigint): boolean => s1 <= e2 && e1 >= s2
const contains = (s1: bigint, e1: bigint, s2: bigint, e2: bigint): boolean => s1 <= s2 && e1 >= e2
/** The kernel's round_up for a power-of-two step, wrap-around included. */
const roundUp = (x: bigint, step: bigint): bigint => ((((x - 1n) & MASK) | (step - 1n)) + 1n) & MASK
const roundDown = (x: bigint, step: bigint): bigint => x & ~(step - 1n)

export class ReferenceBuddy implements BuddyCore {
  readonly engine = 'reference' as const
  readonly size: bigint
  readonly maxOrder: number
  readonly #chunk: bigint
  readonly #shift: number
  #avail: bigint
  #clearAvail = 0n
  readonly #roots: Node[] = []
  /** Per free tree (0 cleared, 1 dirty), per order. */
  readonly #free: [BTree<bigint, Node>[], BTree<bigint, Node>[]] = [[], []]
  readonly #allocated = new BTree<bigint, Node>(undefined, cmpBig)

  constructor(size: bigint, chunk: bigint) {
    if (size < chunk) throw new DrmError('EINVAL', `size ${hex(size)} is below the chunk size ${hex(chunk)}`)
    if (chunk < MIN_CHUNK) throw new DrmError('EINVAL', `chunk size ${hex(chunk)} is below 4 KiB`)
    if (!isPow2(chunk)) throw new DrmError('EINVAL', `chunk size ${hex(chunk)} is not a power of two`)
    size &= ~(chunk - 1n)
    this.size = size
    this.#chunk = chunk
    this.#shift = ilog2(chunk)
    this.maxOrder = ilog2(size) - this.#shift
    this.#avail = size
    for (const t of this.#free) {
      for (let o = 0; o <= this.maxOrder; o++) t.push(new BTree<bigint, Node>(undefined, cmpBig))
    }
    let offset = 0n
    let left = size
    while (left !== 0n) {
      const order = ilog2(left) - this.#shift
      const root: Node = { offset, order, state: 'free', parent: null, left: null, right: null, clear: false }
      this.#markFree(root)
      this.#roots.push(root)
      offset += chunk << BigInt(order)
      left -= chunk << BigInt(order)
    }
  }

  #bsize(n: Node): bigint {
    return this.#chunk << BigInt(n.order)
  }

  #record(n: Node): BlockRecord {
    return { offset: n.offset, size: this.#bsize(n), clear: n.clear }
  }

  #markFree(n: Node): void {
    n.state = 'free'
    this.#free[tree(n.clear)][n.order].set(n.offset, n)
  }

  #unlist(n: Node): void {
    if (n.state === 'free') this.#free[tree(n.clear)][n.order].delete(n.offset)
  }

  #markAllocated(n: Node): void {
    this.#unlist(n)
    n.state = 'allocated'
    this.#allocated.set(n.offset, n)
    this.#avail -= this.#bsize(n)
    if (n.clear) this.#clearAvail -= this.#bsize(n)
  }

  #split(n: Node): void {
    this.#unlist(n)
    const half = this.#chunk << BigInt(n.order - 1)
    const child = (offset: bigint): Node => ({
      offset,
      order: n.order - 1,
      state: 'free',
      parent: n,
      left: null,
      right: null,
      clear: n.clear,
    })
    const left = child(n.offset)
    const right = child(n.offset + half)
    this.#markFree(left)
    this.#markFree(right)
    n.state = 'split'
    n.clear = false
    n.left = left
    n.right = right
  }

  /** Frees an allocated block (keeping its clear state) and merges it upwards. */
  #release(n: Node): void {
    this.#allocated.delete(n.offset)
    this.#avail += this.#bsize(n)
    if (n.clear) this.#clearAvail += this.#bsize(n)
    this.#mergeUp(n, false)
  }

  /** `n` is off every list: merges it while its buddy is free (and, unless forced, equally clear). */
  #mergeUp(n: Node, force: boolean): number {
    n.state = 'split'
    while (n.parent !== null) {
      const p: Node = n.parent
      const buddy = p.left === n ? p.right! : p.left!
      if (buddy.state !== 'free') break
      if (!force && buddy.clear !== n.clear) break
      this.#unlist(buddy)
      if (force && buddy.clear) this.#clearAvail -= this.#bsize(buddy)
      p.left = null
      p.right = null
      p.clear = !force && n.clear
      n = p
    }
    this.#markFree(n)
    return n.order
  }

  /** `__force_merge`: merges free buddies of different states below minOrder in [start, end). */
  #forceMerge(start: bigint, end: bigint, minOrder: number): boolean {
    if (minOrder === 0 || minOrder > this.maxOrder) return false
    for (const t of this.#free) {
      for (let order = minOrder - 1; order >= 0; order--) {
        const list = t[order]
        let below: bigint | undefined
        for (;;) {
          const off = below === undefined ? list.maxKey() : list.nextLowerPair(below)?.[0]
          if (off === undefined) break
          below = off
          const n = list.get(off)!
          if (n.parent === null) continue
          if (!contains(start, end, off, off + this.#bsize(n) - 1n)) continue
          const buddy = n.parent.left === n ? n.parent.right! : n.parent.left!
          if (buddy.state !== 'free') continue
          this.#unlist(n)
          if (n.clear) this.#clearAvail -= this.#bsize(n)
          if (this.#mergeUp(n, true) >= minOrder) return true
        }
      }
    }
    return false
  }

  resetClear(isClear: boolean): void {
    let left = this.size
    for (const root of this.#roots) {
      const order = ilog2(left) - this.#shift
      this.#forceMerge(root.offset, root.offset + left, order)
      left -= this.#chunk << BigInt(order)
    }
    const [src, dst] = [this.#free[tree(!isClear)], this.#free[tree(isClear)]]
    for (let o = 0; o <= this.maxOrder; o++) {
      for (const n of src[o].valuesArray()) {
        src[o].delete(n.offset)
        n.clear = isClear
        this.#clearAvail += isClear ? this.#bsize(n) : -this.#bsize(n)
        dst[o].set(n.offset, n)
      }
    }
  }

  #releaseAll(ns: Node[]): void {
    for (const n of ns) this.#release(n)
  }

  /** One block of `order`: range-biased (wanted clear state first, then any) or from the free lists. */
  #allocOne(start: bigint, end: bigint, order: number, flags: number): Node | null {
    if ((flags & BUDDY_RANGE) === 0) return this.#allocFromFree(order, flags)
    return this.#allocRangeBias(start, end, order, flags, false) ?? this.#allocRangeBias(start, end, order, flags, true)
  }

  /**
   * Highest-offset block of the smallest order that fits (or the highest of
   * all with TOPDOWN) in the list of the wanted clear state, else the other
   * list's; split down.
   */
  #allocFromFree(order: number, flags: number): Node | null {
    const want = tree((flags & BUDDY_CLEAR_ALLOCATION) !== 0)
    let pick: Node | null = null
    for (let o = order; o <= this.maxOrder; o++) {
      const off = this.#free[want][o].maxKey()
      if (off === undefined) continue
      const n = this.#free[want][o].get(off)!
      if ((flags & BUDDY_TOPDOWN) === 0) {
        pick = n
        break
      }
      if (pick === null || off > pick.offset) pick = n
    }
    for (let o = order; pick === null && o <= this.maxOrder; o++) {
      const off = this.#free[1 - want][o].maxKey()
      if (off !== undefined) pick = this.#free[1 - want][o].get(off)!
    }
    if (pick === null) return null
    let n = pick
    while (n.order !== order) {
      this.#split(n)
      n = n.right!
    }
    return n
  }

  /** Depth first from the roots, lowest address first, inside [start, end); unless fallback, of the wanted clear state. */
  #allocRangeBias(start: bigint, end: bigint, order: number, flags: number, fallback: boolean): Node | null {
    const req = this.#chunk << BigInt(order)
    end = (end - 1n) & MASK
    const stack = [...this.#roots].reverse()
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      if (n.order < order) continue
      const bs = n.offset
      const be = bs + this.#bsize(n) - 1n
      if (!overlaps(start, end, bs, be) || n.state === 'allocated') continue
      if (bs < start || be > end) {
        const s = bs > start ? bs : start
        const e = be < end ? be : end
        if (roundDown(e + 1n, req) <= roundUp(s, req)) continue
      }
      if (!fallback && n.clear !== ((flags & BUDDY_CLEAR_ALLOCATION) !== 0)) continue
      if (contains(start, end, bs, be) && order === n.order) {
        if (n.state === 'free') return n
        continue
      }
      if (n.state !== 'split') this.#split(n)
      stack.push(n.right!, n.left!)
    }
    return null
  }

  /**
   * Allocates exactly [start, start + size) below `from`, in address order.
   * On failure, with keepPartial, what was taken stays allocated and is returned.
   */
  #allocExact(
    from: Node[],
    start: bigint,
    size: bigint,
    keepPartial: boolean,
  ): { ok: true; taken: Node[] } | { ok: false; taken: Node[]; total: bigint } {
    const end = (start + size - 1n) & MASK
    const stack = [...from].reverse()
    const taken: Node[] = []
    let total = 0n
    let ok = true
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      const bs = n.offset
      const be = bs + this.#bsize(n) - 1n
      if (!overlaps(start, end, bs, be)) continue
      if (n.state === 'allocated') {
        ok = false
        break
      }
      if (contains(start, end, bs, be)) {
        if (n.state === 'free') {
          this.#markAllocated(n)
          total += this.#bsize(n)
          taken.push(n)
          continue
        }
        // Split: with nothing cleared free it holds an allocated block; else maybe unmerged halves.
        if (this.#clearAvail === 0n) {
          ok = false
          break
        }
      }
      if (n.state !== 'split') this.#split(n)
      stack.push(n.right!, n.left!)
    }
    if (ok && total >= size) return { ok: true, taken }
    if (keepPartial) return { ok: false, taken, total }
    this.#releaseAll(taken)
    return { ok: false, taken: [], total: 0n }
  }

  /** CONTIGUOUS fallback: right of each free block of the rounded-down order, then the rest to its left. */
  #contigTryHarder(size: bigint, minBlock: bigint): Node[] | null {
    const order = ilog2(size) - this.#shift
    if (order === 0 || order > this.maxOrder) return null
    // The cleared list first, then the dirty one; failed rounds restore the lists.
    for (const t of this.#free) {
      const list = t[order]
      let below: bigint | undefined
      for (;;) {
        const rhs = below === undefined ? list.maxKey() : list.nextLowerPair(below)?.[0]
        if (rhs === undefined) break
        below = rhs
        const right = this.#allocExact(this.#roots, rhs, size, true)
        if (right.ok) return right.taken
        let lhsSize = size - right.total > minBlock ? size - right.total : minBlock
        if ((lhsSize & (minBlock - 1n)) !== 0n) lhsSize = roundUp(lhsSize, minBlock)
        const left = this.#allocExact(this.#roots, (rhs - lhsSize) & MASK, lhsSize, false)
        if (left.ok) return [...left.taken, ...right.taken]
        this.#releaseAll(right.taken)
      }
    }
    return null
  }

  /** Frees the block and takes back only its first newSize bytes. */
  #trimNode(n: Node, newSize: bigint): Node[] {
    if (newSize === this.#bsize(n)) return [n]
    this.#allocated.delete(n.offset)
    this.#avail += this.#bsize(n)
    if (n.clear) this.#clearAvail += this.#bsize(n)
    this.#markFree(n)
    // Detached so that nothing merges past it while it is re-split.
    const parent = n.parent
    n.parent = null
    const r = this.#allocExact([n], n.offset, newSize, false)
    n.parent = parent
    if (r.ok) return r.taken
    this.#markAllocated(n)
    return [n]
  }

  alloc(start: bigint, end: bigint, size: bigint, minBlock: bigint, flags: number): BlockRecord[] {
    const chunk = this.#chunk
    if ((flags & ~KNOWN_FLAGS) !== 0) throw new DrmError('EINVAL', `unknown flags ${hex(flags & ~KNOWN_FLAGS)}`)
    if (size < chunk) throw new DrmError('EINVAL', `size ${hex(size)} is below the chunk size ${hex(chunk)}`)
    if (minBlock < chunk) {
      throw new DrmError('EINVAL', `min block size ${hex(minBlock)} is below the chunk size ${hex(chunk)}`)
    }
    if (!isPow2(minBlock)) throw new DrmError('EINVAL', `min block size ${hex(minBlock)} is not a power of two`)
    if (((start | end | size) & (chunk - 1n)) !== 0n) {
      throw new DrmError(
        'EINVAL',
        `start ${hex(start)}, end ${hex(end)} and size ${hex(size)} must be multiples of the chunk size ${hex(chunk)}`,
      )
    }
    if (end > this.size) throw new DrmError('EINVAL', `end ${hex(end)} is past the size ${hex(this.size)}`)
    if (start >= this.size || size > this.size - start) {
      throw new DrmError('EINVAL', `${hex(size)} bytes at ${hex(start)} overflow the size ${hex(this.size)}`)
    }
    const out = (ns: Node[]): BlockRecord[] => ns.map((n) => this.#record(n))
    if (start + size === end) {
      if (((start | end) & (minBlock - 1n)) !== 0n) {
        throw new DrmError(
          'EINVAL',
          `exact range [${hex(start)}, ${hex(end)}) is not aligned to the min block size ${hex(minBlock)}`,
        )
      }
      const r = this.#allocExact(this.#roots, start, size, false)
      if (!r.ok) throw new DrmError('ENOSPC', `[${hex(start)}, ${hex(end)}) is not free`)
      return out(r.taken)
    }
    const noSpace = (): never => {
      throw new DrmError('ENOSPC', `no space for ${hex(size)} bytes (min block ${hex(minBlock)})`)
    }
    const contiguous = (flags & BUDDY_CONTIGUOUS) !== 0
    const range = (flags & BUDDY_RANGE) !== 0
    // Rounding may pass 2^64; bigints do not care.
    let rounded: bigint
    let minRounded: bigint
    if (contiguous) {
      rounded = isPow2(size) ? size : 1n << BigInt(ilog2(size) + 1)
      minRounded = rounded
    } else {
      rounded = ((size + minBlock - 1n) / minBlock) * minBlock
      minRounded = minBlock
    }
    let pages = rounded >> BigInt(this.#shift)
    const top = ilog2(pages)
    if (top > this.maxOrder) {
      // A 2026 kernel fix: EINVAL instead of a BUG, unless plain contiguous can fall back.
      if (contiguous && !range) {
        const got = this.#contigTryHarder(size, minBlock)
        return got === null ? noSpace() : out(got)
      }
      throw new DrmError('EINVAL', `size ${hex(size)} rounds up past the largest block (order ${this.maxOrder})`)
    }
    const minOrder = ilog2(minRounded) - this.#shift
    let order = top
    const taken: Node[] = []
    while (pages !== 0n) {
      order = Math.min(order, ilog2(pages))
      let n: Node | null
      for (;;) {
        n = this.#allocOne(start, end, order, flags)
        if (n !== null) break
        if (order === minOrder) {
          // Unmerged cleared/dirty buddies may add up to the block needed.
          if (this.#clearAvail !== 0n && this.#forceMerge(start, end, minOrder)) {
            n = this.#allocOne(start, end, minOrder, flags)
            if (n !== null) break
          }
          this.#releaseAll(taken)
          if (contiguous && !range) {
            const got = this.#contigTryHarder(size, minBlock)
            return got === null ? noSpace() : out(got)
          }
          return noSpace()
        }
        order--
      }
      this.#markAllocated(n)
      taken.push(n)
      pages -= 1n << BigInt(order)
    }
    if ((flags & BUDDY_TRIM_DISABLE) === 0 && rounded !== size) {
      // Only the last block carries the excess.
      const last = taken.pop()!
      const keep = taken.length === 0 ? size : this.#bsize(last) - (rounded - size)
      taken.push(...this.#trimNode(last, keep))
    }
    return out(taken)
  }

  #allocatedNode(offset: bigint): Node {
    const n = this.#allocated.get(offset)
    if (n === undefined) throw new DrmError('EINVAL', `no allocated block starts at ${hex(offset)}`)
    return n
  }

  free(offsets: bigint[], cleared: boolean): void {
    const seen = new Set<bigint>()
    const ns: Node[] = []
    for (const off of offsets) {
      const n = this.#allocatedNode(off)
      if (seen.has(off)) throw new DrmError('EINVAL', `block at ${hex(off)} is listed twice`)
      seen.add(off)
      ns.push(n)
    }
    for (const n of ns) {
      n.clear = cleared
      this.#release(n)
    }
  }

  trim(offset: bigint, newSize: bigint): BlockRecord[] {
    const n = this.#allocatedNode(offset)
    const bsize = this.#bsize(n)
    if (newSize > bsize) {
      throw new DrmError('EINVAL', `new size ${hex(newSize)} is larger than the block (${hex(bsize)})`)
    }
    if (newSize === 0n || (newSize & (this.#chunk - 1n)) !== 0n) {
      throw new DrmError(
        'EINVAL',
        `new size ${hex(newSize)} must be a non-zero multiple of the chunk size ${hex(this.#chunk)}`,
      )
    }
    return this.#trimNode(n, newSize).map((m) => this.#record(m))
  }

  roots(): BlockRecord[] {
    return this.#roots.map((n) => this.#record(n))
  }

  freeList(): BlockRecord[] {
    const all = this.#free.flat().flatMap((t) => t.valuesArray().map((n) => this.#record(n)))
    return all.sort((a, b) => cmpBig(a.offset, b.offset))
  }

  allocatedList(): BlockRecord[] {
    return this.#allocated.valuesArray().map((n) => this.#record(n))
  }

  /** Free bytes (`mm->avail`). */
  get avail(): bigint {
    return this.#avail
  }

  stats(): BuddyStatsRecord {
    let largest = 0n
    for (let o = this.maxOrder; o >= 0; o--) {
      if (this.#free[0][o].size > 0 || this.#free[1][o].size > 0) {
        largest = this.#chunk << BigInt(o)
        break
      }
    }
    return {
      size: this.size,
      avail: this.#avail,
      clearAvail: this.#clearAvail,
      used: this.size - this.#avail,
      largestFree: largest,
      freeBlocks: this.#free.flat().reduce((sum, t) => sum + t.size, 0),
      allocatedBlocks: this.#allocated.size,
    }
  }
}
