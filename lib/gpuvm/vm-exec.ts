/**
 * drm_gpuvm's drm_exec helpers: locking a VA space's reservation, its
 * external objects or the objects of a range inside the drm_exec retry loop,
 * validating what was evicted, fencing what was locked, and the lock-only
 * split/merge walks. The free functions take any `Exec` (a driver's own
 * loop); `GpuVmExec` (`struct drm_gpuvm_exec`) runs the whole loop. Every
 * call that may sleep has an `...Op` twin for scheduler threads, so
 * contention and -EDEADLK back-off show up under the scheduler.
 */
import { types } from 'node:util'
import { count, describe, flag, func, isObject, iterable, list, options, readArgument, u64 } from '../base/check.js'
import { DrmError, type Errno } from '../base/errors.js'
import type { UsageName } from '../contract/device.js'
import { Exec, type ExecOptions, type ExecResult } from '../device/exec.js'
import { GemObject } from '../device/gem.js'
import { type Fence, isFence, type Op, runSync, usageIndex } from '../device/resv.js'
import type { GpuVm, MapRequest } from './gpuvm.js'
import { hubOf } from './internal.js'
import type { AnyOp, OpList } from './ops.js'

/**
 * Locks each of `objs`, reserving `numFences` slots on each when that is not 0
 * (`drm_exec_prepare_obj`, else `drm_exec_lock_obj`), up to the first error;
 * the exec locks runs of them in one engine call.
 */
function prepareAll(exec: Exec, objs: readonly GemObject[], numFences: number): Op<ExecResult> {
  return exec.lockEachOp(objs, numFences > 0 ? numFences : null)
}

const fences = (n: unknown): number => count(n ?? 0, 'numFences', 0xffff_ffff)

function execOf(exec: unknown): Exec {
  if (!Exec.isExec(exec)) throw new DrmError('EINVAL', `expected an Exec, got ${describe(exec)}`)
  return exec
}

/** `drm_gpuvm_prepare_vm`: locks the VM's reservation object (`r_obj`). */
export function* prepareVmOp(vm: GpuVm, exec: Exec, numFences = 0): Op<ExecResult> {
  const hub = hubOf(vm)
  const e = execOf(exec)
  const n = fences(numFences)
  const resvObj = hub.resvObj
  if (resvObj === null) throw new DrmError('EINVAL', `VA space '${vm.name}' has no device, so no reservation`)
  return yield* prepareAll(e, [resvObj], n)
}

/** `drm_gpuvm_prepare_objects`: locks every external object (the extobj list). */
export function* prepareObjectsOp(vm: GpuVm, exec: Exec, numFences = 0): Op<ExecResult> {
  const hub = hubOf(vm)
  const e = execOf(exec)
  const n = fences(numFences)
  return yield* prepareAll(e, hub.prepareObjects(), n)
}

/** `drm_gpuvm_prepare_range`: locks the objects of the mappings in [addr, addr + range); object-less ones are skipped. */
export function* prepareRangeOp(vm: GpuVm, exec: Exec, addr: bigint, range: bigint, numFences = 0): Op<ExecResult> {
  const hub = hubOf(vm)
  const e = execOf(exec)
  const [a, r, n] = [u64(addr, 'addr'), u64(range, 'range'), fences(numFences)]
  return yield* prepareAll(e, hub.rangeObjects(a, r), n)
}

/**
 * `drm_gpuvm_sm_map_exec_lock`: locks what `sm_map` of `request` would touch,
 * the VA space unchanged: the mapped object prepared with `numFences` slots,
 * the objects of the mappings it would remap or unmap locked.
 */
export function* smMapExecLockOp(vm: GpuVm, exec: Exec, numFences: number, request: MapRequest): Op<ExecResult> {
  hubOf(vm)
  const e = execOf(exec)
  const n = fences(numFences)
  const ops = vm.smMapOps(request)
  // The walk's last step maps the request: its object is prepared first, with the fence slots.
  const last = ops.at(-1)
  const obj = last?.kind === 'map' ? last.map.obj : null
  if (obj !== null) {
    const r = yield* e.prepareObjOp(obj, n)
    if (r !== 0) return r
  }
  return yield* prepareAll(e, touched(ops), 0)
}

/** `drm_gpuvm_sm_unmap_exec_lock`: locks the objects `sm_unmap` of the range would touch. */
export function* smUnmapExecLockOp(vm: GpuVm, exec: Exec, addr: bigint, range: bigint): Op<ExecResult> {
  hubOf(vm)
  const e = execOf(exec)
  return yield* prepareAll(e, touched(vm.smUnmapOps(addr, range)), 0)
}

/** The object of the mapping a step takes down (REMAP, UNMAP), if it has one. */
const takenDown = (op: AnyOp): GemObject | null =>
  op.kind === 'remap' ? op.unmap.va.obj : op.kind === 'unmap' ? op.va.obj : null

