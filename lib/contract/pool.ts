/**
 * The contract between the TTM page-pool API (lib/device/pool.ts) and its
 * two engines: native (Rust, native/core/src/pool) and reference
 * (lib/reference/device/pool.ts). One core is the TTM globals (the global
 * write-combined / uncached pool types and their DMA32 twins,
 * `page_pool_size`, the shrinker list) with every device pool made in it.
 * Engines take values the public API validated (known cachings, integer
 * page counts) and throw DrmError leaving their state unchanged when a pool
 * or tt id is unknown, a tt is freed twice or a pool with populated tts is
 * finished.
 */

import type { EngineName } from './vm.js'

/** `enum ttm_caching`: uncached, write-combined, write-back cached. */
export type PageCaching = 'uc' | 'wc' | 'cached'

/** The kernel's numbering of `enum ttm_caching`. */
export const CACHINGS: readonly PageCaching[] = ['uc', 'wc', 'cached']

/** The largest chunk order: x86-64 with 4 KiB pages. */
export const MAX_PAGE_ORDER = 10

/** The largest tt the model takes, in pages (1 TiB). */
export const MAX_TT_PAGES = 2 ** 28

/** `page_pool_size` by default: half of a 8 GiB machine, in 4 KiB pages. */
export const DEFAULT_PAGE_POOL_SIZE = 2 ** 20

/** Owner code of the global pool types. */
export const GLOBAL_POOL = -1
/** Owner code of the global DMA32 pool types. */
export const GLOBAL_DMA32_POOL = -2

/** A run of `2^order` pages of a tt, contiguous on the bus from `dma`. */
export interface PoolChunkRecord {
  order: number
  dma: bigint
  /** Taken from a pool type, not fresh from the system. */
  fromPool: boolean
}

/** A pool type: its owner (a pool id, or GLOBAL_POOL / GLOBAL_DMA32_POOL), caching, order and chunks held. */
export interface PoolTypeRecord {
  owner: number
  caching: PageCaching
  order: number
  chunks: number
}

/** Page counts: now (`pooled`, `inUse`) and since the globals were made. */
export interface PoolTotalsRecord {
  /** Pages in pool types (`allocated_pages`). */
  pooled: number
  pagePoolSize: number
  /** Pages held by populated tts. */
  inUse: number
  /** Pages allocated fresh from the system. */
  fresh: number
  /** Pages taken from a pool type. */
  reused: number
  /** Fresh pages switched from write-back to the tt's write-combined / uncached caching. */
  cachingSet: number
  /** Pages set back to write-back before going to the system. */
  cachingReset: number
  /** Pages given back to the system (freed unpooled, shrunk, or at a pool's fini). */
  released: number
  /** Pages the shrinker freed, the trim to `page_pool_size` included. */
  shrunk: number
}

/** The field order of the totals as the binding packs them. */
export const POOL_TOTALS: readonly (keyof PoolTotalsRecord)[] = [
  'pooled',
  'pagePoolSize',
  'inUse',
  'fresh',
  'reused',
  'cachingSet',
  'cachingReset',
  'released',
  'shrunk',
]

export interface PoolCore {
  readonly engine: EngineName
  /** `ttm_pool_init`: the new pool's id. */
  createPool(dmaAlloc: boolean, dma32: boolean): number
  /** `ttm_pool_fini`: EBUSY while one of its tts is populated. */
  fini(pool: number): void
  /** `ttm_pool_alloc`: the new tt's id. */
  alloc(pool: number, numPages: number, caching: PageCaching): number
  /** `ttm_pool_free`. */
  free(tt: number): void
  /** A populated tt's chunks in page order. */
  chunks(tt: number): PoolChunkRecord[]
  /** `ttm_pool_shrinker_scan`: the pages freed. */
  shrink(nrToScan: number): number
  /** `ttm_pool_select_type`: the owner code of the pool type picked, or null. */
  selectType(pool: number, caching: PageCaching, order: number): number | null
  /** Chunks in one pool type; 0 for a type that does not exist. */
  typeChunks(owner: number, caching: PageCaching, order: number): number
  /** Every pool type in shrinker-list order. */
  types(): PoolTypeRecord[]
  totals(): PoolTotalsRecord
}

/** ttm-pool: a device's tts drawn from page pools (its own TTM globals, one pool). */
export interface DevicePoolCore {
  /** `caching`: CACHINGS index. EEXIST when the device has a pool. */
  poolSetup(dmaAlloc: boolean, dma32: boolean, caching: number, pagePoolSize: number): void
  /** The pools' totals; null without a pool. */
  poolTotals(): PoolTotalsRecord | null
}
