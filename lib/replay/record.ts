import { Device } from '../device/device.js'
import type { Exec } from '../device/exec.js'
import type { GemObject, Mapping } from '../device/gem.js'
import type { Fence, WwAcquireCtx } from '../device/resv.js'
import type { Place, PlaceDomain, ValidateResult } from '../device/placement.js'
import type { GpuVm, MapRequest } from '../gpuvm/gpuvm.js'
import type { Op, OpCounts, OpList } from '../gpuvm/ops.js'
import { VmBo } from '../gpuvm/vm-bo.js'
import type { DomainName, ProfileName, UsageName, WwClassName } from '../contract/device.js'
import type { EraName } from '../contract/hub.js'
import type { EngineName } from '../contract/vm.js'
import { hex } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import { mappingLines } from './expect.js'
import { addFence, type ExecHandle, execLock, liveVmBo, ReplayDriver, smMapLockWalk, smUnmapLockWalk } from './hub.js'
// Atomic bind arrays.
import { type RecordedArrayOp, recordedArray } from './array.js'
// Bind queues and fences.
import { QueueRecorder } from './record-queue.js'
import { HandleNames } from './record-names.js'

export type {
  ReplayOptions,
  ReplayStep,
  ReplayPiece,
  ReplayValue,
  ReplayRecord,
  ReplaySummary,
  ReplayResult,
} from './result.js'

// --- recording ----------------------------------------------------------------

export interface RecorderOptions {
  /** Engine of the device and the VA spaces (default: DRMSIM_ENGINE or native). */
  engine?: EngineName
  /** Domain capacities in bytes (the replay's defaults: 256 MiB VRAM, 1 GiB GTT, unbounded SYSTEM). */
  vram?: bigint
  gtt?: bigint
  system?: bigint
  profile?: ProfileName
  wwClass?: WwClassName
  /** Takes each line (without its newline) as it is recorded; by default they are kept for `text()`. */
  write?: (line: string) => void
}

/** What a recorder names: a VA space, a GEM object, an acquire context or an exec context (its drm_exec). */
export type RecorderHandle = GpuVm | GemObject | WwAcquireCtx | Exec

/** A `vm.create` of the Recorder: naming `era` (past the seed's), `resvProtected` or `immediateMode` makes a drm_gpuvm. */
export interface RecorderVmOptions {
  name?: string
  range: bigint
  start?: bigint
  reserve?: { offset: bigint; range: bigint } | null
  era?: EraName
  resvProtected?: boolean
  immediateMode?: boolean
}

/** A lock-only walk of the Recorder (`vm.sm_map_exec_lock`, `vm.sm_unmap_exec_lock`). */
export interface RecorderLockWalkOptions {
  /** The exec context's name in the file (default `exec1`, `exec2`, ...). */
  name?: string
  /** Fence slots on the VM's reservation and the mapped object (sm_map only). */
  numFences?: number
  /** `DRM_EXEC_IGNORE_DUPLICATES` (default true). */
  ignoreDuplicates?: boolean
}

/** A `vm.exec_lock` of the Recorder. */
export interface RecorderExecOptions {
  /** The exec context's name in the file (default `exec1`, `exec2`, ...). */
  name?: string
  numFences?: number
  /** Also these (`drm_gpuvm_exec_lock_array`). */
  objs?: readonly GemObject[]
  /** Only the objects of this range (`drm_gpuvm_exec_lock_range`). */
  range?: { addr: bigint; range: bigint }
  /** `DRM_EXEC_IGNORE_DUPLICATES` (default true). */
  ignoreDuplicates?: boolean
}

/**
 * Records what a program does with a simulated device as a replay file
 * (JSON Lines, as `drmsim replay` reads it). The program makes its calls
 * through the recorder: each method writes the request's line, then makes
 * the call the replay makes for that line (`drmsim replay` runs the file to
 * the same state), and returns what the API returned. The VA spaces, objects,
 * acquire contexts, exec contexts (their drm_exec) and vm_bos it returns are
 * the real handles, to be used with any other (unrecorded) read of the API;
 * they are named in the file by the name given, or `vm1`, `bo1`, `ctx1`,
 * `exec1`, ... (a vm_bo by its VA space and object). A call that throws stays
 * recorded (replay it with --keep-going to go past it, as the program did).
 *
 *   const rec = new Recorder({ vram: 16n << 20n })
 *   const vm = rec.createVm({ range: 1n << 48n, reserve: { offset: 0n, range: 0x1000n } })
 *   const bo = rec.createObject({ name: 'color', size: 0x400000n })
 *   rec.bind(vm, { addr: 0x100000n, range: 0x400000n, obj: bo })
 *   writeFileSync('prog.jsonl', rec.text())
 */
