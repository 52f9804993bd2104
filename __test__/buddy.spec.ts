/**
 * BuddyAllocator (drm_buddy) on both engines, after the kernel's drm_buddy
 * KUnit cases: limit, optimistic, pessimistic, pathological, contiguous,
 * range bias and exceeds-max-order, plus init, argument and trim rules.
 */

import { describe, expect, it } from 'vitest'
import { BuddyAllocator, U64_MAX, type BuddyBlock } from '../lib/index.js'
import { errnoOf } from './errno.js'

const PS = 4096n
const MiB = 1n << 20n

const total = (bs: BuddyBlock[]) => bs.reduce((s, b) => s + b.size, 0n)

describe.each(['native', 'reference'] as const)('BuddyAllocator (%s)', (engine) => {
  const make = (size: bigint, chunkSize = PS) => new BuddyAllocator({ size, chunkSize, engine })
  /** An order-o request: size = min = 2^o chunks. */
  const order = (mm: BuddyAllocator, o: number) => mm.alloc({ size: PS << BigInt(o), minBlockSize: PS << BigInt(o) })

  it('init: chunk rules, rounding down, one root per set bit', () => {
    expect(errnoOf(() => make(PS - 1n))).toBe('EINVAL')
    expect(errnoOf(() => make(MiB, 2048n))).toBe('EINVAL')
    expect(errnoOf(() => make(MiB, 3n * PS))).toBe('EINVAL')
    const mm = make(12n * PS + 100n)
    expect(mm.size).toBe(12n * PS)
    expect(mm.maxOrder).toBe(3)
    expect(mm.roots()).toEqual([
      { offset: 0n, size: 8n * PS, order: 3 },
      { offset: 8n * PS, size: 4n * PS, order: 2 },
    ])
    expect(mm.stats()).toMatchObject({ avail: 12n * PS, used: 0n, largestFree: 8n * PS, freeBlocks: 2 })
  })

  it('limit: a U64_MAX allocator has max order 51 and serves one block of it', () => {
    const mm = make(U64_MAX)
    expect(mm.maxOrder).toBe(51)
    expect(mm.roots()).toHaveLength(52)
    const got = mm.alloc({ size: PS << 51n })
    expect(got).toHaveLength(1)
    expect(got[0].order).toBe(51)
    expect(got[0].size).toBe(PS << 51n)
  })

  it('optimistic: one block of every order fills 2^17 - 1 pages exactly', () => {
    const mm = make(PS * ((1n << 17n) - 1n))
    expect(mm.maxOrder).toBe(16)
    for (let o = 0; o <= 16; o++) expect(order(mm, o)[0].order).toBe(o)
    expect(errnoOf(() => order(mm, 0))).toBe('ENOSPC')
    expect(mm.avail).toBe(0n)
  })

  it('pessimistic: full, then each free makes exactly the next order possible', () => {
    const mm = make(PS << 16n)
    const held = [...Array(16).keys()].map((o) => order(mm, o))
    const last = order(mm, 0)
    for (let o = 0; o <= 16; o++)
      expect(
        errnoOf(() => order(mm, o)),
        `order ${o}`,
      ).toBe('ENOSPC')
    mm.free(last)
    held.forEach((b, o) => {
      mm.free(b)
      const got = order(mm, o + 1)
      mm.free(got)
    })
    expect(order(mm, 16)[0]).toMatchObject({ offset: 0n, order: 16 })
  })

  it('pathological: a 50% fragmented allocator serves no order above 0', () => {
    const mm = make(8n * PS)
    const blocks: BuddyBlock[][] = []
    const holes: BuddyBlock[][] = []
    for (let top = 3; top >= 1; top--) {
      const largest = blocks.shift()
      if (largest) mm.free(largest)
      for (let o = top - 1; o >= 0; o--) blocks.push(order(mm, o))
      holes.push(order(mm, 0))
      expect(errnoOf(() => order(mm, top))).toBe('ENOSPC')
    }
    for (const h of holes) mm.free(h)
    for (let o = 1; o <= 3; o++) expect(errnoOf(() => order(mm, o))).toBe('ENOSPC')
    // Three single pages are free, none adjacent to another.
    expect(mm.stats().fragmentation).toBeCloseTo(1 - 1 / 3)
  })

  it('contiguous: try-harder joins non-buddy neighbours', () => {
    const mm = make(48n * PS)
    const lists: BuddyBlock[][] = [[], [], []]
    for (let i = 0; i < 48; i++) lists[i % 3].push(...mm.alloc({ size: PS }))
    const [l, m, r] = lists
    expect(errnoOf(() => mm.alloc({ size: 3n * PS, contiguous: true }))).toBe('ENOSPC')
    mm.free(m)
    expect(errnoOf(() => mm.alloc({ size: 3n * PS, contiguous: true }))).toBe('ENOSPC')
    expect(errnoOf(() => mm.alloc({ size: 2n * PS, contiguous: true }))).toBe('ENOSPC')
    mm.free(r)
    expect(errnoOf(() => mm.alloc({ size: 3n * PS, contiguous: true }))).toBe('ENOSPC')
    const two = mm.alloc({ size: 2n * PS, contiguous: true })
    mm.free(l)
    const three = mm.alloc({ size: 3n * PS, contiguous: true })
    expect(total(two) + total(three)).toBe(5n * PS)
    for (const run of [two, three]) {
      const sorted = [...run].sort((a, b) => (a.offset < b.offset ? -1 : 1))
      for (let i = 1; i < sorted.length; i++) expect(sorted[i].offset).toBe(sorted[i - 1].end)
    }
  })

  it('contiguous rounds up to a power of two, then trims back (unless told not to)', () => {
    const mm = make(16n * PS)
    const got = mm.alloc({ size: 5n * PS, contiguous: true })
    expect(total(got)).toBe(5n * PS)
    expect(mm.avail).toBe(11n * PS)
    const kept = mm.alloc({ size: 3n * PS, contiguous: true, trimDisable: true })
    expect(total(kept)).toBe(4n * PS)
  })

  it('topdown takes the highest free blocks, bottom-up the right half of the smallest fit', () => {
    const mm = make(16n * PS)
    expect(mm.alloc({ size: PS, topdown: true })[0].offset).toBe(15n * PS)
    expect(mm.alloc({ size: 4n * PS, topdown: true })[0].offset).toBe(8n * PS)
    // Bottom-up: the smallest order with a free block is 0 ([14p]); its highest block.
    expect(mm.alloc({ size: PS })[0].offset).toBe(14n * PS)
  })

  it('range bias: per 1 MiB window, the kernel case list', () => {
    const mm = make(8n * MiB - PS)
    const windows = [3, 0, 6, 1, 5, 2, 4]
    for (const w of windows) {
      const start = BigInt(w) * MiB
      const end = start + MiB
      const range = { start, end }
      const before = mm.stats()
      expect(errnoOf(() => mm.alloc({ size: MiB + PS, minBlockSize: MiB, range }))).toBe('ENOSPC')
      expect(errnoOf(() => mm.alloc({ size: MiB + PS, range }))).toBe('ENOSPC')
      expect(errnoOf(() => mm.alloc({ size: MiB, range: { start: start + PS, end } }))).toBe('ENOSPC')
      expect(
        errnoOf(() =>
          mm.alloc({ size: MiB / 2n, minBlockSize: MiB / 2n, range: { start: start + PS, end: end - PS } }),
        ),
      ).toBe('ENOSPC')
      expect(mm.stats()).toEqual(before)
      const whole = mm.alloc({ size: MiB, minBlockSize: MiB, range })
      expect(whole.map((b) => [b.offset, b.size])).toEqual([[start, MiB]])
      mm.free(whole)
      const small = mm.alloc({ size: PS, minBlockSize: MiB, range })
      expect(total(small)).toBe(PS)
      mm.free(small)
      const size = BigInt(1 + ((w * 37) % 200)) * PS
      const got = mm.alloc({ size, range })
      expect(total(got)).toBe(size)
      for (const b of got) {
        expect(b.offset).toBeGreaterThanOrEqual(start)
        expect(b.end).toBeLessThanOrEqual(end)
      }
      expect(errnoOf(() => mm.alloc({ size: MiB - size + PS, range }))).toBe('ENOSPC')
    }
    // Fill what is left with a growing window; then not one page fits.
    let at = 0n
    while (mm.avail > 0n) {
      at = at + MiB > mm.size ? mm.size : at + MiB
      const s = mm.stats()
      for (const b of mm.freeBlocks())
        if (b.offset + b.size <= at) mm.alloc({ size: b.size, range: { start: 0n, end: at } })
      expect(mm.stats().avail).toBeLessThanOrEqual(s.avail)
    }
    expect(errnoOf(() => mm.alloc({ size: PS }))).toBe('ENOSPC')
  })

  it('exact range when end - start == size, with or without RANGE', () => {
    const mm = make(64n * PS)
    const got = mm.alloc({ size: 6n * PS, range: { start: 4n * PS, end: 10n * PS } })
    expect(got.map((b) => [b.offset, b.size])).toEqual([
      [4n * PS, 4n * PS],
      [8n * PS, 2n * PS],
    ])
    expect(errnoOf(() => mm.alloc({ size: PS, range: { start: 6n * PS, end: 7n * PS } }))).toBe('ENOSPC')
    expect(errnoOf(() => mm.alloc({ size: 2n * PS, minBlockSize: 2n * PS, range: { start: PS, end: 3n * PS } }))).toBe(
      'EINVAL',
    )
    mm.free(got)
    expect(mm.freeBlocks()).toEqual([{ offset: 0n, size: 64n * PS, order: 6, clear: false }])
  })

  it('exceeds max order: EINVAL, except plain contiguous which tries harder', () => {
    const mm = make(10n * PS)
    expect(errnoOf(() => mm.alloc({ size: 9n * PS, minBlockSize: 8n * PS }))).toBe('EINVAL')
    expect(errnoOf(() => mm.alloc({ size: 9n * PS, range: { start: 0n, end: 10n * PS }, minBlockSize: 8n * PS }))).toBe(
      'EINVAL',
    )
    expect(errnoOf(() => mm.alloc({ size: 9n * PS, contiguous: true, range: { start: 0n, end: 10n * PS } }))).toBe(
      'EINVAL',
    )
    const got = mm.alloc({ size: 9n * PS, contiguous: true })
    expect(total(got)).toBe(9n * PS)
  })

  it('argument errors are EINVAL and change nothing', () => {
    const mm = make(64n * PS)
    const held = mm.alloc({ size: PS })
    const before = [mm.stats(), mm.freeBlocks()]
    const bad = [
      { size: PS - 1n },
      { size: PS, minBlockSize: PS / 2n },
      { size: 2n * PS, minBlockSize: 3n * PS },
      { size: PS, range: { start: 1n, end: 64n * PS } },
      { size: PS, range: { start: 0n, end: 65n * PS } },
      { size: PS, range: { start: 64n * PS, end: 64n * PS } },
      { size: 65n * PS },
      { size: -1n },
      { size: 4096 as unknown as bigint },
    ]
    for (const req of bad)
      expect(
        errnoOf(() => mm.alloc(req)),
        JSON.stringify(req, (_, v) => String(v)),
      ).toBe('EINVAL')
    mm.free(held)
    expect(errnoOf(() => mm.free(held))).toBe('EINVAL')
    const two = mm.alloc({ size: PS })
    expect(errnoOf(() => mm.free([two[0], two[0]]))).toBe('EINVAL')
    expect(two[0].allocated).toBe(true)
    mm.free(two)
    expect([mm.stats(), mm.freeBlocks()]).toEqual([
      {
        ...(before[0] as object),
        avail: 64n * PS,
        used: 0n,
        allocatedBlocks: 0,
        freeBlocks: 1,
        largestFree: 64n * PS,
        fragmentation: 0,
      },
      [{ offset: 0n, size: 64n * PS, order: 6, clear: false }],
    ])
  })

  it('trim keeps the front of a block and frees the rest', () => {
    const mm = make(16n * PS)
    const [b] = mm.alloc({ size: 8n * PS, minBlockSize: 8n * PS })
    expect(errnoOf(() => mm.trim(b, 9n * PS))).toBe('EINVAL')
    expect(errnoOf(() => mm.trim(b, 0n))).toBe('EINVAL')
    expect(errnoOf(() => mm.trim(b, PS + 1n))).toBe('EINVAL')
    expect(mm.trim(b, 8n * PS)).toEqual([b])
    const pieces = mm.trim(b, 3n * PS)
    expect(pieces.map((p) => [p.offset - b.offset, p.size])).toEqual([
      [0n, 2n * PS],
      [2n * PS, PS],
    ])
    expect(b.allocated).toBe(false)
    expect(mm.avail).toBe(13n * PS)
    mm.free(pieces)
    expect(mm.freeBlocks()).toHaveLength(1)
  })
})
