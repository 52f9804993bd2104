// Bad input on the VA space (GpuVm, GemObject, vmbind), case by case: each
// gets a DrmError with the kernel's errno name and leaves the VA space as it
// was. The same table is summarised in the README ("Bad input"); the other
// areas are in bad-input-{alloc,device,sweep}.spec.ts.
import { describe, expect, it } from 'vitest'
import { BindBatch, GemObject, GpuVm, vmbind, type Errno, type Op, type Va } from '../lib/index.js'
import { bad, type DevCase, outsideVaSpace, U } from './bad-input.js'
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
  // atomic bind arrays and undo
  ['bindArray(null)', 'EINVAL', (w) => w.vm.bindArray(bad(null))],
  ['bindArray of a look-alike object', 'EINVAL', (w) => w.vm.bindArray(bad({ length: 1 }))],
  ['bindArray with options not an object', 'EINVAL', (w) => w.vm.bindArray(batch(0x20000n), bad(3))],
  ['bindArray with failAt -1', 'EINVAL', (w) => w.vm.bindArray(batch(0x20000n), { failAt: -1 })],
  ['bindArray with failAt 0.5', 'EINVAL', (w) => w.vm.bindArray(batch(0x20000n), { failAt: 0.5 })],
  ["bindArray with failAt '0'", 'EINVAL', (w) => w.vm.bindArray(batch(0x20000n), { failAt: bad('0') })],
  ['bindArray with failAt 2^53', 'EINVAL', (w) => w.vm.bindArray(batch(0x20000n), { failAt: 2 ** 53 })],
  [
    'bindArray with a perRequest too short',
    'EINVAL',
    (w) => w.vm.bindArray(batch(0x20000n), { perRequest: new Uint32Array(2) }),
  ],
  [
    'bindArray with a detached perRequest',
    'EINVAL',
    (w) => {
      const per = new Uint32Array(3)
      structuredClone(per.buffer, { transfer: [per.buffer] })
      return w.vm.bindArray(batch(0x20000n), { perRequest: per })
    },
  ],
  [
    'bindArray whose last request is on the kernel node',
    'EINVAL',
    (w) => {
      const b = batch(0x20000n)
      b.unmap(0x10000n, U)
      b.map({ addr: 0n, range: U })
      return w.vm.bindArray(b)
    },
  ],
  ['bindArray with an injected failure', 'ENOSPC', (w) => w.vm.bindArray(batch(0x20000n), { failAt: 0 })],
  ['bindArray after destroy', 'EINVAL', (w) => (w.other.destroy(), w.other.bindArray(batch(0x20000n)))],
  ['undo(42)', 'EINVAL', (w) => w.vm.undo(bad(42))],
  [
    'undo of an unmap of a Va of another VA space',
    'EINVAL',
    (w) => w.vm.undo([{ kind: 'unmap', va: w.foreign, keep: false }]),
  ],
  ['undo of an unmap of a mapping still there', 'EINVAL', (w) => w.vm.undo([{ kind: 'unmap', va: w.va, keep: false }])],
  [
    'undo of a map no mapping matches',
    'EINVAL',
    (w) => w.vm.undo([{ kind: 'map', map: { addr: 0x80000n, range: U, obj: null, offset: 0n } }]),
  ],
  ['undo of an op of unknown kind', 'EINVAL', (w) => w.vm.undo([bad({ kind: 'swap' })])],
  ['a batch map request with a negative addr', 'EINVAL', () => new BindBatch().map({ addr: -1n, range: U })],
  ['a batch unmap request with range 2^64', 'EINVAL', () => new BindBatch().unmap(U, 1n << 64n)],
  [
    're-entering the engine from a step',
    'EBUSY',
    (w) =>
      w.vm.smMap(
        { addr: 0x10000n, range: U },
        { map: () => void w.vm.bind({ addr: 0x90000n, range: U, obj: null }), remap() {}, unmap() {} },
      ),
  ],
  // steps applied by hand
  ['apply(null)', 'EINVAL', (w) => w.vm.apply(bad(null))],
  ['apply of an unknown kind', 'EINVAL', (w) => w.vm.apply(bad({ kind: 'bogus' }))],
  ['apply of a map step without its mapping', 'EINVAL', (w) => w.vm.apply(bad({ kind: 'map', map: null }))],
  ['apply of an unmap step naming no Va', 'EINVAL', (w) => w.vm.apply(bad({ kind: 'unmap', va: {}, keep: false }))],
  [
    'apply of an unmap step naming a removed Va',
    'EINVAL',
    (w) => w.vm.apply({ kind: 'unmap', va: w.gone, keep: false }),
  ],
  [
    'apply of an unmap step naming a Va of another space',
    'EINVAL',
    (w) => w.vm.apply({ kind: 'unmap', va: w.foreign, keep: false }),
  ],
  [
    'apply of a map step over a mapping',
    'EEXIST',
    (w) => w.vm.apply({ kind: 'map', map: { addr: 0x10000n, range: U, obj: null, offset: 0n } }),
  ],
  [
    'apply of a remap whose piece leaves the mapping',
    'EINVAL',
    (w) =>
      w.vm.apply({
        kind: 'remap',
        prev: { addr: 0x8000n, range: 2n * U, obj: w.bo, offset: 0n },
        next: null,
        unmap: { va: w.va, keep: false },
      } as Op),
  ],
  [
    'apply of a remap whose pieces overlap',
    'EINVAL',
    (w) =>
      w.vm.apply({
        kind: 'remap',
        prev: { addr: 0x10000n, range: 2n * U, obj: w.bo, offset: 0n },
        next: { addr: 0x11000n, range: 2n * U, obj: w.bo, offset: 0n },
        unmap: { va: w.va, keep: false },
      } as Op),
  ],
  [
    'apply of a remap with an empty piece',
    'EINVAL',
    (w) =>
      w.vm.apply({
        kind: 'remap',
        prev: { addr: 0x10000n, range: 0n, obj: w.bo, offset: 0n },
        next: null,
        unmap: { va: w.va, keep: false },
      } as Op),
  ],
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
  [
    'GemObject with an id in use',
    'EEXIST',
    () => {
      const keep = new GemObject({ size: U, id: 0x7777 })
      return [keep, new GemObject({ size: U, id: 0x7777 })]
    },
  ],
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

/** vmbind and the engines, checked against the allocators-and-device state. */
const vmbindCases: DevCase[] = [
  ['vmbind(null)', 'EINVAL', () => vmbind(bad(null))],
  ['vmbind with engine 1n', 'EINVAL', () => vmbind({ ops: 1, engine: bad(1n) })],
  ['vmbind with trace 1n', 'EINVAL', () => vmbind({ ops: 1, trace: bad(1n) })],
  ['vmbind with onProgress 5', 'EINVAL', () => vmbind({ ops: 1, onProgress: bad(5) })],
  ['GpuVm with engine 1n', 'EINVAL', () => new GpuVm({ range: U, engine: bad(1n) })],
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

  outsideVaSpace(vmbindCases, 5)
})
