/**
 * Atomic bind arrays (`GpuVm.bindArray`, `VmCore.bindArray`) and the undo
 * helper (`GpuVm.undo`) on both engines: hand cases modelled on IGT's
 * xe_vm bind-array tests (an array whose ops overlap each other, with and
 * without error injection), a fast-check property (whatever the VA space
 * and the array, failing at any request leaves the whole state as it was,
 * in every era; an array that succeeds leaves what the sequential batch
 * leaves; native and reference agree on all of it), and undo of a prefix of
 * steps.
 *
 * fast-check prints the seed of a failure: replay it with
 * `DRMSIM_FC_SEED=<seed> npx vitest run __test__/bind-array.spec.ts`, and
 * run longer with `DRMSIM_FC_RUNS=<runs>` (60 by default).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ERA_GPUVM, ERA_NEXT, ERA_SEED, VA_FLAGS, VM_FLAGS } from '../lib/contract/hub.js'
import { BATCH_MAP, BATCH_UNMAP, BATCH_WORDS, type VmCore } from '../lib/contract/vm.js'
import { engineOf } from '../lib/engines.js'
import { BindBatch, Device, DrmBatchError, GemObject, GpuVm, type Op } from '../lib/index.js'
import { type ReplayRecord, ReplayError, recordLines, replay } from '../lib/replay/index.js'

const ENGINES = ['native', 'reference'] as const
type Engine = (typeof ENGINES)[number]
const P = 0x1000n
const at = (page: number): bigint => BigInt(page) * P

/** What failed: the DrmBatchError `f` threw (it must throw one). */
function batchError(f: () => unknown): DrmBatchError {
  try {
    f()
  } catch (e) {
    if (e instanceof DrmBatchError) return e
    throw e
  }
  throw new Error('expected a DrmBatchError')
}

// ---- the engine contract --------------------------------------------------

interface Req {
  unmap: boolean
  page: number
  pages: number
  obj: number
  off: number
}

/** Packed words, as BindBatch packs them. */
function pack(reqs: readonly Req[]): BigUint64Array {
  const words = new BigUint64Array(reqs.length * BATCH_WORDS)
  reqs.forEach((r, i) => {
    const head = BigInt(r.unmap ? BATCH_UNMAP : BATCH_MAP) | (BigInt(r.unmap ? 0 : r.obj) << 32n)
    words.set([head, at(r.page), at(r.pages), r.unmap ? 0n : at(r.off)], i * BATCH_WORDS)
  })
  return words
}

const core = (engine: Engine, era: number, flags = 0): VmCore =>
  engineOf(engine).vm({ name: 'array', start: 0n, range: 1n << 32n, reserve: { offset: 0n, range: P }, era, flags })

/** Everything "exactly as before" covers, at the contract. */
function snapshot(vm: VmCore, era: number) {
  const links = [1, 2, 3, 4].map((obj) => vm.gemVas(obj))
  if (era === ERA_SEED) return { vas: vm.list(), links }
  const bos = vm.vmBos().sort((a, b) => a.id - b.id)
  const lists = { extobj: vm.extobjList(), evict: vm.evictList(), defer: vm.deferList() }
  return { vas: vm.list(), links, bos, lists, info: vm.hubInfo() }
}

const request = fc.record({
  unmap: fc.boolean(),
  page: fc.integer({ min: 1, max: 24 }),
  pages: fc.integer({ min: 1, max: 6 }),
  obj: fc.integer({ min: 0, max: 4 }),
  off: fc.integer({ min: 0, max: 3 }),
})

/** DRMSIM_FC_SEED replays a failure (fast-check prints the seed); DRMSIM_FC_RUNS runs longer. */
const seed = Number(process.env.DRMSIM_FC_SEED ?? Date.now() % 2 ** 31)
const numRuns = Number(process.env.DRMSIM_FC_RUNS ?? 60)

/** As `request`, with zero-length ranges too (valid before drm_gpuvm-next; they can fail a request after the checks). */
const anyRequest = fc.record({
  unmap: fc.boolean(),
  page: fc.integer({ min: 1, max: 24 }),
  pages: fc.integer({ min: 0, max: 6 }),
  obj: fc.integer({ min: 0, max: 4 }),
  off: fc.integer({ min: 0, max: 3 }),
})

