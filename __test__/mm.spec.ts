/**
 * RangeAllocator (drm_mm) on both engines, after the kernel's drm_mm KUnit
 * cases: init, lowest/highest, the alignment loops (powers of two and not),
 * reserve and insert errors, insert in range, eviction scans (with and
 * without a range) and top-down / bottom-up order.
 */

import { describe, expect, it } from 'vitest'
import { RangeAllocator, U64_MAX, type InsertMode, type MmNode } from '../lib/index.js'
import { errnoOf } from './errno.js'

const MODES: InsertMode[] = ['best', 'low', 'high', 'evict']
const PRIMES = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n]

/** A small deterministic PRNG so failures replay. */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

/** Nodes tile [0, size) with no hole. */
function expectContinuous(mm: RangeAllocator): void {
  expect(mm.holes()).toEqual([])
  let at = mm.start
  for (const n of mm.nodes()) {
    expect(n.start).toBe(at)
    at = n.end
  }
  expect(at).toBe(mm.start + mm.size)
}

describe.each(['native', 'reference'] as const)('RangeAllocator (%s)', (engine) => {
  const make = (size: bigint, start = 0n) => new RangeAllocator({ start, size, engine })

  it('init: one hole, a full reserve, and back', () => {
    const mm = make(4096n)
    expect(mm.engine).toBe(engine)
    expect(mm.holes()).toEqual([{ start: 0n, size: 4096n }])
    expect(mm.nodes()).toEqual([])
    const n = mm.reserve({ start: 0n, size: 4096n })
    expect(mm.holes()).toEqual([])
    expect(mm.nodes()).toEqual([n])
    mm.remove(n)
    expect(n.allocated).toBe(false)
    expect(mm.holes()).toEqual([{ start: 0n, size: 4096n }])
    expect(errnoOf(() => make(0n))).toBe('EINVAL')
    expect(errnoOf(() => make(2n, U64_MAX - 1n))).toBe('EINVAL')
    expect(errnoOf(() => make(-1n))).toBe('EINVAL')
  })

  it('debug layout: two reserves leave three holes', () => {
    const mm = make(4096n)
    mm.reserve({ start: 512n, size: 1024n })
    mm.reserve({ start: 2560n, size: 1024n })
    expect(mm.holes()).toEqual([
      { start: 0n, size: 512n },
      { start: 1536n, size: 1024n },
      { start: 3584n, size: 512n },
    ])
  })

  for (const max of [32, 64]) {
    it(`align${max}: every power-of-two alignment in an mm of [1, 2^64 - 1)`, () => {
      const mm = make(U64_MAX - 2n, 1n)
      for (let bit = max - 1; bit >= 1; bit--) {
        const align = 1n << BigInt(bit)
        const n = mm.insert({ size: (1n << BigInt(bit - 1)) + 1n, alignment: align, color: BigInt(bit) })
        expect(n.start % align).toBe(0n)
        expect(n.color).toBe(BigInt(bit))
      }
    })
  }

  it('lowest / highest skip the first hole, which is too small', () => {
    for (const [mode, want] of [
      ['low', 2n],
      ['high', 3n],
    ] as const) {
      const mm = make(7n)
      mm.reserve({ start: 1n, size: 1n })
      mm.reserve({ start: 5n, size: 1n })
      const n = mm.insert({ size: 2n, mode })
      expect(n.start).toBe(want)
      expect(n.end).toBeLessThanOrEqual(5n)
    }
  })

  it('align: prime alignments and sizes in every mode', () => {
    for (const mode of MODES) {
      const mm = make(1n << 20n)
      for (const p of PRIMES) {
        for (const size of [1n, p - 1n || 1n, p, p + 1n]) {
          const n = mm.insert({ size, alignment: p, mode })
          expect(n.start % p).toBe(0n)
        }
      }
      const sizes = mm.nodes().reduce((s, n) => s + n.size, 0n)
      expect(mm.stats().used).toBe(sizes)
    }
  })

  it('high mode puts the node at the top with its start aligned', () => {
    const mm = make(1000n)
    expect(mm.insert({ size: 10n, alignment: 7n, mode: 'high' }).start).toBe(987n)
    expect(mm.insert({ size: 10n, alignment: 64n, mode: 'high' }).start).toBe(960n)
  })

  it('reserve: boundaries, continuity in random order, overlaps refused', () => {
    const rand = rng(7)
    for (const size of [1n, 3n, 31n, 4096n + 1n]) {
      const count = 64n
      const mm = make(size * count)
      expect(errnoOf(() => mm.reserve({ start: 0n, size: 0n }))).toBe('ENOSPC')
      expect(errnoOf(() => mm.reserve({ start: U64_MAX, size: 2n }))).toBe('ENOSPC')
      expect(errnoOf(() => mm.reserve({ start: size * count, size }))).toBe('ENOSPC')
      expect(errnoOf(() => mm.reserve({ start: size * count - 1n, size: 2n }))).toBe('ENOSPC')
      const order = shuffle([...Array(Number(count)).keys()], rand)
      const nodes = new Map<number, MmNode>()
      for (const k of order) nodes.set(k, mm.reserve({ start: BigInt(k) * size, size }))
      expectContinuous(mm)
      for (const k of order.slice(0, 8)) {
        expect(errnoOf(() => mm.reserve({ start: BigInt(k) * size, size }))).toBe('ENOSPC')
        if (size > 1n) expect(errnoOf(() => mm.reserve({ start: BigInt(k) * size + 1n, size: 1n }))).toBe('ENOSPC')
      }
      for (const k of order.slice(0, 16)) {
        mm.remove(nodes.get(k)!)
        nodes.set(k, mm.reserve({ start: BigInt(k) * size, size }))
      }
      expectContinuous(mm)
    }
  })

  it('insert: fills in every mode, then ENOSPC, and a freed slot is reused', () => {
    for (const mode of MODES) {
      for (const size of [1n, 7n, 4096n]) {
        const mm = make(size * 128n)
        const nodes: MmNode[] = []
        for (let i = 0; i < 128; i++) nodes.push(mm.insert({ size, mode }))
        expectContinuous(mm)
        expect(errnoOf(() => mm.insert({ size, mode }))).toBe('ENOSPC')
        for (const k of [0, 17, 127]) {
          const at = nodes[k].start
          mm.remove(nodes[k])
          nodes[k] = mm.insert({ size, mode })
          expect(nodes[k].start).toBe(at)
        }
      }
    }
  })

  it('insert errors: kernel errnos, state unchanged', () => {
    const mm = make(100n)
    mm.reserve({ start: 40n, size: 10n })
    const before = [mm.nodes(), mm.holes()]
    expect(errnoOf(() => mm.insert({ size: 0n }))).toBe('ENOSPC')
    expect(errnoOf(() => mm.insert({ size: 101n }))).toBe('ENOSPC')
    expect(errnoOf(() => mm.insert({ size: 60n }))).toBe('ENOSPC')
    expect(errnoOf(() => mm.insert({ size: 5n, range: { start: 50n, end: 40n } }))).toBe('EINVAL')
    expect(errnoOf(() => mm.insert({ size: 11n, range: { start: 40n, end: 50n } }))).toBe('ENOSPC')
    expect(errnoOf(() => mm.insert({ size: 5n, mode: 'middle' as InsertMode }))).toBe('EINVAL')
    expect(errnoOf(() => mm.insert({ size: 5 as unknown as bigint }))).toBe('EINVAL')
    expect(errnoOf(() => mm.insert({ size: 1n << 64n }))).toBe('EINVAL')
    expect(errnoOf(() => mm.remove({ start: 40n } as MmNode))).toBe('EINVAL')
    expect([mm.nodes(), mm.holes()]).toEqual(before)
  })

  it('insert in range: stays inside [start, end) and fills it contiguously', () => {
    for (const mode of ['best', 'low', 'high'] as const) {
      const mm = make(64n * 4096n)
      const range = { start: 8n * 4096n, end: 24n * 4096n }
      expect(errnoOf(() => mm.insert({ size: 17n * 4096n, range, mode }))).toBe('ENOSPC')
      const got = []
      for (let i = 0; i < 16; i++) {
        const n = mm.insert({ size: 4096n, range, mode })
        expect(n.start).toBeGreaterThanOrEqual(range.start)
        expect(n.end).toBeLessThanOrEqual(range.end)
        got.push(n.start)
      }
      got.sort((a, b) => (a < b ? -1 : 1))
      expect(got).toEqual([...Array(16).keys()].map((k) => range.start + BigInt(k) * 4096n))
      expect(errnoOf(() => mm.insert({ size: 1n, range, mode }))).toBe('ENOSPC')
      expect(mm.insert({ size: 1n, range: { start: 0n, end: 24n * 4096n }, mode }).end).toBeLessThanOrEqual(range.start)
    }
  })

  it('best fit: the smallest hole, the newest among equals', () => {
    const mm = make(100n)
    for (const s of [0n, 10n, 30n, 45n, 60n]) mm.reserve({ start: s, size: 5n })
    expect(mm.insert({ size: 8n }).start).toBe(50n)
    expect(mm.insert({ size: 8n }).start).toBe(35n)
    expect(mm.insert({ size: 8n }).start).toBe(15n)
  })

  /** Runs one eviction round like drm_test_mm_evict(_range) and checks the result. */
  function evictRound(
    mm: RangeAllocator,
    nodes: MmNode[],
    rand: () => number,
    req: { size: bigint; alignment: bigint; mode: 'low' | 'high'; range?: { start: bigint; end: bigint } },
  ): void {
    const scan = mm.scan(req)
    const order = shuffle(nodes, rand)
    const added: MmNode[] = []
    let found = false
    for (const n of order) {
      added.push(n)
      if (scan.add(n)) {
        found = true
        break
      }
    }
    expect(found).toBe(true)
    expect(errnoOf(() => mm.insert({ size: 1n }))).toBe('EBUSY')
    const evict = added.reverse().filter((n) => scan.remove(n))
    const hit = scan.hit!
    expect(hit.end - hit.start).toBe(req.size)
    for (const n of evict) mm.remove(n)
    const placed = mm.insert({ size: req.size, alignment: req.alignment, range: req.range, mode: 'evict' })
    expect(placed.start).toBe(hit.start)
    if (req.alignment > 1n) expect(placed.start % req.alignment).toBe(0n)
    if (req.range) {
      expect(placed.start).toBeGreaterThanOrEqual(req.range.start)
      expect(placed.end).toBeLessThanOrEqual(req.range.end)
    }
    // Put everything back: the mm is continuous again.
    mm.remove(placed)
    for (const n of evict) {
      const i = nodes.indexOf(n)
      nodes[i] = mm.reserve({ start: n.start, size: n.size })
    }
    expectContinuous(mm)
  }

  for (const withRange of [false, true]) {
    it(`evict${withRange ? '_range' : ''}: scans find holes of every size, alignment and prime`, () => {
      const count = 512
      const mm = make(BigInt(count))
      const nodes: MmNode[] = []
      for (let i = 0; i < count; i++) nodes.push(mm.reserve({ start: BigInt(i), size: 1n }))
      const rand = rng(withRange ? 2 : 1)
      const range = withRange ? { start: 100n, end: 400n } : undefined
      const inRange = withRange ? nodes.filter((n) => n.start >= 100n && n.end <= 400n) : nodes
      for (const mode of ['low', 'high'] as const) {
        // With the range [100, 400) the largest aligned power of two that fits is 128.
        for (let k = 0; k <= (withRange ? 7 : 8); k++) {
          evictRound(mm, withRange ? inRange : nodes, rand, { size: 1n << BigInt(k), alignment: 0n, mode, range })
          refresh()
          evictRound(mm, withRange ? inRange : nodes, rand, {
            size: 1n << BigInt(k),
            alignment: 1n << BigInt(k),
            mode,
            range,
          })
          refresh()
        }
        for (const p of PRIMES) {
          evictRound(mm, withRange ? inRange : nodes, rand, { size: p, alignment: p, mode, range })
          refresh()
        }
      }
      function refresh(): void {
        // Re-reserved nodes are new handles: pick them up again.
        const live = mm.nodes()
        nodes.splice(0, nodes.length, ...live)
        if (withRange) inRange.splice(0, inRange.length, ...live.filter((n) => n.start >= 100n && n.end <= 400n))
      }
    })
  }

  it('evict nothing and evict everything leave the mm intact', () => {
    const mm = make(64n)
    for (let i = 0n; i < 64n; i++) mm.reserve({ start: i, size: 1n })
    const nodes = mm.nodes()
    // Too large: never found, nothing to evict.
    const none = mm.scan({ size: 64n, alignment: 2n })
    for (const n of nodes.slice(0, 63)) expect(none.add(n)).toBe(false)
    expect(
      nodes
        .slice(0, 63)
        .reverse()
        .filter((n) => none.remove(n)),
    ).toEqual([])
    expectContinuous(mm)
    const all = mm.scan({ size: 64n }).run(nodes)
    expect(all.found).toBe(true)
    expect(all.evict).toEqual([...nodes].reverse())
    expectContinuous(mm)
  })

  it('scan rules: reverse order only, no mutation meanwhile, stale scans refused', () => {
    const mm = make(16n)
    const nodes = [...Array(16).keys()].map((i) => mm.reserve({ start: BigInt(i), size: 1n }))
    expect(errnoOf(() => mm.scan({ size: 0n }))).toBe('EINVAL')
    expect(errnoOf(() => mm.scan({ size: 4n, range: { start: 4n, end: 4n } }))).toBe('EINVAL')
    expect(errnoOf(() => mm.scan({ size: 4n, mode: 'evict' as 'low' }))).toBe('EINVAL')
    const scan = mm.scan({ size: 2n })
    expect(scan.add(nodes[3])).toBe(false)
    expect(scan.add(nodes[4])).toBe(true)
    expect(errnoOf(() => scan.add(nodes[4]))).toBe('EINVAL')
    expect(errnoOf(() => scan.remove(nodes[3]))).toBe('EINVAL')
    expect(errnoOf(() => mm.remove(nodes[0]))).toBe('EBUSY')
    expect(errnoOf(() => mm.reserve({ start: 100n, size: 1n }))).toBe('EBUSY')
    expect(errnoOf(() => mm.scan({ size: 2n }))).toBe('EBUSY')
    expect(scan.remove(nodes[4])).toBe(true)
    expect(scan.remove(nodes[3])).toBe(true)
    const next = mm.scan({ size: 1n })
    expect(errnoOf(() => scan.add(nodes[0]))).toBe('EINVAL')
    expect(next.run([nodes[9]]).evict).toEqual([nodes[9]])
    expectContinuous(mm)
  })

  for (const [mode, name] of [
    ['high', 'topdown'],
    ['low', 'bottomup'],
  ] as const) {
    it(`${name}: each insert takes the ${mode === 'high' ? 'highest' : 'lowest'} free slot`, () => {
      const count = 256
      const rand = rng(mode === 'high' ? 11 : 12)
      for (const size of [1n, 4096n]) {
        const mm = make(BigInt(count) * size)
        const used = new Array<boolean>(count).fill(false)
        const nodes: MmNode[] = []
        for (let i = 0; i < count; i++) {
          const n = mm.insert({ size, mode })
          const slot = Number(n.start / size)
          const want = mode === 'high' ? used.lastIndexOf(false) : used.indexOf(false)
          expect(slot).toBe(want)
          used[slot] = true
          nodes.push(n)
        }
        for (const n of shuffle(nodes, rand).slice(0, count / 2)) {
          mm.remove(n)
          used[Number(n.start / size)] = false
        }
        for (let i = 0; i < count / 2; i++) {
          const slot = Number(mm.insert({ size, mode }).start / size)
          expect(slot).toBe(mode === 'high' ? used.lastIndexOf(false) : used.indexOf(false))
          used[slot] = true
        }
      }
    })
  }

  it('stats: used, free, largest hole, fragmentation', () => {
    const mm = make(100n)
    expect(mm.stats()).toEqual({ used: 0n, free: 100n, largestHole: 100n, nodes: 0, holes: 1, fragmentation: 0 })
    mm.reserve({ start: 50n, size: 10n })
    const s = mm.stats()
    expect([s.used, s.free, s.largestHole, s.nodes, s.holes]).toEqual([10n, 90n, 50n, 1, 2])
    expect(s.fragmentation).toBeCloseTo(1 - 50 / 90)
  })
})
