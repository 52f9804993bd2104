/**
 * Today's drm_gpuvm as a hub: what a VA space on a device adds to the seed's
 * VA manager. vm_bo handles, the VM-wide reservation (`r_obj`), the extobj,
 * evict and defer lists, and the lock rules the kernel asserts (recorded as
 * device violations). The engines keep the state (lib/contract/hub.md); this
 * module checks arguments and locks, and turns records into handles. The
 * drm_exec helpers are in vm-exec.ts.
 */
import { describe, flag, isObject, U64_MAX } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import { OBTAIN, VM_FLAGS, type VmBoRecord, type VmHubRecord } from '../contract/hub.js'
import type { VmCore } from '../contract/vm.js'
import type { Device } from '../device/device.js'
import { GemObject } from '../device/gem.js'
import type { Resv } from '../device/resv.js'
import type { Exec } from '../device/exec.js'
import type { GpuVm } from './gpuvm.js'
import type { ObjectTable } from './objects.js'
import type { Va } from './va.js'
import { mintVmBo, VmBo, type VmBoHost } from './vm-bo.js'

/** The driver's callbacks (`struct drm_gpuvm_ops`), all optional in drmsim. */
export interface GpuVmDriverOps {
  /** `vm_free`: the last reference was dropped. */
  vmFree?(vm: GpuVm): void
  /** `vm_bo_free`: a vm_bo was freed (at its last put, or by `deferredCleanup`). */
  vmBoFree?(vmBo: VmBo): void
  /**
   * `vm_bo_validate`, called by `validate` for each vm_bo on the evict list.
   * Throw (a DrmError) to stop the walk; without it `validate` is EOPNOTSUPP.
   */
  vmBoValidate?(vmBo: VmBo, exec: Exec): void
}

/** What the hub needs of its VA space's internals. */
export interface HubParts {
  readonly vm: GpuVm
  readonly core: VmCore
  readonly objects: ObjectTable
  readonly device: Device | null
  /** The GEM object whose reservation is the VM's (`r_obj`). */
  readonly resvObj: GemObject | null
  readonly ops: GpuVmDriverOps
  /** `VM_FLAGS` bits, fixed at creation. */
  readonly flags: number
  /** Collects the engine's warnings (and throws in strict mode). */
  sync(): void
  /** Wraps a Va record as a handle. */
  va(rec: import('../contract/vm.js').VaRecord): Va
  /** The key of a Va handle of this VA space (EINVAL otherwise). */
  own(va: unknown): Va
}

/** Handles kept before the cache is swept for freed vm_bos. */
const SWEEP_MIN = 256

export class VmHub implements VmBoHost {
  readonly #p: HubParts
  readonly #handles = new Map<number, VmBo>()
  #sweepAt = SWEEP_MIN
  /** The creator's references as this side counts them: while any is left, no call can free the VM. */
  #creatorRefs = 1
  #vmFreed = false

  constructor(parts: HubParts) {
    this.#p = parts
    if (parts.ops.vmBoFree) parts.core.trackFreedVmBos(true)
  }

  get device(): Device | null {
    return this.#p.device
  }

  get resvObj(): GemObject | null {
    return this.#p.resvObj
  }

  /** The VM-wide reservation (`drm_gpuvm_resv`). */
  get resv(): Resv | null {
    return this.#p.resvObj?.resv ?? null
  }

  get ops(): GpuVmDriverOps {
    return this.#p.ops
  }

  info(): VmHubRecord {
    return this.#p.core.hubInfo()
  }

