/**
 * The contract between the device API (device.ts, resv.ts, exec.ts, sched.ts)
 * and the two engines that keep the device state: native (Rust through
 * napi-rs, native/napi/device.rs) and reference (lib/reference/device/).
 * Ids and enums are plain numbers (0 = none); u64 values are bigints. Engines
 * throw DrmError and record violations for takeViolations().
 */
// ttm-pool: tts drawn from page pools.
import type { DevicePoolCore } from './pool.js'
import type { EngineName, VmCore } from './vm.js'
import type { DmemCore } from './dmem.js'
import type { PressureCore } from './pressure.js'
// execloop: drm_exec's runs of objects in one call.
import type { ExecRunCore } from './exec-run.js'

/** `lock` modes. */
export const LOCK = { normal: 0, slow: 1, try: 2 } as const
/** Pin and placement domains; 0 (pin only) means wherever the buffer is. */
export const DOMAINS = ['current', 'system', 'gtt', 'vram'] as const
export type DomainName = (typeof DOMAINS)[number]
/** Era profiles (seeds 002 and 003). */
export const PROFILES = ['gem-vram-2019', 'gem-vram-2024', 'shmem'] as const
export type ProfileName = (typeof PROFILES)[number]
/** `enum dma_resv_usage`: a query sees every fence at or below the usage asked. */
export const USAGES = ['kernel', 'write', 'read', 'bookkeep'] as const
export type UsageName = (typeof USAGES)[number]
export const WW_CLASSES = ['wait-die', 'wound-wait'] as const
export type WwClassName = (typeof WW_CLASSES)[number]
/** vmap kinds: the profile's vmap, or the 2019 kmap that never pins. */
export const VMAP = { vmap: 0, kmap: 1 } as const

export type LockResultName = 'ok' | 'EDEADLK' | 'EALREADY' | 'EBUSY' | 'blocked'

export interface LockOutcome {
  result: LockResultName
  /** The thread to wait for when blocked, else 0. */
  holder: number
}

export interface ResvRecord {
  /** The object it was made for, 0 for a shared or bare one. */
  owner: number
  locked: boolean
  holderThread: number
  holderCtx: number
  numFences: number
  maxFences: number
}

export interface CtxRecord {
  thread: number
  stamp: bigint
  acquired: number
  contending: number
  wounded: boolean
  done: boolean
  fini: boolean
}

export interface FenceRecord {
  context: number
  seqno: number
  signalAt: bigint | null
  signaled: boolean
  /** 0, or the negative errno it signals (or signaled) with (`dma_fence_set_error`). */
  error: number
}

export interface FenceEntry {
  fence: number
  usage: number
}

export interface ObjectRecord {
  id: number
  size: bigint
  refcount: number
  resv: number
  ownResv: boolean
  profile: number
  pinCount: number
  /** 0 when not pinned, else 1..3. */
  pinDomain: number
  vmapCount: number
  domain: number
  generation: bigint
  freed: boolean
  /** Start of its range in its domain; null when empty or purged. */
  offset: bigint | null
  /** No backing store until validated again (an empty placement or eviction purged it). */
  purged: boolean
}

/**
 * Place flags, the kernel's TTM_PL_FLAG_* bits; a place crosses as three
 * numbers: `domain | flags << 8`, fpfn, lpfn (a page window, lpfn 0: to the end).
 */
export const PLACE_FLAGS = {
  contiguous: 1 << 0,
  topdown: 1 << 1,
  temporary: 1 << 2,
  desired: 1 << 3,
  fallback: 1 << 4,
} as const
/** Numbers per place on the wire. */
export const PLACE_WORDS = 3
/** Range allocators of a memory type. */
export const ALLOCATORS = ['mm', 'buddy'] as const
export type AllocatorName = (typeof ALLOCATORS)[number]
/** TTM_NUM_MEM_TYPES; types 4..9 are the driver's private ones (TTM_PL_PRIV on). */
export const MAX_MEM_TYPES = 9

export interface ValidateRecord {
  /** Whether the buffer itself moved (or was purged). */
  moved: boolean
  /** Bytes copied, per hop, victims included. */
  bytesMoved: bigint
  /** Victims evicted or purged to make room. */
  evictions: number
}

export interface DomainRecord {
  capacity: bigint
  used: bigint
  free: bigint
  largestFree: bigint
  /** 1 - largestFree / free; 0 when free space is one block (or none). */
  fragmentation: number
  lruLen: number
  /** 0 drm_mm, 1 buddy. */
  allocator: number
  /** Backed by system pages (SYSTEM, GTT). */
  useTt: boolean
}

/** An object's resource: type, flags (CONTIGUOUS 1 when one run, TEMPORARY 4) and `offset, size` pairs. */
export interface ResourceRecord {
  domain: number
  flags: number
  blocks: bigint[]
}

/** A driver-private memory type (TTM_PL_PRIV + i). */
export interface PrivateTypeRecord {
  name: string
  size: bigint
  /** 0 drm_mm, 1 buddy. */
  allocator: number
  useTt: boolean
}

export interface PlacementTotalsRecord {
  bytesMoved: bigint
  evictions: bigint
  moves: bigint
}

export interface MoveRecord {
  id: number
  from: number
  /** 0: purged. */
  to: number
  evicted: boolean
}

export interface MappingRecord {
  addr: bigint
  iomem: boolean
  generation: bigint
}

export interface ViolationRecord {
  kind: string
  object: number
  message: string
  rule: string
}

