// The batched request API (BindBatch + GpuVm.bindBatch) on both engines: the
// same results as one bind/unbind per request, a failure mid-batch, and bad
// input refused with the VA space and the batch unchanged.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BindBatch,
  DrmBatchError,
  DrmError,
  DrmWarning,
  GemObject,
  GpuVm,
  type MapRequest,
  type OpCounts,
} from '../lib/index.js'
import { batchContents } from '../lib/gpuvm/batch.js'
import { defaultParams, requests } from '../lib/workloads/vmbind.js'

const U = 0x1000n
const engines = ['native', 'reference'] as const
type Engine = (typeof engines)[number]

const newVm = (engine: Engine, strict = false) =>
  new GpuVm({ name: 'batch', range: 1n << 48n, reserve: { offset: 0n, range: U }, engine, strict })

const state = (vm: GpuVm) =>
  [...vm.vas()].map((va) => `${va.addr}+${va.range}:${va.obj?.id ?? 0}@${va.offset}#${va.seq}`)

/** A request stream of the canonical workload, its objects as GemObjects. */
function workload(ops: number, objects = 16) {
  const objs = Array.from({ length: objects }, () => new GemObject({ size: 1n << 30n }))
  return [...requests({ ...defaultParams, ops, objects, window: 4096, maxPages: 16 })].map((r) =>
    r.kind === 'map' ? { ...r, obj: objs[r.obj - 1] } : r,
  )
}
type Req = ReturnType<typeof workload>[number]

const append = (batch: BindBatch, r: Req) => (r.kind === 'map' ? batch.map(r) : batch.unmap(r.addr, r.range))
const one = (vm: GpuVm, r: Req): OpCounts => (r.kind === 'map' ? vm.bind(r) : vm.unbind(r.addr, r.range))

/** What `f` threw (it must throw). */
function thrown(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error('expected an error')
}