  /** The flags never change: read once, not asked of the engine on every check. */
  get resvProtected(): boolean {
    return (this.#p.flags & VM_FLAGS.resvProtected) !== 0
  }

  get immediateMode(): boolean {
    return (this.#p.flags & VM_FLAGS.immediateMode) !== 0
  }

  /** `drm_gpuvm_is_extobj`: the object's reservation is not the VM's. */
  isExtobj(obj: GemObject): boolean {
    const resv = this.resv
    return resv !== null && this.#deviceObject(obj).resv.id !== resv.id
  }

  /** Called by the object table for an object new to it: external ones are declared to the engine. */
  admit(obj: GemObject): void {
    const device = this.#p.device
    if (device === null) return
    if (!obj.isDeviceObject || obj.device !== device) {
      throw new DrmError('EINVAL', `${obj} is not an object of the VA space's device`)
    }
    if (this.isExtobj(obj)) this.#p.core.declareExternal(obj.id)
  }

  // --- the VM's refcount ---------------------------------------------------------------------

  get(): void {
    this.#call(() => this.#p.core.vmGet())
    this.#creatorRefs++
  }

  /** Returns the refcount left; at 0 the VA space is torn down and `vmFree` runs. */
  put(): number {
    const left = this.#call(() => this.#p.core.vmPut())
    this.#creatorRefs--
    this.settle()
    return left
  }

  /**
   * After a call that may free vm_bos or the VM itself (an unbind, a put, a
   * cleanup): runs `vmBoFree` for each freed vm_bo and, once the VM is torn
   * down, `vmFree`.
   */
  settle(): void {
    this.drainFreed()
    if (this.#vmFreed || (this.#creatorRefs > 0 && !this.#forced)) return
    if (!this.#p.core.destroyed) return
    this.#vmFreed = true
    this.#p.ops.vmFree?.(this.#p.vm)
  }

  /** `destroy()` tears the VM down whatever its refcount. */
  #forced = false
  forceTeardown(): void {
    this.#forced = true
  }

  // --- vm_bo -----------------------------------------------------------------------------

  /** `obtain_locked` (needs the object's reservation, outside immediate mode) or `obtain_prealloc`. */
  obtain(obj: GemObject, how: 'locked' | 'prealloc'): VmBo {
    this.#p.objects.room()
    const id = this.#p.objects.idOf(obj, 'obj')
    if (!this.immediateMode) this.#assertHeld(this.#deviceObject(obj).resv, `drm_gpuvm_bo_obtain on ${obj}`)
    return this.#handle(this.#call(() => this.#p.core.vmBoObtain(id, OBTAIN[how])))
  }

  /** `drm_gpuvm_bo_find`. */
  find(obj: GemObject): VmBo | undefined {
    this.#p.objects.room()
    const id = this.#p.objects.idOf(obj, 'obj')
    const rec = this.#call(() => this.#p.core.vmBoFind(id))
    return rec ? this.#handle(rec) : undefined
  }

  vmBos(): VmBo[] {
    return this.#call(() => this.#p.core.vmBos()).map((r) => this.#handle(r))
  }

  extobjList(): VmBo[] {
    return this.#ids(this.#call(() => this.#p.core.extobjList()))
  }

  evictList(): VmBo[] {
    return this.#ids(this.#call(() => this.#p.core.evictList()))
  }

  deferList(): VmBo[] {
    return this.#ids(this.#call(() => this.#p.core.deferList()))
  }

  /** `drm_gpuvm_bo_deferred_cleanup`: frees the zombies; returns how many. */
  deferredCleanup(): number {
    const n = this.#call(() => this.#p.core.deferredCleanup())
    this.settle()
    return n
  }

  /** `drm_gpuvm_bo_gem_evict` for this VA space (needs the object's reservation). */
  gemEvict(obj: GemObject, evict: boolean): void {
    const o = this.#deviceObject(obj)
    this.#assertHeld(o.resv, `drm_gpuvm_bo_gem_evict on ${o}`)
    this.#call(() => this.#p.core.gemEvict(o.id, evict))
  }

  /** `drm_gpuva_link(va, vm_bo)`. */
  linkTo(va: Va, vmBo: VmBo): void {
    const key = this.#p.own(va)
    const bo = this.#own(vmBo)
    this.#call(() => this.#p.core.linkVmBo(key.addr, key.seq, bo.id))
  }

  /** `drm_gpuva_unlink_defer`. */
  unlinkDefer(va: Va): void {
    const key = this.#p.own(va)
    this.#call(() => this.#p.core.unlinkDefer(key.addr, key.seq))
    this.settle()
  }

  /** Runs `vmBoFree` for the vm_bos the engine freed since the last drain. */
  drainFreed(): void {
    const free = this.#p.ops.vmBoFree
    if (!free) return
    for (const rec of this.#p.core.takeFreedVmBos()) {
      const bo = this.#handles.get(rec.id) ?? this.#mint(rec)
      this.#handles.delete(rec.id)
      free(bo)
    }
  }

  // --- for the drm_exec helpers (vm-exec.ts) ---------------------------------------------------

  /** The objects `drm_gpuvm_prepare_objects` locks; under RESV_PROTECTED the evict list catches up. */
  prepareObjects(): GemObject[] {
    if (this.resvProtected && this.resv) this.#assertHeld(this.resv, 'drm_gpuvm_prepare_objects (RESV_PROTECTED)')
    return this.#call(() => this.#p.core.prepareObjects()).map((id) => this.#object(id))
  }

  /** The objects of the mappings in [addr, addr + range), object-less ones skipped, in address order. */
  rangeObjects(addr: bigint, range: bigint): GemObject[] {
    const end = addr + range > U64_MAX ? U64_MAX : addr + range
    const recs = this.#call(() => this.#p.core.listRange(addr, end))
    return recs.filter((r) => r.obj !== 0).map((r) => this.#object(r.obj))
  }

  /** `drm_gpuvm_validate`'s walk: `vm_bo_validate` for each vm_bo on the evict list. */
  validate(exec: Exec): void {
    const callback = this.#p.ops.vmBoValidate
    if (!callback) throw new DrmError('EOPNOTSUPP', `VA space '${this.#p.vm.name}' has no vmBoValidate callback`)
    if (this.resvProtected && this.resv) this.#assertHeld(this.resv, 'drm_gpuvm_validate (RESV_PROTECTED)')
    // The list as it is now; a vm_bo the callback took off (or that became a zombie) is skipped.
    for (const bo of this.evictList()) {
      const rec = this.#p.core.vmBoInfo(bo.id)
      if (!rec || rec.zombie || !rec.onEvictList) continue
      callback(bo, exec)
      this.#call(() => this.#p.core.validated(bo.id))
    }
  }

  /** The object behind an engine id. */
  objectOf(id: number): GemObject {
    return this.#object(id)
  }

  // --- VmBoHost: what VmBo handles call ---------------------------------------------------------

  infoOf(id: number): VmBoRecord | undefined {
    return this.#p.core.vmBoInfo(id)
  }

  vasOf(id: number): Va[] {
    return this.#call(() => this.#p.core.vmBoVas(id)).map((r) => this.#p.va(r))
  }

  getRef(id: number): void {
    this.#call(() => this.#p.core.vmBoGet(id))
  }

  putRef(id: number, deferred: boolean): boolean {
    const last = this.#call(() => this.#p.core.vmBoPut(id, deferred))
    if (last && !deferred && this.resvProtected && this.resv)
      this.#assertHeld(this.resv, 'drm_gpuvm_bo_put (RESV_PROTECTED)')
    this.drainFreed()
    return last
  }

  extobjAddRef(id: number): void {
    if (this.resvProtected && this.resv) this.#assertHeld(this.resv, 'drm_gpuvm_bo_extobj_add (RESV_PROTECTED)')
    this.#call(() => this.#p.core.extobjAdd(id))
  }

  evictRef(id: number, evict: boolean): void {
    const bo = this.#handles.get(id)
    if (bo) this.#assertHeld(this.#deviceObject(bo.obj).resv, `drm_gpuvm_bo_evict on ${bo}`)
    this.#call(() => this.#p.core.boEvict(id, evict))
  }

  // --- plumbing ----------------------------------------------------------------------------

  /** An engine call; warnings are collected even when it throws. */
  #call<T>(f: () => T): T {
    try {
      return f()
    } finally {
      this.#p.sync()
    }
  }

  #assertHeld(resv: Resv, what: string): void {
    const d = this.#p.device
    if (d === null) return
    d.run(() => d.core.assertHeld(d.thread, resv.id, what))
  }

  /** `obj` as an object of the device (EINVAL without one, or for another device's). */
  #deviceObject(obj: unknown): GemObject {
    const d = this.#p.device
    if (d === null) throw new DrmError('EINVAL', `VA space '${this.#p.vm.name}' has no device`)
    if (!GemObject.isGemObject(obj) || !obj.isDeviceObject || obj.device !== d) {
      throw new DrmError('EINVAL', `expected a GEM object of the VA space's device, got ${describe(obj)}`)
    }
    return obj
  }

  #own(vmBo: unknown): VmBo {
    if (!VmBo.isVmBo(vmBo) || vmBo.vm !== this.#p.vm) {
      throw new DrmError('EINVAL', `expected a VmBo of VA space '${this.#p.vm.name}', got ${describe(vmBo)}`)
    }
    return vmBo
  }

  #ids(ids: number[]): VmBo[] {
    return ids.map((id) => {
      const cached = this.#handles.get(id)
      if (cached) return cached
      const rec = this.#p.core.vmBoInfo(id)
      if (!rec) throw new DrmError('EINVAL', `vm_bo ${id} is not known to VA space '${this.#p.vm.name}'`)
      return this.#handle(rec)
    })
  }

