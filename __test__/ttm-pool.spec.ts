/**
 * The TTM page-pool API (lib/device/pool.ts) on both engines: where chunks
 * go and come from (global vs own pool types, DMA32 twins, cached pages not
 * pooled), the caching transitions a fresh WC/UC page costs, the shrinker's
 * round robin, the trim to page_pool_size, fini, and bad input (typed
 * EINVAL / EBUSY that leaves the pools unchanged).
 */
import { describe, it, expect } from 'vitest'
import { TTM_SHRINKER_BATCH, TtmPool, TtmPools, TtmTt } from '../lib/device/pool.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const

describe.each(engines)('%s engine', (engine) => {
  it('a WC tt costs caching transitions when fresh and none when pooled', () => {
    const pools = new TtmPools({ engine })
    const pool = pools.createPool()
    const a = pool.alloc(5, 'wc')
    expect(a.chunks().map((c) => [c.order, c.fromPool])).toEqual([
      [2, false],
      [0, false],
    ])
    pool.free(a)
    expect(pools.globalType('wc', 2)).toBe(1)
    expect(pools.globalType('wc', 0)).toBe(1)
    const b = pool.alloc(5, 'wc')
    expect(b.chunks().every((c) => c.fromPool)).toBe(true)
    expect(pools.totals()).toEqual({
      pooled: 0,
      pagePoolSize: 2 ** 20,
      inUse: 5,
      fresh: 5,
      reused: 5,
      cachingSet: 5,
      cachingReset: 0,
      released: 0,
      shrunk: 0,
    })
  })

  it('where a freed chunk goes: own types with coherent DMA, else the global (DMA32) ones, cached nowhere', () => {
    const pools = new TtmPools({ engine })
    const dma = pools.createPool({ dmaAlloc: true })
    const plain = pools.createPool()
    const low = pools.createPool({ dma32: true })
    expect(['uc', 'wc', 'cached'].map((c) => dma.selectType(c as 'uc', 3))).toEqual(['own', 'own', 'own'])
    expect(['uc', 'wc', 'cached'].map((c) => plain.selectType(c as 'uc', 3))).toEqual(['global', 'global', null])
    expect(low.selectType('wc', 0)).toBe('global-dma32')
    const t = low.alloc(1, 'uc')
    expect(t.page(0).dma < 1n << 32n).toBe(true)
    expect(plain.alloc(1, 'uc').page(0).dma >= 1n << 32n).toBe(true)
    low.free(t)
    expect(pools.globalType('uc', 0, true)).toBe(1)
    expect(pools.globalType('uc', 0)).toBe(0)
    const c = plain.alloc(3, 'cached')
    plain.free(c)
    expect(pools.totals()).toMatchObject({ pooled: 1, released: 3, cachingReset: 0 })
    expect(dma.stats()).toHaveLength(33)
    expect(plain.stats()).toHaveLength(22)
  })

  it('pages of a chunk follow each other on the bus; a chunk is aligned to its size', () => {
    const pools = new TtmPools({ engine })
    const pool = pools.createPool({ dmaAlloc: true })
    const tt = pool.alloc(1024 + 6, 'uc')
    expect(tt.chunks().map((c) => c.order)).toEqual([10, 2, 1])
    expect(tt.page(1024)).toMatchObject({ chunk: 1, head: true, order: 2 })
    expect(tt.page(1027)).toMatchObject({ chunk: 1, head: false, order: 2 })
    expect(tt.page(1027).dma - tt.page(1024).dma).toBe(3n * 4096n)
    for (const c of tt.chunks()) expect(c.dma % (4096n << BigInt(c.order))).toBe(0n)
  })

  it('the shrinker walks pool types round robin, oldest chunk first', () => {
    const pools = new TtmPools({ engine })
    const pool = pools.createPool()
    const [a, b, c] = [pool.alloc(1, 'wc'), pool.alloc(1, 'wc'), pool.alloc(1, 'uc')]
    const first = a.page(0).dma
    for (const t of [a, b, c]) pool.free(t)
    // The head of the list is global wc order 0: one step frees its oldest chunk.
    expect(pools.shrink(1)).toBe(1)
    expect(pools.globalType('wc', 0)).toBe(1)
    expect(pool.alloc(1, 'wc').page(0).dma).not.toBe(first)
    expect(pools.types()[0]).toMatchObject({ owner: 'global', caching: 'uc', order: 0, chunks: 1 })
    expect(pools.shrink(10)).toBe(1)
    expect(pools.pooledPages).toBe(0)
    expect(pools.totals()).toMatchObject({ shrunk: 2, cachingReset: 2 })
  })

  it('shrink() scans TTM_SHRINKER_BATCH (352) pages by default', () => {
    expect(TTM_SHRINKER_BATCH).toBe(352)
    const pools = new TtmPools({ engine })
    const pool = pools.createPool()
    const tts = Array.from({ length: 400 }, () => pool.alloc(1, 'uc'))
    for (const t of tts) pool.free(t)
    expect(pools.shrink()).toBe(352)
    expect(pools.pooledPages).toBe(48)
  })

  it('free trims the pools back to page_pool_size', () => {
    const pools = new TtmPools({ engine, pagePoolSize: 4 })
    const pool = pools.createPool()
    const a = pool.alloc(4, 'uc')
    const b = pool.alloc(2, 'uc')
    pool.free(a)
    pool.free(b)
    // Over by 2: the round robin reaches uc order 1 first and frees its chunk.
    expect(pools.totals()).toMatchObject({ pooled: 4, shrunk: 2 })
    expect(pools.globalType('uc', 2)).toBe(1)
  })

  it('fini empties the own types only, and waits for the tts', () => {
    const pools = new TtmPools({ engine })
    const dma = pools.createPool({ dmaAlloc: true })
    const plain = pools.createPool()
    const t = dma.alloc(2, 'cached')
    plain.free(plain.alloc(2, 'uc'))
    expect(errnoOf(() => dma.fini())).toBe('EBUSY')
    dma.free(t)
    expect(pools.pooledPages).toBe(4)
    dma.fini()
    expect(pools.pooledPages).toBe(2)
    expect(pools.types()).toHaveLength(44)
    expect(errnoOf(() => dma.alloc(1, 'uc'))).toBe('EINVAL')
    expect(errnoOf(() => dma.fini())).toBe('EINVAL')
  })

  it('bad input is EINVAL and leaves the pools unchanged', () => {
    const pools = new TtmPools({ engine })
    const pool = pools.createPool({ dmaAlloc: true })
    const other = pools.createPool()
    const tt = pool.alloc(3, 'wc')
    const freed = pool.alloc(1, 'uc')
    pool.free(freed)
    const state = () => ({ totals: pools.totals(), types: pools.types().map((t) => t.chunks), chunks: tt.chunks() })
    const before = state()
    const bad: [string, () => unknown][] = [
      ['order -1', () => pool.ownType('uc', -1)],
      ['order above MAX_PAGE_ORDER', () => pool.ownType('uc', 11)],
      ['huge order', () => pools.globalType('wc', 2 ** 40)],
      ['fractional order', () => pool.selectType('uc', 1.5)],
      ['unknown caching', () => pool.alloc(1, 'wb' as 'uc')],
      ['no pages', () => pool.alloc(0, 'uc')],
      ['negative pages', () => pool.alloc(-4, 'uc')],
      ['too many pages', () => pool.alloc(2 ** 28 + 1, 'uc')],
      ['pages not a number', () => pool.alloc(4n as unknown as number, 'uc')],
      ['double free', () => pool.free(freed)],
      ['a tt of another pool', () => other.free(tt)],
      ['not a tt', () => pool.free({} as typeof tt)],
      ['chunks of a freed tt', () => freed.chunks()],
      ['page out of range', () => tt.page(3)],
      ['negative shrink', () => pools.shrink(-1)],
      ['bad pagePoolSize', () => new TtmPools({ engine, pagePoolSize: -1 })],
      ['bad dmaAlloc', () => pools.createPool({ dmaAlloc: 1 as unknown as boolean })],
      ['a pool made by hand', () => Reflect.construct(TtmPool, [Symbol('x'), {}, 0, false, false])],
      ['a tt made by hand', () => Reflect.construct(TtmTt, [Symbol('x'), pool, {}, 1, 1, 'uc'])],
    ]
    for (const [what, f] of bad) expect([what, errnoOf(f)]).toEqual([what, 'EINVAL'])
    expect(state()).toEqual(before)
    expect(tt.populated).toBe(true)
    expect(freed.populated).toBe(false)
  })
})
