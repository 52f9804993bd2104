/**
 * The native device engine: `DeviceCore` over the binding class
 * `NativeDevice` (native/napi/device.rs). It only converts: binding errors
 * become DrmError and optional values become null. Every rule lives in the
 * Rust core (native/core/src/device).
 */
import { POOL_TOTALS, type PoolTotalsRecord } from '../contract/pool.js'
import type { NativeDevice, ObjectRecord as NativeObjectRecord } from '../../index.js'
import type {
  CopyJobRecord,
  CtxRecord,
  DeviceCore,
  FenceEntry,
  FenceRecord,
  DomainRecord,
  LockOutcome,
  MappingRecord,
  MemoryRecord,
  MoveRecord,
  ObjectRecord,
  PendingDestroyRecord,
  PlacementTotalsRecord,
  ResourceRecord,
  ResvRecord,
  TimedValidateRecord,
  ValidateRecord,
  ViolationRecord,
} from '../contract/device.js'
import type { VmCore } from '../contract/vm.js'
import type { CgroupRecord } from '../contract/dmem.js'
import type { PressureRecord, SwapTotalsRecord } from '../contract/pressure.js'
import { DrmError } from '../base/errors.js'
import { call, loadBinding } from './binding.js'
import { NativeVmCore } from './gpuvm.js'
// execloop: drm_exec's runs.
import { checkId, checkReserve, checkRun } from '../contract/exec-run.js'

/** The fast calls' results as lock() answers them (device_fast.rs: 0 ok .. 4 blocked). */
const LOCK_RESULTS = ['ok', 'EDEADLK', 'EALREADY', 'EBUSY', 'blocked'] as const

/** The device's fast entry points and the arrays they read and write, made once per thread. */
interface DeviceFast {
  calls: ReturnType<typeof import('../../index.js').deviceFastCalls>
  /** Results (device_fast.rs); `words` is the same bytes as u64s. */
  out: Float64Array
  words: BigUint64Array
  /** A placement, packed, for `validate` (grown as needed). */
  places: Uint32Array
  /**
   * The argument block of the `block*` calls (device_block.rs), null where the runtime refuses it:
   * slots device, thread, resv or id, ctx, mode or n, then result, detail and the bytes moved
   * (`slotWords[7]`); `blockPlaces` the place words after them.
   */
  slots: Float64Array | null
  slotWords: BigUint64Array
  blockPlaces: Uint32Array
}

/** Place words the block holds (device_block.rs `PLACE_WORDS`): 16 places; longer placements take `validate`. */
const BLOCK_PLACE_WORDS = 48

let fast: DeviceFast | undefined

function deviceFast(): DeviceFast {
  if (fast === undefined) {
    const out = new Float64Array(4)
    const calls = loadBinding().deviceFastCalls()
    fast = {
      calls,
      out,
      words: new BigUint64Array(out.buffer),
      places: new Uint32Array(8),
      slots: null,
      slotWords: new BigUint64Array(8),
      blockPlaces: new Uint32Array(0),
    }
    try {
      const block = calls.block
      if (block !== null) {
        fast.slotWords = new BigUint64Array(block, 0, 8)
        fast.blockPlaces = new Uint32Array(block, 64, BLOCK_PLACE_WORDS)
        fast.slots = new Float64Array(block, 0, 8)
      }
    } catch {
      // Detached already (only code poking at the binding can): the calls with arguments serve.
      fast.slots = null
    }
  }
  return fast
}

/**
 * The argument block when a call can use it: there is one, still attached, and
 * `args` are numbers (what else the calls with arguments refuse in their own
 * words, so those take them).
 */
function blockFor(f: DeviceFast, a: unknown, b: unknown, c = 0, d = 0): Float64Array | null {
  const s = f.slots
  return s !== null &&
    s.length !== 0 &&
    typeof a === 'number' &&
    typeof b === 'number' &&
    typeof c === 'number' &&
    typeof d === 'number'
    ? s
    : null
}

export class NativeDeviceCore implements DeviceCore {
  readonly engine = 'native' as const
  readonly #d: NativeDevice
  /** Its id for the fast entry points (device_fast.rs). */
  readonly #fastId: number
  /**
   * Set when the last binding call was a fast one that left no violation:
   * `takeViolations` (which `Device` asks after every call) then answers
   * without crossing; any other call clears it.
   */
  #clean = false

  constructor(wwClass: number, memory: MemoryRecord = {}) {
    const { NativeDevice } = loadBinding()
    const layout = {
      vramAllocator: memory.vramAllocator,
      gttAllocator: memory.gttAllocator,
      private: memory.private,
      hops: memory.hops,
    }
    this.#d = call(() => new NativeDevice(wwClass, memory.vram, memory.gtt, memory.system, layout))
    this.#fastId = this.#d.fastId()
  }

