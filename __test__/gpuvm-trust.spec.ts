// Ordinary use that once broke a VA space (issue 12, items 1-4 and the
// lying perRequest of item 6), on both engines: more GEM objects than the
// object table's first threshold, op lists whose words escape, walks left
// open, and handles a caller tampers with. Each case failed on the code
// before its fix.
import { describe, expect, it } from 'vitest'
import { BindBatch, Device, GemObject, GpuVm, PackedOps, SplitMix64, Va } from '../lib/index.js'
import { errnoOf } from './errno.js'

const U = 0x1000n
const engines = ['native', 'reference'] as const
type Engine = (typeof engines)[number]

const newVm = (engine: Engine) =>
  new GpuVm({ name: 'trust', range: 1n << 48n, reserve: { offset: 0n, range: U }, engine })
const state = (vm: GpuVm) =>
  [...vm.vas()].map((va) => `${va.addr}+${va.range}:${va.obj?.id ?? 0}@${va.offset}#${va.seq}`)
const objects = (n: number) => Array.from({ length: n }, () => new GemObject({ size: 1n << 20n }))

describe.each(engines)('trust (%s engine)', (engine) => {
  describe('more GEM objects than the object table first holds', () => {
    it('keeps every object of 3,000 binds: listing, op lists, walks and a later unbind all resolve them', () => {
      const vm = newVm(engine)
      const objs = objects(3000)
      objs.forEach((obj, i) => vm.bind({ addr: BigInt(i + 1) * U, range: U, obj }))
      const vas = [...vm.vas()]
      expect(vas.length).toBe(3001)
      expect(vas.slice(1).map((va) => va.obj)).toEqual(objs)
      expect(vm.smUnmapOps(U, 3000n * U).length).toBe(3000)
      expect([...vm.unmapSteps(U, 3000n * U)].length).toBe(3000)
      expect(vm.gemUnmapOps(objs[2999]).length).toBe(1)
      expect(vm.unbind(U, 3000n * U).unmap).toBe(3000)
    })

    it('a batch naming 5,000 new objects applies and resolves them all', () => {
      const vm = newVm(engine)
      const objs = objects(5000)
      const batch = new BindBatch()
      objs.forEach((obj, i) => batch.map({ addr: BigInt(i + 1) * U, range: U, obj }))
      expect(vm.bindBatch(batch).map).toBe(5000)
      expect([...vm.vas()].slice(1).map((va) => va.obj)).toEqual(objs)
    })

    it('an open walk and an op list keep the objects they name while the table is pruned', () => {
      const vm = newVm(engine)
      const [x, y] = objects(2)
      vm.bind({ addr: 0x100000n, range: 2n * U, obj: y })
      const list = vm.smUnmapOpsPacked(0x100000n, 2n * U)
      const walk = vm.mapSteps({ addr: 0x100000n, range: U, obj: x })
      expect(walk.next().value?.kind).toBe('remap')
      // Thousands of objects passed by queries make the table prune what no mapping uses.
      for (const obj of objects(3000)) vm.gemVas(obj)
      // remove, unlike unbind, leaves the walk open.
      vm.remove(vm.find(0x100000n, 2n * U)!)
      for (const obj of objects(3000)) vm.gemVas(obj)
      const rest = [...walk]
      expect(rest.map((op) => op.kind)).toEqual(['map'])
      expect(rest[0].kind === 'map' && rest[0].map.obj).toBe(x)
      expect(list.obj(0)).toBe(y)
      expect(list.toOpList().length).toBe(1)
    })
  })

  describe("an op list's words are its own", () => {
    it("writing to, or transferring, one list's words changes no other list and breaks no later one", () => {
      const vm = newVm(engine)
      const [x] = objects(1)
      vm.bind({ addr: 0x100000n, range: 4n * U, obj: x })
      const a = vm.smMapOpsPacked({ addr: 0x101000n, range: U, obj: x, offset: U })
      const b = vm.smMapOpsPacked({ addr: 0x102000n, range: U, obj: x, offset: 2n * U })
      const bWords = [...b.words]
      a.words.fill(0n)
      expect([...b.words]).toEqual(bWords)
      const moved = structuredClone(a.words, { transfer: [a.words.buffer as ArrayBuffer] })
      expect(moved.length).toBe(2 * PackedOps.WORDS)
      expect(a.words.length).toBe(0)
      expect(errnoOf(() => a.kind(0))).toBe('EINVAL')
      expect(errnoOf(() => a.toOpList())).toBe('EINVAL')
      expect([...b.words]).toEqual(bWords)
      expect(b.kind(0)).toBe('remap')
      // Lists made afterwards are whole.
      const c = vm.smMapOpsPacked({ addr: 0x101000n, range: U, obj: x, offset: U })
      expect([...c.toOpList()].map((op) => op.kind)).toEqual(['remap', 'map'])
    })
  })

  describe('walks left open hold nothing', () => {
    it('a walk taken one step and dropped blocks no later call; its own next step is EBUSY', () => {
      const vm = newVm(engine)
      vm.bind({ addr: 0x100000n, range: 2n * U })
      const walk = vm.unmapSteps(0x100000n, U)
      expect(walk.next().done).toBe(false)
      // The calls that once failed with EBUSY for ever after.
      expect(vm.bind({ addr: 0x200000n, range: U }).map).toBe(1)
      expect(vm.unbind(0x200000n, U).unmap).toBe(1)
      expect(vm.smUnmapOps(0x100000n, U).length).toBe(1)
      const batch = new BindBatch()
      batch.map({ addr: 0x300000n, range: U })
      expect(vm.bindBatch(batch).map).toBe(1)
      expect(errnoOf(() => walk.next())).toBe('EBUSY')
      vm.unbind(0x100000n, 0x300000n)
      vm.destroy()
      expect(vm.destroyed).toBe(true)
    })

    it('a walk returned or thrown into ends; a second walk supersedes the first', () => {
      for (const end of ['return', 'throw', 'supersede'] as const) {
        const vm = newVm(engine)
        vm.bind({ addr: 0x100000n, range: 2n * U })
        const walk = vm.unmapSteps(0x100000n, U)
        walk.next()
        if (end === 'return') expect(walk.return!(undefined).done).toBe(true)
        if (end === 'throw') expect(() => walk.throw!(new Error('stop'))).toThrow('stop')
        if (end === 'supersede') expect([...vm.mapSteps({ addr: 0x100000n, range: U })].length).toBe(2)
        expect(vm.bind({ addr: 0x200000n, range: U }).map).toBe(1)
        if (end === 'supersede') expect(errnoOf(() => walk.next())).toBe('EBUSY')
        expect(walk.next().done).toBe(true)
        using _vm = vm
      }
    })

    it('apply, queries and op lists interleave with an open walk without ending it', () => {
      const vm = newVm(engine)
      vm.bind({ addr: 0x100000n, range: 3n * U })
      const walk = vm.unmapSteps(0x100000n, 3n * U)
      const first = walk.next().value!
      vm.apply(first)
      expect(vm.smMapOps({ addr: 0x500000n, range: U }).length).toBe(1)
      expect(vm.find(0x100000n, 3n * U)).toBeUndefined()
      vm.insert({ addr: 0x600000n, range: U })
      expect(walk.next().done).toBe(true)
    })
  })

  describe('handles cannot be forged or changed', () => {
    it('a Va made by hand, a look-alike or a Proxy of a real one is EINVAL; fields cannot be written', () => {
      const vm = newVm(engine)
      vm.bind({ addr: 0x100000n, range: U })
      const va = vm.find(0x100000n, U)!
      const before = state(vm)
      expect(errnoOf(() => new Va(vm, va.addr + (1n << 64n), va.range, null, 0n, va.seq))).toBe('EINVAL')
      expect(errnoOf(() => vm.remove(Object.create(Va.prototype)))).toBe('EINVAL')
      expect(errnoOf(() => vm.remove(new Proxy(va, {})))).toBe('EINVAL')
      expect(() => {
        ;(va as { addr: bigint }).addr = va.addr + (1n << 64n)
      }).toThrow(TypeError)
      expect(va.addr).toBe(0x100000n)
      expect(state(vm)).toEqual(before)
      vm.remove(va)
      expect(vm.mappingCount).toBe(0)
    })

    it('a GemObject id cannot be changed, and a Proxy of an object is EINVAL everywhere', () => {
      const vm = newVm(engine)
      const [x] = objects(1)
      expect(() => {
        ;(x as { id: number }).id = -1
      }).toThrow(TypeError)
      expect(() => {
        ;(x as { id: number }).id = Number.NaN
      }).toThrow(TypeError)
      const proxy = new Proxy(x, {})
      expect(errnoOf(() => vm.bind({ addr: 0x100000n, range: U, obj: proxy }))).toBe('EINVAL')
      expect(errnoOf(() => new BindBatch().map({ addr: 0x100000n, range: U, obj: proxy }))).toBe('EINVAL')
      expect(errnoOf(() => vm.gemVas(proxy))).toBe('EINVAL')
      let reads = 0
      const shifty = new Proxy(x, { get: (t, k) => (k === 'id' ? ++reads : Reflect.get(t, k)) })
      expect(errnoOf(() => vm.bind({ addr: 0x100000n, range: U, obj: shifty }))).toBe('EINVAL')
      expect(vm.mappingCount).toBe(0)
      vm.bind({ addr: 0x100000n, range: U, obj: x })
      expect([...vm.vas()][1].obj).toBe(x)
    })
  })

  describe('bindBatch reads the true length of perRequest', () => {
    it('a Uint32Array whose own length lies, or a Proxy of one, is refused before anything is applied', () => {
      const vm = newVm(engine)
      const batch = new BindBatch()
      batch.map({ addr: 0x100000n, range: U })
      batch.map({ addr: 0x200000n, range: U })
      const short = new Uint32Array(3)
      Object.defineProperty(short, 'length', { value: 6 })
      expect(errnoOf(() => vm.bindBatch(batch, short))).toBe('EINVAL')
      expect(errnoOf(() => vm.bindBatch(batch, new Proxy(new Uint32Array(6), {})))).toBe('EINVAL')
      expect(vm.mappingCount).toBe(0)
      const per = new Uint32Array(6)
      vm.bindBatch(batch, per)
      expect([...per]).toEqual([1, 0, 0, 1, 0, 0])
    })
  })
})

