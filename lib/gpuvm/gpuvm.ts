/**
 * A GPU VA space (`drm_gpuva_manager`, today's `drm_gpuvm`): the public API
 * over either engine. It validates every argument (u64 bigints, handles that
 * belong here), turns engine records into `Va` and `GemObject` handles, and
 * keeps the warnings the kernel would WARN about.
 */
import { type BindBatch, batchContents, perRequestCounts } from './batch.js'
import { type BindQueue, type BindQueueOptions, createBindQueue } from './bind-queue.js'
import { arrayOptions, type BindArrayOptions, undoSteps } from './array.js'
import type { CursorCore, EngineName, MapRecord, OpRecord, VaRecord, VmCore } from '../contract/vm.js'
import { engineOf, resolveEngine } from '../engines.js'
import { DrmError, DrmWarning, type Warning } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { AnyOp, OpList, MapOp, Op, OpCounts, RemapOp, UnmapOp } from './ops.js'
import { opFromRecord, PackedOps } from './packed-ops.js'
import { count, describe, readArgument, u64, unreadable } from '../base/check.js'
import { type ObjectLookup, ObjectTable } from './objects.js'
import { mintVa, Va } from './va.js'
import { ERA_GPUVM, ERA_SEED, ERAS, type EraName } from '../contract/hub.js'
import type { Device } from '../device/device.js'
import { isDevice } from '../device/brand.js'
import { GemObject as GemObjectClass } from '../device/gem.js'
import type { Resv } from '../device/resv.js'
import { driverOps, type GpuVmDriverOps, VmHub, vmFlags } from './hub.js'
import { setGpuVmAccess } from './internal.js'
import type { VmBo } from './vm-bo.js'
import { PageTable, type PageTableProfile, type PageTableProfileName, readPageTableProfile } from './page-table.js'

export interface GpuVmOptions {
  /** Shown in messages; "unknown" when empty, as in the kernel. */
  name?: string
  /** First address of the VA space (default 0). */
  start?: bigint
  /** Size of the VA space. */
  range: bigint
  /** The kernel-reserved node, if any. */
  reserve?: { offset: bigint; range: bigint } | null
  /** 'native' (default, or DRMSIM_ENGINE) or 'reference'. */
  engine?: EngineName
  /** Throw a DrmWarning where the kernel would WARN, instead of recording it. */
  strict?: boolean
  /**
   * Makes a drm_gpuvm on this device: a VM-wide reservation, vm_bos, the
   * extobj/evict lists, and placement moves marking its vm_bos evicted. The
   * engine is the device's.
   */
  device?: Device
  /**
   * The kernel era (see the README's era table): 'drm_gpuva_mgr-6.6' (the
   * seed; the default without a device), 'drm_gpuvm-7.2' (the default with
   * one) or 'drm_gpuvm-next'.
   */
  era?: EraName
  /** `DRM_GPUVM_RESV_PROTECTED`: the extobj and evict lists are protected by the VM's reservation. */
  resvProtected?: boolean
  /** `DRM_GPUVM_IMMEDIATE_MODE`: binds run in the fence-signalling path; unlinks and puts may be deferred. */
  immediateMode?: boolean
  /**
   * The object whose reservation is the VM's (`r_obj`), which private objects
   * share. By default a new empty object of the device
   * (`drm_gpuvm_resv_object_alloc`).
   */
  resvObject?: GemObject
  /** The driver's callbacks (`struct drm_gpuvm_ops`). */
  ops?: GpuVmDriverOps
  /**
   * A page-table cost model (a model drmsim adds, issue 15): a built-in
   * profile's name ('xe', 'panthor', 'nouveau') or a profile; see `pageTable`.
   */
  pageTable?: PageTableProfileName | PageTableProfile
}

/** A mapping to create: `obj` null or absent makes a sparse/null mapping. */
export interface MapRequest {
  addr: bigint
  range: bigint
  obj?: GemObject | null
  offset?: bigint
}

/**
 * Step callbacks for `smMap` / `smUnmap` (`struct drm_gpuva_fn_ops`). Each
 * may apply its step at once (`vm.apply(op)`), as drivers do; throwing stops
 * the walk, and the steps already applied stay applied.
 */
export interface StepCallbacks {
  map?(op: MapOp, vm: GpuVm): void
  remap?(op: RemapOp, vm: GpuVm): void
  unmap?(op: UnmapOp, vm: GpuVm): void
}

export type { OpCounts }

