/**
 * A GPU VA space (`drm_gpuva_manager`, today's `drm_gpuvm`): the public API
 * over either engine. It validates every argument (u64 bigints, handles that
 * belong here), turns engine records into `Va` and `GemObject` handles, and
 * keeps the warnings the kernel would WARN about.
 */
import type { BindBatch } from './batch.js'
import { type BindQueue, type BindQueueOptions, createBindQueue } from './bind-queue.js'
import { type BindArrayOptions, undoSteps } from './array.js'
import type { EngineName, VmCore } from '../contract/vm.js'
import { engineOf } from '../engines.js'
import { DrmError, type Warning } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { OpList, Op, OpCounts } from './ops.js'
import type { PackedOps } from './packed-ops.js'
import { count, describe, u64 } from '../base/check.js'
import { ObjectTable } from './objects.js'
import { Va } from './va.js'
import { ERA_SEED, type EraName } from '../contract/hub.js'
import type { Device } from '../device/device.js'
import type { Resv } from '../device/resv.js'
import { VmHub } from './hub.js'
import { setGpuVmAccess } from './internal.js'
import type { VmBo } from './vm-bo.js'
import { PageTable } from './page-table.js'
import { type GpuVmOptions, type MapRequest, readGpuVmOptions, type StepCallbacks } from './gpuvm-options.js'
import { VmCalls } from './vm-calls.js'
import { u64Fast } from './fast-check.js'

export type { GpuVmOptions, MapRequest, StepCallbacks } from './gpuvm-options.js'

export type { OpCounts }

export class GpuVm implements Disposable, Iterable<Va> {
  readonly engine: EngineName
  /** The kernel era it follows. */
  readonly era: EraName
  /** The device of a drm_gpuvm, else null. */
  readonly device: Device | null
  readonly name: string
  readonly start: bigint
  readonly range: bigint
  readonly strict: boolean
  readonly #core: VmCore
  /** The page-table cost model, when asked for. */
  readonly #pageTable: PageTable | undefined
  /** The GEM objects its mappings, walks and op lists name (see objects.ts). */
  readonly #objects: ObjectTable
  /** Warnings, the walk slot, step callbacks, record conversions (vm-calls.ts). */
  readonly #c: VmCalls
  /** The drm_gpuvm hub (era drm_gpuvm-7.2 and later), else null. */
  readonly #hub: VmHub | null = null

  static {
    setGpuVmAccess({
      hub: (vm) => vm.#hub,
      core: (vm) => vm.#core,
      is: (vm): vm is GpuVm => typeof vm === 'object' && vm !== null && #hub in vm,
    })
  }