export class Recorder {
  readonly device: Device
  readonly engine: EngineName | undefined
  readonly #write: (line: string) => void
  readonly #lines: string[] = []
  /** The handles' names in the file (record-names.ts). */
  readonly #n = new HandleNames()
  /** The driver of the recorded drm_gpuvms, as the replay's. */
  readonly #driver = new ReplayDriver(() => this.device)
  readonly #execs = new WeakMap<Exec, ExecHandle>()

  constructor(options: RecorderOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw new DrmError('EINVAL', 'Recorder options must be an object')
    this.engine = options.engine
    this.#write = options.write ?? ((line) => this.#lines.push(line))
    const memory: { vram?: bigint; gtt?: bigint; system?: bigint } = {}
    const line: Record<string, unknown> = { op: 'device' }
    for (const k of ['vram', 'gtt', 'system'] as const) {
      if (options[k] !== undefined) {
        memory[k] = options[k]
        line[k] = hex(options[k])
      }
    }
    if (options.profile !== undefined) line.profile = options.profile
    if (options.wwClass !== undefined) line.wwClass = options.wwClass
    // Replay files name no allocator: VRAM on drm_mm, as the replayer makes it (ttm-res).
    const vram = { size: memory.vram ?? 256n << 20n, allocator: 'mm' as const }
    this.device = new Device({
      engine: options.engine,
      memory: { ...memory, vram },
      profile: options.profile,
      wwClass: options.wwClass,
    })
    if (Object.keys(line).length > 1) this.#line(line)
  }

  /** The lines recorded so far, each with its newline (empty when a `write` option takes them). */
  text(): string {
    return this.#lines.map((l) => `${l}\n`).join('')
  }

  /** The name a handle has in the file. */
  nameOf(handle: RecorderHandle): string | undefined {
    return this.#n.nameOf(handle)
  }

  /**
   * `vm.create`: a VA space attached to the device, or, when `era` (past the
   * seed's), `resvProtected` or `immediateMode` is given, a drm_gpuvm on it.
   */
  createVm(options: RecorderVmOptions): GpuVm {
    const name = this.#n.fresh('vm', options.name)
    const line: Record<string, unknown> = { op: 'vm.create', vm: name, range: hex(options.range) }
    if (options.start !== undefined) line.start = hex(options.start)
    if (options.reserve) line.reserve = [hex(options.reserve.offset), hex(options.reserve.range)]
    for (const k of ['era', 'resvProtected', 'immediateMode'] as const)
      if (options[k] !== undefined) line[k] = options[k]
    this.#line(line)
    const vm = this.#driver.createVm({ ...options, name }, this.engine)
    return this.#n.named(vm, 'vm', name)
  }

  /** `vm.destroy`. */
  destroyVm(vm: GpuVm): void {
    const name = this.#n.name(vm, 'vm', 'a VA space')
    this.#line({ op: 'vm.destroy', vm: name })
    this.#n.drop('vm', name)
    this.#settled(() => vm.destroy())
  }