describe.each(engines)('BindBatch and GpuVm.bindBatch (%s engine)', (engine) => {
  it('gives the same counts, per request and in total, and the same VA space as one call per request', () => {
    const reqs = workload(3000)
    const single = newVm(engine)
    const want = reqs.map((r) => one(single, r))
    const batched = newVm(engine)
    // In chunks of uneven size, each batch reused after clear().
    const batch = new BindBatch(4)
    const per = new Uint32Array(3 * 257)
    const got: OpCounts[] = []
    for (let at = 0; at < reqs.length; at += 257) {
      batch.clear()
      const chunk = reqs.slice(at, at + 257)
      chunk.forEach((r, i) => expect(append(batch, r)).toBe(i))
      expect(batch.length).toBe(chunk.length)
      const total = batched.bindBatch(batch, per)
      const each = chunk.map((_, i) => ({ map: per[3 * i], remap: per[3 * i + 1], unmap: per[3 * i + 2], prefetch: 0 }))
      got.push(...each)
      const sum = (k: 'map' | 'remap' | 'unmap') => each.reduce((s, c) => s + c[k], 0)
      expect(total).toEqual({ map: sum('map'), remap: sum('remap'), unmap: sum('unmap'), prefetch: 0 })
    }
    expect(got).toEqual(want)
    // The workload splits and merges: the comparison is not about no-ops.
    expect(want.some((c) => c.remap > 0) && want.some((c) => c.unmap > 0)).toBe(true)
    expect(state(batched)).toEqual(state(single))
    expect(batched.mappingCount).toBeGreaterThan(10)
    // Handles come back with the objects the batch named.
    for (const va of batched.vas()) if (va.obj) expect(va.obj).toBeInstanceOf(GemObject)
    expect(batched.warnings).toEqual(single.warnings)
  })

  it('applies a whole batch in one call, without perRequest', () => {
    const reqs = workload(2000)
    const single = newVm(engine)
    const want = reqs.map((r) => one(single, r))
    const batched = newVm(engine)
    const batch = new BindBatch()
    reqs.forEach((r) => append(batch, r))
    const total = batched.bindBatch(batch)
    const sum = (k: 'map' | 'remap' | 'unmap') => want.reduce((s, c) => s + c[k], 0)
    expect(total).toEqual({ map: sum('map'), remap: sum('remap'), unmap: sum('unmap'), prefetch: 0 })
    expect(state(batched)).toEqual(state(single))
    // The batch is not consumed: applying it again is the same as replaying it.
    const again = batched.bindBatch(batch)
    const want2 = reqs.map((r) => one(single, r))
    expect(state(batched)).toEqual(state(single))
    expect(again.remap).toBe(want2.reduce((s, c) => s + c.remap, 0))
  })

  it('writes per-request counts into a Uint32Array over a SharedArrayBuffer, or a view at an offset', () => {
    const reqs = workload(500)
    const plain = new Uint32Array(3 * reqs.length)
    const shared = new Uint32Array(new SharedArrayBuffer(4 * 3 * reqs.length))
    const offset = new Uint32Array(new ArrayBuffer(4 * (3 * reqs.length + 5)), 4 * 5)
    const batch = new BindBatch()
    reqs.forEach((r) => append(batch, r))
    const totals = [plain, shared, offset].map((per) => newVm(engine).bindBatch(batch, per))
    expect(totals[1]).toEqual(totals[0])
    expect(totals[2]).toEqual(totals[0])
    expect([...shared]).toEqual([...plain])
    expect([...offset]).toEqual([...plain])
    expect(plain.some((n) => n > 0)).toBe(true)
  })

  it('an empty batch changes nothing', () => {
    const vm = newVm(engine)
    vm.bind({ addr: 0x10000n, range: U })
    const before = state(vm)
    expect(vm.bindBatch(new BindBatch())).toEqual({ map: 0, remap: 0, unmap: 0, prefetch: 0 })
    expect(state(vm)).toEqual(before)
  })

  it('stops at a failing request: DrmBatchError with its index and errno, earlier requests applied, later ones not', () => {
    const vm = newVm(engine)
    const bo = new GemObject({ size: 1n << 20n })
    const batch = new BindBatch()
    batch.map({ addr: 0x10000n, range: 4n * U, obj: bo })
    batch.map({ addr: 0x11000n, range: U, obj: null })
    batch.unmap(0x13000n, U)
    batch.map({ addr: 1n << 48n, range: U }) // outside the VA space
    batch.map({ addr: 0x40000n, range: U, obj: bo })
    const per = new Uint32Array(15).fill(99)
    const e = thrown(() => vm.bindBatch(batch, per))
    expect(e).toBeInstanceOf(DrmBatchError)
    expect(e).toBeInstanceOf(DrmError)
    const err = e as DrmBatchError
    expect(err.errno).toBe('EINVAL')
    expect(err.code).toBe('EINVAL')
    expect(err.index).toBe(3)
    expect(err.message).toMatch(/^EINVAL: request 3 of the batch: /)
    // The cause is the error bind itself throws for that request.
    const alone = thrown(() => newVm(engine).bind({ addr: 1n << 48n, range: U })) as DrmError
    expect(err.cause).toBeInstanceOf(DrmError)
    expect((err.cause as DrmError).message).toBe(alone.message)
    expect(err.message).toBe(`EINVAL: request 3 of the batch: ${alone.message.replace(/^EINVAL: /, '')}`)
    // Requests 0-2 as bind/unbind give them: a map, a remap splitting it plus
    // a map, a remap cutting a page out; nothing written for the others.
    const single = newVm(engine)
    const first = [
      single.bind({ addr: 0x10000n, range: 4n * U, obj: bo }),
      single.bind({ addr: 0x11000n, range: U, obj: null }),
      single.unbind(0x13000n, U),
    ]
    expect(first.map((c) => [c.map, c.remap, c.unmap])).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [0, 1, 0],
    ])
    expect([...per]).toEqual([1, 0, 0, 1, 1, 0, 0, 1, 0, 99, 99, 99, 99, 99, 99])
    expect(err.applied).toEqual({ map: 2, remap: 2, unmap: 0, prefetch: 0 })
    expect(state(vm)).toEqual(state(single))
    expect(vm.mappingCount).toBe(3)
    expect(vm.find(0x40000n, U)).toBeUndefined()
  })

  it('a refused request warns as bind does; a strict VA space throws the DrmWarning', () => {
    const wraps: MapRequest = { addr: (1n << 64n) - U, range: 2n * U }
    const vm = newVm(engine)
    const batch = new BindBatch()
    batch.map({ addr: 0x10000n, range: U })
    batch.map(wraps)
    const err = thrown(() => vm.bindBatch(batch)) as DrmBatchError
    expect(err).toBeInstanceOf(DrmBatchError)
    expect(err.index).toBe(1)
    const single = newVm(engine)
    single.bind({ addr: 0x10000n, range: U })
    const alone = thrown(() => single.bind(wraps)) as DrmError
    expect(err.errno).toBe(alone.errno)
    expect(vm.warnings).toEqual(single.warnings)
    expect(vm.warnings.map((w) => w.kind)).toEqual(['overflow'])
    expect(state(vm)).toEqual(state(single))

    const strict = newVm(engine, true)
    expect(thrown(() => strict.bindBatch(batch))).toBeInstanceOf(DrmWarning)
    expect(strict.mappingCount).toBe(1)
  })

  it('a batch on a destroyed VA space fails at its first request', () => {
    const vm = newVm(engine)
    vm.destroy()
    const batch = new BindBatch()
    batch.unmap(0x10000n, U)
    const err = thrown(() => vm.bindBatch(batch)) as DrmBatchError
    expect(err).toBeInstanceOf(DrmBatchError)
    expect([err.errno, err.index]).toEqual(['EINVAL', 0])
    expect(err.message).toMatch(/destroyed/)
  })

  it("ends an open iterator walk: the batch applies, the walk's next step is EBUSY", () => {
    const vm = newVm(engine)
    vm.bind({ addr: 0x10000n, range: 2n * U })
    const batch = new BindBatch()
    batch.map({ addr: 0x80000n, range: U })
    const walk = vm.mapSteps({ addr: 0x10000n, range: U })
    expect(walk.next().done).toBe(false)
    expect(vm.bindBatch(batch).map).toBe(1)
    expect(vm.find(0x80000n, U)).toBeDefined()
    const err = thrown(() => walk.next()) as DrmError
    expect(err).toBeInstanceOf(DrmError)
    expect(err.errno).toBe('EBUSY')
    // A walk that ended is done for good; the VA space takes requests as before.
    expect(walk.next().done).toBe(true)
    expect(vm.bindBatch(batch).unmap).toBe(1)
  })

  it('refuses to enter the engine from a step callback (EBUSY), nothing applied', () => {
    const vm = newVm(engine)
    vm.bind({ addr: 0x10000n, range: 2n * U })
    const batch = new BindBatch()
    batch.map({ addr: 0x80000n, range: U })
    const before = state(vm)
    let err: unknown
    const step = (): void => {
      err = thrown(() => vm.bindBatch(batch))
    }
    vm.smMap({ addr: 0x10000n, range: U }, { map: step, remap: step, unmap: step })
    expect(err).toBeInstanceOf(DrmError)
    expect(err).not.toBeInstanceOf(DrmBatchError)
    expect((err as DrmError).errno).toBe('EBUSY')
    expect(state(vm)).toEqual(before)
  })

  it('grows past its first capacity and keeps every request', () => {
    const vm = newVm(engine)
    const batch = new BindBatch(1)
    for (let i = 0n; i < 1000n; i++) batch.map({ addr: 0x100000n + 2n * i * U, range: U })
    expect(batch.length).toBe(1000)
    expect(vm.bindBatch(batch).map).toBe(1000)
    expect(vm.mappingCount).toBe(1000)
    expect(vm.find(0x100000n + 2n * 999n * U, U)).toBeDefined()
    batch.clear()
    expect(batch.length).toBe(0)
    expect(vm.bindBatch(batch).map).toBe(0)
  })

  it('keeps u64 values whole: addresses and offsets at the top of the space', () => {
    const top = 1n << 63n
    const vm = new GpuVm({ name: 'top', start: top, range: (1n << 64n) - top - 1n, engine })
    const bo = new GemObject({ size: 1n << 20n })
    const batch = new BindBatch()
    batch.map({ addr: (1n << 64n) - 3n * U, range: 2n * U, obj: bo, offset: (1n << 64n) - 4n * U })
    expect(vm.bindBatch(batch).map).toBe(1)
    const [va] = vm.vas()
    expect([va.addr, va.range, va.obj, va.offset]).toEqual([(1n << 64n) - 3n * U, 2n * U, bo, (1n << 64n) - 4n * U])
  })

  describe('bad input, refused (EINVAL) with the VA space unchanged', () => {
    const fixture = () => {
      const vm = newVm(engine)
      vm.bind({ addr: 0x10000n, range: 4n * U })
      const batch = new BindBatch()
      batch.map({ addr: 0x20000n, range: U })
      batch.unmap(0x10000n, U)
      return { vm, batch, before: state(vm) }
    }
    const bad = <T>(v: unknown) => v as T
    const cases: [string, (vm: GpuVm, batch: BindBatch) => unknown][] = [
      ['bindBatch(null)', (vm) => vm.bindBatch(bad(null))],
      ['bindBatch of a plain object', (vm) => vm.bindBatch(bad({ length: 1 }))],
      ['bindBatch of a BindBatch look-alike', (vm) => vm.bindBatch(Object.create(BindBatch.prototype))],
      ['bindBatch with an Int32Array', (vm, batch) => vm.bindBatch(batch, bad(new Int32Array(6)))],
      ['bindBatch with an array', (vm, batch) => vm.bindBatch(batch, bad([0, 0, 0, 0, 0, 0]))],
      ['bindBatch with a perRequest too short', (vm, batch) => vm.bindBatch(batch, new Uint32Array(5))],
    ]
    it.each(cases)('%s', (_name, call) => {
      const { vm, batch, before } = fixture()
      const err = thrown(() => call(vm, batch)) as DrmError
      expect(err).toBeInstanceOf(DrmError)
      expect(err.errno).toBe('EINVAL')
      expect(state(vm)).toEqual(before)
      // The batch still works.
      expect(vm.bindBatch(batch)).toEqual({ map: 1, remap: 1, unmap: 0, prefetch: 0 })
    })
  })
})

