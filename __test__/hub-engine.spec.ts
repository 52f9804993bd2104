/**
 * The drm_gpuvm hub of lib/contract/hub.md at the engine contract
 * (VmHubCore, DeviceCore.attachVm), on both engines: KUnit-style cases, one
 * per rule of hub.md, with exact values (refcounts, vm_bo ids, list orders,
 * warning records, errnos); a threshold case past 10^5 vm_bos; and a
 * fast-check property driving random hub calls against a native and a
 * reference VA space side by side, comparing every result, every errno and
 * the whole state after each call.
 *
 * fast-check prints the seed of a failure: replay it with
 * `DRMSIM_FC_SEED=<seed> npx vitest run __test__/hub-engine.spec.ts`, and
 * run longer with `DRMSIM_FC_RUNS=<runs>` (100 by default).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DrmError } from '../lib/base/errors.js'
import type { DeviceCore } from '../lib/contract/device.js'
import {
  ERA_GPUVM,
  ERA_NEXT,
  ERA_SEED,
  OBTAIN,
  VA_FLAGS,
  VM_FLAGS,
  type VmBoRecord,
  type VmHubRecord,
} from '../lib/contract/hub.js'
import type { EngineName, OpRecord, VaRecord, VmCore, VmCreateOptions, WarningRecord } from '../lib/contract/vm.js'
import { decodeOps } from '../lib/contract/wire.js'
import { engineOf } from '../lib/engines.js'
import { errnoOf as errno } from './errno.js'

const ENGINES = ['native', 'reference'] as const
const P = 0x1000n
const MAX = (1n << 64n) - 1n
const IMM = VM_FLAGS.immediateMode
const PROT = VM_FLAGS.resvProtected
const { locked: LOCKED, prealloc: PREALLOC } = OBTAIN
/** Page `i`'s address. */
const at = (i: number): bigint => BigInt(i) * P
/** Device domains as the engine takes them. */
const GTT = 2
const VRAM = 3

/** A vm_bo record with the defaults of a fresh one (refcount 1, obtained for object 1). */
const bo = (fields: Partial<VmBoRecord>): VmBoRecord => ({
  id: 1,
  obj: 1,
  refcount: 1,
  vas: 0,
  evicted: false,
  external: false,
  onExtobjList: false,
  onEvictList: false,
  zombie: false,
  freed: false,
  ...fields,
})

const warning = (kind: string, message: string, rule: string): WarningRecord => ({ kind, message, rule })
const RULE = {
  obtainLocked: 'drm_gpuvm: obtain_locked allocates under the gpuva lock; immediate mode must use obtain_prealloc',
  obtainPrealloc: 'drm_gpuvm: obtain_prealloc is for immediate mode',
  putDeferred: 'drm_gpuvm: deferred puts are for immediate mode',
  unlinkDefer: 'drm_gpuvm: deferred unlinks are for immediate mode',
  linkWrong: 'drm_gpuvm: a mapping links to the vm_bo of its own object',
  extobj: 'drm_gpuvm: the extobj list is empty when the VM is freed',
  evict: 'drm_gpuvm: the evict list is empty when the VM is freed',
  defer: 'drm_gpuvm: deferred vm_bos are cleaned up before the VM is freed',
  tree: 'seed-004: GPUVA tree is not empty on destroy, potentially leaking memory',
  overflow: 'seed-004: GPUVA address limited to 8 bytes',
}

/** A mapping as the engine lists it. */
const va = (addr: bigint, range: bigint, obj: number, offset: bigint, seq: number, flags = 0): VaRecord => ({
  addr,
  range,
  obj,
  offset,
  seq,
  flags,
})
const map = (addr: bigint, range: bigint, obj: number, offset: bigint): OpRecord => ({
  kind: 'map',
  map: { addr, range, obj, offset },
})
const piece = (addr: bigint, range: bigint, obj: number, offset: bigint) => ({ addr, range, obj, offset })

