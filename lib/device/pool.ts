/**
 * TTM page pools (`ttm_pool`), on either engine. `TtmPools` is the TTM
 * globals: the global write-combined and uncached pool types (and their
 * DMA32 twins), `page_pool_size` and the pool shrinker. A `TtmPool` is one
 * device's pool (`ttm_pool_init`): it fills a `TtmTt` with pages in
 * power-of-two chunks (`ttm_pool_alloc`) and takes them back
 * (`ttm_pool_free`), keeping chunks whose caching is costly to redo in the
 * pool type of their (caching, order). Pages are 4 KiB and
 * `MAX_PAGE_ORDER` is 10 (x86-64).
 *
 * Bad input is DrmError EINVAL and leaves the pools unchanged.
 */

import {
  CACHINGS,
  DEFAULT_PAGE_POOL_SIZE,
  GLOBAL_DMA32_POOL,
  GLOBAL_POOL,
  MAX_PAGE_ORDER,
  MAX_TT_PAGES,
  type PageCaching,
  type PoolCore,
  type PoolTotalsRecord,
} from '../contract/pool.js'
import type { DeviceCore } from '../contract/device.js'
import type { EngineName } from '../contract/vm.js'
import { engineOf, resolveEngine } from '../engines.js'
import { count, flag, instance, integer, invalid, isObject, oneOf, options } from '../base/check.js'

export { MAX_PAGE_ORDER, type PageCaching }

/** `TTM_SHRINKER_BATCH`: the kernel shrinker's batch, an average pool's pages (`2^(MAX_PAGE_ORDER/2)` per order). */
export const TTM_SHRINKER_BATCH = 2 ** Math.floor(MAX_PAGE_ORDER / 2) * (MAX_PAGE_ORDER + 1)

export interface TtmPoolsOptions {
  /** `page_pool_size`: pooled pages above it are shrunk at each free; 2^20 (half of 8 GiB) by default. */
  pagePoolSize?: number
  engine?: EngineName
}

export interface TtmPoolOptions {
  /** `use_dma_alloc`: coherent DMA pages, pooled in the pool's own types for every caching. */
  dmaAlloc?: boolean
  /** `use_dma32`: pages below 4 GiB, pooled in the global DMA32 types. */
  dma32?: boolean
}

/** Who owns a pool type: the globals, their DMA32 twins, or a device pool. */
export type PoolTypeOwner = 'global' | 'global-dma32' | TtmPool

export interface TtmPoolTypeInfo {
  owner: PoolTypeOwner
  caching: PageCaching
  order: number
  chunks: number
  /** `chunks << order`. */
  pages: number
}

/** Page counts: now (`pooled`, `inUse`) and since the globals were made (the contract's record). */
export type TtmPoolTotals = PoolTotalsRecord

/** One page of a tt: the chunk it is in, whether it heads it, and its bus address. */
export interface TtmPageInfo {
  chunk: number
  /** The chunk's first page (the one whose `page->private` the kernel sets). */
  head: boolean
  /** The chunk's order. */
  order: number
  dma: bigint
}

/** A run of `2^order` pages of a tt, contiguous on the bus from `dma`. */
export interface TtmChunk {
  order: number
  dma: bigint
  /** Taken from a pool type, not fresh from the system. */
  fromPool: boolean
}

let isPool: (v: unknown) => v is TtmPool
/** Only this module makes pools and tts: their constructors check it. */
const MAKER: unique symbol = Symbol('ttm-pool maker')
let isTt: (v: unknown) => v is TtmTt

/** The TTM globals (`ttm_pool_mgr_init`) and the device pools made in them. */
export class TtmPools {
  readonly engine: EngineName
  readonly #core: PoolCore
  readonly #pools: TtmPool[] = []

  constructor(opts?: TtmPoolsOptions) {
    const o = options<TtmPoolsOptions>(opts ?? {}, 'TtmPools options')
    const size = o.pagePoolSize === undefined ? DEFAULT_PAGE_POOL_SIZE : count(o.pagePoolSize, 'pagePoolSize')
    this.engine = resolveEngine(o.engine)
    this.#core = engineOf(this.engine).pools(size)
  }