describe('BindBatch checks each request as it is added', () => {
  const bad = <T>(v: unknown) => v as T
  const cases: [string, (b: BindBatch) => unknown][] = [
    ['map(null)', (b) => b.map(bad(null))],
    ['map without range', (b) => b.map(bad({ addr: 0x1000n }))],
    ['map with a number addr', (b) => b.map({ addr: bad(4096), range: U })],
    ['map with a negative offset', (b) => b.map({ addr: U, range: U, offset: -1n })],
    ['map with range 2^64', (b) => b.map({ addr: U, range: 1n << 64n })],
    ['map with obj not a GemObject', (b) => b.map({ addr: U, range: U, obj: bad({ id: 1 }) })],
    ['unmap with a negative addr', (b) => b.unmap(-1n, U)],
    ['unmap with a string range', (b) => b.unmap(U, bad('4096'))],
  ]
  it.each(cases)('%s → EINVAL, the batch unchanged', (_name, call) => {
    const b = new BindBatch()
    b.map({ addr: 0x10000n, range: U })
    const err = thrown(() => call(b)) as DrmError
    expect(err).toBeInstanceOf(DrmError)
    expect(err.errno).toBe('EINVAL')
    expect(b.length).toBe(1)
    const vm = newVm('reference')
    expect(vm.bindBatch(b).map).toBe(1)
    expect(state(vm)).toEqual([`0+${U}:0@0#0`, `${0x10000n}+${U}:0@0#1`])
  })

  it.each([[-1], [1.5], [2 ** 30], [bad('8')]])('new BindBatch(%s) → EINVAL', (capacity) => {
    expect((thrown(() => new BindBatch(capacity as number)) as DrmError).errno).toBe('EINVAL')
  })
})

