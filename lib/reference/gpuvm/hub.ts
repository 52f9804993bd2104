/**
 * Mirrors native/core/src/gpuvm/hub/mod.rs, calls.rs and lists.rs (the drm_gpuvm hub: vm_bo, the VM's refcount,
 * the extobj, evict and defer lists, deferred cleanup), per lib/contract/hub.md. What the VA space's own calls do
 * to it (hub/steps.rs) is in vm.ts and apply.ts; madvise (hub/madvise.rs) in madvise.ts.
 *
 * The hub lives beside the VA tree of a VA space of era 1 or later. A linked
 * mapping holds a reference on the live vm_bo of its object, so a vm_bo's
 * mapping list is its object's list in this VA space: the per-object lists of
 * lists.ts are the vm_bos' lists, and a vm_bo only counts its mappings.
 *
 * The lists are insertion-ordered sets: appending an entry already present
 * keeps its place, as `list_add_tail` guarded by `list_empty` does, and
 * taking one off is O(1) however long the list is.
 */
import type { VmBoRecord } from '../../contract/hub.js'
import { OBTAIN, VM_FLAGS } from '../../contract/hub.js'
import type { VaRecord } from '../../contract/vm.js'
import { DrmError } from '../../base/errors.js'
import { hex } from '../../base/check.js'
import type { ObjLists } from './lists.js'
import { NO_OBJ, type Node } from './tree.js'

/** The hub's warning kinds, with the rule each comes from. */
export const HUB_RULES = {
  'obtain-locked-immediate':
    'drm_gpuvm: obtain_locked allocates under the gpuva lock; immediate mode must use obtain_prealloc',
  'obtain-prealloc-not-immediate': 'drm_gpuvm: obtain_prealloc is for immediate mode',
  'put-deferred-not-immediate': 'drm_gpuvm: deferred puts are for immediate mode',
  'unlink-defer-not-immediate': 'drm_gpuvm: deferred unlinks are for immediate mode',
  'link-wrong-object': 'drm_gpuvm: a mapping links to the vm_bo of its own object',
  'extobj-not-empty': 'drm_gpuvm: the extobj list is empty when the VM is freed',
  'evict-not-empty': 'drm_gpuvm: the evict list is empty when the VM is freed',
  'defer-not-empty': 'drm_gpuvm: deferred vm_bos are cleaned up before the VM is freed',
} as const
export type HubWarnKind = keyof typeof HUB_RULES

const U32_MAX = 0xffff_ffff

/** One vm_bo. Its mappings are its object's list (lists.ts) while it is live. */
interface VmBo {
  readonly id: number
  readonly obj: number
  refcount: number
  vas: number
  evicted: boolean
  zombie: boolean
  freed: boolean
}

export class VmHub {
  /** The creator's references (`vmGet` / `vmPut`); the VM's refcount adds one per mapping and per vm_bo. */
  creatorRefs = 1
  #nextId = 1
  /** Every vm_bo not yet freed, zombies included, in id order (ids only grow). */
  readonly #bos = new Map<number, VmBo>()
  /** The live vm_bo of each object (the one on the object's GEM list). */
  readonly #live = new Map<number, VmBo>()
  /** Objects whose reservation is not the VM's. */
  readonly #external = new Set<number>()
  readonly #extobj = new Set<VmBo>()
  readonly #evict = new Set<VmBo>()
  /** Zombies, oldest first; read newest first, as the kernel's llist gives them. */
  #defer: VmBo[] = []
  /** Freed vm_bos for `takeFreedVmBos`, when tracking. */
  #freedLog: VmBoRecord[] | null = null

  constructor(
    readonly flags: number,
    readonly lists: ObjLists,
    readonly warn: (kind: HubWarnKind, message: string) => void,
  ) {}

  get immediate(): boolean {
    return (this.flags & VM_FLAGS.immediateMode) !== 0
  }

  get resvProtected(): boolean {
    return (this.flags & VM_FLAGS.resvProtected) !== 0
  }

  /** vm_bos not yet freed: each holds a reference on the VM. */
  get count(): number {
    return this.#bos.size
  }

  // ---- records ------------------------------------------------------------

