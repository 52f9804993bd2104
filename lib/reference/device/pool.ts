/**
 * The reference TTM page pools: a plain TypeScript port of
 * native/core/src/pool/mod.rs (see there for the rules). Pool types are
 * FIFO queues of bus addresses; the shrinker list is an array of type keys
 * rotated on each step.
 */

import {
  CACHINGS,
  GLOBAL_DMA32_POOL,
  GLOBAL_POOL,
  MAX_PAGE_ORDER,
  MAX_TT_PAGES,
  type PageCaching,
  type PoolChunkRecord,
  type PoolCore,
  type PoolTotalsRecord,
  type PoolTypeRecord,
} from '../../contract/pool.js'
import { DrmError } from '../../base/errors.js'

const PAGE_SIZE = 4096n
const ORDERS = MAX_PAGE_ORDER + 1
const DMA32_BASE = 1n << 20n
const DMA32_END = 1n << 32n
const NORMAL_BASE = 1n << 32n

interface TypeKey {
  owner: number
  caching: PageCaching
  order: number
}

interface DevicePool {
  dmaAlloc: boolean
  dma32: boolean
  /** Own pool types, `[caching][order]`, when dmaAlloc. */
  own: bigint[][] | null
  liveTts: number
}

interface Tt {
  pool: number
  caching: PageCaching
  numPages: number
  chunks: PoolChunkRecord[]
}

/** `__fls`: the order of the largest power of two not above n (n > 0). */
const fls = (n: number): number => 31 - Math.clz32(n)

const alignUp = (v: bigint, size: bigint): bigint => ((v + size - 1n) / size) * size

export class ReferencePools implements PoolCore {
  readonly engine = 'reference' as const
  readonly #pagePoolSize: number
  /** Global pool types, `[dma32][wc, uc][order]` flattened. */
  readonly #global: bigint[][] = Array.from({ length: 4 * ORDERS }, () => [])
  readonly #pools: (DevicePool | null)[] = []
  readonly #tts = new Map<number, Tt>()
  #nextTt = 1
  #shrinker: TypeKey[] = []
  #nextDma = NORMAL_BASE
  #nextDma32 = DMA32_BASE
  readonly #t: PoolTotalsRecord

