/**
 * Mirrors native/core/src/gpuvm/store/ (the ordered store of mappings) and the interval queries of mod.rs.
 *
 * The mappings of a VA space, ordered by key (start address, then insertion
 * number), in a B+tree from `sorted-btree`, and the queries the kernel asks
 * of its interval tree.
 */
import BTree from 'sorted-btree'
import type { VaRecord } from '../../contract/vm.js'

export const MASK = (1n << 64n) - 1n

/** The insertion number of the kernel-reserved node. */
export const KERNEL_SEQ = 0
/** GEM object id meaning "no object" (sparse or null mapping). */
export const NO_OBJ = 0

/**
 * Tree key: start address, then insertion number. Only zero-length mappings
 * can share a start address; `seq` orders them by insertion, as the kernel's
 * interval tree does.
 */
export interface Key {
  readonly addr: bigint
  readonly seq: number
}

function compareKeys(a: Key, b: Key): number {
  if (a.addr < b.addr) return -1
  if (a.addr > b.addr) return 1
  return a.seq - b.seq
}

/** A mapping in the tree, with its place in its object's list of linked mappings (lists.ts). */
export interface Node {
  readonly key: Key
  readonly range: bigint
  readonly obj: number
  readonly offset: bigint
  flags: number
  linked: boolean
  gemPrev: Node | null
  gemNext: Node | null
}

/** Exclusive end, wrapping like `Va::end`. Nodes in the tree never wrap, but the formula is kept. */
export const nodeEnd = (n: Node): bigint => (n.key.addr + n.range) & MASK
/** Inclusive last address, as the interval tree stores it: a zero-length node at `a` has `a - 1`. */
const nodeLast = (n: Node): bigint => (n.key.addr + n.range - 1n) & MASK
export const isKernel = (n: Node): boolean => n.key.seq === KERNEL_SEQ

/** A fresh record, so callers may keep it whatever happens to the node. */
export function record(n: Node): VaRecord {
  return { addr: n.key.addr, range: n.range, obj: n.obj, offset: n.offset, seq: n.key.seq, flags: n.flags }
}

export class VaTree {
  readonly #tree = new BTree<Key, Node>(undefined, compareKeys)
  /** Zero-length nodes (an atomic array saves the VA space when there are any: undo.ts). */
  #empty = 0

  get size(): number {
    return this.#tree.size
  }

  get emptyNodes(): number {
    return this.#empty
  }

  get(key: Key): Node | undefined {
    return this.#tree.get(key)
  }

  /** Puts a new, unlinked node at `key`; the caller has checked that it fits. */
  place(key: Key, range: bigint, obj: number, offset: bigint): Node {
    const node: Node = { key, range, obj, offset, flags: 0, linked: false, gemPrev: null, gemNext: null }
    this.#tree.set(key, node)
    if (range === 0n) this.#empty++
    return node
  }

  delete(key: Key): void {
    if (this.#tree.get(key)?.range === 0n) this.#empty--
    this.#tree.delete(key)
  }

  clear(): void {
    this.#tree.clear()
    this.#empty = 0
  }

  /** A copy of the tree's nodes and their changing fields; the closure puts them back (an atomic array's undo). */
  saved(): () => void {
    const nodes = this.nodes().map((node) => ({
      node,
      flags: node.flags,
      linked: node.linked,
      prev: node.gemPrev,
      next: node.gemNext,
    }))
    const empty = this.#empty
    return () => {
      this.#tree.clear()
      this.#empty = empty
      for (const { node, flags, linked, prev, next } of nodes) {
        Object.assign(node, { flags, linked, gemPrev: prev, gemNext: next })
        this.#tree.set(node.key, node)
      }
    }
  }

  /** Every node, in key order. */
  nodes(): Node[] {
    return this.#tree.valuesArray()
  }

  /**
   * The leftmost node overlapping the inclusive interval [first, last], as the
   * kernel's interval tree answers it. Mappings never overlap, so the only
   * nodes starting below `first` that can reach it are those at the greatest
   * start below `first`; among nodes starting at or after `first`, only
   * zero-length ones at exactly `first` fail to overlap.
   */
  iterFirst(first: bigint, last: bigint): Node | undefined {
    const overlaps = (n: Node): boolean => n.key.addr <= last && nodeLast(n) >= first
    const below = this.#tree.nextLowerPair({ addr: first, seq: 0 })
    if (below !== undefined) {
      for (const [key, node] of this.#tree.entries({ addr: below[0].addr, seq: 0 })) {
        if (key.addr >= first) break
        if (overlaps(node)) return node
      }
    }
    for (const [key, node] of this.#tree.entries({ addr: first, seq: 0 })) {
      if (key.addr > last) return undefined
      if (overlaps(node)) return node
    }
    return undefined
  }

  /** A zero range asks for [addr, addr-1]: the nodes strictly around `addr` (everything at 0). */
  findFirst(addr: bigint, range: bigint): Node | undefined {
    return this.iterFirst(addr, (addr + range - 1n) & MASK)
  }

  nextAfter(key: Key): Node | undefined {
    return this.#tree.nextHigherPair(key)?.[1]
  }

  atOrAfter(key: Key): Node | undefined {
    return this.#tree.getPairOrNextHigher(key)?.[1]
  }

  /** `drm_gpuva_for_each_va_range`: from the first node overlapping [start, end), while a node starts below `end`. */
  range(start: bigint, end: bigint): Node[] {
    const out: Node[] = []
    for (let n = this.findFirst(start, (end - start) & MASK); n !== undefined && n.key.addr < end; ) {
      out.push(n)
      n = this.nextAfter(n.key)
    }
    return out
  }
}
