/**
 * What the replay does for the drm_gpuvm hub ops, shared by the `Replayer`'s
 * handlers and the `Recorder`: the driver a replayed drm_gpuvm gets (its
 * `vm_bo_validate` places each evicted vm_bo as the `vm.validate` line says
 * and clears its evict mark; `vm_bo_free` and `vm_free` are logged so that
 * the line that freed them can say so), how a `vm.create` line picks a seed
 * VA space or a drm_gpuvm, and the exec contexts (`vm.exec_lock`, the
 * lock-only walks), each one drm_exec loop whose locks stay held until
 * `vm.exec_unlock`.
 */
import type { PageTableProfile, PageTableProfileName } from '../contract/pagetable.js'
import { DrmError } from '../base/errors.js'
import type { UsageName } from '../contract/device.js'
import { ERAS, type EraName } from '../contract/hub.js'
import type { EngineName } from '../contract/vm.js'
import type { Device } from '../device/device.js'
import { Exec, type ExecResult } from '../device/exec.js'
import type { GemObject } from '../device/gem.js'
import type { Place } from '../device/placement.js'
import type { Fence } from '../device/resv.js'
import { GpuVm, type MapRequest } from '../gpuvm/gpuvm.js'
import type { GpuVmDriverOps } from '../gpuvm/hub.js'
import type { VmBo } from '../gpuvm/vm-bo.js'
import type { OpList } from '../gpuvm/ops.js'
import {
  GpuVmExec,
  missingLocks,
  prepareVm,
  resvAddFence,
  smMapExecLock,
  smUnmapExecLock,
  validate,
} from '../gpuvm/vm-exec.js'

/** What a `vm.create` line (or `Recorder.createVm`) asks for. */
export interface ReplayVmOptions {
  name: string
  start?: bigint
  range: bigint
  reserve?: { offset: bigint; range: bigint } | null
  /** Naming any of these three (an era other than the seed's) makes a drm_gpuvm on the device. */
  era?: EraName
  resvProtected?: boolean
  immediateMode?: boolean
}

/** Whether a `vm.create` makes a drm_gpuvm: it names a later era than the seed's, or a VM flag. */
export function wantsHub(o: Pick<ReplayVmOptions, 'era' | 'resvProtected' | 'immediateMode'>): boolean {
  if (o.era !== undefined) return o.era !== ERAS[0]
  return o.resvProtected !== undefined || o.immediateMode !== undefined
}

/**
 * The driver behind every drm_gpuvm of one replay (or recording): its
 * callbacks, and what they did since the line began.
 */
export class ReplayDriver {
  /** The placement `vm.validate` places evicted vm_bos into, while it runs. */
  #placement: readonly Place[] | null = null
  /** vm_bos freed (`vm_bo_free`) since the last `take`, in order. */
  #freedVmBos: VmBo[] = []
  /** VMs torn down (`vm_free`) since the last `take`. */
  #freedVms: GpuVm[] = []
  /** vm_bos the running `vm.validate` placed, in order. */
  #validated: VmBo[] = []

  constructor(readonly device: () => Device) {}

  /** The page-table cost model every VA space gets (ReplayOptions.pageTable), if any. */
  pageTable: PageTableProfileName | PageTableProfile | undefined

  /** The callbacks a replayed drm_gpuvm gets (`struct drm_gpuvm_ops`). */
  ops(): GpuVmDriverOps {
    return {
      vmFree: (vm) => {
        this.#freedVms.push(vm)
      },
      vmBoFree: (bo) => {
        this.#freedVmBos.push(bo)
      },
      vmBoValidate: (bo) => {
        const placement = this.#placement
        if (placement === null)
          throw new DrmError('EOPNOTSUPP', 'vm_bo_validate outside vm.validate (it takes the placement from the line)')
        this.device().validate(bo.obj, placement)
        bo.evict(false)
        this.#validated.push(bo)
      },
    }
  }

  /** Makes the VA space a `vm.create` asks for: a drm_gpuvm on the device, or the seed's VA space attached to it. */
  createVm(o: ReplayVmOptions, engine: EngineName | undefined): GpuVm {
    const device = this.device()
    const base = {
      name: o.name,
      start: o.start ?? 0n,
      range: o.range,
      reserve: o.reserve ?? null,
      pageTable: this.pageTable,
    }
    if (wantsHub(o)) {
      return new GpuVm({
        ...base,
        device,
        era: o.era,
        resvProtected: o.resvProtected,
        immediateMode: o.immediateMode,
        ops: this.ops(),
      })
    }
    // The seed's era (named, or by default): refused when a VM flag is set, as the API refuses it.
    const vm = new GpuVm({
      ...base,
      engine,
      era: o.era,
      resvProtected: o.resvProtected,
      immediateMode: o.immediateMode,
    })
    device.attachVm(vm)
    return vm
  }

  /** Runs `vm.validate`: `drm_gpuvm_validate` under `h`, placing each evicted vm_bo into `placement`. */
  validate(h: ExecHandle, placement: readonly Place[]): { validated: VmBo[]; bytesMoved: bigint; evictions: bigint } {
    const device = this.device()
    const before = device.placementTotals
    this.#validated = []
    this.#placement = placement
    try {
      validate(h.vm, h.exec)
    } finally {
      this.#placement = null
    }
    const after = device.placementTotals
    return {
      validated: this.#validated,
      bytesMoved: after.bytesMoved - before.bytesMoved,
      evictions: after.evictions - before.evictions,
    }
  }

