/**
 * The native and reference engines, driven by the same random command
 * sequences, must agree on every result, every error (errno and message) and
 * every warning, and end with the same tree and object lists.
 */

import fc from 'fast-check'
import { describe, it, expect } from 'vitest'
import {
  BATCH_MAP,
  BATCH_UNMAP,
  BATCH_WORDS,
  type VaRecord,
  type VmCore,
  type VmCreateOptions,
} from '../lib/contract/vm.js'
import { DrmBatchError, DrmError } from '../lib/base/errors.js'
import { decodeOps } from '../lib/contract/wire.js'
import { NativeVmCore } from '../lib/native/gpuvm.js'
import { ReferenceVm } from '../lib/reference/gpuvm/vm.js'

const P = 0x1000n
const MAX = (1n << 64n) - 1n
/** Object ids whose GEM lists are compared at the end: the few most requests use, and ids past 2^10, 2^16, 2^31. */
const OBJECTS = [0, 1, 2, 3, 4, 1025, 65_537, 0x8000_0000, 0xffff_fffe]
/** Where `bindMany` binds its run of distinct objects, one 2^32-byte region per index. */
const MANY_REGIONS = 8
/** Most objects one `bindMany` binds. */
const MANY_MAX = 1500
/** Longest cursor walk followed; no request in a run can meet more nodes than this (the far regions full, and the rest). */
const MAX_STEPS = MANY_REGIONS * MANY_MAX + 1000

// ---- commands ---------------------------------------------------------------

type Cmd =
  | { c: 'bind'; addr: bigint; range: bigint; obj: number; offset: bigint }
  | { c: 'unbind'; addr: bigint; range: bigint }
  /**
   * `n` distinct objects (ids from `first`) bound a page each in far region
   * `region`, one by one or in one batch: object counts past every table size.
   */
  | { c: 'bindMany'; n: number; first: number; region: number; batch: boolean }
  /** bind/unbind requests in one `bindBatch` call, with or without per-request counts. */
  | { c: 'batch'; reqs: BatchReq[]; per: boolean }
  | { c: 'smMapOps'; addr: bigint; range: bigint; obj: number; offset: bigint }
  | { c: 'smUnmapOps'; addr: bigint; range: bigint }
  | { c: 'insert'; addr: bigint; range: bigint; obj: number; offset: bigint; link: boolean }
  /** A node of the tree, chosen by index at run time; `missing` names a key just next to it instead. */
  | { c: 'remove'; pick: number; missing: boolean }
  | { c: 'link'; pick: number; on: boolean }
  | { c: 'invalidate'; pick: number; on: boolean }
  | { c: 'prefetchOps'; addr: bigint; range: bigint }
  | { c: 'gemUnmapOps'; obj: number; apply: boolean }
  | { c: 'findFirst'; addr: bigint; range: bigint }
  | { c: 'find'; addr: bigint; range: bigint }
  | { c: 'findPrev'; addr: bigint }
  | { c: 'findNext'; addr: bigint }
  | { c: 'intervalEmpty'; addr: bigint; range: bigint }
  | { c: 'rangeValid'; addr: bigint; range: bigint }
  | { c: 'listRange'; addr: bigint; end: bigint }
  /**
   * A split/merge walk, each step applied before the next is asked for; with
   * `meddle`, a node picked by that index is removed after the first step, so
   * the walk has to resume past it.
   */
  | {
      c: 'walk'
      kind: 'map' | 'unmap'
      addr: bigint
      range: bigint
      obj: number
      offset: bigint
      meddle: number | null
    }
  /** The previous command again, unchanged. */
  | { c: 'repeat' }
  | { c: 'destroy' }

type BatchReq =
  | { kind: 'map'; addr: bigint; range: bigint; obj: number; offset: bigint }
  | { kind: 'unmap'; addr: bigint; range: bigint }

interface Space {
  opts: VmCreateOptions
  /** Where most addresses fall: a few pages from each base. */
  bases: bigint[]
  /** Addresses and ranges at the edges of this VA space and of u64. */
  edgeAddrs: bigint[]
  /** Start of the far regions of `bindMany`. */
  far: bigint
}

