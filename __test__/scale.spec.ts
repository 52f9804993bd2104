/**
 * Object counts far past every internal threshold (the object table's
 * pruning at 1,024, 2^16, the I/O buffer's 73-op area), on both engines
 * through the public API, compared exactly (issue 12, item 1).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { BindBatch } from '../lib/gpuvm/batch.js'
import { GemObject } from '../lib/device/gem.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import type { Op } from '../lib/gpuvm/ops.js'
import { renderVaSpace } from '../lib/render/render.js'
import { replay, replayFile } from '../lib/replay/index.js'
import { P, opData, packedData, state, text } from './fixtures/plain.js'

const ENGINES = ['native', 'reference'] as const
type Engine = (typeof ENGINES)[number]
/** Distinct objects in one VA space: past 10^5 and 2^16. */
const N = 100_003
const RANGE = 1n << 48n
const BASE = 0x100000n

const newVm = (engine: Engine) => new GpuVm({ engine, range: RANGE, reserve: { offset: 0n, range: P } })
const objects = (n: number) => Array.from({ length: n }, () => new GemObject({ size: 2n * P }))
/** Mapping i: one page of object i at its offset P, at BASE + i pages. */
const at = (i: number) => BASE + BigInt(i) * P

/** Both engines, the same call: returns both results after checking they are equal. */
function both<T>(vms: Record<Engine, GpuVm>, f: (vm: GpuVm) => T): T {
  const native = f(vms.native)
  const reference = f(vms.reference)
  // Deep equality of 10^5 records is slow; their text is compared instead, and diffed when it differs.
  if (text(native) !== text(reference)) expect(native).toEqual(reference)
  return native
}

describe('a VA space of 1,025 distinct objects (the first threshold)', () => {
  it.each(ENGINES)('%s: vas, op lists, walks, batches and the picture all resolve every object', (engine) => {
    const vm = newVm(engine)
    const objs = objects(1025)
    objs.forEach((obj, i) => vm.bind({ addr: at(i), range: P, obj, offset: P }))
    const vas = [...vm.vas()].slice(1)
    expect(vas.map((va) => va.obj)).toEqual(objs)
    expect(vm.smUnmapOps(at(0), 1025n * P).counts().unmap).toBe(1025)
    expect([...vm.mapSteps({ addr: at(0), range: 1025n * P, obj: null })].length).toBe(1026)
    expect(renderVaSpace(vm)).toContain('1025 mappings')
    // A batch naming more than 1,024 objects, into a fresh VA space.
    const fresh = newVm(engine)
    const batch = new BindBatch()
    objs.forEach((obj, i) => batch.map({ addr: at(i), range: P, obj, offset: P }))
    expect(fresh.bindBatch(batch).map).toBe(1025)
    expect([...fresh.vas()].slice(1).map((va) => va.obj)).toEqual(objs)
  })
})