describe('the two engines agree on batches', () => {
  it('same totals, per-request counts, errors and VA space for a workload with failing requests', () => {
    const reqs = workload(1500)
    // Every 100th request outside the VA space, so the batches fail along the way.
    const withBad = reqs.map((r, i) => (i % 100 === 99 ? { ...r, addr: 1n << 48n } : r))
    const run = (engine: Engine) => {
      const vm = newVm(engine)
      const batch = new BindBatch()
      const out: unknown[] = []
      let at = 0
      while (at < withBad.length) {
        batch.clear()
        withBad.slice(at, at + 300).forEach((r) => append(batch, r))
        const per = new Uint32Array(3 * batch.length)
        try {
          out.push(vm.bindBatch(batch, per), [...per])
          at += batch.length
        } catch (e) {
          if (!(e instanceof DrmBatchError)) throw e
          out.push([e.errno, e.message, e.index, e.applied], [...per])
          at += e.index + 1
        }
      }
      return { out, state: state(vm), warnings: vm.warnings }
    }
    const native = run('native')
    expect(native.out.length).toBeGreaterThan(20)
    expect(native).toEqual(run('reference'))
  })
})

describe('a batch past the size where the native engine looks ahead', () => {
  it('300,000 mappings and more: the same counts and VA space as one call per request', () => {
    // Past 8,192 leaves of at most 32 records (262,144 mappings) the native
    // engine asks for the next requests' tree nodes while it applies one.
    const objs = Array.from({ length: 64 }, () => new GemObject({ size: 1n << 30n }))
    const reqs = [
      ...requests({ ...defaultParams, ops: 400_000, window: 1 << 28, maxPages: 2, objects: 64, mapPercent: 90 }),
    ].map((r) => (r.kind === 'map' ? { ...r, obj: objs[r.obj - 1] } : r))
    const batched = newVm('native')
    const batch = new BindBatch()
    for (const r of reqs) append(batch, r)
    const per = new Uint32Array(3 * batch.length)
    const total = batched.bindBatch(batch, per)
    const single = newVm('native')
    const perOne = new Uint32Array(3 * reqs.length)
    reqs.forEach((r, i) => {
      const c = one(single, r)
      perOne.set([c.map, c.remap, c.unmap], 3 * i)
    })
    expect(batched.mappingCount).toBeGreaterThan(300_000)
    expect(total.map).toBe(reqs.filter((r) => r.kind === 'map').length)
    // Whole-buffer and whole-string compares: element by element, vitest's
    // deep equality takes seconds over a million counts.
    expect(Buffer.from(per.buffer).equals(Buffer.from(perOne.buffer))).toBe(true)
    expect(state(batched).join('\n')).toBe(state(single).join('\n'))
  })
})