/** The objects of the mappings an op list remaps or unmaps, in op order. */
function touched(ops: OpList): GemObject[] {
  return [...ops].flatMap((op) => takenDown(op) ?? [])
}

/**
 * The objects an op list needs locked whose reservation `exec` does not
 * hold: the object of each MAP, and of each mapping a REMAP or UNMAP takes
 * down (a private object is covered by the VM's reservation). Empty when the
 * lock set covers the list. The known bug this catches: a lock-only walk
 * given the wrong range (msm passed an offset as the range), so the objects
 * the real walk unmaps were never locked.
 */
export function missingLocks(exec: Exec, ops: Iterable<AnyOp>): GemObject[] {
  const held = new Set(execOf(exec).objects.map((o) => o.resv.id))
  const list = readArgument('ops', () => [...iterable<AnyOp>(ops, 'ops')])
  const missing: GemObject[] = []
  for (const op of list) {
    if (!isObject(op)) throw new DrmError('EINVAL', `an op must be an object, got ${describe(op)}`)
    const obj = op.kind === 'map' ? op.map.obj : takenDown(op)
    if (obj == null) continue
    if (!GemObject.isGemObject(obj) || !obj.isDeviceObject)
      throw new DrmError('EINVAL', `an op names ${describe(obj)}, not a GEM object of a device`)
    if (!held.has(obj.resv.id) && !missing.includes(obj)) missing.push(obj)
  }
  return missing
}

/** `drm_gpuvm_validate`: the driver's `vmBoValidate` for each evicted vm_bo (EOPNOTSUPP without one). */
export function validate(vm: GpuVm, exec: Exec): void {
  hubOf(vm).validate(execOf(exec))
}

/**
 * `drm_gpuvm_resv_add_fence`: adds `fence` to every object `exec` locked,
 * with `extobjUsage` on external objects and `privateUsage` on the others.
 */
export function resvAddFence(
  vm: GpuVm,
  exec: Exec,
  fence: Fence,
  privateUsage: UsageName,
  extobjUsage: UsageName,
): void {
  const hub = hubOf(vm)
  const e = execOf(exec)
  const objs = e.objects
  const n = objs.length
  // Runs of adds in one engine call over the objects whose usage checks; the rest (an object, usage or
  // fence the single call refuses, or the element a run stops at) one by one, in the same order.
  const resvs = new Uint32Array(n)
  const usages = new Uint32Array(n)
  let plain = isFence(fence) && fence.device === e.device ? n : 0
  for (let i = 0; i < plain; i++) {
    try {
      usages[i] = usageIndex(hub.isExtobj(objs[i]) ? extobjUsage : privateUsage)
      resvs[i] = objs[i].resv.id
    } catch {
      plain = i
    }
  }
  const d = e.device
  let i = 0
  while (i < n) {
    const from = i
    const k = from < plain ? d.run(() => d.core.addFenceRun(d.thread, resvs, usages, fence.id, from, plain)) : 0
    if (k > 0) {
      i += k
      continue
    }
    const obj = objs[i++]
    obj.resv.addFence(fence, hub.isExtobj(obj) ? extobjUsage : privateUsage)
  }
}

export const prepareVm = (vm: GpuVm, exec: Exec, numFences = 0): ExecResult =>
  runSync(execOf(exec).device, prepareVmOp(vm, exec, numFences))
export const prepareObjects = (vm: GpuVm, exec: Exec, numFences = 0): ExecResult =>
  runSync(execOf(exec).device, prepareObjectsOp(vm, exec, numFences))
export const prepareRange = (vm: GpuVm, exec: Exec, addr: bigint, range: bigint, numFences = 0): ExecResult =>
  runSync(execOf(exec).device, prepareRangeOp(vm, exec, addr, range, numFences))
export const smMapExecLock = (vm: GpuVm, exec: Exec, numFences: number, request: MapRequest): ExecResult =>
  runSync(execOf(exec).device, smMapExecLockOp(vm, exec, numFences, request))
export const smUnmapExecLock = (vm: GpuVm, exec: Exec, addr: bigint, range: bigint): ExecResult =>
  runSync(execOf(exec).device, smUnmapExecLockOp(vm, exec, addr, range))

/** What `extra` may return: a result, or an op (a generator) for scheduler threads. */
export type ExtraResult = ExecResult | Op<ExecResult>

export interface GpuVmExecOptions extends ExecOptions {
  /** Fence slots reserved on each object locked (0, the default: lock only). */
  numFences?: number
  /** `extra.fn`: locks more objects in the same loop, after the VM's and the external ones. */
  extra?: (vmExec: GpuVmExec) => ExtraResult
}

/** What `extra` returned, if it is an `ExecResult` (EINVAL otherwise). */
function execResult(r: unknown): ExecResult {
  if (r === 0 || r === 'EDEADLK' || r === 'EALREADY') return r
  throw new DrmError('EINVAL', `extra must return 0, 'EDEADLK' or 'EALREADY', got ${describe(r)}`)
}

