/**
 * Buffer placement (TTM): memory domains, placements with DESIRED / FALLBACK
 * places, `validate`, eviction, and what a move does to kernel mappings and
 * GPU VA mappings. The rules live in the engines; this file checks input,
 * packs placements (`domain | flags << 8`) and turns records into results.
 */
import type { Device } from './device.js'
import { ALLOCATORS, DOMAINS, type AllocatorName, type DomainRecord } from '../contract/device.js'
import { brandCheck, invalid, oneOf } from '../base/check.js'
import type { MemoryTypeOptions, MultihopRule, PrivateTypeOptions } from './memory-types.js'
import { GemObject } from './gem.js'
import type { Fence } from './resv.js'
import { GpuVm } from '../gpuvm/gpuvm.js'

export type PlaceDomain = 'system' | 'gtt' | 'vram'

/** One place (`struct ttm_place`): a memory type (a private one by its name), a page window and TTM's flags. */
export interface Place {
  domain: PlaceDomain | (string & {})
  /** First page of the window (`fpfn`), default 0. */
  fpfn?: number
  /** Page past the window (`lpfn`); 0 or absent: to the end (e.g. `visibleBytes >> 12` for CPU-visible VRAM). */
  lpfn?: number
  /** TTM_PL_FLAG_CONTIGUOUS: one run (the buddy allocator is asked for it; drm_mm ranges always are). */
  contiguous?: boolean
  /** TTM_PL_FLAG_TEMPORARY: a bounce; a buffer left there is never compatible and moves on the next validate. */
  temporary?: boolean
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
  /** The manager's range allocator. */
  allocator: AllocatorName
  /** Backed by system pages (SYSTEM, GTT), else device memory. */
  useTt: boolean
}

/** Sizes in bytes (a bigint, or `{ size, allocator }` for VRAM and GTT), private types, multihop rules. */
export interface MemoryOptions {
  vram?: bigint | MemoryTypeOptions
  gtt?: bigint | MemoryTypeOptions
  system?: bigint
  /** Driver-private memory types (TTM_PL_PRIV on, at most 6), used in places by name. */
  private?: PrivateTypeOptions[]
  /** Moves that bounce through a TEMPORARY place; default VRAM <-> SYSTEM through GTT (amdgpu); [] for none. */
  multihop?: MultihopRule[]
}

const PLACE_DOMAINS: readonly PlaceDomain[] = ['system', 'gtt', 'vram']

export const domainIndex = (domain: unknown): number => DOMAINS.indexOf(oneOf(domain, PLACE_DOMAINS, 'domain'))

export function domainStats(r: DomainRecord): DomainStats {
  return {
    capacity: r.capacity,
    used: r.used,
    free: r.free,
    largestFree: r.largestFree,
    fragmentation: r.fragmentation,
    lruLength: r.lruLen,
    allocator: ALLOCATORS[r.allocator] ?? 'mm',
    useTt: r.useTt,
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