  /** `ttm_pool_init`. */
  createPool(opts?: TtmPoolOptions): TtmPool {
    const o = options<TtmPoolOptions>(opts ?? {}, 'TtmPool options')
    const dmaAlloc = flag(o.dmaAlloc, 'dmaAlloc')
    const dma32 = flag(o.dma32, 'dma32')
    const pool = new TtmPool(MAKER, this.#core, this.#core.createPool(dmaAlloc, dma32), dmaAlloc, dma32)
    this.#pools.push(pool)
    return pool
  }

  #owner(code: number): PoolTypeOwner {
    if (code === GLOBAL_POOL) return 'global'
    if (code === GLOBAL_DMA32_POOL) return 'global-dma32'
    return this.#pools[code]
  }

  /** `ttm_pool_shrinker_scan`: frees pooled pages, round robin over the pool types, until `nrToScan` are freed or none is left. */
  shrink(nrToScan: number = TTM_SHRINKER_BATCH): number {
    return this.#core.shrink(count(nrToScan, 'nrToScan'))
  }

  /** Pages in pool types (`ttm_pool_shrinker_count`). */
  get pooledPages(): number {
    return this.#core.totals().pooled
  }

  totals(): TtmPoolTotals {
    return this.#core.totals()
  }

  /** Every pool type in the shrinker's round-robin order. */
  types(): TtmPoolTypeInfo[] {
    return this.#core.types().map((t) => ({ ...t, owner: this.#owner(t.owner), pages: t.chunks * 2 ** t.order }))
  }

  /** Chunks in a global pool type (none for cached: those are not pooled globally). */
  globalType(caching: PageCaching, order: number, dma32 = false): number {
    const c = oneOf(caching, CACHINGS, 'caching')
    const o = integer(order, 'order', 0, MAX_PAGE_ORDER)
    return this.#core.typeChunks(flag(dma32, 'dma32') ? GLOBAL_DMA32_POOL : GLOBAL_POOL, c, o)
  }
}

/** One device's page pool. Made by `TtmPools.createPool`. */
export class TtmPool {
  readonly dmaAlloc: boolean
  readonly dma32: boolean
  readonly #core: PoolCore
  readonly #id: number
  #finished = false

  static {
    isPool = (v): v is TtmPool => isObject(v) && #id in v
  }

  /** @internal */
  constructor(maker: typeof MAKER, core: PoolCore, id: number, dmaAlloc: boolean, dma32: boolean) {
    if (maker !== MAKER) throw invalid('TtmPool', 'made by TtmPools.createPool', maker)
    this.#core = core
    this.#id = id
    this.dmaAlloc = dmaAlloc
    this.dma32 = dma32
  }

  get finished(): boolean {
    return this.#finished
  }

  /** `ttm_pool_alloc`: a tt of `numPages` pages with `caching`, populated. */
  alloc(numPages: number, caching: PageCaching): TtmTt {
    const n = integer(numPages, 'numPages', 1, MAX_TT_PAGES)
    const c = oneOf(caching, CACHINGS, 'caching')
    return new TtmTt(MAKER, this, this.#core, this.#core.alloc(this.#id, n, c), n, c)
  }

  /** `ttm_pool_free`: the tt's chunks go to their pool types or to the system. */
  free(tt: TtmTt): void {
    const t = instance(tt, (v) => isTt(v), 'tt', 'a TtmTt')
    if (t.pool !== this) throw invalid('tt', 'a tt this pool populated', tt)
    t.release()
  }

  /** `ttm_pool_fini`: the pool's own pool types are emptied. EBUSY while one of its tts is populated. */
  fini(): void {
    this.#core.fini(this.#id)
    this.#finished = true
  }

  /** Chunks in this pool's own type (`pool->caching[c].orders[o]`): only a dmaAlloc pool has them. */
  ownType(caching: PageCaching, order: number): number {
    const c = oneOf(caching, CACHINGS, 'caching')
    return this.#core.typeChunks(this.#id, c, integer(order, 'order', 0, MAX_PAGE_ORDER))
  }

  /** `ttm_pool_select_type`: where a freed chunk goes, or null (back to the system). */
  selectType(caching: PageCaching, order: number): 'own' | 'global' | 'global-dma32' | null {
    const c = oneOf(caching, CACHINGS, 'caching')
    const owner = this.#core.selectType(this.#id, c, integer(order, 'order', 0, MAX_PAGE_ORDER))
    if (owner === null) return null
    return owner === GLOBAL_POOL ? 'global' : owner === GLOBAL_DMA32_POOL ? 'global-dma32' : 'own'
  }

  /** The pool types this pool allocates from, per (caching, order), with what they hold. */
  stats(): { caching: PageCaching; order: number; owner: 'own' | 'global' | 'global-dma32'; chunks: number }[] {
    const out = []
    for (const caching of CACHINGS) {
      for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
        const owner = this.#core.selectType(this.#id, caching, order)
        if (owner === null) continue
        const chunks = this.#core.typeChunks(owner, caching, order)
        const name = owner === GLOBAL_POOL ? 'global' : owner === GLOBAL_DMA32_POOL ? 'global-dma32' : 'own'
        out.push({ caching, order, owner: name, chunks } as const)
      }
    }
    return out
  }
}

