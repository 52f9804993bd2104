// Bad input, case by case: each gets a DrmError with the kernel's errno name
// and leaves the VA space as it was. The same table is summarised in the
// README ("Bad input").
import { describe, expect, it } from 'vitest'
import {
  BindBatch,
  BuddyAllocator,
  type BuddyBlock,
  Device,
  DrmError,
  Exec,
  explore,
  Fence,
  GemObject,
  GpuVm,
  LockGuard,
  type MmNode,
  RangeAllocator,
  Resv,
  runSync,
  Scheduler,
  seeds,
  SimThread,
  vmbind,
  WwAcquireCtx,
  type Errno,
  type LockOp,
  type Op,
  type Request,
  type Va,
} from '../lib/index.js'
import { describe as describeValue } from '../lib/base/check.js'
import { errnoOf } from './errno.js'

type Case = [name: string, errno: Errno, call: (w: World) => unknown]

interface World {
  vm: GpuVm
  other: GpuVm
  bo: GemObject
  va: Va
  gone: Va
  foreign: Va
}

const bad = <T>(v: unknown) => v as T
const U = 0x1000n

/** A batch of one map request of a page at `addr`. */
function batch(addr: bigint): BindBatch {
  const b = new BindBatch()
  b.map({ addr, range: U })
  return b
}

function world(engine: 'native' | 'reference'): World {
  const vm = new GpuVm({ name: 'bad', range: 1n << 48n, reserve: { offset: 0n, range: U }, engine })
  const other = new GpuVm({ name: 'other', range: 1n << 48n, engine })
  const bo = new GemObject({ size: 1n << 20n })
  const va = vm.insert({ addr: 0x10000n, range: 4n * U, obj: bo, offset: 0n })
  const gone = vm.insert({ addr: 0x40000n, range: U, obj: bo })
  vm.remove(gone)
  const foreign = other.insert({ addr: 0x10000n, range: U })
  return { vm, other, bo, va, gone, foreign }
}

