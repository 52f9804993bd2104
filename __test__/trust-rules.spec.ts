/**
 * The rules of the public API under distrust (issue 12), one by one on both
 * engines: revoked Proxies refused by every method taking a request, a handle
 * or an op; iterator walks ended by a later split/merge call, interleaved with
 * the calls that do not end them, returned, thrown into and dropped; re-entry
 * from step callbacks; op-list buffers written and transferred; frozen
 * handles that only their VA space makes and that cannot be proxied. The
 * random side-by-side property that checks them as it goes is
 * trust-property.spec.ts (replay a failing seed there with DRMSIM_FC_SEED);
 * these tests are not random.
 */
import { describe, expect, it } from 'vitest'
import { BindBatch } from '../lib/gpuvm/batch.js'
import { GemObject } from '../lib/device/gem.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import type { Op } from '../lib/gpuvm/ops.js'
import { PackedOps } from '../lib/gpuvm/packed-ops.js'
import { Va } from '../lib/gpuvm/va.js'
import { P, opData, packedData, state, text } from './fixtures/plain.js'
import { BASE, CallerError, ENGINES, type Engine, type Result, run } from './fixtures/trust.js'

describe('revoked Proxies, on both engines', () => {
  const revoked = (): never => {
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    return proxy as never
  }
  it.each(ENGINES)('%s: every method taking a request, a handle or an op refuses one with EINVAL', (engine) => {
    const vm = new GpuVm({ engine, range: 1n << 48n })
    const calls: [string, () => unknown][] = [
      ['bind', () => vm.bind(revoked())],
      ['insert', () => vm.insert(revoked())],
      ['smMapOps', () => vm.smMapOps(revoked())],
      ['smMapOpsPacked', () => vm.smMapOpsPacked(revoked())],
      ['mapSteps', () => vm.mapSteps(revoked())],
      ['smMap request', () => vm.smMap(revoked(), { map() {}, remap() {}, unmap() {} })],
      ['smMap steps', () => vm.smMap({ addr: 0n, range: 0n }, revoked())],
      ['apply', () => vm.apply(revoked())],
      ['apply map', () => vm.apply({ kind: 'map', map: revoked() })],
      ['remove', () => vm.remove(revoked())],
      ['gemVas', () => vm.gemVas(revoked())],
      ['bindBatch', () => vm.bindBatch(revoked())],
      ['BindBatch.map', () => new BindBatch().map(revoked())],
      ['new GpuVm', () => new GpuVm(revoked())],
      ['new GemObject', () => new GemObject(revoked())],
    ]
    const refused = calls.map(([name, f]) => [name, run(f)])
    expect(refused).toEqual(calls.map(([name]) => [name, { errno: 'EINVAL' }]))
    expect(state(vm)).toEqual([])
  })
})

