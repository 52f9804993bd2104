/**
 * A simulated DRM device: the GEM objects, reservation objects, acquire
 * contexts, fences, simulated clock and violation log of one engine. Lock
 * and pin state live in the engine, where placement can query it.
 */
import type { EngineName } from './engine.js'
import { resolveEngine } from './engines.js'
import { PROFILES, WW_CLASSES, type DeviceCore, type ProfileName, type WwClassName } from './device-engine.js'
import { DrmError, DrmWarning, type Warning } from './errors.js'
import { bindDevice, GemObject } from './gem.js'
import type { GpuVm } from './gpuvm.js'
import { NativeDeviceCore } from './native/device.js'
import {
  decodePlacement,
  domainIndex,
  domainStats,
  encodePlacement,
  memoryOptions,
  MoveTracker,
  ownObject,
  type DomainStats,
  type MemoryOptions,
  type PlaceDomain,
  type Placement,
  type Place,
  type ValidateResult,
} from './placement.js'
import { ReferenceDevice } from './reference/device/index.js'
import { Fence, Resv, WwAcquireCtx } from './resv.js'
import { count, describe, u64 } from './u64.js'

export interface DeviceOptions {
  /** 'native' (default, or DRMSIM_ENGINE) or 'reference'. */
  engine?: EngineName
  /** Throw a DrmWarning on a violation instead of recording it. */
  strict?: boolean
  /** 'wait-die' (the kernel's reservation class, default) or 'wound-wait'. */
  wwClass?: WwClassName
  /** The era profile of new objects (default 'gem-vram-2024'). */
  profile?: ProfileName
  /** Domain capacities in bytes: VRAM 256 MiB, GTT 1 GiB (0: none), SYSTEM unbounded by default. */
  memory?: MemoryOptions
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
}

export interface FenceOptions {
  context?: number
  seqno?: number
  /** Simulated time (ns) at which it signals by itself; never when absent. */
  signalAt?: bigint
}

export class Device {
  readonly engine: EngineName
  readonly strict: boolean
  readonly wwClass: WwClassName
  readonly profile: ProfileName
  /** The engine; the public classes go through it. */
  readonly core: DeviceCore
  readonly #violations: Violation[] = []
  readonly #objects = new Map<number, GemObject>()
  readonly #vms = new Set<GpuVm>()
  readonly #moves = new MoveTracker()
  #thread = 0
  #nextContext = 1