describe(`${N.toLocaleString('en')} distinct objects in one VA space, native against reference`, () => {
  const objs = objects(N)
  const vms = {} as Record<Engine, GpuVm>
  const batched = {} as Record<Engine, GpuVm>
  let expected: ReturnType<typeof state>

  beforeAll(() => {
    for (const engine of ENGINES) {
      vms[engine] = newVm(engine)
      objs.forEach((obj, i) => vms[engine].bind({ addr: at(i), range: P, obj, offset: P }))
    }
  })

  it('bind: every mapping, in address order, names its own object on both engines', () => {
    expected = both(vms, state)
    expect(expected.length).toBe(N + 1)
    for (const engine of ENGINES) {
      const vas = [...vms[engine].vas()]
      for (let i = 0; i < N; i++)
        if (vas[i + 1].obj !== objs[i]) expect.fail(`${engine}: mapping ${i} names ${vas[i + 1].obj}`)
    }
    expect(both(vms, (vm) => vm.mappingCount)).toBe(N)
  })

  it('bindBatch: one batch naming every object gives the same VA space', () => {
    const batch = new BindBatch()
    objs.forEach((obj, i) => batch.map({ addr: at(i), range: P, obj, offset: P }))
    for (const engine of ENGINES) {
      batched[engine] = newVm(engine)
      const per = new Uint32Array(3 * N)
      expect(batched[engine].bindBatch(batch, per)).toEqual({ map: N, remap: 0, unmap: 0, prefetch: 0 })
      expect(per.filter((n, i) => i % 3 === 0 && n === 1).length).toBe(N)
    }
    expect(text(both(batched, state))).toBe(text(expected))
  })

  it('smUnmapOps, smMapOps, prefetchOps and their packed forms over every mapping', () => {
    const whole = { addr: at(0), range: BigInt(N) * P }
    const unmaps = both(vms, (vm) => [...vm.smUnmapOps(whole.addr, whole.range)].map(opData))
    expect(unmaps.length).toBe(N)
    expect(both(vms, (vm) => packedData(vm.smUnmapOpsPacked(whole.addr, whole.range)))).toHaveLength(N)
    const extra = new GemObject({ size: BigInt(N) * P })
    const maps = both(vms, (vm) => [...vm.smMapOps({ ...whole, obj: extra, offset: 0n })].map(opData))
    expect(maps.length).toBe(N + 1)
    expect(maps.at(-1)).toEqual({ kind: 'map', map: { ...whole, obj: extra.id, offset: 0n } })
    const packed = both(vms, (vm) => {
      const ops = vm.smMapOpsPacked({ ...whole, obj: extra, offset: 0n })
      return { length: ops.length, counts: ops.counts(), last: opData(ops.op(N)), words: ops.words.length }
    })
    expect(packed).toEqual({
      length: N + 1,
      counts: { map: 1, remap: 0, unmap: N, prefetch: 0 },
      last: maps.at(-1),
      words: 14 * (N + 1),
    })
    expect(both(vms, (vm) => vm.prefetchOpsPacked(0n, RANGE).counts())).toEqual({
      map: 0,
      remap: 0,
      unmap: 0,
      prefetch: N + 1,
    })
    // Every op names the right object handle, not only the right id.
    for (const engine of ENGINES) {
      const ops = vms[engine].smUnmapOpsPacked(whole.addr, whole.range)
      for (let i = 0; i < N; i += 997) expect(ops.obj(i)).toBe(objs[i])
    }
  })

  it('gemUnmapOps (OpList and packed) for objects spread over the table', () => {
    for (const i of [0, 1023, 1024, 1025, 65535, 65536, N - 1]) {
      const ops = both(vms, (vm) => [...vm.gemUnmapOps(objs[i])].map(opData))
      expect(ops).toEqual([{ kind: 'unmap', va: expected[i + 1], keep: false }])
      expect(both(vms, (vm) => packedData(vm.gemUnmapOpsPacked(objs[i])))).toHaveLength(1)
    }
  })

  it('renderVaSpace draws the same picture on both engines', () => {
    const svg = both(vms, (vm) => renderVaSpace(vm))
    expect(svg).toContain(`${N} mappings`)
  })

  it('unmapSteps then mapSteps over the whole space, each step applied', () => {
    const half = BigInt(N >> 1) * P
    const unmapped = both(vms, (vm) => {
      const seen = []
      for (const op of vm.unmapSteps(at(0), half)) {
        seen.push(opData(op))
        vm.apply(op)
      }
      return seen
    })
    expect(text(unmapped)).toBe(text(expected.slice(1, 1 + (N >> 1)).map((va) => ({ kind: 'unmap', va, keep: false }))))
    const big = new GemObject({ size: 1n << 40n })
    const steps = both(vms, (vm) => {
      const seen = []
      for (const op of vm.mapSteps({ addr: at(0), range: BigInt(N) * P, obj: big, offset: 0n })) {
        seen.push(opData(op))
        vm.apply(op)
      }
      return seen
    })
    expect(steps.length).toBe(N - (N >> 1) + 1)
    const [kernel, mapping] = both(vms, state)
    expect(kernel).toEqual(expected[0])
    expect(mapping).toMatchObject({ addr: at(0), range: BigInt(N) * P, obj: big.id, offset: 0n })
  })

  it('a walk left open while thousands of other objects come and go keeps its object', () => {
    const vmsSmall = { native: newVm('native'), reference: newVm('reference') }
    const mine = new GemObject({ size: P })
    const others = objects(5000)
    const ops = both(vmsSmall, (vm) => {
      const walk = vm.mapSteps({ addr: P, range: P, obj: mine, offset: 0n })
      // Objects the table is given and no mapping keeps: pruning may drop them, not `mine`.
      others.forEach((obj, i) => vm.remove(vm.insert({ addr: at(i), range: P, obj, offset: 0n })))
      return [...walk].map(opData)
    })
    expect(ops).toEqual([{ kind: 'map', map: { addr: P, range: P, obj: mine.id, offset: 0n } }])
  })
})