const vmCases: Case[] = [
  // insert
  ['insert(null)', 'EINVAL', (w) => w.vm.insert(bad(null))],
  ['insert with a number addr', 'EINVAL', (w) => w.vm.insert({ addr: bad(0x20000), range: U })],
  ['insert with a negative addr', 'EINVAL', (w) => w.vm.insert({ addr: -1n, range: U })],
  ['insert with addr 2^64', 'EINVAL', (w) => w.vm.insert({ addr: 1n << 64n, range: U })],
  ['insert with a fractional range', 'EINVAL', (w) => w.vm.insert({ addr: 0x20000n, range: bad(1.5) })],
  ['insert with a string range', 'EINVAL', (w) => w.vm.insert({ addr: 0x20000n, range: bad('4096') })],
  ['insert with range NaN', 'EINVAL', (w) => w.vm.insert({ addr: 0x20000n, range: bad(NaN) })],
  ['insert without range', 'EINVAL', (w) => w.vm.insert(bad({ addr: 0x20000n }))],
  ['insert with a negative offset', 'EINVAL', (w) => w.vm.insert({ addr: 0x20000n, range: U, offset: -1n })],
  ['insert with obj not a GemObject', 'EINVAL', (w) => w.vm.insert({ addr: 0x20000n, range: U, obj: bad({ id: 1 }) })],
  ['insert with obj a string', 'EINVAL', (w) => w.vm.insert({ addr: 0x20000n, range: U, obj: bad('bo') })],
  ['insert overlapping a mapping', 'EEXIST', (w) => w.vm.insert({ addr: 0x11000n, range: U })],
  ['insert on the kernel node', 'EINVAL', (w) => w.vm.insert({ addr: 0n, range: U })],
  ['insert outside the VA space', 'EINVAL', (w) => w.vm.insert({ addr: 1n << 48n, range: U })],
  ['insert with a range that wraps', 'EINVAL', (w) => w.vm.insert({ addr: (1n << 64n) - U, range: 2n * U })],
  // handles
  ['remove(undefined)', 'EINVAL', (w) => w.vm.remove(bad(undefined))],
  ['remove of a look-alike object', 'EINVAL', (w) => w.vm.remove(bad({ addr: 0x10000n, seq: 1 }))],
  ['remove of a Va of another VA space', 'EINVAL', (w) => w.vm.remove(w.foreign)],
  ['remove of a removed Va', 'EINVAL', (w) => w.vm.remove(w.gone)],
  ['link(null)', 'EINVAL', (w) => w.vm.link(bad(null))],
  ['unlink(42)', 'EINVAL', (w) => w.vm.unlink(bad(42))],
  ['isLinked of a Va of another VA space', 'EINVAL', (w) => w.vm.isLinked(w.foreign)],
  ['invalidate of a removed Va', 'EINVAL', (w) => w.vm.invalidate(w.gone)],
  ['gemVas(null)', 'EINVAL', (w) => w.vm.gemVas(bad(null))],
  ['gemVas of a plain object', 'EINVAL', (w) => w.vm.gemVas(bad({ id: 1 }))],
  ['gemUnmapOps(123)', 'EINVAL', (w) => w.vm.gemUnmapOps(bad(123))],
  // queries
  ['find with addr NaN', 'EINVAL', (w) => w.vm.find(bad(NaN), U)],
  ['findFirst without range', 'EINVAL', (w) => w.vm.findFirst(0n, bad(undefined))],
  ["findPrev('0')", 'EINVAL', (w) => w.vm.findPrev(bad('0'))],
  ['findNext(2^64)', 'EINVAL', (w) => w.vm.findNext(1n << 64n)],
  ['intervalEmpty with a negative addr', 'EINVAL', (w) => w.vm.intervalEmpty(-1n, U)],
  ['rangeValid with a negative range', 'EINVAL', (w) => w.vm.rangeValid(U, -1n)],
  ['vasInRange with a number start', 'EINVAL', (w) => [...w.vm.vasInRange(bad(0), U)]],
  // split/merge
  ['smMap without callbacks', 'EINVAL', (w) => w.vm.smMap({ addr: 0x20000n, range: U }, bad(undefined))],
  ['smMap with a missing callback', 'EINVAL', (w) => w.vm.smMap({ addr: 0x20000n, range: U }, { map: () => {} })],
  ['smUnmap with no callbacks', 'EINVAL', (w) => w.vm.smUnmap(0x10000n, U, {})],
  ['smMapOps on the kernel node', 'EINVAL', (w) => w.vm.smMapOps({ addr: 0n, range: 2n * U })],
  ['smMapOps with a range that wraps', 'EINVAL', (w) => w.vm.smMapOps({ addr: 1n << 63n, range: 1n << 63n })],
  ['smUnmapOps with a negative range', 'EINVAL', (w) => w.vm.smUnmapOps(0x5000n, -1n)],
  ["prefetchOps('x')", 'EINVAL', (w) => w.vm.prefetchOps(bad('x'), U)],
  ['mapSteps outside the space', 'EINVAL', (w) => [...w.vm.mapSteps({ addr: 1n << 48n, range: U })]],
  ['bind(null)', 'EINVAL', (w) => w.vm.bind(bad(null))],
  ['bind without range', 'EINVAL', (w) => w.vm.bind(bad({ addr: 0x20000n }))],
  ['bind on the kernel node', 'EINVAL', (w) => w.vm.bind({ addr: 0n, range: U })],
  ['unbind with range 2^64', 'EINVAL', (w) => w.vm.unbind(0x10000n, 1n << 64n)],
  // batches
  ['bindBatch(null)', 'EINVAL', (w) => w.vm.bindBatch(bad(null))],
  ['bindBatch of a look-alike object', 'EINVAL', (w) => w.vm.bindBatch(bad({ length: 0 }))],
  ['bindBatch with a perRequest not a Uint32Array', 'EINVAL', (w) => w.vm.bindBatch(batch(0x20000n), bad([0, 0, 0]))],
  ['bindBatch with a perRequest too short', 'EINVAL', (w) => w.vm.bindBatch(batch(0x20000n), new Uint32Array(2))],
  ['bindBatch whose first request is on the kernel node', 'EINVAL', (w) => w.vm.bindBatch(batch(0n))],
  ['a batch map request with a negative addr', 'EINVAL', () => new BindBatch().map({ addr: -1n, range: U })],
  ['a batch unmap request with range 2^64', 'EINVAL', () => new BindBatch().unmap(U, 1n << 64n)],
  ['re-entering the engine from a step', 'EBUSY', (w) =>
    w.vm.smMap(
      { addr: 0x10000n, range: U },
      { map: () => void w.vm.bind({ addr: 0x90000n, range: U, obj: null }), remap() {}, unmap() {} },
    )],
  // steps applied by hand
  ['apply(null)', 'EINVAL', (w) => w.vm.apply(bad(null))],
  ['apply of an unknown kind', 'EINVAL', (w) => w.vm.apply(bad({ kind: 'bogus' }))],
  ['apply of a map step without its mapping', 'EINVAL', (w) => w.vm.apply(bad({ kind: 'map', map: null }))],
  ['apply of an unmap step naming no Va', 'EINVAL', (w) => w.vm.apply(bad({ kind: 'unmap', va: {}, keep: false }))],
  ['apply of an unmap step naming a removed Va', 'EINVAL', (w) => w.vm.apply({ kind: 'unmap', va: w.gone, keep: false })],
  ['apply of an unmap step naming a Va of another space', 'EINVAL', (w) => w.vm.apply({ kind: 'unmap', va: w.foreign, keep: false })],
  ['apply of a map step over a mapping', 'EEXIST', (w) => w.vm.apply({ kind: 'map', map: { addr: 0x10000n, range: U, obj: null, offset: 0n } })],
  ['apply of a remap whose piece leaves the mapping', 'EINVAL', (w) =>
    w.vm.apply({
      kind: 'remap',
      prev: { addr: 0x8000n, range: 2n * U, obj: w.bo, offset: 0n },
      next: null,
      unmap: { va: w.va, keep: false },
    } as Op)],
  ['apply of a remap whose pieces overlap', 'EINVAL', (w) =>
    w.vm.apply({
      kind: 'remap',
      prev: { addr: 0x10000n, range: 2n * U, obj: w.bo, offset: 0n },
      next: { addr: 0x11000n, range: 2n * U, obj: w.bo, offset: 0n },
      unmap: { va: w.va, keep: false },
    } as Op)],
  ['apply of a remap with an empty piece', 'EINVAL', (w) =>
    w.vm.apply({
      kind: 'remap',
      prev: { addr: 0x10000n, range: 0n, obj: w.bo, offset: 0n },
      next: null,
      unmap: { va: w.va, keep: false },
    } as Op)],
  // use after destroy
  ['insert after destroy', 'EINVAL', (w) => (w.other.destroy(), w.other.insert({ addr: 0x20000n, range: U }))],
  ['bind after destroy', 'EINVAL', (w) => (w.other.destroy(), w.other.bind({ addr: 0x20000n, range: U }))],
  ['unbind after destroy', 'EINVAL', (w) => (w.other.destroy(), w.other.unbind(0x10000n, U))],
  ['bindBatch after destroy', 'EINVAL', (w) => (w.other.destroy(), w.other.bindBatch(batch(0x20000n)))],
  ['smMapOps after destroy', 'EINVAL', (w) => (w.other.destroy(), w.other.smMapOps({ addr: 0x20000n, range: U }))],
  ['destroy twice', 'EINVAL', (w) => (w.other.destroy(), w.other.destroy())],
]

const otherCases: Case[] = [
  ['new GpuVm()', 'EINVAL', () => new GpuVm(bad(undefined))],
  ['new GpuVm without range', 'EINVAL', () => new GpuVm(bad({ name: 'x' }))],
  ['new GpuVm with a number range', 'EINVAL', () => new GpuVm({ range: bad(1 << 20) })],
  ['new GpuVm with range 2^64', 'EINVAL', () => new GpuVm({ range: 1n << 64n })],
  ['new GpuVm with a string start', 'EINVAL', () => new GpuVm({ start: bad('0'), range: U })],
  ['new GpuVm with a reserve missing its offset', 'EINVAL', () => new GpuVm({ range: U, reserve: bad({ range: U }) })],
  ['new GpuVm with an unknown engine', 'EINVAL', () => new GpuVm({ range: U, engine: bad('gpu') })],
  ['new GpuVm with a number name', 'EINVAL', () => new GpuVm({ range: U, name: bad(5) })],
  ['new GemObject()', 'EINVAL', () => new GemObject(bad(undefined))],
  ['GemObject with a negative size', 'EINVAL', () => new GemObject({ size: -1n })],
  ['GemObject with a number size', 'EINVAL', () => new GemObject({ size: bad(4096) })],
  ['GemObject with id 0', 'EINVAL', () => new GemObject({ size: U, id: 0 })],
  ['GemObject with a fractional id', 'EINVAL', () => new GemObject({ size: U, id: 1.5 })],
  ['GemObject with id 2^32', 'EINVAL', () => new GemObject({ size: U, id: 2 ** 32 })],
  ['GemObject with an id in use', 'EEXIST', () => {
    const keep = new GemObject({ size: U, id: 0x7777 })
    return [keep, new GemObject({ size: U, id: 0x7777 })]
  }],
  ['vmbind with ops -1', 'EINVAL', () => vmbind({ ops: -1 })],
  ['vmbind with window 0', 'EINVAL', () => vmbind({ ops: 1, window: 0 })],
  ['vmbind with max-pages 0', 'EINVAL', () => vmbind({ ops: 1, maxPages: 0 })],
  ['vmbind with objects 0', 'EINVAL', () => vmbind({ ops: 1, objects: 0 })],
  ['vmbind with map-percent 101', 'EINVAL', () => vmbind({ ops: 1, mapPercent: 101 })],
  ['vmbind with a negative seed', 'EINVAL', () => vmbind({ ops: 1, seed: -1n })],
  ['vmbind with a number seed', 'EINVAL', () => vmbind({ ops: 1, seed: bad(1) })],
  ['vmbind with an unknown trace mode', 'EINVAL', () => vmbind({ ops: 1, trace: bad('verbose') })],
  ['vmbind with an unknown engine', 'EINVAL', () => vmbind({ ops: 1, engine: bad('gpu') })],
]

