import { describe, it, expect } from 'vitest'
import type { OpRecord, VaRecord, VmCore, VmCreateOptions } from '../lib/contract/vm.js'
import { DrmError } from '../lib/base/errors.js'
import { decodeOps } from '../lib/contract/wire.js'
import { NativeVmCore } from '../lib/native/gpuvm.js'
import { ReferenceVm } from '../lib/reference/gpuvm/vm.js'

const P = 0x1000n
const B = 0x10_0000n
const MAX = (1n << 64n) - 1n

type Factory = (opts: VmCreateOptions) => VmCore
const engines: [string, Factory][] = [
  ['reference', (o) => new ReferenceVm(o)],
  ['native', (o) => new NativeVmCore(o)],
]

const opts = (): VmCreateOptions => ({ name: 't', start: 0n, range: 1n << 48n, reserve: { offset: 0n, range: P } })

/** What a call gave: its value, or the errno and message of the DrmError it threw. */
type Outcome = { ok: unknown } | { errno: string; message: string }

const attempt = (f: () => unknown): Outcome => {
  try {
    return { ok: f() }
  } catch (e) {
    expect(e).toBeInstanceOf(DrmError)
    const d = e as DrmError
    expect(d.code).toBe(d.errno)
    return { errno: d.errno, message: d.message }
  }
}

const fails = (f: () => unknown): { errno: string; message: string } => {
  const out = attempt(f)
  expect(out).not.toHaveProperty('ok')
  return out as { errno: string; message: string }
}

const va = (addr: bigint, range: bigint, obj: number, offset: bigint, seq: number, flags = 0): VaRecord => ({
  addr,
  range,
  obj,
  offset,
  seq,
  flags,
})

const keys = (vas: VaRecord[]) => vas.map((v) => [v.addr, v.range, v.seq])

/**
 * Each scenario asserts what it expects and returns a transcript of everything
 * it saw; the transcripts of the two engines must be identical too.
 */
type Scenario = (make: Factory) => unknown[]