describe('drmsim replay of one VM binding many distinct objects', () => {
  const bin = path.resolve(
    __dirname,
    '..',
    JSON.parse(readFileSync(path.resolve(__dirname, '../package.json'), 'utf8')).bin,
  )
  const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-scale-'))

  function workload(n: number): string {
    const lines = ['{"op":"vm.create","vm":"ctx","range":"0x1000000000000"}']
    for (let i = 0; i < n; i++) lines.push(`{"op":"obj.create","obj":"o${i}","size":"0x1000"}`)
    for (let i = 0; i < n; i++)
      lines.push(
        `{"op":"bind","vm":"ctx","addr":"0x${at(i).toString(16)}","range":"0x1000","obj":"o${i}","offset":"0"}`,
      )
    // Every one of them again through a wide unmap and a wide bind (walks of n steps).
    lines.push(
      `{"op":"unbind","vm":"ctx","addr":"0x${at(0).toString(16)}","range":"0x${(BigInt(n >> 1) * P).toString(16)}"}`,
    )
    lines.push(
      `{"op":"bind","vm":"ctx","addr":"0x${at(0).toString(16)}","range":"0x${(BigInt(n) * P).toString(16)}","obj":"o0","offset":"0"}`,
    )
    return `${lines.join('\n')}\n`
  }

  it.each([1100, 100_000])('%i objects: exit 0 and the same summary on both engines', async (n) => {
    const file = path.join(dir, `objects-${n}.jsonl`)
    writeFileSync(file, workload(n))
    const out: string[] = []
    for (const engine of ENGINES) {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [bin, 'replay', file, '--summary', '--engine', engine],
        {
          maxBuffer: 1 << 24,
        },
      )
      out.push(stdout)
    }
    expect(out[0]).toBe(out[1])
    expect(out[0]).toMatch(/mappings/)
  })
})

