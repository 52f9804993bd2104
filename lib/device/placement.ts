/**
 * Buffer placement (TTM): memory domains, placements with DESIRED / FALLBACK
 * places, `validate`, eviction, and what a move does to kernel mappings and
 * GPU VA mappings. The rules live in the engines; this file checks input,
 * packs placements (`domain | flags << 8`) and turns records into results.
 */
import type { Device } from './device.js'
import { DOMAINS, PLACE_FLAGS, type DomainRecord, type MemoryRecord } from '../contract/device.js'
import { brandCheck, flag, invalid, list, oneOf, options, u64 } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import { GemObject } from './gem.js'
import type { Fence } from './resv.js'
import { GpuVm } from '../gpuvm/gpuvm.js'

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
  /** With a copy engine: the fence the buffer waits for before CPU access (its move, or an eviction it follows). */
  fence?: Fence | null
  /** When that fence signals (null while it waits for a fence signaled only by hand). */
  fenceEnd?: bigint | null
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
  /** ttm-lru: buffers on each priority's LRU (0..3). */
  lruPriorities?: number[]
}

export type MemoryOptions = MemoryRecord

/** Checks memory options: capacities as u64 bigints. */
export function memoryOptions(m: unknown): MemoryRecord {
  const o = options<MemoryRecord>(m, 'memory', true)
  const out: MemoryRecord = {}
  for (const k of ['vram', 'gtt', 'system'] as const) if (o[k] !== undefined) out[k] = u64(o[k], `memory.${k}`)
  if (out.system === 0n) throw new DrmError('EINVAL', 'memory.system must be above 0 (omit it for unbounded)')
  return out
}

const PLACE_DOMAINS: readonly PlaceDomain[] = ['system', 'gtt', 'vram']

export const domainIndex = (domain: unknown): number => DOMAINS.indexOf(oneOf(domain, PLACE_DOMAINS, 'domain'))

/** Packs a placement for the engines; EINVAL on anything malformed. */
export function encodePlacement(placement: unknown): number[] {
  // Each place's fields read once, in this order (desired, fallback, topDown, domain); the messages
  // (built only on failure) are those of `options`, `flag` and `domainIndex`.
  const places = list(placement, 'a placement')
  const out: number[] = new Array(places.length)
  for (let i = 0; i < places.length; i++) {
    const q = plainPlace(places[i], i)
    const desired = q.desired
    const fallback = q.fallback
    const topDown = q.topDown
    const flags =
      (isTrue(desired, i, 'desired') ? PLACE_FLAGS.desired : 0) |
      (isTrue(fallback, i, 'fallback') ? PLACE_FLAGS.fallback : 0) |
      (isTrue(topDown, i, 'topDown') ? PLACE_FLAGS.topdown : 0)
    const d = q.domain
    out[i] = (d === 'vram' ? VRAM : d === 'gtt' ? GTT : d === 'system' ? SYSTEM : domainIndex(d)) | (flags << 8)
  }
  return out
}

const [SYSTEM, GTT, VRAM] = (['system', 'gtt', 'vram'] as const).map((d) => DOMAINS.indexOf(d))

/** A place: an object, not an array (`options`, whose checks and messages a failure goes through). */
function plainPlace(p: unknown, i: number): Partial<Place> {
  if (typeof p === 'object' && p !== null) {
    let array: boolean
    try {
      array = Array.isArray(p)
    } catch {
      array = true // a revoked Proxy: `options` below says so
    }
    if (!array) return p as Partial<Place>
  }
  return options<Place>(p, `place ${i}`)
}

/** A place's flag: `flag`'s check, its message built only on failure. */
const isTrue = (v: unknown, i: number, name: string): boolean =>
  v === undefined ? false : typeof v === 'boolean' ? v : flag(v, `place ${i}: ${name}`)

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

/** Brand checks a Proxy fails. */
export const isGemObject = (v: unknown): v is GemObject => GemObject.isGemObject(v)
export const isGpuVm = brandCheck(() => GpuVm, 'destroyed')

/** `obj`, if it is a GEM object created by `device` (not a look-alike or a Proxy of one). */
export function ownObject(device: Device, obj: unknown): GemObject {
  if (!isGemObject(obj) || device.object(obj.id) !== obj) throw invalid('object', 'a GEM object of this device', obj)
  return obj
}

/** `vm`, if it is a GpuVm (not a look-alike or a Proxy of one). */
export function gpuVm(vm: unknown): GpuVm {
  if (!isGpuVm(vm)) throw invalid('vm', 'a GpuVm', vm)
  return vm
}