/** Allocators and a device, for the rows outside the VA space. */
interface DevWorld {
  engine: 'native' | 'reference'
  mm: RangeAllocator
  node: MmNode
  buddy: BuddyAllocator
  block: BuddyBlock
  dev: Device
  other: Device
  bo: GemObject
  vm: GpuVm
  ctx: WwAcquireCtx
  fence: Fence
  /** Inside its locking loop (its ticket taken). */
  exec: Exec
}

function devWorld(engine: 'native' | 'reference'): DevWorld {
  const mm = new RangeAllocator({ size: 1n << 20n, engine })
  const node = mm.insert({ size: U })
  const buddy = new BuddyAllocator({ size: 1n << 20n, engine })
  const [block] = buddy.alloc({ size: 2n * U })
  const dev = new Device({ engine, memory: { vram: 1n << 20n, gtt: 1n << 20n, system: 1n << 24n } })
  const bo = dev.createObject({ size: U })
  const vm = new GpuVm({ range: 1n << 32n, engine })
  const ctx = dev.acquireCtx()
  const fence = dev.createFence()
  const exec = new Exec(dev)
  exec.cleanup()
  return { engine, mm, node, buddy, block, dev, other: new Device({ engine }), bo, vm, ctx, fence, exec }
}

/**
 * Everything a bad call could have changed. The ids the next fence and resv
 * get show whether a call made one; taking them makes one of each, so `devSnapshot(w, 1)` after a call should equal `devSnapshot(w)` before it.
 */
const devSnapshot = (w: DevWorld, taken = 0) =>
  JSON.stringify(
    {
      objects: w.dev.core.objects().length,
      mm: [w.mm.nodes().map(String), w.mm.holes()],
      buddy: [w.buddy.blocks().map(String), w.buddy.avail],
      dev: [w.dev.now, w.dev.thread, w.dev.violations.length, w.dev.memory('vram'), w.dev.memory('gtt'), w.dev.placementTotals],
      bo: [w.bo.domain, w.bo.refcount, w.bo.pinCount, w.bo.resv.isLocked, w.bo.resv.numFences, w.dev.evictPlacement(w.bo)],
      ctx: [w.ctx.acquired, w.ctx.finished, w.exec.objects.length],
      next: [w.dev.createFence().id, w.dev.createResv().id].map((id) => id - taken),
    },
    (_k, v) => (typeof v === 'bigint' ? `${v}n` : v),
  )

type DevCase = [name: string, errno: Errno, call: (w: DevWorld) => unknown]

const yieldForever = function* (): LockOp<void> {
  for (;;) yield { op: 'yield' }
}
/** An op that yields `req` once, and notes whether its finally block ran. */
const yieldOnce = (req: unknown, closed: { done?: boolean } = {}) =>
  (function* () {
    try {
      yield req as Request
    } finally {
      closed.done = true
    }
  })()
/** Runs `f` holding `w.bo`'s lock, as validate needs ([] is a valid placement: validating with it purges). */
const locked = (w: DevWorld, f: () => unknown) => {
  w.bo.resv.lock()
  try {
    return f()
  } finally {
    w.bo.resv.unlock()
  }
}
const builder = (w: DevWorld) => (seed: bigint) => new Scheduler(w.other, { seed })

