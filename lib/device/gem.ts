import type { Device } from './device.js'
import { DOMAINS, PROFILES, VMAP, type DomainName, type ObjectRecord, type ProfileName } from '../contract/device.js'
import { DrmError } from '../base/errors.js'
import { type Op, Resv, runSync } from './resv.js'
import { count, describe, flag, readArgument, u64 } from '../base/check.js'

let nextId = 1
/** Ids of objects not yet collected (no WeakRefs: those keep objects alive to the end of the job). */
const used = new Set<number>()
const forget = new FinalizationRegistry<number>((id) => used.delete(id))

export interface GemObjectOptions {
  /** Size in bytes. */
  size: bigint
  /** A fixed id (1..2^32-2); by default the next free one. */
  id?: number
}

let attach: (obj: GemObject, device: Device) => void

/** The private marks of an object (see `holderMark`), set by the class's static block. */
let readMark: (value: unknown, which: 0 | 1) => number
let writeMark: (obj: GemObject, which: 0 | 1, mark: number) => void
/** The last holder mark handed out. */
let lastMark = 0

/**
 * @internal A number no other holder of objects gets: a VA space's object
 * table (lib/gpuvm/objects.ts) keeps its own on the objects it holds, and a
 * BindBatch a new one per filling, so each tells an object it holds already
 * by one private field instead of a Map lookup. A mark is a number, not the
 * holder: an object must not keep a VA space it was once bound in alive.
 */
export function holderMark(): number {
  return ++lastMark
}

/** @internal The table mark (`which` 0) or batch mark (1) of `value`; -1 when it is not a real GemObject. */
export function markOf(value: unknown, which: 0 | 1): number {
  return readMark(value, which)
}

/** @internal Sets the table mark (`which` 0) or batch mark (1) of `obj` (0: none). */
export function setMark(obj: GemObject, which: 0 | 1, mark: number): void {
  writeMark(obj, which, mark)
}

/** Makes `obj` a device-backed object (called by `Device.createObject`). */
export function bindDevice(obj: GemObject, device: Device): void {
  attach(obj, device)
}

/**
 * A kernel mapping of a buffer (`iosys_map`). It remembers the placement
 * generation it was made at: using it after the buffer moved is recorded.
 */
export class Mapping {
  constructor(
    readonly obj: GemObject,
    readonly addr: bigint,
    readonly iomem: boolean,
    readonly generation: bigint,
    /** How it was made: 'vmap' (locked), 'kmap' (2019), 'local' (vmapLocal) or 'long-term' (vmap). */
    readonly kind: 'vmap' | 'kmap' | 'local' | 'long-term',
  ) {}

  /**
   * A CPU access through the mapping on the current thread: records a stale,
   * unmapped or unprotected (neither locked nor pinned) access; true if none.
   */
  access(): boolean {
    const d = this.obj.device
    return d.run(() => d.core.access(d.thread, this.obj.id, this.generation))
  }

  toString(): string {
    return `Mapping(${this.obj}, 0x${this.addr.toString(16)}${this.iomem ? ', iomem' : ''})`
  }
}

/**
 * A GEM buffer object: what a mapping is backed by. Its id is what the
 * engines and the traces name it by. Objects made by `Device.createObject`
 * also have a reservation object, reference, pin and vmap counts; the
 * methods for those throw EINVAL on a standalone object.
 */
export class GemObject {
  readonly id: number
  readonly size: bigint
  #device: Device | null = null
  #resv: Resv | null = null
  /** The holder marks (see `holderMark`): the object table that holds it, the batch being filled that does. */
  #tableMark = 0
  #batchMark = 0

  static {
    attach = (obj, device) => {
      obj.#device = device
    }
    readMark = (value, which) => {
      // Reading a private field of anything but a real object throws: that is the brand check.
      try {
        return which === 0 ? (value as GemObject).#tableMark : (value as GemObject).#batchMark
      } catch {
        return -1
      }
    }
    writeMark = (obj, which, mark) => {
      if (which === 0) obj.#tableMark = mark
      else obj.#batchMark = mark
    }
  }