describe.each(ENGINES)('%s engine: the hub of lib/contract/hub.md', (name) => {
  const other: EngineName = name === 'native' ? 'reference' : 'native'
  /** A VA space of era 1 over [0, 2^48) with the kernel node [0, P); `opts` override. */
  const newVm = (opts: Partial<VmCreateOptions> = {}): VmCore =>
    engineOf(name).vm({
      name: 'hub',
      start: 0n,
      range: 1n << 48n,
      reserve: { offset: 0n, range: P },
      era: ERA_GPUVM,
      ...opts,
    })
  const kinds = (vm: VmCore) => vm.takeWarnings().map((w) => w.kind)
  const ids = (recs: VmBoRecord[]) => recs.map((r) => r.id)
  const refcount = (vm: VmCore) => vm.hubInfo().refcount
  /** Inserts a mapping of `pages` pages at page `page` and returns its record. */
  const put = (vm: VmCore, page: number, pages: number, obj: number, offset = 0n) =>
    vm.insert(at(page), BigInt(pages) * P, obj, offset)
  /** The mapping at page `page`, as the tree has it. */
  const vaAt = (vm: VmCore, page: number): VaRecord => vm.list().find((v) => v.addr === at(page) && v.seq !== 0)!

  // ---- eras -------------------------------------------------------------------------------

  describe('eras', () => {
    it('era 0 (the default) has no hub: every hub call but hubInfo, setVaFlags and objectMoved is EINVAL', () => {
      const vm = newVm({ era: undefined })
      expect(vm.hubInfo()).toEqual({ era: ERA_SEED, flags: 0, resv: 0, refcount: 1 } satisfies VmHubRecord)
      const a = put(vm, 1, 1, 1)
      vm.link(a.addr, a.seq)
      expect(vm.gemVas(1)).toEqual([a])
      expect(refcount(vm)).toBe(2)
      const calls: Record<string, () => unknown> = {
        vmGet: () => vm.vmGet(),
        vmPut: () => vm.vmPut(),
        declareExternal: () => vm.declareExternal(1),
        vmBoObtain: () => vm.vmBoObtain(1, LOCKED),
        vmBoFind: () => vm.vmBoFind(1),
        vmBoGet: () => vm.vmBoGet(1),
        vmBoPut: () => vm.vmBoPut(1, false),
        vmBoInfo: () => vm.vmBoInfo(1),
        vmBoVas: () => vm.vmBoVas(1),
        vmBos: () => vm.vmBos(),
        trackFreedVmBos: () => vm.trackFreedVmBos(true),
        takeFreedVmBos: () => vm.takeFreedVmBos(),
        linkVmBo: () => vm.linkVmBo(a.addr, a.seq, 1),
        unlinkDefer: () => vm.unlinkDefer(a.addr, a.seq),
        extobjAdd: () => vm.extobjAdd(1),
        boEvict: () => vm.boEvict(1, true),
        gemEvict: () => vm.gemEvict(1, true),
        extobjList: () => vm.extobjList(),
        evictList: () => vm.evictList(),
        deferList: () => vm.deferList(),
        deferredCleanup: () => vm.deferredCleanup(),
        prepareObjects: () => vm.prepareObjects(),
        validated: () => vm.validated(1),
        madviseOps: () => vm.madviseOps(at(4), P, 0, 0n),
      }
      for (const [call, f] of Object.entries(calls)) expect(errno(f), call).toBe('EINVAL')
      vm.setVaFlags(a.addr, a.seq, VA_FLAGS.sparse)
      vm.objectMoved(1, true)
      expect(vm.get(a.addr, a.seq)?.flags).toBe(VA_FLAGS.sparse | VA_FLAGS.invalidated)
      expect(vm.gemVas(1)).toEqual([{ ...a, flags: 3 }])
      expect(vm.takeWarnings()).toEqual([])
    })

    it('an era or flags that do not exist are EINVAL at creation (flags need era 1); resv is stored', () => {
      for (const era of [-1, 3, 1.5])
        expect(
          errno(() => newVm({ era })),
          `era ${era}`,
        ).toBe('EINVAL')
      for (const flags of [4, 1 << 8, -1, 0.5])
        expect(
          errno(() => newVm({ flags })),
          `flags ${flags}`,
        ).toBe('EINVAL')
      expect(errno(() => newVm({ era: ERA_SEED, flags: IMM }))).toBe('EINVAL')
      expect(newVm({ era: ERA_NEXT, flags: PROT | IMM, resv: 7 }).hubInfo()).toEqual({
        era: 2,
        flags: 3,
        resv: 7,
        refcount: 1,
      })
    })

    it('era 0 WARNs at every overflowing range check; eras 1 and 2 only at init', () => {
      const seed = newVm({ era: ERA_SEED })
      expect(seed.rangeValid(MAX, 2n)).toBe(false)
      expect(errno(() => seed.insert(MAX - P + 1n, 2n * P, 1, 0n))).toBe('EINVAL')
      expect(kinds(seed)).toEqual(['overflow', 'overflow'])
      for (const era of [ERA_GPUVM, ERA_NEXT]) {
        const vm = newVm({ era })
        expect(vm.rangeValid(MAX, 2n)).toBe(false)
        expect(errno(() => vm.insert(MAX - P + 1n, 2n * P, 1, 0n))).toBe('EINVAL')
        expect(errno(() => vm.smMapOps(MAX - P + 1n, 2n * P, 1, 0n))).toBe('EINVAL')
        expect(vm.findNext(MAX)).toBeUndefined()
        expect(vm.takeWarnings()).toEqual([])
        const over = engineOf(name).vm({ name: 'over', start: MAX - P + 1n, range: 2n * P, era })
        expect(over.takeWarnings()).toEqual([
          warning('overflow', 'GPUVA address limited to 8 bytes: 0xfffffffffffff000 + 0x2000 overflows', RULE.overflow),
        ])
        expect(over.rangeValid(MAX - P + 1n, 2n * P)).toBe(false)
        expect(over.takeWarnings()).toEqual([])
      }
    })

    it('era 2 refuses zero-length ranges: insert, sm_map, sm_unmap, bind, unbind (and madvise) are EINVAL', () => {
      const vm1 = newVm({ era: ERA_GPUVM })
      expect(vm1.rangeValid(at(3), 0n)).toBe(true)
      expect(vm1.insert(at(3), 0n, 1, 0n)).toEqual(va(at(3), 0n, 1, 0n, 1))
      const vm = newVm({ era: ERA_NEXT })
      expect(vm.rangeValid(at(3), 0n)).toBe(false)
      expect(vm.rangeValid(at(3), P)).toBe(true)
      const calls: Record<string, () => unknown> = {
        insert: () => vm.insert(at(3), 0n, 1, 0n),
        smMap: () => vm.smMap(at(3), 0n, 1, 0n),
        smUnmap: () => vm.smUnmap(at(3), 0n),
        smMapOps: () => vm.smMapOps(at(3), 0n, 1, 0n),
        smUnmapOps: () => vm.smUnmapOps(at(3), 0n),
        bind: () => vm.bind(at(3), 0n, 1, 0n),
        unbind: () => vm.unbind(at(3), 0n),
        madviseOps: () => vm.madviseOps(at(3), 0n, 1, 0n),
      }
      for (const [call, f] of Object.entries(calls)) expect(errno(f), call).toBe('EINVAL')
      expect(vm.list()).toEqual([va(0n, P, 0, 0n, 0)])
      expect(vm.takeWarnings()).toEqual([])
    })

    it('the split/merge walk, keep and the op lists are the same in every era (keep never without an object)', () => {
      const results = [ERA_SEED, ERA_GPUVM, ERA_NEXT].map((era) => {
        const vm = newVm({ era })
        const counts = [vm.bind(at(1), 4n * P, 1, 0n), vm.bind(at(2), P, 2, 0n), vm.bind(at(10), 2n * P, 0, 0n)]
        const ops = [
          decodeOps(vm.smMapOps(at(3), P, 1, 2n * P)),
          decodeOps(vm.smMapOps(at(10), P, 0, 0n)),
          decodeOps(vm.smUnmapOps(at(2), 2n * P)),
        ]
        return { counts, list: vm.list(), ops }
      })
      expect(results[1]).toEqual(results[0])
      expect(results[2]).toEqual(results[0])
      const [seed] = results
      expect(seed.counts).toEqual([
        { map: 1, remap: 0, unmap: 0, prefetch: 0 },
        { map: 1, remap: 1, unmap: 0, prefetch: 0 },
        { map: 1, remap: 0, unmap: 0, prefetch: 0 },
      ])
      expect(seed.list).toEqual([
        va(0n, P, 0, 0n, 0),
        va(at(1), P, 1, 0n, 2),
        va(at(2), P, 2, 0n, 4),
        va(at(3), 2n * P, 1, 2n * P, 3),
        va(at(10), 2n * P, 0, 0n, 5),
      ])
      expect(seed.ops[0]).toEqual([
        {
          kind: 'remap',
          prev: null,
          next: piece(at(4), P, 1, 3n * P),
          va: va(at(3), 2n * P, 1, 2n * P, 3),
          keep: true,
        },
        map(at(3), P, 1, 2n * P),
      ])
      expect(seed.ops[1]).toEqual([
        { kind: 'remap', prev: null, next: piece(at(11), P, 0, P), va: va(at(10), 2n * P, 0, 0n, 5), keep: false },
        map(at(10), P, 0, 0n),
      ])
      expect(seed.ops[2].map((op) => op.kind)).toEqual(['unmap', 'remap'])
    })
  })

  // ---- the VM -----------------------------------------------------------------------------

  describe('the VM', () => {
    it('refcount = creator references + one per mapping (not the kernel node) + one per vm_bo, zombies included', () => {
      const vm = newVm({ flags: IMM })
      expect(refcount(vm)).toBe(1)
      const a = put(vm, 1, 1, 1)
      expect(refcount(vm)).toBe(2)
      expect(vm.vmBoObtain(2, PREALLOC).id).toBe(1)
      expect(refcount(vm)).toBe(3)
      expect(vm.vmGet()).toBe(4)
      expect(vm.vmPut()).toBe(3)
      vm.link(a.addr, a.seq)
      expect(refcount(vm)).toBe(4)
      expect(vm.vmBoPut(1, true)).toBe(true)
      expect(refcount(vm)).toBe(4)
      expect(vm.deferredCleanup()).toBe(1)
      expect(refcount(vm)).toBe(3)
      vm.remove(a.addr, a.seq)
      expect(refcount(vm)).toBe(1)
      expect(newVm({ reserve: undefined }).hubInfo().refcount).toBe(1)
    })

    it('vmPut with no creator reference left is EINVAL; a VM kept alive by a mapping may be got again', () => {
      const vm = newVm()
      const a = put(vm, 1, 1, 0)
      expect(vm.vmPut()).toBe(1)
      expect(vm.destroyed).toBe(false)
      expect(errno(() => vm.vmPut())).toBe('EINVAL')
      expect(vm.vmGet()).toBe(2)
      expect(vm.vmPut()).toBe(1)
      expect(vm.list()).toEqual([va(0n, P, 0, 0n, 0), a])
    })

    it('vmPut to 0 tears the VA space down as destroy() does', () => {
      const vm = newVm()
      expect(vm.vmPut()).toBe(0)
      expect(vm.destroyed).toBe(true)
      expect(vm.takeWarnings()).toEqual([])
      for (const f of [() => vm.list(), () => vm.hubInfo(), () => vm.vmGet(), () => vm.vmPut(), () => vm.destroy()]) {
        expect(errno(f)).toBe('EINVAL')
      }
    })

    it('with no creator reference left, the VM is torn down when its last mapping goes or its last vm_bo is freed', () => {
      // The last mapping removed.
      const a = newVm()
      const m = put(a, 1, 1, 0)
      a.vmPut()
      a.remove(m.addr, m.seq)
      expect(a.destroyed).toBe(true)
      // The last vm_bo freed by a put.
      const b = newVm()
      b.vmBoObtain(3, LOCKED)
      expect(b.vmPut()).toBe(1)
      expect(b.vmBoPut(1, false)).toBe(true)
      expect(b.destroyed).toBe(true)
      // A zombie keeps it until deferred cleanup.
      const c = newVm({ flags: IMM })
      c.vmBoObtain(3, PREALLOC)
      c.vmPut()
      expect(c.vmBoPut(1, true)).toBe(true)
      expect(c.destroyed).toBe(false)
      expect(c.hubInfo().refcount).toBe(1)
      expect(c.deferredCleanup()).toBe(1)
      expect(c.destroyed).toBe(true)
      // An unbind whose UNMAP frees the vm_bo and removes the last mapping: the unbind returns its counts.
      const d = newVm()
      d.bind(at(1), P, 1, 0n)
      expect(d.vmPut()).toBe(2)
      expect(d.unbind(at(1), P)).toEqual({ map: 0, remap: 0, unmap: 1, prefetch: 0 })
      expect(d.destroyed).toBe(true)
      // In immediate mode the UNMAP defers the put: cleanup ends it.
      const e = newVm({ flags: IMM })
      e.bind(at(1), P, 1, 0n)
      e.vmPut()
      e.unbind(at(1), P)
      expect(e.destroyed).toBe(false)
      expect(e.deferList()).toEqual([1])
      e.deferredCleanup()
      expect(e.destroyed).toBe(true)
      for (const vm of [a, b, c, d, e]) expect(vm.takeWarnings()).toEqual([])
    })

    it('teardown warns tree, extobj, evict, defer in that order, each only when non-empty, zombies counted', () => {
      const vm = newVm({ flags: PROT | IMM })
      vm.declareExternal(1)
      vm.declareExternal(2)
      vm.bind(at(1), P, 1, 0n) // vm_bo 1, external: on the extobj list at once
      vm.vmBoObtain(2, PREALLOC) // vm_bo 2, external
      vm.extobjAdd(2)
      vm.vmBoObtain(3, PREALLOC) // vm_bo 3
      vm.boEvict(3, true)
      expect(vm.vmBoPut(2, true)).toBe(true) // a zombie, still on the extobj list (RESV_PROTECTED)
      expect(vm.extobjList()).toEqual([1])
      vm.destroy()
      expect(vm.destroyed).toBe(true)
      expect(vm.takeWarnings()).toEqual([
        warning('tree-not-empty', 'GPUVA tree is not empty, potentially leaking memory (1 mappings remain)', RULE.tree),
        warning('extobj-not-empty', 'Extobj list should be empty (2 vm_bo(s))', RULE.extobj),
        warning('evict-not-empty', 'Evict list should be empty (1 vm_bo(s))', RULE.evict),
        warning('defer-not-empty', 'VM BO cleanup list should be empty (1 vm_bo(s))', RULE.defer),
      ])
      const clean = newVm({ flags: IMM })
      clean.vmBoObtain(4, PREALLOC)
      clean.vmBoPut(1, true)
      clean.destroy()
      expect(clean.takeWarnings()).toEqual([
        warning('defer-not-empty', 'VM BO cleanup list should be empty (1 vm_bo(s))', RULE.defer),
      ])
    })

    it('resv is the VM-wide reservation id, only stored (0 without a device)', () => {
      expect(newVm().hubInfo().resv).toBe(0)
      const vm = newVm({ resv: 42 })
      expect(vm.hubInfo()).toEqual({ era: 1, flags: 0, resv: 42, refcount: 1 })
    })

    it('declareExternal: vm_bos of the object are external; twice is harmless; object 0 is EINVAL', () => {
      const vm = newVm()
      vm.declareExternal(5)
      vm.declareExternal(5)
      expect(errno(() => vm.declareExternal(0))).toBe('EINVAL')
      expect(vm.vmBoObtain(5, LOCKED)).toEqual(bo({ id: 1, obj: 5, external: true }))
      expect(vm.vmBoObtain(6, LOCKED)).toEqual(bo({ id: 2, obj: 6 }))
      expect(vm.extobjList()).toEqual([])
      expect(vm.takeWarnings()).toEqual([])
    })
  })

  // ---- vm_bo ------------------------------------------------------------------------------

  describe('vm_bo', () => {
    it('vmBoObtain: the live vm_bo +1, else a new one (ids from 1); object 0 or an unknown how is EINVAL', () => {
      const vm = newVm()
      expect(vm.vmBoObtain(4, LOCKED)).toEqual(bo({ id: 1, obj: 4 }))
      expect(vm.vmBoObtain(4, LOCKED)).toEqual(bo({ id: 1, obj: 4, refcount: 2 }))
      expect(vm.vmBoObtain(9, LOCKED)).toEqual(bo({ id: 2, obj: 9 }))
      expect(errno(() => vm.vmBoObtain(0, LOCKED))).toBe('EINVAL')
      expect(errno(() => vm.vmBoObtain(4, 2))).toBe('EINVAL')
      expect(ids(vm.vmBos())).toEqual([1, 2])
      expect(vm.takeWarnings()).toEqual([])
    })

    it('vmBoObtain warns obtain_locked in immediate mode and obtain_prealloc outside it, and goes on', () => {
      const imm = newVm({ flags: IMM })
      expect(imm.vmBoObtain(3, LOCKED)).toEqual(bo({ id: 1, obj: 3 }))
      expect(imm.takeWarnings()).toEqual([
        warning(
          'obtain-locked-immediate',
          'drm_gpuvm_bo_obtain_locked on a VM in immediate mode (object 3)',
          RULE.obtainLocked,
        ),
      ])
      expect(imm.vmBoObtain(3, PREALLOC).refcount).toBe(2)
      expect(imm.takeWarnings()).toEqual([])
      const vm = newVm()
      expect(vm.vmBoObtain(5, PREALLOC)).toEqual(bo({ id: 1, obj: 5 }))
      expect(vm.takeWarnings()).toEqual([
        warning(
          'obtain-prealloc-not-immediate',
          'drm_gpuvm_bo_obtain_prealloc on a VM not in immediate mode (object 5)',
          RULE.obtainPrealloc,
        ),
      ])
      expect(vm.vmBoObtain(5, LOCKED).refcount).toBe(2)
      expect(vm.takeWarnings()).toEqual([])
    })

    it('vmBoFind: the live vm_bo +1, or undefined (none, freed, or only a zombie)', () => {
      const vm = newVm({ flags: IMM })
      expect(vm.vmBoFind(1)).toBeUndefined()
      expect(vm.vmBoFind(0)).toBeUndefined()
      vm.vmBoObtain(1, PREALLOC)
      expect(vm.vmBoFind(1)).toEqual(bo({ refcount: 2 }))
      vm.vmBoPut(1, false)
      vm.vmBoPut(1, false)
      expect(vm.vmBoFind(1)).toBeUndefined()
      vm.vmBoObtain(2, PREALLOC)
      vm.vmBoPut(2, true)
      expect(vm.vmBoFind(2)).toBeUndefined()
      expect(vm.vmBos()).toEqual([bo({ id: 2, obj: 2, refcount: 0, zombie: true })])
    })

    it('vmBoGet: +1; EINVAL when freed, unknown or a zombie', () => {
      const vm = newVm({ flags: IMM })
      vm.vmBoObtain(1, PREALLOC)
      expect(vm.vmBoGet(1)).toEqual(bo({ refcount: 2 }))
      expect(errno(() => vm.vmBoGet(0))).toBe('EINVAL')
      expect(errno(() => vm.vmBoGet(2))).toBe('EINVAL')
      vm.vmBoObtain(2, PREALLOC)
      vm.vmBoPut(2, true)
      expect(errno(() => vm.vmBoGet(2))).toBe('EINVAL')
      vm.deferredCleanup()
      expect(errno(() => vm.vmBoGet(2))).toBe('EINVAL')
      expect(vm.vmBoInfo(1)?.refcount).toBe(2)
    })

    it('vmBoPut: -1, true when released; EINVAL when freed, unknown, a zombie, or only links hold it; deferred outside immediate mode warns and goes on', () => {
      const vm = newVm()
      vm.vmBoObtain(1, LOCKED)
      vm.vmBoObtain(1, LOCKED)
      expect(vm.vmBoPut(1, false)).toBe(false)
      expect(vm.vmBoInfo(1)).toEqual(bo({}))
      expect(vm.vmBoPut(1, false)).toBe(true)
      expect(vm.vmBoInfo(1)).toBeUndefined()
      expect(errno(() => vm.vmBoPut(1, false))).toBe('EINVAL')
      expect(errno(() => vm.vmBoPut(7, false))).toBe('EINVAL')
      vm.vmBoObtain(2, LOCKED)
      expect(vm.vmBoPut(2, true)).toBe(true)
      expect(vm.takeWarnings()).toEqual([
        warning(
          'put-deferred-not-immediate',
          'drm_gpuvm_bo_put_deferred on a VM not in immediate mode (vm_bo 2)',
          RULE.putDeferred,
        ),
      ])
      expect(vm.vmBoInfo(2)).toEqual(bo({ id: 2, obj: 2, refcount: 0, zombie: true }))
      expect(vm.deferList()).toEqual([2])
      expect(errno(() => vm.vmBoPut(2, true))).toBe('EINVAL')
      // The references of links are dropped by unlink only: a vm_bo is never released under its mappings.
      vm.bind(at(1), P, 5, 0n)
      expect(vm.vmBoInfo(3)).toEqual(bo({ id: 3, obj: 5, vas: 1 }))
      expect(errno(() => vm.vmBoPut(3, false))).toBe('EINVAL')
      expect(errno(() => vm.vmBoPut(3, true))).toBe('EINVAL')
      expect(vm.vmBoGet(3).refcount).toBe(2)
      expect(vm.vmBoPut(3, false)).toBe(false)
      expect(vm.vmBoInfo(3)).toEqual(bo({ id: 3, obj: 5, vas: 1 }))
      expect(vm.takeWarnings()).toEqual([])
    })

    it('release, not deferred: off the GEM, extobj and evict lists, freed, logged; the id is never reused', () => {
      const vm = newVm()
      vm.trackFreedVmBos(true)
      vm.declareExternal(1)
      vm.vmBoObtain(1, LOCKED)
      vm.extobjAdd(1)
      vm.boEvict(1, true)
      const a = put(vm, 1, 1, 1)
      vm.linkVmBo(a.addr, a.seq, 1)
      expect(vm.vmBoInfo(1)).toEqual(
        bo({ refcount: 2, vas: 1, evicted: true, external: true, onExtobjList: true, onEvictList: true }),
      )
      expect(vm.hubInfo().refcount).toBe(3)
      vm.unlink(a.addr, a.seq)
      expect(vm.vmBoPut(1, false)).toBe(true)
      expect(vm.extobjList()).toEqual([])
      expect(vm.evictList()).toEqual([])
      expect(vm.vmBos()).toEqual([])
      expect(vm.vmBoFind(1)).toBeUndefined()
      expect(vm.hubInfo().refcount).toBe(2)
      expect(vm.takeFreedVmBos()).toEqual([bo({ refcount: 0, evicted: true, external: true, freed: true })])
      expect(vm.vmBoObtain(1, LOCKED).id).toBe(2)
    })

    it('release, deferred: a zombie on the defer list, off the lists unless RESV_PROTECTED, holding its VM reference', () => {
      for (const flags of [IMM, IMM | PROT]) {
        const vm = newVm({ flags })
        vm.declareExternal(1)
        vm.vmBoObtain(1, PREALLOC)
        vm.extobjAdd(1)
        vm.vmBoObtain(2, PREALLOC)
        vm.boEvict(2, true)
        expect([vm.extobjList(), vm.evictList()]).toEqual([[1], [2]])
        expect(vm.vmBoPut(1, true)).toBe(true)
        expect(vm.vmBoPut(2, true)).toBe(true)
        const protectedLists = flags === (IMM | PROT)
        expect(vm.vmBos()).toEqual([
          bo({ refcount: 0, external: true, onExtobjList: protectedLists, zombie: true }),
          bo({ id: 2, obj: 2, refcount: 0, evicted: true, onEvictList: protectedLists, zombie: true }),
        ])
        expect([vm.extobjList(), vm.evictList(), vm.deferList()]).toEqual([[], [], [2, 1]])
        expect(vm.hubInfo().refcount).toBe(3)
        // A new live vm_bo of the object beside its zombie.
        expect(vm.vmBoObtain(1, PREALLOC)).toEqual(bo({ id: 3, external: true }))
        expect(vm.vmBoVas(1)).toEqual([])
        expect(vm.takeWarnings()).toEqual([])
      }
    })

    it('deferredCleanup: frees the whole defer list newest first, off every list, logged; returns the count', () => {
      const vm = newVm({ flags: IMM | PROT })
      vm.trackFreedVmBos(true)
      vm.declareExternal(3)
      for (const obj of [1, 2, 3]) vm.vmBoObtain(obj, PREALLOC)
      vm.extobjAdd(3)
      vm.boEvict(2, true)
      vm.vmBoPut(2, true)
      vm.vmBoPut(1, true)
      vm.vmBoPut(3, true)
      expect(vm.deferList()).toEqual([3, 1, 2])
      expect(vm.hubInfo().refcount).toBe(4)
      expect(vm.deferredCleanup()).toBe(3)
      expect(vm.takeFreedVmBos()).toEqual([
        bo({ id: 3, obj: 3, refcount: 0, external: true, freed: true }),
        bo({ id: 1, obj: 1, refcount: 0, freed: true }),
        bo({ id: 2, obj: 2, refcount: 0, evicted: true, freed: true }),
      ])
      expect([vm.vmBos(), vm.deferList(), vm.extobjList(), vm.evictList()]).toEqual([[], [], [], []])
      expect(vm.hubInfo().refcount).toBe(1)
      expect(vm.deferredCleanup()).toBe(0)
      vm.destroy()
      expect(vm.takeWarnings()).toEqual([])
    })

    it('vmBoInfo: the record, zombies included; undefined once freed or for an id never made', () => {
      const vm = newVm({ flags: IMM })
      expect(vm.vmBoInfo(1)).toBeUndefined()
      expect(vm.vmBoInfo(0)).toBeUndefined()
      vm.vmBoObtain(8, PREALLOC)
      expect(vm.vmBoInfo(1)).toEqual(bo({ obj: 8 }))
      vm.vmBoPut(1, true)
      expect(vm.vmBoInfo(1)).toEqual(bo({ obj: 8, refcount: 0, zombie: true }))
      vm.deferredCleanup()
      expect(vm.vmBoInfo(1)).toBeUndefined()
    })

    it('vmBoVas: its mappings in link order; EINVAL once freed; a zombie has none', () => {
      const vm = newVm({ flags: IMM })
      const a = put(vm, 1, 1, 1)
      const b = put(vm, 3, 1, 1, P)
      put(vm, 5, 1, 2)
      vm.link(b.addr, b.seq)
      vm.link(a.addr, a.seq)
      expect(vm.vmBoVas(1)).toEqual([b, a])
      expect(vm.vmBoInfo(1)).toEqual(bo({ refcount: 2, vas: 2 }))
      expect(vm.vmBoVas(1)).toEqual(vm.gemVas(1))
      expect(errno(() => vm.vmBoVas(2))).toBe('EINVAL')
      vm.vmBoObtain(7, PREALLOC)
      vm.vmBoPut(2, true)
      expect(vm.vmBoVas(2)).toEqual([])
      vm.deferredCleanup()
      expect(errno(() => vm.vmBoVas(2))).toBe('EINVAL')
    })

    it('vmBos: every vm_bo not freed, zombies included, by id', () => {
      const vm = newVm({ flags: IMM })
      for (const obj of [5, 3, 8]) vm.vmBoObtain(obj, PREALLOC)
      vm.vmBoPut(2, true)
      expect(vm.vmBos().map((r) => [r.id, r.obj, r.zombie])).toEqual([
        [1, 5, false],
        [2, 3, true],
        [3, 8, false],
      ])
      vm.vmBoPut(1, false)
      expect(ids(vm.vmBos())).toEqual([2, 3])
    })

    it('trackFreedVmBos: off by default (nothing logged); on logs oldest first; off again drops the log', () => {
      const vm = newVm()
      vm.vmBoObtain(1, LOCKED)
      vm.vmBoPut(1, false)
      expect(vm.takeFreedVmBos()).toEqual([])
      vm.trackFreedVmBos(true)
      vm.vmBoObtain(2, LOCKED)
      vm.vmBoObtain(3, LOCKED)
      vm.vmBoPut(3, false)
      vm.vmBoPut(2, false)
      vm.vmBoObtain(4, LOCKED)
      vm.vmBoPut(4, false)
      vm.trackFreedVmBos(false)
      vm.trackFreedVmBos(true)
      expect(vm.takeFreedVmBos()).toEqual([])
      vm.vmBoObtain(5, LOCKED)
      vm.vmBoPut(5, false)
      vm.vmBoObtain(6, LOCKED)
      vm.vmBoPut(6, false)
      expect(ids(vm.takeFreedVmBos())).toEqual([5, 6])
      expect(vm.takeFreedVmBos()).toEqual([])
    })
  })

  // ---- links ------------------------------------------------------------------------------

  describe('links', () => {
    it('link(va) links to the live vm_bo, making one with only the link reference (an external one joins the extobj list)', () => {
      const vm = newVm()
      vm.declareExternal(2)
      const a = put(vm, 1, 1, 1)
      vm.link(a.addr, a.seq)
      expect(vm.vmBos()).toEqual([bo({ vas: 1 })])
      const b = put(vm, 2, 1, 1, P)
      vm.link(b.addr, b.seq)
      vm.link(b.addr, b.seq) // linked already: left as it is
      expect(vm.vmBos()).toEqual([bo({ refcount: 2, vas: 2 })])
      const c = put(vm, 3, 1, 2)
      vm.link(c.addr, c.seq)
      expect(vm.vmBoInfo(2)).toEqual(bo({ id: 2, obj: 2, vas: 1, external: true, onExtobjList: true }))
      expect(vm.extobjList()).toEqual([2])
      const n = put(vm, 4, 1, 0)
      vm.link(n.addr, n.seq)
      expect(vm.isLinked(n.addr, n.seq)).toBe(false)
      vm.vmBoObtain(3, LOCKED)
      const d = put(vm, 5, 1, 3)
      vm.link(d.addr, d.seq)
      expect(vm.vmBoInfo(3)).toEqual(bo({ id: 3, obj: 3, refcount: 2, vas: 1 }))
      expect(ids(vm.vmBos())).toEqual([1, 2, 3])
      expect(vm.hubInfo().refcount).toBe(1 + 5 + 3)
      expect(vm.takeWarnings()).toEqual([])
    })

    it('linkVmBo: a live vm_bo of the same object; another object warns and is EINVAL; a linked mapping is EINVAL', () => {
      const vm = newVm({ flags: IMM })
      vm.vmBoObtain(1, PREALLOC)
      vm.vmBoObtain(2, PREALLOC)
      const a = put(vm, 1, 1, 1)
      vm.linkVmBo(a.addr, a.seq, 1)
      expect(vm.vmBoInfo(1)).toEqual(bo({ refcount: 2, vas: 1 }))
      expect(errno(() => vm.linkVmBo(a.addr, a.seq, 1))).toBe('EINVAL')
      const b = put(vm, 2, 1, 1)
      expect(errno(() => vm.linkVmBo(b.addr, b.seq, 2))).toBe('EINVAL')
      expect(vm.takeWarnings()).toEqual([
        warning(
          'link-wrong-object',
          'drm_gpuva_link: mapping of object 1 linked to the vm_bo of object 2',
          RULE.linkWrong,
        ),
      ])
      expect(vm.isLinked(b.addr, b.seq)).toBe(false)
      expect(errno(() => vm.linkVmBo(b.addr, b.seq, 9))).toBe('EINVAL')
      expect(errno(() => vm.linkVmBo(at(40), 1, 1))).toBe('EINVAL')
      const c = put(vm, 3, 1, 2)
      vm.vmBoPut(2, true)
      expect(errno(() => vm.linkVmBo(c.addr, c.seq, 2))).toBe('EINVAL')
      const n = put(vm, 4, 1, 0)
      vm.linkVmBo(n.addr, n.seq, 1)
      expect(vm.isLinked(n.addr, n.seq)).toBe(false)
      expect(vm.vmBoInfo(1)).toEqual(bo({ refcount: 2, vas: 1 }))
      expect(vm.vmBoInfo(2)).toEqual(bo({ id: 2, obj: 2, refcount: 0, zombie: true }))
      expect(vm.takeWarnings()).toEqual([])
    })

    it('unlink drops the link reference; the last frees the vm_bo (not deferred, even in immediate mode)', () => {
      for (const flags of [0, IMM]) {
        const vm = newVm({ flags })
        vm.bind(at(1), P, 1, 0n)
        vm.bind(at(2), P, 1, P)
        const [a, b] = [vaAt(vm, 1), vaAt(vm, 2)]
        vm.unlink(a.addr, a.seq)
        expect(vm.vmBos()).toEqual([bo({ vas: 1 })])
        vm.unlink(a.addr, a.seq) // not linked: nothing
        vm.unlink(b.addr, b.seq)
        expect([vm.vmBos(), vm.deferList()]).toEqual([[], []])
        expect(vm.list().length).toBe(3)
        expect(vm.hubInfo().refcount).toBe(3)
        expect(vm.takeWarnings()).toEqual([])
      }
    })

    it('unlinkDefer: a last reference makes a zombie; outside immediate mode it warns and goes on', () => {
      const imm = newVm({ flags: IMM })
      imm.bind(at(1), P, 1, 0n)
      const a = vaAt(imm, 1)
      imm.unlinkDefer(a.addr, a.seq)
      expect(imm.vmBos()).toEqual([bo({ refcount: 0, zombie: true })])
      expect(imm.deferList()).toEqual([1])
      expect(imm.takeWarnings()).toEqual([])
      const vm = newVm()
      vm.bind(at(1), P, 1, 0n)
      const b = vaAt(vm, 1)
      vm.unlinkDefer(b.addr, b.seq)
      expect(vm.takeWarnings()).toEqual([
        warning(
          'unlink-defer-not-immediate',
          'drm_gpuva_unlink_defer on a VM not in immediate mode (mapping 0x1000)',
          RULE.unlinkDefer,
        ),
      ])
      expect(vm.vmBos()).toEqual([bo({ refcount: 0, zombie: true })])
      // A mapping not linked: nothing to unlink, nothing to warn about.
      vm.unlinkDefer(b.addr, b.seq)
      expect(vm.takeWarnings()).toEqual([])
      expect(errno(() => vm.unlinkDefer(at(9), 1))).toBe('EINVAL')
    })

    it('steps: MAP links; REMAP links its pieces before unlinking the old one; UNMAP unlinks (deferred in immediate mode)', () => {
      for (const flags of [0, IMM]) {
        const vm = newVm({ flags })
        vm.trackFreedVmBos(true)
        expect(vm.bind(at(1), 4n * P, 1, 0n).map).toBe(1)
        expect(vm.vmBos()).toEqual([bo({ vas: 1 })])
        expect(vm.vmBoVas(1)).toEqual([va(at(1), 4n * P, 1, 0n, 1)])
        // The split keeps vm_bo 1: its pieces are linked before the old mapping is unlinked.
        expect(vm.bind(at(2), P, 2, 0n)).toEqual({ map: 1, remap: 1, unmap: 0, prefetch: 0 })
        expect(vm.vmBos()).toEqual([bo({ refcount: 2, vas: 2 }), bo({ id: 2, obj: 2, vas: 1 })])
        expect(vm.vmBoVas(1)).toEqual([va(at(1), P, 1, 0n, 2), va(at(3), 2n * P, 1, 2n * P, 3)])
        expect(vm.unbind(at(2), P)).toEqual({ map: 0, remap: 0, unmap: 1, prefetch: 0 })
        if (flags === IMM) {
          expect(vm.vmBos()[1]).toEqual(bo({ id: 2, obj: 2, refcount: 0, zombie: true }))
          expect(vm.deferList()).toEqual([2])
          expect(vm.takeFreedVmBos()).toEqual([])
        } else {
          expect(ids(vm.vmBos())).toEqual([1])
          expect(vm.takeFreedVmBos()).toEqual([bo({ id: 2, obj: 2, refcount: 0, freed: true })])
        }
        // apply() of an op list does the same.
        for (const op of decodeOps(vm.smUnmapOps(at(1), 4n * P))) vm.apply(op)
        expect(vm.list()).toEqual([va(0n, P, 0, 0n, 0)])
        expect(ids(vm.vmBos())).toEqual(flags === IMM ? [1, 2] : [])
        expect(vm.deferList()).toEqual(flags === IMM ? [1, 2] : [])
        expect(vm.takeWarnings()).toEqual([])
      }
    })
  })

  // ---- lists ------------------------------------------------------------------------------

  describe('lists', () => {
    it('extobjAdd: a live external vm_bo joins the extobj list once; a non-external one is left alone; else EINVAL', () => {
      const vm = newVm({ flags: IMM })
      vm.declareExternal(1)
      vm.declareExternal(3)
      vm.vmBoObtain(1, PREALLOC)
      expect(vm.extobjList()).toEqual([])
      vm.extobjAdd(1)
      vm.extobjAdd(1)
      vm.vmBoObtain(2, PREALLOC)
      vm.extobjAdd(2)
      vm.vmBoObtain(3, PREALLOC)
      vm.extobjAdd(3)
      expect(vm.extobjList()).toEqual([1, 3])
      expect(vm.vmBoInfo(2)?.onExtobjList).toBe(false)
      expect(errno(() => vm.extobjAdd(9))).toBe('EINVAL')
      vm.vmBoPut(3, true)
      expect(errno(() => vm.extobjAdd(3))).toBe('EINVAL')
      vm.vmBoPut(1, false)
      expect(errno(() => vm.extobjAdd(1))).toBe('EINVAL')
      expect(vm.extobjList()).toEqual([])
    })

    it('boEvict: sets evicted; the evict list follows, except an external vm_bo under RESV_PROTECTED; EINVAL only when freed or unknown', () => {
      const vm = newVm()
      vm.declareExternal(1)
      vm.vmBoObtain(1, LOCKED)
      vm.vmBoObtain(2, LOCKED)
      vm.boEvict(2, true)
      vm.boEvict(1, true)
      vm.boEvict(2, true)
      expect(vm.evictList()).toEqual([2, 1])
      vm.boEvict(2, false)
      expect(vm.evictList()).toEqual([1])
      expect(vm.vmBoInfo(2)?.evicted).toBe(false)
      expect(errno(() => vm.boEvict(3, true))).toBe('EINVAL')
      const prot = newVm({ flags: PROT | IMM })
      prot.declareExternal(1)
      prot.vmBoObtain(1, PREALLOC)
      prot.vmBoObtain(2, PREALLOC)
      prot.boEvict(1, true)
      prot.boEvict(2, true)
      expect(prot.evictList()).toEqual([2])
      expect(prot.vmBoInfo(1)).toEqual(bo({ evicted: true, external: true }))
      // A zombie may be marked (it is not listed); a freed one is EINVAL.
      prot.vmBoPut(2, true)
      prot.boEvict(2, false)
      expect(prot.vmBoInfo(2)).toEqual(bo({ id: 2, obj: 2, refcount: 0, zombie: true }))
      prot.deferredCleanup()
      expect(errno(() => prot.boEvict(2, true))).toBe('EINVAL')
    })

    it('gemEvict: boEvict on the live vm_bo of the object, if any', () => {
      const vm = newVm({ flags: IMM })
      vm.vmBoObtain(4, PREALLOC)
      vm.gemEvict(4, true)
      vm.gemEvict(5, true)
      expect(vm.evictList()).toEqual([1])
      vm.vmBoPut(1, true)
      vm.gemEvict(4, false) // only a zombie: untouched
      expect(vm.vmBoInfo(1)?.evicted).toBe(true)
      expect(vm.vmBos()).toEqual([bo({ obj: 4, refcount: 0, evicted: true, zombie: true })])
    })

    it('extobjList and evictList skip zombies; deferList is newest first', () => {
      const vm = newVm({ flags: PROT | IMM })
      vm.declareExternal(1)
      vm.declareExternal(2)
      for (const obj of [1, 2, 3]) vm.vmBoObtain(obj, PREALLOC)
      vm.extobjAdd(1)
      vm.extobjAdd(2)
      vm.boEvict(3, true)
      vm.vmBoPut(1, true)
      vm.vmBoPut(3, true)
      expect([vm.extobjList(), vm.evictList(), vm.deferList()]).toEqual([[2], [], [3, 1]])
      expect(vm.vmBoInfo(1)?.onExtobjList).toBe(true)
      expect(vm.vmBoInfo(3)?.onEvictList).toBe(true)
    })

    it('prepareObjects: the extobj list objects, zombies skipped; under RESV_PROTECTED the evicted ones join the evict list', () => {
      const vm = newVm()
      for (const obj of [1, 2, 3]) vm.declareExternal(obj)
      for (const obj of [3, 1, 2]) vm.vmBoObtain(obj, LOCKED)
      for (const id of [2, 1, 3]) vm.extobjAdd(id)
      expect(vm.extobjList()).toEqual([2, 1, 3])
      expect(vm.prepareObjects()).toEqual([1, 3, 2])
      const prot = newVm({ flags: PROT | IMM })
      for (const obj of [1, 2, 3, 5]) prot.declareExternal(obj)
      for (const obj of [1, 2, 3, 4, 5]) prot.vmBoObtain(obj, PREALLOC)
      for (const id of [3, 1, 2, 5]) prot.extobjAdd(id)
      prot.boEvict(4, true) // not external: listed at once
      for (const id of [2, 3, 5]) prot.boEvict(id, true)
      prot.vmBoPut(5, true) // an evicted zombie on the extobj list: skipped
      expect(prot.evictList()).toEqual([4])
      expect(prot.prepareObjects()).toEqual([3, 1, 2])
      expect(prot.evictList()).toEqual([4, 3, 2])
      expect(prot.prepareObjects()).toEqual([3, 1, 2])
      expect(prot.evictList()).toEqual([4, 3, 2])
      expect(prot.vmBoInfo(5)?.onEvictList).toBe(false)
      const plain = newVm()
      plain.declareExternal(1)
      plain.vmBoObtain(1, LOCKED)
      plain.extobjAdd(1)
      plain.boEvict(1, true)
      plain.boEvict(1, false)
      expect(plain.prepareObjects()).toEqual([1])
      expect(plain.evictList()).toEqual([])
    })

    it('validated: under RESV_PROTECTED a vm_bo no longer evicted leaves the evict list; otherwise nothing', () => {
      const prot = newVm({ flags: PROT })
      prot.declareExternal(1)
      for (const obj of [1, 2]) prot.vmBoObtain(obj, LOCKED)
      prot.extobjAdd(1)
      prot.boEvict(1, true)
      prot.boEvict(2, true)
      prot.prepareObjects()
      expect(prot.evictList()).toEqual([2, 1])
      prot.boEvict(1, false) // external under RESV_PROTECTED: the flag only
      expect(prot.evictList()).toEqual([2, 1])
      prot.validated(1)
      prot.validated(2) // evicted again: stays
      expect(prot.evictList()).toEqual([2])
      expect(errno(() => prot.validated(3))).toBe('EINVAL')
      const vm = newVm()
      vm.vmBoObtain(1, LOCKED)
      vm.boEvict(1, true)
      vm.validated(1)
      expect(vm.evictList()).toEqual([1])
    })

    it('objectMoved: the mappings on the object list get the invalidated flag; an eviction marks its vm_bo (era >= 1)', () => {
      for (const era of [ERA_SEED, ERA_GPUVM]) {
        const vm = newVm({ era })
        vm.bind(at(1), P, 1, 0n)
        vm.bind(at(3), P, 1, P)
        vm.bind(at(5), P, 2, 0n)
        put(vm, 7, 1, 1) // not linked: not on the object's list
        vm.objectMoved(1, false)
        vm.objectMoved(2, true)
        vm.objectMoved(9, true)
        expect(vm.list().map((v) => [v.obj, v.flags])).toEqual([
          [0, 0],
          [1, 1],
          [1, 1],
          [2, 1],
          [1, 0],
        ])
        if (era === ERA_GPUVM) {
          expect(vm.evictList()).toEqual([2])
          expect(vm.vmBoInfo(2)).toEqual(bo({ id: 2, obj: 2, vas: 1, evicted: true, onEvictList: true }))
          expect(vm.vmBoInfo(1)?.evicted).toBe(false)
        }
        expect(vm.takeWarnings()).toEqual([])
      }
    })
  })

  // ---- mapping flags ----------------------------------------------------------------------

  it('setVaFlags replaces the flags word (16 bits); the kernel node is EINVAL; new mappings and remap pieces start at 0', () => {
    for (const era of [ERA_SEED, ERA_GPUVM]) {
      const vm = newVm({ era })
      vm.bind(at(1), 4n * P, 1, 0n)
      const a = vaAt(vm, 1)
      vm.setVaFlags(a.addr, a.seq, VA_FLAGS.sparse | (5 * VA_FLAGS.userBits))
      expect(vm.get(a.addr, a.seq)?.flags).toBe(0b10110)
      vm.setVaFlags(a.addr, a.seq, VA_FLAGS.invalidated)
      expect(vm.get(a.addr, a.seq)?.flags).toBe(1)
      vm.setVaFlags(a.addr, a.seq, 0xffff)
      expect(vm.get(a.addr, a.seq)?.flags).toBe(0xffff)
      // A mapping keeps 16 bits of flags (the native record's width).
      expect(errno(() => vm.setVaFlags(a.addr, a.seq, 0x1_0000))).toBe('EINVAL')
      vm.setVaFlags(a.addr, a.seq, VA_FLAGS.invalidated)
      expect(errno(() => vm.setVaFlags(0n, 0, 0))).toBe('EINVAL')
      expect(errno(() => vm.setVaFlags(at(9), 1, 0))).toBe('EINVAL')
      vm.bind(at(2), P, 2, 0n)
      expect(vm.list().map((v) => v.flags)).toEqual([0, 0, 0, 0])
    }
  })

  // ---- madvise ----------------------------------------------------------------------------

  describe('madviseOps (drm_gpuvm_madvise_ops_create)', () => {
    /** Request [10, 20) pages, object 5 at offset 0x100000: the table's rows for object-less mappings. */
    const R = at(10)
    const E = at(20)
    const REQ = map(R, E - R, 5, 0x100000n)
    const madvise = (mappings: [number, number, number][]): OpRecord[] => {
      const vm = newVm()
      for (const [page, end, obj] of mappings) put(vm, page, end - page, obj, obj === 0 ? 0x7000n : 0n)
      const ops = decodeOps(vm.madviseOps(R, E - R, 5, 0x100000n))
      expect(vm.list().length).toBe(mappings.length + 1)
      return ops
    }
    const old = (page: number, end: number) => va(at(page), at(end - page), 0, 0x7000n, 1)
    const remap = (page: number, end: number, prev: boolean, next: boolean): OpRecord => ({
      kind: 'remap',
      prev: prev ? piece(at(page), R - at(page), 0, 0x7000n) : null,
      next: next ? piece(E, at(end) - E, 0, 0x7000n + E - at(page)) : null,
      va: old(page, end),
      keep: false,
    })

    it('a == R: e <= E none; e > E REMAP(next) and the request MAP at the end', () => {
      expect(madvise([[10, 15, 0]])).toEqual([])
      expect(madvise([[10, 20, 0]])).toEqual([])
      expect(madvise([[10, 25, 0]])).toEqual([remap(10, 25, false, true), REQ])
    })

    it('a < R: e == E and e > E REMAP then the request MAP at the end; e < E REMAP(prev) and MAP([R, e)) at once', () => {
      expect(madvise([[5, 20, 0]])).toEqual([remap(5, 20, true, false), REQ])
      expect(madvise([[5, 25, 0]])).toEqual([remap(5, 25, true, true), REQ])
      expect(madvise([[5, 15, 0]])).toEqual([remap(5, 15, true, false), map(R, at(5), 0, 0n)])
    })

    it('a > R: e <= E none; e > E REMAP(next) and MAP([a, E)) at once, and the walk stops', () => {
      expect(madvise([[12, 18, 0]])).toEqual([])
      expect(madvise([[15, 25, 0]])).toEqual([remap(15, 25, false, true), map(at(15), at(5), 0, 0n)])
    })

    it('mappings with an object are skipped; at most two REMAPs and two MAPs', () => {
      expect(madvise([[5, 25, 1]])).toEqual([])
      expect(madvise([[10, 20, 3]])).toEqual([])
      const vm = newVm()
      put(vm, 5, 2, 0, 0x7000n) // seq 1: [5, 7), before the request
      put(vm, 7, 5, 0) // seq 2: [7, 12), a < R, e < E
      put(vm, 12, 2, 4) // seq 3: an object's, skipped
      put(vm, 14, 3, 0) // seq 4: inside, nothing
      put(vm, 17, 13, 0, 0x2000n) // seq 5: [17, 30), a > R, e > E
      expect(decodeOps(vm.madviseOps(R, E - R, 5, 0x100000n))).toEqual([
        { kind: 'remap', prev: piece(at(7), at(3), 0, 0n), next: null, va: va(at(7), at(5), 0, 0n, 2), keep: false },
        map(R, at(2), 0, 0n),
        {
          kind: 'remap',
          prev: null,
          next: piece(E, at(10), 0, 0x2000n + at(3)),
          va: va(at(17), at(13), 0, 0x2000n, 5),
          keep: false,
        },
        map(at(17), at(3), 0, 0n),
      ])
    })

    it('the validation of sm_map: a range that leaves the VA space or touches the kernel node is EINVAL', () => {
      const vm = newVm()
      expect(errno(() => vm.madviseOps(0n, 2n * P, 0, 0n))).toBe('EINVAL')
      expect(errno(() => vm.madviseOps(1n << 48n, P, 0, 0n))).toBe('EINVAL')
      expect(errno(() => vm.madviseOps(MAX, 2n, 0, 0n))).toBe('EINVAL')
      expect(vm.takeWarnings()).toEqual([])
    })
  })

  // ---- the device ---------------------------------------------------------------------------

  describe('device -> VM move notification (attachVm)', () => {
    /** A device with 8 KiB of VRAM and objects 1..3 of 4 KiB each. */
    const device = (): DeviceCore => {
      const dev = engineOf(name).device(0, { vram: 8192n, gtt: 1n << 20n })
      for (const id of [1, 2, 3]) dev.createObject(id, 4096n, 0, 0)
      return dev
    }
    /** Validates `id` into `domain` with its reservation held by thread 1, then unlocks it. */
    const validate = (dev: DeviceCore, id: number, domain: number) => {
      const r = dev.objectInfo(id).resv
      expect(dev.lock(1, r, 0, 0).result).toBe('ok')
      const out = dev.validate(1, id, [domain, 0, 0])
      dev.unlock(1, r)
      return out
    }

    it('attachVm takes a VA space of the same engine only (EINVAL otherwise, a destroyed one included)', () => {
      const dev = device()
      expect(errno(() => dev.attachVm(engineOf(other).vm({ name: 'x', start: 0n, range: 1n << 40n })))).toBe('EINVAL')
      expect(errno(() => dev.attachVm({} as VmCore))).toBe('EINVAL')
      const dead = newVm()
      dead.destroy()
      expect(errno(() => dev.attachVm(dead))).toBe('EINVAL')
      const vm = newVm()
      dev.attachVm(vm)
      dev.attachVm(vm)
    })

    it('every placement move calls objectMoved on each attached VA space: validate, moveTo and evictions', () => {
      const dev = device()
      dev.trackMoves(true)
      const vm = newVm()
      const seed = newVm({ era: ERA_SEED })
      for (const space of [vm, seed]) {
        dev.attachVm(space)
        for (const id of [1, 2, 3]) space.bind(at(id), P, id, 0n)
      }
      const flags = (space: VmCore) => space.list().map((v) => v.flags)
      validate(dev, 2, VRAM)
      validate(dev, 3, VRAM)
      expect(flags(vm)).toEqual([0, 0, 1, 1])
      const r1 = dev.objectInfo(1).resv
      dev.lock(1, r1, 0, 0)
      expect(dev.moveTo(1, 1, GTT)).toBe(true)
      expect(flags(vm)).toEqual([0, 1, 1, 1])
      expect(vm.evictList()).toEqual([])
      // VRAM holds two: validating object 1 there evicts object 2, the least recently used, to GTT.
      expect(dev.validate(1, 1, [VRAM, 0, 0])).toEqual({ moved: true, bytesMoved: 8192n, evictions: 1 })
      dev.unlock(1, r1)
      expect(dev.takeMoves()).toEqual([
        { id: 2, from: 1, to: VRAM, evicted: false },
        { id: 3, from: 1, to: VRAM, evicted: false },
        { id: 1, from: 1, to: GTT, evicted: false },
        { id: 2, from: VRAM, to: GTT, evicted: true },
        { id: 1, from: GTT, to: VRAM, evicted: false },
      ])
      expect(vm.evictList()).toEqual([2])
      expect(vm.vmBoInfo(2)).toEqual(bo({ id: 2, obj: 2, vas: 1, evicted: true, onEvictList: true }))
      expect(flags(seed)).toEqual([0, 1, 1, 1])
      // A destroyed VA space is dropped; the others go on hearing of moves.
      seed.destroy()
      vm.setVaFlags(at(3), vaAt(vm, 3).seq, 0)
      validate(dev, 3, GTT)
      expect(flags(vm)).toEqual([0, 1, 1, 1])
      expect(dev.takeMoves()).toEqual([{ id: 3, from: VRAM, to: GTT, evicted: false }])
      expect(dev.takeViolations()).toEqual([])
    })
  })

  // ---- the threshold --------------------------------------------------------------------------

  it('100,003 objects each with a vm_bo: ids, lists, prepareObjects, deferred unmaps and cleanup', () => {
    const N = 100_003
    const vm = newVm({ flags: IMM })
    for (let obj = 1; obj <= N; obj += 2) vm.declareExternal(obj)
    for (let i = 0; i < N; i++) vm.bind(at(16 + i), P, i + 1, 0n)
    const bos = vm.vmBos()
    expect(bos.length).toBe(N)
    expect(bos.every((r, i) => r.id === i + 1 && r.obj === i + 1 && r.refcount === 1 && r.vas === 1)).toBe(true)
    const external = vm.extobjList()
    expect(external.length).toBe((N + 1) / 2)
    expect(external.every((id, i) => id === 2 * i + 1)).toBe(true)
    for (let obj = 2; obj <= N; obj += 2) vm.gemEvict(obj, true)
    const evicted = vm.evictList()
    expect(evicted.length).toBe((N - 1) / 2)
    expect(evicted.every((id, i) => id === 2 * i + 2)).toBe(true)
    expect(vm.prepareObjects()).toEqual(external)
    expect(vm.hubInfo().refcount).toBe(1 + 2 * N)
    expect(vm.unbind(at(16), BigInt(N) * P).unmap).toBe(N)
    const defer = vm.deferList()
    expect(defer.length).toBe(N)
    expect(defer.every((id, i) => id === N - i)).toBe(true)
    expect([vm.extobjList().length, vm.evictList().length]).toEqual([0, 0])
    expect(vm.vmBoFind(N)).toBeUndefined()
    expect(vm.deferredCleanup()).toBe(N)
    expect([vm.vmBos().length, vm.hubInfo().refcount]).toEqual([0, 1])
    expect(vm.vmBoObtain(1, PREALLOC).id).toBe(N + 1)
    expect(vm.takeWarnings()).toEqual([])
  })
})