  constructor(options: DeviceOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new DrmError('EINVAL', `Device options must be an object, got ${describe(options)}`)
    }
    this.wwClass = options.wwClass ?? 'wait-die'
    if (!WW_CLASSES.includes(this.wwClass)) throw new DrmError('EINVAL', `wwClass must be one of ${WW_CLASSES.join(', ')}`)
    this.profile = checkProfile(options.profile ?? 'gem-vram-2024')
    this.strict = options.strict === true
    this.engine = resolveEngine(options.engine)
    const cls = WW_CLASSES.indexOf(this.wwClass)
    const mem = memoryOptions(options.memory)
    this.core = this.engine === 'native' ? new NativeDeviceCore(cls, mem) : new ReferenceDevice(cls, mem)
  }

  /** The simulated thread the calls are made on (0 outside the scheduler). */
  get thread(): number {
    return this.#thread
  }

  set thread(id: number) {
    this.#thread = count(id, 'thread', 0xffff_ffff)
  }

  /** Runs an engine call and collects the violations it recorded. */
  run<T>(f: () => T): T {
    try {
      return f()
    } finally {
      this.#drain()
    }
  }

  #drain(): void {
    if (this.#vms.size > 0) this.#moves.apply(this.core.takeMoves(), this.#vms, (id) => this.#objects.get(id))
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
  createObject(options: CreateObjectOptions): GemObject {
    if (typeof options !== 'object' || options === null) {
      throw new DrmError('EINVAL', `object options must be an object, got ${describe(options)}`)
    }
    const profile = checkProfile(options.profile ?? this.profile)
    let resv = 0
    if (options.resv !== undefined) {
      const r = options.resv instanceof GemObject ? options.resv.resv : options.resv
      if (!(r instanceof Resv) || r.device !== this) throw new DrmError('EINVAL', 'resv must belong to this device')
      resv = r.id
    }
    const obj = new GemObject({ size: options.size, id: options.id })
    this.run(() => this.core.createObject(obj.id, obj.size, resv, PROFILES.indexOf(profile)))
    bindDevice(obj, this)
    this.#objects.set(obj.id, obj)
    return obj
  }

  /** The object with this id, if it was created here. */
  object(id: number): GemObject | undefined {
    return this.#objects.get(id)
  }

  /** A resv of its own: one shared by several objects (a VM's), or a plain mutex. */
  createResv(): Resv {
    return new Resv(this, this.run(() => this.core.createResv()))
  }

  /** A plain mutex (a ww_mutex locked without a context), as a driver's private lock. */
  createMutex(): Resv {
    return this.createResv()
  }

  /** `ww_acquire_init` on the current thread. */
  acquireCtx(): WwAcquireCtx {
    return new WwAcquireCtx(this, this.run(() => this.core.ctxInit(this.#thread)))
  }

  createFence(options: FenceOptions = {}): Fence {
    const context = options.context === undefined ? this.#nextContext++ : count(options.context, 'context', 0xffff_ffff)
    const seqno = count(options.seqno ?? 1, 'seqno', 0xffff_ffff)
    const at = options.signalAt === undefined ? null : u64(options.signalAt, 'signalAt')
    return new Fence(this, this.run(() => this.core.createFence(context, seqno, at)))
  }

  /** Lets GEM objects count their GPU VA mappings in `vm` (checked when freed). */
  attachVm(vm: GpuVm): void {
    if (this.#vms.size === 0) this.core.trackMoves(true)
    this.#vms.add(vm)
  }

  /**
   * `ttm_bo_validate` on the current thread, which must hold `obj`'s
   * reservation lock (recorded and EINVAL otherwise). EINVAL when pinned
   * elsewhere, ENOMEM when nothing can make room.
   */
  validate(obj: GemObject, placement: Placement): ValidateResult {
    const o = ownObject(this, obj)
    const places = encodePlacement(placement)
    return this.run(() => this.core.validate(this.#thread, o.id, places))
  }

  /** Where eviction sends `obj`; null restores the default (VRAM: GTT, else SYSTEM; GTT: SYSTEM). */
  setEvictPlacement(obj: GemObject, placement: Placement | null): void {
    const o = ownObject(this, obj)
    const places = placement === null ? null : encodePlacement(placement)
    this.run(() => this.core.setEvictPlacement(o.id, places))
  }

  evictPlacement(obj: GemObject): Place[] {
    const o = ownObject(this, obj)
    return decodePlacement(this.run(() => this.core.evictPlacement(o.id)))
  }

  /** Usage of a domain; EINVAL if the device has none. */
  memory(domain: PlaceDomain): DomainStats {
    const d = domainIndex(domain)
    return domainStats(this.run(() => this.core.domainInfo(d)))
  }

  /** A domain's LRU, least recently used (next to be evicted) first. */
  lru(domain: PlaceDomain): GemObject[] {
    const d = domainIndex(domain)
    return this.run(() => this.core.lru(d)).flatMap((id) => this.#objects.get(id) ?? [])
  }

  /** Bytes moved, evictions and moves since the device was made. */
  get placementTotals(): { bytesMoved: bigint; evictions: bigint; moves: bigint } {
    return this.core.placementTotals()
  }

  /** Buffers evicted while mapped in `vm` and not placed again since (drm_gpuvm's evict list). */
  evictList(vm: GpuVm): GemObject[] {
    return this.#moves.evictList(vm)
  }

  /** GPU VA mappings of `obj` in the attached VA spaces. */
  vaMappings(obj: GemObject): number {
    let n = 0
    for (const vm of this.#vms) if (!vm.destroyed) n += vm.gemVas(obj).length
    return n
  }
}

function checkProfile(p: unknown): ProfileName {
  if (!PROFILES.includes(p as ProfileName)) {
    throw new DrmError('EINVAL', `profile must be one of ${PROFILES.join(', ')}, got ${describe(p)}`)
  }
  return p as ProfileName
}
