/**
 * Colours and clear tracking, native against reference: random command
 * sequences over a drm_mm with a colour guard (inserts, reserves, replaces,
 * removes, whole colour-eviction rounds) and over a drm_buddy with cleared
 * frees, CLEAR allocations and resets must give the same results and errors
 * and end in the same state; the buddy's clear counter must match its lists.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BuddyAllocator, DrmError, type InsertMode, type MmNode, RangeAllocator } from '../lib/index.js'

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() }
  } catch (e) {
    if (!(e instanceof DrmError)) throw e
    return { errno: e.errno, message: e.message }
  }
}

type MmCmd =
  | { c: 'insert'; size: bigint; alignment: bigint; color: bigint; range: [bigint, bigint] | null; mode: InsertMode }
  | { c: 'reserve'; start: bigint; size: bigint; color: bigint }
  | { c: 'remove'; pick: number }
  | { c: 'replace'; pick: number; color: bigint | null }
  | { c: 'evict'; size: bigint; color: bigint; range: [bigint, bigint] | null; mode: 'low' | 'high'; picks: number[] }
  | { c: 'fill'; colors: bigint[] }

const SIZE = 64n * 16n
const unit = 16n
const addr = fc.integer({ min: 0, max: 66 }).map((k) => BigInt(k) * unit + BigInt(k % 3))
const len = fc.integer({ min: 0, max: 10 }).map((k) => BigInt(k) * unit + BigInt(k % 2))
const color = fc.bigInt({ min: 0n, max: 3n })
const range = fc.option(fc.tuple(addr, addr), { nil: null, freq: 3 })
const mmCmd: fc.Arbitrary<MmCmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      c: fc.constant('insert' as const),
      size: len,
      alignment: fc.constantFrom(0n, 2n, 3n, unit),
      color,
      range,
      mode: fc.constantFrom<InsertMode>('best', 'low', 'high', 'evict'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('reserve' as const), start: addr, size: len, color }) },
  { weight: 3, arbitrary: fc.record({ c: fc.constant('remove' as const), pick: fc.nat(40) }) },
  {
    weight: 2,
    arbitrary: fc.record({ c: fc.constant('fill' as const), colors: fc.array(color, { minLength: 1, maxLength: 8 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      c: fc.constant('replace' as const),
      pick: fc.nat(40),
      color: fc.option(color, { nil: null }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      c: fc.constant('evict' as const),
      size: len,
      color,
      range,
      mode: fc.constantFrom('low' as const, 'high' as const),
      picks: fc.array(fc.nat(40), { minLength: 4, maxLength: 40 }),
    }),
  },
)

const nodeData = (n: MmNode) => [n.start, n.size, n.color]

function runMm(mm: RangeAllocator, cmd: MmCmd): unknown[] {
  const nodes = mm.nodes()
  const pick = (i: number) => nodes[i % Math.max(nodes.length, 1)]
  const rng = (r: [bigint, bigint] | null) => (r === null ? undefined : { start: r[0], end: r[1] })
  switch (cmd.c) {
    case 'insert':
      return [outcome(() => nodeData(mm.insert({ ...cmd, range: rng(cmd.range) })))]
    case 'reserve':
      return [outcome(() => nodeData(mm.reserve(cmd)))]
    case 'remove':
      return [outcome(() => (nodes.length === 0 ? 'empty' : mm.remove(pick(cmd.pick))))]
    case 'replace':
      if (nodes.length === 0) return ['empty']
      return [outcome(() => nodeData(mm.replace(pick(cmd.pick), cmd.color === null ? {} : { color: cmd.color })))]
    case 'fill': {
      // Small nodes of cycling colours until nothing fits: a full, colour-mixed mm to scan.
      const out: unknown[] = []
      for (let i = 0; ; i++) {
        const r = outcome(() =>
          nodeData(mm.insert({ size: unit, color: cmd.colors[i % cmd.colors.length], mode: 'low' })),
        )
        out.push(r)
        if (!(r as { ok?: unknown }).ok) return out
      }
    }
    case 'evict': {
      if (nodes.length === 0) return ['empty']
      const scan = outcome(() => mm.scan({ ...cmd, range: rng(cmd.range) })) as {
        ok?: ReturnType<RangeAllocator['scan']>
      }
      if (!scan.ok) return [scan]
      const s = scan.ok
      // The picks first, then every other node: an LRU that usually finds a hole.
      const r = s.run([...new Set([...cmd.picks.map(pick), ...nodes])])
      const out: unknown[] = [r.found, r.evict.map(nodeData), s.hit]
      if (!r.found) return out
      for (const n of r.evict) mm.remove(n)
      for (let x = s.colorEvict(); x !== null; x = s.colorEvict()) {
        out.push(nodeData(x))
        mm.remove(x)
      }
      out.push(
        outcome(() => nodeData(mm.insert({ size: cmd.size, color: cmd.color, mode: 'evict', range: rng(cmd.range) }))),
      )
      return out
    }
  }
}

type BuddyCmd =
  | {
      c: 'alloc'
      pages: number
      minOrder: number
      range: [number, number] | null
      topdown: boolean
      contiguous: boolean
      clear: boolean
    }
  | { c: 'free'; picks: number[]; cleared: boolean }
  | { c: 'reset'; isClear: boolean }
  | { c: 'trim'; pick: number; pages: number }
  | { c: 'shatter'; pattern: boolean[] }

const buddyCmd: fc.Arbitrary<BuddyCmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      c: fc.constant('alloc' as const),
      pages: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 40 })),
      minOrder: fc.integer({ min: 0, max: 3 }),
      range: fc.option(fc.tuple(fc.nat(70), fc.nat(70)), { nil: null, freq: 3 }),
      topdown: fc.boolean(),
      contiguous: fc.boolean(),
      clear: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      c: fc.constant('free' as const),
      picks: fc.array(fc.nat(40), { maxLength: 3 }),
      cleared: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('reset' as const), isClear: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      c: fc.constant('shatter' as const),
      pattern: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ c: fc.constant('trim' as const), pick: fc.nat(40), pages: fc.integer({ min: 1, max: 8 }) }),
  },
)

function runBuddy(mm: BuddyAllocator, cmd: BuddyCmd): unknown {
  const chunk = mm.chunkSize
  const blocks = mm.blocks()
  const pick = (i: number) => blocks[i % Math.max(blocks.length, 1)]
  const data = (bs: { offset: bigint; size: bigint; clear: boolean }[]) => bs.map((b) => [b.offset, b.size, b.clear])
  switch (cmd.c) {
    case 'alloc':
      return outcome(() =>
        data(
          mm.alloc({
            size: BigInt(cmd.pages) * chunk,
            minBlockSize: chunk << BigInt(cmd.minOrder),
            range:
              cmd.range === null
                ? undefined
                : { start: BigInt(cmd.range[0]) * chunk, end: BigInt(cmd.range[1]) * chunk },
            topdown: cmd.topdown,
            contiguous: cmd.contiguous,
            clear: cmd.clear,
          }),
        ),
      )
    case 'free':
      if (blocks.length === 0) return 'empty'
      return outcome(() => mm.free([...new Set(cmd.picks.map(pick))], { cleared: cmd.cleared }))
    case 'reset':
      return outcome(() => mm.resetClear(cmd.isClear))
    case 'shatter': {
      // Every free page taken singly, then freed cleared or dirty by the pattern: unmergeable neighbours.
      const pages: { offset: bigint; size: bigint; clear: boolean }[][] = []
      for (;;) {
        const r = outcome(() => mm.alloc({ size: chunk }))
        if (!(r as { ok?: unknown }).ok) break
        pages.push((r as { ok: { offset: bigint; size: bigint; clear: boolean }[] }).ok)
      }
      const got = mm.blocks().filter((x) => pages.some((p) => p.some((q) => q.offset === x.offset)))
      got.forEach((x, i) => mm.free(x, { cleared: cmd.pattern[i % cmd.pattern.length] }))
      return pages.map(data)
    }
    case 'trim':
      if (blocks.length === 0) return 'empty'
      return outcome(() => data(mm.trim(pick(cmd.pick), BigInt(cmd.pages) * chunk)))
  }
}

describe('colours and clear tracking: native and reference agree', () => {
  it('drm_mm with a colour guard: every result, error and final state', () => {
    fc.assert(
      fc.property(fc.constantFrom(1n, unit, 3n * unit), fc.array(mmCmd, { maxLength: 60 }), (guard, cmds) => {
        const a = new RangeAllocator({ size: SIZE, engine: 'native', colorAdjust: { guard } })
        const b = new RangeAllocator({ size: SIZE, engine: 'reference', colorAdjust: { guard } })
        cmds.forEach((cmd, i) => {
          expect(runMm(a, cmd), `command ${i}`).toEqual(runMm(b, cmd))
        })
        expect(a.nodes().map(nodeData)).toEqual(b.nodes().map(nodeData))
        expect(a.holes()).toEqual(b.holes())
        expect(a.stats()).toEqual(b.stats())
        // The guard holds between every pair of neighbours of different colours.
        const ns = a.nodes()
        for (let i = 1; i < ns.length; i++) {
          if (ns[i - 1].color !== ns[i].color) expect(ns[i].start - ns[i - 1].end).toBeGreaterThanOrEqual(guard)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('drm_buddy with clear tracking: every result, error, counter and final state', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.array(buddyCmd, { maxLength: 80 }), (pages, cmds) => {
        const size = BigInt(pages) * 4096n
        const a = new BuddyAllocator({ size, engine: 'native' })
        const b = new BuddyAllocator({ size, engine: 'reference' })
        cmds.forEach((cmd, i) => {
          expect(runBuddy(a, cmd), `command ${i}`).toEqual(runBuddy(b, cmd))
          const free = a.freeBlocks()
          expect(free.filter((x) => x.clear).reduce((s, x) => s + x.size, 0n)).toBe(a.clearAvail)
        })
        expect(a.blocks().map((x) => [x.offset, x.size, x.clear])).toEqual(
          b.blocks().map((x) => [x.offset, x.size, x.clear]),
        )
        expect(a.freeBlocks()).toEqual(b.freeBlocks())
        expect(a.stats()).toEqual(b.stats())
        // Freeing all and resetting merges back to the roots.
        a.free(a.blocks())
        a.resetClear(false)
        expect(a.freeBlocks()).toEqual(a.roots().map((r) => ({ ...r, clear: false })))
      }),
      { numRuns: 300 },
    )
  })
})
