import { describe, it, expect } from 'vitest'
import type { OpRecord } from '../lib/contract/vm.js'
import { DrmError } from '../lib/base/errors.js'
import { decodeOps } from '../lib/contract/wire.js'
import { ReferenceVm } from '../lib/reference/gpuvm/vm.js'

const P = 0x1000n
const B = 0x10_0000n
const MAX = (1n << 64n) - 1n

const newVm = () => new ReferenceVm({ name: 't', start: 0n, range: 1n << 48n, reserve: { offset: 0n, range: P } })

/** Ops without the node fields that only identify the mapping. */
const shape = (ops: OpRecord[]) =>
  ops.map((op) => {
    switch (op.kind) {
      case 'map':
        return { kind: 'map', ...op.map }
      case 'remap':
        return { kind: 'remap', va: [op.va.addr, op.va.range], keep: op.keep, prev: op.prev, next: op.next }
      default:
        return { kind: op.kind, va: [op.va.addr, op.va.range], keep: op.kind === 'unmap' ? op.keep : undefined }
    }
  })

const errno = (f: () => unknown): string | undefined => {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(DrmError)
    return (e as DrmError).errno
  }
  return undefined
}

describe('ReferenceVm', () => {
  it('starts with the kernel node only', () => {
    const vm = newVm()
    expect(vm.engine).toBe('reference')
    expect(vm.count()).toBe(1)
    expect(vm.kernelNode()).toEqual({ addr: 0n, range: P, obj: 0, offset: 0n, seq: 0, flags: 0 })
    expect(vm.takeWarnings()).toEqual([])
  })

  it('a zero-length map inside a mapping yields REMAP(prev, next) + MAP', () => {
    const vm = newVm()
    vm.insert(B, 4n * P, 1, 0n)
    const addr = B + 2n * P
    expect(shape(decodeOps(vm.smMapOps(addr, 0n, 2, 0n)))).toEqual([
      {
        kind: 'remap',
        va: [B, 4n * P],
        keep: false,
        prev: { addr: B, range: 2n * P, obj: 1, offset: 0n },
        next: { addr, range: 2n * P, obj: 1, offset: 2n * P },
      },
      { kind: 'map', addr, range: 0n, obj: 2, offset: 0n },
    ])
    expect(vm.bind(addr, 0n, 2, 0n)).toEqual({ map: 1, remap: 1, unmap: 0, prefetch: 0 })
    // The zero-length node sorts after the `next` piece that starts at the same address.
    expect(vm.list().map((va) => [va.addr, va.range, va.seq])).toEqual([
      [0n, P, 0],
      [B, 2n * P, 2],
      [addr, 2n * P, 3],
      [addr, 0n, 4],
    ])
    // [addr, addr-1] is empty: nothing strictly around addr any more.
    expect(vm.findFirst(addr, 0n)).toBeUndefined()
  })

  it("the seed's case 15 splits off the tail at offset n+1 (the doc says n+2)", () => {
    const vm = newVm()
    const n = 5n * P
    vm.insert(B + P, 2n * P, 1, n)
    expect(shape(decodeOps(vm.smMapOps(B, 2n * P, 2, 9n * P)))).toEqual([
      {
        kind: 'remap',
        va: [B + P, 2n * P],
        keep: false,
        prev: null,
        next: { addr: B + 2n * P, range: P, obj: 1, offset: n + P },
      },
      { kind: 'map', addr: B, range: 2n * P, obj: 2, offset: 9n * P },
    ])
    // The same object at a consistent offset keeps the mapping.
    const [remap] = decodeOps(vm.smMapOps(B, 2n * P, 1, n - P))
    expect(remap).toMatchObject({ kind: 'remap', keep: true })
  })

  it('an identical request yields UNMAP(keep=true) then MAP', () => {
    const vm = newVm()
    const va = vm.insert(B, 2n * P, 3, 7n * P)
    const ops = decodeOps(vm.smMapOps(B, 2n * P, 3, 7n * P))
    expect(ops).toEqual([
      { kind: 'unmap', va, keep: true },
      { kind: 'map', map: { addr: B, range: 2n * P, obj: 3, offset: 7n * P } },
    ])
    expect(vm.bind(B, 2n * P, 3, 7n * P)).toEqual({ map: 1, remap: 0, unmap: 1, prefetch: 0 })
    expect(vm.list().map((v) => v.seq)).toEqual([0, 2])
  })

  it('refuses to remove the kernel node with a warning, not an error', () => {
    const vm = newVm()
    const k = vm.remove(0n, 0)
    expect(k.seq).toBe(0)
    expect(vm.count()).toBe(1)
    expect(vm.takeWarnings()).toEqual([
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
    expect(vm.takeWarnings().map((w) => w.kind)).toEqual(['kernel-node-remove', 'kernel-node-remove'])
    expect(vm.count()).toBe(1)
  })

  it('reports EEXIST and EINVAL as the Rust core does', () => {
    const vm = newVm()
    vm.insert(B, 2n * P, 1, 0n)
    expect(errno(() => vm.insert(B + P, 2n * P, 1, 0n))).toBe('EEXIST')
    expect(() => vm.insert(B + P, P, 1, 0n)).toThrow(
      'EEXIST: [0x101000, +0x1000) overlaps the mapping [0x100000, +0x2000)',
    )
    expect(() => vm.insert(0x800n, P, 1, 0n)).toThrow('EINVAL: range [0x800, +0x1000) touches the kernel-reserved node')
    expect(() => vm.insert(1n << 48n, P, 1, 0n)).toThrow('EINVAL: range [0x1000000000000, +0x1000) leaves the VA space')
    expect(errno(() => vm.smUnmap(MAX, 2n))).toBe('EINVAL')
    expect(vm.takeWarnings()).toEqual([
      {
        kind: 'overflow',
        message: 'GPUVA address limited to 8 bytes: 0xffffffffffffffff + 0x2 overflows',
        rule: 'seed-004: GPUVA address limited to 8 bytes',
      },
    ])
    expect(() => vm.remove(B, 9)).toThrow('EINVAL: no mapping 0x100000 (#9) in this VA space')
    // A stale step is refused before anything changes.
    const [va] = vm.listRange(B, B + 1n)
    expect(errno(() => vm.apply({ kind: 'unmap', va: { ...va, offset: P }, keep: false }))).toBe('EINVAL')
    expect(
      errno(() =>
        vm.apply({ kind: 'remap', prev: { addr: B, range: 3n * P, obj: 1, offset: 0n }, next: null, va, keep: false }),
      ),
    ).toBe('EINVAL')
    expect(vm.get(B, va.seq)).toEqual(va)
  })

  it('find_first at 0 with a zero range matches anything; find_next past the end warns', () => {
    const vm = newVm()
    expect(vm.findFirst(0n, 0n)?.seq).toBe(0)
    expect(vm.findNext(MAX)).toBeUndefined()
    expect(vm.takeWarnings().map((w) => w.kind)).toEqual(['overflow'])
  })

  it('links in link order and unlinks on remove', () => {
    const vm = newVm()
    const a = vm.insert(B + 4n * P, P, 1, 0n)
    const b = vm.insert(B, P, 1, P)
    vm.link(a.addr, a.seq)
    vm.link(b.addr, b.seq)
    vm.link(a.addr, a.seq)
    expect(vm.gemVas(1).map((v) => v.seq)).toEqual([a.seq, b.seq])
    expect(decodeOps(vm.gemUnmapOps(1)).map((op) => op.kind)).toEqual(['unmap', 'unmap'])
    vm.remove(a.addr, a.seq)
    expect(vm.gemVas(1)).toEqual([b])
    expect(vm.isLinked(b.addr, b.seq)).toBe(true)
    vm.setInvalidated(b.addr, b.seq, true)
    expect(vm.get(b.addr, b.seq)?.flags).toBe(1)
  })

  it('a cursor resumes at the next mapping still in the tree', () => {
    const vm = newVm()
    vm.insert(B, P, 1, 0n)
    const c = vm.insert(B + P, P, 1, 0n)
    vm.insert(B + 2n * P, P, 1, 0n)
    const cursor = vm.smUnmap(B, 3n * P)
    const first = cursor.step()!
    vm.apply(first)
    vm.remove(c.addr, c.seq)
    const second = cursor.step()
    expect(second).toMatchObject({ kind: 'unmap', va: { addr: B + 2n * P } })
    vm.apply(second!)
    expect(cursor.step()).toBeUndefined()
    expect(vm.count()).toBe(1)
  })

  it('destroy warns about what remains, then every method is refused', () => {
    const vm = newVm()
    vm.insert(B, P, 1, 0n)
    vm.destroy()
    expect(vm.destroyed).toBe(true)
    expect(vm.takeWarnings()).toEqual([
      {
        kind: 'tree-not-empty',
        message: 'GPUVA tree is not empty, potentially leaking memory (1 mappings remain)',
        rule: 'seed-004: GPUVA tree is not empty on destroy, potentially leaking memory',
      },
    ])
    expect(() => vm.list()).toThrow("EINVAL: VA space 't' was destroyed")
    expect(errno(() => vm.destroy())).toBe('EINVAL')
    expect(errno(() => vm.count())).toBe('EINVAL')
  })
})