/** The dmem cgroup calls (contract/dmem.ts), drm_exec's runs (contract/exec-run.ts) and ttm-lru's priorities, bulk moves, eviction policy and swap (contract/pressure.ts). */
export interface DeviceCore extends DmemCore, PressureCore, DevicePoolCore, ExecRunCore {
  readonly engine: EngineName
  now(): bigint
  advance(ns: bigint): bigint
  takeViolations(): ViolationRecord[]

  createResv(): number
  resvInfo(resv: number): ResvRecord
  ctxInit(thread: number): number
  ctxDone(thread: number, ctx: number): void
  ctxFini(thread: number, ctx: number): void
  ctxInfo(ctx: number): CtxRecord
  lock(thread: number, resv: number, ctx: number, mode: number): LockOutcome
  unlock(thread: number, resv: number): void
  assertHeld(thread: number, resv: number, what: string): boolean

  createFence(context: number, seqno: number, signalAt: bigint | null): number
  fenceInfo(fence: number): FenceRecord
  signalFence(fence: number): void
  /**
   * `dma_fence_set_error` (error in -4095..-1, else EINVAL); on a fence that
   * has signaled it is recorded (`fence-error-after-signal`) and still set.
   */
  setFenceError(fence: number, error: number): void
  /**
   * The simulation's own: when a fence that has not signaled signals by
   * itself (null: only by hand) and with which error (0: none). EINVAL once
   * it has signaled.
   */
  scheduleFence(fence: number, signalAt: bigint | null, error: number): void
  reserveFences(thread: number, resv: number, n: number): void
  addFence(thread: number, resv: number, fence: number, usage: number): void
  fences(resv: number, usage: number): FenceEntry[]
  testSignaled(resv: number, usage: number): boolean

  /** `unbacked`: no resource until the first validate (`bo->resource == NULL`). */
  createObject(id: number, size: bigint, resv: number, profile: number, unbacked?: boolean): void
  /** The object's resource; null when it has none (unbacked or purged). */
  resourceInfo(id: number): ResourceRecord | null
  objectInfo(id: number): ObjectRecord
  /** Every object ever created, freed ones included, in id order. */
  objects(): ObjectRecord[]
  get(id: number): number
  put(id: number, vaMappings: number): boolean
  pin(thread: number, id: number, domain: number): number
  unpin(thread: number, id: number): number
  vmap(thread: number, id: number, kind: number): MappingRecord
  vunmap(thread: number, id: number, kind: number): number
  access(thread: number, id: number, generation: bigint): boolean
  moveTo(thread: number, id: number, domain: number): boolean

  /** `ttm_bo_validate`; three numbers per place: `domain | flags << 8`, fpfn, lpfn. */
  validate(thread: number, id: number, places: number[]): ValidateRecord
  /** null restores the default eviction placement. */
  setEvictPlacement(id: number, places: number[] | null): void
  evictPlacement(id: number): number[]
  domainInfo(domain: number): DomainRecord
  /** A domain's LRU, least recently used first. */
  lru(domain: number): number[]
  placementTotals(): PlacementTotalsRecord
  /** Keep a log of moves for takeMoves (off by default). */
  trackMoves(on: boolean): void
  takeMoves(): MoveRecord[]
  /**
   * Ties a VA space of the same engine to the device: from now on every
   * placement move of an object calls the VA space's `objectMoved`, inside
   * the engine (native: in Rust, no crossing per move). A destroyed VA space
   * is dropped. EINVAL for a core of the other engine.
   */
  attachVm(vm: VmCore): void

  // Time (issue 16): the copy engine, move fences, no_wait_gpu, delayed destroy.
  /** Turns the copy engine on: 9 bytes-per-second values (`(from-1)*3 + (to-1)`), a latency per hop (ns). */
  configureCopy(bandwidth: bigint[], latency: bigint): void
  /** Every copy job so far, in submission (= execution) order. */
  copyJobs(): CopyJobRecord[]
  /** `ttm_bo_validate` with `no_wait_gpu`; reports the fence the buffer waits for. */
  validateTimed(thread: number, id: number, places: number[], noWaitGpu: boolean): TimedValidateRecord
  /** Destroyed buffers whose range waits for their fences (frees those whose fences signaled). */
  pendingDestroy(): PendingDestroyRecord[]
}

/** A validate's record with the fence the buffer must wait for before CPU access (0: none). */
export interface TimedValidateRecord extends ValidateRecord {
  fence: number
  /** When that fence signals; null while it waits for a fence signaled only by hand. */
  fenceEnd: bigint | null
}

export interface CopyJobRecord {
  fence: number
  object: number
  from: number
  to: number
  /** Bytes per hop. */
  bytes: bigint
  evicted: boolean
  submitted: bigint
  duration: bigint
  /** null until its dependencies' times are known. */
  start: bigint | null
  end: bigint | null
  /** Fences it waits for: the buffer's own and the destination's last eviction. */
  deps: number[]
}

export interface PendingDestroyRecord {
  id: number
  domain: number
  size: bigint
  fences: number[]
  /** When the last of its fences signals, if known. */
  until: bigint | null
}

/** Domain capacities in bytes: VRAM and GTT default to 256 MiB and 1 GiB (0: none), SYSTEM unbounded. */
export interface MemoryRecord {
  vram?: bigint
  gtt?: bigint
  system?: bigint
  /** 0 drm_mm, 1 buddy (default). */
  vramAllocator?: number
  /** 0 drm_mm (default), 1 buddy. */
  gttAllocator?: number
  /** Memory types 4.. in order. */
  private?: PrivateTypeRecord[]
  /** Multihop rules as from, to, via triples; absent: VRAM <-> SYSTEM through GTT. */
  hops?: number[]
}