const notRequest = (request: unknown): DrmError =>
  new DrmError('EINVAL', `a map request must be an object, got ${describe(request)}`)

/** Shared by the VA spaces that have no warning yet. */
const NO_WARNINGS: readonly Warning[] = Object.freeze([])

/** An iterator walk handed out by `mapSteps` / `unmapSteps`. */
interface Walk {
  readonly cursor: CursorCore
  /** A later split/merge call ended it: its next step is EBUSY. */
  superseded: boolean
}

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
  #warnings: readonly Warning[] = NO_WARNINGS
  /** The iterator walk handed out last and not yet ended: a later split/merge call ends it. */
  #walk: Walk | null = null
  /** Set while a step callback of `smMap`/`smUnmap` runs: re-entering the engine then is EBUSY. */
  #inStep = false
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
    if (typeof options !== 'object' || options === null) {
      throw new DrmError('EINVAL', `GpuVm options must be an object, got ${describe(options)}`)
    }
    const o = readArgument('GpuVm options', () => {
      const name = options.name ?? ''
      if (typeof name !== 'string') throw new DrmError('EINVAL', `name must be a string, got ${describe(name)}`)
      const reserve = options.reserve
      return {
        name,
        start: u64(options.start ?? 0n, 'start'),
        range: u64(options.range, 'range'),
        reserve: reserve
          ? { offset: u64(reserve.offset, 'reserve.offset'), range: u64(reserve.range, 'reserve.range') }
          : undefined,
        strict: options.strict === true,
        engine: options.engine,
        device: hubDevice(options.device),
        era: options.era,
        flags: vmFlags(options.resvProtected, options.immediateMode),
        resvObject: options.resvObject,
        ops: driverOps(options.ops),
        pageTable: options.pageTable === undefined ? undefined : readPageTableProfile(options.pageTable),
      }
    })
    const { name, reserve, device } = o
    this.start = o.start
    this.range = o.range
    this.strict = o.strict
    this.device = device
    this.era = o.era === undefined ? ERAS[device ? ERA_GPUVM : ERA_SEED] : oneOfEras(o.era)
    const era = ERAS.indexOf(this.era)
    if (device && era === ERA_SEED) throw new DrmError('EINVAL', 'a drm_gpuva_mgr (seed era) VA space has no device')
    if (o.flags !== 0 && era === ERA_SEED) throw new DrmError('EINVAL', 'VM flags need era drm_gpuvm-7.2 or later')
    if (device && o.engine !== undefined && resolveEngine(o.engine) !== device.engine) {
      throw new DrmError('EINVAL', `engine ${o.engine} differs from the device's (${device.engine})`)
    }
    this.engine = device ? device.engine : resolveEngine(o.engine)
    const resvObj = device ? resvObject(device, o.resvObject) : null
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
    if (era !== ERA_SEED) {
      this.#hub = new VmHub({
        vm: this,
        core: this.#core,
        objects: this.#objects,
        device,
        resvObj,
        ops: o.ops,
        flags: o.flags,
        sync: () => this.#sync(),
        va: (rec) => this.#va(rec),
        own: (va) => this.#own(va),
      })
    }
    this.name = this.#core.name
    this.#sync()
    device?.attachVm(this)
  }

  /** The page-table cost model (the `pageTable` option), or undefined. */
  get pageTable(): PageTable | undefined {
    return this.#pageTable
  }

  /** Warnings recorded so far (kernel WARNs), oldest first. */
  get warnings(): readonly Warning[] {
    this.#pull()
    return this.#warnings
  }

  /** Returns and forgets the recorded warnings. */
  takeWarnings(): Warning[] {
    this.#pull()
    const taken = this.#warnings
    this.#warnings = NO_WARNINGS
    return taken === NO_WARNINGS ? [] : (taken as Warning[])
  }

  get destroyed(): boolean {
    return this.#core.destroyed
  }

  /** Mappings in the VA space, the kernel-reserved node not counted. */
  get mappingCount(): number {
    return this.#quiet(() => this.#core.count() - (this.#core.kernelNode() ? 1 : 0))
  }

  get kernelNode(): Va | undefined {
    return this.#quiet(() => this.#maybeVa(this.#core.kernelNode()))
  }

  /** `drm_gpuva_insert`: EINVAL for a range outside the space or on the kernel node, EEXIST on overlap. */
  insert(request: MapRequest): Va {
    this.#objects.room()
    const m = this.#request(request)
    // An insert warns only about an overflowing range, which it refuses.
    return this.#va(this.#quiet(() => this.#core.insert(m.addr, m.range, m.obj, m.offset)))
  }

  /** `drm_gpuva_remove` (and unlink). The kernel node is refused with a warning. */
  remove(va: Va): void {
    const key = this.#own(va)
    // A remove that succeeds warns only when it is asked for the kernel node (seq 0).
    try {
      this.#quiet(() => this.#core.remove(key.addr, key.seq))
    } finally {
      this.#hub?.settle()
    }
    if (key.seq === 0) this.#sync()
  }

  /** `drm_gpuva_find`: the mapping at exactly this address and range. */
  find(addr: bigint, range: bigint): Va | undefined {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#quiet(() => this.#maybeVa(this.#core.find(a, r)))
  }

  /** `drm_gpuva_find_first`: the first node overlapping [addr, addr+range), kernel node included. */
  findFirst(addr: bigint, range: bigint): Va | undefined {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#quiet(() => this.#maybeVa(this.#core.findFirst(a, r)))
  }

  /** `drm_gpuva_find_prev`: the node overlapping [start-1, start] (not always adjacent, as in the kernel). */
  findPrev(start: bigint): Va | undefined {
    const s = u64(start, 'start')
    return this.#run(() => this.#maybeVa(this.#core.findPrev(s)))
  }

  /** `drm_gpuva_find_next`: the node overlapping [end, end+1] (not always adjacent, as in the kernel). */
  findNext(end: bigint): Va | undefined {
    const e = u64(end, 'end')
    return this.#run(() => this.#maybeVa(this.#core.findNext(e)))
  }

  /** `drm_gpuva_interval_empty`; the kernel node counts as occupied. */
  intervalEmpty(addr: bigint, range: bigint): boolean {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#quiet(() => this.#core.intervalEmpty(a, r))
  }

  /** `drm_gpuva_range_valid`: inside the space, no overflow, clear of the kernel node. */
  rangeValid(addr: bigint, range: bigint): boolean {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#run(() => this.#core.rangeValid(a, r))
  }

  /** Every node in address order, the kernel node included (`drm_gpuvm_for_each_va`). */
  *vas(): IterableIterator<Va> {
    for (const rec of this.#quiet(() => this.#core.list())) yield this.#va(rec)
  }

  [Symbol.iterator](): Iterator<Va> {
    return this.vas()
  }

  /** `drm_gpuvm_for_each_va_range`: nodes from the first overlapping [start, end) while they start below end. */
  *vasInRange(start: bigint, end: bigint): IterableIterator<Va> {
    const [s, e] = [u64(start, 'start'), u64(end, 'end')]
    for (const rec of this.#quiet(() => this.#core.listRange(s, e))) yield this.#va(rec)
  }

  /** `drm_gpuva_link`: adds the mapping to its object's list (no-op without an object). */
  link(va: Va): void {
    const key = this.#own(va)
    this.#quiet(() => this.#core.link(key.addr, key.seq))
  }

  /** `drm_gpuva_unlink`. */
  unlink(va: Va): void {
    const key = this.#own(va)
    try {
      this.#quiet(() => this.#core.unlink(key.addr, key.seq))
    } finally {
      this.#hub?.settle()
    }
  }

  isLinked(va: Va): boolean {
    const key = this.#own(va)
    return this.#quiet(() => this.#core.isLinked(key.addr, key.seq))
  }

  /** The mappings of this space linked to `obj`, in link order. */
  gemVas(obj: GemObject): Va[] {
    this.#objects.room()
    const id = this.#objects.idOf(obj, 'obj')
    return this.#quiet(() => this.#core.gemVas(id).map((rec) => this.#va(rec)))
  }

  /** `drm_gpuva_invalidate`. */
  invalidate(va: Va, invalidated = true): void {
    const key = this.#own(va)
    this.#quiet(() => this.#core.setInvalidated(key.addr, key.seq, invalidated === true))
  }

  isInvalidated(va: Va): boolean {
    const key = this.#own(va)
    const rec = this.#quiet(() => this.#core.get(key.addr, key.seq))
    if (!rec) throw new DrmError('EINVAL', `${va} is no longer in VA space '${this.name}'`)
    return (rec.flags & 1) !== 0
  }

  /** Whether `va` is (still) a node of this VA space. */
  contains(va: Va): boolean {
    return Va.isVa(va) && va.vm === this && this.#quiet(() => this.#core.get(va.addr, va.seq)) !== undefined
  }

  /**
   * `drm_gpuvm_sm_map` with step callbacks. EINVAL when a callback is missing
   * or the range is invalid; a throwing callback stops the walk.
   */
  smMap(request: MapRequest, steps: StepCallbacks): void {
    const callbacks = this.#callbacks(steps, ['map', 'remap', 'unmap'], 'smMap')
    this.#steps(this.mapSteps(request), callbacks)
  }

  /** `drm_gpuvm_sm_unmap` with step callbacks (remap and unmap needed). */
  smUnmap(addr: bigint, range: bigint, steps: StepCallbacks): void {
    const callbacks = this.#callbacks(steps, ['remap', 'unmap'], 'smUnmap')
    this.#steps(this.unmapSteps(addr, range), callbacks)
  }

  /**
   * The steps of a map request, one at a time, each computed against the VA
   * space as it is when asked for: apply a step before taking the next, as
   * step callbacks would.
   */
  mapSteps(request: MapRequest): IterableIterator<Op> {
    this.#objects.room()
    const m = this.#request(request)
    // The request's object may be in no mapping yet: the walk keeps it for its MAP step.
    const obj = this.#objects.object(m.obj)
    return this.#steal(() => this.#core.smMap(m.addr, m.range, m.obj, m.offset), obj)
  }

  /** The steps of an unmap request, one at a time (see `mapSteps`). */
  unmapSteps(addr: bigint, range: bigint): IterableIterator<Op> {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#steal(() => this.#core.smUnmap(a, r), null)
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
    const m = this.#request(request)
    return this.#packed(() => this.#core.smMapOps(m.addr, m.range, m.obj, m.offset))
  }

  /** `smUnmapOps` in packed form. */
  smUnmapOpsPacked(addr: bigint, range: bigint): PackedOps {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#packed(() => this.#core.smUnmapOps(a, r))
  }

  /** `prefetchOps` in packed form. */
  prefetchOpsPacked(addr: bigint, range: bigint): PackedOps {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    return this.#packed(() => this.#core.prefetchOps(a, r))
  }

  /** `gemUnmapOps` in packed form. */
  gemUnmapOpsPacked(obj: GemObject): PackedOps {
    this.#objects.room()
    const id = this.#objects.idOf(obj, 'obj')
    return this.#packed(() => this.#core.gemUnmapOps(id))
  }

  /**
   * Applies one step: MAP inserts and links the new mapping (`drm_gpuva_map`
   * + link), REMAP replaces the mapping by its pieces, UNMAP unlinks and
   * removes it. A step that does not fit the VA space is refused (EINVAL /
   * EEXIST) with nothing changed.
   */
  apply(op: Op): void {
    this.#objects.room()
    let rec: OpRecord
    try {
      rec = this.#opRecord(op)
    } catch (err) {
      throw unreadable(err, 'the op')
    }
    try {
      this.#run(() => this.#core.apply(rec))
    } finally {
      this.#hub?.settle()
    }
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
    // The hot path: `#request` and `#quiet` written out, so that a call
    // allocates nothing but its result.
    if (typeof request !== 'object' || request === null) throw notRequest(request)
    this.#objects.room()
    let addr: bigint, range: bigint, obj: number, offset: bigint
    try {
      addr = u64(request.addr, 'addr')
      range = u64(request.range, 'range')
      obj = request.obj == null ? 0 : this.#objects.idOf(request.obj, 'obj')
      offset = u64(request.offset ?? 0n, 'offset')
    } catch (err) {
      throw unreadable(err, 'the map request')
    }
    this.#enter()
    try {
      return this.#core.bind(addr, range, obj, offset)
    } catch (err) {
      this.#sync()
      throw err
    } finally {
      this.#hub?.settle()
    }
  }

  /** Plans an unmap request and applies it step by step (see `bind`). */
  unbind(addr: bigint, range: bigint): OpCounts {
    const a = u64(addr, 'addr')
    const r = u64(range, 'range')
    this.#enter()
    try {
      return this.#core.unbind(a, r)
    } catch (err) {
      this.#sync()
      throw err
    } finally {
      this.#hub?.settle()
    }
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
    const { words, length, objects } = batchContents(batch)
    const per = perRequestCounts(perRequest, length)
    this.#objects.adopt(objects)
    this.#enter()
    try {
      return this.#quiet(() => this.#core.bindBatch(words, per))
    } finally {
      this.#hub?.settle()
    }
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
    const { words, length, objects } = batchContents(batch)
    const { per, failAt } = arrayOptions(options, length)
    this.#objects.adopt(objects)
    this.#enter()
    try {
      return this.#quiet(() => this.#core.bindArray(words, per, failAt))
    } finally {
      this.#hub?.settle()
    }
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
    const m = this.#request(request)
    return this.#packed(() => this.#core.madviseOps(m.addr, m.range, m.obj, m.offset))
  }

  /** Replaces a mapping's flags word (`VA_FLAGS`: bit 0 invalidated, bit 1 sparse, driver bits from bit 2). */
  setFlags(va: Va, flags: number): void {
    const key = this.#own(va)
    const f = count(flags, 'flags', 0xffff_ffff)
    this.#run(() => this.#core.setVaFlags(key.addr, key.seq, f))
  }

  /** A mapping's flags word. */
  flagsOf(va: Va): number {
    const key = this.#own(va)
    const rec = this.#quiet(() => this.#core.get(key.addr, key.seq))
    if (!rec) throw new DrmError('EINVAL', `${va} is no longer in VA space '${this.name}'`)
    return rec.flags
  }

  /**
   * `drm_gpuva_manager_destroy`: removes the kernel node and warns when
   * mappings remain. Any later use throws EINVAL.
   */
  destroy(): void {
    this.#enter()
    this.#hub?.forceTeardown()
    try {
      this.#run(() => this.#core.destroy())
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

  // --- plumbing -------------------------------------------------------------

  /** Runs an engine call, then collects the warnings it recorded (even when it threw). */
  #run<T>(call: () => T): T {
    try {
      return call()
    } finally {
      this.#sync()
    }
  }

  /**
   * `#run` for the calls that record warnings only when they fail (a bind or
   * an insert warns only about an overflowing range, which it refuses;
   * queries never warn): the warnings are fetched on failure alone, saving a
   * crossing.
   */
  #quiet<T>(call: () => T): T {
    try {
      return call()
    } catch (err) {
      this.#sync()
      throw err
    }
  }

  #sync(): void {
    const fresh = this.#pull()
    if (fresh !== undefined && this.strict) throw new DrmWarning(fresh)
  }

  /** Moves the engine's new warnings here; returns the first, if any. */
  #pull(): Warning | undefined {
    const fresh = this.#core.takeWarnings()
    if (fresh.length === 0) return undefined
    if (this.#warnings === NO_WARNINGS) this.#warnings = []
    ;(this.#warnings as Warning[]).push(...fresh)
    return fresh[0]
  }

  /**
   * Starts a split/merge call (bind, unbind, a batch, a walk, destroy).
   * From inside a step callback that is refused, as the kernel forbids it;
   * otherwise it ends the iterator walk still open, which nothing else would
   * end if its caller dropped it.
   */
  #enter(): void {
    if (this.#inStep) {
      throw new DrmError('EBUSY', `a step callback of a split/merge walk is running on VA space '${this.name}'`)
    }
    const walk = this.#walk
    if (walk !== null) {
      this.#walk = null
      walk.superseded = true
      walk.cursor.close?.()
    }
  }

  /** An iterator walk: it takes over the VA space's walk slot when its first step is asked for. */
  *#steal(open: () => CursorCore, obj: GemObject | null): IterableIterator<Op> {
    this.#enter()
    const cursor = this.#quiet(open)
    const walk: Walk = { cursor, superseded: false }
    this.#walk = walk
    const lookup: ObjectLookup =
      obj === null ? this.#objects.lookup : (id) => (id === obj.id ? obj : this.#objects.object(id))
    try {
      for (;;) {
        if (walk.superseded) {
          throw new DrmError('EBUSY', `this walk on VA space '${this.name}' was ended by a later split/merge call`)
        }
        // A step that dropped the VM's last reference tore it down: the walk is over.
        if (this.#hub !== null && this.#core.destroyed) return
        const rec = this.#quiet(() => cursor.step())
        if (rec === undefined) return
        yield opFromRecord(rec, this, lookup)
      }
    } finally {
      if (this.#walk === walk) this.#walk = null
      if (!walk.superseded) cursor.close?.()
    }
  }

  /** The step callbacks `call` needs, read once (a getter cannot change them mid-walk). */
  #callbacks(steps: unknown, needed: (keyof StepCallbacks)[], call: string): StepCallbacks {
    return readArgument('the step callbacks', () => {
      const fns: StepCallbacks = {}
      for (const kind of needed) {
        const fn = (steps as StepCallbacks | null | undefined)?.[kind]
        if (typeof fn !== 'function') throw new DrmError('EINVAL', `${call} needs ${needed.join(', ')} step callbacks`)
        fns[kind] = fn.bind(steps) as never
      }
      return fns
    })
  }

  /** Runs a walk's steps through step callbacks; the engine cannot be re-entered from one. */
  #steps(walk: IterableIterator<Op>, steps: StepCallbacks): void {
    for (const op of walk) {
      this.#inStep = true
      try {
        if (op.kind === 'map') steps.map!(op, this)
        else if (op.kind === 'remap') steps.remap!(op, this)
        else if (op.kind === 'unmap') steps.unmap!(op, this)
      } finally {
        this.#inStep = false
      }
    }
  }

  #packed(make: () => BigUint64Array): PackedOps {
    const words = this.#quiet(make)
    return new PackedOps(this, words, this.#objects.lookup)
  }

  #request(request: MapRequest, what = 'the map request'): MapRecord {
    if (typeof request !== 'object' || request === null) throw notRequest(request)
    try {
      return {
        addr: u64(request.addr, 'addr'),
        range: u64(request.range, 'range'),
        obj: request.obj == null ? 0 : this.#objects.idOf(request.obj, 'obj'),
        offset: u64(request.offset ?? 0n, 'offset'),
      }
    } catch (err) {
      throw unreadable(err, what)
    }
  }

  #own(va: unknown): Va {
    if (!Va.isVa(va)) throw new DrmError('EINVAL', `expected a Va, got ${describe(va)}`)
    if (va.vm !== this) throw new DrmError('EINVAL', `${va} belongs to VA space '${va.vm.name}', not '${this.name}'`)
    return va
  }

  #va(rec: VaRecord): Va {
    return mintVa(this, rec.addr, rec.range, this.#objects.object(rec.obj), rec.offset, rec.seq)
  }

  #maybeVa(rec: VaRecord | undefined): Va | undefined {
    return rec ? this.#va(rec) : undefined
  }

  #vaRecord(va: unknown): VaRecord {
    const v = this.#own(va)
    return { addr: v.addr, range: v.range, obj: v.obj?.id ?? 0, offset: v.offset, seq: v.seq, flags: 0 }
  }

  #mapRecord(m: unknown, what: string): MapRecord {
    if (typeof m !== 'object' || m === null)
      throw new DrmError('EINVAL', `${what} must be an object, got ${describe(m)}`)
    return this.#request(m as MapRequest)
  }

  #opRecord(op: unknown): OpRecord {
    if (typeof op !== 'object' || op === null)
      throw new DrmError('EINVAL', `an op must be an object, got ${describe(op)}`)
    const o = op as AnyOp
    switch (o.kind) {
      case 'map':
        return { kind: 'map', map: this.#mapRecord(o.map, 'map') }
      case 'remap':
        return {
          kind: 'remap',
          prev: o.prev ? this.#mapRecord(o.prev, 'prev') : null,
          next: o.next ? this.#mapRecord(o.next, 'next') : null,
          va: this.#vaRecord(o.unmap?.va),
          keep: o.unmap?.keep === true,
        }
      case 'unmap':
        return { kind: 'unmap', va: this.#vaRecord(o.va), keep: o.keep === true }
      case 'prefetch':
        return { kind: 'prefetch', va: this.#vaRecord(o.va) }
      case 'driver':
        throw new DrmError(
          'EINVAL',
          'a driver op (DRM_GPUVA_OP_DRIVER) is for the driver to carry out, not the VA space',
        )
      default:
        throw new DrmError('EINVAL', `unknown op kind ${describe((o as { kind?: unknown }).kind)}`)
    }
  }
}

/** The `device` option: a Device, or undefined. */
function hubDevice(device: unknown): Device | null {
  if (device === undefined) return null
  if (!isDevice(device)) throw new DrmError('EINVAL', `device must be a Device, got ${describe(device)}`)
  return device
}

function oneOfEras(era: unknown): EraName {
  if (typeof era !== 'string' || !(ERAS as readonly string[]).includes(era)) {
    throw new DrmError('EINVAL', `era must be one of ${ERAS.join(', ')}, got ${describe(era)}`)
  }
  return era as EraName
}

/** The VM's reservation object: the one given (of the device), else a new empty one. */
function resvObject(device: Device, given: unknown): GemObject {
  if (given === undefined) return device.createObject({ size: 0n })
  if (!GemObjectClass.isGemObject(given) || !given.isDeviceObject || given.device !== device) {
    throw new DrmError('EINVAL', `resvObject must be a GEM object of the device, got ${describe(given)}`)
  }
  return given
}
