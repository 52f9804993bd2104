/**
 * Ports of the kernel's drm_buddy KUnit cases (drivers/gpu/drm/tests/drm_buddy_test.c)
 * about clear/dirty tracking, on both engines, through the public API.
 *
 * Ported here:
 * - drm_test_buddy_alloc_clear: cleared/dirty lists kept apart, going over the
 *   cleared limit, force merge of an alternating cleared/dirty address space for
 *   every order (the result is dirty), and the multi-root case whose force merge
 *   the kernel runs in drm_buddy_fini (here: resetClear, which merges the same way).
 * - drm_test_buddy_alloc_range_bias, its clear part: CLEAR | RANGE with nothing
 *   cleared falls back to dirty blocks.
 * - drm_test_buddy_alloc_clear, its reset part: on a non-power-of-two size, every
 *   other page allocated and freed as cleared, then drm_buddy_reset_clear to dirty
 *   (nothing cleared left) and, after the other pages, to cleared (all of it);
 *   plus resetClear on a power-of-two size with memory held.
 * Ported in buddy.spec.ts: limit, optimistic, pessimistic, pathological,
 * alloc_contiguous, alloc_range_bias (without clear), exceeds_max_order, alloc_range.
 * Not ported: drm_test_buddy_fragmentation_performance (a timing test; speed
 * goes to bench/), the kernel's random block-size stress with kmemleak checks.
 */

import { describe, expect, it } from 'vitest'
import { BuddyAllocator, type BuddyBlock } from '../lib/index.js'
import { errnoOf } from './errno.js'

const PS = 4096n

/** A small deterministic PRNG so failures replay. */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

const bytes = (bs: BuddyBlock[], clear?: boolean) =>
  bs.filter((b) => clear === undefined || b.clear === clear).reduce((s, b) => s + b.size, 0n)

/** What the free lists say is cleared must be what the counter says. */
function checkCounters(mm: BuddyAllocator): void {
  const free = mm.freeBlocks()
  expect(free.reduce((s, b) => s + b.size, 0n)).toBe(mm.avail)
  expect(free.filter((b) => b.clear).reduce((s, b) => s + b.size, 0n)).toBe(mm.clearAvail)
}