  /** The one handle of a vm_bo record. */
  #handle(rec: VmBoRecord): VmBo {
    const cached = this.#handles.get(rec.id)
    if (cached) return cached
    if (this.#handles.size >= this.#sweepAt) this.#sweep()
    const bo = this.#mint(rec)
    this.#handles.set(rec.id, bo)
    return bo
  }

  #mint(rec: VmBoRecord): VmBo {
    return mintVmBo(this.#p.vm, this, this.#object(rec.obj), rec.id)
  }

  /** Forgets the handles of freed vm_bos. */
  #sweep(): void {
    for (const id of this.#handles.keys()) if (this.#p.core.vmBoInfo(id) === undefined) this.#handles.delete(id)
    this.#sweepAt = Math.max(SWEEP_MIN, 2 * this.#handles.size)
  }

  #object(id: number): GemObject {
    const fromDevice = this.#p.device?.object(id)
    if (fromDevice) return fromDevice
    const held = this.#p.objects.object(id)
    if (held) return held
    for (const bo of this.#handles.values()) if (bo.obj.id === id) return bo.obj
    throw new DrmError('EINVAL', `GEM object ${id} is unknown to VA space '${this.#p.vm.name}'`)
  }
}

/** Reads the `flags` options of a VA space into `VM_FLAGS` bits. */
export function vmFlags(resvProtected: unknown, immediateMode: unknown): number {
  return (
    (flag(resvProtected, 'resvProtected') ? VM_FLAGS.resvProtected : 0) |
    (flag(immediateMode, 'immediateMode') ? VM_FLAGS.immediateMode : 0)
  )
}

/** Whether a value can be a driver ops object. */
export function driverOps(ops: unknown): GpuVmDriverOps {
  if (ops === undefined) return {}
  if (!isObject(ops)) throw new DrmError('EINVAL', `ops must be an object, got ${describe(ops)}`)
  const o = ops as Record<string, unknown>
  const read: GpuVmDriverOps = {}
  for (const k of ['vmFree', 'vmBoFree', 'vmBoValidate'] as const) {
    const fn = o[k]
    if (fn === undefined) continue
    if (typeof fn !== 'function') throw new DrmError('EINVAL', `ops.${k} must be a function, got ${describe(fn)}`)
    read[k] = fn.bind(ops) as never
  }
  return read
}