describe('internal sizes crossed on both engines', () => {
  /** Op lists of these lengths: the I/O buffer's op area holds 73 ops (8,192 bytes), a pool chunk as much. */
  it.each([72, 73, 74, 147, 1000])('op lists of %i ops, OpList and packed, and the same walk', (n) => {
    const bo = new GemObject({ size: 1n << 32n })
    const vms = { native: newVm('native'), reference: newVm('reference') }
    // n mappings of one object, every other page, so one object's GEM list holds n.
    for (const vm of Object.values(vms))
      for (let i = 0; i < n; i++) vm.bind({ addr: at(2 * i), range: P, obj: bo, offset: BigInt(i) * P })
    const span = BigInt(2 * n) * P
    const unmaps = both(vms, (vm) => [...vm.smUnmapOps(at(0), span)].map(opData))
    expect(unmaps).toHaveLength(n)
    expect(both(vms, (vm) => packedData(vm.smUnmapOpsPacked(at(0), span)))).toHaveLength(n)
    expect(both(vms, (vm) => [...vm.gemUnmapOps(bo)].map(opData))).toEqual(unmaps)
    expect(both(vms, (vm) => packedData(vm.gemUnmapOpsPacked(bo)))).toHaveLength(n)
    expect(both(vms, (vm) => [...vm.prefetchOps(at(0), span)].map(opData))).toHaveLength(n)
    // A request over the middle: a remap at each end and the unmaps between.
    const mid = { addr: at(0) + P / 2n, range: span - 2n * P, obj: bo, offset: 0n }
    expect(both(vms, (vm) => vm.smMapOpsPacked(mid).counts())).toEqual({ map: 1, remap: 2, unmap: n - 2, prefetch: 0 })
    expect(both(vms, (vm) => [...vm.mapSteps(mid)].map(opData))).toEqual(
      both(vms, (vm) => [...vm.smMapOps(mid)].map(opData)),
    )
  })

  it('op lists carved one after another past a pool chunk stay apart: writes, transfers and later lists', () => {
    for (const engine of ENGINES) {
      const vm = newVm(engine)
      const objs = objects(40)
      objs.forEach((obj, i) => vm.bind({ addr: at(i), range: P, obj, offset: 0n }))
      // 60 lists of 1..40 ops: about 100 KiB of words, many chunks' worth.
      const lists = Array.from({ length: 60 }, (_, k) => vm.smUnmapOpsPacked(at(0), BigInt(1 + (k % 40)) * P))
      const made = lists.map((l) => text(packedData(l)))
      lists[7].words.fill(0xffn)
      const moved = structuredClone(lists[8].words, { transfer: [lists[8].words.buffer as ArrayBuffer] })
      expect(moved.length).toBe(14 * 9)
      expect(() => lists[8].kind(0)).toThrow(/EINVAL/)
      const later = vm.smUnmapOpsPacked(at(0), 40n * P)
      expect(later.length).toBe(40)
      lists.forEach((l, k) => {
        if (k !== 7 && k !== 8) expect(text(packedData(l)), `${engine}: list ${k}`).toBe(made[k])
      })
    }
  })

  it('object ids up to 2^32-2 through bind, batches, op lists and queries', () => {
    // Ids far above what the objects made so far took.
    const ids = [0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0xfff0_0000, 0xffff_fffe]
    const objs = ids.map((id) => new GemObject({ id, size: P }))
    const vms = { native: newVm('native'), reference: newVm('reference') }
    const batch = new BindBatch()
    objs.forEach((obj, i) => batch.map({ addr: at(100 + i), range: P, obj, offset: P }))
    for (const vm of Object.values(vms)) {
      objs.forEach((obj, i) => vm.bind({ addr: at(i), range: P, obj, offset: P }))
      vm.bindBatch(batch)
    }
    const vas = both(vms, state)
    expect(vas.slice(1).map((va) => va.obj)).toEqual([...ids, ...ids])
    for (const obj of objs) {
      expect(both(vms, (vm) => vm.gemVas(obj).map((va) => va.obj === obj))).toEqual([true, true])
      const ops = both(vms, (vm) => packedData(vm.gemUnmapOpsPacked(obj)))
      expect(ops.map((op) => op.obj)).toEqual([obj.id, obj.id])
    }
    expect(both(vms, (vm) => [...vm.smUnmapOps(at(0), 200n * P)].map(opData))).toHaveLength(10)
  })

  it('a BindBatch grown from room for one request past 2^17 requests', () => {
    const batch = new BindBatch(1)
    const objs = objects(3)
    for (let i = 0; i < (1 << 17) + 1; i++) batch.map({ addr: at(i % 4096), range: P, obj: objs[i % 3], offset: 0n })
    expect(batch.length).toBe((1 << 17) + 1)
    const vms = { native: newVm('native'), reference: newVm('reference') }
    expect(both(vms, (vm) => vm.bindBatch(batch))).toEqual({
      map: (1 << 17) + 1,
      remap: 0,
      unmap: (1 << 17) + 1 - 4096,
      prefetch: 0,
    })
    both(vms, state)
    expect(() => new BindBatch((1 << 24) + 1)).toThrow(/EINVAL/)
  })
})

