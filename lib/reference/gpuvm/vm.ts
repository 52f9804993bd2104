/**
 * The reference engine's VA space (seed 004 and today's drm_gpuvm) in plain
 * TypeScript: a behavioural port of native/core/src/gpuvm/mod.rs written for
 * obvious correctness, not speed; the engines are checked against each other
 * and the golden traces. Its parts mirror the Rust modules: tree.ts (store),
 * lists.ts (object lists), range.ts (range rules), sm.ts (split/merge),
 * apply.ts (steps), undo.ts (atomic arrays), hub.ts (vm_bo, refcount, lists;
 * lib/contract/hub.md), madvise.ts. u64 values are bigints, reduced mod 2^64
 * with `MASK` exactly where the Rust code wraps.
 */
import type { VmBoRecord, VmHubRecord } from '../../contract/hub.js'
import { ERA_GPUVM, ERA_SEED, ERAS } from '../../contract/hub.js'
import type { CursorCore, MapRecord, OpCounts, OpRecord, VaRecord } from '../../contract/vm.js'
import type { VmCore, VmCreateOptions, WarningRecord } from '../../contract/vm.js'
import { DrmError } from '../../base/errors.js'
import { hex, isObject } from '../../base/check.js'
import { encodeOps } from '../../contract/wire.js'
import { applyBatch, applyStep, runCursor, type Applied } from './apply.js'
import { VmHub } from './hub.js'
import { checkVaFlags, hubOptions, RULES, VA_INVALIDATED, type WarnKind } from './options.js'
import { VmRange } from './range.js'
import { ObjLists } from './lists.js'
import { madviseOps } from './madvise.js'
import { bindArray, reinsertNode, type ArraySpace } from './undo.js'
import { collectOps, smCursor, type CursorKind } from './sm.js'
import { isKernel, KERNEL_SEQ, MASK, NO_OBJ, record, VaTree, type Key, type Node } from './tree.js'
import type { PageTableCost, PageTableOccupancy, PageTableProfile, PageTableRecord } from '../../contract/pagetable.js'
import { attachModel, modelInfo, type PageTableModel } from '../pagetable/index.js'

export class ReferenceVm implements VmCore {
  readonly engine = 'reference' as const
  readonly name: string
  readonly start: bigint
  readonly range: bigint