function arbitraries(space: Space) {
  const pages = (max: number) => fc.integer({ min: 0, max }).map((k) => BigInt(k) * P)
  const addr = fc.oneof(
    // Sums past 2^64 wrap: engines take u64 values only.
    { weight: 12, arbitrary: fc.tuple(fc.constantFrom(...space.bases), pages(24)).map(([b, o]) => (b + o) & MAX) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...space.bases), pages(24), fc.bigInt({ min: 1n, max: P - 1n }))
        .map(([b, o, d]) => (b + o + d) & MAX),
    },
    { weight: 2, arbitrary: fc.constantFrom(...space.edgeAddrs) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: MAX }) },
  )
  const range = fc.oneof(
    { weight: 12, arbitrary: pages(8).map((r) => (r === 0n ? P : r)) },
    { weight: 2, arbitrary: fc.constant(0n) },
    { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 3n * P }) },
    { weight: 1, arbitrary: fc.constantFrom(MAX, MAX - P + 1n, 1n << 63n, 1n << 48n, 2n) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: MAX }) },
  )
  const obj = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...OBJECTS.slice(0, 5)) },
    { weight: 2, arbitrary: fc.constantFrom(...OBJECTS.slice(5)) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xffff_ffff }) },
  )
  const offset = fc.oneof(
    { weight: 8, arbitrary: pages(16) },
    { weight: 1, arbitrary: fc.constantFrom(MAX, MAX - P + 1n, 1n) },
  )
  /** A request that overflows u64 on purpose. */
  const overflowing = fc
    .tuple(fc.bigInt({ min: 0n, max: 4n * P }), fc.bigInt({ min: 1n, max: 4n * P }))
    .map(([back, over]) => ({ addr: MAX - back, range: back + over }))
  const req = fc.oneof({ weight: 15, arbitrary: fc.record({ addr, range }) }, { weight: 1, arbitrary: overflowing })
  const mapReq = fc.tuple(req, obj, offset).map(([r, obj, offset]) => ({ ...r, obj, offset }))
  const pick = fc.nat({ max: 64 })

  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    { weight: 14, arbitrary: mapReq.map((r) => ({ c: 'bind' as const, ...r })) },
    { weight: 8, arbitrary: req.map((r) => ({ c: 'unbind' as const, ...r })) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.array(
            fc.oneof(
              { weight: 2, arbitrary: mapReq.map((r): BatchReq => ({ kind: 'map', ...r })) },
              { weight: 1, arbitrary: req.map((r): BatchReq => ({ kind: 'unmap', ...r })) },
            ),
            { maxLength: 8 },
          ),
          fc.boolean(),
        )
        .map(([reqs, per]) => ({ c: 'batch' as const, reqs, per })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        c: fc.constant('bindMany' as const),
        // Mostly a few; one in ten past the object table's first threshold (1,024).
        n: fc.oneof(
          { weight: 9, arbitrary: fc.integer({ min: 1, max: 40 }) },
          { weight: 1, arbitrary: fc.integer({ min: 1025, max: MANY_MAX }) },
        ),
        first: fc.oneof(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom(0xffff_ffff - 3000, 0x7fff_ff00)),
        region: fc.nat({ max: MANY_REGIONS - 1 }),
        batch: fc.boolean(),
      }),
    },
    { weight: 4, arbitrary: mapReq.map((r) => ({ c: 'smMapOps' as const, ...r })) },
    { weight: 3, arbitrary: req.map((r) => ({ c: 'smUnmapOps' as const, ...r })) },
    {
      weight: 6,
      arbitrary: fc.tuple(mapReq, fc.boolean()).map(([r, link]) => ({ c: 'insert' as const, ...r, link })),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(pick, fc.boolean(), fc.boolean())
        .map(([pick, miss, miss2]) => ({ c: 'remove' as const, pick, missing: miss && miss2 })),
    },
    { weight: 2, arbitrary: fc.tuple(pick, fc.boolean()).map(([pick, on]) => ({ c: 'link' as const, pick, on })) },
    {
      weight: 2,
      arbitrary: fc.tuple(pick, fc.boolean()).map(([pick, on]) => ({ c: 'invalidate' as const, pick, on })),
    },
    { weight: 3, arbitrary: req.map((r) => ({ c: 'prefetchOps' as const, ...r })) },
    {
      weight: 2,
      arbitrary: fc.tuple(obj, fc.boolean()).map(([obj, apply]) => ({ c: 'gemUnmapOps' as const, obj, apply })),
    },
    { weight: 3, arbitrary: req.map((r) => ({ c: 'findFirst' as const, ...r })) },
    { weight: 1, arbitrary: req.map((r) => ({ c: 'find' as const, ...r })) },
    { weight: 2, arbitrary: addr.map((addr) => ({ c: 'findPrev' as const, addr })) },
    { weight: 2, arbitrary: addr.map((addr) => ({ c: 'findNext' as const, addr })) },
    { weight: 1, arbitrary: req.map((r) => ({ c: 'intervalEmpty' as const, ...r })) },
    { weight: 1, arbitrary: req.map((r) => ({ c: 'rangeValid' as const, ...r })) },
    {
      weight: 1,
      arbitrary: fc.tuple(addr, addr).map(([addr, end]) => ({ c: 'listRange' as const, addr, end })),
    },
    {
      weight: 6,
      arbitrary: fc
        .tuple(mapReq, fc.constantFrom('map' as const, 'unmap' as const), fc.option(pick, { freq: 4 }))
        .map(([r, kind, meddle]) => ({ c: 'walk' as const, kind, ...r, meddle })),
    },
    { weight: 4, arbitrary: fc.constant({ c: 'repeat' as const }) },
  )
  // One run in ten destroys the VA space a few commands before its end.
  return fc
    .tuple(fc.array(cmd, { minLength: 50, maxLength: 200 }), fc.nat({ max: 9 }))
    .map(([cmds, d]) => (d === 0 ? [...cmds.slice(0, -5), { c: 'destroy' as const }, ...cmds.slice(-5)] : cmds))
}