const scenarios: Record<string, Scenario> = {
  'starts with the kernel node only'(make) {
    const vm = make(opts())
    expect(vm.name).toBe('t')
    expect(vm.start).toBe(0n)
    expect(vm.range).toBe(1n << 48n)
    expect(vm.destroyed).toBe(false)
    expect(vm.count()).toBe(1)
    expect(vm.kernelNode()).toEqual(va(0n, P, 0, 0n, 0))
    expect(vm.list()).toEqual([va(0n, P, 0, 0n, 0)])
    expect(vm.takeWarnings()).toEqual([])
    const unnamed = make({ name: '', start: 0n, range: 1n << 40n })
    expect(unnamed.name).toBe('unknown')
    expect(unnamed.kernelNode()).toBeUndefined()
    expect(unnamed.count()).toBe(0)
    return [vm.list(), unnamed.name]
  },

  'insert and the tree queries'(make) {
    const vm = make(opts())
    const a = vm.insert(B, 4n * P, 1, 0n)
    const b = vm.insert(B + 8n * P, 2n * P, 2, 3n * P)
    expect(a).toEqual(va(B, 4n * P, 1, 0n, 1))
    expect(b).toEqual(va(B + 8n * P, 2n * P, 2, 3n * P, 2))
    expect(vm.get(B, 1)).toEqual(a)
    expect(vm.get(B, 2)).toBeUndefined()
    expect(vm.find(B, 4n * P)).toEqual(a)
    expect(vm.find(B, 3n * P)).toBeUndefined()
    expect(vm.find(B + P, 3n * P)).toBeUndefined()
    expect(vm.findFirst(B + 3n * P, 10n * P)).toEqual(a)
    expect(vm.findFirst(B + 4n * P, 4n * P)).toBeUndefined()
    expect(vm.findFirst(B + 4n * P, 4n * P + 1n)).toEqual(b)
    expect(vm.findPrev(B + 4n * P)).toEqual(a)
    // find_prev looks at [start-1, start]: a node starting at `start` counts.
    expect(vm.findPrev(B + 8n * P)).toEqual(b)
    expect(vm.findPrev(B + 7n * P)).toBeUndefined()
    expect(vm.findNext(B + 8n * P - 1n)).toEqual(b)
    expect(vm.findNext(B + 10n * P)).toBeUndefined()
    // [P-1, P] touches the kernel node, so it is not a valid range to look in.
    expect(vm.findPrev(P)).toBeUndefined()
    expect(vm.intervalEmpty(B + 4n * P, 4n * P)).toBe(true)
    expect(vm.intervalEmpty(B + 4n * P, 5n * P)).toBe(false)
    expect(vm.rangeValid(B, P)).toBe(true)
    expect(vm.rangeValid(0x800n, P)).toBe(false)
    expect(vm.rangeValid(1n << 48n, 1n)).toBe(false)
    expect(keys(vm.listRange(B + P, B + 9n * P))).toEqual([
      [B, 4n * P, 1],
      [B + 8n * P, 2n * P, 2],
    ])
    expect(keys(vm.listRange(B + 4n * P, B + 8n * P))).toEqual([])
    expect(vm.count()).toBe(3)
    expect(vm.remove(B, 1)).toEqual(a)
    expect(vm.count()).toBe(2)
    expect(vm.takeWarnings()).toEqual([])
    return [vm.list(), vm.listRange(0n, MAX)]
  },

  'zero-length requests'(make) {
    const vm = make(opts())
    vm.insert(B, 4n * P, 1, 0n)
    const addr = B + 2n * P
    const ops = decodeOps(vm.smMapOps(addr, 0n, 2, 0n))
    expect(ops).toEqual([
      {
        kind: 'remap',
        va: va(B, 4n * P, 1, 0n, 1),
        keep: false,
        prev: { addr: B, range: 2n * P, obj: 1, offset: 0n },
        next: { addr, range: 2n * P, obj: 1, offset: 2n * P },
      },
      { kind: 'map', map: { addr, range: 0n, obj: 2, offset: 0n } },
    ])
    expect(vm.bind(addr, 0n, 2, 0n)).toEqual({ map: 1, remap: 1, unmap: 0, prefetch: 0 })
    // The zero-length node sorts after the `next` piece that starts at the same address.
    expect(keys(vm.list())).toEqual([
      [0n, P, 0],
      [B, 2n * P, 2],
      [addr, 2n * P, 3],
      [addr, 0n, 4],
    ])
    expect(vm.findFirst(addr, 0n)).toBeUndefined()
    expect(vm.findFirst(0n, 0n)?.seq).toBe(0)
    expect(vm.find(addr, 0n)).toBeUndefined()
    expect(vm.intervalEmpty(addr, 0n)).toBe(true)
    expect(keys(vm.listRange(addr, addr))).toEqual([])
    // A zero-length node between mappings, and a second one at the same address.
    const z1 = vm.insert(B + 16n * P, 0n, 3, 0n)
    const z2 = vm.insert(B + 16n * P, 0n, 3, P)
    expect([z1.seq, z2.seq]).toEqual([5, 6])
    expect(decodeOps(vm.smUnmapOps(B + 16n * P, 0n))).toEqual([])
    expect(decodeOps(vm.smUnmapOps(B + 15n * P, 2n * P))).toEqual([
      { kind: 'unmap', va: z1, keep: false },
      { kind: 'unmap', va: z2, keep: false },
    ])
    expect(decodeOps(vm.prefetchOps(B + 15n * P, 2n * P))).toEqual([
      { kind: 'prefetch', va: z1 },
      { kind: 'prefetch', va: z2 },
    ])
    expect(vm.unbind(B + 15n * P, 2n * P)).toEqual({ map: 0, remap: 0, unmap: 2, prefetch: 0 })
    expect(vm.unbind(addr, 0n)).toEqual({ map: 0, remap: 0, unmap: 0, prefetch: 0 })
    expect(vm.takeWarnings()).toEqual([])
    return [ops, vm.list(), vm.gemVas(1), vm.gemVas(2), vm.gemVas(3)]
  },

  'the kernel node and the warnings'(make) {
    const vm = make(opts())
    const k = vm.remove(0n, 0)
    expect(k).toEqual(va(0n, P, 0, 0n, 0))
    expect(vm.count()).toBe(1)
    const w1 = vm.takeWarnings()
    expect(w1).toEqual([
      {
        kind: 'kernel-node-remove',
        message: "Can't destroy kernel reserved node.",
        rule: 'seed-004: the kernel reserved node cannot be destroyed',
      },
    ])
    vm.apply({ kind: 'unmap', va: k, keep: false })
    vm.apply({
      kind: 'remap',
      prev: null,
      next: { addr: 0x800n, range: 0x800n, obj: 0, offset: 0n },
      va: k,
      keep: false,
    })
    vm.apply({ kind: 'prefetch', va: k })
    expect(vm.takeWarnings().map((w) => w.kind)).toEqual(['kernel-node-remove', 'kernel-node-remove'])
    expect(vm.count()).toBe(1)
    // Requests touching it are refused; prefetch and the queries see it.
    const e1 = fails(() => decodeOps(vm.smMapOps(0x800n, P, 1, 0n)))
    expect(e1).toEqual({ errno: 'EINVAL', message: 'EINVAL: range [0x800, +0x1000) touches the kernel-reserved node' })
    const e2 = fails(() => vm.bind(0n, P, 1, 0n))
    const e3 = fails(() => vm.unbind(0n, 2n * P))
    expect(decodeOps(vm.prefetchOps(0n, 2n * P))).toEqual([{ kind: 'prefetch', va: k }])
    expect(vm.findFirst(0x800n, 1n)).toEqual(k)
    expect(vm.intervalEmpty(0n, 1n)).toBe(false)
    vm.link(0n, 0)
    expect(vm.isLinked(0n, 0)).toBe(false)
    // Overflow checks warn every time they fail.
    expect(vm.findNext(MAX)).toBeUndefined()
    expect(vm.rangeValid(MAX, 2n)).toBe(false)
    expect(vm.findPrev(0n)).toBeUndefined()
    const w2 = vm.takeWarnings()
    expect(w2).toEqual([
      {
        kind: 'overflow',
        message: 'GPUVA address limited to 8 bytes: 0xffffffffffffffff + 0x1 overflows',
        rule: 'seed-004: GPUVA address limited to 8 bytes',
      },
      {
        kind: 'overflow',
        message: 'GPUVA address limited to 8 bytes: 0xffffffffffffffff + 0x2 overflows',
        rule: 'seed-004: GPUVA address limited to 8 bytes',
      },
      {
        kind: 'overflow',
        message: 'GPUVA address limited to 8 bytes: 0xffffffffffffffff + 0x1 overflows',
        rule: 'seed-004: GPUVA address limited to 8 bytes',
      },
    ])
    // An overflowing VA space and reserved node are recorded, not refused; the
    // reserved range still guards requests.
    const odd = make({ name: 'odd', start: MAX - P, range: 2n * P, reserve: { offset: MAX, range: 2n } })
    const w3 = odd.takeWarnings()
    expect(w3.map((w) => w.message)).toEqual([
      `GPUVA address limited to 8 bytes: 0xffffffffffffefff + 0x2000 overflows`,
      `GPUVA address limited to 8 bytes: 0xffffffffffffffff + 0x2 overflows`,
    ])
    expect(odd.kernelNode()).toBeUndefined()
    expect(odd.count()).toBe(0)
    const e4 = fails(() => odd.insert(MAX - P, P, 1, 0n))
    return [w1, w2, w3, e1, e2, e3, e4, odd.takeWarnings(), vm.list()]
  },

  'EEXIST and EINVAL, with the messages of the Rust core'(make) {
    const vm = make(opts())
    vm.insert(B, 2n * P, 1, 0n)
    const errs = [
      fails(() => vm.insert(B + P, 2n * P, 1, 0n)),
      fails(() => vm.insert(B + P, P, 1, 0n)),
      fails(() => vm.insert(0x800n, P, 1, 0n)),
      fails(() => vm.insert(1n << 48n, P, 1, 0n)),
      fails(() => vm.insert(MAX, 2n, 1, 0n)),
      fails(() => vm.smUnmap(MAX, 2n)),
      fails(() => vm.remove(B, 9)),
      fails(() => vm.link(B, 9)),
      fails(() => vm.unlink(B + P, 1)),
      fails(() => vm.setInvalidated(B, 9, true)),
    ]
    expect(errs.map((e) => e.errno)).toEqual([
      'EEXIST',
      'EEXIST',
      'EINVAL',
      'EINVAL',
      'EINVAL',
      'EINVAL',
      'EINVAL',
      'EINVAL',
      'EINVAL',
      'EINVAL',
    ])
    expect(errs[1].message).toBe('EEXIST: [0x101000, +0x1000) overlaps the mapping [0x100000, +0x2000)')
    expect(errs[3].message).toBe('EINVAL: range [0x1000000000000, +0x1000) leaves the VA space')
    expect(errs[4].message).toBe('EINVAL: range [0xffffffffffffffff, +0x2) overflows u64')
    expect(errs[6].message).toBe('EINVAL: no mapping 0x100000 (#9) in this VA space')
    const warnings = vm.takeWarnings()
    expect(warnings.map((w) => w.kind)).toEqual(['overflow', 'overflow'])
    // Stale and forged steps are refused before anything changes.
    const [cur] = vm.listRange(B, B + 1n)
    const stale = [
      fails(() => vm.apply({ kind: 'unmap', va: { ...cur, offset: P }, keep: false })),
      fails(() => vm.apply({ kind: 'prefetch', va: { ...cur, seq: 7 } })),
      fails(() =>
        vm.apply({
          kind: 'remap',
          prev: { addr: B, range: 3n * P, obj: 1, offset: 0n },
          next: null,
          va: cur,
          keep: false,
        }),
      ),
      fails(() =>
        vm.apply({ kind: 'remap', prev: { addr: B, range: 0n, obj: 1, offset: 0n }, next: null, va: cur, keep: false }),
      ),
      fails(() =>
        vm.apply({
          kind: 'remap',
          prev: { addr: B, range: 2n * P, obj: 1, offset: 0n },
          next: { addr: B + P, range: P, obj: 1, offset: 0n },
          va: cur,
          keep: false,
        }),
      ),
      fails(() => vm.apply({ kind: 'map', map: { addr: B + P, range: P, obj: 1, offset: 0n } })),
    ]
    expect(stale.map((e) => e.errno)).toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EEXIST'])
    expect(stale[0].message).toBe('EINVAL: the step names a mapping [0x100000, +0x2000) that is not in the VA space')
    expect(stale[4].message).toBe('EINVAL: remap pieces overlap or are out of order')
    expect(vm.get(B, cur.seq)).toEqual(cur)
    expect(vm.count()).toBe(2)
    return [errs, warnings, stale, vm.list(), vm.takeWarnings()]
  },

  'op lists: sm map/unmap, prefetch, gem unmap'(make) {
    const vm = make(opts())
    const a = vm.insert(B, 4n * P, 1, 0n)
    const b = vm.insert(B + 4n * P, 2n * P, 2, 8n * P)
    const c = vm.insert(B + 8n * P, P, 1, 4n * P)
    for (const v of [c, a, b]) vm.link(v.addr, v.seq)
    vm.setInvalidated(b.addr, b.seq, true)
    const bInv = { ...b, flags: 1 }
    expect(vm.get(b.addr, b.seq)).toEqual(bInv)
    const map = decodeOps(vm.smMapOps(B + 2n * P, 3n * P, 1, 2n * P))
    expect(map).toEqual([
      {
        kind: 'remap',
        prev: { addr: B, range: 2n * P, obj: 1, offset: 0n },
        next: null,
        va: a,
        keep: true,
      },
      {
        kind: 'remap',
        prev: null,
        next: { addr: B + 5n * P, range: P, obj: 2, offset: 9n * P },
        va: bInv,
        keep: false,
      },
      { kind: 'map', map: { addr: B + 2n * P, range: 3n * P, obj: 1, offset: 2n * P } },
    ])
    // An identical request keeps the mapping it replaces.
    expect(decodeOps(vm.smMapOps(B + 8n * P, P, 1, 4n * P))).toEqual([
      { kind: 'unmap', va: c, keep: true },
      { kind: 'map', map: { addr: B + 8n * P, range: P, obj: 1, offset: 4n * P } },
    ])
    const unmap = decodeOps(vm.smUnmapOps(B + P, 8n * P))
    expect(unmap).toEqual([
      { kind: 'remap', prev: { addr: B, range: P, obj: 1, offset: 0n }, next: null, va: a, keep: false },
      { kind: 'unmap', va: bInv, keep: false },
      { kind: 'unmap', va: c, keep: false },
    ])
    const prefetch = decodeOps(vm.prefetchOps(0n, MAX))
    expect(prefetch).toEqual([va(0n, P, 0, 0n, 0), a, bInv, c].map((v) => ({ kind: 'prefetch', va: v })))
    // Prefetch does not validate its range: a wrapping one walks from addr.
    const wrapped = decodeOps(vm.prefetchOps(B + 4n * P, MAX))
    const gem1 = decodeOps(vm.gemUnmapOps(1))
    expect(gem1).toEqual([
      { kind: 'unmap', va: c, keep: false },
      { kind: 'unmap', va: a, keep: false },
    ])
    expect(decodeOps(vm.gemUnmapOps(2))).toEqual([{ kind: 'unmap', va: bInv, keep: false }])
    expect(decodeOps(vm.gemUnmapOps(0))).toEqual([])
    expect(decodeOps(vm.gemUnmapOps(4))).toEqual([])
    // Nothing changed.
    expect(vm.list()).toEqual([va(0n, P, 0, 0n, 0), a, bInv, c])
    // Applying the gem list empties the object.
    for (const op of gem1) vm.apply(op)
    expect(vm.gemVas(1)).toEqual([])
    expect(vm.list()).toEqual([va(0n, P, 0, 0n, 0), bInv])
    expect(vm.takeWarnings()).toEqual([])
    return [map, unmap, prefetch, wrapped, gem1, vm.list()]
  },

  'cursors step against the tree as it is, with apply'(make) {
    const vm = make(opts())
    vm.insert(B, P, 1, 0n)
    const c = vm.insert(B + P, P, 1, 0n)
    vm.insert(B + 2n * P, P, 1, 0n)
    const seen: (OpRecord | undefined)[] = []
    const cursor = vm.smUnmap(B, 3n * P)
    const first = cursor.step()!
    seen.push(first)
    vm.apply(first)
    vm.remove(c.addr, c.seq)
    const second = cursor.step()
    seen.push(second)
    expect(second).toMatchObject({ kind: 'unmap', va: { addr: B + 2n * P } })
    vm.apply(second!)
    expect(cursor.step()).toBeUndefined()
    expect(cursor.step()).toBeUndefined()
    expect(vm.count()).toBe(1)
    // A map walk: remap, then the MAP the caller applies last.
    vm.insert(B, 4n * P, 2, 0n)
    const m = vm.smMap(B + P, P, 3, 0n)
    const steps: OpRecord[] = []
    for (let op = m.step(); op !== undefined; op = m.step()) {
      steps.push(op)
      vm.apply(op)
    }
    expect(steps.map((s) => s.kind)).toEqual(['remap', 'map'])
    expect(keys(vm.list())).toEqual([
      [0n, P, 0],
      [B, P, 5],
      [B + P, P, 7],
      [B + 2n * P, 2n * P, 6],
    ])
    expect(vm.gemVas(2).map((v) => v.seq)).toEqual([5, 6])
    expect(vm.isLinked(B + P, 7)).toBe(true)
    // An abandoned walk does not disturb the next one; two walks can be open at once.
    vm.smMap(B, 8n * P, 1, 0n).step()
    const u1 = vm.smUnmap(B, 2n * P)
    const u2 = vm.smUnmap(B + 2n * P, 2n * P)
    const interleaved = [u2.step(), u1.step(), u1.step(), u2.step(), u1.step(), u2.step()]
    expect(interleaved.map((s) => s?.kind)).toEqual(['unmap', 'unmap', 'unmap', undefined, undefined, undefined])
    // A walk over a request that overlaps nothing is just the MAP.
    const lone = vm.smMap(B + 64n * P, P, 1, 0n)
    expect(lone.step()).toEqual({ kind: 'map', map: { addr: B + 64n * P, range: P, obj: 1, offset: 0n } })
    expect(lone.step()).toBeUndefined()
    // A step that fails to apply leaves the walk where it was.
    const failing = vm.smMap(B + 64n * P, P, 1, 0n)
    const op = failing.step()!
    vm.insert(B + 64n * P, 1n, 4, 0n)
    const err = fails(() => vm.apply(op))
    expect(err.errno).toBe('EEXIST')
    expect(failing.step()).toBeUndefined()
    return [seen, steps, interleaved, err, vm.list()]
  },

  'bind and unbind count the steps'(make) {
    const vm = make(opts())
    const counts = [
      vm.bind(B, 8n * P, 1, 0n),
      vm.bind(B + 2n * P, 2n * P, 2, 0n),
      vm.bind(B + 2n * P, 2n * P, 2, 0n),
      vm.bind(B + P, 6n * P, 1, P),
      vm.unbind(B + 3n * P, P),
      vm.unbind(B, 16n * P),
      vm.unbind(B, 16n * P),
    ]
    expect(counts).toEqual([
      { map: 1, remap: 0, unmap: 0, prefetch: 0 },
      { map: 1, remap: 1, unmap: 0, prefetch: 0 },
      { map: 1, remap: 0, unmap: 1, prefetch: 0 },
      { map: 1, remap: 2, unmap: 1, prefetch: 0 },
      { map: 0, remap: 1, unmap: 0, prefetch: 0 },
      { map: 0, remap: 0, unmap: 4, prefetch: 0 },
      { map: 0, remap: 0, unmap: 0, prefetch: 0 },
    ])
    const e = fails(() => vm.bind(B, 1n << 48n, 1, 0n))
    expect(e.errno).toBe('EINVAL')
    expect(vm.count()).toBe(1)
    expect(vm.gemVas(1)).toEqual([])
    return [counts, e, vm.list()]
  },

  'destroy warns about what remains, then every method is refused'(make) {
    const vm = make(opts())
    const a = vm.insert(B, P, 1, 0n)
    vm.link(a.addr, a.seq)
    const open = vm.smUnmap(B, P)
    const ended = vm.smUnmap(B + P, P)
    expect(ended.step()).toBeUndefined()
    vm.destroy()
    expect(vm.destroyed).toBe(true)
    const warnings = vm.takeWarnings()
    expect(warnings).toEqual([
      {
        kind: 'tree-not-empty',
        message: 'GPUVA tree is not empty, potentially leaking memory (1 mappings remain)',
        rule: 'seed-004: GPUVA tree is not empty on destroy, potentially leaking memory',
      },
    ])
    expect(vm.takeWarnings()).toEqual([])
    const refused = {
      insert: () => vm.insert(B, P, 1, 0n),
      remove: () => vm.remove(B, a.seq),
      get: () => vm.get(B, a.seq),
      kernelNode: () => vm.kernelNode(),
      find: () => vm.find(B, P),
      findFirst: () => vm.findFirst(B, P),
      findPrev: () => vm.findPrev(B),
      findNext: () => vm.findNext(B),
      intervalEmpty: () => vm.intervalEmpty(B, P),
      rangeValid: () => vm.rangeValid(B, P),
      list: () => vm.list(),
      listRange: () => vm.listRange(0n, MAX),
      count: () => vm.count(),
      link: () => vm.link(B, a.seq),
      unlink: () => vm.unlink(B, a.seq),
      isLinked: () => vm.isLinked(B, a.seq),
      gemVas: () => vm.gemVas(1),
      setInvalidated: () => vm.setInvalidated(B, a.seq, true),
      smMap: () => vm.smMap(B, P, 1, 0n),
      smUnmap: () => vm.smUnmap(B, P),
      smMapOps: () => decodeOps(vm.smMapOps(B, P, 1, 0n)),
      smUnmapOps: () => decodeOps(vm.smUnmapOps(B, P)),
      prefetchOps: () => decodeOps(vm.prefetchOps(B, P)),
      gemUnmapOps1: () => decodeOps(vm.gemUnmapOps(1)),
      gemUnmapOps0: () => decodeOps(vm.gemUnmapOps(0)),
      applyMap: () => vm.apply({ kind: 'map', map: { addr: B, range: P, obj: 1, offset: 0n } }),
      applyUnmap: () => vm.apply({ kind: 'unmap', va: a, keep: false }),
      applyRemap: () => vm.apply({ kind: 'remap', va: a, prev: null, next: null, keep: false }),
      applyPrefetch: () => vm.apply({ kind: 'prefetch', va: a }),
      bind: () => vm.bind(B, P, 1, 0n),
      unbind: () => vm.unbind(B, P),
      openCursor: () => open.step(),
      endedCursor: () => ended.step(),
      destroy: () => vm.destroy(),
    }
    const outcomes = Object.entries(refused).map(([name, f]) => [name, attempt(f)])
    for (const [name, out] of outcomes) {
      expect([name, out]).toEqual([name, { errno: 'EINVAL', message: "EINVAL: VA space 't' was destroyed" }])
    }
    expect(vm.takeWarnings()).toEqual([])
    expect(vm.destroyed).toBe(true)
    return [warnings, outcomes]
  },
}

