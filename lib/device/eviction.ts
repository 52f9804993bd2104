/**
 * Memory pressure and eviction policy (issue 16): LRU priorities, LRU bulk
 * moves (`ttm_lru_bulk_move`), eviction hooks (`eviction_valuable`,
 * `evict_flags`) and the system-memory shrinker (purge, swapout). The rules
 * live in the engines (contract/pressure.ts); this file checks input and
 * runs the user's callbacks.
 *
 * Callbacks run in JavaScript once per buffer on the VRAM and GTT LRUs before
 * each `validate`, and their answers cross to the engine in one batch (four
 * engine calls per validate, whatever the LRU length): both engines then see
 * the same answers. A victim is only ever taken from the LRU of the place's
 * domain, so `place` names that domain.
 */
import type { Device } from './device.js'
import type { GemObject } from './gem.js'
import { MAX_PRIORITY, type SwapTotalsRecord } from '../contract/pressure.js'
import { count, flag, func, invalid, list, options, u64 } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import { encodePlaces } from './memory-types.js'
import { gpuVm, isGemObject, isGpuVm, ownObject, type Place, type Placement } from './placement.js'
import { isResv, type Resv } from './resv.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'

export interface EvictionPolicy {
  /** Never evict buffers of this priority or above (0..4; 4, the default, protects none). */
  protectFromPriority?: number
  /** Never evict buffers carrying any of these tags (`device.setTags`). */
  protectTags?: readonly string[]
  /** TTM's `eviction_valuable`: false skips the victim. */
  evictionValuable?: (victim: GemObject, place: Place) => boolean
  /** TTM's `evict_flags`: where a victim goes when evicted (its eviction placement). */
  evictFlags?: (victim: GemObject) => Placement
}

export interface BulkMoveOptions {
  /** Unlocking this reservation (a Resv, a GEM object's, or a GpuVm's) moves the bulk to the LRU tail. */
  resv?: Resv | GemObject | GpuVm
}

export interface SwapOptions {
  /** Bytes of swap; 0 purges only; unbounded when absent. */
  capacity?: bigint
}

/** Swap and purge counts since the device was made (part of `placementTotals`). */
export type SwapTotals = SwapTotalsRecord

/** What pressure and policy know of one buffer. */
export interface ObjectPressure {
  priority: number
  tags: string[]
  /** Its bulk move's id, 0 for none. */
  bulk: number
  /** madvise(DONTNEED): dropped first under system memory pressure. */
  purgeable: boolean
  /** Swapped out: validate brings it back (a move). */
  swapped: boolean
  /** Purged while purgeable: its contents are gone. */
  contentLost: boolean
}

interface Hooks {
  valuable?: EvictionPolicy['evictionValuable']
  flags?: EvictionPolicy['evictFlags']
}

const hooksOf = new WeakMap<Device, Hooks>()
/** Whether any device was ever given hooks: until then `prepareEviction` has no map to ask (every validate calls it). */
let anyHooks = false
const tagNames = new WeakMap<Device, string[]>()

/** A `ttm_lru_bulk_move`: its buffers keep one LRU range per (domain, priority) and move to the tail together. */
export class BulkMove {
  constructor(
    readonly device: Device,
    readonly id: number,
  ) {}

  /** `ttm_bo_set_bulk_move`: the buffer joins at the end of the bulk's range. */
  add(obj: GemObject): void {
    const o = ownObject(this.device, obj)
    this.device.run(() => this.device.core.setBulkMove(o.id, this.id))
  }

  /** Leaves the bulk (to the LRU tail); a buffer of another bulk is left alone. */
  remove(obj: GemObject): void {
    const o = ownObject(this.device, obj)
    const c = this.device.core
    this.device.run(() => {
      if (c.pressureInfo(o.id).bulk === this.id) c.setBulkMove(o.id, 0)
    })
  }

  /** `ttm_lru_bulk_move_tail`: every range to its LRU's tail. */
  moveTail(): void {
    this.device.run(() => this.device.core.bulkMoveTail(this.id))
  }

  toString(): string {
    return `BulkMove ${this.id}`
  }
}

export function createBulkMove(device: Device, opts: unknown): BulkMove {
  const o = options<BulkMoveOptions>(opts, 'createBulkMove options', true)
  let resv = 0
  if (o.resv !== undefined) {
    const r = isGpuVm(o.resv) ? gpuVm(o.resv).resv : isGemObject(o.resv) ? ownObject(device, o.resv).resv : o.resv
    if (!isResv(r) || r.device !== device) throw invalid('resv', 'a Resv, GEM object or GpuVm of this device', o.resv)
    resv = r.id
  }
  return new BulkMove(
    device,
    device.run(() => device.core.createBulkMove(resv)),
  )
}