describe('VmCore.bindArray: every prefix failing leaves the VA space unchanged (property, both engines)', () => {
  it('holds for random VA spaces and arrays in every era; success equals the sequential batch; the engines agree', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(ERA_SEED, ERA_GPUVM, ERA_NEXT),
        fc.boolean(),
        fc.array(anyRequest, { maxLength: 12 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(anyRequest, { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (era, immediate, setupAny, evicted, reqsAny, flagged) => {
          // drm_gpuvm-next refuses an empty range at the checks: those requests get a page.
          const fix = (r: Req): Req => (era === ERA_NEXT && r.pages === 0 ? { ...r, pages: 1 } : r)
          const [setup, reqs] = [setupAny.map(fix), reqsAny.map(fix)]
          const flags = immediate && era !== ERA_SEED ? VM_FLAGS.immediateMode : 0
          /** The VA space of the setup; its requests that fail (next to zero-length mappings) are left out. */
          const make = (engine: Engine): VmCore => {
            const vm = core(engine, era, flags)
            if (era !== ERA_SEED) vm.declareExternal(3)
            for (const r of setup) {
              try {
                vm.bindBatch(pack([r]), null)
              } catch (e) {
                if (!(e instanceof DrmBatchError)) throw e
              }
            }
            if (era !== ERA_SEED) vm.gemEvict(evicted, true)
            // A flags word to carry through: put back with the mapping when undone.
            const live = vm.list().filter((va) => va.seq !== 0)
            const va = live[flagged % Math.max(1, live.length)]
            if (va !== undefined) vm.setVaFlags(va.addr, va.seq, VA_FLAGS.invalidated | 0x40)
            return vm
          }
          const results = ENGINES.map((engine) => {
            const vm = make(engine)
            const before = snapshot(vm, era)
            const words = pack(reqs)
            // Where the sequential batch stops, if anywhere.
            const twin = make(engine)
            const perSeq = new Uint32Array(3 * reqs.length)
            let stops = -1
            let seqTotal: unknown
            try {
              seqTotal = twin.bindBatch(words, perSeq)
            } catch (e) {
              if (!(e instanceof DrmBatchError)) throw e
              stops = e.index
            }
            for (let failAt = 0; failAt < reqs.length; failAt++) {
              const err = batchError(() => vm.bindArray(words, null, failAt))
              const index = stops >= 0 ? Math.min(stops, failAt) : failAt
              expect([err.index, err.unwound, err.atomic]).toEqual([index, true, true])
              if (index === failAt) expect(err.errno).toBe('ENOSPC')
              expect(err.applied).toEqual({ map: 0, remap: 0, unmap: 0, prefetch: 0 })
              expect(snapshot(vm, era)).toEqual(before)
            }
            const per = new Uint32Array(3 * reqs.length)
            if (stops >= 0) {
              // failAt past the end injects nothing; the request that fails sequentially fails the array.
              const err = batchError(() => vm.bindArray(words, per, reqs.length))
              expect([err.index, err.unwound]).toEqual([stops, true])
              expect(snapshot(vm, era)).toEqual(before)
            } else {
              expect(vm.bindArray(words, per, reqs.length)).toEqual(seqTotal)
              expect(per).toEqual(perSeq)
              expect(snapshot(vm, era)).toEqual(snapshot(twin, era))
            }
            return snapshot(vm, era)
          })
          expect(results[0]).toEqual(results[1])
        },
      ),
      { numRuns, seed },
    )
  })
})

describe.each(ENGINES)('VmCore.bindArray (%s engine)', (engine) => {
  it('refuses a bad request anywhere before applying any (unwound false)', () => {
    const vm = core(engine, ERA_GPUVM)
    vm.bindBatch(pack([{ unmap: false, page: 1, pages: 4, obj: 1, off: 0 }]), null)
    const before = snapshot(vm, ERA_GPUVM)
    const reqs = [
      { unmap: false, page: 2, pages: 1, obj: 2, off: 0 },
      { unmap: true, page: 1, pages: 1, obj: 0, off: 0 },
      // Past the end of the VA space (2^32).
      { unmap: false, page: 1 << 20, pages: 1, obj: 1, off: 0 },
    ]
    const err = batchError(() => vm.bindArray(pack(reqs), null, -1))
    expect([err.index, err.errno, err.unwound]).toEqual([2, 'EINVAL', false])
    expect(err.message).toMatch(/^EINVAL: request 2 of the atomic array: range .* leaves the VA space/)
    expect(snapshot(vm, ERA_GPUVM)).toEqual(before)
    // The sequential batch, by contrast, applies the first two: [2, 3) splits [1, 5), then [1, 2) goes.
    expect(batchError(() => vm.bindBatch(pack(reqs), null)).unwound).toBe(false)
    expect(vm.list().map((va) => [Number(va.addr / P), Number(va.range / P), va.obj])).toEqual([
      [0, 1, 0],
      [2, 1, 2],
      [3, 2, 1],
    ])
  })

  it('puts back a drm_gpuvm torn down mid-array (its creator let go; the last unmap took it down)', () => {
    const vm = core(engine, ERA_GPUVM)
    vm.bindBatch(pack([{ unmap: false, page: 1, pages: 1, obj: 1, off: 0 }]), null)
    vm.vmPut()
    const before = snapshot(vm, ERA_GPUVM)
    const reqs = [
      { unmap: true, page: 1, pages: 1, obj: 0, off: 0 },
      { unmap: false, page: 2, pages: 1, obj: 1, off: 0 },
    ]
    const err = batchError(() => vm.bindArray(pack(reqs), null, -1))
    expect([err.index, err.errno, err.unwound]).toEqual([1, 'EINVAL', true])
    expect(err.message).toMatch(/was destroyed/)
    expect(vm.destroyed).toBe(false)
    expect(snapshot(vm, ERA_GPUVM)).toEqual(before)
    // The sequential batch is left with the VM gone.
    expect(batchError(() => vm.bindBatch(pack(reqs), null)).index).toBe(1)
    expect(vm.destroyed).toBe(true)
  })

  it('an empty array is a no-op; a failAt past the end injects nothing', () => {
    const vm = core(engine, ERA_SEED)
    expect(vm.bindArray(new BigUint64Array(0), null, 0)).toEqual({ map: 0, remap: 0, unmap: 0, prefetch: 0 })
    const one = pack([{ unmap: false, page: 3, pages: 2, obj: 1, off: 0 }])
    expect(vm.bindArray(one, null, 1)).toEqual({ map: 1, remap: 0, unmap: 0, prefetch: 0 })
  })
})

// ---- the public API --------------------------------------------------------

describe.each(ENGINES)('GpuVm.bindArray and GpuVm.undo (%s engine)', (engine) => {
  const newVm = () => new GpuVm({ name: 'array', range: 1n << 40n, reserve: { offset: 0n, range: P }, engine })

  it('IGT bind-array-conflict: overlapping ops in one array; with error injection nothing changes', () => {
    // An array of binds where a later op overlaps an earlier one (the
    // conflict is resolved by split/merge, in order), then an unbind.
    const vm = newVm()
    const a = new GemObject({ size: 1n << 24n })
    const b = new GemObject({ size: 1n << 24n })
    const held = vm.insert({ addr: at(64), range: at(4), obj: b })
    vm.link(held)
    vm.invalidate(held, true)
    const batch = new BindBatch()
    batch.map({ addr: at(1), range: at(8), obj: a })
    batch.map({ addr: at(4), range: at(8), obj: b, offset: at(4) })
    batch.map({ addr: at(65), range: at(1), obj: a })
    batch.unmap(at(2), at(1))
    const before = [...vm.vas()]
    for (let failAt = 0; failAt < batch.length; failAt++) {
      const err = batchError(() => vm.bindArray(batch, { failAt }))
      expect([err.index, err.errno, err.unwound]).toEqual([failAt, 'ENOSPC', true])
      expect([...vm.vas()]).toEqual(before)
      // The handle held before is live again, with its flag and its link.
      expect([held.live, held.invalidated, vm.isLinked(held)]).toEqual([true, true, true])
      expect(vm.gemVas(b)).toEqual([held])
    }
    const per = new Uint32Array(3 * batch.length)
    expect(vm.bindArray(batch, { perRequest: per })).toEqual({ map: 3, remap: 3, unmap: 0, prefetch: 0 })
    // [1,9) a; [4,12) b splits it (keep [1,4)); [65,66) a splits [64,68) b in three; unbind [2,3) splits [1,4).
    expect([...per]).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0])
    const layout = [...vm.vas()].map((va) => [Number(va.addr / P), Number(va.range / P), va.obj?.id ?? 0])
    expect(layout).toEqual([
      [0, 1, 0],
      [1, 1, a.id],
      [3, 1, a.id],
      [4, 8, b.id],
      [64, 1, b.id],
      [65, 1, a.id],
      [66, 2, b.id],
    ])
    expect(held.live).toBe(false)
  })

  it('on a drm_gpuvm: vm_bos, lists and refcount as before after an unwound array', () => {
    const dev = new Device({ engine, memory: { vram: 1n << 30n } })
    const vm = new GpuVm({ name: 'hub', range: 1n << 40n, device: dev, era: 'drm_gpuvm-7.2', engine })
    const x = dev.createObject({ size: 1n << 20n })
    const y = dev.createObject({ size: 1n << 20n })
    vm.bind({ addr: at(1), range: at(4), obj: x })
    const bos = () => vm.vmBos().map((bo) => [bo.id, bo.refcount, bo.evicted])
    const before = { bos: bos(), refcount: vm.refcount, vas: [...vm.vas()] }
    const batch = new BindBatch()
    batch.unmap(at(1), at(4)) // x's last mapping: its vm_bo would go
    batch.map({ addr: at(8), range: at(2), obj: y }) // a new vm_bo for y
    batch.map({ addr: at(1), range: at(1), obj: x }) // and a new one for x
    const err = batchError(() => vm.bindArray(batch, { failAt: 2 }))
    expect(err.unwound).toBe(true)
    expect({ bos: bos(), refcount: vm.refcount, vas: [...vm.vas()] }).toEqual(before)
    // Succeeding, it leaves what the sequential batch leaves: x's first vm_bo freed, new ids 2 and 3.
    vm.bindArray(batch)
    expect(bos()).toEqual([
      [2, 1, false],
      [3, 1, false],
    ])
  })

  it('undo of a prefix of mapSteps restores the mappings, seq and flags included', () => {
    const vm = newVm()
    const a = new GemObject({ size: 1n << 24n })
    const b = new GemObject({ size: 1n << 24n })
    const left = vm.insert({ addr: at(1), range: at(4), obj: a })
    vm.link(left)
    vm.invalidate(left, true)
    const right = vm.insert({ addr: at(5), range: at(4), obj: a, offset: at(4) })
    vm.link(right)
    const before = [...vm.vas()]
    // Bind [3, 7) over both: remap left, remap right, map.
    const applied: Op[] = []
    for (const op of vm.mapSteps({ addr: at(3), range: at(4), obj: b })) {
      vm.apply(op)
      applied.push(op)
    }
    expect(applied.map((op) => op.kind)).toEqual(['remap', 'remap', 'map'])
    for (let n = applied.length; n >= 0; n--) {
      // Undo a prefix of n steps, after applying only those.
      const prefix = applied.slice(0, n)
      if (n < applied.length) vm.applyAll(prefix)
      expect(vm.undo(prefix)).toBe(n)
      expect([...vm.vas()]).toEqual(before)
      expect([left.live, right.live, left.invalidated, right.invalidated]).toEqual([true, true, true, false])
      // Link order: a put-back mapping joins the end of its object's list (left, undone last, is last).
      expect(vm.gemVas(a)).toEqual([right, left])
    }
  })

  it('undo of unmapSteps puts back the whole mappings; a step that cannot be undone is EINVAL', () => {
    const vm = newVm()
    const a = new GemObject({ size: 1n << 24n })
    vm.bind({ addr: at(1), range: at(2), obj: a })
    vm.bind({ addr: at(3), range: at(2), obj: a, offset: at(7) })
    const before = [...vm.vas()]
    const steps = [...vm.unmapSteps(at(1), at(4))]
    vm.applyAll(steps)
    expect(vm.mappingCount).toBe(0)
    vm.undo(steps)
    expect([...vm.vas()]).toEqual(before)
    // Undone twice: the mappings are there already.
    expect(() => vm.undo(steps)).toThrow(/EINVAL/)
    expect(() => vm.undo(bad(42))).toThrow(/EINVAL/)
  })
})

