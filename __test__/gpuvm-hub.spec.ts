/**
 * drm_gpuvm as a hub, through the public API, on both engines: a KUnit-style
 * case per helper, written from the kernel's documented semantics
 * (drivers/gpu/drm/drm_gpuvm.c, 7.2) and lib/contract/hub.md.
 */
import { describe, expect, it } from 'vitest'
import { Device } from '../lib/device/device.js'
import { Exec } from '../lib/device/exec.js'
import type { GemObject } from '../lib/device/gem.js'
import { explore, Scheduler, seeds } from '../lib/device/sched.js'
import { GpuVm, type GpuVmOptions } from '../lib/gpuvm/gpuvm.js'
import { type AnyOp, type Op, remapToUnmapRange, type RemapOp } from '../lib/gpuvm/ops.js'
import type { VmBo } from '../lib/gpuvm/vm-bo.js'
import {
  GpuVmExec,
  missingLocks,
  prepareObjects,
  prepareRange,
  prepareVm,
  smMapExecLock,
  smUnmapExecLock,
} from '../lib/gpuvm/vm-exec.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const
const K = 1024n
const M = 1024n * K
const P = 4096n

describe.each(engines)('%s engine', (engine) => {
  const device = (vram = 64n * M) => new Device({ engine, memory: { vram, gtt: 64n * M } })
  const vmOn = (d: Device, o: Partial<GpuVmOptions> = {}) =>
    new GpuVm({ name: 'hub', range: 1n << 40n, device: d, ...o })
  const ids = (bos: VmBo[]) => bos.map((b) => b.id)
  const objIds = (objs: readonly GemObject[]) => objs.map((o) => o.id)
  const kinds = (vm: GpuVm) => vm.takeWarnings().map((w) => w.kind)
  const violations = (d: Device) => d.takeViolations().map((v) => v.kind)
  /** A buffer with its own reservation (an external object for any VM). */
  const external = (d: Device, size = 64n * K) => d.createObject({ size })
  /** A buffer sharing the VM's reservation (private). */
  const priv = (d: Device, vm: GpuVm, size = 64n * K) => d.createObject({ size, resv: vm.resvObject! })
  const locked = <T>(obj: GemObject, f: () => T): T => {
    obj.resv.lock()
    try {
      return f()
    } finally {
      obj.resv.unlock()
    }
  }

  describe('the VM', () => {
    it('made on a device: era drm_gpuvm-7.2, an empty reservation object, refcount 1', () => {
      const d = device()
      const vm = vmOn(d)
      expect(vm.era).toBe('drm_gpuvm-7.2')
      expect(vm.device).toBe(d)
      expect(vm.resvObject!.size).toBe(0n)
      expect(vm.resv!.id).toBe(vm.resvObject!.resv.id)
      expect(vm.refcount).toBe(1)
      expect([vm.resvProtected, vm.immediateMode]).toEqual([false, false])
      expect(new GpuVm({ engine, range: 1n << 20n }).era).toBe('drm_gpuva_mgr-6.6')
    })

    it('each mapping and each vm_bo holds a reference; the last put frees the VM and calls vmFree', () => {
      const d = device()
      const freed: string[] = []
      const vm = vmOn(d, { ops: { vmFree: (v) => freed.push(v.name), vmBoFree: (b) => freed.push(`vm_bo ${b.id}`) } })
      const bo = external(d)
      vm.bind({ addr: 0x10000n, range: 2n * P, obj: bo })
      vm.bind({ addr: 0x20000n, range: P, obj: bo })
      // creator 1 + 2 mappings + 1 vm_bo
      expect(vm.refcount).toBe(4)
      expect(vm.get()).toBe(vm)
      expect(vm.refcount).toBe(5)
      expect(vm.put()).toBe(4)
      expect(vm.put()).toBe(3)
      expect(vm.destroyed).toBe(false)
      expect(errnoOf(() => vm.put())).toBe('EINVAL')
      vm.unbind(0x10000n, 2n * P)
      expect(vm.refcount).toBe(2)
      expect(freed).toEqual([])
      vm.unbind(0x20000n, P)
      // The last mapping went, and with it the vm_bo: nothing holds the VM. vm_bo_free comes before vm_free.
      expect(freed).toEqual(['vm_bo 1', 'hub'])
      expect(vm.destroyed).toBe(true)
      expect(vm.refcount).toBe(0)
      expect(kinds(vm)).toEqual([])
    })

    it('destroy() with lists left non-empty warns for each, as drm_gpuvm_fini', () => {
      const d = device()
      const vm = vmOn(d, { immediateMode: true })
      const a = external(d)
      const b = external(d)
      vm.bind({ addr: 0n, range: P, obj: a })
      vm.bind({ addr: P, range: P, obj: b })
      locked(b, () => vm.gemEvict(b))
      vm.unbind(0n, P) // a's vm_bo becomes a zombie
      vm.destroy()
      expect(kinds(vm)).toEqual(['tree-not-empty', 'extobj-not-empty', 'evict-not-empty', 'defer-not-empty'])
    })

    it('a seed-era VA space has no hub', () => {
      const vm = new GpuVm({ engine, range: 1n << 20n })
      expect(errnoOf(() => vm.vmBos())).toBe('EINVAL')
      expect(errnoOf(() => vm.get())).toBe('EINVAL')
      expect(vm.refcount).toBe(1)
      expect(errnoOf(() => new GpuVm({ engine, range: 1n << 20n, resvProtected: true }))).toBe('EINVAL')
      const d = device()
      expect(errnoOf(() => vmOn(d, { era: 'drm_gpuva_mgr-6.6' }))).toBe('EINVAL')
      expect(errnoOf(() => vmOn(d, { era: 'drm_gpuvm-8' as never }))).toBe('EINVAL')
    })
  })

  describe('vm_bo', () => {
    it('obtain makes one per object, +1 each time; find +1; put says when it was the last', () => {
      const d = device()
      const vm = vmOn(d)
      const bo = external(d)
      const a = locked(bo, () => vm.obtain(bo))
      expect([a.id, a.refcount, a.external, a.onExtobjList, a.evicted]).toEqual([1, 1, true, false, false])
      const again = locked(bo, () => vm.obtain(bo))
      expect(again).toBe(a)
      expect(a.refcount).toBe(2)
      expect(locked(bo, () => vm.findVmBo(bo))).toBe(a)
      expect(a.refcount).toBe(3)
      expect(a.put()).toBe(false)
      expect(a.put()).toBe(false)
      expect(vm.refcount).toBe(2)
      expect(a.put()).toBe(true)
      expect(a.freed).toBe(true)
      expect(errnoOf(() => a.refcount)).toBe('EINVAL')
      expect(errnoOf(() => a.get())).toBe('EINVAL')
      expect(vm.findVmBo(bo)).toBeUndefined()
      // A new one gets a new id.
      expect(locked(bo, () => vm.obtain(bo)).id).toBe(2)
      expect(violations(d)).toEqual([])
    })

    it('obtain without the object locked is recorded (obtain_locked asserts the GEM gpuva lock)', () => {
      const d = device()
      const vm = vmOn(d)
      vm.obtain(external(d))
      expect(violations(d)).toEqual(['resv-not-held'])
    })

    it('obtain_locked in immediate mode and obtain_prealloc outside it WARN', () => {
      const d = device()
      const imm = vmOn(d, { immediateMode: true })
      const obj = external(d)
      imm.obtain(obj)
      expect(kinds(imm)).toEqual(['obtain-locked-immediate'])
      imm.obtainPrealloc(obj)
      expect(kinds(imm)).toEqual([])
      const plain = vmOn(d)
      locked(obj, () => plain.obtainPrealloc(obj))
      expect(kinds(plain)).toEqual(['obtain-prealloc-not-immediate'])
    })

    it('mappings link through their vm_bo: bind makes it, the last unbind frees it (vmBoFree)', () => {
      const d = device()
      const freed: number[] = []
      const vm = vmOn(d, { ops: { vmBoFree: (b) => freed.push(b.id) } })
      const bo = external(d)
      vm.bind({ addr: 0n, range: 4n * P, obj: bo })
      vm.bind({ addr: 8n * P, range: P, obj: bo, offset: 4n * P })
      const [b] = vm.vmBos()
      expect([b.refcount, b.vas.length, b.onExtobjList]).toEqual([2, 2, true])
      // A remap keeps the vm_bo: the pieces link before the old mapping unlinks.
      vm.unbind(P, P)
      expect(b.refcount).toBe(3)
      expect(b.vas.map((v) => v.addr)).toEqual([8n * P, 0n, 2n * P])
      vm.unbind(0n, 16n * P)
      expect(b.freed).toBe(true)
      expect(freed).toEqual([b.id])
      expect(vm.extobjList()).toEqual([])
    })

    it('linkTo refuses the vm_bo of another object (the kernel WARNs)', () => {
      const d = device()
      const vm = vmOn(d)
      const [x, y] = [external(d), external(d)]
      const va = vm.insert({ addr: 0n, range: P, obj: x })
      const boY = locked(y, () => vm.obtain(y))
      expect(errnoOf(() => vm.linkTo(va, boY))).toBe('EINVAL')
      expect(kinds(vm)).toEqual(['link-wrong-object'])
      const boX = locked(x, () => vm.obtain(x))
      vm.linkTo(va, boX)
      expect(boX.refcount).toBe(2)
      expect(boX.vas).toEqual([va])
    })

    it('private objects (sharing the VM reservation) are not external and never join the extobj list', () => {
      const d = device()
      const vm = vmOn(d)
      const p = priv(d, vm)
      expect(vm.isExtobj(p)).toBe(false)
      vm.bind({ addr: 0n, range: P, obj: p })
      const [b] = vm.vmBos()
      expect([b.external, b.onExtobjList]).toEqual([false, false])
      b.extobjAdd()
      expect(vm.extobjList()).toEqual([])
    })

    it('objects of another device are refused', () => {
      const vm = vmOn(device())
      const other = device().createObject({ size: P })
      expect(errnoOf(() => vm.bind({ addr: 0n, range: P, obj: other }))).toBe('EINVAL')
      expect(vm.mappingCount).toBe(0)
    })
  })

  describe('deferred cleanup (immediate mode)', () => {
    it('unbind leaves zombies on the defer list, skipped by the lists; deferredCleanup frees newest first', () => {
      const d = device()
      const freed: number[] = []
      const vm = vmOn(d, { immediateMode: true, ops: { vmBoFree: (b) => freed.push(b.obj.id) } })
      const [a, b] = [external(d), external(d)]
      vm.bind({ addr: 0n, range: P, obj: a })
      vm.bind({ addr: P, range: P, obj: b })
      vm.unbind(0n, 2n * P)
      const zombies = vm.deferList()
      expect(zombies.map((z) => z.obj.id)).toEqual([b.id, a.id])
      expect(zombies.every((z) => z.zombie)).toBe(true)
      expect(vm.extobjList()).toEqual([])
      expect(vm.refcount).toBe(3)
      expect(vm.deferredCleanup()).toBe(2)
      expect(freed).toEqual([b.id, a.id])
      expect(vm.deferList()).toEqual([])
      expect(vm.refcount).toBe(1)
    })

    it('a zombie cannot be revived: obtain makes a new vm_bo beside it', () => {
      const d = device()
      const vm = vmOn(d, { immediateMode: true })
      const a = external(d)
      const first = vm.obtainPrealloc(a)
      expect(first.putDeferred()).toBe(true)
      expect(first.zombie).toBe(true)
      expect(errnoOf(() => first.get())).toBe('EINVAL')
      const second = vm.obtainPrealloc(a)
      expect(second.id).not.toBe(first.id)
      expect(ids(vm.vmBos())).toEqual([first.id, second.id])
    })

    it('the leak: a VM dropped without draining the defer list keeps its imported buffers pinned', () => {
      // A panthor-like driver pins an imported buffer while a vm_bo holds it and unpins in vmBoFree.
      const d = device()
      const vm = vmOn(d, {
        immediateMode: true,
        ops: { vmBoFree: (b) => b.obj.unpin() },
      })
      const imported = external(d)
      imported.pin()
      vm.bind({ addr: 0n, range: P, obj: imported })
      vm.unbind(0n, P)
      expect(vm.put()).toBe(1) // the zombie still holds the VM
      expect(vm.destroyed).toBe(false)
      expect(imported.pinCount).toBe(1)
      vm.destroy()
      expect(kinds(vm)).toEqual(['defer-not-empty'])
      expect(imported.pinCount).toBe(1)
    })

    it('put_deferred and unlink_defer outside immediate mode WARN', () => {
      const d = device()
      const vm = vmOn(d)
      const a = external(d)
      const va = vm.insert({ addr: 0n, range: P, obj: a })
      vm.link(va)
      vm.unlinkDefer(va)
      expect(kinds(vm)).toEqual(['unlink-defer-not-immediate'])
      const b = locked(a, () => vm.obtain(a))
      b.putDeferred()
      expect(kinds(vm)).toEqual(['put-deferred-not-immediate'])
    })
  })

  describe('eviction', () => {
    it('a placement move marks the vm_bo evicted and invalidates the mappings, inside the engine', () => {
      const d = device(64n * K)
      const vm = vmOn(d)
      const a = external(d)
      locked(a, () => d.validate(a, [{ domain: 'vram' }]))
      vm.bind({ addr: 0n, range: P, obj: a })
      vm.bind({ addr: 4n * P, range: P, obj: a })
      const newcomer = external(d)
      locked(newcomer, () => d.validate(newcomer, [{ domain: 'vram' }]))
      const [b] = vm.vmBos()
      expect([b.evicted, b.onEvictList]).toEqual([true, true])
      expect(ids(vm.evictList())).toEqual([b.id])
      expect(objIds(d.evictList(vm))).toEqual([a.id])
      expect([...vm].map((v) => v.invalidated)).toEqual([true, true])
    })

    it('under RESV_PROTECTED an evicted external object joins the evict list only at prepareObjects', () => {
      const d = device()
      const vm = vmOn(d, { resvProtected: true })
      const [a, p] = [external(d), priv(d, vm)]
      vm.bind({ addr: 0n, range: P, obj: a })
      vm.bind({ addr: P, range: P, obj: p })
      locked(a, () => vm.gemEvict(a))
      locked(p, () => vm.gemEvict(p))
      const [ba, bp] = vm.vmBos()
      expect([ba.evicted, ba.onEvictList, bp.evicted, bp.onEvictList]).toEqual([true, false, true, true])
      const exec = new Exec(d)
      exec.untilAllLocked((e) => {
        expect(prepareVm(vm, e)).toBe(0)
        expect(prepareObjects(vm, e, 1)).toBe(0)
      })
      expect(objIds(exec.objects)).toEqual([vm.resvObject!.id, a.id])
      expect(ids(vm.evictList())).toEqual([bp.id, ba.id])
      exec.fini()
      expect(violations(d)).toEqual([])
    })

    it('without RESV_PROTECTED evict(false) takes it off the list at once', () => {
      const d = device()
      const vm = vmOn(d)
      const a = external(d)
      vm.bind({ addr: 0n, range: P, obj: a })
      const [b] = vm.vmBos()
      locked(a, () => b.evict())
      expect(ids(vm.evictList())).toEqual([b.id])
      locked(a, () => b.evict(false))
      expect(vm.evictList()).toEqual([])
      b.evict()
      expect(violations(d)).toEqual(['resv-not-held'])
    })

    it('validate: EOPNOTSUPP without vmBoValidate; with it, each evicted vm_bo once, in list order', () => {
      const d = device()
      const none = vmOn(d)
      const lone = external(d)
      none.bind({ addr: 0n, range: P, obj: lone })
      locked(lone, () => none.gemEvict(lone))
      const ex = new GpuVmExec(none).lock()
      expect(errnoOf(() => ex.validate())).toBe('EOPNOTSUPP')
      ex.unlock()

      const seen: number[] = []
      const vm = vmOn(d, {
        resvProtected: true,
        ops: {
          vmBoValidate: (b) => {
            seen.push(b.obj.id)
            d.validate(b.obj, [{ domain: 'gtt' }])
            b.evict(false)
          },
        },
      })
      const [a, c] = [external(d), external(d)]
      vm.bind({ addr: 0n, range: P, obj: a })
      vm.bind({ addr: P, range: P, obj: c })
      locked(c, () => vm.gemEvict(c))
      locked(a, () => vm.gemEvict(a))
      using job = new GpuVmExec(vm, { numFences: 1 }).lock()
      job.validate()
      // External under RESV_PROTECTED: they joined the evict list at prepareObjects, in extobj order.
      expect(seen).toEqual([a.id, c.id])
      expect(vm.evictList()).toEqual([])
      expect([a.domain, c.domain]).toEqual(['gtt', 'gtt'])
    })

    it('a failing vmBoValidate stops the walk and leaves the rest on the list', () => {
      const d = device()
      const vm = vmOn(d, {
        ops: {
          vmBoValidate: () => {
            throw new Error('no room')
          },
        },
      })
      const a = external(d)
      vm.bind({ addr: 0n, range: P, obj: a })
      locked(a, () => vm.gemEvict(a))
      using job = new GpuVmExec(vm).lock()
      expect(() => job.validate()).toThrow('no room')
      expect(vm.evictList().length).toBe(1)
    })
  })

  describe('drm_exec helpers', () => {
    it('exec lock: the VM reservation, then the external objects, fence slots on each; unlock drops all', () => {
      const d = device()
      const vm = vmOn(d)
      const [a, b, p] = [external(d), external(d), priv(d, vm)]
      for (const [i, o] of [a, b, p].entries()) vm.bind({ addr: BigInt(i) * P, range: P, obj: o })
      const job = new GpuVmExec(vm, { numFences: 2 }).lock()
      expect(objIds(job.exec.objects)).toEqual([vm.resvObject!.id, a.id, b.id])
      // dma_resv rounds a reservation up to four slots.
      expect(d.core.resvInfo(vm.resv!.id).maxFences).toBe(4)
      const fence = d.createFence()
      job.resvAddFence(fence, 'bookkeep', 'write')
      expect(a.resv.fences('bookkeep').map((f) => f.usage)).toEqual(['write'])
      expect(vm.resv!.fences('bookkeep').map((f) => f.usage)).toEqual(['bookkeep'])
      job.unlock()
      expect([vm.resv!.isLocked, a.resv.isLocked, b.resv.isLocked]).toEqual([false, false, false])
      expect(violations(d)).toEqual([])
    })

    it('lockArray adds objects, lockRange locks only a range (object-less mappings skipped)', () => {
      const d = device()
      const vm = vmOn(d)
      const [a, b, extra] = [external(d), external(d), external(d)]
      vm.bind({ addr: 0n, range: P, obj: a })
      vm.bind({ addr: P, range: P })
      vm.bind({ addr: 2n * P, range: P, obj: b })
      const arr = new GpuVmExec(vm).lockArray([extra])
      expect(objIds(arr.exec.objects)).toEqual([vm.resvObject!.id, a.id, b.id, extra.id])
      arr.unlock()
      const range = new GpuVmExec(vm).lockRange(P, 2n * P)
      expect(objIds(range.exec.objects)).toEqual([b.id])
      range.unlock()
      const exec = new Exec(d)
      exec.untilAllLocked((e) => {
        expect(prepareRange(vm, e, 0n, 3n * P)).toBe(0)
      })
      expect(objIds(exec.objects)).toEqual([a.id, b.id])
      exec.fini()
    })

    it('an object locked twice is EALREADY, unless IGNORE_DUPLICATES', () => {
      const d = device()
      const vm = vmOn(d)
      const a = external(d)
      vm.bind({ addr: 0n, range: P, obj: a })
      vm.bind({ addr: P, range: P, obj: a })
      expect(errnoOf(() => new GpuVmExec(vm).lockRange(0n, 2n * P))).toBe('EALREADY')
      expect(a.resv.isLocked).toBe(false)
      const ok = new GpuVmExec(vm, { ignoreDuplicates: true }).lockRange(0n, 2n * P)
      expect(objIds(ok.exec.objects)).toEqual([a.id])
      ok.unlock()
    })

    it('under the scheduler two exec locks over shared objects back off (EDEADLK) and both complete', () => {
      const build = (seed: bigint) => {
        const d = new Device({ engine })
        const vm1 = vmOn(d)
        const vm2 = vmOn(d)
        const shared = [external(d), external(d), external(d)]
        for (const [i, o] of shared.entries()) {
          vm1.bind({ addr: BigInt(i) * P, range: P, obj: o })
          vm2.bind({ addr: BigInt(2 - i) * P, range: P, obj: o })
        }
        const s = new Scheduler(d, { seed })
        for (const vm of [vm1, vm2]) {
          s.spawn(vm === vm1 ? 'one' : 'two', function* () {
            const job = new GpuVmExec(vm, {
              numFences: 1,
              extra: function* () {
                yield { op: 'yield' } as const
                return 0 as const
              },
            })
            yield* job.lockOp()
            for (const o of job.exec.objects) expect(o.resv.holder).toBe(d.thread)
            job.unlock()
          })
        }
        return s
      }
      const reports = explore(build, seeds(30))
      for (const r of reports) {
        expect(r.deadlock).toBeNull()
        expect(r.errors).toEqual([])
        expect(r.completed).toBe(true)
      }
      expect(reports.some((r) => r.trace.some((l) => l.includes('-> EDEADLK')))).toBe(true)
    })
  })

  describe('lock-only walks', () => {
    it('sm_map_exec_lock locks exactly what sm_map would touch, the tree unchanged', () => {
      const d = device()
      const vm = vmOn(d)
      const [a, b, c, n] = [external(d), external(d), external(d), external(d)]
      vm.bind({ addr: 0n, range: 2n * P, obj: a })
      vm.bind({ addr: 2n * P, range: P, obj: b })
      vm.bind({ addr: 3n * P, range: 2n * P, obj: c })
      vm.bind({ addr: 8n * P, range: P }) // object-less: nothing to lock
      const before = [...vm].map(String)
      const exec = new Exec(d)
      const request = { addr: P, range: 3n * P, obj: n }
      exec.untilAllLocked((e) => {
        expect(smMapExecLock(vm, e, 1, request)).toBe(0)
      })
      expect(objIds(exec.objects)).toEqual([n.id, a.id, b.id, c.id])
      expect([n, a, b, c].map((o) => d.core.resvInfo(o.resv.id).maxFences)).toEqual([4, 0, 0, 0])
      expect([...vm].map(String)).toEqual(before)
      expect(missingLocks(exec, vm.smMapOps(request))).toEqual([])
      exec.fini()
    })

    it('a walk whose last step frees the VM ends there', () => {
      const d = device()
      const vm = vmOn(d)
      const o = external(d)
      vm.bind({ addr: P, range: P, obj: o })
      vm.put()
      const steps = [...vm.unmapSteps(P, P)].map((op) => {
        vm.apply(op)
        return op.kind
      })
      expect(steps).toEqual(['unmap'])
      expect(vm.destroyed).toBe(true)
    })

    it('missingLocks counts a private object as locked with the VM reservation', () => {
      const d = device()
      const vm = vmOn(d)
      const p = priv(d, vm)
      const job = new GpuVmExec(vm).lock()
      expect(missingLocks(job.exec, vm.smMapOps({ addr: 0n, range: P, obj: p }))).toEqual([])
      const e = external(d)
      expect(missingLocks(job.exec, vm.smMapOps({ addr: 0n, range: P, obj: e }))).toEqual([e])
      job.unlock()
    })

    it('a lock set taken with the wrong range misses objects the real walk unmaps (the msm bug)', () => {
      const d = device()
      const vm = vmOn(d)
      const [a, b] = [external(d), external(d)]
      vm.bind({ addr: 0x100000n, range: 16n * P, obj: a })
      vm.bind({ addr: 0x200000n, range: 16n * P, obj: b, offset: 0x1000n })
      const exec = new Exec(d)
      // The range argument given the object offset instead of the length.
      exec.untilAllLocked((e) => {
        expect(smUnmapExecLock(vm, e, 0x100000n, 0x1000n)).toBe(0)
      })
      const real = vm.smUnmapOps(0x100000n, 0x110000n)
      expect(objIds(missingLocks(exec, real))).toEqual([b.id])
      exec.fini()
    })
  })

  describe('madvise, remap ranges, driver ops and flags', () => {
    it('madvise splits object-less mappings at the edges, skips GEM mappings, never unmaps', () => {
      const d = device()
      const vm = vmOn(d)
      const a = external(d)
      vm.bind({ addr: 0n, range: 4n * P }) // object-less
      vm.bind({ addr: 4n * P, range: 2n * P, obj: a })
      vm.bind({ addr: 6n * P, range: 4n * P }) // object-less
      const ops = vm.madviseOps({ addr: 2n * P, range: 6n * P })
      expect(ops.counts()).toEqual({ map: 2, remap: 2, unmap: 0, prefetch: 0 })
      const shape = [...ops].map((op) =>
        op.kind === 'remap'
          ? `remap ${op.prev ? `${op.prev.addr / P}+${op.prev.range / P}` : '-'} ${op.next ? `${op.next.addr / P}+${op.next.range / P}` : '-'}`
          : op.kind === 'map'
            ? `map ${op.map.addr / P}+${op.map.range / P}`
            : op.kind,
      )
      expect(shape).toEqual(['remap 0+2 -', 'map 2+2', 'remap - 8+2', 'map 6+2'])
      expect([...ops].every((op) => op.kind !== 'remap' || !op.unmap.keep)).toBe(true)
      expect(vm.madviseOps({ addr: 4n * P, range: 2n * P }).length).toBe(0)
    })

    it('remapToUnmapRange is the hole a remap leaves', () => {
      const d = device()
      const vm = vmOn(d)
      vm.bind({ addr: 0n, range: 8n * P, obj: external(d) })
      const [op] = vm.smUnmapOps(2n * P, 3n * P)
      expect(remapToUnmapRange(op as RemapOp)).toEqual({ addr: 2n * P, range: 3n * P })
      const [head] = vm.smUnmapOps(0n, 3n * P)
      expect(remapToUnmapRange(head as RemapOp)).toEqual({ addr: 0n, range: 3n * P })
    })

    it('a driver op is never applied by the VA space', () => {
      const vm = vmOn(device())
      const driverOp: AnyOp = { kind: 'driver', data: 'svm range' }
      expect(errnoOf(() => vm.apply(driverOp as unknown as Op))).toBe('EINVAL')
    })

    it('flags: user bits set on a mapping are not inherited by remap pieces', () => {
      const d = device()
      const vm = vmOn(d)
      const va = vm.insert({ addr: 0n, range: 4n * P, obj: external(d) })
      vm.link(va)
      vm.setFlags(va, 0b110)
      expect(vm.flagsOf(va)).toBe(0b110)
      vm.unbind(P, P)
      expect([...vm].map((v) => vm.flagsOf(v))).toEqual([0, 0])
      expect(errnoOf(() => vm.setFlags(va, 1))).toBe('EINVAL')
    })
  })

  describe('eras', () => {
    it('the seed WARNs on every overflowing range; drm_gpuvm only at init', () => {
      const seed = new GpuVm({ engine, range: 1n << 20n })
      const today = new GpuVm({ engine, range: 1n << 20n, era: 'drm_gpuvm-7.2' })
      for (const vm of [seed, today]) {
        expect(vm.rangeValid((1n << 64n) - P, 2n * P)).toBe(false)
      }
      expect(kinds(seed)).toEqual(['overflow'])
      expect(kinds(today)).toEqual([])
      new GpuVm({ engine, start: (1n << 64n) - P, range: 2n * P, era: 'drm_gpuvm-7.2' })
    })

    it('zero-length ranges: accepted by 7.2, refused by drm_gpuvm-next', () => {
      const today = new GpuVm({ engine, range: 1n << 20n, era: 'drm_gpuvm-7.2' })
      const next = new GpuVm({ engine, range: 1n << 20n, era: 'drm_gpuvm-next' })
      expect(today.rangeValid(P, 0n)).toBe(true)
      expect(today.bind({ addr: P, range: 0n }).map).toBe(1)
      expect(next.rangeValid(P, 0n)).toBe(false)
      expect(errnoOf(() => next.bind({ addr: P, range: 0n }))).toBe('EINVAL')
      expect(errnoOf(() => next.unbind(P, 0n))).toBe('EINVAL')
      expect(errnoOf(() => next.insert({ addr: P, range: 0n }))).toBe('EINVAL')
    })
  })
})
