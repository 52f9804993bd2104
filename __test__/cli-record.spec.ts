// The Recorder: a program's calls written as a replay file that `drmsim replay` (and replay()) runs to
// the same state; what is recorded, what is refused.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { DrmError } from '../lib/base/errors.js'
import type { GpuVm } from '../lib/gpuvm/gpuvm.js'
import { HUB_OPS, QUEUE_OPS, REPLAY_OPS, Recorder, replay, type ReplayResult } from '../lib/replay/index.js'

const root = path.resolve(__dirname, '..')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-cli-record-'))

/** A program that uses every op the replay format has. */
function program(rec: Recorder) {
  const vm = rec.createVm({ name: 'ctx', range: 1n << 48n, reserve: { offset: 0n, range: 0x1000n } })
  const other = rec.createVm({ range: 1n << 40n, start: 0x1000n })
  const color = rec.createObject({ name: 'color', size: 0x400000n })
  const depth = rec.createObject({ size: 0x200000n, profile: 'gem-vram-2024' })
  const shared = rec.createObject({ size: 0x100000n, resv: depth })
  const counts = rec.bind(vm, { addr: 0x100000n, range: 0x400000n, obj: color, offset: 0n })
  rec.bind(vm, { addr: 0x200000n, range: 0x1000n, obj: color, offset: 0x100000n })
  rec.bind(vm, { addr: 0x300000n, range: 0x10000n })
  rec.bind(other, { addr: 0x10000n, range: 0x200000n, obj: depth })
  rec.unbind(vm, 0x100000n, 0x1000n)
  const expected = rec.expect(vm)
  // An atomic array: a sparse page over color's mapping, and an unbind beside it.
  rec.bindArray(vm, [
    { op: 'bind', addr: 0x380000n, range: 0x1000n },
    { op: 'unbind', addr: 0x101000n, range: 0x1000n },
  ])
  rec.lock(color)
  rec.validate(color, ['vram', 'gtt'])
  const pins = rec.pin(color, 'vram')
  rec.unlock(color)
  const ctx = rec.initCtx()
  rec.lock(depth, ctx)
  rec.validate(depth, [
    { domain: 'vram', desired: true },
    { domain: 'gtt', fallback: true },
  ])
  rec.unlock(depth)
  rec.finiCtx(ctx)
  const map = rec.vmap(shared)
  rec.vunmap(shared)
  rec.pin(depth)
  rec.unpin(depth)
  rec.destroyVm(other)
  rec.unbind(vm, 0x300000n, 0x10000n)
  rec.destroyObject(shared)
  return { vm, color, depth, counts, pins, map, expected }
}

/** A driver's use of the drm_gpuvm hub: every hub op, and the hub fields of the others. */
function hubProgram(rec: Recorder) {
  const vm = rec.createVm({ name: 'xe', range: 1n << 40n, era: 'drm_gpuvm-7.2', resvProtected: true })
  const tex = rec.createObject({ name: 'tex', size: 0x200000n })
  const pool = rec.createObject({ name: 'pool', size: 0x100000n, vm })
  const scratch = rec.createObject({ name: 'scratch', size: 0x10000n, resv: vm.resvObject! })
  const bind = rec.execLock(vm, { numFences: 1, objs: [tex] })
  const bo = rec.obtainVmBo(vm, tex)
  rec.extobjAdd(bo)
  rec.bind(vm, { addr: 0x100000n, range: 0x200000n, obj: tex }, { exec: bind })
  rec.bind(vm, { addr: 0x400000n, range: 0x100000n, obj: pool }, { exec: bind })
  rec.putVmBo(bo)
  rec.resvAddFence(bind, { privateUsage: 'bookkeep', extobjUsage: 'write' })
  rec.execUnlock(bind)
  rec.lock(tex)
  rec.evictVmBo(bo)
  rec.unlock(tex)
  const job = rec.execLock(vm, { numFences: 1 })
  const validated = rec.validateVm(job, ['gtt'])
  rec.execUnlock(job)
  const info = rec.vmInfo(vm)
  rec.bind(vm, { addr: 0x800000n, range: 0x10000n })
  const advice = rec.madvise(vm, { addr: 0x804000n, range: 0x1000n })
  const range = rec.execLock(vm, { range: { addr: 0x100000n, range: 0x400000n } })
  rec.execUnlock(range)
  const walk = rec.smUnmapExecLock(vm, 0x100000n, 0x1000n)
  rec.unbind(vm, 0x100000n, 0x200000n, { exec: walk })
  rec.execUnlock(walk)
  const map = rec.smMapExecLock(vm, { addr: 0x900000n, range: 0x10000n, obj: scratch }, { numFences: 1 })
  rec.bind(vm, { addr: 0x900000n, range: 0x10000n, obj: scratch }, { exec: map })
  rec.execUnlock(map)
  const imm = rec.createVm({ name: 'imm', range: 1n << 32n, immediateMode: true })
  const sb = rec.obtainVmBo(imm, tex, { prealloc: true })
  rec.getVmBo(sb)
  rec.putVmBo(sb)
  rec.putVmBo(sb, { deferred: true })
  const refs = [rec.getVm(imm), rec.putVm(imm)]
  const cleaned = rec.deferredCleanup(imm)
  const last = rec.putVm(imm)
  // Its name is free again, as in the replay.
  const again = rec.createVm({ name: 'imm', range: 1n << 32n })
  return { vm, tex, validated, info, advice, refs, cleaned, last, again }
}