  /**
   * `obj.create`: a GEM object on the device, sharing `resv`'s reservation
   * when given, or the reservation of the drm_gpuvm `vm` (a private object;
   * `resv: vm.resvObject` says the same).
   */
  createObject(options: {
    name?: string
    size: bigint
    profile?: ProfileName
    resv?: GemObject
    vm?: GpuVm
  }): GemObject {
    let vm = options.vm
    if (vm === undefined && options.resv !== undefined && !this.#n.has(options.resv))
      vm = this.#n.vmOfResv(options.resv)
    if (vm !== undefined && options.resv !== undefined && options.resv !== vm.resvObject)
      throw new DrmError('EINVAL', 'Recorder: createObject shares one reservation: give resv or vm, not both')
    const vmName = vm === undefined ? undefined : this.#n.name(vm, 'vm', 'a VA space')
    const resv =
      vm !== undefined || options.resv === undefined ? undefined : this.#n.name(options.resv, 'obj', 'an object')
    const name = this.#n.fresh('obj', options.name)
    const line: Record<string, unknown> = { op: 'obj.create', obj: name, size: hex(options.size) }
    if (options.profile !== undefined) line.profile = options.profile
    if (resv !== undefined) line.resv = resv
    if (vmName !== undefined) line.vm = vmName
    this.#line(line)
    let shared = options.resv
    if (vm !== undefined) {
      if (vm.resvObject === null)
        throw new DrmError('EINVAL', `VA space '${vm.name}' is not a drm_gpuvm: it has no reservation to share`)
      shared = vm.resvObject
    }
    const obj = this.device.createObject({ size: options.size, profile: options.profile, resv: shared })
    return this.#n.named(obj, 'obj', name)
  }

  /** `obj.destroy`: drops the object's reference; whether it was freed. */
  destroyObject(obj: GemObject): boolean {
    const name = this.#n.name(obj, 'obj', 'an object')
    this.#line({ op: 'obj.destroy', obj: name })
    this.#n.drop('obj', name)
    return obj.put()
  }

  /**
   * `bind`: the split/merge steps of mapping the range (to `obj`, or sparse
   * when it is null or absent), each applied. With `exec`, the replay checks
   * the walk against that exec context's locks (`missing_locks`).
   */
  bind(vm: GpuVm, request: MapRequest, options: { exec?: Exec } = {}): OpCounts {
    const line: Record<string, unknown> = {
      op: 'bind',
      vm: this.#n.name(vm, 'vm', 'a VA space'),
      addr: hex(request.addr),
      range: hex(request.range),
      obj: request.obj == null ? null : this.#n.name(request.obj, 'obj', 'an object'),
    }
    if (request.offset !== undefined) line.offset = hex(request.offset)
    if (options.exec !== undefined) line.exec = this.#n.name(options.exec, 'exec', 'an exec context')
    this.#line(line)
    return this.#settled(() =>
      applied(vm, vm.mapSteps({ ...request, obj: request.obj ?? null, offset: request.offset ?? 0n })),
    )
  }

  /** `unbind`: the steps of unmapping the range, each applied (`exec` as for `bind`). */
  unbind(vm: GpuVm, addr: bigint, range: bigint, options: { exec?: Exec } = {}): OpCounts {
    const line: Record<string, unknown> = {
      op: 'unbind',
      vm: this.#n.name(vm, 'vm', 'a VA space'),
      addr: hex(addr),
      range: hex(range),
    }
    if (options.exec !== undefined) line.exec = this.#n.name(options.exec, 'exec', 'an exec context')
    this.#line(line)
    return this.#settled(() => applied(vm, vm.unmapSteps(addr, range)))
  }

