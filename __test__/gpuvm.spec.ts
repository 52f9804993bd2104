// The public GpuVm API on both engines: the split/merge cases of seed 004 (as
// the kernel's code behaves), tree operations and their errors, step
// callbacks, op lists, warnings and strict mode.
import { describe, expect, it } from 'vitest'
import { DrmWarning, GemObject, GpuVm, type Op, type OpMap, type Va } from '../lib/index.js'
import { errnoOf } from './errno.js'

const U = 0x1000n // one unit of the seed's pictures
const BASE = 0x100000n // unit 0 of the pictures
const a = new GemObject({ size: 0x100000n })
const b = new GemObject({ size: 0x100000n })
const names = new Map([
  [a.id, 'a'],
  [b.id, 'b'],
])
const N = 16n // the offset "n" of the pictures, in units
const M = 64n // "m"

/** `a[0,2)n` style: object, [start, end) in units from BASE, offset in units. */
function piece(addr: bigint, range: bigint, obj: GemObject | null, offset: bigint): string {
  const name = obj ? names.get(obj.id) : '-'
  return `${name}[${(addr - BASE) / U},${(addr + range - BASE) / U})${offset / U}`
}
const vaText = (va: Va) => piece(va.addr, va.range, va.obj, va.offset)
const mapText = (m: OpMap | null) => (m ? piece(m.addr, m.range, m.obj, m.offset) : '-')

function opText(op: Op): string {
  switch (op.kind) {
    case 'map':
      return `map ${mapText(op.map)}`
    case 'remap':
      return `remap ${vaText(op.unmap.va)} keep=${+op.unmap.keep} prev=${mapText(op.prev)} next=${mapText(op.next)}`
    case 'unmap':
      return `unmap ${vaText(op.va)} keep=${+op.keep}`
    case 'prefetch':
      return `prefetch ${vaText(op.va)}`
  }
}

const req = (obj: GemObject | null, start: bigint, end: bigint, offset: bigint) => ({
  addr: BASE + start * U,
  range: (end - start) * U,
  obj,
  offset: offset * U,
})

const engines = ['native', 'reference'] as const
const newVm = (engine: (typeof engines)[number], strict = false) =>
  new GpuVm({ name: 'test', start: 0n, range: 1n << 48n, reserve: { offset: 0n, range: 0x1000n }, engine, strict })

