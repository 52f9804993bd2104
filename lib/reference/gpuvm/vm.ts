/**
 * Mirrors native/core/src/gpuvm/mod.rs (the VA space: checks, queries, insert/remove, link/unlink, teardown).
 *
 * The reference engine: the GPU VA space of seed 004 in plain TypeScript, a
 * behavioural port of the Rust core (native/core/src/gpuvm). It is written for
 * obvious correctness, not speed: the two engines are checked against each
 * other and against the golden vmbind traces. Its parts mirror the Rust
 * modules: tree.ts the store, lists.ts the per-object mapping lists, sm.ts
 * the split/merge walk, apply.ts the steps.
 *
 * All addresses, ranges and offsets are u64 bigints; wherever the Rust code uses
 * wrapping arithmetic this code reduces mod 2^64 with `MASK`, and nowhere else.
 */
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
import { hex } from '../../base/check.js'
import { encodeOps } from '../../contract/wire.js'
import { applyStep, runCursor, type Applied } from './apply.js'
import { ObjLists } from './lists.js'
import { collectOps, smCursor, type CursorKind } from './sm.js'
import { isKernel, KERNEL_SEQ, MASK, NO_OBJ, record, VaTree, type Key, type Node } from './tree.js'

/** `DRM_GPUVA_INVALIDATED`. */
const VA_INVALIDATED = 1 << 0

/** The warning kinds of warning.rs, with the rule each comes from. */
const RULES = {
  overflow: 'seed-004: GPUVA address limited to 8 bytes',
  'kernel-node-remove': 'seed-004: the kernel reserved node cannot be destroyed',
  'tree-not-empty': 'seed-004: GPUVA tree is not empty on destroy, potentially leaking memory',
} as const
type WarnKind = keyof typeof RULES

export class ReferenceVm implements VmCore {
  readonly engine = 'reference' as const
  readonly name: string
  readonly start: bigint
  readonly range: bigint

