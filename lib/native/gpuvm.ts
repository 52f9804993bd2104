/**
 * The native engine: `VmCore` over the binding: the raw entry points of the
 * hot calls (`fastInit`, native/napi/calls.rs) and the napi-rs class
 * `NativeVm` for the cold ones (native/napi/vm.rs). This layer only converts:
 * bigints and records pass through, op lists stay in the packed form the
 * binding gives them (the codec is lib/contract/wire.ts), steps to apply are
 * encoded to it, and binding errors become DrmError.
 * Every rule of the VA space lives in the Rust core.
 */
import type { NativeVm } from '../../index.js'
import type { VmBoRecord, VmHubRecord } from '../contract/hub.js'
import type { PageTableCost, PageTableOccupancy, PageTableProfile, PageTableRecord } from '../contract/pagetable.js'
import type {
  CursorCore,
  OpCounts,
  OpRecord,
  VaRecord,
  VmCore,
  VmCreateOptions,
  WarningRecord,
} from '../contract/vm.js'
import { DrmBatchError, DrmError } from '../base/errors.js'
import { decodeOp, encodeOp } from '../contract/wire.js'
import { Wire } from '../contract/wire.gen.js'
import { call, loadBinding } from './binding.js'
import { unpackVas } from './va-list.js'
import { type Fast, fillFast, takeOps } from './fast.js'
import { blockAnswer, blockKey, blockRequest, countsIn, ioAnswer, ioKey, ioRequest } from './vm-io.js'
import { attachPageTable, pageTableCost, pageTableInfo, pageTableOccupancy } from './pagetable.js'

export { loadBinding }

/**
 * The fast entry points and the I/O views of this thread: one object, filled
 * once by `fastCalls` and never written again, and the binding's functions
 * copied into a plain object of fixed shape. Read from this constant (not
 * through a field of each VA space, nor from the binding's own object, which
 * V8 keeps as a dictionary), the optimizing compiler knows each entry point
 * and calls it directly, without a property lookup or the generic call path
 * (bench/PROFILE-JS.md section 1).
 */
const fast = {} as Fast
let ready = false

/** @internal The fast entry points and the I/O views of this thread, set up on first use. */
export function fastCalls(): Fast {
  if (!ready) {
    // Constructed directly, so its bytes live outside the V8 heap. The addon
    // keeps the first buffer of the thread and hands it back as `calls.io`:
    // every copy of this package in the thread shares it (one replacing it
    // left the others' views on a buffer no call read).
    fillFast(
      fast,
      call(() => loadBinding().fastInit(new ArrayBuffer(Wire.IO_BYTES + Wire.IO_OPS_BYTES))),
    )
    ready = true
  }
  return fast
}

/** Walks abandoned before their end are closed in the binding when their cursor is collected. */
const openWalks = new FinalizationRegistry<{ vm: number; walk: number }>(({ vm, walk }) => {
  const { calls, halves } = fastCalls()
  halves[Wire.IO_OBJ_U32] = walk
  try {
    calls.close(vm)
  } catch {
    // Nothing to do: the VA space, and the walk with it, is gone.
  }
})

export class NativeVmCore implements VmCore {
  readonly engine = 'native' as const
  readonly name: string
  readonly start: bigint
  readonly range: bigint
  readonly #vm: NativeVm
  /** The VA space's id for the fast entry points. */
  readonly #id: number
  /** Set once the VA space is known to be destroyed (the binding's getter costs a napi-rs call). */
  #destroyed = false
  /**
   * Set by the first `vmPut`: from then on the VA space may be torn down by
   * any call that drops its last reference (hub.md), so `destroyed` asks the
   * binding. A VA space never put pays nothing for it.
   */
  #mayTearDown = false