describe.each(['native', 'reference'] as const)('drm_buddy KUnit ports (%s)', (engine) => {
  const make = (size: bigint) => new BuddyAllocator({ size, chunkSize: PS, engine })

  it('alloc_clear: cleared and dirty requests get what they ask for, within the cleared supply', () => {
    const mm = make(PS << 12n)
    const first = mm.alloc({ size: 5n * PS })
    expect(first.every((b) => !b.clear)).toBe(true)
    mm.free(first, { cleared: true })
    expect(mm.clearAvail).toBe(5n * PS)
    const clean: BuddyBlock[] = []
    const dirty: BuddyBlock[] = []
    for (let i = 0; i < 10; i++) {
      if (i % 2 === 0) clean.push(...mm.alloc({ size: PS, clear: true }))
      else dirty.push(...mm.alloc({ size: PS }))
    }
    expect(clean.every((b) => b.clear)).toBe(true)
    expect(dirty.every((b) => !b.clear)).toBe(true)
    expect(mm.clearAvail).toBe(0n)
    mm.free(clean, { cleared: true })
    mm.free(dirty)
    expect(mm.clearAvail).toBe(5n * PS)
    checkCounters(mm)
    // Over the cleared limit: still served, partly from dirty memory.
    const big = mm.alloc({ size: 10n * PS, clear: true })
    expect(bytes(big)).toBe(10n * PS)
    expect(bytes(big, true)).toBeLessThanOrEqual(5n * PS)
    expect(mm.clearAvail).toBe(5n * PS - bytes(big, true))
    checkCounters(mm)
    mm.free(big, { cleared: true })
    checkCounters(mm)
  })

  it('alloc_clear: force merge serves every order from an alternating cleared/dirty space', () => {
    const mm = make(PS << 12n)
    const clean: BuddyBlock[] = []
    const dirty: BuddyBlock[] = []
    for (let i = 0; i < 4096; i++) (i % 2 === 0 ? dirty : clean).push(...mm.alloc({ size: PS }))
    mm.free(clean, { cleared: true })
    mm.free(dirty)
    expect(mm.clearAvail).toBe(2048n * PS)
    // No two free pages are merged: their buddies differ in state.
    expect(mm.freeBlocks()).toHaveLength(4096)
    for (let order = 1n; order <= BigInt(mm.maxOrder); order++) {
      const size = PS << order
      const got = mm.alloc({ size, minBlockSize: size, clear: true })
      expect(bytes(got)).toBe(size)
      if (size !== mm.size) expect(got.every((b) => !b.clear)).toBe(true)
      mm.free(got)
      checkCounters(mm)
    }
    expect(mm.clearAvail).toBe(0n)
    expect(mm.freeBlocks()).toEqual([{ offset: 0n, size: mm.size, order: mm.maxOrder, clear: false }])
  })

  it('alloc_clear: a block per root freed as cleared; the teardown merge restores both roots', () => {
    const maxOrder = 12n
    const size = (PS << maxOrder) + (PS << (maxOrder - 2n))
    const mm = make(size)
    expect(mm.roots().map((r) => r.order)).toEqual([12, 10])
    const a = mm.alloc({ size: 4n * PS, range: { start: 0n, end: PS << maxOrder } })
    const b = mm.alloc({ size: 2n * PS, range: { start: PS << maxOrder, end: size } })
    mm.free([...a, ...b], { cleared: true })
    expect(mm.clearAvail).toBe(6n * PS)
    expect(mm.freeBlocks().length).toBeGreaterThan(2)
    mm.resetClear(false)
    expect(mm.clearAvail).toBe(0n)
    expect(mm.freeBlocks()).toEqual(mm.roots().map((r) => ({ ...r, clear: false })))
  })

  it('alloc_range_bias: CLEAR | RANGE with nothing cleared falls back to dirty blocks', () => {
    const mmSize = PS << 12n
    const rand = rng(0xb1a5)
    for (let round = 0; round < 20; round++) {
      const mm = make(mmSize)
      const up = (x: bigint) => ((x + PS - 1n) / PS) * PS
      const r = (n: bigint) => BigInt(Math.floor(rand() * Number(n)))
      const biasStart = up(r(mmSize - PS))
      let biasEnd = up(biasStart + r(mmSize - biasStart))
      if (biasEnd < biasStart + PS) biasEnd = biasStart + PS
      const size = up(r(biasEnd - biasStart)) > PS ? up(r(biasEnd - biasStart)) : PS
      const got = mm.alloc({ size, range: { start: biasStart, end: biasEnd }, clear: true })
      expect(bytes(got)).toBe(size)
      for (const b of got) {
        expect(b.clear).toBe(false)
        expect(b.offset).toBeGreaterThanOrEqual(biasStart)
        expect(b.end).toBeLessThanOrEqual(biasEnd)
      }
      mm.free(got)
      expect(mm.freeBlocks()).toEqual(mm.roots().map((x) => ({ ...x, clear: false })))
    }
  })

  it('alloc_clear, reset part: alternate pages freed as cleared, then reset to dirty and to cleared', () => {
    const maxOrder = 12n
    const mmSize = (PS << maxOrder) + (PS << (maxOrder - 2n))
    const mm = make(mmSize)
    expect(mm.maxOrder).toBe(12)
    const nPages = Number(mmSize / PS)
    const even: BuddyBlock[] = []
    for (let i = 0; i < nPages; i += 2) even.push(...mm.alloc({ size: PS }))
    mm.free(even, { cleared: true })
    expect(mm.clearAvail).toBe(BigInt(nPages / 2) * PS)
    mm.resetClear(false)
    expect(mm.clearAvail).toBe(0n)
    expect(mm.freeBlocks()).toEqual(mm.roots().map((r) => ({ ...r, clear: false })))
    const odd: BuddyBlock[] = []
    for (let i = 1; i < nPages; i += 2) odd.push(...mm.alloc({ size: PS }))
    mm.free(odd, { cleared: true })
    mm.resetClear(true)
    expect(mm.clearAvail).toBe(mmSize)
    expect(mm.freeBlocks()).toEqual(mm.roots().map((r) => ({ ...r, clear: true })))
  })

  it('reset_clear: all free memory marked cleared, then dirty, whatever the size', () => {
    for (const size of [PS << 12n, (PS << 12n) + (PS << 9n) + PS]) {
      const mm = make(size)
      const pages = Number(size / PS)
      const held: BuddyBlock[] = []
      for (let i = 0; i < pages; i++) held.push(...mm.alloc({ size: PS }))
      mm.free(held.slice(0, pages / 2), { cleared: true })
      mm.free(held.slice(pages / 2))
      mm.resetClear(true)
      expect(mm.clearAvail).toBe(size)
      expect(mm.freeBlocks()).toEqual(mm.roots().map((r) => ({ ...r, clear: true })))
      mm.resetClear(false)
      expect(mm.clearAvail).toBe(0n)
      expect(mm.freeBlocks()).toEqual(mm.roots().map((r) => ({ ...r, clear: false })))
      // With something allocated, only the free part changes.
      const kept = mm.alloc({ size: 3n * PS, clear: true })
      mm.resetClear(true)
      expect(mm.clearAvail).toBe(size - 3n * PS)
      expect(kept.every((b) => !b.clear)).toBe(true)
      checkCounters(mm)
    }
  })

  it('a cleared buddy is not merged with a dirty one until an allocation needs it', () => {
    const mm = make(4n * PS)
    const [a] = mm.alloc({ size: PS })
    const [b] = mm.alloc({ size: PS })
    const [c] = mm.alloc({ size: 2n * PS })
    expect([a.offset, b.offset, c.offset]).toEqual([3n * PS, 2n * PS, 0n])
    mm.free(a, { cleared: true })
    mm.free(b)
    expect(mm.freeBlocks()).toEqual([
      { offset: 2n * PS, size: PS, order: 0, clear: false },
      { offset: 3n * PS, size: PS, order: 0, clear: true },
    ])
    const [m] = mm.alloc({ size: 2n * PS, minBlockSize: 2n * PS })
    expect([m.offset, m.size, m.clear]).toEqual([2n * PS, 2n * PS, false])
    expect(mm.clearAvail).toBe(0n)
  })

  it('bad input to the clear API: EINVAL-typed, nothing changes', () => {
    const mm = make(16n * PS)
    const got = mm.alloc({ size: PS })
    const before = [mm.stats(), mm.freeBlocks()]
    expect(errnoOf(() => mm.free(got, { cleared: 1 as unknown as boolean }))).toBe('EINVAL')
    expect(errnoOf(() => mm.alloc({ size: PS, clear: 'yes' as unknown as boolean }))).toBe('EINVAL')
    expect(errnoOf(() => mm.resetClear('no' as unknown as boolean))).toBe('EINVAL')
    expect([mm.stats(), mm.freeBlocks()]).toEqual(before)
    expect(got[0].allocated).toBe(true)
  })
})