const mappings = (vms: Iterable<[string, GpuVm]>, name: (o: object) => string | undefined) =>
  [...vms].map(([n, vm]) => [
    n,
    [...vm.vas()].filter((va) => !va.isKernelNode).map((va) => [va.addr, va.range, va.obj && name(va.obj), va.offset]),
  ])

describe('Recorder', () => {
  it.each(['native', 'reference'] as const)(
    'on the %s engine: the file replays to the state the program left',
    async (engine) => {
      const rec = new Recorder({ engine, vram: 16n << 20n, gtt: 64n << 20n })
      const p = program(rec)
      expect(p.counts).toEqual({ map: 1, remap: 0, unmap: 0, prefetch: 0 })
      expect(p.pins).toBe(1)
      const text = rec.text()
      expect(text.split('\n')[0]).toBe('{"op":"device","vram":"0x1000000","gtt":"0x4000000"}')
      expect(text).toContain(
        '{"op":"bind","vm":"ctx","addr":"0x100000","range":"0x400000","obj":"color","offset":"0x0"}\n' +
          '{"op":"bind","vm":"ctx","addr":"0x200000","range":"0x1000","obj":"color","offset":"0x100000"}\n' +
          '{"op":"bind","vm":"ctx","addr":"0x300000","range":"0x10000","obj":null}\n' +
          '{"op":"bind","vm":"vm1","addr":"0x10000","range":"0x200000","obj":"bo1"}\n',
      )
      expect(text).toContain('{"op":"obj.create","obj":"bo2","size":"0x100000","resv":"bo1"}\n')
      // The mappings left then, written out for the replay to check (the split/merge by hand).
      expect(p.expected).toBe(5)
      expect(text).toContain(
        '{"op":"expect","vm":"ctx","mappings":[["0x101000","0xff000","color","0x1000"],' +
          '["0x200000","0x1000","color","0x100000"],["0x201000","0xff000","color","0x101000"],' +
          '["0x300000","0x10000",null,"0x0"],["0x310000","0x1f0000","color","0x210000"]]}\n',
      )
      expect(text).toContain(
        '{"op":"validate","obj":"bo1","placement":[{"domain":"vram","desired":true},{"domain":"gtt","fallback":true}]}\n',
      )
      const r: ReplayResult = await replay(text, { engine })
      // The one warning: vm1 destroyed with its mapping left, as the program did.
      expect(r.summary).toMatchObject({ requests: 29, errors: 0, violations: 0, warnings: 1 })
      const live: [string, GpuVm][] = [['ctx', p.vm]]
      expect(mappings(r.vms, (o) => r.nameOf(o as never))).toEqual(mappings(live, (o) => rec.nameOf(o as never)))
      for (const [name, obj] of [
        ['color', p.color],
        ['bo1', p.depth],
      ] as const) {
        const again = r.objects.get(name)!
        expect([again.domain, again.offset, again.pinCount, again.vmapCount]).toEqual([
          obj.domain,
          obj.offset,
          obj.pinCount,
          obj.vmapCount,
        ])
      }
      expect(r.objects.has('bo2')).toBe(false)
      // And through the command line.
      const file = path.join(dir, `${engine}.jsonl`)
      writeFileSync(file, text)
      const cli = spawnSync(process.execPath, [bin, 'replay', file, '--summary', '--engine', engine], {
        encoding: 'utf8',
      })
      expect(cli.status).toBe(0)
      expect(cli.stdout).toContain(`state_fnv1a64 ${r.summary.stateFnv1a64}\n`)
    },
  )

  it.each(['native', 'reference'] as const)(
    'on the %s engine: a drm_gpuvm program (every hub op) replays to the state it left',
    async (engine) => {
      const rec = new Recorder({ engine, vram: 4n << 20n, gtt: 64n << 20n })
      const p = hubProgram(rec)
      expect(p.validated.map((b) => b.obj)).toEqual([p.tex])
      expect(p.info.extobj.map((b) => b.obj)).toEqual([p.tex])
      expect(p.advice.length).toBe(2)
      expect([...p.refs, p.cleaned, p.last]).toEqual([3, 2, 1, 0])
      const text = rec.text()
      const ops = new Set(
        text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l).op as string),
      )
      expect(HUB_OPS.filter((op) => !ops.has(op))).toEqual([])
      expect(text).toContain('{"op":"obj.create","obj":"pool","size":"0x100000","vm":"xe"}\n')
      expect(text).toContain('{"op":"obj.create","obj":"scratch","size":"0x10000","vm":"xe"}\n')
      expect(text).toContain(
        '{"op":"bind","vm":"xe","addr":"0x100000","range":"0x200000","obj":"tex","exec":"exec1"}\n',
      )
      expect(text).toContain('{"op":"vm.validate","exec":"exec2","placement":["gtt"]}\n')
      const r = await replay(text, { engine })
      expect(r.summary).toMatchObject({ errors: 0, violations: 0 })
      const live: [string, GpuVm][] = [
        ['xe', p.vm],
        ['imm', p.again],
      ]
      expect(mappings(r.vms, (o) => r.nameOf(o as never))).toEqual(mappings(live, (o) => rec.nameOf(o as never)))
      expect(r.objects.get('tex')!.domain).toBe(p.tex.domain)
      expect(
        r.vms
          .get('xe')!
          .vmBos()
          .map((b) => [b.id, b.refcount, b.evicted]),
      ).toEqual(p.vm.vmBos().map((b) => [b.id, b.refcount, b.evicted]))
    },
  )

  it('the two programs use every op of the format', () => {
    const rec = new Recorder({ vram: 16n << 20n, gtt: 64n << 20n })
    program(rec)
    const hub = new Recorder({ vram: 4n << 20n, gtt: 64n << 20n })
    hubProgram(hub)
    const ops = new Set(
      (rec.text() + hub.text())
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).op as string),
    )
    // The queue and fence ops: replay-queue.spec.ts records a program of its own.
    expect(Object.keys(REPLAY_OPS).filter((op) => !ops.has(op) && !QUEUE_OPS.includes(op))).toEqual([])
  })

  it('a vm_bo op names the live vm_bo of its object: a zombie is refused, and not recorded', () => {
    const rec = new Recorder()
    const vm = rec.createVm({ range: 1n << 32n, immediateMode: true })
    const bo = rec.createObject({ size: 0x1000n })
    const vb = rec.obtainVmBo(vm, bo, { prealloc: true })
    rec.putVmBo(vb, { deferred: true })
    const before = rec.text()
    expect(() => rec.getVmBo(vb)).toThrow(DrmError)
    expect(rec.text()).toBe(before)
  })

  it('write takes each line as it is recorded', () => {
    const lines: string[] = []
    const rec = new Recorder({ write: (l) => lines.push(l) })
    const vm = rec.createVm({ range: 1n << 32n })
    rec.bind(vm, { addr: 0x1000n, range: 0x1000n })
    expect(lines).toEqual([
      '{"op":"vm.create","vm":"vm1","range":"0x100000000"}',
      '{"op":"bind","vm":"vm1","addr":"0x1000","range":"0x1000","obj":null}',
    ])
    expect(rec.text()).toBe('')
  })

  it('a call the simulator refuses is recorded, and replays the same way (--keep-going goes past it)', async () => {
    const rec = new Recorder()
    const vm = rec.createVm({ range: 1n << 32n, reserve: { offset: 0n, range: 0x1000n } })
    const bo = rec.createObject({ size: 0x1000n })
    expect(() => rec.bind(vm, { addr: 0n, range: 0x1000n, obj: bo })).toThrow(DrmError)
    rec.bind(vm, { addr: 0x1000n, range: 0x1000n, obj: bo })
    const text = rec.text()
    expect(text.split('\n')).toHaveLength(5)
    await expect(replay(text)).rejects.toThrow(/replay\.jsonl:3: bind: EINVAL/)
    const r = await replay(text, { keepGoing: true })
    expect(r.summary).toMatchObject({ errors: 1, mappings: 1 })
  })

  it('refuses, and does not record, handles it did not make, destroyed ones, and duplicate names', () => {
    const rec = new Recorder()
    const stranger = new Recorder().createVm({ range: 1n << 32n })
    expect(() => rec.unbind(stranger, 0n, 0x1000n)).toThrow(/not a VA space made by this recorder/)
    const bo = rec.createObject({ name: 'a', size: 0x1000n })
    expect(() => rec.createObject({ name: 'a', size: 0x1000n })).toThrow(/obj a is alive already/)
    expect(() => rec.createObject({ name: 'has space', size: 0x1000n })).toThrow(/printable ASCII/)
    rec.destroyObject(bo)
    expect(() => rec.pin(bo)).toThrow(/not an object made by this recorder \(or destroyed\)/)
    expect(rec.text()).toBe('{"op":"obj.create","obj":"a","size":"0x1000"}\n{"op":"obj.destroy","obj":"a"}\n')
  })
})