// ---- native against reference, call by call ---------------------------------------------------

type Cmd =
  | { c: 'obtain'; obj: number; how: number }
  | { c: 'find'; obj: number }
  | { c: 'get'; id: number }
  | { c: 'put'; id: number; deferred: boolean }
  | { c: 'link'; pick: number }
  | { c: 'linkVmBo'; pick: number; id: number }
  | { c: 'unlink'; pick: number }
  | { c: 'unlinkDefer'; pick: number }
  | { c: 'extobjAdd'; id: number }
  | { c: 'boEvict'; id: number; evict: boolean }
  | { c: 'gemEvict'; obj: number; evict: boolean }
  | { c: 'prepareObjects' }
  | { c: 'validated'; id: number }
  | { c: 'deferredCleanup' }
  | { c: 'bind'; page: number; pages: number; obj: number; off: number }
  | { c: 'unbind'; page: number; pages: number }
  | { c: 'insert'; page: number; pages: number; obj: number }
  | { c: 'remove'; pick: number }
  | { c: 'objectMoved'; obj: number; evicted: boolean }
  | { c: 'vmGet' }
  | { c: 'vmPut' }
  | { c: 'declareExternal'; obj: number }
  | { c: 'setVaFlags'; pick: number; flags: number }
  | { c: 'madvise'; page: number; pages: number; obj: number }
  | { c: 'destroy' }

