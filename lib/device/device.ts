/**
 * A simulated DRM device: the GEM objects, reservation objects, acquire
 * contexts, fences, simulated clock and violation log of one engine. Lock
 * and pin state live in the engine, where placement can query it.
 */
import type { EngineName } from '../contract/vm.js'
import { engineOf, resolveEngine } from '../engines.js'
import { PROFILES, WW_CLASSES, type DeviceCore, type ProfileName, type WwClassName } from '../contract/device.js'
import { DrmError, DrmWarning, ERRNO_CODES, ERRNO_NAMES, type Errno, type Warning } from '../base/errors.js'
import { coreOf } from '../gpuvm/internal.js'
import { setDeviceBrand, setDeviceDrain } from './brand.js'
import { bindDevice, freeGemObjectId, GemObject } from './gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import {
  domainStats,
  gpuVm,
  isGemObject,
  ownObject,
  type DomainStats,
  type MemoryOptions,
  type PlaceDomain,
  type Placement,
  type Place,
  type ValidateResult,
} from './placement.js'
import { Fence, isResv, type Op, Resv, runSync, WwAcquireCtx } from './resv.js'
import {
  copyConfig,
  copyJobs,
  pendingDestroy,
  timedValidate,
  waitIdleOp,
  type CopyJob,
  type CopyOptions,
  type PendingDestroy,
  type ValidateOptions,
  type WaitIdleOptions,
} from './copy-engine.js'
import { type Cgroup, type CreateCgroupOptions, Dmem, type DmemOptions } from './dmem.js'
// encodePlaces and prepareEviction by name from their modules: every validate calls them (a re-export or a
// namespace object is a getter V8 does not inline).
import { decodePlaces, encodePlaces, memoryLayout, resourceOf, typeIndex, type ResourceInfo } from './memory-types.js'
// ttm-pool: tts drawn from page pools.
import { type DevicePoolOptions, devicePoolSetup, type TtmPoolTotals } from './pool.js'
import { count, flag, func, invalid, oneOf, options, u64 } from '../base/check.js'
import * as eviction from './eviction.js'
import { prepareEviction } from './eviction.js'
import { MAX_PRIORITY } from '../contract/pressure.js'

export interface DeviceOptions {
  /** 'native' (default, or DRMSIM_ENGINE) or 'reference'. */
  engine?: EngineName
  /** Throw a DrmWarning on a violation instead of recording it. */
  strict?: boolean
  /** 'wait-die' (the kernel's reservation class, default) or 'wound-wait'. */
  wwClass?: WwClassName
  /** The era profile of new objects (default 'gem-vram-2024'). */
  profile?: ProfileName
  /**
   * Domain capacities in bytes: VRAM 256 MiB on the buddy allocator, GTT 1 GiB on drm_mm (0: none),
   * SYSTEM unbounded by default; private memory types and multihop rules.
   */
  memory?: MemoryOptions
  /** Moves take time on a copy engine (issue 16); absent: moves are instant and destroys free at once. */
  copy?: CopyOptions
  /** The dmem cgroup controller: mode and registered regions (default upstream, VRAM). */
  dmem?: DmemOptions
  /** ttm-pool: tts (GTT and private use_tt types) drawn from TTM page pools; absent: pages not modelled. */
  pool?: DevicePoolOptions
}

/** A broken rule: what, on which GEM object (0 for none), and the seed rule. */
export interface Violation extends Warning {
  readonly object: number
}

export interface CreateObjectOptions {
  size: bigint
  /** A fixed id; by default the next free GEM object id. */
  id?: number
  /** Share this resv (or this object's), as the objects of one VM do. */
  resv?: Resv | GemObject
  profile?: ProfileName
  /** The dmem cgroup its resources are charged to (default: the root). */
  cgroup?: Cgroup
  /** LRU priority 0..3 (`TTM_MAX_BO_PRIORITY`): 0, the default, is evicted first. */
  priority?: number
  /** Born without a resource (TTM's `bo->resource == NULL`): its first validate is a move that counts its bytes. */
  unbacked?: boolean
}

export interface FenceOptions {
  context?: number
  seqno?: number
  /** Simulated time (ns) at which it signals by itself; never when absent. */
  signalAt?: bigint
  /** The errno it will signal with (`dma_fence_set_error` before it signals), e.g. a GPU job that fails. */
  error?: Errno
}

