// Op lists in packed form (PackedOps, lib/gpuvm/packed-ops.ts): on both engines the
// packed and object forms of every op list agree op for op, the accessors
// read the documented layout without losing u64 precision, and a bad index
// is a DrmError.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DrmError, GemObject, GpuVm, PackedOps, type Op, type OpList, type OpMap } from '../lib/index.js'

const P = 0x1000n
const B = 0x10_0000n
const MAX = (1n << 64n) - 1n
const ENGINES = ['native', 'reference'] as const
const OBJECTS = [
  new GemObject({ size: 1n << 40n }),
  new GemObject({ size: 1n << 40n }),
  new GemObject({ size: 1n << 40n }),
]

const newVm = (engine: (typeof ENGINES)[number]) =>
  new GpuVm({ name: 'packed', range: 1n << 48n, reserve: { offset: 0n, range: P }, engine })

/** What a call threw, as errno and message; anything but a DrmError fails the test. */
function outcome<T>(f: () => T): { ok: T } | { errno: string; message: string } {
  try {
    return { ok: f() }
  } catch (e) {
    if (!(e instanceof DrmError)) throw e
    return { errno: e.errno, message: e.message }
  }
}

/** An op with its handles as plain values, to compare ops of different VA spaces. */
const mapPlain = (m: OpMap | null) => m && { addr: m.addr, range: m.range, obj: m.obj?.id ?? 0, offset: m.offset }
const vaPlain = (va: { addr: bigint; range: bigint; obj: GemObject | null; offset: bigint; seq: number }) => ({
  ...mapPlain(va),
  seq: va.seq,
})
function plain(op: Op): unknown {
  switch (op.kind) {
    case 'map':
      return { kind: 'map', map: mapPlain(op.map) }
    case 'remap':
      return {
        kind: 'remap',
        prev: mapPlain(op.prev),
        next: mapPlain(op.next),
        va: vaPlain(op.unmap.va),
        keep: op.unmap.keep,
      }
    case 'unmap':
      return { kind: 'unmap', va: vaPlain(op.va), keep: op.keep }
    case 'prefetch':
      return { kind: 'prefetch', va: vaPlain(op.va) }
  }
}

/** Checks a packed list against the object form of the same request, op by op and field by field. */
function agree(packed: PackedOps, list: OpList): void {
  expect(packed.length).toBe(list.length)
  expect(packed.words.length).toBe(PackedOps.WORDS * list.length)
  expect(packed.counts()).toEqual(list.counts())
  expect([...packed]).toEqual([...list])
  expect(packed.toOpList().toArray()).toEqual(list.toArray())
  list.toArray().forEach((op, i) => {
    expect(packed.op(i)).toEqual(op)
    expect(packed.kind(i)).toBe(op.kind)
    const named = op.kind === 'map' ? null : op.kind === 'remap' ? op.unmap.va : op.va
    const target = op.kind === 'map' ? op.map : named!
    expect([packed.addr(i), packed.range(i), packed.offset(i)]).toEqual([target.addr, target.range, target.offset])
    expect(packed.obj(i)).toBe(target.obj)
    expect(packed.keep(i)).toBe(op.kind === 'remap' ? op.unmap.keep : op.kind === 'unmap' ? op.keep : false)
    expect(packed.va(i)).toEqual(named)
    expect(packed.prev(i)).toEqual(op.kind === 'remap' ? op.prev : null)
    expect(packed.next(i)).toEqual(op.kind === 'remap' ? op.next : null)
  })
}

