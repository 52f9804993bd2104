/**
 * What a replay keeps between requests: the device, its VA spaces, objects,
 * acquire contexts and exec contexts by name, the driver of its drm_gpuvms,
 * the counters of the summary, and the helpers the op handlers (replayer.ts)
 * share to look handles up, create them within the handle limit, and turn
 * steps, vm_bos and violations into named records.
 */
import { Device } from '../device/device.js'
import type { EngineName } from '../contract/vm.js'
import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { Op, OpMap } from '../gpuvm/ops.js'
import type { VmBo } from '../gpuvm/vm-bo.js'
import { type ExecHandle, ReplayDriver } from './hub.js'
import type { WwAcquireCtx } from '../device/resv.js'
import type { ReplayPiece, ReplayRecord, ReplayStep, ReplaySummary } from './record.js'
import { show } from './fields.js'
import { ReplayError, type ReplayRequest } from './schema.js'

/** A live handle and the line that created it. */
export interface Named<T> {
  value: T
  line: number
}

/** The summary's counters kept as the replay goes (the rest is computed at the end). */
export type Counters = Omit<ReplaySummary, 'mappings' | 'bytesMoved' | 'evictions' | 'stateFnv1a64'>

export class ReplayState {
  #device: Device | null = null
  readonly vms = new Map<string, Named<GpuVm>>()
  readonly objs = new Map<string, Named<GemObject>>()
  readonly ctxs = new Map<string, Named<WwAcquireCtx>>()
  /** Exec contexts (`vm.exec_lock`, the lock-only walks), locked until `vm.exec_unlock`. */
  readonly execs = new Map<string, Named<ExecHandle>>()
  readonly names = new WeakMap<GemObject, string>()
  /** The driver of the replay's drm_gpuvms (their callbacks). */
  readonly driver = new ReplayDriver(() => this.device)
  /** Set when no one reads the records' steps (`Replayer.discardRecords`): fast-lines.ts may skip them. */
  countsOnly = false
  /** Names whose create failed under keepGoing: later uses are simulation errors, not format errors. */
  readonly failed = new Map<string, number>()
  readonly s: Counters = {
    requests: 0,
    vms: 0,
    objects: 0,
    ops: { map: 0, remap: 0, unmap: 0 },
    pins: 0,
    vmaps: 0,
    locks: 0,
    validates: 0,
    violations: 0,
    warnings: 0,
    errors: 0,
  }

  constructor(
    readonly file: string,
    readonly engine: EngineName | undefined,
    readonly maxHandles: number,
  ) {}

  /** The device, made with the default options on first use unless a `device` request set it up. */
  get device(): Device {
    // Replay files name no allocator: VRAM on drm_mm (ttm-res).
    if (!this.#device)
      this.#device = new Device({ engine: this.engine, memory: { vram: { size: 256n << 20n, allocator: 'mm' } } })
    return this.#device
  }

  set device(device: Device) {
    this.#device = device
  }

  /** Whether the device exists yet. */
  get hasDevice(): boolean {
    return this.#device !== null
  }

  at(line: number, field?: string) {
    return { file: this.file, line, field }
  }

  format(line: number, field: string | undefined, message: string): never {
    throw new ReplayError('format', 'EINVAL', this.at(line, field), message)
  }

  /** Gathers the violations the device recorded (so none pile up inside it). */
  collect(record: ReplayRecord): void {
    const device = this.#device
    if (!device) return
    for (const v of device.takeViolations()) {
      const obj = v.object ? device.object(v.object) : undefined
      record.violations.push({
        kind: v.kind,
        obj: obj ? (this.names.get(obj) ?? `#${v.object}`) : null,
        message: v.message,
        rule: v.rule,
      })
      this.s.violations++
    }
  }

  warnings(vm: GpuVm, record: ReplayRecord): void {
    const w = vm.takeWarnings()
    record.warnings.push(...w)
    this.s.warnings += w.length
  }

  #handles(): number {
    return this.vms.size + this.objs.size + this.ctxs.size + this.execs.size
  }