const devCases: DevCase[] = [
  // RangeAllocator (drm_mm)
  ['new RangeAllocator()', 'EINVAL', () => new RangeAllocator(bad(undefined))],
  ['new RangeAllocator(null)', 'EINVAL', () => new RangeAllocator(bad(null))],
  ['RangeAllocator with a number size', 'EINVAL', (w) => new RangeAllocator({ size: bad(4096), engine: w.engine })],
  ['RangeAllocator with engine 1n', 'EINVAL', () => new RangeAllocator({ size: U, engine: bad(1n) })],
  ['RangeAllocator with a symbol engine', 'EINVAL', () => new RangeAllocator({ size: U, engine: bad(Symbol('native')) })],
  ['mm.insert(null)', 'EINVAL', (w) => w.mm.insert(bad(null))],
  ['mm.insert with range: null', 'EINVAL', (w) => w.mm.insert({ size: U, range: bad(null) })],
  ['mm.insert with a number size', 'EINVAL', (w) => w.mm.insert({ size: bad(4096) })],
  ['mm.insert with a fractional alignment', 'EINVAL', (w) => w.mm.insert({ size: U, alignment: bad(1.5) })],
  ['mm.insert with a number range.start', 'EINVAL', (w) => w.mm.insert({ size: U, range: { start: bad(0), end: U } })],
  ['mm.insert with an unknown mode', 'EINVAL', (w) => w.mm.insert({ size: U, mode: bad('first') })],
  ['mm.insert with a number mode', 'EINVAL', (w) => w.mm.insert({ size: U, mode: bad(1) })],
  ['mm.insert that does not fit', 'ENOSPC', (w) => w.mm.insert({ size: 1n << 20n })],
  ['mm.reserve(null)', 'EINVAL', (w) => w.mm.reserve(bad(null))],
  ['mm.reserve with a fractional start', 'EINVAL', (w) => w.mm.reserve({ start: bad(1.5), size: U })],
  ['mm.reserve over a node', 'ENOSPC', (w) => w.mm.reserve({ start: w.node.start, size: U })],
  ['mm.remove(5)', 'EINVAL', (w) => w.mm.remove(bad(5))],
  ['mm.remove of a Proxy of a node', 'EINVAL', (w) => w.mm.remove(new Proxy(w.node, {}))],
  ['mm.nodeAt(0)', 'EINVAL', (w) => w.mm.nodeAt(bad(0))],
  ['mm.scan(null)', 'EINVAL', (w) => w.mm.scan(bad(null))],
  ['mm.scan with range: null', 'EINVAL', (w) => w.mm.scan({ size: U, range: bad(null) })],
  ["mm.scan with mode 'evict'", 'EINVAL', (w) => w.mm.scan({ size: U, mode: bad('evict') })],
  ['scan.run(5)', 'EINVAL', (w) => w.mm.scan({ size: U }).run(bad(5))],
  ['scan.add of a Proxy of a node', 'EINVAL', (w) => w.mm.scan({ size: U }).add(new Proxy(w.node, {}))],
  // BuddyAllocator (drm_buddy)
  ['new BuddyAllocator()', 'EINVAL', () => new BuddyAllocator(bad(undefined))],
  ['BuddyAllocator with a string size', 'EINVAL', () => new BuddyAllocator({ size: bad('1048576') })],
  ['BuddyAllocator with engine 1n', 'EINVAL', () => new BuddyAllocator({ size: U, engine: bad(1n) })],
  ['buddy.alloc(null)', 'EINVAL', (w) => w.buddy.alloc(bad(null))],
  ['buddy.alloc with range: null', 'EINVAL', (w) => w.buddy.alloc({ size: U, range: bad(null) })],
  ["buddy.alloc with topdown 'yes'", 'EINVAL', (w) => w.buddy.alloc({ size: U, topdown: bad('yes') })],
  ['buddy.alloc with a number minBlockSize', 'EINVAL', (w) => w.buddy.alloc({ size: U, minBlockSize: bad(4096) })],
  ['buddy.alloc that does not fit', 'ENOSPC', (w) => w.buddy.alloc({ size: 1n << 20n })],
  ['buddy.free(5)', 'EINVAL', (w) => w.buddy.free(bad(5))],
  ['buddy.free of a list with a bad element, all or nothing', 'EINVAL', (w) => w.buddy.free([w.block, bad(5)])],
  ['buddy.free of a Proxy of a block', 'EINVAL', (w) => w.buddy.free(new Proxy(w.block, {}))],
  ['buddy.trim with a number size', 'EINVAL', (w) => w.buddy.trim(w.block, bad(4096))],
  ['buddy.blockAt(NaN)', 'EINVAL', (w) => w.buddy.blockAt(bad(NaN))],
  // Device
  ['new Device(null)', 'EINVAL', () => new Device(bad(null))],
  ['Device with engine 1n', 'EINVAL', () => new Device({ engine: bad(1n) })],
  ['Device with an unknown wwClass', 'EINVAL', () => new Device({ wwClass: bad('mutex') })],
  ["Device with strict 'yes'", 'EINVAL', () => new Device({ strict: bad('yes') })],
  ['Device with memory 5', 'EINVAL', () => new Device({ memory: bad(5) })],
  ['Device with a number memory.vram', 'EINVAL', () => new Device({ memory: { vram: bad(1 << 20) } })],
  ['createFence(null)', 'EINVAL', (w) => w.dev.createFence(bad(null))],
  ['createFence with a fractional context', 'EINVAL', (w) => w.dev.createFence({ context: 1.5 })],
  ['createFence with a number signalAt', 'EINVAL', (w) => w.dev.createFence({ signalAt: bad(5) })],
  ['createObject(null)', 'EINVAL', (w) => w.dev.createObject(bad(null))],
  ['createObject with a number size', 'EINVAL', (w) => w.dev.createObject({ size: bad(4096) })],
  ['createObject with a fractional id', 'EINVAL', (w) => w.dev.createObject({ size: U, id: 1.5 })],
  ['createObject with an id in use', 'EEXIST', (w) => w.dev.createObject({ size: U, id: w.bo.id })],
  ['createObject with resv a Proxy of a Resv', 'EINVAL', (w) => w.dev.createObject({ size: U, resv: new Proxy(w.bo.resv, {}) })],
  ['createObject with resv a Proxy of a GemObject', 'EINVAL', (w) => w.dev.createObject({ size: U, resv: new Proxy(w.bo, {}) })],
  ['createObject with the resv of another device', 'EINVAL', (w) => w.dev.createObject({ size: U, resv: w.other.createResv() })],
  ['createObject with an unknown profile', 'EINVAL', (w) => w.dev.createObject({ size: U, profile: bad('gem-shmem') })],
  ['createObject larger than system memory', 'ENOMEM', (w) => w.dev.createObject({ size: 1n << 25n })],
  ["object('1')", 'EINVAL', (w) => w.dev.object(bad('1'))],
  ['advance(-1n)', 'EINVAL', (w) => w.dev.advance(-1n)],
  ['advance(5)', 'EINVAL', (w) => w.dev.advance(bad(5))],
  ['run(5)', 'EINVAL', (w) => w.dev.run(bad(5))],
  ['thread = 1.5', 'EINVAL', (w) => (w.dev.thread = 1.5)],
  ['validate of a Proxy of a GemObject', 'EINVAL', (w) => w.dev.validate(new Proxy(w.bo, {}), [])],
  ['validate of an object of another device', 'EINVAL', (w) => w.dev.validate(w.other.createObject({ size: U }), [])],
  ['validate with placement 5', 'EINVAL', (w) => w.dev.validate(w.bo, bad(5))],
  ['validate with a null place', 'EINVAL', (w) => w.dev.validate(w.bo, [bad(null)])],
  ['validate with domain 1n', 'EINVAL', (w) => w.dev.validate(w.bo, [{ domain: bad(1n) }])],
  ['validate with a number desired', 'EINVAL', (w) => w.dev.validate(w.bo, [{ domain: 'vram', desired: bad(1) }])],
  ['setEvictPlacement of a standalone GemObject', 'EINVAL', (w) => w.dev.setEvictPlacement(new GemObject({ size: U }), [])],
  ['setEvictPlacement with a place of domain current', 'EINVAL', (w) => w.dev.setEvictPlacement(w.bo, [{ domain: bad('current') }])],
  ['memory(1n)', 'EINVAL', (w) => w.dev.memory(bad(1n))],
  ['lru(null)', 'EINVAL', (w) => w.dev.lru(bad(null))],
  ['attachVm(5)', 'EINVAL', (w) => w.dev.attachVm(bad(5))],
  ['attachVm of a Proxy of a GpuVm', 'EINVAL', (w) => w.dev.attachVm(new Proxy(w.vm, {}))],
  ['evictList({})', 'EINVAL', (w) => w.dev.evictList(bad({}))],
  ['vaMappings of a Proxy of a GemObject', 'EINVAL', (w) => w.dev.vaMappings(new Proxy(w.bo, {}))],
  // reservation objects, contexts, fences
  ['resv.lock(5)', 'EINVAL', (w) => w.bo.resv.lock(bad(5))],
  ['resv.lock with a Proxy of an acquire context', 'EINVAL', (w) => w.bo.resv.lock(new Proxy(w.ctx, {}))],
  ['resv.lock with a context of another device', 'EINVAL', (w) => w.bo.resv.lock(w.other.acquireCtx())],
  ['resv.lockSlow(null)', 'EINVAL', (w) => w.bo.resv.lockSlow(bad(null))],
  ['resv.trylock({})', 'EINVAL', (w) => w.bo.resv.trylock(bad({}))],
  ["resv.attempt with slow 'yes'", 'EINVAL', (w) => w.bo.resv.attempt(null, bad('yes'))],
  ['resv.reserveFences(-1)', 'EINVAL', (w) => w.bo.resv.reserveFences(-1)],
  ['resv.addFence(null)', 'EINVAL', (w) => w.bo.resv.addFence(bad(null), 'read')],
  ['resv.addFence of a Proxy of a fence', 'EINVAL', (w) => w.bo.resv.addFence(new Proxy(w.fence, {}), 'read')],
  ['resv.addFence with usage 1', 'EINVAL', (w) => w.bo.resv.addFence(w.fence, bad(1))],
  ["resv.fences('all')", 'EINVAL', (w) => w.bo.resv.fences(bad('all'))],
  ['resv.testSignaled()', 'EINVAL', (w) => w.bo.resv.testSignaled(bad(undefined))],
  ['new Resv(null, 1)', 'EINVAL', () => new Resv(bad(null), 1)],
  ['new Resv with a fractional id', 'EINVAL', (w) => new Resv(w.dev, 1.5)],
  ['new Fence of a Proxy of a device', 'EINVAL', (w) => new Fence(new Proxy(w.dev, {}), 1)],
  ['new WwAcquireCtx with id -1', 'EINVAL', (w) => new WwAcquireCtx(w.dev, -1)],
  ['new LockGuard(5)', 'EINVAL', () => new LockGuard(bad(5))],
  // runSync
  ['runSync(null, op)', 'EINVAL', () => runSync(bad(null), yieldOnce({ op: 'yield' }))],
  ['runSync of a Proxy of a device', 'EINVAL', (w) => runSync(new Proxy(w.dev, {}), yieldOnce({ op: 'yield' }))],
  ['runSync(dev, 5)', 'EINVAL', (w) => runSync(w.dev, bad(5))],
  ['runSync of a Proxy of an op', 'EINVAL', (w) => runSync(w.dev, new Proxy(yieldOnce({ op: 'yield' }), {}))],
  ['runSync of a null request', 'EINVAL', (w) => runSync(w.dev, yieldOnce(null))],
  ['runSync of an unknown request kind', 'EINVAL', (w) => runSync(w.dev, yieldOnce({ op: 'spin' }))],
  ['runSync of a lock request without a Resv', 'EINVAL', (w) => runSync(w.dev, yieldOnce({ op: 'lock', resv: {}, ctx: null, slow: false }))],
  ['runSync of a sleep request of 5 ns as a number', 'EINVAL', (w) => runSync(w.dev, yieldOnce({ op: 'sleep', ns: 5 }))],
  ['runSync of a wait request without ready()', 'EINVAL', (w) => runSync(w.dev, yieldOnce({ op: 'wait', what: 'x', wakeAt: () => null }))],
  ['runSync of a wait that can never be ready', 'EDEADLK', (w) =>
    runSync(w.dev, yieldOnce({ op: 'wait', what: 'x', ready: () => false, wakeAt: () => w.dev.now }))],
  ['runSync of an op that yields for ever', 'EDEADLK', (w) => runSync(w.dev, yieldForever())],
  // drm_exec
  ['new Exec(dev, null)', 'EINVAL', (w) => new Exec(w.dev, bad(null))],
  ['new Exec(null)', 'EINVAL', () => new Exec(bad(null))],
  ['new Exec of a Proxy of a device', 'EINVAL', (w) => new Exec(new Proxy(w.dev, {}))],
  ['Exec with interruptible 1', 'EINVAL', (w) => new Exec(w.dev, { interruptible: bad(1) })],
  ['exec.untilAllLocked(5)', 'EINVAL', (w) => new Exec(w.dev).untilAllLocked(bad(5))],
  ['exec.lockObj of a Proxy of a GemObject', 'EINVAL', (w) => w.exec.lockObj(new Proxy(w.bo, {}))],
  ['exec.lockObj of an object of another device', 'EINVAL', (w) => w.exec.lockObj(w.other.createObject({ size: U }))],
  ['exec.prepareObj with numFences 1.5', 'EINVAL', (w) => w.exec.prepareObj(w.bo, 1.5)],
  ['exec.prepareArray(5)', 'EINVAL', (w) => w.exec.prepareArray(bad(5), 1)],
  ['exec.prepareArray with a bad element locks nothing', 'EINVAL', (w) => w.exec.prepareArray([w.bo, bad(5)], 1)],
  // scheduler
  ['new Scheduler(null)', 'EINVAL', () => new Scheduler(bad(null))],
  ['new Scheduler(dev, null)', 'EINVAL', (w) => new Scheduler(w.dev, bad(null))],
  ['Scheduler with seed 1.5', 'EINVAL', (w) => new Scheduler(w.dev, { seed: 1.5 })],
  ['Scheduler with seed -1', 'EINVAL', (w) => new Scheduler(w.dev, { seed: -1 })],
  ["Scheduler with seed '1'", 'EINVAL', (w) => new Scheduler(w.dev, { seed: bad('1') })],
  ['Scheduler with seed 2^64', 'EINVAL', (w) => new Scheduler(w.dev, { seed: 1n << 64n })],
  ['Scheduler with maxSteps NaN', 'EINVAL', (w) => new Scheduler(w.dev, { maxSteps: NaN })],
  ['Scheduler with maxSteps -1', 'EINVAL', (w) => new Scheduler(w.dev, { maxSteps: -1 })],
  ['Scheduler with maxSteps 1.5', 'EINVAL', (w) => new Scheduler(w.dev, { maxSteps: 1.5 })],
  ['spawn with a number name', 'EINVAL', (w) => new Scheduler(w.dev).spawn(bad(5), function* () {})],
  ['spawn with body 5', 'EINVAL', (w) => new Scheduler(w.dev).spawn('t', bad(5))],
  ['spawn with a body that is not a generator function', 'EINVAL', (w) => new Scheduler(w.dev).spawn('t', bad(() => 1))],
  ['new SimThread with a look-alike device', 'EINVAL', () => new SimThread(1, 't', bad({}))],
  ['explore(5, seeds)', 'EINVAL', () => explore(bad(5), [1n])],
  ['explore with seeds 5', 'EINVAL', (w) => explore(builder(w), bad(5))],
  ['explore with a fractional seed', 'EINVAL', (w) => explore(builder(w), [1.5])],
  ['explore with a build that returns a Proxy of a Scheduler', 'EINVAL', (w) => explore(() => new Proxy(new Scheduler(w.other), {}), [1n])],
  ['seeds(-1)', 'EINVAL', () => seeds(-1)],
  // vmbind and engines
  ['vmbind(null)', 'EINVAL', () => vmbind(bad(null))],
  ['vmbind with engine 1n', 'EINVAL', () => vmbind({ ops: 1, engine: bad(1n) })],
  ['vmbind with trace 1n', 'EINVAL', () => vmbind({ ops: 1, trace: bad(1n) })],
  ['vmbind with onProgress 5', 'EINVAL', () => vmbind({ ops: 1, onProgress: bad(5) })],
  ['GpuVm with engine 1n', 'EINVAL', () => new GpuVm({ range: U, engine: bad(1n) })],
]

