/**
 * The reference engine: the GPU VA space of seed 004 in plain TypeScript, a
 * behavioural port of the Rust core (native/core/src/gpuvm). It is written for
 * obvious correctness, not speed: the two engines are checked against each
 * other and against the golden vmbind traces.
 *
 * All addresses, ranges and offsets are u64 bigints; wherever the Rust code uses
 * wrapping arithmetic this code reduces mod 2^64 with `MASK`, and nowhere else.
 */

import BTree from 'sorted-btree'
import type {
  CursorCore,
  MapRecord,
  OpCounts,
  OpRecord,
  VaRecord,
  VmCore,
  VmCreateOptions,
  WarningRecord,
} from '../../contract/vm.js'
import { BATCH_MAP, BATCH_WORDS } from '../../contract/vm.js'
import { DrmBatchError, DrmError } from '../../base/errors.js'
import { encodeOps } from '../../contract/wire.js'

const MASK = (1n << 64n) - 1n

/** The insertion number of the kernel-reserved node. */
const KERNEL_SEQ = 0
/** `DRM_GPUVA_INVALIDATED`. */
const VA_INVALIDATED = 1 << 0
/** GEM object id meaning "no object" (sparse or null mapping). */
const NO_OBJ = 0

const hex = (n: bigint | number): string => '0x' + n.toString(16)

/** The warning kinds of warning.rs, with the rule each comes from. */
const RULES = {
  overflow: 'seed-004: GPUVA address limited to 8 bytes',
  'kernel-node-remove': 'seed-004: the kernel reserved node cannot be destroyed',
  'tree-not-empty': 'seed-004: GPUVA tree is not empty on destroy, potentially leaking memory',
} as const
type WarnKind = keyof typeof RULES

/**
 * Tree key: start address, then insertion number. Only zero-length mappings
 * can share a start address; `seq` orders them by insertion, as the kernel's
 * interval tree does.
 */
interface Key {
  readonly addr: bigint
  readonly seq: number
}

function compareKeys(a: Key, b: Key): number {
  if (a.addr < b.addr) return -1
  if (a.addr > b.addr) return 1
  return a.seq - b.seq
}

/** A mapping in the tree, with its place in its object's list of linked mappings. */
interface Node {
  readonly key: Key
  readonly range: bigint
  readonly obj: number
  readonly offset: bigint
  flags: number
  linked: boolean
  gemPrev: Node | null
  gemNext: Node | null
}

/** The per-object list of linked mappings, in link order. */
interface GemList {
  head: Node | null
  tail: Node | null
}

/** Exclusive end, wrapping like `Va::end`. Nodes in the tree never wrap, but the formula is kept. */
const nodeEnd = (n: Node): bigint => (n.key.addr + n.range) & MASK
/** Inclusive last address, as the interval tree stores it: a zero-length node at `a` has `a - 1`. */
const nodeLast = (n: Node): bigint => (n.key.addr + n.range - 1n) & MASK
const isKernel = (n: Node): boolean => n.key.seq === KERNEL_SEQ

/** A fresh record, so callers may keep it whatever happens to the node. */
function record(n: Node): VaRecord {
  return { addr: n.key.addr, range: n.range, obj: n.obj, offset: n.offset, seq: n.key.seq, flags: n.flags }
}

type Piece = MapRecord | null
const copyMap = (m: MapRecord): MapRecord => ({ addr: m.addr, range: m.range, obj: m.obj, offset: m.offset })

type CursorKind = 'map' | 'unmap'
type CursorState =
  | { tag: 'start' }
  /** `next` is the key that followed the last visited node when it was handed out. */
  | { tag: 'walk'; next: Key | undefined }
  /** The walk is over; a map request still owes its MAP step. */
  | { tag: 'tail' }
  | { tag: 'done' }

export class ReferenceVm implements VmCore {
  readonly engine = 'reference' as const
  readonly name: string
  readonly start: bigint
  readonly range: bigint

