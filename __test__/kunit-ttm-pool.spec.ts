/**
 * ttm_pool_test.c's cases, ported to the public API (lib/device/pool.ts) on
 * both engines. Each case makes fresh TTM globals (`TtmPools`), so the
 * global pools start empty as in a freshly booted kernel.
 *
 * Ported: ttm_pool_alloc_basic with its five parameter cases (one page,
 * more than one page, above the allocation limit, and the first and third
 * with coherent DMA), ttm_pool_alloc_basic_dma_addr over the same five,
 * ttm_pool_alloc_order_caching_match, ttm_pool_alloc_caching_mismatch,
 * ttm_pool_alloc_order_mismatch, ttm_pool_free_dma_alloc,
 * ttm_pool_free_no_dma_alloc and ttm_pool_fini_basic.
 * The kernel reads `page->private` (the chunk's order, or its DMA record
 * with coherent DMA: set on a chunk's first page only): here `page(i).head`
 * and `page(i).order`. `pool->caching[c].orders[o]` is `ownType(c, o)`.
 * free_no_dma_alloc asserts `list_is_singular` on a pool type that a pool
 * without coherent DMA never initialises (a zeroed list head passes that
 * test); the port asserts what it stands for: the pool's own type stays
 * empty and the chunk goes to the global uncached type of its order.
 * Skipped: nothing; the NUMA node (`nid`) is not modelled, so the
 * `pool->nid == NUMA_NO_NODE` check has no counterpart.
 */
import { describe, it, expect } from 'vitest'
import { MAX_PAGE_ORDER, TtmPools, type PageCaching } from '../lib/device/pool.js'

const engines = ['reference', 'native'] as const

const basicCases = [
  { description: 'One page', order: 0, dmaAlloc: false },
  { description: 'More than one page', order: 2, dmaAlloc: false },
  { description: 'Above the allocation limit', order: MAX_PAGE_ORDER + 1, dmaAlloc: false },
  { description: 'One page, with coherent DMA mappings enabled', order: 0, dmaAlloc: true },
  {
    description: 'Above the allocation limit, with coherent DMA mappings enabled',
    order: MAX_PAGE_ORDER + 1,
    dmaAlloc: true,
  },
]