const bad = <T>(v: unknown) => v as T

describe('GpuVm.undo of a prefix of steps (property, both engines)', () => {
  it('puts back the mappings as they were, seq and flags included, for any prefix of mapSteps or unmapSteps', () => {
    const objs = [1, 2, 3].map(() => new GemObject({ size: 1n << 30n }))
    fc.assert(
      fc.property(
        fc.array(request, { maxLength: 12 }),
        request,
        fc.integer({ min: 0, max: 8 }),
        fc.nat(),
        (setup, req, prefix, flagged) => {
          const results = ENGINES.map((engine) => {
            const vm = new GpuVm({ name: 'undo', range: 1n << 40n, reserve: { offset: 0n, range: P }, engine })
            for (const r of setup) {
              if (r.unmap) vm.unbind(at(r.page), at(r.pages))
              else vm.bind({ addr: at(r.page), range: at(r.pages), obj: objs[r.obj % 3], offset: at(r.off) })
            }
            const live = [...vm.vas()].filter((va) => va.seq !== 0)
            if (live.length > 0) vm.invalidate(live[flagged % live.length], true)
            const view = () =>
              [...vm.vas()].map((va) => [va.addr, va.range, va.obj?.id, va.offset, va.seq, va.invalidated])
            const before = view()
            const steps = req.unmap
              ? vm.unmapSteps(at(req.page), at(req.pages))
              : vm.mapSteps({ addr: at(req.page), range: at(req.pages), obj: objs[req.obj % 3], offset: at(req.off) })
            const applied: Op[] = []
            for (const op of steps) {
              if (applied.length === prefix) break
              vm.apply(op)
              applied.push(op)
            }
            expect(vm.undo(applied)).toBe(applied.length)
            expect(view()).toEqual(before)
            return view().map(String)
          })
          expect(results[0]).toEqual(results[1])
        },
      ),
      { numRuns, seed },
    )
  })
})

