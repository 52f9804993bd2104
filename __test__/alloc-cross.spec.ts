/**
 * The native and reference allocators, driven by the same random command
 * sequences, must agree on every result and every error (errno and message),
 * and end with the same nodes, holes, blocks and statistics.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BuddyAllocator,
  DrmError,
  RangeAllocator,
  U64_MAX,
  type InsertMode,
  type MmNode,
  type MmScan,
} from '../lib/index.js'

/** What a call gave: a plain value, or the error it threw. */
function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() }
  } catch (e) {
    if (!(e instanceof DrmError)) throw e
    return { errno: e.errno, message: e.message }
  }
}

// ---- drm_mm ------------------------------------------------------------------

type MmCmd =
  | { c: 'insert'; size: bigint; alignment: bigint; color: bigint; range: [bigint, bigint] | null; mode: InsertMode }
  | { c: 'reserve'; start: bigint; size: bigint }
  | { c: 'remove'; pick: number }
  | {
      c: 'scanRun'
      size: bigint
      alignment: bigint
      range: [bigint, bigint] | null
      mode: 'best' | 'low' | 'high'
      picks: number[]
    }
  | {
      c: 'scan'
      size: bigint
      alignment: bigint
      range: [bigint, bigint] | null
      mode: 'low' | 'high'
      picks: number[]
      wrong: boolean
    }

const SPACES: [bigint, bigint][] = [
  [0n, 4096n],
  [1n, 1000n],
  [U64_MAX - 5000n, 4096n],
  [0n, U64_MAX],
  [1n, U64_MAX - 2n],
]

function mmArbs(start: bigint, size: bigint) {
  const unit = size / 64n > 0n ? size / 64n : 1n
  const edges = [0n, 1n, start, start + size - 1n, start + size, U64_MAX, U64_MAX - 1n, 1n << 63n]
  const addr = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 70 }).map((k) => start + BigInt(k) * unit) },
    { weight: 1, arbitrary: fc.constantFrom(...edges) },
  )
  const len = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 12 }).map((k) => BigInt(k) * unit + BigInt(k % 3)) },
    { weight: 1, arbitrary: fc.constantFrom(0n, 1n, size, size + 1n, U64_MAX, 1n << 63n) },
  )
  const alignment = fc.constantFrom(0n, 1n, 2n, 3n, 5n, 7n, 8n, 64n, unit, unit * 3n, 1n << 63n)
  const range = fc.option(fc.tuple(addr, addr), { nil: null, freq: 3 })
  const mode = fc.constantFrom<InsertMode>('best', 'low', 'high', 'evict')
  const picks = fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 12 })
  const cmd: fc.Arbitrary<MmCmd> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        c: fc.constant('insert' as const),
        size: len,
        alignment,
        color: fc.bigInt({ min: 0n, max: 3n }),
        range,
        mode,
      }),
    },
    { weight: 3, arbitrary: fc.record({ c: fc.constant('reserve' as const), start: addr, size: len }) },
    { weight: 4, arbitrary: fc.record({ c: fc.constant('remove' as const), pick: fc.integer({ min: 0, max: 40 }) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        c: fc.constant('scanRun' as const),
        size: len,
        alignment,
        range,
        mode: fc.constantFrom('best' as const, 'low' as const, 'high' as const),
        picks,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        c: fc.constant('scan' as const),
        size: len,
        alignment,
        range,
        mode: fc.constantFrom('low' as const, 'high' as const),
        picks,
        wrong: fc.boolean(),
      }),
    },
  )
  return fc.array(cmd, { maxLength: 60 })
}

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
    case 'scanRun': {
      if (nodes.length === 0) return ['empty']
      const scan = outcome(() => mm.scan({ ...cmd, range: rng(cmd.range) })) as { ok?: MmScan }
      if (!scan.ok) return [scan]
      return [
        outcome(() => {
          const r = scan.ok!.run(cmd.picks.map(pick))
          return [r.found, r.evict.map(nodeData)]
        }),
      ]
    }
    case 'scan': {
      if (nodes.length === 0) return ['empty']
      const out: unknown[] = []
      const init = outcome(() => mm.scan({ ...cmd, range: rng(cmd.range) })) as { ok?: MmScan }
      if (!init.ok) return [init]
      const scan = init.ok
      const added: MmNode[] = []
      for (const i of cmd.picks) {
        const n = pick(i)
        const r = outcome(() => scan.add(n)) as { ok?: boolean }
        out.push(r)
        if (r.ok !== undefined) added.push(n)
        if (r.ok === true) break
      }
      out.push(outcome(() => scan.hit))
      if (cmd.wrong && added.length > 1) out.push(outcome(() => scan.remove(added[0])))
      for (const n of added.reverse()) out.push(outcome(() => scan.remove(n)))
      return out
    }
  }
}

// ---- drm_buddy ------------------------------------------------------------------

type BuddyCmd =
  | {
      c: 'alloc'
      pages: number
      delta: bigint
      minOrder: number
      range: [number, number] | null
      topdown: boolean
      contiguous: boolean
      trimDisable: boolean
    }
  | { c: 'free'; picks: number[]; dup: boolean }
  | { c: 'trim'; pick: number; pages: number }