describe.each(engines)('%s engine', (engine) => {
  /** ttm_pool_pre_populated: a dmaAlloc pool that has had one tt of `pages` pages alloced and freed. */
  const prePopulated = (pages: number, caching: PageCaching) => {
    const pools = new TtmPools({ engine })
    const pool = pools.createPool({ dmaAlloc: true })
    pool.free(pool.alloc(pages, caching))
    return { pools, pool }
  }

  describe('ttm_pool (KUnit)', () => {
    it('MAX_PAGE_ORDER is 10 (x86-64, 4 KiB pages)', () => {
      expect(MAX_PAGE_ORDER).toBe(10)
    })

    it.each(basicCases)('alloc_basic: $description', ({ order, dmaAlloc }) => {
      const pools = new TtmPools({ engine })
      const pool = pools.createPool({ dmaAlloc })
      expect(pool.dmaAlloc).toBe(dmaAlloc)
      const expected = 2 ** order
      const tt = pool.alloc(expected, 'uc')
      expect(tt.numPages).toBe(expected)
      const first = tt.page(0)
      const last = tt.page(tt.numPages - 1)
      if (order <= MAX_PAGE_ORDER) {
        // One chunk: its first page carries the order (or the DMA record).
        expect(first).toMatchObject({ head: true, order })
        if (dmaAlloc) expect(last.head).toBe(true)
      } else {
        // Chunks of MAX_PAGE_ORDER: the last page is no chunk's head.
        expect(first).toMatchObject({ head: true, order: Math.min(MAX_PAGE_ORDER, order) })
        expect(last.head).toBe(false)
        expect(tt.chunks().map((c) => c.order)).toEqual([10, 10])
      }
      pool.free(tt)
      pool.fini()
      expect(pool.finished).toBe(true)
    })

    it.each(basicCases)('alloc_basic_dma_addr: $description', ({ order }) => {
      const pools = new TtmPools({ engine })
      const pool = pools.createPool({ dmaAlloc: true })
      const tt = pool.alloc(2 ** order, 'uc')
      expect(tt.numPages).toBe(2 ** order)
      const dma1 = tt.page(0).dma
      const dma2 = tt.page(tt.numPages - 1).dma
      expect(dma1).not.toBe(0n)
      expect(dma2).not.toBe(0n)
      // Within a chunk, pages follow each other on the bus.
      const c = tt.chunks().at(-1)!
      expect(dma2).toBe(c.dma + BigInt(2 ** c.order - 1) * 4096n)
      pool.free(tt)
      pool.fini()
    })

    it('alloc_order_caching_match: the pooled page is taken back', () => {
      const { pool } = prePopulated(1, 'uc')
      expect(pool.ownType('uc', 0)).toBeGreaterThan(0)
      const tt = pool.alloc(1, 'uc')
      expect(pool.ownType('uc', 0)).toBe(0)
      expect(tt.chunks()[0].fromPool).toBe(true)
      pool.free(tt)
      pool.fini()
    })

    it('alloc_caching_mismatch: a cached page is not taken for an uncached tt', () => {
      const { pool } = prePopulated(1, 'cached')
      expect(pool.ownType('cached', 0)).toBeGreaterThan(0)
      expect(pool.ownType('uc', 0)).toBe(0)
      const tt = pool.alloc(1, 'uc')
      expect(tt.chunks()[0].fromPool).toBe(false)
      pool.free(tt)
      expect(pool.ownType('cached', 0)).toBeGreaterThan(0)
      expect(pool.ownType('uc', 0)).toBeGreaterThan(0)
      pool.fini()
    })

    it('alloc_order_mismatch: an order-2 chunk is not split for a one-page tt', () => {
      const { pool } = prePopulated(4, 'uc')
      expect(pool.ownType('uc', 2)).toBeGreaterThan(0)
      expect(pool.ownType('uc', 0)).toBe(0)
      const tt = pool.alloc(1, 'uc')
      pool.free(tt)
      expect(pool.ownType('uc', 2)).toBeGreaterThan(0)
      expect(pool.ownType('uc', 0)).toBeGreaterThan(0)
      pool.fini()
    })

    it('free_dma_alloc: with coherent DMA the freed chunk goes to the pool type', () => {
      const pools = new TtmPools({ engine })
      const pool = pools.createPool({ dmaAlloc: true })
      const tt = pool.alloc(4, 'uc')
      expect(pool.ownType('uc', 2)).toBe(0)
      pool.free(tt)
      expect(pool.ownType('uc', 2)).toBeGreaterThan(0)
      pool.fini()
    })

    it('free_no_dma_alloc: without coherent DMA the own types stay unused, the global one gets the chunk', () => {
      const pools = new TtmPools({ engine })
      const pool = pools.createPool({ dmaAlloc: false })
      const tt = pool.alloc(4, 'uc')
      expect(pool.ownType('uc', 2)).toBe(0)
      expect(pools.globalType('uc', 2)).toBe(0)
      pool.free(tt)
      expect(pool.ownType('uc', 2)).toBe(0)
      expect(pools.globalType('uc', 2)).toBe(1)
      pool.fini()
      // fini empties only a pool's own types: the global one keeps the chunk.
      expect(pools.globalType('uc', 2)).toBe(1)
    })

    it('fini_basic: fini empties the pool types', () => {
      const { pools, pool } = prePopulated(1, 'uc')
      expect(pool.ownType('uc', 0)).toBeGreaterThan(0)
      pool.fini()
      expect(pools.pooledPages).toBe(0)
      expect(pools.types().some((t) => t.owner === pool)).toBe(false)
    })
  })
})
