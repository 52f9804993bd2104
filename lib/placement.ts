/**
 * Buffer placement (TTM): memory domains, placements with DESIRED / FALLBACK
 * places, `validate`, eviction, and what a move does to kernel mappings and
 * GPU VA mappings. The rules live in the engines; this file checks input,
 * packs placements (`domain | flags << 8`) and turns records into results.
 */
import type { Device } from './device.js'
import { DOMAINS, PLACE_FLAGS, type DomainRecord, type MemoryRecord, type MoveRecord } from './device-engine.js'
import { DrmError } from './errors.js'
import { GemObject } from './gem.js'
import type { GpuVm } from './gpuvm.js'
import { describe, u64 } from './u64.js'

export type PlaceDomain = 'system' | 'gtt' | 'vram'

/** One place (`struct ttm_place`): a domain and TTM's flags. */
export interface Place {
  domain: PlaceDomain
  /** TTM_PL_FLAG_DESIRED: used in the first pass only, never evicts. */
  desired?: boolean
  /** TTM_PL_FLAG_FALLBACK: used in the second (evicting) pass only. */
  fallback?: boolean
  /** TTM_PL_FLAG_TOPDOWN: the highest free range (keeps small pinned buffers out of the way). */
  topDown?: boolean
}

/** An ordered list of places; empty means "no backing store" (purge). */
export type Placement = readonly Place[]

export interface ValidateResult {
  /** Whether the buffer itself moved (false: its placement was compatible). */
  moved: boolean
  /** Bytes copied, per hop, victims included (TTM's ctx->bytes_moved). */
  bytesMoved: bigint
  /** Buffers evicted or purged to make room. */
  evictions: number
}

export interface DomainStats {
  capacity: bigint
  used: bigint
  free: bigint
  largestFree: bigint
  /** 1 - largestFree / free: 0 when the free space is one block. */
  fragmentation: number
  /** Buffers on the domain's LRU (resident, not pinned). */
  lruLength: number
}

export type MemoryOptions = MemoryRecord

/** Checks memory options: capacities as u64 bigints. */
export function memoryOptions(m: unknown): MemoryRecord {
  if (m === undefined) return {}
  if (typeof m !== 'object' || m === null) throw new DrmError('EINVAL', `memory must be an object, got ${describe(m)}`)
  const o = m as Record<string, unknown>
  const out: MemoryRecord = {}
  for (const k of ['vram', 'gtt', 'system'] as const) if (o[k] !== undefined) out[k] = u64(o[k], `memory.${k}`)
  if (out.system === 0n) throw new DrmError('EINVAL', 'memory.system must be above 0 (omit it for unbounded)')
  return out
}

export function domainIndex(domain: unknown): number {
  const i = DOMAINS.indexOf(domain as PlaceDomain)
  if (i < 1) throw new DrmError('EINVAL', `domain must be one of system, gtt, vram, got ${describe(domain)}`)
  return i
}

/** Packs a placement for the engines; EINVAL on anything malformed. */
export function encodePlacement(placement: unknown): number[] {
  if (!Array.isArray(placement)) throw new DrmError('EINVAL', `a placement must be an array, got ${describe(placement)}`)
  return placement.map((p: unknown, i) => {
    if (typeof p !== 'object' || p === null) throw new DrmError('EINVAL', `place ${i} must be an object, got ${describe(p)}`)
    const q = p as Record<string, unknown>
    for (const k of ['desired', 'fallback', 'topDown']) {
      if (q[k] !== undefined && typeof q[k] !== 'boolean') throw new DrmError('EINVAL', `place ${i}: ${k} must be a boolean`)
    }
    const flags =
      (q.desired ? PLACE_FLAGS.desired : 0) | (q.fallback ? PLACE_FLAGS.fallback : 0) | (q.topDown ? PLACE_FLAGS.topdown : 0)
    return domainIndex(q.domain) | (flags << 8)
  })
}

export function decodePlacement(places: number[]): Place[] {
  return places.map((v) => {
    const f = v >>> 8
    const p: Place = { domain: DOMAINS[v & 0xff] as PlaceDomain }
    if (f & PLACE_FLAGS.desired) p.desired = true
    if (f & PLACE_FLAGS.fallback) p.fallback = true
    if (f & PLACE_FLAGS.topdown) p.topDown = true
    return p
  })
}

export function domainStats(r: DomainRecord): DomainStats {
  return {
    capacity: r.capacity,
    used: r.used,
    free: r.free,
    largestFree: r.largestFree,
    fragmentation: r.fragmentation,
    lruLength: r.lruLen,
  }
}

/**
 * Keeps the VA side of moves: a moved buffer's GPU VA mappings are marked
 * invalidated (`drm_gpuva_invalidate`), and an evicted buffer goes on the
 * evict list of every VM it is mapped in until it is placed again by its owner.
 */
export class MoveTracker {
  readonly #evicted = new Map<GpuVm, Set<GemObject>>()

  apply(moves: MoveRecord[], vms: Iterable<GpuVm>, object: (id: number) => GemObject | undefined): void {
    for (const m of moves) {
      const obj = object(m.id)
      if (!obj) continue
      for (const vm of vms) {
        if (vm.destroyed) continue
        const vas = vm.gemVas(obj)
        for (const va of vas) vm.invalidate(va)
        let list = this.#evicted.get(vm)
        if (m.evicted && vas.length > 0) {
          if (!list) this.#evicted.set(vm, (list = new Set()))
          list.add(obj)
        } else if (!m.evicted) list?.delete(obj)
      }
    }
  }

  evictList(vm: GpuVm): GemObject[] {
    return [...(this.#evicted.get(vm) ?? [])]
  }
}

export function ownObject(device: Device, obj: unknown): GemObject {
  if (!(obj instanceof GemObject) || !obj.isDeviceObject || obj.device !== device) {
    throw new DrmError('EINVAL', `expected a GEM object of this device, got ${describe(obj)}`)
  }
  return obj
}