  constructor(options: GemObjectOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new DrmError('EINVAL', `GemObject options must be an object, got ${describe(options)}`)
    }
    const { size, id } = readArgument('GemObject options', () => ({
      size: u64(options.size, 'size'),
      id: freeGemObjectId(options.id),
    }))
    this.size = size
    this.id = id
    used.add(id)
    forget.register(this, id)
    // Handles are immutable: what a VA space or device is handed is what it knows.
    Object.freeze(this)
  }

  /**
   * The id of a real `GemObject`; undefined for anything else (a Proxy or a
   * look-alike has no private fields, so it cannot pass for an object and
   * change its id between reads).
   */
  static idOf(value: unknown): number | undefined {
    return GemObject.isGemObject(value) ? value.id : undefined
  }

  /** Whether `value` is a real `GemObject` (not a Proxy or look-alike of one). */
  static isGemObject(value: unknown): value is GemObject {
    return typeof value === 'object' && value !== null && #device in value
  }

  toString(): string {
    return `GemObject#${this.id}`
  }

  /** The device this object belongs to; EINVAL for a standalone object. */
  get device(): Device {
    if (!GemObject.isGemObject(this)) throw notAnObject()
    if (!this.#device) throw new DrmError('EINVAL', `${this} is not a device object (use device.createObject)`)
    return this.#device
  }

  get isDeviceObject(): boolean {
    return GemObject.isGemObject(this) && this.#device !== null
  }

  /** Its reservation object (own or shared). */
  get resv(): Resv {
    if (!GemObject.isGemObject(this)) throw notAnObject()
    if (!this.#resv) {
      const id = info(this).resv
      this.#resv = new Resv(this.device, id)
    }
    return this.#resv
  }

  get profile(): ProfileName {
    return PROFILES[info(this).profile]
  }
  get refcount(): number {
    return info(this).refcount
  }
  get freed(): boolean {
    return info(this).freed
  }
  get pinCount(): number {
    return info(this).pinCount
  }
  /** Where it is pinned, or null. */
  get pinDomain(): DomainName | null {
    const p = info(this).pinDomain
    return p === 0 ? null : DOMAINS[p]
  }
  get vmapCount(): number {
    return info(this).vmapCount
  }
  /** Where the buffer is now. */
  get domain(): DomainName {
    return DOMAINS[info(this).domain]
  }
  /** Start of its range in its domain; null when empty or purged. */
  get offset(): bigint | null {
    return info(this).offset
  }
  /** Its backing store was dropped (an empty placement); validate it to get one again. */
  get purged(): boolean {
    return info(this).purged
  }
  /** Bumped by every move; mappings remember it. */
  get generation(): bigint {
    return info(this).generation
  }

  /** Its GPU VA mappings in the VA spaces attached to the device. */
  get vaMappings(): number {
    return this.device.vaMappings(this)
  }

  /** `drm_gem_object_get`. */
  get(): this {
    call(this, (d) => d.core.get(this.id))
    return this
  }

  /** `drm_gem_object_put`: true when this freed it (remaining mappings, vmaps or pins are recorded). */
  put(): boolean {
    // The mappings matter only to the last reference (a free while mapped is recorded).
    const va = info(this).refcount === 1 ? this.device.vaMappings(this) : 0
    return call(this, (d) => d.core.put(this.id, va))
  }

  /** `drm_gem_pin_locked`: the caller holds the resv (recorded otherwise). Returns the pin count. */
  pinLocked(domain: DomainName = 'current'): number {
    const dom = domainIndex(domain)
    return call(this, (d) => d.core.pin(d.thread, this.id, dom))
  }

  unpinLocked(): number {
    return call(this, (d) => d.core.unpin(d.thread, this.id))
  }

  /** `drm_gem_pin`: takes the reservation lock itself. */
  *pinOp(domain: DomainName = 'current'): Op<number> {
    domainIndex(domain)
    return yield* locked(this, () => this.pinLocked(domain))
  }

  pin(domain: DomainName = 'current'): number {
    return runSync(this.device, this.pinOp(domain))
  }

  *unpinOp(): Op<number> {
    return yield* locked(this, () => this.unpinLocked())
  }

  unpin(): number {
    return runSync(this.device, this.unpinOp())
  }

  /** Runs `f` under the reservation lock, taken without a context. */

  /** `drm_gem_vmap_locked`: needs the resv (except gem-vram-2019, which pins instead). */
  vmapLocked(): Mapping {
    const rec = call(this, (d) => d.core.vmap(d.thread, this.id, VMAP.vmap))
    return mapping(this, 'vmap', rec)
  }

  /** `drm_gem_vunmap_locked`: the last one unmaps; an unbalanced one is recorded. Returns the use count. */
  vunmapLocked(): number {
    return call(this, (d) => d.core.vunmap(d.thread, this.id, VMAP.vmap))
  }

  /** gem-vram-2019 `drm_gem_vram_kmap`: ref-counted, no pin, no resv (the driver's private lock). */
  kmap(): Mapping {
    const rec = call(this, (d) => d.core.vmap(d.thread, this.id, VMAP.kmap))
    return mapping(this, 'kmap', rec)
  }

  kunmap(): number {
    return call(this, (d) => d.core.vunmap(d.thread, this.id, VMAP.kmap))
  }

  /** `drm_client_buffer_vmap_local` (2024): locks and keeps the lock until `vunmapLocal`. */
  *vmapLocalOp(): Op<Mapping> {
    if (this.profile === 'gem-vram-2019') {
      throw new DrmError('EINVAL', 'vmap_local arrived in 2024; gem-vram-2019 has kmap and vmap')
    }
    const r = yield* this.resv.lockOp()
    if (r !== 'ok') throw new DrmError(r, `${this}: could not lock resv ${this.resv.id}`)
    const m = this.vmapLocked()
    return mapping(this, 'local', m)
  }

  vmapLocal(): Mapping {
    return runSync(this.device, this.vmapLocalOp())
  }

  /** `drm_client_buffer_vunmap_local`: vunmap, then unlock. */
  vunmapLocal(): void {
    this.vunmapLocked()
    this.resv.unlock()
  }

  /**
   * A long-term mapping (`drm_client_buffer_vmap`, 2024): lock, pin where
   * it is, vmap, unlock. gem-vram-2019's vmap pins by itself.
   */
  *vmapOp(): Op<Mapping> {
    const old = this.profile === 'gem-vram-2019'
    const rec = yield* locked(this, () => {
      if (!old) this.pinLocked('current')
      return call(this, (d) => d.core.vmap(d.thread, this.id, VMAP.vmap))
    })
    return mapping(this, 'long-term', rec)
  }

  vmap(): Mapping {
    return runSync(this.device, this.vmapOp())
  }

  *vunmapOp(): Op<number> {
    const old = this.profile === 'gem-vram-2019'
    return yield* locked(this, () => {
      const left = this.vunmapLocked()
      if (!old) this.unpinLocked()
      return left
    })
  }

  vunmap(): number {
    return runSync(this.device, this.vunmapOp())
  }

  /** Moves the buffer (as eviction or validation would): needs the resv; EINVAL when pinned elsewhere. */
  moveLocked(domain: Exclude<DomainName, 'current'>): boolean {
    const dom = domainIndex(domain)
    if (dom === 0) throw new DrmError('EINVAL', 'a move needs a domain: system, gtt or vram')
    return call(this, (d) => d.core.moveTo(d.thread, this.id, dom))
  }

  // ---- ttm-lru: LRU priority, madvise and swap state (eviction.ts)

  /** LRU priority 0..3 (`TTM_MAX_BO_PRIORITY`): 0 is evicted first; setting it requeues the buffer. */
  get priority(): number {
    return call(this, (d) => d.core.pressureInfo(this.id)).priority
  }
  set priority(p: number) {
    const v = count(p, 'priority', 3)
    call(this, (d) => d.core.setPriority(this.id, v))
  }
  /** madvise(DONTNEED): dropped first, contents lost, when SYSTEM fills under a shrinker. */
  setPurgeable(on: boolean): void {
    const v = flag(on, 'purgeable')
    call(this, (d) => d.core.setPurgeable(this.id, v))
  }
  get purgeable(): boolean {
    return call(this, (d) => d.core.pressureInfo(this.id)).purgeable
  }
  /** Swapped out by the shrinker: its next validate swaps it back in (a move). */
  get swapped(): boolean {
    return call(this, (d) => d.core.pressureInfo(this.id)).swapped
  }
  /** Purged while purgeable: its contents are gone. */
  get contentLost(): boolean {
    return call(this, (d) => d.core.pressureInfo(this.id)).contentLost
  }
}

