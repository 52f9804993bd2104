/**
 * The native device engine: `DeviceCore` over the binding class
 * `NativeDevice` (native/napi/device.rs). It only converts: binding errors
 * become DrmError and optional values become null. Every rule lives in the
 * Rust core (native/core/src/device).
 */
import type { NativeDevice, ObjectRecord as NativeObjectRecord } from '../../index.js'
import type {
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
  PlacementTotalsRecord,
  ResourceRecord,
  ResvRecord,
  ValidateRecord,
  ViolationRecord,
} from '../contract/device.js'
import type { VmCore } from '../contract/vm.js'
import { DrmError } from '../base/errors.js'
import { call, loadBinding } from './binding.js'
import { NativeVmCore } from './gpuvm.js'

export class NativeDeviceCore implements DeviceCore {
  readonly engine = 'native' as const
  readonly #d: NativeDevice

  constructor(wwClass: number, memory: MemoryRecord = {}) {
    const { NativeDevice } = loadBinding()
    const layout = {
      vramAllocator: memory.vramAllocator,
      gttAllocator: memory.gttAllocator,
      private: memory.private,
      hops: memory.hops,
    }
    this.#d = call(() => new NativeDevice(wwClass, memory.vram, memory.gtt, memory.system, layout))
  }

  now(): bigint {
    return this.#d.now()
  }
  advance(ns: bigint): bigint {
    return call(() => this.#d.advance(ns))
  }
  takeViolations(): ViolationRecord[] {
    return this.#d.takeViolations()
  }
  createResv(): number {
    return call(() => this.#d.createResv())
  }
  resvInfo(resv: number): ResvRecord {
    return call(() => this.#d.resvInfo(resv))
  }
  ctxInit(thread: number): number {
    return call(() => this.#d.ctxInit(thread))
  }
  ctxDone(thread: number, ctx: number): void {
    call(() => this.#d.ctxDone(thread, ctx))
  }
  ctxFini(thread: number, ctx: number): void {
    call(() => this.#d.ctxFini(thread, ctx))
  }
  ctxInfo(ctx: number): CtxRecord {
    return call(() => this.#d.ctxInfo(ctx))
  }
  lock(thread: number, resv: number, ctx: number, mode: number): LockOutcome {
    return call(() => this.#d.lock(thread, resv, ctx, mode)) as LockOutcome
  }
  unlock(thread: number, resv: number): void {
    call(() => this.#d.unlock(thread, resv))
  }
  assertHeld(thread: number, resv: number, what: string): boolean {
    return call(() => this.#d.assertHeld(thread, resv, what))
  }
  createFence(context: number, seqno: number, signalAt: bigint | null): number {
    return call(() => this.#d.createFence(context, seqno, signalAt))
  }
  fenceInfo(fence: number): FenceRecord {
    const f = call(() => this.#d.fenceInfo(fence))
    return { context: f.context, seqno: f.seqno, signalAt: f.signalAt ?? null, signaled: f.signaled, error: f.error }
  }
  signalFence(fence: number): void {
    call(() => this.#d.signalFence(fence))
  }
  setFenceError(fence: number, error: number): void {
    call(() => this.#d.setFenceError(fence, error))
  }
  scheduleFence(fence: number, signalAt: bigint | null, error: number): void {
    call(() => this.#d.scheduleFence(fence, signalAt, error))
  }
  reserveFences(thread: number, resv: number, n: number): void {
    call(() => this.#d.reserveFences(thread, resv, n))
  }
  addFence(thread: number, resv: number, fence: number, usage: number): void {
    call(() => this.#d.addFence(thread, resv, fence, usage))
  }
  fences(resv: number, usage: number): FenceEntry[] {
    return call(() => this.#d.fences(resv, usage))
  }
  testSignaled(resv: number, usage: number): boolean {
    return call(() => this.#d.testSignaled(resv, usage))
  }
  createObject(id: number, size: bigint, resv: number, profile: number, unbacked = false): void {
    if (unbacked) call(() => this.#d.createObjectUnbacked(id, size, resv, profile))
    else call(() => this.#d.createObject(id, size, resv, profile))
  }
  resourceInfo(id: number): ResourceRecord | null {
    return call(() => this.#d.resourceInfo(id)) ?? null
  }
  objectInfo(id: number): ObjectRecord {
    return record(call(() => this.#d.objectInfo(id)))
  }
  objects(): ObjectRecord[] {
    return this.#d.objects().map(record)
  }
  get(id: number): number {
    return call(() => this.#d.get(id))
  }
  put(id: number, vaMappings: number): boolean {
    return call(() => this.#d.put(id, vaMappings))
  }
  pin(thread: number, id: number, domain: number): number {
    return call(() => this.#d.pin(thread, id, domain))
  }
  unpin(thread: number, id: number): number {
    return call(() => this.#d.unpin(thread, id))
  }
  vmap(thread: number, id: number, kind: number): MappingRecord {
    return call(() => this.#d.vmap(thread, id, kind))
  }
  vunmap(thread: number, id: number, kind: number): number {
    return call(() => this.#d.vunmap(thread, id, kind))
  }
  access(thread: number, id: number, generation: bigint): boolean {
    return call(() => this.#d.access(thread, id, generation))
  }
  moveTo(thread: number, id: number, domain: number): boolean {
    return call(() => this.#d.moveTo(thread, id, domain))
  }
  validate(thread: number, id: number, places: number[]): ValidateRecord {
    return call(() => this.#d.validate(thread, id, places))
  }
  setEvictPlacement(id: number, places: number[] | null): void {
    call(() => this.#d.setEvictPlacement(id, places))
  }
  evictPlacement(id: number): number[] {
    return call(() => this.#d.evictPlacement(id))
  }
  domainInfo(domain: number): DomainRecord {
    return call(() => this.#d.domainInfo(domain))
  }
  lru(domain: number): number[] {
    return call(() => this.#d.lru(domain))
  }
  placementTotals(): PlacementTotalsRecord {
    return this.#d.placementTotals()
  }
  trackMoves(on: boolean): void {
    this.#d.trackMoves(on)
  }
  takeMoves(): MoveRecord[] {
    return this.#d.takeMoves()
  }
  /** Only a native VA space core (a Proxy of one is not): the binding ties it by its registry id. */
  attachVm(vm: VmCore): void {
    const id = NativeVmCore.registryId(vm)
    if (id === undefined) throw new DrmError('EINVAL', 'attachVm takes a VA space of the native engine')
    call(() => this.#d.attachVm(id))
  }
}

/** napi leaves an absent Option field undefined; the contract says null. */
function record(o: NativeObjectRecord): ObjectRecord {
  return { ...o, offset: o.offset ?? null }
}