  /** `bind.array`: the requests as one atomic array (`vm.bindArray`, all or none); `failAt` injects a failure. */
  bindArray(vm: GpuVm, ops: readonly RecordedArrayOp[], options: { failAt?: number } = {}): OpCounts {
    const array = recordedArray(ops, (obj) => this.#n.name(obj, 'obj', 'an object'))
    const line: Record<string, unknown> = { op: 'bind.array', vm: this.#n.name(vm, 'vm', 'a VA space'), ops: array.ops }
    if (options.failAt !== undefined) line.failAt = options.failAt
    this.#line(line)
    return this.#settled(() => vm.bindArray(array.batch, { failAt: options.failAt }))
  }

  /** `pin`: under the object's lock when the device's thread holds it (pinLocked), else pin. */
  pin(obj: GemObject, domain?: DomainName): number {
    const line: Record<string, unknown> = { op: 'pin', obj: this.#n.name(obj, 'obj', 'an object') }
    if (domain !== undefined) line.domain = domain
    this.#line(line)
    return this.#held(obj) ? obj.pinLocked(domain ?? 'current') : obj.pin(domain ?? 'current')
  }

  unpin(obj: GemObject): number {
    this.#line({ op: 'unpin', obj: this.#n.name(obj, 'obj', 'an object') })
    return this.#held(obj) ? obj.unpinLocked() : obj.unpin()
  }

  /** `vmap`: vmapLocked under the lock, else the long-term vmap. */
  vmap(obj: GemObject): Mapping {
    this.#line({ op: 'vmap', obj: this.#n.name(obj, 'obj', 'an object') })
    return this.#held(obj) ? obj.vmapLocked() : obj.vmap()
  }

  vunmap(obj: GemObject): number {
    this.#line({ op: 'vunmap', obj: this.#n.name(obj, 'obj', 'an object') })
    return this.#held(obj) ? obj.vunmapLocked() : obj.vunmap()
  }

  /** `ctx.init`: an acquire context. */
  initCtx(name?: string): WwAcquireCtx {
    const n = this.#n.fresh('ctx', name)
    this.#line({ op: 'ctx.init', ctx: n })
    return this.#n.named(this.device.acquireCtx(), 'ctx', n)
  }

  /** `ctx.fini`. */
  finiCtx(ctx: WwAcquireCtx): void {
    const name = this.#n.name(ctx, 'ctx', 'an acquire context')
    this.#line({ op: 'ctx.fini', ctx: name })
    this.#n.drop('ctx', name)
    ctx.fini()
  }

  /** `lock`: the object's reservation, in `ctx` when given. */
  lock(obj: GemObject, ctx?: WwAcquireCtx): void {
    const line: Record<string, unknown> = { op: 'lock', obj: this.#n.name(obj, 'obj', 'an object') }
    if (ctx !== undefined) line.ctx = this.#n.name(ctx, 'ctx', 'an acquire context')
    this.#line(line)
    obj.resv.lock(ctx ?? null)
  }

  unlock(obj: GemObject): void {
    this.#line({ op: 'unlock', obj: this.#n.name(obj, 'obj', 'an object') })
    obj.resv.unlock()
  }

  /** `validate`: places as domain names or `Place`s. */
  validate(obj: GemObject, placement: readonly (PlaceDomain | Place)[]): ValidateResult {
    const places = placement.map((p) => (typeof p === 'string' ? { domain: p } : p))
    this.#line({ op: 'validate', obj: this.#n.name(obj, 'obj', 'an object'), placement: written(places) })
    return this.device.validate(obj, places)
  }

  /** `expect`: a line asserting the VA space's mappings as they are now (the replay checks them there); how many. */
  expect(vm: GpuVm): number {
    const mappings = mappingLines(vm, (obj) => this.#n.name(obj, 'obj', 'an object'))
    this.#line({ op: 'expect', vm: this.#n.name(vm, 'vm', 'a VA space'), mappings })
    return mappings.length
  }

  // --- the drm_gpuvm hub ------------------------------------------------------------------

  /** `vm.get`: the refcount after it. */
  getVm(vm: GpuVm): number {
    this.#line({ op: 'vm.get', vm: this.#n.name(vm, 'vm', 'a VA space') })
    return vm.get().refcount
  }

  /** `vm.put`: the refcount left; at 0 the VM is torn down and its name is free again. */
  putVm(vm: GpuVm): number {
    this.#line({ op: 'vm.put', vm: this.#n.name(vm, 'vm', 'a VA space') })
    return this.#settled(() => vm.put())
  }

  /** `vm.info`: the replay prints the VM's refcount, vm_bos and lists; here they are returned. */
  vmInfo(vm: GpuVm): { refcount: number; vmBos: VmBo[]; extobj: VmBo[]; evict: VmBo[]; defer: VmBo[] } {
    this.#line({ op: 'vm.info', vm: this.#n.name(vm, 'vm', 'a VA space') })
    const vmBos = vm.vmBos()
    return { refcount: vm.refcount, vmBos, extobj: vm.extobjList(), evict: vm.evictList(), defer: vm.deferList() }
  }

  /** `vm.deferred_cleanup`: how many zombie vm_bos were freed. */
  deferredCleanup(vm: GpuVm): number {
    this.#line({ op: 'vm.deferred_cleanup', vm: this.#n.name(vm, 'vm', 'a VA space') })
    return this.#settled(() => vm.deferredCleanup())
  }

  /** `vmbo.obtain`: `obtain_locked`, or `obtain_prealloc` with `prealloc`. */
  obtainVmBo(vm: GpuVm, obj: GemObject, options: { prealloc?: boolean } = {}): VmBo {
    const line: Record<string, unknown> = {
      op: 'vmbo.obtain',
      vm: this.#n.name(vm, 'vm', 'a VA space'),
      obj: this.#n.name(obj, 'obj', 'an object'),
    }
    if (options.prealloc !== undefined) line.prealloc = options.prealloc
    this.#line(line)
    return options.prealloc ? vm.obtainPrealloc(obj) : vm.obtain(obj)
  }

  /** `vmbo.get` on `bo`, which must be its object's live vm_bo (the one the replay finds). */
  getVmBo(bo: VmBo): VmBo {
    this.#vmBoLine('vmbo.get', bo)
    return bo.get()
  }

  /** `vmbo.put` (`deferred`: `put_deferred`): whether that was the last reference. */
  putVmBo(bo: VmBo, options: { deferred?: boolean } = {}): boolean {
    this.#vmBoLine('vmbo.put', bo, options.deferred === undefined ? {} : { deferred: options.deferred })
    return this.#settled(() => (options.deferred ? bo.putDeferred() : bo.put()))
  }

  /** `vmbo.evict` (`evict` false: the vm_bo is valid again). */
  evictVmBo(bo: VmBo, evict?: boolean): void {
    this.#vmBoLine('vmbo.evict', bo, evict === undefined ? {} : { evict })
    bo.evict(evict ?? true)
  }

  /** `vmbo.extobj_add`. */
  extobjAdd(bo: VmBo): void {
    this.#vmBoLine('vmbo.extobj_add', bo)
    bo.extobjAdd()
  }

  /** `vm.madvise`: the op list, the VA space unchanged. */
  madvise(vm: GpuVm, request: MapRequest): OpList {
    const line: Record<string, unknown> = {
      op: 'vm.madvise',
      vm: this.#n.name(vm, 'vm', 'a VA space'),
      addr: hex(request.addr),
      range: hex(request.range),
    }
    if (request.obj != null) line.obj = this.#n.name(request.obj, 'obj', 'an object')
    if (request.offset !== undefined) line.offset = hex(request.offset)
    this.#line(line)
    return vm.madviseOps(request)
  }

  /** `vm.exec_lock`: an exec context, locked until `execUnlock`; its drm_exec is returned (`objects`: the lock set). */
  execLock(vm: GpuVm, options: RecorderExecOptions = {}): Exec {
    const vmName = this.#n.name(vm, 'vm', 'a VA space')
    const objs = options.objs?.map((o) => this.#n.name(o, 'obj', 'an object'))
    const name = this.#n.fresh('exec', options.name)
    const line: Record<string, unknown> = { op: 'vm.exec_lock', vm: vmName, exec: name }
    if (options.numFences !== undefined) line.numFences = options.numFences
    if (objs !== undefined) line.objs = objs
    if (options.range !== undefined) {
      line.addr = hex(options.range.addr)
      line.range = hex(options.range.range)
    }
    if (options.ignoreDuplicates !== undefined) line.ignoreDuplicates = options.ignoreDuplicates
    this.#line(line)
    return this.#exec(execLock(vm, options), name)
  }

  /** `vm.sm_map_exec_lock`: an exec context locking the VM's reservation and what `sm_map` of `request` would touch. */
  smMapExecLock(vm: GpuVm, request: MapRequest, options: RecorderLockWalkOptions = {}): Exec {
    const line: Record<string, unknown> = { op: 'vm.sm_map_exec_lock', vm: this.#n.name(vm, 'vm', 'a VA space') }
    const fields = {
      addr: hex(request.addr),
      range: hex(request.range),
      obj: request.obj == null ? undefined : this.#n.name(request.obj, 'obj', 'an object'),
      offset: request.offset === undefined ? undefined : hex(request.offset),
    }
    const name = this.#n.fresh('exec', options.name)
    Object.assign(line, { exec: name }, withoutUndefined(fields), this.#walkFields(options))
    this.#line(line)
    return this.#exec(smMapLockWalk(vm, request, options), name)
  }

  /** `vm.sm_unmap_exec_lock`: likewise for `sm_unmap` of the range. */
  smUnmapExecLock(
    vm: GpuVm,
    addr: bigint,
    range: bigint,
    options: Omit<RecorderLockWalkOptions, 'numFences'> = {},
  ): Exec {
    const line: Record<string, unknown> = { op: 'vm.sm_unmap_exec_lock', vm: this.#n.name(vm, 'vm', 'a VA space') }
    const name = this.#n.fresh('exec', options.name)
    Object.assign(line, { exec: name, addr: hex(addr), range: hex(range) }, this.#walkFields(options))
    this.#line(line)
    return this.#exec(smUnmapLockWalk(vm, addr, range, options), name)
  }

  /**
   * `vm.validate`: `drm_gpuvm_validate` under the exec context; each evicted
   * vm_bo is placed into `placement` and its evict mark cleared. Returns the
   * vm_bos placed.
   */
  validateVm(exec: Exec, placement: readonly (PlaceDomain | Place)[]): VmBo[] {
    const h = this.#execHandle(exec)
    const places = placement.map((p) => (typeof p === 'string' ? { domain: p } : p))
    this.#line({ op: 'vm.validate', exec: this.#n.name(exec, 'exec', 'an exec context'), placement: written(places) })
    return this.#driver.validate(h, places).validated
  }

  /** `vm.resv_add_fence`: a new fence on every object the exec context locked (usages default to bookkeep). */
  resvAddFence(exec: Exec, options: { privateUsage?: UsageName; extobjUsage?: UsageName } = {}): Fence {
    const h = this.#execHandle(exec)
    const line: Record<string, unknown> = {
      op: 'vm.resv_add_fence',
      exec: this.#n.name(exec, 'exec', 'an exec context'),
    }
    if (options.privateUsage !== undefined) line.privateUsage = options.privateUsage
    if (options.extobjUsage !== undefined) line.extobjUsage = options.extobjUsage
    this.#line(line)
    return addFence(h, options.privateUsage, options.extobjUsage).fence
  }

  /** `vm.exec_unlock`: drops the exec context's locks; its name is free again. */
  execUnlock(exec: Exec): void {
    const name = this.#n.name(exec, 'exec', 'an exec context')
    this.#line({ op: 'vm.exec_unlock', exec: name })
    this.#n.drop('exec', name)
    exec.fini()
  }

  // Bind queues and fences (record-queue.ts).
  #queues: QueueRecorder | null = null
  /** Bind queues, fences and the clock (`fence.create`, `queue.bind`, `clock.advance`, ...). */
  get queues(): QueueRecorder {
    this.#queues ??= new QueueRecorder({
      device: this.device,
      line: (line) => this.#line(line),
      vmName: (vm) => this.#n.name(vm, 'vm', 'a VA space'),
      objName: (obj) => this.#n.name(obj, 'obj', 'an object'),
    })
    return this.#queues
  }

  #line(line: Record<string, unknown>): void {
    this.#write(JSON.stringify(line))
  }

  /** Runs a call that may free vm_bos or tear a VM down; a VM torn down gives up its name, as in the replay. */
  #settled<T>(call: () => T): T {
    try {
      return call()
    } finally {
      for (const vm of this.#driver.take().freedVms) this.#n.dropVm(vm)
    }
  }

  /** The line of a vm_bo op: its VA space and object; it must be the object's live vm_bo, the one the replay finds. */
  #vmBoLine(op: string, bo: VmBo, extra: Record<string, unknown> = {}): void {
    if (!VmBo.isVmBo(bo)) throw new DrmError('EINVAL', 'Recorder: expected a VmBo')
    const vm = this.#n.name(bo.vm, 'vm', 'a VA space')
    const obj = this.#n.name(bo.obj, 'obj', 'an object')
    if (bo.freed || liveVmBo(bo.vm, bo.obj) !== bo)
      throw new DrmError(
        'EINVAL',
        `Recorder: ${bo} is not its object's live vm_bo, which is all a replay line can name`,
      )
    this.#line({ op, vm, obj, ...extra })
  }

  #walkFields(options: RecorderLockWalkOptions): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    if (options.numFences !== undefined) out.numFences = options.numFences
    if (options.ignoreDuplicates !== undefined) out.ignoreDuplicates = options.ignoreDuplicates
    return out
  }

  #exec(h: ExecHandle, name: string): Exec {
    this.#execs.set(h.exec, h)
    return this.#n.named(h.exec, 'exec', name)
  }

  #execHandle(exec: Exec): ExecHandle {
    const h = this.#execs.get(exec)
    if (h === undefined) throw new DrmError('EINVAL', 'Recorder: not an exec context made by this recorder')
    return h
  }

  #held(obj: GemObject): boolean {
    return obj.resv.isLocked && obj.resv.holder === this.device.thread
  }
}

/** Applies a walk's steps one by one, as the replay's bind and unbind do; the counts. */
function applied(vm: GpuVm, steps: Iterable<Op>): OpCounts {
  const counts: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
  for (const op of steps) {
    vm.apply(op)
    if (op.kind in counts) counts[op.kind as keyof OpCounts]++
    // A drm_gpuvm torn down with its last mapping ends the walk, as in the replay.
    if (vm.destroyed) break
  }
  return counts
}

/** Places as a replay line writes them: a domain name, or an object with the flags set. */
function written(places: readonly Place[]): unknown[] {
  return places.map((p) => {
    const flags = (['desired', 'fallback', 'topDown'] as const).filter((f) => p[f])
    return flags.length ? { domain: p.domain, ...Object.fromEntries(flags.map((f) => [f, true])) } : p.domain
  })
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}