/** Tag names to bits, new names taking the next free bit (32 per device). */
function tagBits(device: Device, tags: unknown, what: string): number {
  let names = tagNames.get(device)
  if (!names) tagNames.set(device, (names = []))
  let bits = 0
  for (const t of list(tags, what)) {
    if (typeof t !== 'string' || t === '') throw invalid(what, 'a list of non-empty strings', tags)
    let i = names.indexOf(t)
    if (i < 0) {
      if (names.length === 32) throw new DrmError('ENOSPC', 'a device has at most 32 tag names')
      i = names.push(t) - 1
    }
    bits |= 1 << i
  }
  return bits >>> 0
}

export function setTags(device: Device, obj: GemObject, tags: unknown): void {
  const o = ownObject(device, obj)
  const bits = tagBits(device, tags, 'tags')
  device.run(() => device.core.setTags(o.id, bits))
}

export function objectPressure(device: Device, obj: GemObject): ObjectPressure {
  const o = ownObject(device, obj)
  const p = device.run(() => device.core.pressureInfo(o.id))
  const names = tagNames.get(device) ?? []
  return { ...p, tags: names.filter((_, i) => (p.tags >>> i) & 1) }
}

/** Sets (null: clears) the eviction policy and hooks. */
export function setEvictionPolicy(device: Device, policy: unknown): void {
  const o = policy === null ? {} : options<EvictionPolicy>(policy, 'eviction policy')
  const from =
    o.protectFromPriority === undefined ? MAX_PRIORITY : count(o.protectFromPriority, 'protectFromPriority', 4)
  const valuable =
    o.evictionValuable === undefined
      ? undefined
      : func<NonNullable<Hooks['valuable']>>(o.evictionValuable, 'evictionValuable')
  const flags = o.evictFlags === undefined ? undefined : func<NonNullable<Hooks['flags']>>(o.evictFlags, 'evictFlags')
  const bits = o.protectTags === undefined ? 0 : tagBits(device, o.protectTags, 'protectTags')
  device.run(() => {
    device.core.setEvictionPolicy(from, bits)
    device.core.setEvictionVeto([])
  })
  if (valuable || flags) {
    anyHooks = true
    hooksOf.set(device, { valuable, flags })
  } else hooksOf.delete(device)
}

/** Before a validate: asks the callbacks about every buffer on the VRAM and GTT LRUs, hands the answers over. */
export function prepareEviction(device: Device): void {
  const h = anyHooks ? hooksOf.get(device) : undefined
  if (!h) return
  const c = device.core
  const veto: number[] = []
  const ids: number[] = []
  const lens: number[] = []
  const places: number[] = []
  for (const [domain, index] of [
    ['vram', 3],
    ['gtt', 2],
  ] as const) {
    const lru = device.run(() => c.lru(index))
    for (const id of lru) {
      const obj = device.object(id)
      if (!obj) continue
      if (h.valuable && h.valuable(obj, { domain }) !== true) veto.push(id)
      if (h.flags) {
        const p = encodePlaces(h.flags(obj), ['current', ...device.memoryTypes])
        ids.push(id)
        lens.push(p.length)
        places.push(...p)
      }
    }
  }
  device.run(() => {
    c.setEvictionVeto(veto)
    if (ids.length > 0) c.setEvictPlacements(ids, lens, places)
  })
}

export function setSwap(device: Device, opts: unknown): void {
  let cap: bigint | null = null
  if (opts !== null) {
    const o = options<SwapOptions>(opts, 'swap options')
    cap = o.capacity === undefined ? (1n << 64n) - 1n : u64(o.capacity, 'capacity')
  }
  device.run(() => device.core.configureSwap(cap))
}

export function swapout(device: Device, bytes: unknown): bigint {
  const n = u64(bytes, 'bytes')
  return device.run(() => device.core.swapout(n))
}

export function setPurgeable(device: Device, obj: GemObject, on: unknown): void {
  const o = ownObject(device, obj)
  const v = flag(on, 'purgeable')
  device.run(() => device.core.setPurgeable(o.id, v))
}

export function setPriority(device: Device, obj: GemObject, priority: unknown): void {
  const o = ownObject(device, obj)
  const p = count(priority, 'priority', MAX_PRIORITY - 1)
  device.run(() => device.core.setPriority(o.id, p))
}
