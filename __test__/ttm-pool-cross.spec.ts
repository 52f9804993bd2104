/**
 * The native and reference TTM page pools on random sequences of pool
 * creation, tt alloc / free (double frees included), shrinker scans and
 * pool fini: every call gives the same result or error on both engines,
 * the pool types (in shrinker order), the totals and every populated tt's
 * chunks agree (and a freed tt's are gone: its free fails) after each step, and page accounting holds: pages live
 * (fresh - released) are pooled or in use, and the pool types hold the
 * pooled pages.
 */
import fc from 'fast-check'
import { describe, it, expect } from 'vitest'
import type { PageCaching, PoolCore } from '../lib/contract/pool.js'
import { NativePoolsCore } from '../lib/native/pool.js'
import { ReferencePools } from '../lib/reference/device/pool.js'
import { outcomeOf } from './errno.js'

type Cmd =
  | { c: 'create'; dmaAlloc: boolean; dma32: boolean }
  | { c: 'alloc'; pool: number; pages: number; caching: PageCaching }
  | { c: 'free'; tt: number }
  | { c: 'shrink'; n: number }
  | { c: 'fini'; pool: number }

const caching = fc.constantFrom<PageCaching>('uc', 'wc', 'cached')
const pages = fc.oneof(
  fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 16, 1023, 1024, 1025, 2048 + 3),
  fc.integer({ min: 1, max: 300 }),
)
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    arbitrary: fc.record({ c: fc.constant('create' as const), dmaAlloc: fc.boolean(), dma32: fc.boolean() }),
    weight: 1,
  },
  { arbitrary: fc.record({ c: fc.constant('alloc' as const), pool: fc.nat(3), pages, caching }), weight: 6 },
  { arbitrary: fc.record({ c: fc.constant('free' as const), tt: fc.nat(40) }), weight: 6 },
  { arbitrary: fc.record({ c: fc.constant('shrink' as const), n: fc.constantFrom(0, 1, 3, 16, 600) }), weight: 1 },
  { arbitrary: fc.record({ c: fc.constant('fini' as const), pool: fc.nat(4) }), weight: 1 },
)

function run(core: PoolCore, cmd: Cmd, tts: number[]): unknown {
  switch (cmd.c) {
    case 'create':
      return core.createPool(cmd.dmaAlloc, cmd.dma32)
    case 'alloc':
      return core.alloc(cmd.pool, cmd.pages, cmd.caching)
    case 'free':
      // Ids of tts made so far (freed ones included), or one never made.
      return core.free(tts[cmd.tt % (tts.length + 1)] ?? 999)
    case 'shrink':
      return core.shrink(cmd.n)
    case 'fini':
      return core.fini(cmd.pool)
  }
}

function check(native: PoolCore, ref: PoolCore, live: Set<number>): void {
  const totals = ref.totals()
  expect(native.totals()).toEqual(totals)
  const types = ref.types()
  // One string per side: deep equality of a hundred records per step is the slow part.
  const key = (ts: typeof types) => ts.map((t) => `${t.owner}:${t.caching}:${t.order}:${t.chunks}`).join(' ')
  expect(key(native.types())).toBe(key(types))
  expect(types.reduce((s, t) => s + t.chunks * 2 ** t.order, 0)).toBe(totals.pooled)
  expect(totals.fresh - totals.released).toBe(totals.pooled + totals.inUse)
  expect(totals.pooled).toBeLessThanOrEqual(totals.pagePoolSize)
  let inUse = 0
  for (const tt of live) {
    const chunks = ref.chunks(tt)
    const key = (cs: typeof chunks) => cs.map((c) => `${c.order}:${c.dma}:${c.fromPool}`).join(' ')
    expect(key(native.chunks(tt))).toBe(key(chunks))
    inUse += chunks.reduce((s, c) => s + 2 ** c.order, 0)
  }
  expect(inUse).toBe(totals.inUse)
}

describe('TTM page pools: native vs reference', () => {
  it('random alloc / free / shrink / fini sequences agree step by step', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 64, 5000, 2 ** 20, 2 ** 20),
        fc.array(fc.record({ dmaAlloc: fc.boolean(), dma32: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        fc.array(cmd, { minLength: 20, maxLength: 80 }),
        (pagePoolSize, pools, cmds) => {
          const native = new NativePoolsCore(pagePoolSize)
          const ref = new ReferencePools(pagePoolSize)
          for (const p of pools)
            expect(native.createPool(p.dmaAlloc, p.dma32)).toBe(ref.createPool(p.dmaAlloc, p.dma32))
          const tts: number[] = []
          const live = new Set<number>()
          for (const c of cmds) {
            const r = outcomeOf(() => run(ref, c, tts))
            expect(outcomeOf(() => run(native, c, tts))).toEqual(r)
            if (c.c === 'alloc' && 'ok' in r) {
              tts.push(r.ok as number)
              live.add(r.ok as number)
            }
            if (c.c === 'free' && 'ok' in r) live.delete(tts[c.tt % (tts.length + 1)])
            check(native, ref, live)
          }
        },
      ),
      { numRuns: 80, seed: 0x7a11 },
    )
  })
})
