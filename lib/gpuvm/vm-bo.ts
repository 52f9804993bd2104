/**
 * A vm_bo (`struct drm_gpuvm_bo`): the link between one VA space and one GEM
 * object. Handles are made by their VA space alone and are frozen; what they
 * report (refcount, evicted, lists) is read from the engine each time, so a
 * handle of a freed vm_bo still answers `freed`.
 */
import { DrmError } from '../base/errors.js'
import type { VmBoRecord } from '../contract/hub.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from './gpuvm.js'
import type { Va } from './va.js'

/** What a VA space does for its vm_bo handles (hub.ts implements it). */
export interface VmBoHost {
  infoOf(id: number): VmBoRecord | undefined
  vasOf(id: number): Va[]
  getRef(id: number): void
  putRef(id: number, deferred: boolean): boolean
  extobjAddRef(id: number): void
  evictRef(id: number, evict: boolean): void
}

let minting = false
const hosts = new WeakMap<VmBo, VmBoHost>()

/** @internal The handle of vm_bo `id` (the hub keeps one per id). */
export function mintVmBo(vm: GpuVm, host: VmBoHost, obj: GemObject, id: number): VmBo {
  minting = true
  const bo = new VmBo(vm, obj, id)
  hosts.set(bo, host)
  return bo
}

export class VmBo {
  readonly #minted = true

  /** @internal Handles come from their VA space; calling this yourself is EINVAL. */
  constructor(
    readonly vm: GpuVm,
    readonly obj: GemObject,
    /** Never reused within its VA space. */
    readonly id: number,
  ) {
    if (!minting)
      throw new DrmError('EINVAL', 'VmBo handles are made by their VA space (GpuVm.obtain), not constructed')
    minting = false
    Object.freeze(this)
  }

  static isVmBo(value: unknown): value is VmBo {
    return typeof value === 'object' && value !== null && #minted in value
  }

  #host(): VmBoHost {
    const host = hosts.get(this)
    if (!host) throw new DrmError('EINVAL', 'not a VmBo handle (a Proxy or a look-alike)')
    return host
  }

  #info(): VmBoRecord {
    const rec = this.#host().infoOf(this.id)
    if (!rec) throw new DrmError('EINVAL', `${this} was freed`)
    return rec
  }

  /** Freed: no longer in any list; every other use is EINVAL. */
  get freed(): boolean {
    return this.#host().infoOf(this.id) === undefined
  }

  /** References: obtain/find/get ones plus one per linked mapping. */
  get refcount(): number {
    return this.#info().refcount
  }

  get evicted(): boolean {
    return this.#info().evicted
  }

  /** Its object's reservation is not the VA space's (`drm_gpuvm_is_extobj`). */
  get external(): boolean {
    return this.#info().external
  }

  /** Refcount 0, waiting on the defer list for `deferredCleanup`. */
  get zombie(): boolean {
    return this.#info().zombie
  }

  get onExtobjList(): boolean {
    return this.#info().onExtobjList
  }

  get onEvictList(): boolean {
    return this.#info().onEvictList
  }

  /** `drm_gpuvm_bo_for_each_va`: its mappings in link order. */
  get vas(): Va[] {
    return this.#host().vasOf(this.id)
  }

  /** `drm_gpuvm_bo_get`. */
  get(): this {
    this.#host().getRef(this.id)
    return this
  }

  /** `drm_gpuvm_bo_put`: true when that was the last reference (the vm_bo is freed). */
  put(): boolean {
    return this.#host().putRef(this.id, false)
  }

  /** `drm_gpuvm_bo_put_deferred` (immediate mode): the last reference makes it a zombie until `deferredCleanup`. */
  putDeferred(): boolean {
    return this.#host().putRef(this.id, true)
  }

  /** `drm_gpuvm_bo_extobj_add`: joins the VA space's extobj list if its object is external. */
  extobjAdd(): void {
    this.#host().extobjAddRef(this.id)
  }

  /** `drm_gpuvm_bo_evict`: needs the object's reservation held. */
  evict(evict = true): void {
    this.#host().evictRef(this.id, evict === true)
  }

  toString(): string {
    return `VmBo #${this.id} (obj ${this.obj.id} in '${this.vm.name}')`
  }
}
