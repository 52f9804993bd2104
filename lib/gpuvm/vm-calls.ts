/**
 * The plumbing between a `GpuVm` and its engine core: warnings collected
 * after each call, the walk slot that a later split/merge call ends, step
 * callbacks that may not re-enter the engine, and the conversions between
 * the API's values (`Va`, ops, map requests) and the engine's records.
 * `GpuVm` (gpuvm.ts) owns one and delegates to it.
 */
import { describe, readArgument, unreadable } from '../base/check.js'
import { DrmError, DrmWarning, type Warning } from '../base/errors.js'
import type { CursorCore, MapRecord, OpRecord, VaRecord, VmCore } from '../contract/vm.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from './gpuvm.js'
import type { MapRequest, StepCallbacks } from './gpuvm-options.js'
import type { ObjectLookup, ObjectTable } from './objects.js'
import type { AnyOp, Op, OpCounts } from './ops.js'
import { opFromRecord, PackedOps } from './packed-ops.js'
import type { VmHub } from './hub.js'
import { type BindBatch, batchContents, perRequestCounts } from './batch.js'
import { arrayOptions, type BindArrayOptions } from './array.js'
import { mintVa, Va } from './va.js'
import { u64Fast } from './fast-check.js'

const notRequest = (request: unknown): DrmError =>
  new DrmError('EINVAL', `a map request must be an object, got ${describe(request)}`)

/** Shared by the VA spaces that have no warning yet. */
const NO_WARNINGS: readonly Warning[] = Object.freeze([])

/** An iterator walk handed out by `mapSteps` / `unmapSteps`. */
interface Walk {
  readonly cursor: CursorCore
  /** A later split/merge call ended it: its next step is EBUSY. */
  superseded: boolean
}

/** @internal One per `GpuVm`: its engine calls' plumbing. */
export class VmCalls {
  /** The drm_gpuvm hub, settled after each split/merge call (set once the hub is made). */
  hub: VmHub | null = null
  readonly #vm: GpuVm
  readonly #core: VmCore
  /** The GEM objects its mappings, walks and op lists name (see objects.ts). */
  readonly #objects: ObjectTable
  readonly #hubbed: boolean
  #warnings: readonly Warning[] = NO_WARNINGS
  /** The iterator walk handed out last and not yet ended: a later split/merge call ends it. */
  #walk: Walk | null = null
  /** Set while a step callback of `smMap`/`smUnmap` runs: re-entering the engine then is EBUSY. */
  #inStep = false

  /**
   * `hubbed`: the VA space has a drm_gpuvm hub, so a step that drops its
   * last reference tears it down (and ends a walk).
   */
  constructor(vm: GpuVm, core: VmCore, objects: ObjectTable, hubbed: boolean) {
    this.#vm = vm
    this.#core = core
    this.#objects = objects
    this.#hubbed = hubbed
  }

  // --- warnings ---------------------------------------------------------------

  /** Warnings recorded so far (kernel WARNs), oldest first. */
  warnings(): readonly Warning[] {
    this.pull()
    return this.#warnings
  }

  /** Returns and forgets the recorded warnings. */
  takeWarnings(): Warning[] {
    this.pull()
    const taken = this.#warnings
    this.#warnings = NO_WARNINGS
    return taken === NO_WARNINGS ? [] : (taken as Warning[])
  }

  /** Runs an engine call, then collects the warnings it recorded (even when it threw). */
  run<T>(call: () => T): T {
    try {
      return call()
    } finally {
      this.sync()
    }
  }

  /**
   * `run` for the calls that record warnings only when they fail (a bind or
   * an insert warns only about an overflowing range, which it refuses;
   * queries never warn): the warnings are fetched on failure alone, saving a
   * crossing.
   */
  quiet<T>(call: () => T): T {
    try {
      return call()
    } catch (err) {
      this.sync()
      throw err
    }
  }