/** Values no entry point accepts where a specific type is expected. */
const hostile = (): unknown[] => {
  const { proxy: revoked, revoke } = Proxy.revocable({}, {})
  revoke()
  return [null, undefined, 5, 1.5, NaN, -1, 1n, -1n, 'x', Symbol('x'), {}, [], () => 1, revoked]
}

/** Every public entry point outside the VA space, each with one argument taken from the test. */
type Entry = [name: string, call: (w: DevWorld, v: unknown) => unknown, valid: (w: DevWorld) => unknown]
const none = () => undefined
const entries: Entry[] = [
  ['new RangeAllocator', (_w, v) => new RangeAllocator(bad(v)), (w) => ({ size: U, engine: w.engine })],
  ...(['start', 'size', 'engine'] as const).map(
    (f): Entry => [`new RangeAllocator({ ${f} })`, (w, v) => new RangeAllocator(bad({ size: U, engine: w.engine, [f]: v })), none],
  ),
  ['mm.insert', (w, v) => w.mm.insert(bad(v)), () => ({ size: U })],
  ...(['size', 'alignment', 'color', 'range', 'mode'] as const).map(
    (f): Entry => [`mm.insert({ ${f} })`, (w, v) => w.mm.insert(bad({ size: U, [f]: v })), none],
  ),
  ['mm.insert({ range: { start } })', (w, v) => w.mm.insert({ size: U, range: { start: bad(v), end: 1n << 20n } }), none],
  ['mm.reserve', (w, v) => w.mm.reserve(bad(v)), () => ({ start: 1n << 19n, size: U })],
  ...(['start', 'size', 'color'] as const).map(
    (f): Entry => [`mm.reserve({ ${f} })`, (w, v) => w.mm.reserve(bad({ start: 1n << 19n, size: U, [f]: v })), none],
  ),
  ['mm.remove', (w, v) => w.mm.remove(bad(v)), (w) => w.node],
  ['mm.nodeAt', (w, v) => w.mm.nodeAt(bad(v)), () => 0n],
  ['mm.scan', (w, v) => w.mm.scan(bad(v)), () => ({ size: U })],
  ...(['size', 'alignment', 'range', 'mode'] as const).map(
    (f): Entry => [`mm.scan({ ${f} })`, (w, v) => w.mm.scan(bad({ size: U, [f]: v })), none],
  ),
  ['scan.add', (w, v) => w.mm.scan({ size: U }).add(bad(v)), (w) => w.node],
  ['scan.remove', (w, v) => w.mm.scan({ size: U }).remove(bad(v)), (w) => w.node],
  ['scan.run', (w, v) => w.mm.scan({ size: U }).run(bad(v)), (w) => [w.node]],
  ['new BuddyAllocator', (_w, v) => new BuddyAllocator(bad(v)), (w) => ({ size: U, engine: w.engine })],
  ...(['size', 'chunkSize', 'engine'] as const).map(
    (f): Entry => [`new BuddyAllocator({ ${f} })`, (w, v) => new BuddyAllocator(bad({ size: U, engine: w.engine, [f]: v })), none],
  ),
  ['buddy.alloc', (w, v) => w.buddy.alloc(bad(v)), () => ({ size: U })],
  ...(['size', 'minBlockSize', 'range', 'topdown', 'contiguous', 'trimDisable'] as const).map(
    (f): Entry => [`buddy.alloc({ ${f} })`, (w, v) => w.buddy.alloc(bad({ size: U, [f]: v })), none],
  ),
  ['buddy.free', (w, v) => w.buddy.free(bad(v)), (w) => w.block],
  ['buddy.trim(block)', (w, v) => w.buddy.trim(bad(v), U), (w) => w.block],
  ['buddy.trim(, size)', (w, v) => w.buddy.trim(w.block, bad(v)), () => U],
  ['buddy.blockAt', (w, v) => w.buddy.blockAt(bad(v)), () => 0n],
  ['new Device', (_w, v) => new Device(bad(v)), (w) => ({ engine: w.engine })],
  ...(['engine', 'strict', 'wwClass', 'profile', 'memory'] as const).map(
    (f): Entry => [`new Device({ ${f} })`, (w, v) => new Device(bad({ engine: w.engine, [f]: v })), none],
  ),
  ['new Device({ memory: { vram } })', (w, v) => new Device({ engine: w.engine, memory: { vram: bad(v) } }), none],
  ['dev.thread =', (w, v) => (w.dev.thread = bad(v)), () => 0],
  ['dev.advance', (w, v) => w.dev.advance(bad(v)), () => 1n],
  ['dev.run', (w, v) => w.dev.run(bad(v)), () => () => 1],
  ['dev.createObject', (w, v) => w.dev.createObject(bad(v)), () => ({ size: U })],
  ...(['size', 'id', 'resv', 'profile'] as const).map(
    (f): Entry => [`dev.createObject({ ${f} })`, (w, v) => w.dev.createObject(bad({ size: U, [f]: v })), none],
  ),
  ['dev.object', (w, v) => w.dev.object(bad(v)), (w) => w.bo.id],
  ['dev.createFence', (w, v) => w.dev.createFence(bad(v)), () => ({})],
  ...(['context', 'seqno', 'signalAt'] as const).map(
    (f): Entry => [`dev.createFence({ ${f} })`, (w, v) => w.dev.createFence(bad({ [f]: v })), none],
  ),
  ['dev.attachVm', (w, v) => w.dev.attachVm(bad(v)), (w) => w.vm],
  ['dev.validate(obj)', (w, v) => w.dev.validate(bad(v), []), (w) => w.bo],
  ['dev.validate(, placement)', (w, v) => locked(w, () => w.dev.validate(w.bo, bad(v))), () => [{ domain: 'vram' }]],
  ['dev.validate(, [place])', (w, v) => w.dev.validate(w.bo, [bad(v)]), () => ({ domain: 'vram' })],
  ['dev.validate(, [{ domain }])', (w, v) => w.dev.validate(w.bo, [{ domain: bad(v) }]), () => 'vram'],
  ['dev.setEvictPlacement(obj)', (w, v) => w.dev.setEvictPlacement(bad(v), []), (w) => w.bo],
  ['dev.setEvictPlacement(, placement)', (w, v) => w.dev.setEvictPlacement(w.bo, bad(v)), () => [{ domain: 'gtt' }]],
  ['dev.evictPlacement', (w, v) => w.dev.evictPlacement(bad(v)), (w) => w.bo],
  ['dev.memory', (w, v) => w.dev.memory(bad(v)), () => 'vram'],
  ['dev.lru', (w, v) => w.dev.lru(bad(v)), () => 'vram'],
  ['dev.evictList', (w, v) => w.dev.evictList(bad(v)), (w) => w.vm],
  ['dev.vaMappings', (w, v) => w.dev.vaMappings(bad(v)), (w) => w.bo],
  ['resv.lock', (w, v) => w.bo.resv.lock(bad(v)), (w) => w.ctx],
  ['resv.lockSlow', (w, v) => w.bo.resv.lockSlow(bad(v)), (w) => w.ctx],
  ['resv.trylock', (w, v) => w.bo.resv.trylock(bad(v)), (w) => w.ctx],
  ['resv.guard', (w, v) => w.bo.resv.guard(bad(v)), (w) => w.ctx],
  ['resv.attempt(, slow)', (w, v) => w.bo.resv.attempt(null, bad(v)), () => false],
  ['resv.reserveFences', (w, v) => w.bo.resv.reserveFences(bad(v)), () => 1],
  ['resv.addFence(fence)', (w, v) => w.bo.resv.addFence(bad(v), 'read'), (w) => w.fence],
  ['resv.addFence(, usage)', (w, v) => w.bo.resv.addFence(w.fence, bad(v)), () => 'read'],
  ['resv.fences', (w, v) => w.bo.resv.fences(bad(v)), () => 'read'],
  ['resv.testSignaled', (w, v) => w.bo.resv.testSignaled(bad(v)), () => 'read'],
  ['resv.wait', (w, v) => w.bo.resv.wait(bad(v)), () => 'read'],
  ['new Resv(device)', (_w, v) => new Resv(bad(v), 1), (w) => w.dev],
  ['new Resv(, id)', (w, v) => new Resv(w.dev, bad(v)), (w) => w.bo.resv.id],
  ['new Fence(device)', (_w, v) => new Fence(bad(v), 1), (w) => w.dev],
  ['new WwAcquireCtx(, id)', (w, v) => new WwAcquireCtx(w.dev, bad(v)), () => 1],
  ['new LockGuard', (_w, v) => new LockGuard(bad(v)), (w) => w.bo.resv],
  ['runSync(device)', (_w, v) => runSync(bad(v), yieldOnce({ op: 'yield' })), (w) => w.dev],
  ['runSync(, op)', (w, v) => runSync(w.dev, bad(v)), () => yieldOnce({ op: 'yield' })],
  ['runSync(, op yielding it)', (w, v) => runSync(w.dev, yieldOnce(v)), () => ({ op: 'yield' })],
  ['runSync(, op yielding { op })', (w, v) => runSync(w.dev, yieldOnce({ op: v })), () => 'yield'],
  ['runSync(, op yielding a sleep)', (w, v) => runSync(w.dev, yieldOnce({ op: 'sleep', ns: v })), () => 1n],
  ['runSync(, op yielding a lock)', (w, v) => runSync(w.dev, yieldOnce({ op: 'lock', resv: v, ctx: null, slow: false })), (w) => w.bo.resv],
  ['runSync(, op yielding a wait)', (w, v) => runSync(w.dev, yieldOnce({ op: 'wait', what: 'x', ready: () => false, wakeAt: v })), () => () => null],
  ['new Exec(device)', (_w, v) => new Exec(bad(v)), (w) => w.dev],
  ['new Exec(, options)', (w, v) => new Exec(w.dev, bad(v)), () => ({})],
  ['exec.untilAllLocked', (w, v) => new Exec(w.dev).untilAllLocked(bad(v)), () => () => {}],
  ['exec.lockObj', (w, v) => w.exec.lockObj(bad(v)), (w) => w.bo],
  ['exec.unlockObj', (w, v) => w.exec.unlockObj(bad(v)), (w) => w.bo],
  ['exec.prepareObj(, n)', (w, v) => w.exec.prepareObj(w.bo, bad(v)), () => 1],
  ['exec.prepareArray', (w, v) => w.exec.prepareArray(bad(v), 1), (w) => [w.bo]],
  ['new Scheduler(device)', (_w, v) => new Scheduler(bad(v)), (w) => w.dev],
  ['new Scheduler(, options)', (w, v) => new Scheduler(w.dev, bad(v)), () => ({})],
  ...(['seed', 'maxSteps'] as const).map(
    (f): Entry => [`new Scheduler(, { ${f} })`, (w, v) => new Scheduler(w.dev, bad({ [f]: v })).run(), none],
  ),
  ['sched.spawn(name)', (w, v) => new Scheduler(w.dev).spawn(bad(v), function* () {}), () => 't'],
  ['sched.spawn(, body)', (w, v) => new Scheduler(w.dev).spawn('t', bad(v)), () => function* () {}],
  ['a thread yielding it', (w, v) => {
    const s = new Scheduler(w.other)
    s.spawn('t', function* () {
      yield bad<Request>(v)
    })
    const r = s.run()
    if (r.errors.length > 0) throw r.errors[0].error
  }, () => ({ op: 'yield' })],
  ['new SimThread(, , device)', (_w, v) => new SimThread(1, 't', bad(v)), (w) => w.dev],
  ['thread.sleep', (w, v) => [...new Scheduler(w.dev).spawn('t', function* () {}).sleep(bad(v))], () => 1n],
  ['explore(build)', (_w, v) => explore(bad(v), [1n]), (w) => builder(w)],
  ['explore(, seeds)', (w, v) => explore(builder(w), bad(v)), () => [1n]],
  ['explore(, [seed])', (w, v) => explore(builder(w), [bad(v)]), () => 1n],
  ['seeds', (_w, v) => [...seeds(bad(v))], () => 2],
  ['vmbind', (_w, v) => vmbind(bad(v)), () => ({ ops: 1 })],
  ...(['seed', 'ops', 'window', 'maxPages', 'objects', 'mapPercent', 'trace', 'engine', 'onProgress'] as const).map(
    (f): Entry => [`vmbind({ ${f} })`, (w, v) => vmbind(bad({ ops: 5, engine: w.engine, [f]: v })), none],
  ),
]