describe('batches filled in turn over the same objects', () => {
  // Each batch keeps the objects its requests name, each once, whatever
  // other batches took in, cleared or were read in between (gem.ts marks).
  type Step = { batch: number; act: 'map' | 'clear' | 'apply'; obj: number }
  const step = fc.record({
    batch: fc.integer({ min: 0, max: 2 }),
    act: fc.constantFrom<Step['act']>('map', 'map', 'map', 'clear', 'apply'),
    obj: fc.integer({ min: 0, max: 5 }),
  })

  it('hold every object they name exactly once, and a VA space takes each in', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const objs = Array.from({ length: 6 }, () => new GemObject({ size: 1n << 30n }))
        const batches = [0, 1, 2].map(() => new BindBatch(2))
        const named = [0, 1, 2].map(() => new Set<GemObject>())
        const pending = [0, 1, 2].map(() => new Map<bigint, GemObject>())
        const bound = new Map<bigint, GemObject>()
        const vm = newVm('native')
        let addr = 0x100000n
        for (const { batch, act, obj } of steps) {
          const b = batches[batch]
          if (act === 'map') {
            b.map({ addr, range: U, obj: objs[obj] })
            pending[batch].set(addr, objs[obj])
            addr += 2n * U
            named[batch].add(objs[obj])
          } else if (act === 'clear') {
            b.clear()
            named[batch].clear()
            pending[batch].clear()
          } else {
            const { objects, objectCount } = batchContents(b)
            const held = objects.slice(0, objectCount)
            expect(held.length).toBe(named[batch].size)
            expect(new Set(held)).toEqual(named[batch])
            vm.bindBatch(b)
            for (const [a, o] of pending[batch]) bound.set(a, o)
            b.clear()
            named[batch].clear()
            pending[batch].clear()
          }
        }
        const vas = [...vm.vas()].filter((va) => va.addr !== 0n)
        expect(new Map(vas.map((va) => [va.addr, va.obj]))).toEqual(bound)
        for (const [i, b] of batches.entries()) {
          const { objects, objectCount } = batchContents(b)
          expect(new Set(objects.slice(0, objectCount))).toEqual(named[i])
          expect(objectCount).toBe(named[i].size)
        }
        vm.destroy()
      }),
      { numRuns: 300 },
    )
  })
})