  /**
   * The binding for a call other than the fast three: the violations it may
   * record are unknown, so the next `takeViolations` asks the binding.
   */
  #slow(): NativeDevice {
    this.#clean = false
    return this.#d
  }

  /** Notes what a fast call answered: how many violations the device holds now. */
  #fastDone(violations: number): void {
    this.#clean = violations === 0
  }

  now(): bigint {
    return this.#slow().now()
  }
  advance(ns: bigint): bigint {
    return call(() => this.#slow().advance(ns))
  }
  takeViolations(): ViolationRecord[] {
    if (this.#clean) {
      this.#clean = false
      return []
    }
    return this.#d.takeViolations()
  }
  createResv(): number {
    return call(() => this.#slow().createResv())
  }
  resvInfo(resv: number): ResvRecord {
    return call(() => this.#slow().resvInfo(resv))
  }
  ctxInit(thread: number): number {
    return call(() => this.#slow().ctxInit(thread))
  }
  ctxDone(thread: number, ctx: number): void {
    call(() => this.#slow().ctxDone(thread, ctx))
  }
  ctxFini(thread: number, ctx: number): void {
    call(() => this.#slow().ctxFini(thread, ctx))
  }
  ctxInfo(ctx: number): CtxRecord {
    return call(() => this.#slow().ctxInfo(ctx))
  }
  lock(thread: number, resv: number, ctx: number, mode: number): LockOutcome {
    const f = deviceFast()
    const s = blockFor(f, thread, resv, ctx, mode)
    if (s !== null) {
      s[0] = this.#fastId
      s[1] = thread
      s[2] = resv
      s[3] = ctx
      s[4] = mode
      this.#clean = false
      try {
        this.#fastDone(f.calls.blockLock())
      } catch (e) {
        throw DrmError.from(e)
      }
      return { result: LOCK_RESULTS[s[5]!]!, holder: s[6]! }
    }
    const { calls, out } = f
    this.#clean = false
    try {
      this.#fastDone(calls.lock(this.#fastId, thread, resv, ctx, mode, out))
    } catch (e) {
      throw DrmError.from(e)
    }
    return { result: LOCK_RESULTS[out[0]!]!, holder: out[1]! }
  }
  unlock(thread: number, resv: number): void {
    const f = deviceFast()
    const s = blockFor(f, thread, resv)
    if (s !== null) {
      s[0] = this.#fastId
      s[1] = thread
      s[2] = resv
      this.#clean = false
      try {
        this.#fastDone(f.calls.blockUnlock())
      } catch (e) {
        throw DrmError.from(e)
      }
      return
    }
    const { calls } = f
    this.#clean = false
    try {
      this.#fastDone(calls.unlock(this.#fastId, thread, resv))
    } catch (e) {
      throw DrmError.from(e)
    }
  }
  assertHeld(thread: number, resv: number, what: string): boolean {
    return call(() => this.#slow().assertHeld(thread, resv, what))
  }
  createFence(context: number, seqno: number, signalAt: bigint | null): number {
    return call(() => this.#slow().createFence(context, seqno, signalAt))
  }
  fenceInfo(fence: number): FenceRecord {
    const f = call(() => this.#slow().fenceInfo(fence))
    return { context: f.context, seqno: f.seqno, signalAt: f.signalAt ?? null, signaled: f.signaled, error: f.error }
  }
  signalFence(fence: number): void {
    call(() => this.#slow().signalFence(fence))
  }
  setFenceError(fence: number, error: number): void {
    call(() => this.#slow().setFenceError(fence, error))
  }
  scheduleFence(fence: number, signalAt: bigint | null, error: number): void {
    call(() => this.#slow().scheduleFence(fence, signalAt, error))
  }
  reserveFences(thread: number, resv: number, n: number): void {
    call(() => this.#slow().reserveFences(thread, resv, n))
  }
  addFence(thread: number, resv: number, fence: number, usage: number): void {
    call(() => this.#slow().addFence(thread, resv, fence, usage))
  }
  fences(resv: number, usage: number): FenceEntry[] {
    return call(() => this.#slow().fences(resv, usage))
  }
  testSignaled(resv: number, usage: number): boolean {
    return call(() => this.#slow().testSignaled(resv, usage))
  }
  createObject(id: number, size: bigint, resv: number, profile: number, unbacked = false): void {
    if (unbacked) call(() => this.#slow().createObjectUnbacked(id, size, resv, profile))
    else call(() => this.#slow().createObject(id, size, resv, profile))
  }
  resourceInfo(id: number): ResourceRecord | null {
    return call(() => this.#slow().resourceInfo(id)) ?? null
  }
  objectInfo(id: number): ObjectRecord {
    return record(call(() => this.#slow().objectInfo(id)))
  }
  objects(): ObjectRecord[] {
    return this.#slow().objects().map(record)
  }
  get(id: number): number {
    return call(() => this.#slow().get(id))
  }
  put(id: number, vaMappings: number): boolean {
    return call(() => this.#slow().put(id, vaMappings))
  }
  // execloop: drm_exec's runs (native/napi/device_exec.rs); checked here as the reference checks them.
  execLockRun(
    thread: number,
    ctx: number,
    objs: Uint32Array,
    resvs: Uint32Array,
    from: number,
    to: number,
    reserve: number,
  ): number {
    checkRun(thread, objs, resvs, from, to)
    const [c, n] = [checkId(ctx, 'ctx'), checkReserve(reserve)]
    return call(() => this.#slow().execLockRun(thread, c, objs, resvs, from, to, n))
  }
  addFenceRun(
    thread: number,
    resvs: Uint32Array,
    usages: Uint32Array,
    fence: number,
    from: number,
    to: number,
  ): number {
    checkRun(thread, resvs, usages, from, to)
    const f = checkId(fence, 'fence')
    return call(() => this.#slow().addFenceRun(thread, resvs, usages, f, from, to))
  }
  execUnlockRun(thread: number, objs: Uint32Array, resvs: Uint32Array, from: number, to: number): number {
    checkRun(thread, objs, resvs, from, to)
    return call(() => this.#slow().execUnlockRun(thread, objs, resvs, from, to))
  }
  pin(thread: number, id: number, domain: number): number {
    return call(() => this.#slow().pin(thread, id, domain))
  }
  unpin(thread: number, id: number): number {
    return call(() => this.#slow().unpin(thread, id))
  }
  vmap(thread: number, id: number, kind: number): MappingRecord {
    return call(() => this.#slow().vmap(thread, id, kind))
  }
  vunmap(thread: number, id: number, kind: number): number {
    return call(() => this.#slow().vunmap(thread, id, kind))
  }
  access(thread: number, id: number, generation: bigint): boolean {
    return call(() => this.#slow().access(thread, id, generation))
  }
  moveTo(thread: number, id: number, domain: number): boolean {
    return call(() => this.#slow().moveTo(thread, id, domain))
  }
  validate(thread: number, id: number, places: number[]): ValidateRecord {
    const fast = deviceFast()
    const n = places.length
    const s = typeof n === 'number' && n <= BLOCK_PLACE_WORDS ? blockFor(fast, thread, id) : null
    if (s !== null) {
      const w = fast.blockPlaces
      for (let i = 0; i < n; i++) {
        const p = places[i]!
        // As below: what a Uint32Array would wrap goes to the binding's own check.
        if (!(Number.isInteger(p) && p >= 0 && p <= 0xffff_ffff))
          return call(() => this.#slow().validate(thread, id, places))
        w[i] = p
      }
      s[0] = this.#fastId
      s[1] = thread
      s[2] = id
      s[4] = n
      this.#clean = false
      try {
        this.#fastDone(fast.calls.blockValidate())
      } catch (e) {
        throw DrmError.from(e)
      }
      return { moved: s[5] === 1, bytesMoved: fast.slotWords[7]!, evictions: s[6]! }
    }
    if (n > fast.places.length) fast.places = new Uint32Array(Math.max(n, 2 * fast.places.length))
    for (let i = 0; i < n; i++) {
      const p = places[i]!
      // What a Uint32Array would wrap, the binding's own check refuses: leave it to that path.
      if (!(Number.isInteger(p) && p >= 0 && p <= 0xffff_ffff))
        return call(() => this.#slow().validate(thread, id, places))
      fast.places[i] = p
    }
    this.#clean = false
    try {
      this.#fastDone(fast.calls.validate(this.#fastId, thread, id, fast.places, n, fast.out))
    } catch (e) {
      throw DrmError.from(e)
    }
    return { moved: fast.out[0] === 1, bytesMoved: fast.words[3]!, evictions: fast.out[1]! }
  }
  setEvictPlacement(id: number, places: number[] | null): void {
    call(() => this.#slow().setEvictPlacement(id, places))
  }
  evictPlacement(id: number): number[] {
    return call(() => this.#slow().evictPlacement(id))
  }
  domainInfo(domain: number): DomainRecord {
    return call(() => this.#slow().domainInfo(domain))
  }
  lru(domain: number): number[] {
    return call(() => this.#slow().lru(domain))
  }
  placementTotals(): PlacementTotalsRecord {
    return this.#slow().placementTotals()
  }
  trackMoves(on: boolean): void {
    this.#slow().trackMoves(on)
  }
  takeMoves(): MoveRecord[] {
    return this.#slow().takeMoves()
  }
  // Time (issue 16).
  configureCopy(bandwidth: bigint[], latency: bigint): void {
    call(() => this.#slow().configureCopy(bandwidth, latency))
  }
  copyJobs(): CopyJobRecord[] {
    return this.#d.copyJobs().map((j) => ({ ...j, start: j.start ?? null, end: j.end ?? null }))
  }
  validateTimed(thread: number, id: number, places: number[], noWaitGpu: boolean): TimedValidateRecord {
    const v = call(() => this.#slow().validateTimed(thread, id, places, noWaitGpu))
    return { ...v, fenceEnd: v.fenceEnd ?? null }
  }
  pendingDestroy(): PendingDestroyRecord[] {
    return this.#d.pendingDestroy().map((p) => ({ ...p, until: p.until ?? null }))
  }
  /** Only a native VA space core (a Proxy of one is not): the binding ties it by its registry id. */
  attachVm(vm: VmCore): void {
    const id = NativeVmCore.registryId(vm)
    if (id === undefined) throw new DrmError('EINVAL', 'attachVm takes a VA space of the native engine')
    call(() => this.#slow().attachVm(id))
  }

  // ttm-pool: tts drawn from page pools (native/napi/device_pool.rs).
  poolSetup(dmaAlloc: boolean, dma32: boolean, caching: number, pagePoolSize: number): void {
    call(() => this.#slow().poolSetup(dmaAlloc, dma32, caching, pagePoolSize))
  }
  poolTotals(): PoolTotalsRecord | null {
    const w = call(() => this.#slow().poolTotals())
    return w.length === 0
      ? null
      : (Object.fromEntries(POOL_TOTALS.map((k, i) => [k, w[i]])) as unknown as PoolTotalsRecord)
  }

  // dmem cgroups (issue 16): native/napi/dmem.rs.
  dmemSetup(mode: number, vram: boolean, gtt: boolean): void {
    call(() => this.#slow().dmemSetup(mode, vram, gtt))
  }
  cgroupCreate(parent: number, name: string): number {
    return call(() => this.#slow().cgroupCreate(parent, name))
  }
  cgroupDestroy(id: number): void {
    call(() => this.#slow().cgroupDestroy(id))
  }
  cgroupSetLimit(id: number, domain: number, which: number, value: bigint): void {
    call(() => this.#slow().cgroupSetLimit(id, domain, which, value))
  }
  cgroupInfo(id: number, domain: number): CgroupRecord {
    return call(() => this.#slow().cgroupInfo(id, domain))
  }
  cgroupAssign(obj: number, cg: number): void {
    call(() => this.#slow().cgroupAssign(obj, cg))
  }
  objectCgroup(obj: number): number {
    return call(() => this.#slow().objectCgroup(obj))
  }
  // ---- ttm-lru: priorities, bulk moves, eviction policy, swap (native/napi/pressure.rs)
  setPriority(id: number, priority: number): void {
    call(() => this.#slow().setPriority(id, priority))
  }
  setTags(id: number, tags: number): void {
    call(() => this.#slow().setTags(id, tags))
  }
  setPurgeable(id: number, on: boolean): void {
    call(() => this.#slow().setPurgeable(id, on))
  }
  pressureInfo(id: number): PressureRecord {
    return call(() => this.#slow().pressureInfo(id))
  }
  lruLengths(domain: number): number[] {
    return call(() => this.#slow().lruLengths(domain))
  }
  createBulkMove(resv: number): number {
    return call(() => this.#slow().createBulkMove(resv))
  }
  setBulkMove(id: number, bulk: number): void {
    call(() => this.#slow().setBulkMove(id, bulk))
  }
  bulkMoveTail(bulk: number): void {
    call(() => this.#slow().bulkMoveTail(bulk))
  }
  setEvictionPolicy(protectFromPriority: number, protectTags: number): void {
    call(() => this.#slow().setEvictionPolicy(protectFromPriority, protectTags))
  }
  setEvictionVeto(ids: number[]): void {
    call(() => this.#slow().setEvictionVeto(ids))
  }
  setEvictPlacements(ids: number[], lens: number[], places: number[]): void {
    call(() => this.#slow().setEvictPlacements(ids, lens, places))
  }
  configureSwap(capacity: bigint | null): void {
    call(() => this.#slow().configureSwap(capacity ?? undefined))
  }
  swapout(bytes: bigint): bigint {
    return call(() => this.#slow().swapout(bytes))
  }
  swapTotals(): SwapTotalsRecord {
    return this.#d.swapTotals()
  }
}

/** napi leaves an absent Option field undefined; the contract says null. */
function record(o: NativeObjectRecord): ObjectRecord {
  return { ...o, offset: o.offset ?? null }
}