const snapshot = (vm: GpuVm) => (vm.destroyed ? 'destroyed' : [...vm.vas()].map((v) => `${v}`).join(';'))

describe('bad input', () => {
  it('the table has at least 60 cases', () => {
    expect(vmCases.length + otherCases.length).toBeGreaterThanOrEqual(60)
  })

  describe.each(['native', 'reference'] as const)('on a VA space (%s engine)', (engine) => {
    it.each(vmCases)('%s → %s, VA space unchanged', (_name, errno, call) => {
      const w = world(engine)
      const before = snapshot(w.vm)
      expect(errnoOf(() => call(w))).toBe(errno)
      expect(snapshot(w.vm)).toBe(before)
      // Still usable afterwards.
      expect(w.vm.bind({ addr: 0x80000n, range: U, obj: w.bo }).map).toBe(1)
    })
  })

  it.each(otherCases)('%s → %s', (_name, errno, call) => {
    expect(errnoOf(() => call(undefined as unknown as World))).toBe(errno)
  })

  describe.each(['native', 'reference'] as const)('outside the VA space (%s engine)', (engine) => {
    it.each(devCases)('%s → %s, state unchanged', (_name, errno, call) => {
      const w = devWorld(engine)
      const before = devSnapshot(w)
      expect(errnoOf(() => call(w))).toBe(errno)
      expect(devSnapshot(w, 1)).toBe(before)
    })

    // Whatever an entry point throws for a hostile argument is a DrmError,
    // and the state is as it was; a forwarding Proxy of a valid argument may
    // be accepted or refused, but never with a TypeError from a private field.
    it.each(entries)('%s: every hostile argument is a DrmError, state unchanged', (_name, call, valid) => {
      for (const v of hostile()) {
        const w = devWorld(engine)
        const before = devSnapshot(w)
        try {
          call(w, v)
        } catch (e) {
          expect(e, describeValue(v)).toBeInstanceOf(DrmError)
          expect(devSnapshot(w, 1), describeValue(v)).toBe(before)
        }
      }
      // A forwarding Proxy of a valid argument: refused, or taken as the value (a call
      // may then fail for other reasons, with their own effects, such as a violation recorded).
      const w = devWorld(engine)
      try {
        call(w, new Proxy(Object(valid(w)), {}))
      } catch (e) {
        expect(e).toBeInstanceOf(DrmError)
      }
    })
  })

  it('a table row for each case above', () => {
    expect(devCases.length).toBeGreaterThanOrEqual(130)
    expect(entries.length).toBeGreaterThanOrEqual(100)
  })
})