  /** The reserved node as given at init: range checks use it even when it could not be inserted. */
  readonly #kernel: { addr: bigint; range: bigint } | undefined
  #tree = new BTree<Key, Node>(undefined, compareKeys)
  #gem = new Map<number, GemList>()
  #nextSeq = KERNEL_SEQ + 1
  #warnings: WarningRecord[] = []
  #destroyed = false

  /** `drm_gpuva_manager_init`: an overflowing VA space or reserved node is recorded, not refused. */
  constructor(opts: VmCreateOptions) {
    this.name = opts.name === '' ? 'unknown' : opts.name
    this.start = opts.start
    this.range = opts.range
    this.#checkOverflow(opts.start, opts.range)
    const reserve = opts.reserve
    if (reserve !== undefined && reserve.range !== 0n) {
      this.#kernel = { addr: reserve.offset, range: reserve.range }
      if (!this.#checkOverflow(reserve.offset, reserve.range)) {
        this.#place({ addr: reserve.offset, seq: KERNEL_SEQ }, reserve.range, NO_OBJ, 0n)
      }
    }
  }

  get destroyed(): boolean {
    return this.#destroyed
  }

  takeWarnings(): WarningRecord[] {
    const out = this.#warnings
    this.#warnings = []
    return out
  }

  // ---- checks -------------------------------------------------------------