  sync(): void {
    const fresh = this.pull()
    if (fresh !== undefined && this.#vm.strict) throw new DrmWarning(fresh)
  }

  /** Moves the engine's new warnings here; returns the first, if any. */
  pull(): Warning | undefined {
    const fresh = this.#core.takeWarnings()
    if (fresh.length === 0) return undefined
    if (this.#warnings === NO_WARNINGS) this.#warnings = []
    ;(this.#warnings as Warning[]).push(...fresh)
    return fresh[0]
  }

  // --- walks and step callbacks -----------------------------------------------

  /**
   * Starts a split/merge call (bind, unbind, a batch, a walk, destroy).
   * From inside a step callback that is refused, as the kernel forbids it;
   * otherwise it ends the iterator walk still open, which nothing else would
   * end if its caller dropped it.
   */
  enter(): void {
    if (this.#inStep) {
      throw new DrmError('EBUSY', `a step callback of a split/merge walk is running on VA space '${this.#vm.name}'`)
    }
    const walk = this.#walk
    if (walk !== null) {
      this.#walk = null
      walk.superseded = true
      walk.cursor.close?.()
    }
  }

  /** An iterator walk: it takes over the VA space's walk slot when its first step is asked for. */
  *steal(open: () => CursorCore, obj: GemObject | null): IterableIterator<Op> {
    this.enter()
    const cursor = this.quiet(open)
    const walk: Walk = { cursor, superseded: false }
    this.#walk = walk
    const lookup: ObjectLookup =
      obj === null ? this.#objects.lookup : (id) => (id === obj.id ? obj : this.#objects.object(id))
    try {
      for (;;) {
        if (walk.superseded) {
          throw new DrmError('EBUSY', `this walk on VA space '${this.#vm.name}' was ended by a later split/merge call`)
        }
        // A step that dropped the VM's last reference tore it down: the walk is over.
        if (this.#hubbed && this.#core.destroyed) return
        const rec = this.quiet(() => cursor.step())
        if (rec === undefined) return
        yield opFromRecord(rec, this.#vm, lookup)
      }
    } finally {
      if (this.#walk === walk) this.#walk = null
      if (!walk.superseded) cursor.close?.()
    }
  }

  /** The step callbacks `call` needs, read once (a getter cannot change them mid-walk). */
  callbacks(steps: unknown, needed: (keyof StepCallbacks)[], call: string): StepCallbacks {
    return readArgument('the step callbacks', () => {
      const fns: StepCallbacks = {}
      for (const kind of needed) {
        const fn = (steps as StepCallbacks | null | undefined)?.[kind]
        if (typeof fn !== 'function') throw new DrmError('EINVAL', `${call} needs ${needed.join(', ')} step callbacks`)
        fns[kind] = fn.bind(steps) as never
      }
      return fns
    })
  }

  /** Runs a walk's steps through step callbacks; the engine cannot be re-entered from one. */
  steps(walk: IterableIterator<Op>, steps: StepCallbacks): void {
    for (const op of walk) {
      this.#inStep = true
      try {
        if (op.kind === 'map') steps.map!(op, this.#vm)
        else if (op.kind === 'remap') steps.remap!(op, this.#vm)
        else if (op.kind === 'unmap') steps.unmap!(op, this.#vm)
      } finally {
        this.#inStep = false
      }
    }
  }

  packed(make: () => BigUint64Array): PackedOps {
    const words = this.quiet(make)
    return new PackedOps(this.#vm, words, this.#objects.lookup)
  }

  // --- the split/merge calls (the bodies of GpuVm's) ---------------------------

  /** `GpuVm.apply`: one step, checked, applied. */
  apply(op: Op): void {
    this.#objects.room()
    let rec: OpRecord
    try {
      rec = this.opRecord(op)
    } catch (err) {
      throw unreadable(err, 'the op')
    }
    try {
      this.run(() => this.#core.apply(rec))
    } finally {
      this.hub?.settle()
    }
  }

  /** `GpuVm.bind`, its hot path. */
  bind(request: MapRequest): OpCounts {
    // The hot path: `#request` and `#quiet` written out, so that a call
    // allocates nothing but its result.
    if (typeof request !== 'object' || request === null) throw notRequest(request)
    this.#objects.room()
    let addr: bigint, range: bigint, obj: number, offset: bigint
    try {
      addr = u64Fast(request.addr, 'addr')
      range = u64Fast(request.range, 'range')
      obj = request.obj == null ? 0 : this.#objects.idOf(request.obj, 'obj')
      offset = u64Fast(request.offset ?? 0n, 'offset')
    } catch (err) {
      throw unreadable(err, 'the map request')
    }
    this.enter()
    try {
      return this.#core.bind(addr, range, obj, offset)
    } catch (err) {
      this.sync()
      throw err
    } finally {
      this.hub?.settle()
    }
  }

  /** `GpuVm.insert`, its hot path: `request` and `quiet` written out, as in `bind`. */
  insert(request: MapRequest): Va {
    this.#objects.room()
    if (typeof request !== 'object' || request === null) throw notRequest(request)
    let addr: bigint, range: bigint, obj: number, offset: bigint
    try {
      addr = u64Fast(request.addr, 'addr')
      range = u64Fast(request.range, 'range')
      obj = request.obj == null ? 0 : this.#objects.idOf(request.obj, 'obj')
      offset = u64Fast(request.offset ?? 0n, 'offset')
    } catch (err) {
      throw unreadable(err, 'the map request')
    }
    // An insert warns only about an overflowing range, which it refuses.
    let rec: VaRecord
    try {
      rec = this.#core.insert(addr, range, obj, offset)
    } catch (err) {
      this.sync()
      throw err
    }
    return mintVa(this.#vm, rec.addr, rec.range, this.#objects.object(rec.obj), rec.offset, rec.seq)
  }

  /** `GpuVm.unbind`. */
  unbind(addr: bigint, range: bigint): OpCounts {
    const a = u64Fast(addr, 'addr')
    const r = u64Fast(range, 'range')
    this.enter()
    try {
      return this.#core.unbind(a, r)
    } catch (err) {
      this.sync()
      throw err
    } finally {
      this.hub?.settle()
    }
  }

  /** `GpuVm.bindBatch`. */
  bindBatch(batch: BindBatch, perRequest?: Uint32Array | null): OpCounts {
    const { words, length, objects, objectCount } = batchContents(batch)
    const per = perRequestCounts(perRequest, length)
    this.#objects.adopt(objects, objectCount)
    this.enter()
    try {
      return this.quiet(() => this.#core.bindBatch(words, per))
    } finally {
      this.hub?.settle()
    }
  }

  /** `GpuVm.bindArray`. */
  bindArray(batch: BindBatch, options?: BindArrayOptions): OpCounts {
    const { words, length, objects, objectCount } = batchContents(batch)
    const { per, failAt } = arrayOptions(options, length)
    this.#objects.adopt(objects, objectCount)
    this.enter()
    try {
      return this.quiet(() => this.#core.bindArray(words, per, failAt))
    } finally {
      this.hub?.settle()
    }
  }

  // --- the API's values and the engine's records --------------------------------

  request(request: MapRequest, what = 'the map request'): MapRecord {
    if (typeof request !== 'object' || request === null) throw notRequest(request)
    try {
      return {
        addr: u64Fast(request.addr, 'addr'),
        range: u64Fast(request.range, 'range'),
        obj: request.obj == null ? 0 : this.#objects.idOf(request.obj, 'obj'),
        offset: u64Fast(request.offset ?? 0n, 'offset'),
      }
    } catch (err) {
      throw unreadable(err, what)
    }
  }

  own(va: unknown): Va {
    if (!Va.isVa(va)) throw new DrmError('EINVAL', `expected a Va, got ${describe(va)}`)
    if (va.vm !== this.#vm)
      throw new DrmError('EINVAL', `${va} belongs to VA space '${va.vm.name}', not '${this.#vm.name}'`)
    return va
  }

  va(rec: VaRecord): Va {
    return mintVa(this.#vm, rec.addr, rec.range, this.#objects.object(rec.obj), rec.offset, rec.seq)
  }

  maybeVa(rec: VaRecord | undefined): Va | undefined {
    return rec ? this.va(rec) : undefined
  }

  #vaRecord(va: unknown): VaRecord {
    const v = this.own(va)
    return { addr: v.addr, range: v.range, obj: v.obj?.id ?? 0, offset: v.offset, seq: v.seq, flags: 0 }
  }

  #mapRecord(m: unknown, what: string): MapRecord {
    if (typeof m !== 'object' || m === null)
      throw new DrmError('EINVAL', `${what} must be an object, got ${describe(m)}`)
    return this.request(m as MapRequest)
  }

  opRecord(op: unknown): OpRecord {
    if (typeof op !== 'object' || op === null)
      throw new DrmError('EINVAL', `an op must be an object, got ${describe(op)}`)
    const o = op as AnyOp
    switch (o.kind) {
      case 'map':
        return { kind: 'map', map: this.#mapRecord(o.map, 'map') }
      case 'remap':
        return {
          kind: 'remap',
          prev: o.prev ? this.#mapRecord(o.prev, 'prev') : null,
          next: o.next ? this.#mapRecord(o.next, 'next') : null,
          va: this.#vaRecord(o.unmap?.va),
          keep: o.unmap?.keep === true,
        }
      case 'unmap':
        return { kind: 'unmap', va: this.#vaRecord(o.va), keep: o.keep === true }
      case 'prefetch':
        return { kind: 'prefetch', va: this.#vaRecord(o.va) }
      case 'driver':
        throw new DrmError(
          'EINVAL',
          'a driver op (DRM_GPUVA_OP_DRIVER) is for the driver to carry out, not the VA space',
        )
      default:
        throw new DrmError('EINVAL', `unknown op kind ${describe((o as { kind?: unknown }).kind)}`)
    }
  }
}