const transcripts: Record<string, Record<string, unknown[]>> = {}

describe.each(engines)('%s engine', (engine, make) => {
  it('reports its engine name', () => {
    expect(make(opts()).engine).toBe(engine)
  })
  for (const [name, scenario] of Object.entries(scenarios)) {
    it(name, () => {
      ;(transcripts[name] ??= {})[engine] = scenario(make)
    })
  }
})

describe('both engines', () => {
  for (const name of Object.keys(scenarios)) {
    it(`see the same: ${name}`, () => {
      const byEngine = transcripts[name] ?? {}
      // Run here as well if the per-engine test was filtered out.
      for (const [engine, make] of engines) byEngine[engine] ??= scenarios[name](make)
      expect(byEngine.native).toEqual(byEngine.reference)
    })
  }

  it('native walks can be closed early', () => {
    const vm = new NativeVmCore(opts())
    vm.insert(B, P, 1, 0n)
    vm.insert(B + P, P, 1, 0n)
    const cursor = vm.smUnmap(B, 2n * P)
    expect(cursor.step()).toMatchObject({ kind: 'unmap', va: { addr: B } })
    cursor.close!()
    cursor.close!()
    expect(cursor.step()).toBeUndefined()
    // A walk that ended, or outlived its VA space, closes quietly.
    const ended = vm.smUnmap(B + 4n * P, P)
    expect(ended.step()).toBeUndefined()
    ended.close!()
    const open = vm.smMap(B, P, 2, 0n)
    vm.destroy()
    open.close!()
    expect(fails(() => open.step()).message).toBe("EINVAL: VA space 't' was destroyed")
  })

  it('wraps every binding error as a DrmError', () => {
    const vm = new NativeVmCore(opts())
    // Arguments the public API would refuse still come back as DrmError from the binding
    // (the calls of the fast entry points, which take u64 words, excepted).
    const e = fails(() => vm.findPrev(-1n))
    expect(e).toEqual({ errno: 'EINVAL', message: 'EINVAL: start must be a bigint in [0, 2^64)' })
    // A seq that is no whole number is refused by the fast entry points too.
    expect(fails(() => vm.get(B, 0.5))).toEqual({
      errno: 'EINVAL',
      message: 'EINVAL: seq must be a safe non-negative integer',
    })
  })
})