  constructor(options: GpuVmOptions) {
    const o = readGpuVmOptions(options)
    const { name, reserve, device, era, resvObj } = o
    this.start = o.start
    this.range = o.range
    this.strict = o.strict
    this.device = device
    this.era = o.eraName
    this.engine = o.engine
    const resv = resvObj ? resvObj.resv.id : 0
    this.#core = engineOf(this.engine).vm({
      name,
      start: this.start,
      range: this.range,
      reserve,
      era,
      flags: o.flags,
      resv,
    })
    if (o.pageTable !== undefined) {
      this.#core.attachPageTable(o.pageTable)
      this.#pageTable = new PageTable(this.#core, o.pageTable)
    }
    this.#objects = new ObjectTable(this.#core, device ? (obj) => this.#hub?.admit(obj) : null)
    this.#c = new VmCalls(this, this.#core, this.#objects, era !== ERA_SEED)
    if (era !== ERA_SEED) {
      this.#hub = new VmHub({
        vm: this,
        core: this.#core,
        objects: this.#objects,
        device,
        resvObj,
        ops: o.ops,
        flags: o.flags,
        sync: () => this.#c.sync(),
        va: (rec) => this.#c.va(rec),
        own: (va) => this.#c.own(va),
      })
    }
    this.#c.hub = this.#hub
    this.name = this.#core.name
    this.#c.sync()
    device?.attachVm(this)
  }

  /** The page-table cost model (the `pageTable` option), or undefined. */
  get pageTable(): PageTable | undefined {
    return this.#pageTable
  }

  /** Warnings recorded so far (kernel WARNs), oldest first. */
  get warnings(): readonly Warning[] {
    return this.#c.warnings()
  }

  /** Returns and forgets the recorded warnings. */
  takeWarnings(): Warning[] {
    return this.#c.takeWarnings()
  }

  get destroyed(): boolean {
    return this.#core.destroyed
  }

  /** Mappings in the VA space, the kernel-reserved node not counted. */
  get mappingCount(): number {
    return this.#c.quiet(() => this.#core.count() - (this.#core.kernelNode() ? 1 : 0))
  }

  get kernelNode(): Va | undefined {
    return this.#c.quiet(() => this.#c.maybeVa(this.#core.kernelNode()))
  }

  /** `drm_gpuva_insert`: EINVAL for a range outside the space or on the kernel node, EEXIST on overlap. */
  insert(request: MapRequest): Va {
    return this.#c.insert(request)
  }

  /** `drm_gpuva_remove` (and unlink). The kernel node is refused with a warning. */
  remove(va: Va): void {
    const key = this.#c.own(va)
    // A remove that succeeds warns only when it is asked for the kernel node
    // (seq 0). `quiet` written out: no closure per call.
    try {
      try {
        this.#core.remove(key.addr, key.seq)
      } catch (err) {
        this.#c.sync()
        throw err
      }
    } finally {
      this.#hub?.settle()
    }
    if (key.seq === 0) this.#c.sync()
  }

  /** `drm_gpuva_find`: the mapping at exactly this address and range. */
  find(addr: bigint, range: bigint): Va | undefined {
    const a = u64Fast(addr, 'addr')
    const r = u64Fast(range, 'range')
    try {
      return this.#c.maybeVa(this.#core.find(a, r))
    } catch (err) {
      this.#c.sync()
      throw err
    }
  }

  /** `drm_gpuva_find_first`: the first node overlapping [addr, addr+range), kernel node included. */
  findFirst(addr: bigint, range: bigint): Va | undefined {
    // As `find`: the one-comparison u64 check, `quiet` written out.
    const a = u64Fast(addr, 'addr')
    const r = u64Fast(range, 'range')
    try {
      return this.#c.maybeVa(this.#core.findFirst(a, r))
    } catch (err) {
      this.#c.sync()
      throw err
    }
  }

  /** `drm_gpuva_find_prev`: the node overlapping [start-1, start] (not always adjacent, as in the kernel). */
  findPrev(start: bigint): Va | undefined {
    const s = u64(start, 'start')
    return this.#c.run(() => this.#c.maybeVa(this.#core.findPrev(s)))
  }

  /** `drm_gpuva_find_next`: the node overlapping [end, end+1] (not always adjacent, as in the kernel). */
  findNext(end: bigint): Va | undefined {
    const e = u64(end, 'end')
    return this.#c.run(() => this.#c.maybeVa(this.#core.findNext(e)))
  }

  /** `drm_gpuva_interval_empty`; the kernel node counts as occupied. */
  intervalEmpty(addr: bigint, range: bigint): boolean {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#c.quiet(() => this.#core.intervalEmpty(a, r))
  }

  /** `drm_gpuva_range_valid`: inside the space, no overflow, clear of the kernel node. */
  rangeValid(addr: bigint, range: bigint): boolean {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#c.run(() => this.#core.rangeValid(a, r))
  }

  /** Every node in address order, the kernel node included (`drm_gpuvm_for_each_va`). */
  *vas(): IterableIterator<Va> {
    for (const rec of this.#c.quiet(() => this.#core.list())) yield this.#c.va(rec)
  }

  [Symbol.iterator](): Iterator<Va> {
    return this.vas()
  }

  /** `drm_gpuvm_for_each_va_range`: nodes from the first overlapping [start, end) while they start below end. */
  *vasInRange(start: bigint, end: bigint): IterableIterator<Va> {
    const [s, e] = [u64(start, 'start'), u64(end, 'end')]
    for (const rec of this.#c.quiet(() => this.#core.listRange(s, e))) yield this.#c.va(rec)
  }

  /** `drm_gpuva_link`: adds the mapping to its object's list (no-op without an object). */
  link(va: Va): void {
    const key = this.#c.own(va)
    this.#c.quiet(() => this.#core.link(key.addr, key.seq))
  }

  /** `drm_gpuva_unlink`. */
  unlink(va: Va): void {
    const key = this.#c.own(va)
    try {
      this.#c.quiet(() => this.#core.unlink(key.addr, key.seq))
    } finally {
      this.#hub?.settle()
    }
  }

  isLinked(va: Va): boolean {
    const key = this.#c.own(va)
    return this.#c.quiet(() => this.#core.isLinked(key.addr, key.seq))
  }

  /** The mappings of this space linked to `obj`, in link order. */
  gemVas(obj: GemObject): Va[] {
    this.#objects.room()
    const id = this.#objects.idOf(obj, 'obj')
    return this.#c.quiet(() => this.#core.gemVas(id).map((rec) => this.#c.va(rec)))
  }

  /** `drm_gpuva_invalidate`. */
  invalidate(va: Va, invalidated = true): void {
    const key = this.#c.own(va)
    this.#c.quiet(() => this.#core.setInvalidated(key.addr, key.seq, invalidated === true))
  }

  isInvalidated(va: Va): boolean {
    const key = this.#c.own(va)
    const rec = this.#c.quiet(() => this.#core.get(key.addr, key.seq))
    if (!rec) throw new DrmError('EINVAL', `${va} is no longer in VA space '${this.name}'`)
    return (rec.flags & 1) !== 0
  }

  /** Whether `va` is (still) a node of this VA space. */
  contains(va: Va): boolean {
    return Va.isVa(va) && va.vm === this && this.#c.quiet(() => this.#core.get(va.addr, va.seq)) !== undefined
  }

  /**
   * `drm_gpuvm_sm_map` with step callbacks. EINVAL when a callback is missing
   * or the range is invalid; a throwing callback stops the walk.
   */
  smMap(request: MapRequest, steps: StepCallbacks): void {
    const callbacks = this.#c.callbacks(steps, ['map', 'remap', 'unmap'], 'smMap')
    this.#c.steps(this.mapSteps(request), callbacks)
  }

  /** `drm_gpuvm_sm_unmap` with step callbacks (remap and unmap needed). */
  smUnmap(addr: bigint, range: bigint, steps: StepCallbacks): void {
    const callbacks = this.#c.callbacks(steps, ['remap', 'unmap'], 'smUnmap')
    this.#c.steps(this.unmapSteps(addr, range), callbacks)
  }

  /**
   * The steps of a map request, one at a time, each computed against the VA
   * space as it is when asked for: apply a step before taking the next, as
   * step callbacks would.
   */
  mapSteps(request: MapRequest): IterableIterator<Op> {
    this.#objects.room()
    const m = this.#c.request(request)
    // The request's object may be in no mapping yet: the walk keeps it for its MAP step.
    const obj = this.#objects.object(m.obj)
    return this.#c.steal(() => this.#core.smMap(m.addr, m.range, m.obj, m.offset), obj)
  }

  /** The steps of an unmap request, one at a time (see `mapSteps`). */
  unmapSteps(addr: bigint, range: bigint): IterableIterator<Op> {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#c.steal(() => this.#core.smUnmap(a, r), null)
  }

  /** `drm_gpuvm_sm_map_ops_create`: the whole step list, the VA space unchanged. */
  smMapOps(request: MapRequest): OpList {
    return this.smMapOpsPacked(request).toOpList()
  }

  /** `drm_gpuvm_sm_unmap_ops_create`. */
  smUnmapOps(addr: bigint, range: bigint): OpList {
    return this.smUnmapOpsPacked(addr, range).toOpList()
  }

  /** `drm_gpuvm_prefetch_ops_create`: a PREFETCH per node in the range (unvalidated, kernel node included). */
  prefetchOps(addr: bigint, range: bigint): OpList {
    return this.prefetchOpsPacked(addr, range).toOpList()
  }

  /** `drm_gpuvm_bo_unmap_ops_create`: an UNMAP per mapping linked to `obj`, in link order. */
  gemUnmapOps(obj: GemObject): OpList {
    return this.gemUnmapOpsPacked(obj).toOpList()
  }

  /** `smMapOps` in packed form: the same steps in one typed array, no object per op. */
  smMapOpsPacked(request: MapRequest): PackedOps {
    this.#objects.room()
    const m = this.#c.request(request)
    return this.#c.packed(() => this.#core.smMapOps(m.addr, m.range, m.obj, m.offset))
  }

  /** `smUnmapOps` in packed form. */
  smUnmapOpsPacked(addr: bigint, range: bigint): PackedOps {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#c.packed(() => this.#core.smUnmapOps(a, r))
  }

  /** `prefetchOps` in packed form. */
  prefetchOpsPacked(addr: bigint, range: bigint): PackedOps {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#c.packed(() => this.#core.prefetchOps(a, r))
  }

  /** `gemUnmapOps` in packed form. */
  gemUnmapOpsPacked(obj: GemObject): PackedOps {
    this.#objects.room()
    const id = this.#objects.idOf(obj, 'obj')
    return this.#c.packed(() => this.#core.gemUnmapOps(id))
  }

  /**
   * Applies one step: MAP inserts and links the new mapping (`drm_gpuva_map`
   * + link), REMAP replaces the mapping by its pieces, UNMAP unlinks and
   * removes it. A step that does not fit the VA space is refused (EINVAL /
   * EEXIST) with nothing changed.
   */
  apply(op: Op): void {
    this.#c.apply(op)
  }

  /** Applies steps in order; stops at the first that fails (earlier ones stay applied). */
  applyAll(ops: Iterable<Op>): void {
    if (typeof (ops as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== 'function') {
      throw new DrmError('EINVAL', `applyAll needs an iterable of ops, got ${describe(ops)}`)
    }
    for (const op of ops) this.apply(op)
  }

  /**
   * Plans a map request and applies it step by step. If a step fails, the
   * steps before it stay applied, as with the kernel's step callbacks.
   */
  bind(request: MapRequest): OpCounts {
    return this.#c.bind(request)
  }

  /** Plans an unmap request and applies it step by step (see `bind`). */
  unbind(addr: bigint, range: bigint): OpCounts {
    return this.#c.unbind(addr, range)
  }

  /**
   * Applies a batch of bind/unbind requests in order, in one engine call;
   * returns the total step counts. With `perRequest` (a Uint32Array of at
   * least `3 * batch.length`), request `i`'s `[map, remap, unmap]` counts go
   * to `perRequest[3 * i ..]`.
   *
   * A batch that is not a BindBatch, or a `perRequest` that is not such an
   * array, is refused (EINVAL) before anything is applied. When a request
   * fails, the batch stops there with a `DrmBatchError`: its `index` is the
   * failing request's, the requests before it stay applied (their steps are
   * in `applied`), the failing one may have applied some of its steps (as
   * `bind` may), and the rest are not applied.
   */
  bindBatch(batch: BindBatch, perRequest?: Uint32Array | null): OpCounts {
    return this.#c.bindBatch(batch, perRequest)
  }

  /**
   * A bind queue of this VA space (bind-queue.ts): asynchronous binds with
   * in- and out-fences on the device's clock. EINVAL without a device.
   */
  createBindQueue(options?: BindQueueOptions): BindQueue {
    return createBindQueue(this, options)
  }

  /**
   * An atomic bind array (Xe's VM_BIND with an array; array.md): the same
   * requests as `bindBatch`, all applied or none. Every request is checked
   * first (a bad one anywhere: DrmBatchError naming it, `unwound` false,
   * nothing applied); then they are applied in order, and if one fails, or
   * `failAt` is reached (an injected failure, ENOSPC), the VA space is put
   * back exactly as it was (mappings with their seq and flags, so handles
   * stay live, link order, vm_bos, lists, refcount) and a DrmBatchError with
   * `unwound` true names the request. On success the VA space is what
   * `bindBatch` leaves.
   */
  bindArray(batch: BindBatch, options?: BindArrayOptions): OpCounts {
    return this.#c.bindArray(batch, options)
  }

  /**
   * Undoes steps a caller applied (Op values from `mapSteps`, `unmapSteps`,
   * `smMapOps`..., in the order applied, possibly a prefix): the inverse of
   * each, last first. MAP: its mapping is removed; UNMAP: the mapping is put
   * back with its seq and flags and linked; REMAP: the pieces are removed
   * and the original put back. Returns how many steps were undone. Stops
   * with EINVAL at a step that cannot be undone (the later ones stay undone).
   * What it restores, and what only `bindArray` can: array.md.
   */
  undo(ops: Iterable<Op>): number {
    this.#objects.room()
    return undoSteps(this, ops)
  }

  // --- drm_gpuvm: the hub (era drm_gpuvm-7.2 and later; EINVAL in the seed's era) ----------

  /** The hub, or EINVAL in the seed's era. */
  #h(): VmHub {
    if (this.#hub === null) {
      throw new DrmError(
        'EINVAL',
        `VA space '${this.name}' is a drm_gpuva_mgr (seed era): it has no vm_bo, lists or reservation`,
      )
    }
    return this.#hub
  }

  /** The VM-wide reservation (`drm_gpuvm_resv`), null without a device. */
  get resv(): Resv | null {
    return this.#hub?.resv ?? null
  }

  /** The object carrying it (`r_obj`): create private objects with `resv: vm.resvObject`. */
  get resvObject(): GemObject | null {
    return this.#hub?.resvObj ?? null
  }

  get resvProtected(): boolean {
    return this.#hub?.resvProtected ?? false
  }

  get immediateMode(): boolean {
    return this.#hub?.immediateMode ?? false
  }

  /** The kref: the creator's references, one per mapping and one per vm_bo (1 in the seed's era). */
  get refcount(): number {
    if (this.destroyed) return 0
    return this.#hub?.info().refcount ?? 1
  }

  /** `drm_gpuvm_get`. */
  get(): this {
    this.#h().get()
    return this
  }

  /** `drm_gpuvm_put`: returns the references left; at 0 the VA space is torn down and `ops.vmFree` runs. */
  put(): number {
    return this.#h().put()
  }

  /** `drm_gpuvm_is_extobj`: `obj`'s reservation is not the VM's. */
  isExtobj(obj: GemObject): boolean {
    return this.#h().isExtobj(obj)
  }

  /** `drm_gpuvm_bo_obtain_locked`: the vm_bo of `obj` (+1), made if needed. Needs `obj`'s reservation held. */
  obtain(obj: GemObject): VmBo {
    return this.#h().obtain(obj, 'locked')
  }

  /** `drm_gpuvm_bo_obtain_prealloc`: as `obtain`, for immediate mode. */
  obtainPrealloc(obj: GemObject): VmBo {
    return this.#h().obtain(obj, 'prealloc')
  }

  /** `drm_gpuvm_bo_find`: the vm_bo of `obj` (+1), if there is one. */
  findVmBo(obj: GemObject): VmBo | undefined {
    return this.#h().find(obj)
  }

  /** Every vm_bo not yet freed, zombies included, oldest first. */
  vmBos(): VmBo[] {
    return this.#h().vmBos()
  }

  /** The extobj list (zombies skipped). */
  extobjList(): VmBo[] {
    return this.#h().extobjList()
  }

  /** The evict list (zombies skipped). */
  evictList(): VmBo[] {
    return this.#h().evictList()
  }

  /** The defer list, newest first (the order `deferredCleanup` frees it in). */
  deferList(): VmBo[] {
    return this.#h().deferList()
  }

  /** `drm_gpuvm_bo_deferred_cleanup`: frees the zombie vm_bos; returns how many. */
  deferredCleanup(): number {
    return this.#h().deferredCleanup()
  }

  /** `drm_gpuvm_bo_gem_evict` for this VA space: marks `obj`'s vm_bo (needs `obj`'s reservation). */
  gemEvict(obj: GemObject, evict = true): void {
    this.#h().gemEvict(obj, evict === true)
  }

  /** `drm_gpuva_link(va, vm_bo)`. */
  linkTo(va: Va, vmBo: VmBo): void {
    this.#h().linkTo(va, vmBo)
  }

  /** `drm_gpuva_unlink_defer` (immediate mode). */
  unlinkDefer(va: Va): void {
    this.#h().unlinkDefer(va)
  }

  /**
   * `drm_gpuvm_madvise_ops_create`: splits object-less mappings at the
   * request's edges, never unmaps; at most two REMAPs and two MAPs.
   */
  madviseOps(request: MapRequest): OpList {
    return this.madviseOpsPacked(request).toOpList()
  }

  madviseOpsPacked(request: MapRequest): PackedOps {
    this.#h()
    this.#objects.room()
    const m = this.#c.request(request)
    return this.#c.packed(() => this.#core.madviseOps(m.addr, m.range, m.obj, m.offset))
  }

  /** Replaces a mapping's flags word (`VA_FLAGS`: bit 0 invalidated, bit 1 sparse, driver bits from bit 2). */
  setFlags(va: Va, flags: number): void {
    const key = this.#c.own(va)
    const f = count(flags, 'flags', 0xffff_ffff)
    this.#c.run(() => this.#core.setVaFlags(key.addr, key.seq, f))
  }

  /** A mapping's flags word. */
  flagsOf(va: Va): number {
    const key = this.#c.own(va)
    const rec = this.#c.quiet(() => this.#core.get(key.addr, key.seq))
    if (!rec) throw new DrmError('EINVAL', `${va} is no longer in VA space '${this.name}'`)
    return rec.flags
  }

  /**
   * `drm_gpuva_manager_destroy`: removes the kernel node and warns when
   * mappings remain. Any later use throws EINVAL.
   */
  destroy(): void {
    this.#c.enter()
    this.#hub?.forceTeardown()
    try {
      this.#c.run(() => this.#core.destroy())
    } finally {
      this.#hub?.settle()
    }
  }

  [Symbol.dispose](): void {
    if (!this.destroyed) this.destroy()
  }

  toString(): string {
    return `GpuVm '${this.name}' [0x${this.start.toString(16)}, +0x${this.range.toString(16)}) (${this.engine})`
  }
}
