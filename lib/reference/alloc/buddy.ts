/**
 * The reference `drm_buddy` allocator: a plain TypeScript port of
 * native/core/src/alloc/buddy.rs. Blocks form binary trees under one root per
 * set bit of the size; free blocks are listed per order by offset.
 */

import BTree from 'sorted-btree'
import {
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
const KNOWN_FLAGS = BUDDY_RANGE | BUDDY_TOPDOWN | BUDDY_CONTIGUOUS | BUDDY_TRIM_DISABLE
const MIN_CHUNK = 4096n

type State = 'free' | 'allocated' | 'split'

interface Node {
  offset: bigint
  order: number
  state: State
  parent: Node | null
  left: Node | null
  right: Node | null
}

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
  readonly #roots: Node[] = []
  readonly #free: BTree<bigint, Node>[] = []
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
    for (let o = 0; o <= this.maxOrder; o++) this.#free.push(new BTree<bigint, Node>(undefined, cmpBig))
    let offset = 0n
    let left = size
    while (left !== 0n) {
      const order = ilog2(left) - this.#shift
      const root: Node = { offset, order, state: 'free', parent: null, left: null, right: null }
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
    return { offset: n.offset, size: this.#bsize(n) }
  }

  #markFree(n: Node): void {
    n.state = 'free'
    this.#free[n.order].set(n.offset, n)
  }

  #unlist(n: Node): void {
    if (n.state === 'free') this.#free[n.order].delete(n.offset)
  }

  #markAllocated(n: Node): void {
    this.#unlist(n)
    n.state = 'allocated'
    this.#allocated.set(n.offset, n)
    this.#avail -= this.#bsize(n)
  }

  #split(n: Node): void {
    const half = this.#chunk << BigInt(n.order - 1)
    const left: Node = { offset: n.offset, order: n.order - 1, state: 'free', parent: n, left: null, right: null }
    const right: Node = {
      offset: n.offset + half,
      order: n.order - 1,
      state: 'free',
      parent: n,
      left: null,
      right: null,
    }
    this.#markFree(left)
    this.#markFree(right)
    this.#unlist(n)
    n.state = 'split'
    n.left = left
    n.right = right
  }

  /** Frees an allocated block, merging upwards while the buddy is free. */
  #release(n: Node): void {
    this.#allocated.delete(n.offset)
    this.#avail += this.#bsize(n)
    n.state = 'split'
    while (n.parent !== null) {
      const p: Node = n.parent
      const buddy = p.left === n ? p.right! : p.left!
      if (buddy.state !== 'free') break
      this.#unlist(buddy)
      p.left = null
      p.right = null
      n = p
    }
    this.#markFree(n)
  }

  #releaseAll(ns: Node[]): void {
    for (const n of ns) this.#release(n)
  }

  /** Highest-offset block of the smallest order that fits (or the highest of all with TOPDOWN), split down. */
  #allocFromFree(order: number, flags: number): Node | null {
    let pick: Node | null = null
    for (let o = order; o <= this.maxOrder; o++) {
      const off = this.#free[o].maxKey()
      if (off === undefined) continue
      const n = this.#free[o].get(off)!
      if ((flags & BUDDY_TOPDOWN) === 0) {
        pick = n
        break
      }
      if (pick === null || off > pick.offset) pick = n
    }
    if (pick === null) return null
    let n = pick
    while (n.order !== order) {
      this.#split(n)
      n = n.right!
    }
    return n
  }

  /** Depth first from the roots, lowest address first, inside [start, end). */
  #allocRangeBias(start: bigint, end: bigint, order: number): Node | null {
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
        if (n.state !== 'free') {
          ok = false
          break
        }
        this.#markAllocated(n)
        total += this.#bsize(n)
        taken.push(n)
        continue
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
    const list = this.#free[order]
    let below: bigint | undefined
    for (;;) {
      const rhs = below === undefined ? list.maxKey() : list.nextLowerPair(below)?.[0]
      if (rhs === undefined) return null
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

  /** Frees the block and takes back only its first newSize bytes. */
  #trimNode(n: Node, newSize: bigint): Node[] {
    if (newSize === this.#bsize(n)) return [n]
    this.#allocated.delete(n.offset)
    this.#avail += this.#bsize(n)
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
        n = range ? this.#allocRangeBias(start, end, order) : this.#allocFromFree(order, flags)
        if (n !== null) break
        if (order === minOrder) {
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

  free(offsets: bigint[]): void {
    const seen = new Set<bigint>()
    const ns: Node[] = []
    for (const off of offsets) {
      const n = this.#allocatedNode(off)
      if (seen.has(off)) throw new DrmError('EINVAL', `block at ${hex(off)} is listed twice`)
      seen.add(off)
      ns.push(n)
    }
    this.#releaseAll(ns)
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
    const all = this.#free.flatMap((t) => t.valuesArray().map((n) => this.#record(n)))
    return all.sort((a, b) => cmpBig(a.offset, b.offset))
  }

  allocatedList(): BlockRecord[] {
    return this.#allocated.valuesArray().map((n) => this.#record(n))
  }

  stats(): BuddyStatsRecord {
    let largest = 0n
    for (let o = this.maxOrder; o >= 0; o--) {
      if (this.#free[o].size > 0) {
        largest = this.#chunk << BigInt(o)
        break
      }
    }
    return {
      size: this.size,
      avail: this.#avail,
      used: this.size - this.#avail,
      largestFree: largest,
      freeBlocks: this.#free.reduce((sum, t) => sum + t.size, 0),
      allocatedBlocks: this.#allocated.size,
    }
  }
}