const buddyCmds = fc.array(
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        c: fc.constant('alloc' as const),
        pages: fc.integer({ min: 0, max: 70 }),
        delta: fc.constantFrom(0n, 0n, 0n, 0n, 1n),
        minOrder: fc.integer({ min: -1, max: 7 }),
        range: fc.option(fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 70 })), {
          nil: null,
          freq: 2,
        }),
        topdown: fc.boolean(),
        contiguous: fc.boolean(),
        trimDisable: fc.boolean(),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        c: fc.constant('free' as const),
        picks: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 6 }),
        dup: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        c: fc.constant('trim' as const),
        pick: fc.integer({ min: 0, max: 40 }),
        pages: fc.integer({ min: 0, max: 9 }),
      }),
    },
  ),
  { maxLength: 60 },
)

function runBuddy(mm: BuddyAllocator, cmd: BuddyCmd): unknown {
  const chunk = mm.chunkSize
  const blocks = mm.blocks()
  const pick = (i: number) => blocks[i % Math.max(blocks.length, 1)]
  const data = (bs: { offset: bigint; size: bigint }[]) => bs.map((b) => [b.offset, b.size])
  switch (cmd.c) {
    case 'alloc':
      return outcome(() =>
        data(
          mm.alloc({
            size: BigInt(cmd.pages) * chunk + cmd.delta,
            minBlockSize: cmd.minOrder < 0 ? chunk / 2n : chunk << BigInt(cmd.minOrder),
            range:
              cmd.range === null
                ? undefined
                : { start: BigInt(cmd.range[0]) * chunk, end: BigInt(cmd.range[1]) * chunk },
            topdown: cmd.topdown,
            contiguous: cmd.contiguous,
            trimDisable: cmd.trimDisable,
          }),
        ),
      )
    case 'free': {
      if (blocks.length === 0) return 'empty'
      const list = cmd.picks.map(pick)
      if (cmd.dup && list.length > 0) list.push(list[0])
      // Without `dup`, each block once (a success); with it, one twice (EINVAL, nothing freed).
      return outcome(() => mm.free(cmd.dup ? list : [...new Set(list)]))
    }
    case 'trim':
      if (blocks.length === 0) return 'empty'
      return outcome(() => data(mm.trim(pick(cmd.pick), BigInt(cmd.pages) * chunk)))
  }
}

describe('native and reference allocators agree', () => {
  it('drm_mm: every result, error and final state', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(...SPACES)
          .chain(([start, size]) => fc.tuple(fc.constant([start, size] as const), mmArbs(start, size))),
        ([[start, size], cmds]) => {
          const a = new RangeAllocator({ start, size, engine: 'native' })
          const b = new RangeAllocator({ start, size, engine: 'reference' })
          cmds.forEach((cmd, i) => {
            expect(runMm(a, cmd), `command ${i}`).toEqual(runMm(b, cmd))
          })
          expect(a.nodes().map(nodeData)).toEqual(b.nodes().map(nodeData))
          expect(a.holes()).toEqual(b.holes())
          expect(a.stats()).toEqual(b.stats())
        },
      ),
      { numRuns: 300 },
    )
  })

  it('drm_buddy: every result, error and final state', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.constantFrom(0n, 100n),
        fc.constantFrom(4096n, 8192n),
        buddyCmds,
        (pages, extra, chunk, cmds) => {
          const size = BigInt(pages) * chunk + extra
          const a = new BuddyAllocator({ size, chunkSize: chunk, engine: 'native' })
          const b = new BuddyAllocator({ size, chunkSize: chunk, engine: 'reference' })
          expect(a.roots()).toEqual(b.roots())
          cmds.forEach((cmd, i) => {
            expect(runBuddy(a, cmd), `command ${i}`).toEqual(runBuddy(b, cmd))
          })
          const blocks = (m: BuddyAllocator) => m.blocks().map((x) => [x.offset, x.size])
          expect(blocks(a)).toEqual(blocks(b))
          expect(a.freeBlocks()).toEqual(b.freeBlocks())
          expect(a.stats()).toEqual(b.stats())
          // Freeing everything merges back to the roots.
          a.free(a.blocks())
          expect(a.freeBlocks()).toEqual(a.roots().map((r) => ({ ...r, clear: false })))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('the constructors agree on bad arguments', () => {
    for (const [start, size] of [
      [0n, 0n],
      [1n, U64_MAX],
      [U64_MAX, 1n],
      [-1n, 5n],
    ] as const) {
      const e = (engine: 'native' | 'reference') => outcome(() => new RangeAllocator({ start, size, engine }))
      expect(e('native')).toEqual(e('reference'))
    }
    for (const [size, chunkSize] of [
      [4095n, 4096n],
      [1n << 20n, 2048n],
      [1n << 20n, 12288n],
      [U64_MAX, 1n << 63n],
    ] as const) {
      const e = (engine: 'native' | 'reference') =>
        outcome(() => {
          const m = new BuddyAllocator({ size, chunkSize, engine })
          return [m.size, m.maxOrder, m.roots()]
        })
      expect(e('native')).toEqual(e('reference'))
    }
  })
})