export class Device {
  readonly engine: EngineName
  readonly strict: boolean
  readonly wwClass: WwClassName
  readonly profile: ProfileName
  /** The engine; the public classes go through it. */
  readonly core: DeviceCore
  /** The dmem cgroup controller (dmem.ts). */
  readonly dmem: Dmem
  readonly #violations: Violation[] = []
  readonly #objects = new Map<number, GemObject>()
  /** The VA spaces tied to it (see `attachVm`). */
  readonly #vms = new Set<GpuVm>()
  /** Memory type names by index: 'current', 'system', 'gtt', 'vram', then the private ones. */
  readonly #types: readonly string[]
  #thread = 0
  #nextContext = 1

  static {
    setDeviceBrand((v) => #objects in v)
    setDeviceDrain((d) => d.#drain())
  }

  constructor(opts: DeviceOptions = {}) {
    const o = options<DeviceOptions>(opts, 'Device options')
    this.wwClass = o.wwClass === undefined ? 'wait-die' : oneOf(o.wwClass, WW_CLASSES, 'wwClass')
    this.profile = checkProfile(o.profile ?? 'gem-vram-2024')
    this.strict = flag(o.strict, 'strict')
    const mem = memoryLayout(o.memory)
    this.#types = mem.names
    this.engine = resolveEngine(o.engine)
    const cls = WW_CLASSES.indexOf(this.wwClass)
    const copy = o.copy === undefined ? null : copyConfig(o.copy)
    this.core = engineOf(this.engine).device(cls, mem.record)
    if (copy !== null) this.core.configureCopy(copy.bandwidth, copy.latency)
    this.copy = copy === null ? null : Object.freeze({ ...copy, bandwidth: Object.freeze(copy.bandwidth) })
    this.dmem = new Dmem(this, o.dmem)
    if (o.pool !== undefined) devicePoolSetup(this.core, o.pool)
  }

  /** ttm-pool: the page pools' totals (pooled, in use, fresh, reused, caching changes...), or null without `pool`. */
  pool(): TtmPoolTotals | null {
    return this.core.poolTotals()
  }

  /** The copy engine's packed configuration, or null when moves are instant (issue 16). */
  readonly copy: { readonly bandwidth: readonly bigint[]; readonly latency: bigint } | null

  /** The simulated thread the calls are made on (0 outside the scheduler). */
  get thread(): number {
    return this.#thread
  }

  set thread(id: number) {
    this.#thread = count(id, 'thread', 0xffff_ffff)
  }

  /** Runs an engine call and collects the violations it recorded. */
  run<T>(f: () => T): T {
    func(f, 'f')
    try {
      return f()
    } finally {
      this.#drain()
    }
  }

  #drain(): void {
    const found = this.core.takeViolations()
    if (found.length === 0) return
    if (this.strict) throw new DrmWarning(found[0])
    for (const v of found) this.#violations.push(Object.freeze({ ...v }))
  }

  /** Every violation recorded so far, oldest first. */
  get violations(): readonly Violation[] {
    return this.#violations
  }

  takeViolations(): Violation[] {
    return this.#violations.splice(0)
  }

  /** Simulated time in ns. */
  get now(): bigint {
    return this.core.now()
  }

  advance(ns: bigint): bigint {
    const n = u64(ns, 'ns')
    return this.run(() => this.core.advance(n))
  }

  /** A GEM object of this device, with its own resv unless one is shared. */
  createObject(opts: CreateObjectOptions): GemObject {
    const o = options<CreateObjectOptions>(opts, 'createObject options')
    const size = u64(o.size, 'size')
    const profile = checkProfile(o.profile ?? this.profile)
    const priority = o.priority === undefined ? 0 : count(o.priority, 'priority', MAX_PRIORITY - 1)
    const unbacked = flag(o.unbacked, 'unbacked')
    let resv = 0
    if (o.resv !== undefined) {
      const r = isGemObject(o.resv) ? ownObject(this, o.resv).resv : o.resv
      if (!isResv(r) || r.device !== this) throw invalid('resv', 'a Resv or GEM object of this device', o.resv)
      resv = r.id
    }
    // dmem: checked before the object exists (a destroyed cgroup is EINVAL here).
    const cg = o.cgroup === undefined ? null : this.dmem.cgroup(o.cgroup)
    if (cg !== null) this.run(() => this.core.cgroupInfo(cg.id, 3))
    // The engine first: an object it refuses must not keep an id.
    const id = freeGemObjectId(o.id)
    this.run(() => {
      this.core.createObject(id, size, resv, PROFILES.indexOf(profile), unbacked)
      if (cg !== null && cg !== this.dmem.root) this.core.cgroupAssign(id, cg.id)
    })
    if (priority !== 0) this.run(() => this.core.setPriority(id, priority))
    const obj = new GemObject({ size, id })
    bindDevice(obj, this)
    this.#objects.set(obj.id, obj)
    return obj
  }

  /** A dmem cgroup (`dmem.createCgroup`): a child of `parent`, the root by default. */
  createCgroup(opts: CreateCgroupOptions): Cgroup {
    return this.dmem.createCgroup(opts)
  }

  /** The object with this id, if it was created here. */
  object(id: number): GemObject | undefined {
    return this.#objects.get(count(id, 'id', 0xffff_ffff))
  }

  /** A resv of its own: one shared by several objects (a VM's), or a plain mutex. */
  createResv(): Resv {
    return new Resv(
      this,
      this.run(() => this.core.createResv()),
    )
  }

  /** A plain mutex (a ww_mutex locked without a context), as a driver's private lock. */
  createMutex(): Resv {
    return this.createResv()
  }

  /** `ww_acquire_init` on the current thread. */
  acquireCtx(): WwAcquireCtx {
    return new WwAcquireCtx(
      this,
      this.run(() => this.core.ctxInit(this.#thread)),
    )
  }

  createFence(opts: FenceOptions = {}): Fence {
    const o = options<FenceOptions>(opts, 'createFence options')
    const seqno = count(o.seqno ?? 1, 'seqno', 0xffff_ffff)
    const at = o.signalAt === undefined ? null : u64(o.signalAt, 'signalAt')
    const error = o.error === undefined ? 0 : -ERRNO_CODES[oneOf(o.error, ERRNO_NAMES, 'error')]
    // Last, so that a refused fence does not use up a context.
    const context = o.context === undefined ? this.#nextContext++ : count(o.context, 'context', 0xffff_ffff)
    return new Fence(
      this,
      this.run(() => {
        if (error === 0) return this.core.createFence(context, seqno, at)
        // Time and error together, so a time already past does not meet an error set after the signal.
        const id = this.core.createFence(context, seqno, null)
        this.core.scheduleFence(id, at, error)
        return id
      }),
    )
  }

  /**
   * Ties a VA space of the same engine to the device: GEM objects count their
   * mappings in it (checked when freed), and every placement move of an
   * object invalidates its mappings there and, in a drm_gpuvm, marks its
   * vm_bo evicted, inside the engine. A VA space made with `device` is
   * attached already.
   */
  attachVm(vm: GpuVm): void {
    const v = gpuVm(vm)
    if (this.#vms.has(v)) return
    if (v.engine !== this.engine)
      throw new DrmError('EINVAL', `${v} runs on the ${v.engine} engine, the device on ${this.engine}`)
    this.run(() => this.core.attachVm(coreOf(v)))
    this.#vms.add(v)
  }

  /**
   * `ttm_bo_validate` on the current thread, which must hold `obj`'s
   * reservation lock (recorded and EINVAL otherwise). EINVAL when pinned
   * elsewhere, ENOMEM when nothing can make room. With a copy engine the
   * result also has the fence to wait for before CPU access; `noWaitGpu`
   * gives EBUSY instead of waiting for anything busy.
   */
  validate(obj: GemObject, placement: Placement, opts?: ValidateOptions): ValidateResult {
    const o = ownObject(this, obj)
    const places = encodePlaces(placement, this.#types)
    prepareEviction(this)
    return timedValidate(this, o.id, places, opts)
  }

  // Time (issue 16).
  /** The copy engine's jobs so far, in execution order (empty without a copy engine). */
  copyJobs(): CopyJob[] {
    return copyJobs(this)
  }

  /** Destroyed buffers whose range waits for their fences (`ttm_bo_delayed_delete`), oldest first. */
  pendingDestroy(): PendingDestroy[] {
    return pendingDestroy(this)
  }

  /** `ttm_bo_wait_ctx` on `obj` (see `waitIdleOp`). */
  waitIdleOp(obj: GemObject, opts?: WaitIdleOptions): Op<void> {
    return waitIdleOp(ownObject(this, obj), opts)
  }

  waitIdle(obj: GemObject, opts?: WaitIdleOptions): void {
    runSync(this, this.waitIdleOp(obj, opts))
  }

  /** Where eviction sends `obj`; null restores the default (VRAM: GTT, else SYSTEM; GTT: SYSTEM). */
  setEvictPlacement(obj: GemObject, placement: Placement | null): void {
    const o = ownObject(this, obj)
    const places = placement === null ? null : encodePlaces(placement, this.#types)
    this.run(() => this.core.setEvictPlacement(o.id, places))
  }

  evictPlacement(obj: GemObject): Place[] {
    const o = ownObject(this, obj)
    return decodePlaces(
      this.run(() => this.core.evictPlacement(o.id)),
      this.#types,
    ) as Place[]
  }

  /** Usage of a domain; EINVAL if the device has none. */
  memory(domain: PlaceDomain | (string & {})): DomainStats {
    const d = typeIndex(domain, this.#types)
    const s = domainStats(this.run(() => this.core.domainInfo(d)))
    return { ...s, lruPriorities: this.run(() => this.core.lruLengths(d)) }
  }

  /** A domain's LRU, least recently used (next to be evicted) first. */
  lru(domain: PlaceDomain | (string & {})): GemObject[] {
    const d = typeIndex(domain, this.#types)
    return this.run(() => this.core.lru(d)).flatMap((id) => this.#objects.get(id) ?? [])
  }

  /** The memory types this device declares: 'system', 'gtt', 'vram', then its private ones. */
  get memoryTypes(): readonly string[] {
    return this.#types.slice(1)
  }

  /** `obj`'s resource (type, contiguity, TEMPORARY, blocks); null when it has none (unbacked or purged). */
  resource(obj: GemObject): ResourceInfo | null {
    const o = ownObject(this, obj)
    return resourceOf(
      this.run(() => this.core.resourceInfo(o.id)),
      this.#types,
    )
  }

  /** Bytes moved, evictions and moves since the device was made, with the shrinker's swap and purge counts. */
  get placementTotals(): { bytesMoved: bigint; evictions: bigint; moves: bigint } & eviction.SwapTotals {
    return { ...this.core.placementTotals(), ...this.core.swapTotals() }
  }

  // ---- ttm-lru: priorities, bulk moves, eviction policy, swap (eviction.ts)

  /** A `ttm_lru_bulk_move`; tied to a resv (or a GpuVm's), unlocking it moves the bulk to the LRU tail. */
  createBulkMove(opts: eviction.BulkMoveOptions = {}): eviction.BulkMove {
    return eviction.createBulkMove(this, opts)
  }

  /** Protections by priority and tag, and the `evictionValuable` / `evictFlags` hooks; null clears them. */
  setEvictionPolicy(policy: eviction.EvictionPolicy | null): void {
    eviction.setEvictionPolicy(this, policy)
  }

  /** Names the policy tags of `obj` (replacing its old ones). */
  setTags(obj: GemObject, tags: readonly string[]): void {
    eviction.setTags(this, obj, tags)
  }

  /** Priority, tags, bulk move, purgeable and swap state of `obj`. */
  pressure(obj: GemObject): eviction.ObjectPressure {
    return eviction.objectPressure(this, obj)
  }

  /** The shrinker for a bounded SYSTEM: purge purgeable buffers, then swap out (null: none, ENOMEM when full). */
  setSwap(opts: eviction.SwapOptions | null): void {
    eviction.setSwap(this, opts)
  }

  /** `ttm_device_swapout`: frees at least `bytes` of SYSTEM if it can; the bytes freed. */
  swapout(bytes: bigint): bigint {
    return eviction.swapout(this, bytes)
  }

  /** The objects on `vm`'s evict list (a drm_gpuvm's; EINVAL for the seed's era). */
  evictList(vm: GpuVm): GemObject[] {
    return gpuVm(vm)
      .evictList()
      .map((bo) => bo.obj)
  }

  /**
   * `drm_gpuvm_bo_gem_evict`: marks (or clears) `obj`'s vm_bo evicted in every
   * drm_gpuvm of this device that has one. Needs `obj`'s reservation held.
   */
  gemEvict(obj: GemObject, evict = true): void {
    const o = ownObject(this, obj)
    for (const vm of this.#vms) if (!vm.destroyed && vm.device === this) vm.gemEvict(o, evict)
  }

  /** GPU VA mappings of `obj` in the attached VA spaces. */
  vaMappings(obj: GemObject): number {
    ownObject(this, obj)
    let n = 0
    // Engine records only: no Va handle is made to be counted.
    for (const vm of this.#vms) if (!vm.destroyed) n += coreOf(vm).gemVas(obj.id).length
    return n
  }
}

const checkProfile = (p: unknown): ProfileName => oneOf(p, PROFILES, 'profile')