// Seed 004's documented cases; where its DOC comment and code differ, the code wins.
const cases: { name: string; old: ReturnType<typeof req>[]; req: ReturnType<typeof req>; ops: string[] }[] = [
  {
    name: '1: identical request',
    old: [req(a, 0n, 1n, N)],
    req: req(a, 0n, 1n, N),
    ops: ['unmap a[0,1)16 keep=1', 'map a[0,1)16'],
  },
  {
    name: '2: other offset',
    old: [req(a, 0n, 1n, N)],
    req: req(a, 0n, 1n, M),
    ops: ['unmap a[0,1)16 keep=0', 'map a[0,1)64'],
  },
  {
    name: '3: other object',
    old: [req(a, 0n, 1n, N)],
    req: req(b, 0n, 1n, N),
    ops: ['unmap a[0,1)16 keep=0', 'map b[0,1)16'],
  },
  {
    name: '4: grows at the end',
    old: [req(a, 0n, 1n, N)],
    req: req(a, 0n, 2n, N),
    ops: ['unmap a[0,1)16 keep=1', 'map a[0,2)16'],
  },
  {
    name: '5: other object over the head',
    old: [req(a, 0n, 2n, N)],
    req: req(b, 0n, 1n, M),
    ops: ['remap a[0,2)16 keep=0 prev=- next=a[1,2)17', 'map b[0,1)64'],
  },
  {
    name: '6: same object over the head',
    old: [req(a, 0n, 2n, N)],
    req: req(a, 0n, 1n, N),
    ops: ['remap a[0,2)16 keep=1 prev=- next=a[1,2)17', 'map a[0,1)16'],
  },
  {
    name: '7: other object over the tail',
    old: [req(a, 0n, 2n, N)],
    req: req(b, 1n, 2n, M),
    ops: ['remap a[0,2)16 keep=0 prev=a[0,1)16 next=-', 'map b[1,2)64'],
  },
  {
    name: '8: same object over the tail',
    old: [req(a, 0n, 2n, N)],
    req: req(a, 1n, 2n, N + 1n),
    ops: ['remap a[0,2)16 keep=1 prev=a[0,1)16 next=-', 'map a[1,2)17'],
  },
  {
    name: '9: other object past the tail',
    old: [req(a, 0n, 2n, N)],
    req: req(b, 1n, 3n, M),
    ops: ['remap a[0,2)16 keep=0 prev=a[0,1)16 next=-', 'map b[1,3)64'],
  },
  {
    name: '10: same object past the tail',
    old: [req(a, 0n, 2n, N)],
    req: req(a, 1n, 3n, N + 1n),
    ops: ['remap a[0,2)16 keep=1 prev=a[0,1)16 next=-', 'map a[1,3)17'],
  },
  {
    name: '11: other object in the middle',
    old: [req(a, 0n, 3n, N)],
    req: req(b, 1n, 2n, M),
    ops: ['remap a[0,3)16 keep=0 prev=a[0,1)16 next=a[2,3)18', 'map b[1,2)64'],
  },
  {
    name: '12: same object in the middle',
    old: [req(a, 0n, 3n, N)],
    req: req(a, 1n, 2n, N + 1n),
    ops: ['remap a[0,3)16 keep=1 prev=a[0,1)16 next=a[2,3)18', 'map a[1,2)17'],
  },
  {
    name: '13: grows at the head',
    old: [req(a, 1n, 2n, N + 1n)],
    req: req(a, 0n, 2n, N),
    ops: ['unmap a[1,2)17 keep=1', 'map a[0,2)16'],
  },
  {
    name: '14: grows on both sides',
    old: [req(a, 1n, 2n, N + 1n)],
    req: req(a, 0n, 3n, N),
    ops: ['unmap a[1,2)17 keep=1', 'map a[0,3)16'],
  },
  {
    // The DOC comment says the tail keeps offset n+2; the code gives n+1.
    name: '15: other object over the head of a later mapping',
    old: [req(a, 1n, 3n, N)],
    req: req(b, 0n, 2n, M),
    ops: ['remap a[1,3)16 keep=0 prev=- next=a[2,3)17', 'map b[0,2)64'],
  },
  {
    name: 'several mappings: head remap, unmaps in between, tail remap',
    old: [req(a, 0n, 2n, 0n), req(b, 2n, 3n, 0n), req(a, 3n, 4n, 3n), req(b, 4n, 6n, 0n)],
    req: req(a, 1n, 5n, 1n),
    ops: [
      'remap a[0,2)0 keep=1 prev=a[0,1)0 next=-',
      'unmap b[2,3)0 keep=0',
      'unmap a[3,4)3 keep=1',
      'remap b[4,6)0 keep=0 prev=- next=b[5,6)1',
      'map a[1,5)1',
    ],
  },
  {
    name: 'a null mapping never keeps',
    old: [req(null, 0n, 2n, 0n)],
    req: req(null, 0n, 1n, 0n),
    ops: ['remap -[0,2)0 keep=0 prev=- next=-[1,2)1', 'map -[0,1)0'],
  },
]