  /** The reserved node as given at init: range checks use it even when it could not be inserted. */
  readonly #kernel: { addr: bigint; range: bigint } | undefined
  readonly #tree = new VaTree()
  readonly #lists = new ObjLists()
  #nextSeq = KERNEL_SEQ + 1
  #warnings: WarningRecord[] = []
  #destroyed = false
  /** What the walk (sm.ts) and the steps (apply.ts) use of this VA space. */
  readonly #space: Applied = {
    tree: this.#tree,
    alive: () => this.#alive(),
    insert: (addr, range, obj, offset) => this.#insert(addr, range, obj, offset),
    insertChecked: (addr, range, obj, offset) => this.#insertChecked(addr, range, obj, offset),
    remove: (node) => void this.#remove(node),
    link: (node) => this.#lists.link(node),
  }

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
        this.#tree.place({ addr: reserve.offset, seq: KERNEL_SEQ }, reserve.range, NO_OBJ, 0n)
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
    const node = this.#tree.findFirst(addr, range)
    return node && record(node)
  }

  find(addr: bigint, range: bigint): VaRecord | undefined {
    this.#alive()
    const node = this.#tree.findFirst(addr, range)
    return node && node.key.addr === addr && node.range === range ? record(node) : undefined
  }

  /** `drm_gpuva_find_prev`: the first node overlapping [start-1, start], which may start at `start`. */
  findPrev(start: bigint): VaRecord | undefined {
    this.#alive()
    const before = (start - 1n) & MASK
    if (!this.#rangeValid(before, 1n)) return undefined
    const node = this.#tree.iterFirst(before, start)
    return node && record(node)
  }

  /** `drm_gpuva_find_next`: the first node overlapping [end, end+1], which may start at `end + 1`. */
  findNext(end: bigint): VaRecord | undefined {
    this.#alive()
    if (!this.#rangeValid(end, 1n)) return undefined
    const node = this.#tree.iterFirst(end, (end + 1n) & MASK)
    return node && record(node)
  }

  intervalEmpty(addr: bigint, range: bigint): boolean {
    this.#alive()
    return this.#tree.findFirst(addr, range) === undefined
  }

  rangeValid(addr: bigint, range: bigint): boolean {
    this.#alive()
    return this.#rangeValid(addr, range)
  }

  list(): VaRecord[] {
    this.#alive()
    return this.#tree.nodes().map(record)
  }

  objectIds(): number[] {
    this.#alive()
    return [...new Set(this.#tree.nodes().map((va) => va.obj))].filter((id) => id !== 0)
  }

  listRange(start: bigint, end: bigint): VaRecord[] {
    this.#alive()
    return this.#tree.range(start, end).map(record)
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
    const other = this.#tree.findFirst(addr, range)
    if (other !== undefined) {
      throw new DrmError(
        'EEXIST',
        `[${hex(addr)}, +${hex(range)}) overlaps the mapping [${hex(other.key.addr)}, +${hex(other.range)})`,
      )
    }
    const key: Key = { addr, seq: this.#nextSeq++ }
    return this.#tree.place(key, range, obj, offset)
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
    this.#lists.unlink(node)
    this.#tree.delete(node.key)
    return node
  }

  // ---- GEM lists ----------------------------------------------------------

  /** `drm_gpuva_link`: appends to the object's list; no object, or already linked, is left as it is. */
  link(addr: bigint, seq: number): void {
    this.#lists.link(this.#lookup(addr, seq))
  }

  unlink(addr: bigint, seq: number): void {
    this.#lists.unlink(this.#lookup(addr, seq))
  }

  isLinked(addr: bigint, seq: number): boolean {
    this.#alive()
    return this.#tree.get({ addr, seq })?.linked ?? false
  }

  gemVas(obj: number): VaRecord[] {
    this.#alive()
    return this.#lists.vas(obj)
  }

  /** `drm_gpuva_invalidate`. */
  setInvalidated(addr: bigint, seq: number, invalidated: boolean): void {
    const node = this.#lookup(addr, seq)
    node.flags = invalidated ? node.flags | VA_INVALIDATED : node.flags & ~VA_INVALIDATED
  }

  // ---- split/merge (sm.ts) ------------------------------------------------

  smMap(addr: bigint, range: bigint, obj: number, offset: bigint): CursorCore {
    return this.#cursor('map', { addr, range, obj, offset })
  }

  smUnmap(addr: bigint, range: bigint): CursorCore {
    return this.#cursor('unmap', { addr, range, obj: NO_OBJ, offset: 0n })
  }

  #cursor(kind: CursorKind, req: MapRecord): CursorCore {
    this.#alive()
    this.#checkRange(req.addr, req.range)
    return smCursor(this.#space, kind, req)
  }

  // Op lists are handed out packed, as the engine contract wants them; they
  // are made as records and packed by the codec both engines share.

  /** `sm_map_ops_create`: the whole step list, the VA space unchanged. */
  smMapOps(addr: bigint, range: bigint, obj: number, offset: bigint): BigUint64Array {
    return encodeOps(collectOps(this.smMap(addr, range, obj, offset)))
  }

  smUnmapOps(addr: bigint, range: bigint): BigUint64Array {
    return encodeOps(collectOps(this.smUnmap(addr, range)))
  }

  /** `prefetch_ops_create`: as in the kernel the range is not validated and the kernel node is not skipped. */
  prefetchOps(addr: bigint, range: bigint): BigUint64Array {
    this.#alive()
    return encodeOps(
      this.#tree.range(addr, (addr + range) & MASK).map((n): OpRecord => ({ kind: 'prefetch', va: record(n) })),
    )
  }

  /** `gem_unmap_ops_create`: one UNMAP per mapping linked to `obj`, in link order. */
  gemUnmapOps(obj: number): BigUint64Array {
    return encodeOps(this.gemVas(obj).map((va): OpRecord => ({ kind: 'unmap', va, keep: false })))
  }

  // ---- applying steps (apply.ts) ------------------------------------------

  /** Applies one step; a step that does not fit fails with the VA space unchanged. */
  apply(op: OpRecord): void {
    applyStep(this.#space, op)
  }

  bind(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts {
    return runCursor(this.#space, this.smMap(addr, range, obj, offset))
  }

  unbind(addr: bigint, range: bigint): OpCounts {
    return runCursor(this.#space, this.smUnmap(addr, range))
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
    this.#lists.clear()
  }
}