// ---- running them -----------------------------------------------------------

type Outcome = { ok: unknown } | { errno: string; message: string }

/** Runs `f`; a DrmError becomes its errno and message, anything else fails the test. */
function attempt(f: () => unknown): Outcome {
  try {
    return { ok: f() }
  } catch (e) {
    if (!(e instanceof DrmError)) throw e
    return { errno: e.errno, message: e.message }
  }
}

/** The node a `pick` names, chosen from the reference engine's tree (the trees are compared as the run goes). */
function picked(ref: VmCore, pick: number): VaRecord | undefined {
  if (ref.destroyed) return undefined
  const all = ref.list()
  return all.length === 0 ? undefined : all[pick % all.length]
}

/** Where `bindMany` puts request `i` of region `region`. */
const manyAddr = (far: bigint, region: number, i: number): bigint => far + (BigInt(region) << 32n) + BigInt(i) * P

/** Binds `n` distinct objects from `first`, one page each from `addr(0)`, one by one or in one batch. */
function bindMany(vm: VmCore, n: number, first: number, addr: (i: number) => bigint, batch: boolean): unknown {
  if (batch) {
    const words = new BigUint64Array(BATCH_WORDS * n)
    for (let i = 0; i < n; i++)
      words.set([BigInt(BATCH_MAP) | (BigInt(first + i) << 32n), addr(i), P, 0n], BATCH_WORDS * i)
    return vm.bindBatch(words, null)
  }
  const total = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
  for (let i = 0; i < n; i++) {
    const c = vm.bind(addr(i), P, first + i, 0n)
    total.map += c.map
    total.remap += c.remap
    total.unmap += c.unmap
  }
  return total
}