  create<T>(map: Map<string, Named<T>>, what: string, field: string, name: string, line: number, make: () => T): T {
    const old = map.get(name)
    if (old)
      this.format(line, field, `duplicate ${what} name ${show(name)} (created at line ${old.line} and not destroyed)`)
    if (this.#handles() >= this.maxHandles) {
      this.format(line, field, `too many live handles (VMs + objects + contexts): the limit is ${this.maxHandles}`)
    }
    this.failed.delete(`${what}:${name}`)
    try {
      const value = make()
      map.set(name, { value, line })
      return value
    } catch (err) {
      if (this.failed.size < this.maxHandles) this.failed.set(`${what}:${name}`, line)
      throw err
    }
  }

  get<T>(map: Map<string, Named<T>>, what: string, field: string, name: string, line: number): T {
    const h = map.get(name)
    if (h) return h.value
    const failedAt = this.failed.get(`${what}:${name}`)
    if (failedAt !== undefined) {
      throw new ReplayError(
        'simulation',
        'EINVAL',
        this.at(line, field),
        `${what} ${show(name)} does not exist: its creation at line ${failedAt} failed`,
      )
    }
    return this.format(line, field, `unknown ${what} ${show(name)} (not created, or destroyed)`)
  }

  vm(req: ReplayRequest): GpuVm {
    return this.get(this.vms, 'vm', 'vm', req.vm!, req.line)
  }

  obj(req: ReplayRequest, field = 'obj', name = req.obj as string): GemObject {
    return this.get(this.objs, 'obj', field, name, req.line)
  }

  ctx(req: ReplayRequest): WwAcquireCtx {
    return this.get(this.ctxs, 'ctx', 'ctx', req.ctx!, req.line)
  }

  exec(req: ReplayRequest): ExecHandle {
    return this.get(this.execs, 'exec', 'exec', req.exec!, req.line)
  }

  /** A vm_bo as lists print it: its object's name, `#`, its id (`color#2`). */
  vmBo(bo: VmBo): string {
    return `${this.name(bo.obj)}#${bo.id}`
  }

  /** A vm_bo with its state: `color#2:ref3`, then `:ext`, `:evicted`, `:zombie` as they apply. */
  vmBoState(bo: VmBo): string {
    if (bo.freed) return `${this.vmBo(bo)}:freed`
    return `${this.vmBo(bo)}:ref${bo.refcount}${bo.external ? ':ext' : ''}${bo.evicted ? ':evicted' : ''}${bo.zombie ? ':zombie' : ''}`
  }

  /**
   * After a request: what the drm_gpuvm callbacks did during it. Freed
   * vm_bos go to the record (`freedVmBos`); a VM torn down (`vm_free`) gives
   * up its name, as `vm.destroy` does, with its last warnings.
   */
  settle(record: ReplayRecord): void {
    const { freedVmBos, freedVms } = this.driver.take()
    if (freedVmBos.length) record.result.freedVmBos = freedVmBos.map((bo) => this.vmBo(bo))
    for (const vm of freedVms) {
      record.result.vmFreed = true
      this.warnings(vm, record)
      for (const [name, h] of this.vms) if (h.value === vm) this.vms.delete(name)
    }
  }

  /** Does the replay's thread hold this object's reservation lock? */
  held(obj: GemObject): boolean {
    const r = obj.resv
    return r.isLocked && r.holder === this.device.thread
  }

  name(obj: GemObject | null): string | null {
    return obj === null ? null : (this.names.get(obj) ?? `#${obj.id}`)
  }

  /** Object names, as a list result. */
  objNames(objs: readonly GemObject[]): string[] {
    return objs.map((o) => this.name(o)!)
  }

  /** A step of the split/merge walk with object names. */
  step(op: Op): ReplayStep {
    switch (op.kind) {
      case 'map':
        return {
          kind: 'map',
          addr: op.map.addr,
          range: op.map.range,
          obj: this.name(op.map.obj),
          offset: op.map.offset,
        }
      case 'remap': {
        const va = op.unmap.va
        return {
          kind: 'remap',
          addr: va.addr,
          range: va.range,
          keep: op.unmap.keep,
          prev: this.#piece(op.prev),
          next: this.#piece(op.next),
        }
      }
      case 'unmap':
        return {
          kind: 'unmap',
          addr: op.va.addr,
          range: op.va.range,
          obj: this.name(op.va.obj),
          offset: op.va.offset,
          keep: op.keep,
        }
      default:
        throw new DrmError('EINVAL', `unexpected ${op.kind} step`)
    }
  }

  #piece(p: OpMap | null): ReplayPiece | null {
    return p && { addr: p.addr, range: p.range, obj: this.name(p.obj), offset: p.offset }
  }
}