const objArb = fc.integer({ min: 0, max: 6 })
const idArb = fc.integer({ min: 0, max: 14 })
const pickArb = fc.nat({ max: 40 })
const pageArb = fc.integer({ min: 0, max: 24 })
const pagesArb = fc.integer({ min: 0, max: 6 })
const w = (weight: number, arbitrary: fc.Arbitrary<Cmd>) => ({ weight, arbitrary })
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  w(20, fc.record({ c: fc.constant('obtain' as const), obj: objArb, how: fc.integer({ min: 0, max: 2 }) })),
  w(5, fc.record({ c: fc.constant('find' as const), obj: objArb })),
  w(5, fc.record({ c: fc.constant('get' as const), id: idArb })),
  w(20, fc.record({ c: fc.constant('put' as const), id: idArb, deferred: fc.boolean() })),
  w(10, fc.record({ c: fc.constant('link' as const), pick: pickArb })),
  w(10, fc.record({ c: fc.constant('linkVmBo' as const), pick: pickArb, id: idArb })),
  w(10, fc.record({ c: fc.constant('unlink' as const), pick: pickArb })),
  w(10, fc.record({ c: fc.constant('unlinkDefer' as const), pick: pickArb })),
  w(10, fc.record({ c: fc.constant('extobjAdd' as const), id: idArb })),
  w(10, fc.record({ c: fc.constant('boEvict' as const), id: idArb, evict: fc.boolean() })),
  w(10, fc.record({ c: fc.constant('gemEvict' as const), obj: objArb, evict: fc.boolean() })),
  w(5, fc.constant({ c: 'prepareObjects' as const })),
  w(5, fc.record({ c: fc.constant('validated' as const), id: idArb })),
  w(10, fc.constant({ c: 'deferredCleanup' as const })),
  w(
    6,
    fc.record({
      c: fc.constant('bind' as const),
      page: pageArb,
      pages: pagesArb,
      obj: objArb,
      off: fc.nat({ max: 4 }),
    }),
  ),
  w(15, fc.record({ c: fc.constant('unbind' as const), page: pageArb, pages: pagesArb })),
  w(10, fc.record({ c: fc.constant('insert' as const), page: pageArb, pages: pagesArb, obj: objArb })),
  w(5, fc.record({ c: fc.constant('remove' as const), pick: pickArb })),
  w(10, fc.record({ c: fc.constant('objectMoved' as const), obj: objArb, evicted: fc.boolean() })),
  w(3, fc.constant({ c: 'vmGet' as const })),
  w(2, fc.constant({ c: 'vmPut' as const })),
  w(5, fc.record({ c: fc.constant('declareExternal' as const), obj: objArb })),
  w(
    5,
    fc.record({
      c: fc.constant('setVaFlags' as const),
      pick: pickArb,
      flags: fc.constantFrom(0, 1, 2, 3, 6, 0xffff, 0x1_0000),
    }),
  ),
  w(5, fc.record({ c: fc.constant('madvise' as const), page: pageArb, pages: pagesArb, obj: objArb })),
  w(1, fc.constant({ c: 'destroy' as const })),
)