function run(vm: VmCore, cmd: Exclude<Cmd, { c: 'repeat' }>, target: VaRecord | undefined, space: Space): unknown {
  switch (cmd.c) {
    case 'bindMany': {
      const counts = bindMany(vm, cmd.n, cmd.first, (i) => manyAddr(space.far, cmd.region, i), cmd.batch)
      // The first and last object's lists, and every op of the region.
      const last = cmd.first + cmd.n - 1
      return [
        counts,
        vm.gemVas(cmd.first),
        vm.gemVas(last),
        decodeOps(vm.smUnmapOps(manyAddr(space.far, cmd.region, 0), BigInt(cmd.n) * P)),
      ]
    }
    case 'bind':
      return vm.bind(cmd.addr, cmd.range, cmd.obj, cmd.offset)
    case 'unbind':
      return vm.unbind(cmd.addr, cmd.range)
    case 'batch': {
      const words = new BigUint64Array(BATCH_WORDS * cmd.reqs.length)
      cmd.reqs.forEach((r, i) => {
        const at = BATCH_WORDS * i
        if (r.kind === 'map') words.set([BigInt(BATCH_MAP) | (BigInt(r.obj) << 32n), r.addr, r.range, r.offset], at)
        else words.set([BigInt(BATCH_UNMAP), r.addr, r.range, 0n], at)
      })
      // Filled with a marker, to see which counts the engine wrote.
      const per = cmd.per ? new Uint32Array(3 * cmd.reqs.length).fill(7777) : null
      try {
        return [vm.bindBatch(words, per), per]
      } catch (e) {
        if (!(e instanceof DrmBatchError)) throw e
        return [{ errno: e.errno, message: e.message, index: e.index, applied: e.applied }, per]
      }
    }
    case 'smMapOps':
      return decodeOps(vm.smMapOps(cmd.addr, cmd.range, cmd.obj, cmd.offset))
    case 'smUnmapOps':
      return decodeOps(vm.smUnmapOps(cmd.addr, cmd.range))
    case 'insert': {
      const va = vm.insert(cmd.addr, cmd.range, cmd.obj, cmd.offset)
      if (cmd.link) vm.link(va.addr, va.seq)
      return [va, vm.isLinked(va.addr, va.seq)]
    }
    case 'remove': {
      // With nothing to pick, ask for a key that is not there.
      const seq = target === undefined ? 12345 : cmd.missing ? target.seq + 1000 : target.seq
      return vm.remove(target?.addr ?? 0n, seq)
    }
    case 'link': {
      const { addr, seq } = target ?? { addr: 1n, seq: 0 }
      if (cmd.on) vm.link(addr, seq)
      else vm.unlink(addr, seq)
      return vm.isLinked(addr, seq)
    }
    case 'invalidate': {
      const { addr, seq } = target ?? { addr: 1n, seq: 0 }
      vm.setInvalidated(addr, seq, cmd.on)
      return vm.get(addr, seq)
    }
    case 'prefetchOps':
      return decodeOps(vm.prefetchOps(cmd.addr, cmd.range))
    case 'gemUnmapOps': {
      const ops = decodeOps(vm.gemUnmapOps(cmd.obj))
      return cmd.apply ? ops.map((op) => [op, attempt(() => vm.apply(op))]) : ops
    }
    case 'findFirst':
      return vm.findFirst(cmd.addr, cmd.range)
    case 'find':
      return vm.find(cmd.addr, cmd.range)
    case 'findPrev':
      return vm.findPrev(cmd.addr)
    case 'findNext':
      return vm.findNext(cmd.addr)
    case 'intervalEmpty':
      return vm.intervalEmpty(cmd.addr, cmd.range)
    case 'rangeValid':
      return vm.rangeValid(cmd.addr, cmd.range)
    case 'listRange':
      return vm.listRange(cmd.addr, cmd.end)
    case 'walk': {
      const cursor =
        cmd.kind === 'map' ? vm.smMap(cmd.addr, cmd.range, cmd.obj, cmd.offset) : vm.smUnmap(cmd.addr, cmd.range)
      const steps: unknown[] = []
      for (let op = cursor.step(); op !== undefined; op = cursor.step()) {
        steps.push([op, attempt(() => vm.apply(op))])
        if (steps.length === 1 && cmd.meddle !== null) {
          const all = vm.list()
          const va = all[cmd.meddle % all.length]
          if (va !== undefined) steps.push(['meddle', attempt(() => vm.remove(va.addr, va.seq))])
        }
        if (steps.length > MAX_STEPS) throw new Error('a split/merge walk does not end')
      }
      return steps
    }
    case 'destroy':
      vm.destroy()
      return vm.destroyed
  }
}