  constructor(pagePoolSize: number) {
    this.#pagePoolSize = pagePoolSize
    this.#t = {
      pooled: 0,
      pagePoolSize,
      inUse: 0,
      fresh: 0,
      reused: 0,
      cachingSet: 0,
      cachingReset: 0,
      released: 0,
      shrunk: 0,
    }
    // Per order: write-combined, uncached, then the DMA32 twins.
    for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
      for (const owner of [GLOBAL_POOL, GLOBAL_DMA32_POOL]) {
        for (const caching of ['wc', 'uc'] as const) this.#shrinker.push({ owner, caching, order })
      }
    }
  }

  createPool(dmaAlloc: boolean, dma32: boolean): number {
    const id = this.#pools.length
    let own: bigint[][] | null = null
    if (dmaAlloc) {
      for (const caching of CACHINGS) {
        for (let order = 0; order <= MAX_PAGE_ORDER; order++) this.#shrinker.push({ owner: id, caching, order })
      }
      own = Array.from({ length: 3 * ORDERS }, () => [])
    }
    this.#pools.push({ dmaAlloc, dma32, own, liveTts: 0 })
    return id
  }

  #pool(id: number): DevicePool {
    const p = this.#pools[id]
    if (p === null) throw new DrmError('EINVAL', `pool ${id} was finished`)
    if (p === undefined) throw new DrmError('EINVAL', `no pool ${id}`)
    return p
  }

  #select(p: DevicePool, id: number, caching: PageCaching, order: number): TypeKey | null {
    if (p.dmaAlloc) return { owner: id, caching, order }
    return caching === 'cached' ? null : { owner: p.dma32 ? GLOBAL_DMA32_POOL : GLOBAL_POOL, caching, order }
  }

  #queue(k: TypeKey): bigint[] | undefined {
    if (k.owner < 0) {
      if (k.caching === 'cached') return undefined
      const c = k.caching === 'wc' ? 0 : 1
      return this.#global[((k.owner === GLOBAL_DMA32_POOL ? 2 : 0) + c) * ORDERS + k.order]
    }
    return this.#pools[k.owner]?.own?.[CACHINGS.indexOf(k.caching) * ORDERS + k.order]
  }

  #freshDma(dma32: boolean, order: number): bigint {
    const size = PAGE_SIZE << BigInt(order)
    let start = alignUp(dma32 ? this.#nextDma32 : this.#nextDma, size)
    if (dma32 && start + size > DMA32_END) start = alignUp(DMA32_BASE, size)
    if (dma32) this.#nextDma32 = start + size
    else this.#nextDma = start + size
    return start
  }

  alloc(pool: number, numPages: number, caching: PageCaching): number {
    const p = this.#pool(pool)
    if (numPages === 0 || numPages > MAX_TT_PAGES) {
      throw new DrmError('EINVAL', `a tt has 1 to ${MAX_TT_PAGES} pages, not ${numPages}`)
    }
    if (this.#nextTt === 0xffff_ffff) throw new DrmError('ENOMEM', 'out of tt ids')
    const chunks: PoolChunkRecord[] = []
    let remaining = numPages
    let order = MAX_PAGE_ORDER
    let allowPools = true
    while (remaining > 0) {
      order = Math.min(order, fls(remaining))
      const pages = 2 ** order
      const pt = this.#select(p, pool, caching, order)
      const taken = pt !== null && allowPools ? this.#queue(pt)?.shift() : undefined
      if (taken !== undefined) {
        this.#t.pooled -= pages
        this.#t.reused += pages
        chunks.push({ order, dma: taken, fromPool: true })
      } else {
        allowPools = false
        this.#t.fresh += pages
        if (caching !== 'cached') this.#t.cachingSet += pages
        chunks.push({ order, dma: this.#freshDma(p.dma32, order), fromPool: false })
      }
      remaining -= pages
    }
    this.#t.inUse += numPages
    p.liveTts++
    const id = this.#nextTt++
    this.#tts.set(id, { pool, caching, numPages, chunks })
    return id
  }

  chunks(tt: number): PoolChunkRecord[] {
    const t = this.#tts.get(tt)
    if (t === undefined) throw new DrmError('EINVAL', `no populated tt ${tt}`)
    return t.chunks.map((c) => ({ ...c }))
  }

  free(tt: number): void {
    const t = this.#tts.get(tt)
    if (t === undefined) throw new DrmError('EINVAL', `no populated tt ${tt}`)
    this.#tts.delete(tt)
    const p = this.#pools[t.pool] as DevicePool
    for (const c of t.chunks) {
      const pt = this.#select(p, t.pool, t.caching, c.order)
      if (pt === null) {
        this.#release(t.caching, c.order)
      } else {
        this.#queue(pt)?.push(c.dma)
        this.#t.pooled += 2 ** c.order
      }
    }
    this.#t.inUse -= t.numPages
    p.liveTts--
    while (this.#t.pooled > this.#pagePoolSize) this.#shrinkOne(this.#t.pooled - this.#pagePoolSize)
  }

  #release(caching: PageCaching, order: number): void {
    const pages = 2 ** order
    if (caching !== 'cached') this.#t.cachingReset += pages
    this.#t.released += pages
  }

  #shrinkOne(nr: number): number {
    const pt = this.#shrinker.shift()
    if (pt === undefined) return 0
    this.#shrinker.push(pt)
    const q = this.#queue(pt) as bigint[]
    const n = Math.min(nr, q.length)
    q.splice(0, n)
    for (let i = 0; i < n; i++) this.#release(pt.caching, pt.order)
    const pages = n * 2 ** pt.order
    this.#t.pooled -= pages
    this.#t.shrunk += pages
    return pages
  }

  shrink(nrToScan: number): number {
    let freed = 0
    for (;;) {
      freed += this.#shrinkOne(nrToScan)
      if (freed >= nrToScan || this.#t.pooled === 0) return freed
    }
  }

  fini(pool: number): void {
    const p = this.#pool(pool)
    if (p.liveTts > 0) throw new DrmError('EBUSY', `pool ${pool} still has ${p.liveTts} populated tts`)
    this.#pools[pool] = null
    this.#shrinker = this.#shrinker.filter((k) => k.owner !== pool)
    for (const [i, q] of (p.own ?? []).entries()) {
      const caching = CACHINGS[Math.floor(i / ORDERS)]
      const order = i % ORDERS
      for (let k = 0; k < q.length; k++) this.#release(caching, order)
      this.#t.pooled -= q.length * 2 ** order
    }
  }

  selectType(pool: number, caching: PageCaching, order: number): number | null {
    return this.#select(this.#pool(pool), pool, caching, order)?.owner ?? null
  }

  typeChunks(owner: number, caching: PageCaching, order: number): number {
    if (order > MAX_PAGE_ORDER) throw new DrmError('EINVAL', `order ${order} is above MAX_PAGE_ORDER`)
    if (owner >= 0) this.#pool(owner)
    else if (owner !== GLOBAL_POOL && owner !== GLOBAL_DMA32_POOL) {
      throw new DrmError('EINVAL', `unknown pool type owner ${owner}`)
    }
    return this.#queue({ owner, caching, order })?.length ?? 0
  }

  types(): PoolTypeRecord[] {
    return this.#shrinker.map((k) => ({ ...k, chunks: this.#queue(k)?.length ?? 0 }))
  }

  totals(): PoolTotalsRecord {
    return { ...this.#t }
  }
}