/** Throws the kernel's error for a failed lock (EDEADLK never reaches here: the loop retries it). */
function fail(r: ExecResult, what: string): never {
  throw new DrmError(r as Errno, `${what} failed`)
}

/**
 * `struct drm_gpuvm_exec`: one drm_exec loop over a VA space. `lock()`
 * locks the VM's reservation and external objects (and `extra`'s),
 * `lockArray(objs)` adds an array, `lockRange(addr, range)` locks only a
 * range's objects; on success the locks stay held until `unlock()` (or the
 * end of a `using` block); on failure everything is unlocked and the error
 * thrown.
 */
export class GpuVmExec implements Disposable {
  readonly vm: GpuVm
  readonly exec: Exec
  readonly numFences: number
  readonly #extra: ((vmExec: GpuVmExec) => ExtraResult) | undefined

  constructor(vm: GpuVm, opts: GpuVmExecOptions = {}) {
    const hub = hubOf(vm)
    const o = readArgument('GpuVmExec options', () => {
      const v = options<GpuVmExecOptions>(opts, 'GpuVmExec options', true)
      return {
        numFences: fences(v.numFences),
        extra: v.extra === undefined ? undefined : func<(vmExec: GpuVmExec) => ExtraResult>(v.extra, 'extra'),
        interruptible: flag(v.interruptible, 'interruptible'),
        ignoreDuplicates: flag(v.ignoreDuplicates, 'ignoreDuplicates'),
      }
    })
    const device = hub.device
    if (device === null) throw new DrmError('EINVAL', `VA space '${vm.name}' has no device to lock on`)
    this.vm = vm
    this.numFences = o.numFences
    this.#extra = o.extra
    this.exec = new Exec(device, { interruptible: o.interruptible, ignoreDuplicates: o.ignoreDuplicates })
  }

  /** `drm_gpuvm_exec_lock`. */
  lock(): this {
    return runSync(this.exec.device, this.lockOp())
  }

  *lockOp(): Op<this> {
    const extra = this.#extra
    yield* this.#loop(function* (self) {
      const n = self.numFences
      let r = yield* prepareVmOp(self.vm, self.exec, n)
      if (r === 0) r = yield* prepareObjectsOp(self.vm, self.exec, n)
      if (r === 0 && extra) {
        const out = extra(self)
        r = execResult(types.isGeneratorObject(out) ? yield* out as Op<ExecResult> : out)
      }
      return r
    })
    return this
  }

  /** `drm_gpuvm_exec_lock_array`: the VM's and external objects, then `objs` (in place of `extra`). */
  lockArray(objs: readonly GemObject[]): this {
    return runSync(this.exec.device, this.lockArrayOp(objs))
  }

  *lockArrayOp(objs: readonly GemObject[]): Op<this> {
    const all = list(objs, 'objs') as GemObject[]
    yield* this.#loop(function* (self) {
      const n = self.numFences
      let r = yield* prepareVmOp(self.vm, self.exec, n)
      if (r === 0) r = yield* prepareObjectsOp(self.vm, self.exec, n)
      if (r === 0) r = yield* self.exec.prepareArrayOp(all, n)
      return r
    })
    return this
  }

  /** `drm_gpuvm_exec_lock_range`: only the objects of the range (not the VM's reservation). */
  lockRange(addr: bigint, range: bigint): this {
    return runSync(this.exec.device, this.lockRangeOp(addr, range))
  }

  *lockRangeOp(addr: bigint, range: bigint): Op<this> {
    const [a, r] = [u64(addr, 'addr'), u64(range, 'range')]
    yield* this.#loop((self) => prepareRangeOp(self.vm, self.exec, a, r, self.numFences))
    return this
  }

  /** `drm_gpuvm_exec_validate`. */
  validate(): void {
    validate(this.vm, this.exec)
  }

  /** `drm_gpuvm_exec_resv_add_fence`. */
  resvAddFence(fence: Fence, privateUsage: UsageName, extobjUsage: UsageName): void {
    resvAddFence(this.vm, this.exec, fence, privateUsage, extobjUsage)
  }

  /** `drm_gpuvm_exec_unlock`. */
  unlock(): void {
    this.exec.fini()
  }

  [Symbol.dispose](): void {
    this.unlock()
  }

  /** The retry loop: contention restarts the body; any other error unlocks everything and is thrown. */
  *#loop(body: (self: GpuVmExec) => Op<ExecResult>): Op<void> {
    const self = this
    try {
      yield* this.exec.untilAllLockedOp(function* (e) {
        const r = yield* body(self)
        e.retryOnContention()
        if (r !== 0) fail(r, 'drm_gpuvm_exec_lock')
      })
    } catch (err) {
      this.exec.fini()
      throw err
    }
  }
}