const setupArb = fc.record({
  era: fc.constantFrom(ERA_GPUVM, ERA_NEXT),
  flags: fc.integer({ min: 0, max: 3 }),
  resv: fc.nat({ max: 3 }),
  external: fc.subarray([1, 2, 3, 4, 5, 6]),
  reserve: fc.boolean(),
})

type Result = { ok: unknown } | { errno: string } | { foreign: string }

/** A call's value, or the errno of the DrmError it threw; anything else is `foreign` (always a mismatch). */
function run(f: () => unknown): Result {
  try {
    return { ok: f() }
  } catch (e) {
    return e instanceof DrmError ? { errno: e.errno } : { foreign: String(e) }
  }
}

/** Plain text of results and states: bigints and typed arrays as text, undefined kept. */
const text = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    typeof x === 'bigint'
      ? `${x}n`
      : x === undefined
        ? '<undefined>'
        : ArrayBuffer.isView(x)
          ? [...(x as BigUint64Array)].map(String)
          : x,
  )

/** Everything a VA space shows of its hub and tree (and drains: warnings, freed vm_bos). */
function snapshot(vm: VmCore) {
  return {
    destroyed: vm.destroyed,
    hub: run(() => vm.hubInfo()),
    vmBos: run(() => vm.vmBos()),
    vmBoVas: run(() => vm.vmBos().map((r) => vm.vmBoVas(r.id))),
    extobj: run(() => vm.extobjList()),
    evict: run(() => vm.evictList()),
    defer: run(() => vm.deferList()),
    list: run(() => vm.list()),
    linked: run(() => vm.list().map((v) => vm.isLinked(v.addr, v.seq))),
    freed: run(() => vm.takeFreedVmBos()),
    warnings: vm.takeWarnings(),
  }
}