describe('arguments that throw while read', () => {
  it.each(engines)(
    'a request whose getter throws, or step callbacks behind a throwing getter, are EINVAL with the VA space unchanged (%s)',
    (engine) => {
      const vm = newVm(engine)
      const boom = {
        addr: 0x100000n,
        get range(): bigint {
          throw new Error('boom')
        },
      }
      for (const call of [
        () => vm.bind(boom),
        () => vm.insert(boom),
        () => vm.smMapOps(boom),
        () => new BindBatch().map(boom),
        () => vm.apply({ kind: 'map', map: boom as never }),
        () =>
          vm.smUnmap(0x100000n, U, {
            get remap(): never {
              throw new Error('boom')
            },
            unmap() {},
          }),
      ]) {
        expect(errnoOf(call)).toBe('EINVAL')
      }
      expect(vm.mappingCount).toBe(0)
    },
  )

  it('methods called on a Proxy of a device object are EINVAL, not a private-field TypeError', () => {
    const dev = new Device()
    const bo = new Proxy(dev.createObject({ size: 0x1000n }), {})
    expect(errnoOf(() => bo.pin('gtt'))).toBe('EINVAL')
    expect(errnoOf(() => bo.resv)).toBe('EINVAL')
    expect(errnoOf(() => bo.vmapCount)).toBe('EINVAL')
    expect(bo.isDeviceObject).toBe(false)
  })

  it('SplitMix64 takes a u64 bigint or a safe integer seed, nothing else', () => {
    for (const seed of [1.5, Number.NaN, -1, 'x', null, undefined, 1n << 64n, -1n]) {
      expect(errnoOf(() => new SplitMix64(seed as never))).toBe('EINVAL')
    }
    expect(new SplitMix64(7).next()).toBe(new SplitMix64(7n).next())
  })
})