/** The state both engines must end with. */
function snapshot(vm: VmCore): unknown {
  return {
    destroyed: vm.destroyed,
    list: attempt(() => vm.list()),
    count: attempt(() => vm.count()),
    kernel: attempt(() => vm.kernelNode()),
    gem: OBJECTS.map((obj) => attempt(() => vm.gemVas(obj))),
    linked: attempt(() => vm.list().map((va) => vm.isLinked(va.addr, va.seq))),
    warnings: vm.takeWarnings(),
  }
}

/**
 * Runs `cmds` on both engines, comparing every result; `preload` binds that
 * many distinct objects (ids 1..preload, one page each from the space's first
 * base) into both first.
 */
function compare(space: Space, cmds: Cmd[], preload = 0): void {
  const opts = space.opts
  const ref = new ReferenceVm(opts)
  const nat = new NativeVmCore(opts)
  for (const vm of [ref, nat]) if (preload) bindMany(vm, preload, 1, (i) => space.bases[0] + BigInt(i) * P, true)
  expect(nat.takeWarnings()).toEqual(ref.takeWarnings())
  let last: Exclude<Cmd, { c: 'repeat' }> | undefined
  cmds.forEach((c, i) => {
    const cmd = c.c === 'repeat' ? last : c
    if (cmd === undefined) return
    last = cmd
    const target = 'pick' in cmd ? picked(ref, cmd.pick) : undefined
    const want = attempt(() => run(ref, cmd, target, space))
    const got = attempt(() => run(nat, cmd, target, space))
    expect({ i, cmd, result: got }).toEqual({ i, cmd, result: want })
    expect({ i, cmd, warnings: nat.takeWarnings() }).toEqual({ i, cmd, warnings: ref.takeWarnings() })
  })
  expect(snapshot(nat)).toEqual(snapshot(ref))
}

// ---- the two VA spaces ------------------------------------------------------

const LOW: Space = {
  opts: { name: 'low', start: 0n, range: 1n << 48n, reserve: { offset: 0n, range: P } },
  bases: [0x10_0000n, 0x10_0000n, 0x10_0000n, 0n, (1n << 48n) - 16n * P],
  edgeAddrs: [
    0n,
    1n,
    P - 1n,
    P,
    2n * P,
    (1n << 48n) - P,
    (1n << 48n) - 1n,
    1n << 48n,
    MAX,
    MAX - 1n,
    MAX - P + 1n,
    1n << 63n,
  ],
  far: 1n << 40n,
}

const TOP_START = 1n << 63n
const TOP: Space = {
  opts: { name: 'top', start: TOP_START, range: (1n << 64n) - TOP_START - 1n },
  bases: [TOP_START, TOP_START, MAX - 24n * P, MAX - 24n * P + 1n],
  edgeAddrs: [0n, TOP_START - 1n, TOP_START, TOP_START - P, MAX, MAX - 1n, MAX - P, MAX - P + 1n, MAX - 2n * P + 1n],
  far: TOP_START + (1n << 40n),
}

/** DRMSIM_FC_SEED replays a failure (fast-check prints the seed); DRMSIM_FC_RUNS runs longer. */
const seed = Number(process.env.DRMSIM_FC_SEED ?? Date.now() % 2 ** 31)
const numRuns = Number(process.env.DRMSIM_FC_RUNS ?? 200)

describe('native and reference engines agree on random command sequences', () => {
  it('in [0, 2^48) with the kernel node [0, 4096)', () => {
    fc.assert(
      fc.property(arbitraries(LOW), (cmds) => compare(LOW, cmds)),
      { numRuns, seed },
    )
  })

  it('at the top of the u64 space, without a kernel node', () => {
    fc.assert(
      fc.property(arbitraries(TOP), (cmds) => compare(TOP, cmds)),
      { numRuns, seed: seed + 1 },
    )
  })

  // The random requests land among them, so they split, merge and unmap mappings of 10^5 objects.
  it('with 100,003 distinct objects bound first', () => {
    fc.assert(
      fc.property(arbitraries(LOW), (cmds) => compare(LOW, cmds, 100_003)),
      { numRuns: 2, seed: seed + 2 },
    )
  })
})