/**
 * What holds whatever the engine: the VM's refcount is the creator's
 * references, its mappings (not the kernel node) and its vm_bos; each vm_bo
 * counts its mappings, holds a reference for each, and a zombie has none;
 * the listed ids are vm_bos not freed, on the list their record says.
 */
function checkInvariants(vm: VmCore, state: ReturnType<typeof snapshot>, creatorRefs: number, kernel: boolean): void {
  if (vm.destroyed) return
  const ok = <T>(r: Result): T => {
    expect(r).toHaveProperty('ok')
    return (r as { ok: T }).ok
  }
  const bos = ok<VmBoRecord[]>(state.vmBos)
  const vas = ok<VaRecord[][]>(state.vmBoVas)
  const list = ok<VaRecord[]>(state.list)
  const linked = ok<boolean[]>(state.linked)
  expect(ok<VmHubRecord>(state.hub).refcount).toBe(creatorRefs + list.length - (kernel ? 1 : 0) + bos.length)
  bos.forEach((b, i) => {
    expect(b.vas).toBe(vas[i].length)
    expect(b.refcount).toBeGreaterThanOrEqual(b.vas)
    expect(b.freed).toBe(false)
    if (b.zombie) expect([b.refcount, b.vas]).toEqual([0, 0])
    for (const v of vas[i]) expect(v.obj).toBe(b.obj)
  })
  expect(linked.filter(Boolean).length).toBe(bos.reduce((n, b) => n + b.vas, 0))
  const byId = new Map(bos.map((b) => [b.id, b]))
  for (const id of ok<number[]>(state.extobj)) expect(byId.get(id)).toMatchObject({ zombie: false, onExtobjList: true })
  for (const id of ok<number[]>(state.evict)) expect(byId.get(id)).toMatchObject({ zombie: false, onEvictList: true })
  for (const id of ok<number[]>(state.defer)) expect(byId.get(id)).toMatchObject({ zombie: true })
  expect(ok<number[]>(state.defer).length).toBe(bos.filter((b) => b.zombie).length)
}

