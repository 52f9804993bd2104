/**
 * The contract for today's drm_gpuvm hub, the part of a VA space that ties
 * it to GEM objects (vm_bo), the VM-wide reservation and eviction. Both
 * engines keep this state beside the VA tree (native/core/src/gpuvm/hub/,
 * lib/reference/gpuvm/hub.ts); the public API (lib/gpuvm/) adds the lock
 * checks and the drm_exec helpers on top. Values are plain numbers: object
 * ids (0 = none), vm_bo ids (never reused within one VA space).
 */

/**
 * Kernel eras of the VA manager, by index. Each row of the README's era table
 * says what changed between them.
 * - 0 `drm_gpuva_mgr-6.6`: the seed. Objects link their mappings directly;
 *   every overflowing range check WARNs; no hub.
 * - 1 `drm_gpuvm-7.2`: today's mainline. vm_bo, refcount, r_obj, flags, the
 *   lists; overflow WARNs only at init; zero-length ranges accepted.
 * - 2 `drm_gpuvm-next`: 7.2 plus the patch that refuses zero-length ranges in
 *   `drm_gpuvm_range_valid` (in linux-next, not yet in a release).
 */
export const ERAS = ['drm_gpuva_mgr-6.6', 'drm_gpuvm-7.2', 'drm_gpuvm-next'] as const
export type EraName = (typeof ERAS)[number]
export const ERA_SEED = 0
export const ERA_GPUVM = 1
export const ERA_NEXT = 2

/** `enum drm_gpuvm_flags`. */
export const VM_FLAGS = {
  /** `DRM_GPUVM_RESV_PROTECTED`: the extobj and evict lists are protected by the VM's reservation. */
  resvProtected: 1 << 0,
  /** `DRM_GPUVM_IMMEDIATE_MODE`: an object's VA list is under its own gpuva lock; puts may be deferred. */
  immediateMode: 1 << 1,
} as const

/** `enum drm_gpuva_flags`: bit 0 invalidated, bit 1 sparse (informational), driver bits from bit 2; 16 bits in all. */
export const VA_FLAGS = { invalidated: 1 << 0, sparse: 1 << 1, userBits: 1 << 2 } as const

/** How a vm_bo was obtained: `drm_gpuvm_bo_obtain_locked` or `drm_gpuvm_bo_obtain_prealloc`. */
export const OBTAIN = { locked: 0, prealloc: 1 } as const

export interface VmBoRecord {
  /** Never reused within the VA space. */
  id: number
  obj: number
  /** The kref: obtain/find/get references plus one per linked mapping. */
  refcount: number
  /** Mappings linked to it. */
  vas: number
  evicted: boolean
  /** Its object's reservation is not the VM's (`drm_gpuvm_is_extobj`). */
  external: boolean
  onExtobjList: boolean
  onEvictList: boolean
  /** Refcount 0, waiting on the defer list for `deferredCleanup`. */
  zombie: boolean
  /** Freed: no longer in any list; a record of it is an error from then on. */
  freed: boolean
}

/** The VM's own state as the hub keeps it. */
export interface VmHubRecord {
  era: number
  flags: number
  /** The VM-wide reservation (`r_obj`'s resv), 0 for a VA space made without a device. */
  resv: number
  /** The kref: the creator's reference, one per mapping in the tree (not the kernel node) and one per vm_bo. */
  refcount: number
}

/**
 * The hub half of a VA space's engine (`VmCore` extends it). Every call but
 * `hubInfo`, `setVaFlags` and `objectMoved` is EINVAL on a VA space of the
 * seed's era (no hub). Lock rules are the caller's:
 * the engine keeps the state, the public API checks the locks a call needs.
 */
export interface VmHubCore {
  hubInfo(): VmHubRecord
  /** `drm_gpuvm_get`; returns the new refcount. */
  vmGet(): number
  /**
   * `drm_gpuvm_put`; returns the new refcount. At 0 the VA space is torn
   * down, with a warning for each list left non-empty (tree, extobj, evict,
   * defer), as `destroy()` does.
   */
  vmPut(): number
  /** Records that `obj`'s reservation is not the VM's (called once per object, before it is first used). */
  declareExternal(obj: number): void