  /** What the callbacks logged since the last call; the logs start again empty. */
  take(): { freedVmBos: VmBo[]; freedVms: GpuVm[] } {
    const out = { freedVmBos: this.#freedVmBos, freedVms: this.#freedVms }
    this.#freedVmBos = []
    this.#freedVms = []
    return out
  }
}

/** The live (non-zombie) vm_bo of `obj` in `vm`, without taking a reference; EINVAL when there is none. */
export function liveVmBo(vm: GpuVm, obj: GemObject): VmBo {
  const bo = vm.vmBos().find((b) => b.obj === obj && !b.zombie)
  if (!bo) throw new DrmError('EINVAL', `${obj} has no live vm_bo in VA space '${vm.name}'`)
  return bo
}

/** An exec context of a replay: one drm_exec loop over `vm`, its locks held until `unlock`. */
export interface ExecHandle {
  readonly vm: GpuVm
  readonly exec: Exec
  /** The `drm_gpuvm_exec` of a `vm.exec_lock`; null for a lock-only walk's plain drm_exec. */
  readonly vmExec: GpuVmExec | null
}

export interface ExecLockOptions {
  numFences?: number
  /** Also these (`drm_gpuvm_exec_lock_array`). */
  objs?: readonly GemObject[]
  /** Only the objects of this range (`drm_gpuvm_exec_lock_range`), not the VM's reservation. */
  range?: { addr: bigint; range: bigint }
  /** `DRM_EXEC_IGNORE_DUPLICATES` (default true, as Xe and msm pass it). */
  ignoreDuplicates?: boolean
}

/** `vm.exec_lock`: `drm_gpuvm_exec_lock`, `_lock_array` or `_lock_range`. */
export function execLock(vm: GpuVm, o: ExecLockOptions = {}): ExecHandle {
  if (o.objs !== undefined && o.range !== undefined)
    throw new DrmError('EINVAL', 'vm.exec_lock takes objs (lock_array) or addr and range (lock_range), not both')
  const vmExec = new GpuVmExec(vm, { numFences: o.numFences ?? 0, ignoreDuplicates: o.ignoreDuplicates ?? true })
  if (o.range) vmExec.lockRange(o.range.addr, o.range.range)
  else if (o.objs) vmExec.lockArray(o.objs)
  else vmExec.lock()
  return { vm, exec: vmExec.exec, vmExec }
}

export interface LockWalkOptions {
  numFences?: number
  ignoreDuplicates?: boolean
}

/**
 * A lock-only walk as drivers run it: one drm_exec loop locking the VM's
 * reservation (with `numFences` slots), then what the walk would touch.
 */
function lockWalk(vm: GpuVm, o: LockWalkOptions, walk: (e: Exec, n: number) => ExecResult): ExecHandle {
  const device = vm.device
  if (device === null) throw new DrmError('EINVAL', `VA space '${vm.name}' has no device to lock on`)
  const n = o.numFences ?? 0
  const exec = new Exec(device, { ignoreDuplicates: o.ignoreDuplicates ?? true })
  try {
    exec.untilAllLocked((e) => {
      let r = prepareVm(vm, e, n)
      e.retryOnContention()
      if (r === 0) r = walk(e, n)
      e.retryOnContention()
      if (r !== 0) throw new DrmError(r, 'the lock-only walk failed')
    })
  } catch (err) {
    exec.fini()
    throw err
  }
  return { vm, exec, vmExec: null }
}

/** `vm.sm_map_exec_lock`. */
export function smMapLockWalk(vm: GpuVm, request: MapRequest, o: LockWalkOptions = {}): ExecHandle {
  return lockWalk(vm, o, (e, n) => smMapExecLock(vm, e, n, request))
}

/** `vm.sm_unmap_exec_lock`. */
export function smUnmapLockWalk(vm: GpuVm, addr: bigint, range: bigint, o: LockWalkOptions = {}): ExecHandle {
  return lockWalk(vm, o, (e) => smUnmapExecLock(vm, e, addr, range))
}

/** `vm.resv_add_fence`: a new fence on every object `h` locked; returns it and how many objects got it. */
export function addFence(
  h: ExecHandle,
  privateUsage: UsageName = 'bookkeep',
  extobjUsage: UsageName = 'bookkeep',
): { fence: Fence; fenced: number } {
  const fence = h.exec.device.createFence()
  resvAddFence(h.vm, h.exec, fence, privateUsage, extobjUsage)
  return { fence, fenced: h.exec.objects.length }
}

/**
 * The objects `ops` needs locked whose reservation `exec` does not hold:
 * `missingLocks`, less the objects that share a held reservation (a private
 * object is locked with the VM's reservation, though drm_exec never took
 * the object itself).
 */
export function missingResvLocks(exec: Exec, ops: OpList): GemObject[] {
  const held = new Set(exec.objects.map((o) => o.resv.id))
  return missingLocks(exec, ops).filter((o) => !held.has(o.resv.id))
}