/** One command on one VA space; a mapping is picked by index among its own (a missing key when there are none). */
function step(vm: VmCore, cmd: Cmd): Result {
  const pick = (i: number): VaRecord => {
    const vas = vm.destroyed ? [] : vm.list()
    return vas.length === 0 ? va(at(40), P, 0, 0n, 999) : vas[i % vas.length]
  }
  switch (cmd.c) {
    case 'obtain':
      return run(() => vm.vmBoObtain(cmd.obj, cmd.how))
    case 'find':
      return run(() => vm.vmBoFind(cmd.obj))
    case 'get':
      return run(() => vm.vmBoGet(cmd.id))
    case 'put':
      return run(() => vm.vmBoPut(cmd.id, cmd.deferred))
    case 'link': {
      const v = pick(cmd.pick)
      return run(() => vm.link(v.addr, v.seq))
    }
    case 'linkVmBo': {
      const v = pick(cmd.pick)
      return run(() => vm.linkVmBo(v.addr, v.seq, cmd.id))
    }
    case 'unlink': {
      const v = pick(cmd.pick)
      return run(() => vm.unlink(v.addr, v.seq))
    }
    case 'unlinkDefer': {
      const v = pick(cmd.pick)
      return run(() => vm.unlinkDefer(v.addr, v.seq))
    }
    case 'extobjAdd':
      return run(() => vm.extobjAdd(cmd.id))
    case 'boEvict':
      return run(() => vm.boEvict(cmd.id, cmd.evict))
    case 'gemEvict':
      return run(() => vm.gemEvict(cmd.obj, cmd.evict))
    case 'prepareObjects':
      return run(() => vm.prepareObjects())
    case 'validated':
      return run(() => vm.validated(cmd.id))
    case 'deferredCleanup':
      return run(() => vm.deferredCleanup())
    case 'bind':
      return run(() => vm.bind(at(cmd.page), BigInt(cmd.pages) * P, cmd.obj, BigInt(cmd.off) * P))
    case 'unbind':
      return run(() => vm.unbind(at(cmd.page), BigInt(cmd.pages) * P))
    case 'insert':
      return run(() => vm.insert(at(cmd.page), BigInt(cmd.pages) * P, cmd.obj, 0n))
    case 'remove': {
      const v = pick(cmd.pick)
      return run(() => vm.remove(v.addr, v.seq))
    }
    case 'objectMoved':
      return run(() => vm.objectMoved(cmd.obj, cmd.evicted))
    case 'vmGet':
      return run(() => vm.vmGet())
    case 'vmPut':
      return run(() => vm.vmPut())
    case 'declareExternal':
      return run(() => vm.declareExternal(cmd.obj))
    case 'setVaFlags': {
      const v = pick(cmd.pick)
      return run(() => vm.setVaFlags(v.addr, v.seq, cmd.flags))
    }
    case 'madvise':
      return run(() => decodeOps(vm.madviseOps(at(cmd.page), BigInt(cmd.pages) * P, cmd.obj, 0x40000n)))
    case 'destroy':
      return run(() => vm.destroy())
  }
}