  /** The range rules: span, kernel-reserved node (as given at init, placed or not), era. */
  readonly #ranges: VmRange
  /** Whether the kernel node is in the tree (it counts for no reference on the VM). */
  readonly #kernelPlaced: boolean = false
  readonly #tree = new VaTree()
  readonly #lists = new ObjLists()
  readonly #era: number
  readonly #flags: number
  readonly #resv: number
  /** The hub of eras 1 and later; undefined in the seed's era. */
  readonly #hub: VmHub | undefined
  #nextSeq = KERNEL_SEQ + 1
  #warnings: WarningRecord[] = []
  #destroyed = false
  /** The page-table cost model, when attached (../pagetable/); fed at insert, remove and detach. */
  #pt: PageTableModel | undefined
  /** What the walk (sm.ts) and the steps (apply.ts) use of this VA space. */
  readonly #space: Applied = {
    tree: this.#tree,
    alive: () => this.#alive(),
    insert: (addr, range, obj, offset) => this.#insert(addr, range, obj, offset),
    insertChecked: (addr, range, obj, offset) => this.#insertChecked(addr, range, obj, offset),
    remove: (node) => void this.#remove(node),
    link: (node) => this.#link(node),
    unlinkStep: (node) => this.#unlink(node, this.#hub?.immediate ?? false),
    detach: (node, pieces) => {
      this.#pt?.detached(ptMapping(node), pieces)
      this.#tree.delete(node.key)
    },
  }

  /**
   * `drm_gpuva_manager_init` / `drm_gpuvm_init`: an overflowing VA space or
   * reserved node is recorded, not refused; a bad era, flags or resv is EINVAL.
   */
  constructor(opts: VmCreateOptions) {
    const { era, flags, resv } = hubOptions(opts)
    this.#era = era
    this.#flags = flags
    this.#resv = resv
    this.#hub =
      era >= ERA_GPUVM ? new VmHub(flags, this.#lists, (kind, message) => this.#warn(kind, message)) : undefined
    this.name = opts.name === '' ? 'unknown' : opts.name
    this.start = opts.start
    this.range = opts.range
    this.#ranges = new VmRange(opts.start, opts.range, era, (message) => this.#warn('overflow', message))
    this.#ranges.overflows(opts.start, opts.range)
    const reserve = opts.reserve
    if (reserve !== undefined && reserve.range !== 0n) {
      this.#ranges.kernel = { addr: reserve.offset, range: reserve.range }
      if (!this.#ranges.overflows(reserve.offset, reserve.range)) {
        this.#tree.place({ addr: reserve.offset, seq: KERNEL_SEQ }, reserve.range, NO_OBJ, 0n)
        this.#kernelPlaced = true
      }
    }
  }

  get destroyed(): boolean {
    return this.#destroyed
  }

  /** A brand check (a Proxy fails it): the device engine attaches only real reference VA spaces. */
  static isReferenceVm(v: unknown): v is ReferenceVm {
    return isObject(v) && #tree in v
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
    const k = this.#ranges.kernel
    return k && this.get(k.addr, KERNEL_SEQ)
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
    if (!this.#ranges.valid(before, 1n)) return undefined
    const node = this.#tree.iterFirst(before, start)
    return node && record(node)
  }

  /** `drm_gpuva_find_next`: the first node overlapping [end, end+1], which may start at `end + 1`. */
  findNext(end: bigint): VaRecord | undefined {
    this.#alive()
    if (!this.#ranges.valid(end, 1n)) return undefined
    const node = this.#tree.iterFirst(end, (end + 1n) & MASK)
    return node && record(node)
  }

  intervalEmpty(addr: bigint, range: bigint): boolean {
    this.#alive()
    return this.#tree.findFirst(addr, range) === undefined
  }

  rangeValid(addr: bigint, range: bigint): boolean {
    this.#alive()
    return this.#ranges.valid(addr, range)
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
    this.#ranges.check(addr, range)
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
    const node = this.#tree.place(key, range, obj, offset)
    this.#pt?.mapped(ptMapping(node))
    return node
  }

  /** `drm_gpuva_remove`, plus unlink (not deferred). The kernel node is refused with a warning and stays. */
  remove(addr: bigint, seq: number): VaRecord {
    const out = record(this.#remove(this.#lookup(addr, seq)))
    this.#settle()
    return out
  }

  #remove(node: Node): Node {
    if (isKernel(node)) {
      this.#warn('kernel-node-remove', "Can't destroy kernel reserved node.")
      return node
    }
    this.#unlink(node, false)
    this.#pt?.unmapped(ptMapping(node))
    this.#tree.delete(node.key)
    return node
  }

  // ---- GEM lists ----------------------------------------------------------

  /**
   * `drm_gpuva_link`: appends to the object's list; no object, or already
   * linked, is left as it is. From era 1 on the link holds a reference on the
   * object's live vm_bo, made first if there is none.
   */
  link(addr: bigint, seq: number): void {
    this.#link(this.#lookup(addr, seq))
  }

  #link(node: Node): void {
    if (this.#hub !== undefined) this.#hub.link(node)
    else this.#lists.link(node)
  }

  /** `drm_gpuva_unlink`; from era 1 on it drops the link's reference on the vm_bo (freed at 0). */
  unlink(addr: bigint, seq: number): void {
    this.#unlink(this.#lookup(addr, seq), false)
    this.#settle()
  }

  #unlink(node: Node, deferred: boolean): void {
    if (this.#hub !== undefined) this.#hub.unlink(node, deferred)
    else this.#lists.unlink(node)
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
    this.#ranges.check(req.addr, req.range)
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
    this.#settle()
  }

  bind(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts {
    this.#pt?.beginRequest()
    const counts = runCursor(this.#space, this.smMap(addr, range, obj, offset))
    this.#settle()
    return counts
  }

  unbind(addr: bigint, range: bigint): OpCounts {
    this.#pt?.beginRequest()
    const counts = runCursor(this.#space, this.smUnmap(addr, range))
    this.#settle()
    return counts
  }

  /** One request after the other, stopping at the first that fails (its DrmError says which). */
  bindBatch(words: BigUint64Array, perRequest: Uint32Array | null): OpCounts {
    return applyBatch(words, perRequest, this)
  }

  // ---- the page-table cost model (../pagetable/) -------------------------

  attachPageTable(profile: PageTableProfile): void {
    this.#alive()
    this.#pt = attachModel(profile, this.start, this.range, this.list())
  }

  pageTableBeginRequest(): void {
    this.#pt?.beginRequest()
  }

  pageTableInfo(): PageTableRecord | undefined {
    return this.#pt === undefined ? undefined : modelInfo(this.#pt)
  }

  pageTableCost(which: 'last' | 'total'): PageTableCost | undefined {
    return which === 'last' ? this.#pt?.lastRequest() : this.#pt?.total()
  }

  pageTableOccupancy(): PageTableOccupancy | undefined {
    return this.#pt?.occupancy()
  }

  // ---- atomic arrays and reinsert (undo.ts) -------------------------------

  readonly #arraySpace: ArraySpace = {
    check: (addr, range) => {
      this.#alive()
      this.#ranges.check(addr, range)
    },
    bind: (addr, range, obj, offset) => this.bind(addr, range, obj, offset),
    unbind: (addr, range) => this.unbind(addr, range),
    cannotFail: (ranges) =>
      this.#tree.emptyNodes === 0 &&
      ranges.every((range) => range !== 0n) &&
      (this.#hub === undefined || (this.#hub.idsLeft >= ranges.length && this.#hub.creatorRefs > 0)),
    save: () => {
      const [tree, lists, hub, pt] = [this.#tree.saved(), this.#lists.saved(), this.#hub?.saved(), this.#pt?.saved()]
      const [nextSeq, destroyed] = [this.#nextSeq, this.#destroyed]
      return () => {
        tree()
        lists()
        hub?.()
        pt?.()
        this.#nextSeq = nextSeq
        this.#destroyed = destroyed
      }
    },
  }

  bindArray(words: BigUint64Array, perRequest: Uint32Array | null, failAt: number): OpCounts {
    return bindArray(this.#arraySpace, words, perRequest, failAt)
  }

  reinsert(va: VaRecord): VaRecord {
    this.#alive()
    this.#ranges.check(va.addr, va.range)
    return reinsertNode(this.#tree, va, this.#nextSeq)
  }

  // ---- teardown -----------------------------------------------------------

  /** `drm_gpuva_manager_destroy` / `drm_gpuvm_destroy`: see `#teardown`. */
  destroy(): void {
    this.#alive()
    this.#teardown()
  }

  /**
   * Drops the kernel node and warns for each list left non-empty: the tree,
   * then (era 1 and later) the extobj, evict and defer lists, zombies counted.
   */
  #teardown(): void {
    const k = this.#ranges.kernel
    if (k !== undefined) this.#tree.delete({ addr: k.addr, seq: KERNEL_SEQ })
    const n = this.#tree.size
    if (n !== 0) {
      this.#warn('tree-not-empty', `GPUVA tree is not empty, potentially leaking memory (${n} mappings remain)`)
    }
    this.#hub?.warnLeftovers()
    this.#destroyed = true
    this.#tree.clear()
    this.#lists.clear()
    this.#hub?.clear()
  }

  /** The VM's refcount: the creator's references, one per mapping (not the kernel node), one per vm_bo not freed. */
  #refcount(): number {
    const mappings = this.#tree.size - (this.#kernelPlaced ? 1 : 0)
    return (this.#hub?.creatorRefs ?? 1) + mappings + (this.#hub?.count ?? 0)
  }

  /** After a call that may drop the VM's last reference (a mapping removed, a vm_bo freed): teardown at 0. */
  #settle(): void {
    const hub = this.#hub
    if (hub !== undefined && !this.#destroyed && hub.creatorRefs === 0 && this.#refcount() === 0) this.#teardown()
  }

  // ---- the hub (hub.ts) ---------------------------------------------------

  /** The hub, or EINVAL in the seed's era (and once destroyed). */
  #hubOn(): VmHub {
    this.#alive()
    if (this.#hub === undefined) {
      throw new DrmError('EINVAL', `VA space '${this.name}' is of era ${ERA_SEED} (${ERAS[ERA_SEED]}): it has no hub`)
    }
    return this.#hub
  }

  hubInfo(): VmHubRecord {
    this.#alive()
    return { era: this.#era, flags: this.#flags, resv: this.#resv, refcount: this.#refcount() }
  }

  vmGet(): number {
    this.#hubOn().getCreator()
    return this.#refcount()
  }

  vmPut(): number {
    this.#hubOn().putCreator(this.name)
    const refcount = this.#refcount()
    if (refcount === 0) this.#teardown()
    return refcount
  }

  declareExternal(obj: number): void {
    this.#hubOn().declareExternal(obj)
  }

  vmBoObtain(obj: number, how: number): VmBoRecord {
    return this.#hubOn().obtain(obj, how)
  }

  vmBoFind(obj: number): VmBoRecord | undefined {
    return this.#hubOn().find(obj)
  }

  vmBoGet(id: number): VmBoRecord {
    return this.#hubOn().get(id)
  }

  vmBoPut(id: number, deferred: boolean): boolean {
    const released = this.#hubOn().put(id, deferred)
    this.#settle()
    return released
  }

  vmBoInfo(id: number): VmBoRecord | undefined {
    return this.#hubOn().info(id)
  }

  vmBoVas(id: number): VaRecord[] {
    return this.#hubOn().vas(id)
  }

  vmBos(): VmBoRecord[] {
    return this.#hubOn().all()
  }

  trackFreedVmBos(on: boolean): void {
    this.#hubOn().trackFreed(on)
  }

  /** Still answers once torn down: the driver's vm_bo_free comes before its vm_free. */
  takeFreedVmBos(): VmBoRecord[] {
    if (this.#destroyed && this.#hub?.tracksFreed) return this.#hub.takeFreed()
    return this.#hubOn().takeFreed()
  }

  linkVmBo(addr: bigint, seq: number, vmBo: number): void {
    const hub = this.#hubOn()
    hub.linkTo(this.#lookup(addr, seq), vmBo)
  }

  unlinkDefer(addr: bigint, seq: number): void {
    this.#hubOn().unlinkDefer(this.#lookup(addr, seq))
  }

  extobjAdd(id: number): void {
    this.#hubOn().extobjAdd(id)
  }

  boEvict(id: number, evict: boolean): void {
    this.#hubOn().boEvict(id, evict)
  }

  gemEvict(obj: number, evict: boolean): void {
    this.#hubOn().gemEvict(obj, evict)
  }

  extobjList(): number[] {
    return this.#hubOn().extobjList()
  }

  evictList(): number[] {
    return this.#hubOn().evictList()
  }

  deferList(): number[] {
    return this.#hubOn().deferList()
  }

  deferredCleanup(): number {
    const n = this.#hubOn().deferredCleanup()
    this.#settle()
    return n
  }

  prepareObjects(): number[] {
    return this.#hubOn().prepareObjects()
  }

  validated(id: number): void {
    this.#hubOn().validated(id)
  }

  /**
   * A placement move of `obj` (the device engine calls it): the mappings on
   * the object's list are invalidated; from era 1 on an eviction also marks
   * its live vm_bo (`gemEvict(obj, true)`). The one hub call of the seed's era.
   */
  objectMoved(obj: number, evicted: boolean): void {
    this.#alive()
    for (const node of this.#lists.nodes(obj)) node.flags |= VA_INVALIDATED
    if (evicted) this.#hub?.gemEvict(obj, true)
  }

  madviseOps(addr: bigint, range: bigint, obj: number, offset: bigint): BigUint64Array {
    this.#hubOn()
    this.#ranges.check(addr, range)
    return encodeOps(madviseOps(this.#tree, { addr, range, obj, offset }))
  }

  /** Replaces a mapping's flags word; the kernel node is EINVAL, as is a word past 16 bits (`VA_FLAGS_MAX`). */
  setVaFlags(addr: bigint, seq: number, flags: number): void {
    const node = this.#lookup(addr, seq)
    if (isKernel(node)) throw new DrmError('EINVAL', 'the kernel-reserved node has no flags to set')
    node.flags = checkVaFlags(flags)
  }
}

/** A node as the page-table model sees it. */
function ptMapping(node: Node): { addr: bigint; range: bigint; obj: number; offset: bigint } {
  return { addr: node.key.addr, range: node.range, obj: node.obj, offset: node.offset }
}