describe('iterator walks, op-list buffers and handles: the rules one by one, on both engines', () => {
  const setup = (engine: Engine) => {
    const vm = new GpuVm({ engine, range: 1n << 48n, reserve: { offset: 0n, range: P } })
    const bo = new GemObject({ size: 1n << 20n })
    for (let i = 0n; i < 4n; i++) vm.bind({ addr: BASE + 2n * i * P, range: P, obj: bo, offset: i * P })
    return { vm, bo }
  }
  const wide = [BASE, 8n * P] as const

  it.each(ENGINES)('%s: a later split/merge call ends an open walk, whose next() is EBUSY', (engine) => {
    const later: [string, (vm: GpuVm) => unknown][] = [
      ['bind', (vm) => vm.bind({ addr: BASE + 100n * P, range: P, obj: null })],
      ['unbind', (vm) => vm.unbind(BASE + 100n * P, P)],
      ['bindBatch', (vm) => vm.bindBatch(new BindBatch())],
      ['mapSteps', (vm) => vm.mapSteps({ addr: BASE + 100n * P, range: P }).next()],
      ['unmapSteps', (vm) => vm.unmapSteps(BASE + 100n * P, P).next()],
      ['smMap', (vm) => vm.smMap({ addr: BASE + 100n * P, range: P }, { map() {}, remap() {}, unmap() {} })],
      ['smUnmap', (vm) => vm.smUnmap(BASE + 100n * P, P, { remap() {}, unmap() {} })],
      ['destroy', (vm) => vm.destroy()],
      ['dispose', (vm) => vm[Symbol.dispose]()],
    ]
    for (const [name, call] of later) {
      const { vm } = setup(engine)
      const walk = vm.unmapSteps(...wide)
      const first = walk.next()
      expect(first.done, name).toBe(false)
      vm.apply(first.value)
      call(vm)
      expect(
        run(() => walk.next()),
        `${name} ended the walk`,
      ).toEqual({ errno: 'EBUSY' })
      expect(
        run(() => walk.next()),
        `${name}: then it is over`,
      ).toEqual({ ok: { done: true, value: undefined } })
    }
  })

  it.each(ENGINES)(
    '%s: apply, insert, remove, queries, op lists, link and unlink interleave with an open walk',
    (engine) => {
      const { vm, bo } = setup(engine)
      const walk = vm.unmapSteps(...wide)
      const steps: unknown[] = []
      for (let r = walk.next(); !r.done; r = walk.next()) {
        steps.push(opData(r.value))
        vm.apply(r.value)
        const va = vm.insert({ addr: BASE + 50n * P, range: P, obj: bo, offset: 0n })
        vm.link(va)
        expect(vm.isLinked(va)).toBe(true)
        vm.unlink(va)
        vm.smMapOpsPacked({ addr: BASE, range: P, obj: bo }).counts()
        vm.smUnmapOps(...wide)
        vm.prefetchOps(...wide)
        vm.gemUnmapOps(bo)
        vm.findFirst(...wide)
        vm.intervalEmpty(...wide)
        ;[...vm.vas()]
        vm.remove(va)
      }
      expect(steps).toHaveLength(4)
      expect(vm.mappingCount).toBe(0)
    },
  )

  it.each(ENGINES)('%s: return() and throw() end a walk; a dropped walk holds nothing', (engine) => {
    const { vm } = setup(engine)
    const a = vm.unmapSteps(...wide)
    a.next()
    expect(run(() => a.return!())).toEqual({ ok: { done: true, value: undefined } })
    expect(run(() => a.next())).toEqual({ ok: { done: true, value: undefined } })
    const b = vm.unmapSteps(...wide)
    b.next()
    expect(run(() => b.throw!(new CallerError('stop')))).toEqual({ caller: true })
    expect(run(() => b.next())).toEqual({ ok: { done: true, value: undefined } })
    // Dropped after one step, without return(): the next bind goes through.
    vm.unmapSteps(...wide).next()
    expect(run(() => vm.bind({ addr: BASE + 100n * P, range: P }))).toEqual({
      ok: { map: 1, remap: 0, unmap: 0, prefetch: 0 },
    })
    expect(vm.mappingCount).toBe(5)
  })

  it.each(ENGINES)('%s: re-entering the engine from a step callback stays EBUSY', (engine) => {
    const { vm } = setup(engine)
    const inner: Result[] = []
    const step = (op: Op) => {
      inner.push(run(() => vm.bind({ addr: BASE + 100n * P, range: P })))
      inner.push(run(() => vm.unbind(BASE + 100n * P, P)))
      inner.push(run(() => vm.bindBatch(new BindBatch())))
      inner.push(run(() => vm.mapSteps({ addr: BASE + 100n * P, range: P }).next()))
      inner.push(run(() => vm.destroy()))
      vm.apply(op)
    }
    vm.smUnmap(...wide, { remap: step, unmap: step })
    expect(inner).toEqual(Array(20).fill({ errno: 'EBUSY' }))
    expect(vm.mappingCount).toBe(0)
  })

  it.each(ENGINES)(
    "%s: an op list's words are its own: writes and transfers touch no other list, and its accessors then refuse",
    (engine) => {
      const { vm, bo } = setup(engine)
      const lists = Array.from({ length: 8 }, () => vm.smUnmapOpsPacked(...wide))
      const made = text(packedData(lists[0]))
      lists[1].words.fill(0n)
      const moved = structuredClone(lists[2].words, { transfer: [lists[2].words.buffer as ArrayBuffer] })
      const { port1, port2 } = new MessageChannel()
      port1.postMessage(lists[3].words, [lists[3].words.buffer as ArrayBuffer])
      port1.close()
      port2.close()
      expect(moved.length).toBe(4 * PackedOps.WORDS)
      for (const i of [2, 3]) {
        for (const read of [
          () => lists[i].kind(0),
          () => lists[i].op(0),
          () => [...lists[i]],
          () => lists[i].toOpList(),
          () => lists[i].counts(),
        ]) {
          expect(run(read), `list ${i}`).toEqual({ errno: 'EINVAL' })
        }
      }
      for (const i of [0, 4, 5, 6, 7]) expect(text(packedData(lists[i])), `list ${i}`).toBe(made)
      // Nor any later list, nor the VA space.
      expect(text(packedData(vm.smUnmapOpsPacked(...wide)))).toBe(made)
      expect(vm.gemUnmapOpsPacked(bo).length).toBe(4)
      expect(vm.mappingCount).toBe(4)
    },
  )

  it.each(ENGINES)('%s: handles are frozen, made by their VA space alone, and not to be proxied', (engine) => {
    const { vm, bo } = setup(engine)
    const va = [...vm.vas()][1]
    expect(Object.isFrozen(va) && Object.isFrozen(bo)).toBe(true)
    expect(run(() => ((va as { addr: bigint }).addr = 0n), true)).toEqual({ typeError: true })
    expect(run(() => ((bo as { id: number }).id = -1), true)).toEqual({ typeError: true })
    expect([va.addr, bo.id]).toEqual([BASE, bo.id])
    expect(run(() => new (Va as unknown as new (...a: unknown[]) => Va)(vm, BASE, P, bo, 0n, 1))).toEqual({
      errno: 'EINVAL',
    })
    const fakes: unknown[] = [new Proxy(va, {}), Object.assign(Object.create(Va.prototype), { ...va })]
    for (const fake of fakes) {
      for (const use of [vm.remove, vm.link, vm.unlink, vm.isLinked, vm.invalidate, vm.isInvalidated]) {
        expect(run(() => use.call(vm, fake as Va))).toEqual({ errno: 'EINVAL' })
      }
      expect(run(() => vm.apply({ kind: 'unmap', va: fake as Va, keep: false }))).toEqual({ errno: 'EINVAL' })
    }
    for (const fake of [new Proxy(bo, {}), Object.assign(Object.create(GemObject.prototype), { id: bo.id, size: P })]) {
      expect(run(() => vm.bind({ addr: BASE + 100n * P, range: P, obj: fake as GemObject }))).toEqual({
        errno: 'EINVAL',
      })
      expect(run(() => vm.gemVas(fake as GemObject))).toEqual({ errno: 'EINVAL' })
      expect(run(() => vm.gemUnmapOpsPacked(fake as GemObject))).toEqual({ errno: 'EINVAL' })
      expect(run(() => new BindBatch().map({ addr: 0n, range: P, obj: fake as GemObject }))).toEqual({
        errno: 'EINVAL',
      })
    }
    expect(vm.mappingCount).toBe(4)
  })
})