// ---- the replay's bind.array line --------------------------------------------

describe.each(ENGINES)('replay: bind.array (%s engine)', (engine) => {
  const head = [
    '{"op":"vm.create","vm":"a","range":"0x1000000000000","reserve":["0","0x1000"]}',
    '{"op":"obj.create","obj":"bo1","size":"0x100000"}',
    '{"op":"bind","vm":"a","addr":"0x100000","range":"0x4000","obj":"bo1","offset":"0"}',
  ]
  const ops =
    '[{"op":"bind","addr":"0x101000","range":"0x1000","obj":null},{"op":"unbind","addr":"0x100000","range":"0x1000"}]'
  const text = (...l: string[]) => `${[...head, ...l].join('\n')}\n`

  it('applies the ops all or nothing; a failed array is a simulation error with its errno, the VA space as before', async () => {
    const records: ReplayRecord[] = []
    const run = (t: string) => replay(t, { engine, keepGoing: true, onRecord: (rec) => records.push(rec) })
    const failed = await run(text(`{"op":"bind.array","vm":"a","ops":${ops},"failAt":1}`))
    const alone = await replay(text(), { engine })
    expect(failed.summary).toMatchObject({ errors: 1, mappings: 1 })
    // The unwound array leaves the state the lines before it left.
    expect(failed.summary.stateFnv1a64).toBe(alone.summary.stateFnv1a64)
    const last = records.at(-1)!
    expect([last.error?.kind, last.error?.errno, last.result]).toEqual([
      'simulation',
      'ENOSPC',
      { failedOp: 1, unwound: true },
    ])
    expect(recordLines(last, 3)[0]).toBe(
      'req 3 bind.array a ops=[bind:0x101000+0x1000:-@0x0,unbind:0x100000+0x1000] fail_at=1',
    )
    records.length = 0
    const ok = await run(text(`{"op":"bind.array","vm":"a","ops":${ops}}`))
    expect(ok.summary).toMatchObject({ errors: 0, mappings: 2, ops: { map: 2, remap: 1, unmap: 1 } })
    expect(records.at(-1)!.result).toEqual({ map: 1, remap: 1, unmap: 1 })
    // Without --keep-going the replay stops at the failed array.
    const stopped = await replay(text(`{"op":"bind.array","vm":"a","ops":${ops},"failAt":0}`), { engine }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(stopped).toBeInstanceOf(ReplayError)
    expect((stopped as ReplayError).message).toMatch(/:4: bind\.array: ENOSPC: request 0 of the atomic array/)
  })

  it.each([
    ['an op without range', '[{"op":"bind","addr":"0x1000"}]', 'ops', /op 0 range: /],
    ['an op of unknown kind', '[{"op":"map","addr":"0","range":"0x1000"}]', 'ops', /op 0/],
    [
      'an unbind naming an object',
      '[{"op":"unbind","addr":"0","range":"0x1000","obj":"bo1"}]',
      'ops',
      /"unbind" op takes op, addr, range/,
    ],
    ['ops not an array', '{"op":"bind"}', 'ops', /must be an array of bind\/unbind ops/],
  ])('refuses %s as a format error naming the field', async (_, bad, field, message) => {
    const err = await replay(text(`{"op":"bind.array","vm":"a","ops":${bad}}`), { engine }).then(
      () => undefined,
      (e: unknown) => e as ReplayError,
    )
    expect([err?.kind, err?.errno, err?.field]).toEqual(['format', 'EINVAL', field])
    expect(err?.message).toMatch(message)
  })

  it('an unknown object in an op is a format error naming it; a bad failAt too', async () => {
    const unknown = `[{"op":"bind","addr":"0x200000","range":"0x1000","obj":"nope"}]`
    const err = await replay(text(`{"op":"bind.array","vm":"a","ops":${unknown}}`), { engine }).catch((e) => e)
    expect([err.kind, err.field]).toEqual(['format', 'ops[0].obj'])
    const neg = await replay(text(`{"op":"bind.array","vm":"a","ops":[],"failAt":-1}`), { engine }).catch((e) => e)
    expect([neg.kind, neg.field]).toEqual(['format', 'failAt'])
  })
})