  #record(bo: VmBo): VmBoRecord {
    return {
      id: bo.id,
      obj: bo.obj,
      refcount: bo.refcount,
      vas: bo.vas,
      evicted: bo.evicted,
      external: this.#external.has(bo.obj),
      onExtobjList: this.#extobj.has(bo),
      onEvictList: this.#evict.has(bo),
      zombie: bo.zombie,
      freed: bo.freed,
    }
  }

  /** Not freed (zombies included), or EINVAL. */
  #known(id: number): VmBo {
    const bo = this.#bos.get(id)
    if (bo === undefined) {
      throw new DrmError('EINVAL', id > 0 && id < this.#nextId ? `vm_bo ${id} was freed` : `no vm_bo ${id}`)
    }
    return bo
  }

  /** Live (not freed, not a zombie), or EINVAL. */
  #liveBo(id: number): VmBo {
    const bo = this.#known(id)
    if (bo.zombie) throw new DrmError('EINVAL', `vm_bo ${id} is a zombie waiting for deferred cleanup`)
    return bo
  }

  // ---- vm_bo --------------------------------------------------------------

  declareExternal(obj: number): void {
    if (obj === NO_OBJ) throw new DrmError('EINVAL', 'object 0 is no GEM object')
    this.#external.add(obj)
  }

  /** ENOMEM when `obj` has no live vm_bo and the vm_bo ids (u32) are used up. */
  #room(obj: number): void {
    if (obj !== NO_OBJ && !this.#live.has(obj) && this.#nextId > U32_MAX) {
      throw new DrmError('ENOMEM', 'this VA space has used up its 2^32-1 vm_bo ids')
    }
  }

  /** One more reference; EINVAL at the kref's limit. */
  #getRef(bo: VmBo): void {
    if (bo.refcount === U32_MAX) throw new DrmError('EINVAL', `vm_bo ${bo.id}: refcount overflow`)
    bo.refcount++
  }

  /** A new live vm_bo of `obj` with no reference yet, on no list. */
  #create(obj: number): VmBo {
    const bo: VmBo = { id: this.#nextId++, obj, refcount: 0, vas: 0, evicted: false, zombie: false, freed: false }
    this.#bos.set(bo.id, bo)
    this.#live.set(obj, bo)
    return bo
  }

  obtain(obj: number, how: number): VmBoRecord {
    if (how !== OBTAIN.locked && how !== OBTAIN.prealloc) {
      throw new DrmError('EINVAL', `how must be 0 (obtain_locked) or 1 (obtain_prealloc), got ${how}`)
    }
    if (obj === NO_OBJ) throw new DrmError('EINVAL', 'object 0 is no GEM object')
    this.#room(obj)
    const live = this.#live.get(obj)
    if (live !== undefined && live.refcount === U32_MAX) {
      throw new DrmError('EINVAL', `vm_bo ${live.id}: refcount overflow`)
    }
    if (how === OBTAIN.locked && this.immediate) {
      this.warn('obtain-locked-immediate', `drm_gpuvm_bo_obtain_locked on a VM in immediate mode (object ${obj})`)
    }
    if (how === OBTAIN.prealloc && !this.immediate) {
      this.warn(
        'obtain-prealloc-not-immediate',
        `drm_gpuvm_bo_obtain_prealloc on a VM not in immediate mode (object ${obj})`,
      )
    }
    const bo = live ?? this.#create(obj)
    this.#getRef(bo)
    return this.#record(bo)
  }

  find(obj: number): VmBoRecord | undefined {
    const bo = this.#live.get(obj)
    if (bo === undefined) return undefined
    this.#getRef(bo)
    return this.#record(bo)
  }

  get(id: number): VmBoRecord {
    const bo = this.#liveBo(id)
    this.#getRef(bo)
    return this.#record(bo)
  }

  /**
   * `vmBoPut`: EINVAL too when every reference left is a link's (refcount ==
   * vas), which only unlink drops: a vm_bo is never released under its
   * mappings (the kernel would free it with mappings still pointing at it).
   */
  put(id: number, deferred: boolean): boolean {
    const bo = this.#liveBo(id)
    if (bo.refcount <= bo.vas) {
      throw new DrmError('EINVAL', `vm_bo ${id}: its ${bo.vas} reference(s) left are its mappings' links`)
    }
    if (deferred && !this.immediate) {
      this.warn('put-deferred-not-immediate', `drm_gpuvm_bo_put_deferred on a VM not in immediate mode (vm_bo ${id})`)
    }
    return this.#put(bo, deferred)
  }

  /** Drops one reference; the last releases it (freed, or a zombie when deferred). */
  #put(bo: VmBo, deferred: boolean): boolean {
    bo.refcount--
    if (bo.refcount > 0) return false
    // Off the object's GEM list: no longer live.
    this.#live.delete(bo.obj)
    if (!deferred) {
      this.#free(bo)
      return true
    }
    bo.zombie = true
    if (!this.resvProtected) {
      this.#extobj.delete(bo)
      this.#evict.delete(bo)
    }
    this.#defer.push(bo)
    return true
  }

  #free(bo: VmBo): void {
    this.#extobj.delete(bo)
    this.#evict.delete(bo)
    this.#bos.delete(bo.id)
    bo.zombie = false
    bo.freed = true
    this.#freedLog?.push(this.#record(bo))
  }

  info(id: number): VmBoRecord | undefined {
    const bo = this.#bos.get(id)
    return bo && this.#record(bo)
  }

  vas(id: number): VaRecord[] {
    const bo = this.#known(id)
    return bo.zombie ? [] : this.lists.vas(bo.obj)
  }

  all(): VmBoRecord[] {
    return [...this.#bos.values()].map((bo) => this.#record(bo))
  }

  trackFreed(on: boolean): void {
    this.#freedLog = on ? (this.#freedLog ?? []) : null
  }

  get tracksFreed(): boolean {
    return this.#freedLog !== null
  }

  takeFreed(): VmBoRecord[] {
    return this.#freedLog?.splice(0) ?? []
  }

  // ---- links --------------------------------------------------------------

  /** `link(va)`: to the live vm_bo of its object, made first if there is none (an external one joins the extobj list). */
  link(node: Node): void {
    if (node.obj === NO_OBJ || node.linked) return
    this.#room(node.obj)
    let bo = this.#live.get(node.obj)
    if (bo === undefined) {
      bo = this.#create(node.obj)
      if (this.#external.has(bo.obj)) this.#extobj.add(bo)
    }
    this.#attach(node, bo)
  }

  /** `linkVmBo`: the vm_bo must be live and of the mapping's object; the mapping must not be linked. */
  linkTo(node: Node, id: number): void {
    const bo = this.#liveBo(id)
    if (node.obj === NO_OBJ) return
    if (bo.obj !== node.obj) {
      this.warn(
        'link-wrong-object',
        `drm_gpuva_link: mapping of object ${node.obj} linked to the vm_bo of object ${bo.obj}`,
      )
      throw new DrmError('EINVAL', `vm_bo ${id} is of object ${bo.obj}, the mapping of object ${node.obj}`)
    }
    if (node.linked) {
      throw new DrmError('EINVAL', `the mapping ${hex(node.key.addr)} (#${node.key.seq}) is linked already`)
    }
    this.#attach(node, bo)
  }

  #attach(node: Node, bo: VmBo): void {
    bo.refcount++
    bo.vas++
    this.lists.link(node)
  }

  /** Unlinks a linked mapping and drops the link's reference on its vm_bo; an unlinked one is left alone. */
  /** `drm_gpuva_unlink_defer`: the warning outside immediate mode comes only when a linked mapping is unlinked. */
  unlinkDefer(node: Node): void {
    if (node.linked && !this.immediate) {
      this.warn(
        'unlink-defer-not-immediate',
        `drm_gpuva_unlink_defer on a VM not in immediate mode (mapping ${hex(node.key.addr)})`,
      )
    }
    this.unlink(node, true)
  }

  /** `drm_gpuvm_get`: one more creator reference. */
  getCreator(): void {
    if (this.creatorRefs === U32_MAX) throw new DrmError('EINVAL', "the VM's refcount would overflow")
    this.creatorRefs++
  }

  /** `drm_gpuvm_put` of a creator reference; EINVAL when none is left. */
  putCreator(vmName: string): void {
    if (this.creatorRefs === 0) throw new DrmError('EINVAL', `VA space '${vmName}': no reference of its creator left`)
    this.creatorRefs--
  }

  unlink(node: Node, deferred: boolean): void {
    if (!node.linked) return
    const bo = this.#live.get(node.obj)!
    this.lists.unlink(node)
    bo.vas--
    this.#put(bo, deferred)
  }

  // ---- lists --------------------------------------------------------------

  extobjAdd(id: number): void {
    const bo = this.#liveBo(id)
    if (this.#external.has(bo.obj)) this.#extobj.add(bo)
  }

  boEvict(id: number, evict: boolean): void {
    this.#evictBo(this.#known(id), evict)
  }

  #evictBo(bo: VmBo, evict: boolean): void {
    bo.evicted = evict
    // An external vm_bo under RESV_PROTECTED is caught up at prepareObjects.
    if (this.resvProtected && this.#external.has(bo.obj)) return
    if (evict) this.#evict.add(bo)
    else this.#evict.delete(bo)
  }

  gemEvict(obj: number, evict: boolean): void {
    const bo = this.#live.get(obj)
    if (bo !== undefined) this.#evictBo(bo, evict)
  }

  extobjList(): number[] {
    return [...this.#extobj].filter((bo) => !bo.zombie).map((bo) => bo.id)
  }

  evictList(): number[] {
    return [...this.#evict].filter((bo) => !bo.zombie).map((bo) => bo.id)
  }

  deferList(): number[] {
    return this.#defer.map((bo) => bo.id).reverse()
  }

  deferredCleanup(): number {
    const zombies = this.#defer.reverse()
    this.#defer = []
    for (const bo of zombies) this.#free(bo)
    return zombies.length
  }

  prepareObjects(): number[] {
    const live = [...this.#extobj].filter((bo) => !bo.zombie)
    if (this.resvProtected) for (const bo of live) if (bo.evicted) this.#evict.add(bo)
    return live.map((bo) => bo.obj)
  }

  validated(id: number): void {
    const bo = this.#known(id)
    if (this.resvProtected && !bo.evicted) this.#evict.delete(bo)
  }

  // ---- teardown -----------------------------------------------------------

  /** What each list holds at teardown, zombies included (the kernel checks `list_empty`). */
  /** At teardown: a warning for each list left non-empty (extobj, evict, then defer, zombies counted). */
  warnLeftovers(): void {
    const warn = this.warn
    const [extobj, evict, defer] = [this.#extobj.size, this.#evict.size, this.#defer.length]
    if (extobj !== 0) warn('extobj-not-empty', `Extobj list should be empty (${extobj} vm_bo(s))`)
    if (evict !== 0) warn('evict-not-empty', `Evict list should be empty (${evict} vm_bo(s))`)
    if (defer !== 0) warn('defer-not-empty', `VM BO cleanup list should be empty (${defer} vm_bo(s))`)
  }

  /** vm_bo ids not yet handed out. */
  get idsLeft(): number {
    return U32_MAX + 1 - this.#nextId
  }

  /** A copy of the whole hub (each vm_bo's fields, every map, set and list in its order); the closure puts it back. */
  saved(): () => void {
    const bos = [...this.#bos.values()].map((bo) => ({ bo, fields: { ...bo } }))
    const [live, external, extobj, evict, defer] = [
      new Map(this.#live),
      new Set(this.#external),
      new Set(this.#extobj),
      new Set(this.#evict),
      [...this.#defer],
    ]
    const [creatorRefs, nextId, logged] = [this.creatorRefs, this.#nextId, this.#freedLog?.length]
    const replace = <T>(into: { clear(): void; add?(v: T): unknown }, from: Iterable<T>): void => {
      into.clear()
      for (const v of from) into.add?.(v)
    }
    return () => {
      this.#bos.clear()
      for (const { bo, fields } of bos) this.#bos.set(bo.id, Object.assign(bo, fields))
      this.#live.clear()
      for (const [obj, bo] of live) this.#live.set(obj, bo)
      replace(this.#external, external)
      replace(this.#extobj, extobj)
      replace(this.#evict, evict)
      this.#defer = defer
      this.creatorRefs = creatorRefs
      this.#nextId = nextId
      if (logged !== undefined) this.#freedLog?.splice(logged)
    }
  }

  clear(): void {
    this.#bos.clear()
    this.#live.clear()
    this.#extobj.clear()
    this.#evict.clear()
    this.#defer = []
  }
}