describe('argument checking helpers', () => {
  it('describe() never throws, whatever it is given', () => {
    const { proxy: revoked, revoke } = Proxy.revocable({}, {})
    revoke()
    const trap = () => {
      throw new Error('trap')
    }
    const traps = new Proxy({}, { get: trap, has: trap, getPrototypeOf: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })
    const loud = { toString: trap, valueOf: trap, [Symbol.toPrimitive]: trap }
    const ctorGetter = Object.create(Object.defineProperty({}, 'constructor', { get: trap }))
    const cases: [unknown, string][] = [
      [1n << 64n, '18446744073709551616n'],
      [Symbol('s'), 'a symbol'],
      [traps, 'a Proxy'],
      [revoked, 'a Proxy'],
      [loud, 'an object'],
      [ctorGetter, 'an object'],
      [Object.create(null), 'an object'],
      [new Uint32Array(2), 'a Uint32Array'],
      [new GemObject({ size: U }), 'a GemObject'],
      [() => 1, 'a function'],
      [NaN, 'number NaN'],
      [null, 'null'],
      [undefined, 'undefined'],
      ['x'.repeat(100), `"${'x'.repeat(40)}..."`],
    ]
    for (const [v, want] of cases) expect(describeValue(v)).toBe(want)
  })

  it('runSync closes an op it refuses (its finally blocks run)', () => {
    const dev = new Device({ engine: 'reference' })
    const closed: { done?: boolean } = {}
    expect(errnoOf(() => runSync(dev, yieldOnce({ op: 'spin' }, closed)))).toBe('EINVAL')
    expect(closed.done).toBe(true)
  })

  it('a scheduler thread yielding an unknown request ends with EINVAL; the others run on', () => {
    const dev = new Device({ engine: 'reference' })
    const s = new Scheduler(dev, { seed: 1 })
    let other = 0
    s.spawn('bad', function* () {
      yield bad<Request>({ op: 'spin' })
    })
    s.spawn('good', function* (t) {
      yield* t.yield()
      other++
    })
    const r = s.run()
    expect(r.completed).toBe(true)
    expect(r.errors.map((e) => [e.thread, (e.error as DrmError).errno])).toEqual([['bad', 'EINVAL']])
    expect(other).toBe(1)
  })

  it('maxSteps 0 and Infinity are accepted: 0 runs nothing, Infinity runs to the end', () => {
    const dev = new Device({ engine: 'reference' })
    const body = function* () {
      yield { op: 'yield' } as Request
    }
    const zero = new Scheduler(dev, { maxSteps: 0 })
    zero.spawn('t', body)
    expect(zero.run()).toMatchObject({ steps: 0, completed: false })
    const all = new Scheduler(dev, { maxSteps: Infinity })
    all.spawn('t', body)
    expect(all.run()).toMatchObject({ steps: 2, completed: true })
  })

  it.each(['native', 'reference'] as const)('a createObject refused with ENOMEM frees its id at once (%s)', (engine) => {
    const dev = new Device({ engine, memory: { system: 1n << 20n } })
    const id = engine === 'native' ? 0x5150 : 0x5151
    expect(errnoOf(() => dev.createObject({ size: 2n << 20n, id }))).toBe('ENOMEM')
    expect(dev.object(id)).toBeUndefined()
    // Before the fix the refused object kept the id until it was collected: EEXIST here.
    expect(dev.createObject({ size: U, id }).id).toBe(id)
  })
})