describe('replay limits crossed on both engines', () => {
  const vm = '{"op":"vm.create","vm":"v","range":"0x1000000000000"}'
  it.each(ENGINES)('%s: 1,001 errors under keepGoing: all counted, the first 1,000 kept', async (engine) => {
    const lines = [
      vm,
      ...Array.from({ length: 1001 }, () => '{"op":"unbind","vm":"v","addr":"0xfffffffffffff000","range":"0x2000"}'),
    ]
    const r = await replay(lines, { engine, keepGoing: true })
    expect(r.summary.errors).toBe(1001)
    expect(r.errors).toHaveLength(1000)
  })

  it.each(ENGINES)(
    '%s: names of 128 characters pass, 129 do not; maxHandles is a limit, not one less',
    async (engine) => {
      const name = (n: number) => 'o'.repeat(n)
      await expect(
        replay([vm, `{"op":"obj.create","obj":"${name(128)}","size":"0x1000"}`], { engine }),
      ).resolves.toBeTruthy()
      await expect(
        replay([vm, `{"op":"obj.create","obj":"${name(129)}","size":"0x1000"}`], { engine }),
      ).rejects.toThrow(/name/)
      const objs = (n: number) => [
        vm,
        ...Array.from({ length: n }, (_, i) => `{"op":"obj.create","obj":"o${i}","size":"0x1000"}`),
      ]
      await expect(replay(objs(2), { engine, maxHandles: 3 })).resolves.toBeTruthy()
      await expect(replay(objs(3), { engine, maxHandles: 3 })).rejects.toThrow(/too many live handles/)
    },
  )

  it('a line of exactly maxLineBytes passes, one byte more fails', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-lines-'))
    const pad = (n: number) => {
      const base = '{"op":"vm.create","vm":"v","range":"0x1000000000000"'
      return `${base + ' '.repeat(n - base.length - 1)}}`
    }
    for (const engine of ENGINES) {
      writeFileSync(path.join(dir, 'ok.jsonl'), `${pad(200)}\n`)
      writeFileSync(path.join(dir, 'long.jsonl'), `${pad(201)}\n`)
      await expect(replayFile(path.join(dir, 'ok.jsonl'), { engine, maxLineBytes: 200 })).resolves.toBeTruthy()
      await expect(replayFile(path.join(dir, 'long.jsonl'), { engine, maxLineBytes: 200 })).rejects.toThrow(
        /longer than 200 bytes/,
      )
    }
  })
})

describe("the object table's pruning never drops an object a call still needs", () => {
  /** A VA space whose object table holds `unused` objects no mapping uses, and one mapping of 3 pages. */
  function filled(engine: Engine, unused: number) {
    const vm = newVm(engine)
    const bo = new GemObject({ size: 1n << 20n })
    vm.bind({ addr: at(0), range: 3n * P, obj: bo, offset: 0n })
    for (const obj of objects(unused)) vm.remove(vm.insert({ addr: at(100), range: P, obj, offset: 0n }))
    return { vm, va: vm.find(at(0), 3n * P)! }
  }

  // Whatever the table's size, the two new objects of one call must both be kept.
  it.each(ENGINES)(
    '%s: apply of a remap whose two pieces name two new objects, at every fill around 1,024',
    (engine) => {
      for (let unused = 1018; unused <= 1030; unused++) {
        const { vm, va } = filled(engine, unused)
        const [x, y] = objects(2)
        vm.apply({
          kind: 'remap',
          prev: { addr: at(0), range: P, obj: x, offset: 0n },
          next: { addr: at(2), range: P, obj: y, offset: 0n },
          unmap: { va, keep: false },
        })
        expect(
          [...vm.vas()].slice(1).map((v) => v.obj),
          `${unused} unused objects`,
        ).toEqual([x, y])
      }
    },
  )

  it.each(ENGINES)('%s: an smMap whose step callbacks bring in thousands of other objects keeps its own', (engine) => {
    const { vm } = filled(engine, 10)
    const mine = new GemObject({ size: 1n << 20n })
    const seen: unknown[] = []
    const step = (op: Op) => {
      // Objects come and go between the steps: only the request's own must survive.
      for (const obj of objects(1500)) vm.remove(vm.insert({ addr: at(200), range: P, obj, offset: 0n }))
      seen.push(opData(op))
      vm.apply(op)
    }
    vm.smMap({ addr: at(0), range: 2n * P, obj: mine, offset: 0n }, { map: step, remap: step, unmap: step })
    expect(seen.at(-1)).toEqual({ kind: 'map', map: { addr: at(0), range: 2n * P, obj: mine.id, offset: 0n } })
    expect([...vm.vas()].slice(1).map((v) => v.obj?.id)).toEqual([mine.id, vm.find(at(2), P)!.obj!.id])
  })
})