/** The two engines compared, native first. */
const PAIR: readonly [EngineName, EngineName] = ['native', 'reference']

/** DRMSIM_FC_SEED replays a failure (fast-check prints the seed); DRMSIM_FC_RUNS runs longer. */
const seed = Number(process.env.DRMSIM_FC_SEED ?? Date.now() % 2 ** 31)
const numRuns = Number(process.env.DRMSIM_FC_RUNS ?? 100)

describe('the hub, native against reference, call by call', () => {
  it('agree on every result, errno, warning, list and vm_bo after each random hub call', () => {
    const stats = { runs: 0, calls: 0, ok: 0, vmBos: 0, zombies: 0, teardowns: 0 }
    fc.assert(
      fc.property(setupArb, fc.array(cmdArb, { minLength: 20, maxLength: 100, size: 'max' }), (setup, cmds) => {
        stats.runs++
        const opts: VmCreateOptions = {
          name: 'prop',
          start: 0n,
          range: 32n * P,
          reserve: setup.reserve ? { offset: 0n, range: P } : undefined,
          era: setup.era,
          flags: setup.flags,
          resv: setup.resv,
        }
        const vms = PAIR.map((e) => engineOf(e).vm(opts))
        for (const vm of vms) {
          vm.trackFreedVmBos(true)
          for (const obj of setup.external) vm.declareExternal(obj)
        }
        let creatorRefs = 1
        expect(text(snapshot(vms[0])), 'after creation').toBe(text(snapshot(vms[1])))
        cmds.forEach((cmd, i) => {
          stats.calls++
          const [n, r] = vms.map((vm) => step(vm, cmd))
          expect(text(n), `call ${i} ${text(cmd)}: native against reference`).toBe(text(r))
          if ('ok' in r) stats.ok++
          const [sn, sr] = vms.map((vm) => snapshot(vm))
          if (cmd.c === 'vmGet' && 'ok' in r) creatorRefs++
          if (cmd.c === 'vmPut' && 'ok' in r) creatorRefs--
          vms.forEach((vm, k) => checkInvariants(vm, [sn, sr][k], creatorRefs, setup.reserve))
          expect(text(sn), `state after call ${i} ${text(cmd)}`).toBe(text(sr))
          if ('ok' in sr.vmBos) {
            const bos = sr.vmBos.ok as VmBoRecord[]
            stats.vmBos = Math.max(stats.vmBos, bos.length)
            stats.zombies += bos.filter((b) => b.zombie).length
          }
        })
        if (vms[1].destroyed) stats.teardowns++
      }),
      { numRuns, seed },
    )
    expect(stats.runs).toBeGreaterThanOrEqual(numRuns)
    // The commands reach the interesting states: calls that succeed, several vm_bos at once, zombies.
    expect(stats.ok).toBeGreaterThan(stats.calls / 4)
    expect(stats.vmBos).toBeGreaterThanOrEqual(3)
    expect(stats.zombies).toBeGreaterThan(0)
  })
})