describe('PackedOps', () => {
  describe('packed and object forms agree op for op, on both engines', () => {
    const page = (max: number) => fc.integer({ min: 0, max }).map((k) => BigInt(k) * P)
    const addr = fc.oneof(
      { weight: 10, arbitrary: page(32).map((o) => B + o) },
      { weight: 1, arbitrary: fc.constantFrom(0n, P - 1n, (1n << 48n) - P, MAX - P + 1n) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: MAX }) },
    )
    const range = fc.oneof(
      { weight: 10, arbitrary: page(8) },
      { weight: 1, arbitrary: fc.constantFrom(1n, MAX, 1n << 63n) },
    )
    const obj = fc.option(fc.constantFrom(...OBJECTS), { freq: 4 })
    const offset = fc.oneof(
      { weight: 6, arbitrary: page(16) },
      { weight: 1, arbitrary: fc.constantFrom(MAX, MAX - P + 1n) },
    )
    const request = fc.record({ addr, range, obj, offset })
    type Cmd =
      | { c: 'bind'; r: { addr: bigint; range: bigint; obj: GemObject | null; offset: bigint } }
      | { c: 'unbind'; addr: bigint; range: bigint }
      | { c: 'link' | 'invalidate'; pick: number }
    const cmd: fc.Arbitrary<Cmd> = fc.oneof(
      { weight: 6, arbitrary: request.map((r) => ({ c: 'bind' as const, r })) },
      { weight: 2, arbitrary: fc.record({ addr, range }).map((r) => ({ c: 'unbind' as const, ...r })) },
      { weight: 2, arbitrary: fc.nat(40).map((pick) => ({ c: 'link' as const, pick })) },
      { weight: 1, arbitrary: fc.nat(40).map((pick) => ({ c: 'invalidate' as const, pick })) },
    )
    type Query =
      | { q: 'smMap'; r: { addr: bigint; range: bigint; obj: GemObject | null; offset: bigint } }
      | { q: 'smUnmap' | 'prefetch'; addr: bigint; range: bigint }
      | { q: 'gemUnmap'; obj: number }
      /** A map request over a mapping's own pages, same object and offsets (keep = true). */
      | { q: 'smMapKeep'; pick: number; from: number; pages: number }
    const query: fc.Arbitrary<Query> = fc.oneof(
      request.map((r) => ({ q: 'smMap' as const, r })),
      fc.record({ addr, range }).map((r) => ({ q: 'smUnmap' as const, ...r })),
      fc.record({ addr, range }).map((r) => ({ q: 'prefetch' as const, ...r })),
      fc.nat(OBJECTS.length - 1).map((obj) => ({ q: 'gemUnmap' as const, obj })),
      fc
        .record({ pick: fc.nat(40), from: fc.nat(4), pages: fc.nat(6) })
        .map((r) => ({ q: 'smMapKeep' as const, ...r })),
    )
    /** The request of a `smMapKeep` on this VA space (the same on both engines, whose trees agree). */
    const keepRequest = (vm: GpuVm, q: { pick: number; from: number; pages: number }) => {
      const all = [...vm.vas()].filter((va) => !va.isKernelNode)
      if (all.length === 0) return { addr: B, range: P, obj: null, offset: 0n }
      const va = all[q.pick % all.length]
      const d = BigInt(q.from) * P
      return { addr: va.addr + d, range: BigInt(q.pages) * P, obj: va.obj, offset: va.offset + d }
    }

    /** A query in its packed or its object form: the same arguments either way. */
    const ask = <T>(form: 'packed' | 'list', vm: GpuVm, q: Query): T => {
      const packed = form === 'packed'
      const result = (() => {
        switch (q.q) {
          case 'smMap':
            return packed ? vm.smMapOpsPacked(q.r) : vm.smMapOps(q.r)
          case 'smUnmap':
            return packed ? vm.smUnmapOpsPacked(q.addr, q.range) : vm.smUnmapOps(q.addr, q.range)
          case 'prefetch':
            return packed ? vm.prefetchOpsPacked(q.addr, q.range) : vm.prefetchOps(q.addr, q.range)
          case 'gemUnmap':
            return packed ? vm.gemUnmapOpsPacked(OBJECTS[q.obj]) : vm.gemUnmapOps(OBJECTS[q.obj])
          case 'smMapKeep': {
            const r = keepRequest(vm, q)
            return packed ? vm.smMapOpsPacked(r) : vm.smMapOps(r)
          }
        }
      })()
      return result as T
    }
    const packedOf = (vm: GpuVm, q: Query) => ask<PackedOps>('packed', vm, q)
    const listOf = (vm: GpuVm, q: Query) => ask<OpList>('list', vm, q)

    it('on random VA spaces and requests', () => {
      fc.assert(
        fc.property(fc.array(fc.oneof(cmd, cmd, query), { minLength: 10, maxLength: 60 }), (steps) => {
          const vms = ENGINES.map(newVm)
          for (const step of steps) {
            if ('q' in step) {
              const words: BigUint64Array[] = []
              const plains: unknown[] = []
              for (const vm of vms) {
                const packed = outcome(() => packedOf(vm, step))
                const list = outcome(() => listOf(vm, step))
                if ('ok' in packed && 'ok' in list) {
                  agree(packed.ok, list.ok)
                  words.push(packed.ok.words)
                  plains.push(list.ok.toArray().map(plain))
                } else {
                  // The same error, or both succeed.
                  expect(packed).toEqual(list)
                  plains.push(packed)
                }
              }
              // The two engines pack the same words.
              expect(plains[0]).toEqual(plains[1])
              if (words.length === 2) expect([...words[0]]).toEqual([...words[1]])
              continue
            }
            for (const vm of vms) {
              const all = [...vm.vas()].filter((va) => !va.isKernelNode)
              const target = all.length > 0 && 'pick' in step ? all[step.pick % all.length] : undefined
              if (step.c === 'bind') outcome(() => vm.bind(step.r))
              else if (step.c === 'unbind') outcome(() => vm.unbind(step.addr, step.range))
              else if (target && step.c === 'link') vm.link(target)
              else if (target) vm.invalidate(target)
            }
          }
          for (const vm of vms) vm.takeWarnings()
        }),
        { numRuns: 150 },
      )
    })
  })

  for (const engine of ENGINES) {
    describe(`on the ${engine} engine`, () => {
      it('has the documented layout', () => {
        expect([PackedOps.WORDS, PackedOps.KEEP, PackedOps.HAS_PREV, PackedOps.HAS_NEXT]).toEqual([
          14, 0x10, 0x20, 0x40,
        ])
        expect(PackedOps.KINDS).toEqual(['map', 'remap', 'unmap', 'prefetch'])
        const vm = newVm(engine)
        const [x, y] = OBJECTS
        const va = vm.insert({ addr: B, range: 8n * P, obj: x, offset: 0x40n * P })
        vm.link(va)
        vm.invalidate(va)
        // The middle of the mapping, same object at a consistent offset: one REMAP keeping both ends, then the MAP.
        const mid = vm.smMapOpsPacked({ addr: B + 2n * P, range: 3n * P, obj: x, offset: 0x42n * P })
        const w = [...mid.words]
        expect(mid.length).toBe(2)
        expect(w.slice(0, 14)).toEqual([
          1n | 0x10n | 0x20n | 0x40n | (1n << 32n), // remap, keep, prev, next; flags: invalidated
          BigInt(va.seq),
          ...[B, 8n * P, BigInt(x.id), 0x40n * P], // the mapping it names
          ...[B, 2n * P, BigInt(x.id), 0x40n * P], // prev
          ...[B + 5n * P, 3n * P, BigInt(x.id), 0x45n * P], // next
        ])
        expect(w.slice(14)).toEqual([
          0n,
          0n,
          0n,
          0n,
          0n,
          0n,
          ...[B + 2n * P, 3n * P, BigInt(x.id), 0x42n * P],
          0n,
          0n,
          0n,
          0n,
        ])
        // Another object: no keep; the head of the mapping: no prev.
        const head = vm.smMapOpsPacked({ addr: B, range: P, obj: y, offset: 0n })
        expect(head.words[0]).toBe(1n | 0x40n | (1n << 32n))
        expect(head.words.slice(6, 10)).toEqual(new BigUint64Array(4))
        expect([head.kind(0), head.keep(0), head.prev(0), head.next(0)]).toEqual([
          'remap',
          false,
          null,
          { addr: B + P, range: 7n * P, obj: x, offset: 0x41n * P },
        ])
        // UNMAP and PREFETCH name a mapping in words 1-5; a sparse MAP has object 0.
        const unmap = vm.smUnmapOpsPacked(B, 8n * P)
        expect(unmap.words.slice(0, 6)).toEqual(
          new BigUint64Array([2n | (1n << 32n), BigInt(va.seq), B, 8n * P, BigInt(x.id), 0x40n * P]),
        )
        expect(vm.smMapOpsPacked({ addr: B, range: 8n * P, obj: x, offset: 0x40n * P }).words[0]).toBe(
          2n | 0x10n | (1n << 32n),
        )
        const prefetch = vm.prefetchOpsPacked(0n, 1n << 48n)
        expect([...prefetch.words].filter((_, i) => i % 14 === 0)).toEqual([3n, 3n | (1n << 32n)])
        expect(prefetch.va(0)?.isKernelNode).toBe(true)
        const sparse = vm.smMapOpsPacked({ addr: B + 0x100n * P, range: P })
        expect([...sparse.words]).toEqual([0n, 0n, 0n, 0n, 0n, 0n, B + 0x100n * P, P, 0n, 0n, 0n, 0n, 0n, 0n])
        expect([sparse.obj(0), sparse.va(0), sparse.keep(0)]).toEqual([null, null, false])
        expect(`${sparse}`).toBe('PackedOps (1 ops)')
      })

      it('gives every list words of its own, short or long (the native engine pools short ones out of sight)', () => {
        const vm = newVm(engine)
        const ref = newVm('reference')
        const [x] = OBJECTS
        // 200 mappings, one page apart: a wide unmap makes 200 ops, more than
        // the native engine's I/O buffer holds (73), a short request one or two.
        for (const v of [vm, ref])
          for (let i = 0n; i < 200n; i++) v.bind({ addr: B + 2n * i * P, range: P, obj: x, offset: i * P })
        const lists: [PackedOps, bigint[]][] = []
        for (let round = 0; round < 300; round++) {
          const at = B + BigInt(round % 400) * P
          const [got, want] = [vm, ref].map((v) =>
            round % 50 === 7
              ? v.smUnmapOpsPacked(B, 400n * P)
              : v.smMapOpsPacked({ addr: at, range: 2n * P, obj: x, offset: 0n }),
          )
          expect([...got.words]).toEqual([...want.words])
          lists.push([got, [...got.words]])
        }
        expect(Math.max(...lists.map(([l]) => l.length))).toBe(200)
        // Later lists carved from the same chunks changed none of the earlier ones.
        for (const [list, words] of lists) expect([...list.words]).toEqual(words)
        // Each list's words have a buffer of their own, whatever the engine pooled them in.
        expect(new Set(lists.map(([l]) => l.words.buffer)).size).toBe(lists.length)
        for (const [l] of lists)
          expect([l.words.byteOffset, l.words.buffer.byteLength]).toEqual([0, l.words.byteLength])
      })

      it('reads u64 values at the edges exactly, as bigints', () => {
        const top = 1n << 63n
        const vm = new GpuVm({ name: 'top', start: top, range: MAX - top, engine })
        const [x] = OBJECTS
        // Values no double holds: 2^63 + 1, 2^64 - 2, offsets up to 2^64 - 1.
        const range = MAX - top - 1n // [2^63 + 1, 2^64 - 1): the top of the space
        vm.insert({ addr: top + 1n, range, obj: x, offset: top + 2n })
        const ops = vm.smMapOpsPacked({ addr: MAX - 2n, range: 1n, obj: x, offset: MAX })
        expect(ops.length).toBe(2)
        expect([ops.kind(0), ops.keep(0), ops.addr(0), ops.range(0), ops.offset(0)]).toEqual([
          'remap',
          false,
          top + 1n,
          range,
          top + 2n,
        ])
        expect(ops.prev(0)).toEqual({ addr: top + 1n, range: MAX - top - 3n, obj: x, offset: top + 2n })
        expect(ops.next(0)).toEqual({ addr: MAX - 1n, range: 1n, obj: x, offset: MAX })
        expect([ops.kind(1), ops.addr(1), ops.range(1), ops.offset(1), ops.obj(1)]).toEqual([
          'map',
          MAX - 2n,
          1n,
          MAX,
          x,
        ])
        expect(ops.words[6 + 14 + 3]).toBe(MAX)
        expect(typeof ops.addr(1)).toBe('bigint')
        expect(ops.op(1)).toEqual({ kind: 'map', map: { addr: MAX - 2n, range: 1n, obj: x, offset: MAX } })
      })

      it('refuses an index that is not one of its ops with EINVAL', () => {
        const vm = newVm(engine)
        vm.bind({ addr: B, range: 4n * P })
        const ops = vm.smUnmapOpsPacked(B, P)
        expect(ops.length).toBe(1)
        const accessors = ['kind', 'keep', 'addr', 'range', 'offset', 'obj', 'va', 'prev', 'next', 'op'] as const
        for (const bad of [-1, 1, 1.5, Number.NaN, Infinity, 2 ** 53, '0', undefined, null, 0n]) {
          for (const name of accessors) {
            const f = ops[name] as (i: unknown) => unknown
            const err = outcome(() => f.call(ops, bad))
            expect(err, `${name}(${String(bad)})`).toEqual({
              errno: 'EINVAL',
              message: expect.stringMatching(/^EINVAL: op index must be an integer in \[0, 1\), got /),
            })
          }
        }
        const empty = vm.smUnmapOpsPacked(B + 0x100n * P, P)
        expect([empty.length, [...empty], empty.counts()]).toEqual([0, [], { map: 0, remap: 0, unmap: 0, prefetch: 0 }])
        expect(() => empty.kind(0)).toThrow(DrmError)
      })

      it('fails as the object form does, and keeps its objects when the VA space forgets them', () => {
        const vm = newVm(engine)
        const x = new GemObject({ size: 1n << 20n })
        const ops = vm.smMapOpsPacked({ addr: B, range: P, obj: x })
        // Objects no mapping uses are dropped by the VA space after a thousand others.
        for (let i = 0; i < 1100; i++) {
          vm.bind({ addr: B + 0x1000n * P, range: P, obj: new GemObject({ size: P }) })
          vm.unbind(B + 0x1000n * P, P)
        }
        expect(ops.obj(0)).toBe(x)
        expect(ops.op(0)).toEqual({ kind: 'map', map: { addr: B, range: P, obj: x, offset: 0n } })
        for (const [packed, list] of [
          [() => vm.smMapOpsPacked({ addr: MAX, range: 2n }), () => vm.smMapOps({ addr: MAX, range: 2n })],
          [() => vm.smUnmapOpsPacked(0n, P), () => vm.smUnmapOps(0n, P)],
          [() => vm.smMapOpsPacked(null as never), () => vm.smMapOps(null as never)],
          [() => vm.prefetchOpsPacked(-1n, P), () => vm.prefetchOps(-1n, P)],
          [() => vm.gemUnmapOpsPacked({} as never), () => vm.gemUnmapOps({} as never)],
        ] as const) {
          const want = outcome(list)
          expect(want).toHaveProperty('errno')
          expect(outcome(packed)).toEqual(want)
          vm.takeWarnings()
        }
        vm.destroy()
        expect(outcome(() => vm.prefetchOpsPacked(0n, P))).toEqual(outcome(() => vm.prefetchOps(0n, P)))
        expect(outcome(() => vm.gemUnmapOpsPacked(x))).toMatchObject({ errno: 'EINVAL' })
      })
    })
  }
})