// The helpers of GemObject's methods, outside the class so that a method
// called on a Proxy reaches the device check (EINVAL) instead of failing a
// private-method brand check (TypeError).

function info(obj: GemObject): ObjectRecord {
  const d = obj.device
  return d.run(() => d.core.objectInfo(obj.id))
}

function call<T>(obj: GemObject, f: (d: Device) => T): T {
  const d = obj.device
  return d.run(() => f(d))
}

function* locked<T>(obj: GemObject, f: () => T): Op<T> {
  const resv = obj.resv
  const r = yield* resv.lockOp()
  if (r !== 'ok') throw new DrmError(r, `${obj}: could not lock resv ${resv.id}`)
  try {
    return f()
  } finally {
    resv.unlock()
  }
}

function mapping(
  obj: GemObject,
  kind: Mapping['kind'],
  rec: { addr: bigint; iomem: boolean; generation: bigint },
): Mapping {
  return new Mapping(obj, rec.addr, rec.iomem, rec.generation, kind)
}

const notAnObject = (): DrmError => new DrmError('EINVAL', 'not a GemObject (a Proxy or look-alike of one)')

function domainIndex(domain: unknown): number {
  const i = DOMAINS.indexOf(domain as DomainName)
  if (i < 0) throw new DrmError('EINVAL', `domain must be one of ${DOMAINS.join(', ')}, got ${describe(domain)}`)
  return i
}

function nextFreeId(): number {
  while (used.has(nextId)) nextId = nextId >= 0xffff_fffe ? 1 : nextId + 1
  return nextId++
}

/**
 * The id `new GemObject({ size, id })` would take, checked and free, without
 * taking it: `Device.createObject` asks its engine first, so an object the
 * engine refuses (ENOMEM) holds no id.
 */
export function freeGemObjectId(id: unknown): number {
  if (id === undefined) return nextFreeId()
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0xffff_fffe) {
    throw new DrmError('EINVAL', `a GEM object id must be an integer in [1, 2^32-2], got ${describe(id)}`)
  }
  if (used.has(id)) throw new DrmError('EEXIST', `GEM object id ${id} is in use`)
  return id
}