/** A tt populated by a pool (`struct ttm_tt` with its pages). */
export class TtmTt {
  readonly pool: TtmPool
  readonly numPages: number
  readonly caching: PageCaching
  readonly #core: PoolCore
  readonly #id: number
  #populated = true
  #chunks: TtmChunk[] | undefined
  /** First page of each chunk, for page lookups. */
  #starts: number[] | undefined

  static {
    isTt = (v): v is TtmTt => isObject(v) && #id in v
  }

  /** @internal */
  constructor(maker: typeof MAKER, pool: TtmPool, core: PoolCore, id: number, numPages: number, caching: PageCaching) {
    if (maker !== MAKER || !isPool(pool)) throw invalid('TtmTt', 'made by TtmPool.alloc', maker)
    this.pool = pool
    this.#core = core
    this.#id = id
    this.numPages = numPages
    this.caching = caching
  }

  get populated(): boolean {
    return this.#populated
  }

  /** @internal The pool's free: the core refuses a second one (EINVAL). */
  release(): void {
    this.#core.free(this.#id)
    this.#populated = false
  }

  /** The chunks in page order (EINVAL once freed). */
  chunks(): TtmChunk[] {
    if (!this.#populated) this.#core.chunks(this.#id)
    this.#chunks ??= this.#core.chunks(this.#id)
    return this.#chunks.map((c) => ({ ...c }))
  }

  /** Page `index` (0-based): its chunk, whether it heads it, and its bus address. */
  page(index: number): TtmPageInfo {
    const i = integer(index, 'index', 0, this.numPages - 1)
    const chunks = this.chunks()
    if (this.#starts === undefined) {
      let at = 0
      this.#starts = chunks.map((c) => {
        const s = at
        at += 2 ** c.order
        return s
      })
    }
    const starts = this.#starts
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (starts[mid] <= i) lo = mid
      else hi = mid - 1
    }
    const c = chunks[lo]
    const within = i - starts[lo]
    return { chunk: lo, head: within === 0, order: c.order, dma: c.dma + BigInt(within) * 4096n }
  }
}

/** A device's page pool (`new Device({ pool })`): its tts come from it. */
export interface DevicePoolOptions extends TtmPoolOptions {
  /** The caching of the device's tts (`ttm_tt_init`'s); write-combined by default. */
  caching?: PageCaching
  /** `page_pool_size` of the device's own TTM globals; 2^20 pages by default. */
  pagePoolSize?: number
}

/** @internal Checks the Device's `pool` option and sets the pool up. */
export function devicePoolSetup(core: DeviceCore, opts: unknown): void {
  const o = options<DevicePoolOptions>(opts, 'pool options')
  const caching = o.caching === undefined ? 'wc' : oneOf(o.caching, CACHINGS, 'pool.caching')
  const size = o.pagePoolSize === undefined ? DEFAULT_PAGE_POOL_SIZE : count(o.pagePoolSize, 'pool.pagePoolSize')
  const dmaAlloc = flag(o.dmaAlloc, 'pool.dmaAlloc')
  core.poolSetup(dmaAlloc, flag(o.dma32, 'pool.dma32'), CACHINGS.indexOf(caching), size)
}