  /** `drm_gpuvm_bo_obtain_locked` (how 0) or `_obtain_prealloc` (how 1): the live vm_bo of `obj`, +1, or a new one. */
  vmBoObtain(obj: number, how: number): VmBoRecord
  /** `drm_gpuvm_bo_find`: the live vm_bo of `obj`, +1, if any. */
  vmBoFind(obj: number): VmBoRecord | undefined
  vmBoGet(id: number): VmBoRecord
  /**
   * `drm_gpuvm_bo_put` (deferred false) or `drm_gpuvm_bo_put_deferred`
   * (true): true when the reference was the last (freed, or a zombie on the
   * defer list when deferred).
   */
  vmBoPut(id: number, deferred: boolean): boolean
  /** undefined once freed (or never made). */
  vmBoInfo(id: number): VmBoRecord | undefined
  /** Its mappings, in link order. */
  vmBoVas(id: number): import('./vm.js').VaRecord[]
  /** Every vm_bo not yet freed (zombies included), by id. */
  vmBos(): VmBoRecord[]
  /** Keep a log of freed vm_bos for `takeFreedVmBos` (off by default: nothing reads it). */
  trackFreedVmBos(on: boolean): void
  /** The vm_bos freed since the last call, oldest first (for the driver's `vm_bo_free`). */
  takeFreedVmBos(): VmBoRecord[]

  /**
   * `drm_gpuva_link(va, vm_bo)`: no-op for an object-less mapping. The kernel
   * WARNs and links anyway when the objects differ; drmsim records the
   * warning and refuses (EINVAL), so a vm_bo's list is its object's.
   */
  linkVmBo(addr: bigint, seq: number, vmBo: number): void
  /** `drm_gpuva_unlink_defer`: as unlink, but a last reference makes the vm_bo a zombie. */
  unlinkDefer(addr: bigint, seq: number): void

  /** `drm_gpuvm_bo_extobj_add`: joins the extobj list if external and not on it. */
  extobjAdd(id: number): void
  /** `drm_gpuvm_bo_evict`: marks it; the evict list follows, except an external one under RESV_PROTECTED. */
  boEvict(id: number, evict: boolean): void
  /** `drm_gpuvm_bo_gem_evict`: `boEvict` on the live vm_bo of `obj` in this VM, if any. */
  gemEvict(obj: number, evict: boolean): void
  /** vm_bo ids in list order, zombies skipped. */
  extobjList(): number[]
  evictList(): number[]
  /** The defer list, in the order `deferredCleanup` frees it (newest first, an llist). */
  deferList(): number[]
  /** `drm_gpuvm_bo_deferred_cleanup`: frees every zombie; returns how many. */
  deferredCleanup(): number
  /**
   * The objects `drm_gpuvm_prepare_objects` locks (the extobj list's, zombies
   * skipped, list order). Under RESV_PROTECTED it also moves the evicted ones
   * onto the evict list, as the kernel does there.
   */
  prepareObjects(): number[]
  /** After `vm_bo_validate` succeeded for `id`: under RESV_PROTECTED it leaves the evict list unless evicted again. */
  validated(id: number): void
  /**
   * A placement move of `obj` on the device (inside the engines, called by
   * the device engine for each VA space made on it): its mappings are
   * invalidated, and when evicted its vm_bo is marked (`gemEvict(obj, true)`).
   */
  objectMoved(obj: number, evicted: boolean): void

  /** `drm_gpuvm_madvise_ops_create`, packed as the other op lists. */
  madviseOps(addr: bigint, range: bigint, obj: number, offset: bigint): BigUint64Array
  /** Sets a mapping's flags word (invalidated, sparse, driver bits); remap pieces never inherit it. */
  setVaFlags(addr: bigint, seq: number, flags: number): void
}
