/**
 * ttm-pool wired into the device (`new Device({ pool })`), on both engines:
 * a buffer's tt is populated from the pool when a move puts it in GTT (a
 * use_tt type other than SYSTEM), kept when it moves on to SYSTEM, and its
 * chunks go back to the pool when it moves to VRAM, is swapped out or is
 * freed. A seeded random walk compares the engines' pool totals step by
 * step. Without `pool` the device reports none.
 */
import { describe, it, expect } from 'vitest'
import { Device } from '../lib/device/device.js'
import type { GemObject } from '../lib/device/gem.js'
import { SplitMix64 } from '../lib/base/prng.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const
const M = 1n << 20n

const place = (d: Device, bo: GemObject, domain: 'system' | 'gtt' | 'vram') => {
  bo.resv.lock()
  d.validate(bo, [{ domain }])
  bo.resv.unlock()
}

describe.each(engines)('%s engine', (engine) => {
  it('GTT populates from the pool, VRAM gives the pages back, GTT again reuses them', () => {
    const d = new Device({ engine, memory: { vram: M, gtt: M }, pool: {} })
    const bo = d.createObject({ size: 16n * 1024n })
    expect(d.pool()).toMatchObject({ inUse: 0, fresh: 0 })
    place(d, bo, 'gtt')
    expect(d.pool()).toMatchObject({ inUse: 4, fresh: 4, cachingSet: 4, pooled: 0 })
    place(d, bo, 'system')
    expect(d.pool()).toMatchObject({ inUse: 4, pooled: 0 })
    place(d, bo, 'vram')
    expect(d.pool()).toMatchObject({ inUse: 0, pooled: 4 })
    place(d, bo, 'gtt')
    expect(d.pool()).toMatchObject({ inUse: 4, pooled: 0, reused: 4, fresh: 4 })
    bo.put()
    expect(d.pool()).toMatchObject({ inUse: 0, pooled: 4 })
  })

  it('a swapped-out buffer gives its pages back; cached pages without dmaAlloc go to the system', () => {
    const d = new Device({ engine, memory: { vram: M, gtt: M }, pool: { caching: 'cached' } })
    d.setSwap({})
    const bo = d.createObject({ size: 8n * 1024n })
    place(d, bo, 'gtt')
    place(d, bo, 'system')
    expect(d.swapout(8n * 1024n)).toBe(8n * 1024n)
    expect(d.pool()).toMatchObject({ inUse: 0, pooled: 0, released: 2, cachingSet: 0 })
  })

  it('no pool: nothing reported; bad pool options are EINVAL', () => {
    expect(new Device({ engine }).pool()).toBeNull()
    expect(errnoOf(() => new Device({ engine, pool: { caching: 'wb' as 'wc' } }))).toBe('EINVAL')
    expect(errnoOf(() => new Device({ engine, pool: { pagePoolSize: -1 } }))).toBe('EINVAL')
    expect(errnoOf(() => new Device({ engine, pool: { dmaAlloc: 'yes' as unknown as boolean } }))).toBe('EINVAL')
  })
})

describe('device page pools: native vs reference', () => {
  it('a random walk of validates and frees keeps the pool totals equal', () => {
    for (const seed of [1n, 2n, 3n, 4n]) {
      const rng = new SplitMix64(seed)
      const devs = engines.map(
        (engine) =>
          new Device({ engine, memory: { vram: 256n * 1024n, gtt: 256n * 1024n }, pool: { pagePoolSize: 32 } }),
      )
      const objs = devs.map(() => [] as (GemObject | null)[])
      for (let step = 0; step < 150; step++) {
        const r = Number(rng.next() % 100n)
        const slot = Number(rng.next() % 8n)
        const domain = (['system', 'gtt', 'vram'] as const)[Number(rng.next() % 3n)]
        const size = 4096n * (1n + (rng.next() % 40n))
        const outcomes = devs.map((d, i) => {
          const o = objs[i]
          try {
            if (o[slot] === undefined || o[slot] === null) o[slot] = d.createObject({ size })
            else if (r < 15) {
              o[slot]?.put()
              o[slot] = null
            } else place(d, o[slot] as GemObject, domain)
            return 'ok'
          } catch (e) {
            return (e as { errno?: string }).errno ?? String(e)
          }
        })
        expect(outcomes[1]).toBe(outcomes[0])
        expect(devs[1].pool()).toEqual(devs[0].pool())
      }
      const t = devs[0].pool()
      expect([t?.fresh, t?.reused, t?.shrunk].every((n) => (n ?? 0) > 0)).toBe(true)
    }
  })
})