  #warn(kind: WarnKind, message: string): void {
    this.#warnings.push({ kind, message, rule: RULES[kind] })
  }

  #alive(): void {
    if (this.#destroyed) throw new DrmError('EINVAL', `VA space '${this.name}' was destroyed`)
  }

  /** The seed's `drm_gpuva_check_overflow`: true, and a warning, when `addr + range` does not fit in u64. */
  #checkOverflow(addr: bigint, range: bigint): boolean {
    if (addr + range > MASK) {
      this.#warn('overflow', `GPUVA address limited to 8 bytes: ${hex(addr)} + ${hex(range)} overflows`)
      return true
    }
    return false
  }

  #touchesKernel(addr: bigint, end: bigint): boolean {
    const k = this.#kernel
    return k !== undefined && addr < ((k.addr + k.range) & MASK) && k.addr < end
  }

  #rangeValid(addr: bigint, range: bigint): boolean {
    if (this.#checkOverflow(addr, range)) return false
    const end = addr + range
    const inMm = addr >= this.start && end <= ((this.start + this.range) & MASK)
    return inMm && !this.#touchesKernel(addr, end)
  }

  /** EINVAL unless the range is valid; the reason is worked out only on failure, as in Rust. */
  #checkRange(addr: bigint, range: bigint): void {
    if (this.#rangeValid(addr, range)) return
    const why =
      addr + range > MASK
        ? 'overflows u64'
        : this.#touchesKernel(addr, addr + range)
          ? 'touches the kernel-reserved node'
          : 'leaves the VA space'
    throw new DrmError('EINVAL', `range [${hex(addr)}, +${hex(range)}) ${why}`)
  }

  /** The node with this key, or EINVAL. */
  #lookup(addr: bigint, seq: number): Node {
    this.#alive()
    const node = this.#tree.get({ addr, seq })
    if (node === undefined) throw new DrmError('EINVAL', `no mapping ${hex(addr)} (#${seq}) in this VA space`)
    return node
  }

  // ---- tree queries -------------------------------------------------------

  /**
   * The leftmost node overlapping the inclusive interval [first, last], as the
   * kernel's interval tree answers it. Mappings never overlap, so the only
   * nodes starting below `first` that can reach it are those at the greatest
   * start below `first`; among nodes starting at or after `first`, only
   * zero-length ones at exactly `first` fail to overlap.
   */
  #iterFirst(first: bigint, last: bigint): Node | undefined {
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
  #findFirst(addr: bigint, range: bigint): Node | undefined {
    return this.#iterFirst(addr, (addr + range - 1n) & MASK)
  }

  #nextAfter(key: Key): Node | undefined {
    return this.#tree.nextHigherPair(key)?.[1]
  }

  #atOrAfter(key: Key): Node | undefined {
    return this.#tree.getPairOrNextHigher(key)?.[1]
  }

  /** `drm_gpuva_for_each_va_range`: from the first node overlapping [start, end), while a node starts below `end`. */
  #range(start: bigint, end: bigint): Node[] {
    const out: Node[] = []
    for (let n = this.#findFirst(start, (end - start) & MASK); n !== undefined && n.key.addr < end; ) {
      out.push(n)
      n = this.#nextAfter(n.key)
    }
    return out
  }

  get(addr: bigint, seq: number): VaRecord | undefined {
    this.#alive()
    const node = this.#tree.get({ addr, seq })
    return node && record(node)
  }

  kernelNode(): VaRecord | undefined {
    this.#alive()
    return this.#kernel && this.get(this.#kernel.addr, KERNEL_SEQ)
  }

  findFirst(addr: bigint, range: bigint): VaRecord | undefined {
    this.#alive()
    const node = this.#findFirst(addr, range)
    return node && record(node)
  }

  find(addr: bigint, range: bigint): VaRecord | undefined {
    this.#alive()
    const node = this.#findFirst(addr, range)
    return node && node.key.addr === addr && node.range === range ? record(node) : undefined
  }

  /** `drm_gpuva_find_prev`: the first node overlapping [start-1, start], which may start at `start`. */
  findPrev(start: bigint): VaRecord | undefined {
    this.#alive()
    const before = (start - 1n) & MASK
    if (!this.#rangeValid(before, 1n)) return undefined
    const node = this.#iterFirst(before, start)
    return node && record(node)
  }

  /** `drm_gpuva_find_next`: the first node overlapping [end, end+1], which may start at `end + 1`. */
  findNext(end: bigint): VaRecord | undefined {
    this.#alive()
    if (!this.#rangeValid(end, 1n)) return undefined
    const node = this.#iterFirst(end, (end + 1n) & MASK)
    return node && record(node)
  }

  intervalEmpty(addr: bigint, range: bigint): boolean {
    this.#alive()
    return this.#findFirst(addr, range) === undefined
  }

  rangeValid(addr: bigint, range: bigint): boolean {
    this.#alive()
    return this.#rangeValid(addr, range)
  }

  list(): VaRecord[] {
    this.#alive()
    return this.#tree.valuesArray().map(record)
  }

  listRange(start: bigint, end: bigint): VaRecord[] {
    this.#alive()
    return this.#range(start, end).map(record)
  }

  count(): number {
    this.#alive()
    return this.#tree.size
  }

  // ---- insert / remove ----------------------------------------------------

  /** `drm_gpuva_insert`: EINVAL for an invalid range, EEXIST when it overlaps a node (the kernel node included). */
  insert(addr: bigint, range: bigint, obj: number, offset: bigint): VaRecord {
    return record(this.#insert(addr, range, obj, offset))
  }

  #insert(addr: bigint, range: bigint, obj: number, offset: bigint): Node {
    this.#alive()
    this.#checkRange(addr, range)
    return this.#insertChecked(addr, range, obj, offset)
  }

  #insertChecked(addr: bigint, range: bigint, obj: number, offset: bigint): Node {
    const other = this.#findFirst(addr, range)
    if (other !== undefined) {
      throw new DrmError(
        'EEXIST',
        `[${hex(addr)}, +${hex(range)}) overlaps the mapping [${hex(other.key.addr)}, +${hex(other.range)})`,
      )
    }
    return this.#place({ addr, seq: this.#nextSeq++ }, range, obj, offset)
  }

  #place(key: Key, range: bigint, obj: number, offset: bigint): Node {
    const node: Node = { key, range, obj, offset, flags: 0, linked: false, gemPrev: null, gemNext: null }
    this.#tree.set(key, node)
    return node
  }

  /** `drm_gpuva_remove`, plus unlink. The kernel node is refused with a warning and stays. */
  remove(addr: bigint, seq: number): VaRecord {
    return record(this.#remove(this.#lookup(addr, seq)))
  }

  #remove(node: Node): Node {
    if (isKernel(node)) {
      this.#warn('kernel-node-remove', "Can't destroy kernel reserved node.")
      return node
    }
    this.#unlink(node)
    this.#tree.delete(node.key)
    return node
  }

  // ---- GEM lists ----------------------------------------------------------

  /** `drm_gpuva_link`: appends to the object's list; no object, or already linked, is left as it is. */
  link(addr: bigint, seq: number): void {
    this.#link(this.#lookup(addr, seq))
  }

  #link(node: Node): void {
    if (node.obj === NO_OBJ || node.linked) return
    let list = this.#gem.get(node.obj)
    if (list === undefined) {
      list = { head: null, tail: null }
      this.#gem.set(node.obj, list)
    }
    node.gemPrev = list.tail
    node.gemNext = null
    if (list.tail !== null) list.tail.gemNext = node
    else list.head = node
    list.tail = node
    node.linked = true
  }

  unlink(addr: bigint, seq: number): void {
    this.#unlink(this.#lookup(addr, seq))
  }

  #unlink(node: Node): void {
    if (!node.linked) return
    const list = this.#gem.get(node.obj)!
    if (node.gemPrev !== null) node.gemPrev.gemNext = node.gemNext
    else list.head = node.gemNext
    if (node.gemNext !== null) node.gemNext.gemPrev = node.gemPrev
    else list.tail = node.gemPrev
    if (list.head === null) this.#gem.delete(node.obj)
    node.linked = false
    node.gemPrev = null
    node.gemNext = null
  }

  isLinked(addr: bigint, seq: number): boolean {
    this.#alive()
    return this.#tree.get({ addr, seq })?.linked ?? false
  }

  gemVas(obj: number): VaRecord[] {
    this.#alive()
    const out: VaRecord[] = []
    for (let n = this.#gem.get(obj)?.head ?? null; n !== null; n = n.gemNext) out.push(record(n))
    return out
  }

  /** `drm_gpuva_invalidate`. */
  setInvalidated(addr: bigint, seq: number, invalidated: boolean): void {
    const node = this.#lookup(addr, seq)
    node.flags = invalidated ? node.flags | VA_INVALIDATED : node.flags & ~VA_INVALIDATED
  }

  // ---- split/merge --------------------------------------------------------

  smMap(addr: bigint, range: bigint, obj: number, offset: bigint): CursorCore {
    return this.#cursor('map', { addr, range, obj, offset })
  }

  smUnmap(addr: bigint, range: bigint): CursorCore {
    return this.#cursor('unmap', { addr, range, obj: NO_OBJ, offset: 0n })
  }

  #cursor(kind: CursorKind, req: MapRecord): CursorCore {
    this.#alive()
    this.#checkRange(req.addr, req.range)
    const end = (req.addr + req.range) & MASK
    let state: CursorState = { tag: 'start' }

    const finish = (): OpRecord | undefined => {
      state = { tag: 'done' }
      return kind === 'map' ? { kind: 'map', map: copyMap(req) } : undefined
    }

    // Each step is computed against the tree as it is now. Like the kernel's
    // safe iterator, the walk remembers the key that followed the node it hands
    // out; if the caller removed that node too, it resumes at the next key still there.
    const step = (): OpRecord | undefined => {
      this.#alive()
      let node: Node | undefined
      switch (state.tag) {
        case 'start':
          node = this.#findFirst(req.addr, req.range)
          break
        case 'walk':
          node = state.next && this.#atOrAfter(state.next)
          break
        case 'tail':
          return finish()
        case 'done':
          return undefined
      }
      if (node === undefined || node.key.addr >= end) return finish()
      const next = this.#nextAfter(node.key)?.key
      const [op, last] = kind === 'map' ? splitForMap(node, req, end) : [splitForUnmap(node, req.addr, end), false]
      state = last ? { tag: 'tail' } : { tag: 'walk', next }
      return op
    }
    return { step }
  }

  #collect(cursor: CursorCore): OpRecord[] {
    const ops: OpRecord[] = []
    for (let op = cursor.step(); op !== undefined; op = cursor.step()) ops.push(op)
    return ops
  }

  // Op lists are handed out packed, as the engine contract wants them; they
  // are made as records and packed by the codec both engines share.

  /** `sm_map_ops_create`: the whole step list, the VA space unchanged. */
  smMapOps(addr: bigint, range: bigint, obj: number, offset: bigint): BigUint64Array {
    return encodeOps(this.#collect(this.smMap(addr, range, obj, offset)))
  }

  smUnmapOps(addr: bigint, range: bigint): BigUint64Array {
    return encodeOps(this.#collect(this.smUnmap(addr, range)))
  }

  /** `prefetch_ops_create`: as in the kernel the range is not validated and the kernel node is not skipped. */
  prefetchOps(addr: bigint, range: bigint): BigUint64Array {
    this.#alive()
    return encodeOps(this.#range(addr, (addr + range) & MASK).map((n): OpRecord => ({ kind: 'prefetch', va: record(n) })))
  }

  /** `gem_unmap_ops_create`: one UNMAP per mapping linked to `obj`, in link order. */
  gemUnmapOps(obj: number): BigUint64Array {
    return encodeOps(this.gemVas(obj).map((va): OpRecord => ({ kind: 'unmap', va, keep: false })))
  }

  // ---- applying steps -----------------------------------------------------

  /**
   * Applies one step. Unlike the kernel's helpers, which ignore insert errors,
   * a step is checked before anything is touched, so a bad one fails with the
   * VA space unchanged.
   */
  apply(op: OpRecord): void {
    switch (op.kind) {
      case 'map':
        this.#link(this.#insert(op.map.addr, op.map.range, op.map.obj, op.map.offset))
        return
      case 'remap':
        return this.#applyRemap(op.va, op.prev, op.next)
      case 'unmap':
        this.#remove(this.#sameAsTree(op.va))
        return
      case 'prefetch':
        this.#sameAsTree(op.va)
        return
    }
  }

  #applyRemap(old: VaRecord, prev: Piece, next: Piece): void {
    const node = this.#sameAsTree(old)
    if (isKernel(node)) {
      this.#remove(node)
      return
    }
    const oldEnd = (old.addr + old.range) & MASK
    for (const p of [prev, next]) {
      if (p === null) continue
      // Unbounded bigint sums: an overflowing piece cannot end inside `old`.
      const inside = p.range !== 0n && p.addr >= old.addr && p.addr + p.range <= oldEnd
      if (!inside || p.addr + p.range > MASK) {
        throw new DrmError(
          'EINVAL',
          `remap piece [${hex(p.addr)}, +${hex(p.range)}) is not a non-empty part of [${hex(old.addr)}, +${hex(old.range)})`,
        )
      }
    }
    if (prev !== null && next !== null && prev.addr + prev.range > next.addr) {
      throw new DrmError('EINVAL', 'remap pieces overlap or are out of order')
    }
    this.#remove(node)
    for (const p of [prev, next]) {
      if (p !== null) this.#link(this.#insertChecked(p.addr, p.range, p.obj, p.offset))
    }
  }

  /** A step names a mapping by its key; refuse one whose other fields differ from the tree's (forged or stale). */
  #sameAsTree(va: VaRecord): Node {
    this.#alive()
    const node = this.#tree.get({ addr: va.addr, seq: va.seq })
    if (node === undefined || node.range !== va.range || node.obj !== va.obj || node.offset !== va.offset) {
      throw new DrmError(
        'EINVAL',
        `the step names a mapping [${hex(va.addr)}, +${hex(va.range)}) that is not in the VA space`,
      )
    }
    return node
  }

  /** Runs a cursor to the end, applying each step before computing the next, as a driver's callbacks do. */
  #run(cursor: CursorCore): OpCounts {
    const counts: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
    for (let op = cursor.step(); op !== undefined; op = cursor.step()) {
      this.apply(op)
      if (op.kind !== 'prefetch') counts[op.kind]++
    }
    return counts
  }

  bind(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts {
    return this.#run(this.smMap(addr, range, obj, offset))
  }

  unbind(addr: bigint, range: bigint): OpCounts {
    return this.#run(this.smUnmap(addr, range))
  }

  /** One request after the other, stopping at the first that fails (its DrmError says which). */
  bindBatch(words: BigUint64Array, perRequest: Uint32Array | null): OpCounts {
    const total: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
    for (let i = 0; i < words.length / BATCH_WORDS; i++) {
      const [head, addr, range, offset] = words.subarray(i * BATCH_WORDS, (i + 1) * BATCH_WORDS)
      const kind = Number(head & 0xffff_ffffn)
      const obj = Number(head >> 32n)
      let counts: OpCounts
      try {
        counts = kind === BATCH_MAP ? this.bind(addr, range, obj, offset) : this.unbind(addr, range)
      } catch (e) {
        if (e instanceof DrmError) throw new DrmBatchError(e, i, { ...total })
        throw e
      }
      total.map += counts.map
      total.remap += counts.remap
      total.unmap += counts.unmap
      perRequest?.set([counts.map, counts.remap, counts.unmap], 3 * i)
    }
    return total
  }

  // ---- teardown -----------------------------------------------------------

  /** `drm_gpuva_manager_destroy`: drops the kernel node and warns when mappings remain. */
  destroy(): void {
    this.#alive()
    if (this.#kernel !== undefined) this.#tree.delete({ addr: this.#kernel.addr, seq: KERNEL_SEQ })
    const n = this.#tree.size
    if (n !== 0) {
      this.#warn('tree-not-empty', `GPUVA tree is not empty, potentially leaking memory (${n} mappings remain)`)
    }
    this.#destroyed = true
    this.#tree.clear()
    this.#gem.clear()
  }
}

/**
 * The step for one node met by a map request, and whether the walk ends with
 * it. `keep` holds when the old node is the same object at an offset
 * consistent with the request, so it continues the new mapping physically.
 */
function splitForMap(node: Node, req: MapRecord, reqEnd: bigint): [OpRecord, boolean] {
  const { addr } = node.key
  const { range, obj, offset } = node
  const end = nodeEnd(node)
  const sameObj = obj !== NO_OBJ && obj === req.obj
  const piece = (addr: bigint, range: bigint, offset: bigint): MapRecord => ({ addr, range, obj, offset })
  const remap = (prev: Piece, next: Piece, keep: boolean): OpRecord => ({
    kind: 'remap',
    prev,
    next,
    va: record(node),
    keep,
  })
  const unmap = (keep: boolean): OpRecord => ({ kind: 'unmap', va: record(node), keep })

  if (addr === req.addr) {
    const keep = sameObj && offset === req.offset
    if (end > reqEnd) {
      const next = piece(reqEnd, (range - req.range) & MASK, (offset + req.range) & MASK)
      return [remap(null, next, keep), true]
    }
    return [unmap(keep), end === reqEnd]
  }
  if (addr < req.addr) {
    const head = req.addr - addr
    const keep = sameObj && ((offset + head) & MASK) === req.offset
    const prev = piece(addr, head, offset)
    const next = end > reqEnd ? piece(reqEnd, end - reqEnd, (offset + head + req.range) & MASK) : null
    return [remap(prev, next, keep), end >= reqEnd]
  }
  const keep = sameObj && offset === ((req.offset + (addr - req.addr)) & MASK)
  if (end > reqEnd) {
    const next = piece(reqEnd, end - reqEnd, (offset + (reqEnd - addr)) & MASK)
    return [remap(null, next, keep), true]
  }
  return [unmap(keep), end === reqEnd]
}

/** The step for one node met by an unmap request; `keep` is always false. */
function splitForUnmap(node: Node, reqAddr: bigint, reqEnd: bigint): OpRecord {
  const { addr } = node.key
  const end = nodeEnd(node)
  const prev: Piece = addr < reqAddr ? { addr, range: reqAddr - addr, obj: node.obj, offset: node.offset } : null
  const next: Piece =
    end > reqEnd
      ? { addr: reqEnd, range: end - reqEnd, obj: node.obj, offset: (node.offset + ((reqEnd - addr) & MASK)) & MASK }
      : null
  if (prev !== null || next !== null) return { kind: 'remap', prev, next, va: record(node), keep: false }
  return { kind: 'unmap', va: record(node), keep: false }
}