describe.each(engines)('GpuVm on the %s engine', (engine) => {
  describe('split/merge cases of seed 004', () => {
    it.each(cases)('$name', ({ old, req: request, ops }) => {
      const vm = newVm(engine)
      for (const o of old) vm.insert(o)
      expect([...vm.smMapOps(request)].map(opText)).toEqual(ops)
      // The plan did not change the VA space; applying it step by step leaves
      // the request mapped and the pieces in place.
      expect([...vm.vas()].length).toBe(old.length + 1)
      const applied: string[] = []
      for (const op of vm.mapSteps(request)) {
        applied.push(opText(op))
        vm.apply(op)
      }
      expect(applied).toEqual(ops)
      expect(vm.find(request.addr, request.range)?.obj ?? null).toBe(request.obj)
      expect(vm.warnings).toEqual([])
    })
  })

  describe('sm_unmap', () => {
    it('unmaps, splits on both sides, and never keeps', () => {
      const vm = newVm(engine)
      vm.insert(req(a, 0n, 2n, 0n))
      vm.insert(req(b, 2n, 3n, 0n))
      vm.insert(req(a, 3n, 6n, 3n))
      const r = req(null, 1n, 4n, 0n)
      expect([...vm.smUnmapOps(r.addr, r.range)].map(opText)).toEqual([
        'remap a[0,2)0 keep=0 prev=a[0,1)0 next=-',
        'unmap b[2,3)0 keep=0',
        'remap a[3,6)3 keep=0 prev=- next=a[4,6)4',
      ])
      const mid = req(null, 4n, 5n, 0n)
      vm.unbind(r.addr, r.range)
      expect([...vm.smUnmapOps(mid.addr, mid.range)].map(opText)).toEqual(['remap a[4,6)4 keep=0 prev=- next=a[5,6)5'])
      vm.insert(req(a, 10n, 13n, 0n))
      const inner = req(null, 11n, 12n, 0n)
      expect([...vm.smUnmapOps(inner.addr, inner.range)].map(opText)).toEqual([
        'remap a[10,13)0 keep=0 prev=a[10,11)0 next=a[12,13)2',
      ])
      expect(vm.smUnmapOps(BASE + 100n * U, U).length).toBe(0)
    })
  })

  describe('zero-length requests pass validation', () => {
    it('inside a mapping: split into prev and next, then an empty MAP', () => {
      const vm = newVm(engine)
      vm.insert(req(a, 0n, 4n, 0n))
      expect([...vm.smMapOps(req(b, 2n, 2n, 0n))].map(opText)).toEqual([
        'remap a[0,4)0 keep=0 prev=a[0,2)0 next=a[2,4)2',
        'map b[2,2)0',
      ])
      const counts = vm.bind(req(b, 2n, 2n, 0n))
      expect(counts).toEqual({ map: 1, remap: 1, unmap: 0, prefetch: 0 })
      // The empty mapping sorts after the piece that starts at the same address:
      // equal starts keep insertion order, as in the kernel's tree.
      expect([...vm.vas()].map(vaText).slice(1)).toEqual(['a[0,2)0', 'a[2,4)2', 'b[2,2)0'])
    })

    it('at address 0 of an empty space without kernel node: an empty MAP that then covers everything', () => {
      const vm = new GpuVm({ range: 1n << 48n, engine })
      expect([...vm.smMapOps({ addr: 0n, range: 0n, obj: a })].map((o) => o.kind)).toEqual(['map'])
      vm.insert({ addr: 0n, range: 0n, obj: a })
      expect(() => vm.insert({ addr: 0x5000n, range: 0x1000n })).toThrow(/EEXIST/)
    })
  })

  describe('tree operations', () => {
    it('insert checks the range (EINVAL) and overlaps (EEXIST), leaving the tree unchanged', () => {
      const vm = newVm(engine)
      const va = vm.insert({ addr: 0x2000n, range: 0x2000n, obj: a, offset: 0x1000n })
      expect(va.end).toBe(0x4000n)
      const errno = errnoOf
      expect(errno(() => vm.insert({ addr: 0x3000n, range: 0x2000n }))).toBe('EEXIST')
      expect(errno(() => vm.insert({ addr: 0x0n, range: 0x2000n }))).toBe('EINVAL') // kernel node
      expect(errno(() => vm.insert({ addr: 1n << 48n, range: 0x1000n }))).toBe('EINVAL') // outside
      expect(errno(() => vm.insert({ addr: (1n << 64n) - 0x1000n, range: 0x2000n }))).toBe('EINVAL') // wraps
      expect(errno(() => vm.insert({ addr: -1n, range: 1n }))).toBe('EINVAL')
      expect(errno(() => vm.insert({ addr: 1 as unknown as bigint, range: 1n }))).toBe('EINVAL')
      expect([...vm.vas()].length).toBe(2)
      // The overflow is what the seed's check WARNs about.
      expect(vm.takeWarnings().map((w) => w.kind)).toEqual(['overflow'])
    })

    it('find, findFirst, findPrev, findNext, intervalEmpty behave as the kernel', () => {
      const vm = newVm(engine)
      const x = vm.insert({ addr: 0x10000n, range: 0x4000n, obj: a })
      const y = vm.insert({ addr: 0x20000n, range: 0x1000n, obj: b })
      expect(vm.find(0x10000n, 0x4000n)?.seq).toBe(x.seq)
      expect(vm.find(0x10000n, 0x1000n)).toBeUndefined()
      expect(vm.findFirst(0x12000n, 0x10000n)?.seq).toBe(x.seq)
      expect(vm.findFirst(0x14000n, 0x1000n)).toBeUndefined()
      expect(vm.findFirst(0x0n, 0x10n)?.isKernelNode).toBe(true)
      expect(vm.findPrev(0x14000n)?.seq).toBe(x.seq)
      // Not adjacent, yet returned: the kernel's [start-1, start] query.
      expect(vm.findPrev(0x20000n)?.seq).toBe(y.seq)
      expect(vm.findNext(0x14000n)).toBeUndefined()
      expect(vm.findNext(0x1ffffn)?.seq).toBe(y.seq)
      expect(vm.findPrev(0x1000n)).toBeUndefined() // start-1 lies in the kernel node
      expect(vm.intervalEmpty(0x14000n, 0xc000n)).toBe(true)
      expect(vm.intervalEmpty(0x0n, 0x1n)).toBe(false)
      expect([...vm.vasInRange(0x11000n, 0x20001n)].map((v) => v.seq)).toEqual([x.seq, y.seq])
    })

    it('remove refuses the kernel node with a warning; destroy warns when mappings remain', () => {
      const vm = newVm(engine)
      vm.remove(vm.kernelNode!)
      expect(vm.kernelNode).toBeDefined()
      expect(vm.takeWarnings().map((w) => w.kind)).toEqual(['kernel-node-remove'])
      vm.insert({ addr: 0x10000n, range: 0x1000n })
      vm.destroy()
      expect(vm.takeWarnings()).toMatchObject([{ kind: 'tree-not-empty' }])
      expect(() => vm.insert({ addr: 0x20000n, range: 0x1000n })).toThrow(/destroyed/)
    })

    it('strict mode throws where the kernel WARNs', () => {
      const vm = newVm(engine, true)
      expect(() => vm.remove(vm.kernelNode!)).toThrow(DrmWarning)
    })

    it('link keeps the link order; gemUnmapOps follows it', () => {
      const vm = newVm(engine)
      const v2 = vm.insert({ addr: 0x20000n, range: 0x1000n, obj: a })
      const v1 = vm.insert({ addr: 0x10000n, range: 0x1000n, obj: a })
      vm.insert({ addr: 0x30000n, range: 0x1000n, obj: b })
      vm.link(v2)
      vm.link(v1)
      expect(vm.gemVas(a).map((v) => v.addr)).toEqual([0x20000n, 0x10000n])
      expect([...vm.gemUnmapOps(a)].map(opText)).toEqual(['unmap a[-224,-223)0 keep=0', 'unmap a[-240,-239)0 keep=0'])
      vm.unlink(v2)
      expect(vm.gemVas(a).map((v) => v.addr)).toEqual([0x10000n])
      expect(vm.gemVas(b)).toEqual([])
    })

    it('prefetchOps lists every node in the range, the kernel node included', () => {
      const vm = newVm(engine)
      vm.insert({ addr: 0x2000n, range: 0x1000n, obj: a })
      expect([...vm.prefetchOps(0n, 0x10000n)].map((op) => (op.kind === 'prefetch' ? op.va.addr : -1n))).toEqual([
        0n,
        0x2000n,
      ])
    })

    it('a Va of another VA space is refused', () => {
      const vm1 = newVm(engine)
      const vm2 = newVm(engine)
      const va = vm1.insert({ addr: 0x2000n, range: 0x1000n })
      expect(() => vm2.remove(va)).toThrow(/belongs to/)
    })

    it('invalidate sets and clears the flag', () => {
      const vm = newVm(engine)
      const va = vm.insert({ addr: 0x2000n, range: 0x1000n, obj: a })
      expect(va.invalidated).toBe(false)
      vm.invalidate(va)
      expect(va.invalidated).toBe(true)
      vm.invalidate(va, false)
      expect(va.invalidated).toBe(false)
    })
  })

  describe('step callbacks', () => {
    it('deliver each step, which the callbacks apply at once', () => {
      const vm = newVm(engine)
      vm.insert(req(a, 0n, 3n, 0n))
      const seen: string[] = []
      const apply = (op: Op) => {
        seen.push(opText(op))
        vm.apply(op)
      }
      vm.smMap(req(b, 1n, 2n, 0n), { map: apply, remap: apply, unmap: apply })
      expect(seen).toEqual(['remap a[0,3)0 keep=0 prev=a[0,1)0 next=a[2,3)2', 'map b[1,2)0'])
      expect([...vm.vas()].slice(1).map(vaText)).toEqual(['a[0,1)0', 'b[1,2)0', 'a[2,3)2'])
    })

    it('a failing callback stops the walk and leaves earlier steps applied', () => {
      const vm = newVm(engine)
      vm.insert(req(a, 0n, 1n, 0n))
      vm.insert(req(a, 1n, 2n, 0n))
      const boom = new Error('driver failed')
      let calls = 0
      const steps = {
        map: () => {
          throw new Error('not reached')
        },
        remap: () => {},
        unmap: (op: Op) => {
          if (++calls === 2) throw boom
          vm.apply(op)
        },
      }
      expect(() => vm.smMap(req(b, 0n, 2n, 0n), steps)).toThrow(boom)
      expect([...vm.vas()].slice(1).map(vaText)).toEqual(['a[1,2)0'])
      // The VA space is usable afterwards.
      expect(vm.bind(req(b, 0n, 2n, 0n))).toEqual({ map: 1, remap: 0, unmap: 1, prefetch: 0 })
    })

    it('missing callbacks are EINVAL; re-entering the engine from a step is EBUSY', () => {
      const vm = newVm(engine)
      expect(() => vm.smMap(req(a, 0n, 1n, 0n), { map: () => {} })).toThrow(/EINVAL/)
      expect(() =>
        vm.smMap(req(a, 0n, 1n, 0n), {
          map: () => vm.bind(req(a, 5n, 6n, 0n)),
          remap: () => {},
          unmap: () => {},
        }),
      ).toThrow(/EBUSY/)
      // After the failed walk the VA space accepts requests again.
      expect(vm.bind(req(a, 5n, 6n, 0n)).map).toBe(1)
    })
  })
})