  constructor(opts: VmCreateOptions) {
    const { NativeVm } = loadBinding()
    fastCalls()
    this.#vm = call(
      () =>
        new NativeVm(
          opts.name,
          opts.start,
          opts.range,
          opts.reserve?.offset,
          opts.reserve?.range,
          opts.era,
          opts.flags,
          opts.resv,
        ),
    )
    this.#id = this.#vm.id
    this.name = this.#vm.name
    this.start = opts.start
    this.range = opts.range
  }

  get destroyed(): boolean {
    if (!this.#destroyed && this.#mayTearDown) this.#destroyed = this.#vm.destroyed
    return this.#destroyed
  }

  /**
   * @internal The registry id of a native VA space core (what the device
   * binding's `attachVm` takes); undefined for anything else, a Proxy of one
   * included.
   */
  static registryId(core: unknown): number | undefined {
    return typeof core === 'object' && core !== null && #id in core ? (core as NativeVmCore).#id : undefined
  }

  /** @internal Walks open in the binding (see `openWalks`). */
  get openWalks(): number {
    return this.#vm.openWalks
  }

  /** The error every engine method reports once the VA space is destroyed, for the calls the binding does not check. */
  #alive(): void {
    if (this.destroyed) throw new DrmError('EINVAL', `VA space '${this.name}' was destroyed`)
  }

  // ---- tree ---------------------------------------------------------------

  // insert, remove, get, find and findFirst through the fast entry points:
  // arguments in and the mapping out through the VA block, or the I/O buffer
  // where there is none (see calls.rs, vm-io.ts). A block entry point is
  // called right here, not through a helper taking the function: whether or
  // not the optimizing compiler inlines the method into its caller, it sees
  // the target as a constant and makes the direct API call
  // (`CallApiCallback`), not the generic one (~140 instructions more).

  insert(addr: bigint, range: bigint, obj: number, offset: bigint): VaRecord {
    // The mapping is the one asked for (drm_gpuva_insert stores it as given):
    // its bigints are the arguments, not new ones read back from the buffer.
    if (!blockRequest(fast, this.#id, addr, range, obj, offset)) return this.#insertIo(addr, range, obj, offset)
    try {
      fast.calls.blockInsert()
    } catch (e) {
      throw DrmError.from(e)
    }
    return {
      addr,
      range,
      obj,
      offset,
      seq: fast.blockNumbers[Wire.IO_VA_SEQ_F64],
      flags: fast.blockHalves[Wire.IO_VA_FLAGS_U32],
    }
  }

  #insertIo(addr: bigint, range: bigint, obj: number, offset: bigint): VaRecord {
    ioRequest(fast, addr, range, obj, offset)
    this.#enter(fast.calls.insert)
    return { addr, range, obj, offset, seq: fast.numbers[Wire.IO_VA_SEQ_F64], flags: fast.halves[Wire.IO_VA_FLAGS_U32] }
  }

  remove(addr: bigint, seq: number): VaRecord {
    if (!blockKey(fast, this.#id, addr, seq)) return this.#keyIo(addr, seq, fast.calls.remove)!
    try {
      fast.calls.blockRemove()
    } catch (e) {
      throw DrmError.from(e)
    }
    return blockAnswer(fast)!
  }

  get(addr: bigint, seq: number): VaRecord | undefined {
    if (!blockKey(fast, this.#id, addr, seq)) return this.#keyIo(addr, seq, fast.calls.get)
    try {
      fast.calls.blockGet()
    } catch (e) {
      throw DrmError.from(e)
    }
    return blockAnswer(fast)
  }

  kernelNode(): VaRecord | undefined {
    return call(() => this.#vm.kernelNode()) ?? undefined
  }

  find(addr: bigint, range: bigint): VaRecord | undefined {
    if (!blockRequest(fast, this.#id, addr, range, 0, 0n)) return this.#rangeIo(addr, range, fast.calls.find)
    try {
      fast.calls.blockFind()
    } catch (e) {
      throw DrmError.from(e)
    }
    return blockAnswer(fast)
  }

  findFirst(addr: bigint, range: bigint): VaRecord | undefined {
    if (!blockRequest(fast, this.#id, addr, range, 0, 0n)) return this.#rangeIo(addr, range, fast.calls.findFirst)
    try {
      fast.calls.blockFindFirst()
    } catch (e) {
      throw DrmError.from(e)
    }
    return blockAnswer(fast)
  }

  /** A call on a mapping's key through the I/O buffer. */
  #keyIo(addr: bigint, seq: number, entry: (id: number) => void): VaRecord | undefined {
    ioKey(fast, addr, seq)
    this.#enter(entry)
    return ioAnswer(fast)
  }

  /** A call on a range through the I/O buffer. */
  #rangeIo(addr: bigint, range: bigint, entry: (id: number) => void): VaRecord | undefined {
    ioRequest(fast, addr, range)
    this.#enter(entry)
    return ioAnswer(fast)
  }

  /** Calls a fast entry point on this VA space; what it throws becomes a DrmError. */
  #enter<T>(entry: (id: number) => T): T {
    try {
      return entry(this.#id)
    } catch (e) {
      throw DrmError.from(e)
    }
  }

  findPrev(start: bigint): VaRecord | undefined {
    return call(() => this.#vm.findPrev(start)) ?? undefined
  }

  findNext(end: bigint): VaRecord | undefined {
    return call(() => this.#vm.findNext(end)) ?? undefined
  }

  intervalEmpty(addr: bigint, range: bigint): boolean {
    return call(() => this.#vm.intervalEmpty(addr, range))
  }

  rangeValid(addr: bigint, range: bigint): boolean {
    return call(() => this.#vm.rangeValid(addr, range))
  }

  list(): VaRecord[] {
    return unpackVas(call(() => this.#vm.listPacked()))
  }

  objectIds(): Uint32Array {
    return call(() => this.#vm.objectIds())
  }

  listRange(start: bigint, end: bigint): VaRecord[] {
    return call(() => this.#vm.listRange(start, end))
  }

  count(): number {
    return call(() => this.#vm.count())
  }

  // ---- GEM lists ----------------------------------------------------------

  link(addr: bigint, seq: number): void {
    call(() => this.#vm.link(addr, seq))
  }

  unlink(addr: bigint, seq: number): void {
    call(() => this.#vm.unlink(addr, seq))
  }

  isLinked(addr: bigint, seq: number): boolean {
    return call(() => this.#vm.isLinked(addr, seq))
  }

  gemVas(obj: number): VaRecord[] {
    return call(() => this.#vm.gemVas(obj))
  }

  setInvalidated(addr: bigint, seq: number, invalidated: boolean): void {
    call(() => this.#vm.setInvalidated(addr, seq, invalidated))
  }

  // ---- split/merge --------------------------------------------------------

  smMap(addr: bigint, range: bigint, obj: number, offset: bigint): CursorCore {
    ioRequest(fast, addr, range, obj, offset)
    this.#enter(fast.calls.smMap)
    return this.#cursor(fast.out[Wire.IO_OUT_NUMBER])
  }

  smUnmap(addr: bigint, range: bigint): CursorCore {
    ioRequest(fast, addr, range)
    this.#enter(fast.calls.smUnmap)
    return this.#cursor(fast.out[Wire.IO_OUT_NUMBER])
  }

  /**
   * The binding closes a walk when it hands out its end, or on `close()`;
   * later steps are answered here, as the reference engine answers them.
   */
  #cursor(walk: number): CursorCore {
    let done = false
    const token = {}
    const end = (): void => {
      done = true
      openWalks.unregister(token)
    }
    const cursor: CursorCore = {
      step: (): OpRecord | undefined => {
        if (done) {
          this.#alive()
          return undefined
        }
        fast.halves[Wire.IO_OBJ_U32] = walk
        const w = this.#enter(fast.calls.step)
        if (w === undefined && fast.out[Wire.IO_OUT_NUMBER] === 0) {
          end()
          return undefined
        }
        return decodeOp(w ?? fast.opWords, 0)
      },
      close: (): void => {
        if (done) return
        end()
        fast.halves[Wire.IO_OBJ_U32] = walk
        this.#enter(fast.calls.close)
      },
    }
    openWalks.register(cursor, { vm: this.#id, walk }, token)
    return cursor
  }

  // Op lists: the fast entry points' packed words, handed on as they are.

  smMapOps(addr: bigint, range: bigint, obj: number, offset: bigint): BigUint64Array {
    ioRequest(fast, addr, range, obj, offset)
    return this.#ops(fast.calls.smMapOps)
  }

  smUnmapOps(addr: bigint, range: bigint): BigUint64Array {
    ioRequest(fast, addr, range)
    return this.#ops(fast.calls.smUnmapOps)
  }

  prefetchOps(addr: bigint, range: bigint): BigUint64Array {
    ioRequest(fast, addr, range)
    return this.#ops(fast.calls.prefetchOps)
  }

  gemUnmapOps(obj: number): BigUint64Array {
    // The binding answers object 0 without looking at the VA space.
    this.#alive()
    fast.halves[Wire.IO_OBJ_U32] = obj
    return this.#ops(fast.calls.gemUnmapOps)
  }

  /** Calls an op-list entry point: the list it returned, or the one it left in the I/O buffer. */
  #ops(entry: (id: number) => BigUint64Array | undefined): BigUint64Array {
    return this.#enter(entry) ?? takeOps(fast.ops, fast.out[Wire.IO_OUT_NUMBER])
  }

  apply(op: OpRecord): void {
    // The binding reports a step naming a mapping of a destroyed VA space as a stale step.
    this.#alive()
    encodeOp(op, fast.opWords, 0)
    this.#enter(fast.calls.apply)
  }

  // Arguments in and step counts out through the I/O buffer: no BigInt
  // conversion in the binding, no object per result (see calls.rs).

  // As the tree calls (see there): the block's entry point called right here.
  // The I/O buffer's calls are in methods of their own: less bytecode to
  // inline into each caller.

  bind(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts {
    if (!blockRequest(fast, this.#id, addr, range, obj, offset)) return this.#bindIo(addr, range, obj, offset)
    try {
      fast.calls.blockBind()
    } catch (e) {
      throw DrmError.from(e)
    }
    return countsIn(fast.blockOut)
  }

  unbind(addr: bigint, range: bigint): OpCounts {
    if (!blockRequest(fast, this.#id, addr, range, 0, 0n)) return this.#unbindIo(addr, range)
    try {
      fast.calls.blockUnbind()
    } catch (e) {
      throw DrmError.from(e)
    }
    return countsIn(fast.blockOut)
  }

  #bindIo(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts {
    ioRequest(fast, addr, range, obj, offset)
    this.#enter(fast.calls.bind)
    return countsIn(fast.out)
  }

  #unbindIo(addr: bigint, range: bigint): OpCounts {
    ioRequest(fast, addr, range)
    this.#enter(fast.calls.unbind)
    return countsIn(fast.out)
  }

  bindBatch(batch: BigUint64Array, perRequest: Uint32Array | null): OpCounts {
    const { calls, out } = fast
    out[Wire.IO_OUT_REQUESTS] = -1
    try {
      calls.bindBatch(this.#id, batch, perRequest)
    } catch (e) {
      const err = DrmError.from(e)
      // The binding says how many requests it applied only when one of them failed.
      if (err instanceof DrmError && out[Wire.IO_OUT_REQUESTS] >= 0) {
        throw new DrmBatchError(err, out[Wire.IO_OUT_REQUESTS], countsIn(fast.out))
      }
      throw err
    }
    return countsIn(fast.out)
  }

  bindArray(batch: BigUint64Array, perRequest: Uint32Array | null, failAt: number): OpCounts {
    const { calls, out, numbers } = fast
    out[Wire.IO_OUT_REQUESTS] = -1
    numbers[Wire.IO_SEQ_F64] = failAt
    try {
      calls.bindArray(this.#id, batch, perRequest)
    } catch (e) {
      const err = DrmError.from(e)
      // As bindBatch: the index is there only when a request failed; whether it was undone in the number slot.
      if (err instanceof DrmError && out[Wire.IO_OUT_REQUESTS] >= 0) {
        const none = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
        const unwound = out[Wire.IO_OUT_NUMBER] === 1
        throw new DrmBatchError(err, out[Wire.IO_OUT_REQUESTS], none, { unwound })
      }
      throw err
    }
    return countsIn(fast.out)
  }

  reinsert(va: VaRecord): VaRecord {
    return call(() => this.#vm.reinsert(va.addr, va.range, va.obj, va.offset, va.seq, va.flags))
  }

  // ---- warnings and teardown ----------------------------------------------

  takeWarnings(): WarningRecord[] {
    // Most calls warn about nothing: a fast call says so without building an empty list.
    this.#enter(fast.calls.warnings)
    return fast.out[Wire.IO_OUT_NUMBER] === 0 ? [] : call(() => this.#vm.takeWarnings())
  }

  destroy(): void {
    call(() => this.#vm.destroy())
    this.#destroyed = true
  }

  // ---- the page-table cost model (native/napi/pagetable.rs, lib/native/pagetable.ts) ----

  attachPageTable(profile: PageTableProfile): void {
    attachPageTable(this.#vm, profile)
  }
  pageTableBeginRequest(): void {
    call(() => this.#vm.pageTableBeginRequest())
  }

  pageTableInfo(): PageTableRecord | undefined {
    return pageTableInfo(this.#vm)
  }
  readonly pageTableCost = (which: 'last' | 'total'): PageTableCost | undefined => pageTableCost(this.#vm, which)
  readonly pageTableOccupancy = (): PageTableOccupancy | undefined => pageTableOccupancy(this.#vm)

  // ---- the drm_gpuvm hub (native/napi/hub.rs) -----------------------------

  hubInfo(): VmHubRecord {
    return call(() => this.#vm.hubInfo())
  }

  vmGet(): number {
    return call(() => this.#vm.vmGet())
  }

  vmPut(): number {
    const left = call(() => this.#vm.vmPut())
    this.#mayTearDown = true
    if (left === 0) this.#destroyed = true
    return left
  }

  declareExternal(obj: number): void {
    call(() => this.#vm.declareExternal(obj))
  }

  vmBoObtain(obj: number, how: number): VmBoRecord {
    return call(() => this.#vm.vmBoObtain(obj, how))
  }

  vmBoFind(obj: number): VmBoRecord | undefined {
    return call(() => this.#vm.vmBoFind(obj)) ?? undefined
  }

  vmBoGet(id: number): VmBoRecord {
    return call(() => this.#vm.vmBoGet(id))
  }

  vmBoPut(id: number, deferred: boolean): boolean {
    return call(() => this.#vm.vmBoPut(id, deferred))
  }

  vmBoInfo(id: number): VmBoRecord | undefined {
    return call(() => this.#vm.vmBoInfo(id)) ?? undefined
  }

  vmBoVas(id: number): VaRecord[] {
    return call(() => this.#vm.vmBoVas(id))
  }

  vmBos(): VmBoRecord[] {
    return call(() => this.#vm.vmBos())
  }

  trackFreedVmBos(on: boolean): void {
    call(() => this.#vm.trackFreedVmBos(on))
  }

  takeFreedVmBos(): VmBoRecord[] {
    return call(() => this.#vm.takeFreedVmBos())
  }

  linkVmBo(addr: bigint, seq: number, vmBo: number): void {
    call(() => this.#vm.linkVmBo(addr, seq, vmBo))
  }

  unlinkDefer(addr: bigint, seq: number): void {
    call(() => this.#vm.unlinkDefer(addr, seq))
  }

  extobjAdd(id: number): void {
    call(() => this.#vm.extobjAdd(id))
  }

  boEvict(id: number, evict: boolean): void {
    call(() => this.#vm.boEvict(id, evict))
  }

  gemEvict(obj: number, evict: boolean): void {
    call(() => this.#vm.gemEvict(obj, evict))
  }

  extobjList(): number[] {
    return call(() => this.#vm.extobjList())
  }

  evictList(): number[] {
    return call(() => this.#vm.evictList())
  }

  deferList(): number[] {
    return call(() => this.#vm.deferList())
  }

  deferredCleanup(): number {
    return call(() => this.#vm.deferredCleanup())
  }

  prepareObjects(): number[] {
    return call(() => this.#vm.prepareObjects())
  }

  validated(id: number): void {
    call(() => this.#vm.validated(id))
  }

  objectMoved(obj: number, evicted: boolean): void {
    call(() => this.#vm.objectMoved(obj, evicted))
  }

  /** A fast entry point, as the other op lists. */
  madviseOps(addr: bigint, range: bigint, obj: number, offset: bigint): BigUint64Array {
    ioRequest(fast, addr, range, obj, offset)
    return this.#ops(fast.calls.madviseOps)
  }

  setVaFlags(addr: bigint, seq: number, flags: number): void {
    call(() => this.#vm.setVaFlags(addr, seq, flags))
  }
}
