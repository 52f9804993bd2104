/**
 * The reference device engine: `DeviceCore` in plain TypeScript, a
 * behavioural port of native/core/src/device. Argument checks that the
 * binding makes before calling the core are made here in the same order, so
 * both engines fail the same way.
 */
import type { PoolTotalsRecord } from '../../contract/pool.js'
import * as ttPool from './tt-pool.js'
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
} from '../../contract/device.js'
import type { VmCore } from '../../contract/vm.js'
import type { CgroupRecord } from '../../contract/dmem.js'
import { DrmError } from '../../base/errors.js'
import { ReferenceVm } from '../gpuvm/vm.js'
import { domainStats, makeMemory, MAX_TYPES } from './domain.js'
import { resourceInfo, unback } from './resource.js'
import * as copy from './copy.js'
import * as dmem from './dmem.js'
import * as fence from './fence.js'
import * as gem from './gem.js'
import { lruLengths, lruList } from './lru.js'
import * as bulk from './bulk.js'
import * as hooks from './hooks.js'
import * as swap from './swap.js'
import type { PressureRecord, SwapTotalsRecord } from '../../contract/pressure.js'
import * as placement from './placement.js'
// execloop: drm_exec's runs.
import * as execRun from './exec-run.js'
import { checkId, checkReserve, checkRun } from '../../contract/exec-run.js'
import * as resv from './resv.js'
import { DevState, U64_MAX } from './state.js'

function check(ok: boolean, message: string): void {
  if (!ok) throw new DrmError('EINVAL', message)
}

const usage = (u: number) => check(u >= 0 && u <= 3, `fence usage must be 0..3, got ${u}`)
const domain = (v: number) => check(v >= 0 && v <= 3, `domain must be 0..3, got ${v}`)
const memType = (v: number) => check(v >= 1 && v <= MAX_TYPES, `a move needs a memory type 1..9, got ${v}`)

export class ReferenceDevice implements DeviceCore {
  readonly engine = 'reference' as const
  readonly #d: DevState

  constructor(wwClass: number, memory: MemoryRecord = {}) {
    check(wwClass === 0 || wwClass === 1, `ww class must be 0 or 1, got ${wwClass}`)
    this.#d = new DevState(wwClass)
    const m = makeMemory(memory)
    this.#d.mem = m.mem
    this.#d.hops = m.hops
    this.#d.dmem = dmem.newDmem()
  }

  now(): bigint {
    return this.#d.now
  }

  advance(ns: bigint): bigint {
    const t = this.#d.now + ns
    if (t > U64_MAX) throw new DrmError('EINVAL', 'the simulated clock would overflow u64')
    this.#d.now = t
    copy.reapDestroyed(this.#d)
    return t
  }

  takeViolations(): ViolationRecord[] {
    return this.#d.violations.splice(0)
  }

  createResv(): number {
    return resv.createResv(this.#d, 0)
  }

  resvInfo(id: number): ResvRecord {
    const r = resv.resvOf(this.#d, id)
    return {
      owner: r.owner,
      locked: r.holder !== null,
      holderThread: r.holder?.thread ?? 0,
      holderCtx: r.holder?.ctx ?? 0,
      numFences: r.fences.length,
      maxFences: r.maxFences,
    }
  }

  ctxInit(thread: number): number {
    return resv.ctxInit(this.#d, thread)
  }

  ctxDone(thread: number, ctx: number): void {
    resv.ctxDone(this.#d, thread, ctx)
  }

  ctxFini(thread: number, ctx: number): void {
    resv.ctxFini(this.#d, thread, ctx)
  }

  ctxInfo(ctx: number): CtxRecord {
    const c = resv.ctxOf(this.#d, ctx)
    return {
      thread: c.thread,
      stamp: c.stamp,
      acquired: c.acquired,
      contending: c.contending ?? 0,
      wounded: c.wounded,
      done: c.done,
      fini: c.fini,
    }
  }

  lock(thread: number, r: number, ctx: number, mode: number): LockOutcome {
    check(mode >= 0 && mode <= 2, `lock mode must be 0..2, got ${mode}`)
    return resv.lock(this.#d, thread, r, ctx, mode)
  }

  unlock(thread: number, r: number): void {
    resv.unlock(this.#d, thread, r)
  }

  assertHeld(thread: number, r: number, what: string): boolean {
    return resv.assertHeld(this.#d, thread, r, what)
  }

  createFence(context: number, seqno: number, signalAt: bigint | null): number {
    return fence.createFence(this.#d, context, seqno, signalAt)
  }

  fenceInfo(id: number): FenceRecord {
    const signaled = fence.fenceSignaled(this.#d, id)
    const f = fence.fenceOf(this.#d, id)
    return { context: f.context, seqno: f.seqno, signalAt: f.signalAt, signaled, error: f.error }
  }

  signalFence(id: number): void {
    fence.fenceOf(this.#d, id).signaled = true
    copy.copyFenceSignaled(this.#d, id)
  }

  setFenceError(id: number, error: number): void {
    fence.setFenceError(this.#d, id, error)
  }

  scheduleFence(id: number, signalAt: bigint | null, error: number): void {
    fence.scheduleFence(this.#d, id, signalAt, error)
  }

  reserveFences(thread: number, r: number, n: number): void {
    fence.reserveFences(this.#d, thread, r, n)
  }

  addFence(thread: number, r: number, f: number, u: number): void {
    usage(u)
    fence.addFence(this.#d, thread, r, f, u)
  }

  fences(r: number, u: number): FenceEntry[] {
    usage(u)
    return fence.fences(this.#d, r, u)
  }

  testSignaled(r: number, u: number): boolean {
    usage(u)
    return fence.testSignaled(this.#d, r, u)
  }

  createObject(id: number, size: bigint, r: number, profile: number, unbacked = false): void {
    check(profile >= 0 && profile <= 2, `unknown profile ${profile}`)
    gem.createObject(this.#d, id, size, r, profile)
    if (unbacked) unback(this.#d, id)
  }

  resourceInfo(id: number): ResourceRecord | null {
    return resourceInfo(this.#d, id)
  }

  objectInfo(id: number): ObjectRecord {
    return record(id, gem.objectRecord(this.#d, id))
  }

  objects(): ObjectRecord[] {
    return [...this.#d.objects.entries()].sort(([a], [b]) => a - b).map(([id, o]) => record(id, o))
  }

  get(id: number): number {
    return gem.get(this.#d, id)
  }

  put(id: number, vaMappings: number): boolean {
    return gem.put(this.#d, id, vaMappings)
  }

  // execloop: drm_exec's runs (contract/exec-run.ts).
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
    return execRun.execLockRun(this.#d, thread, c, objs.subarray(from, to), resvs.subarray(from, to), n)
  }

  addFenceRun(thread: number, resvs: Uint32Array, usages: Uint32Array, f: number, from: number, to: number): number {
    checkRun(thread, resvs, usages, from, to)
    const id = checkId(f, 'fence')
    return execRun.addFenceRun(this.#d, thread, resvs.subarray(from, to), usages.subarray(from, to), id)
  }

  execUnlockRun(thread: number, objs: Uint32Array, resvs: Uint32Array, from: number, to: number): number {
    checkRun(thread, objs, resvs, from, to)
    return execRun.execUnlockRun(this.#d, thread, objs.subarray(from, to), resvs.subarray(from, to))
  }

  pin(thread: number, id: number, d: number): number {
    domain(d)
    return gem.pin(this.#d, thread, id, d)
  }

  unpin(thread: number, id: number): number {
    return gem.unpin(this.#d, thread, id)
  }

  vmap(thread: number, id: number, kind: number): MappingRecord {
    check(kind === 0 || kind === 1, `vmap kind must be 0 or 1, got ${kind}`)
    return gem.vmap(this.#d, thread, id, kind)
  }

  vunmap(thread: number, id: number, kind: number): number {
    check(kind === 0 || kind === 1, `vmap kind must be 0 or 1, got ${kind}`)
    return gem.vunmap(this.#d, thread, id, kind)
  }

  access(thread: number, id: number, generation: bigint): boolean {
    return gem.access(this.#d, thread, id, generation)
  }

  moveTo(thread: number, id: number, d: number): boolean {
    memType(d)
    return gem.moveTo(this.#d, thread, id, d)
  }

  validate(thread: number, id: number, places: number[]): ValidateRecord {
    return placement.validate(this.#d, thread, id, placement.decodePlacement(places))
  }

  setEvictPlacement(id: number, places: number[] | null): void {
    const p = places === null ? null : placement.decodePlacement(places)
    gem.objectOf(this.#d, id).evictPlacement = p
  }

  evictPlacement(id: number): number[] {
    return placement.evictPlacement(this.#d, id).flatMap(placement.encodePlace)
  }

  domainInfo(d: number): DomainRecord {
    memType(d)
    return domainStats(this.#d, d)
  }

  lru(d: number): number[] {
    memType(d)
    return lruList(this.#d, d)
  }

  placementTotals(): PlacementTotalsRecord {
    return { ...this.#d.totals }
  }

  trackMoves(on: boolean): void {
    this.#d.trackMoves = on
    if (!on) this.#d.moves = []
  }

  takeMoves(): MoveRecord[] {
    return this.#d.moves.splice(0)
  }

  // Time (issue 16).
  configureCopy(bandwidth: bigint[], latency: bigint): void {
    copy.configureCopy(this.#d, bandwidth, latency)
  }

  copyJobs(): CopyJobRecord[] {
    return copy.copyJobs(this.#d)
  }

  validateTimed(thread: number, id: number, places: number[], noWaitGpu: boolean): TimedValidateRecord {
    const p = placement.decodePlacement(places)
    return copy.validateTimed(this.#d, noWaitGpu, () => placement.validate(this.#d, thread, id, p))
  }

  pendingDestroy(): PendingDestroyRecord[] {
    return copy.pendingDestroy(this.#d)
  }

  /**
   * Every placement move from now on calls `vm.objectMoved`. Only a live
   * reference VA space (EINVAL for anything else, a destroyed one included);
   * attaching one twice is harmless.
   */
  attachVm(vm: VmCore): void {
    if (!ReferenceVm.isReferenceVm(vm)) {
      throw new DrmError('EINVAL', 'attachVm takes a VA space of the reference engine')
    }
    if (vm.destroyed) throw new DrmError('EINVAL', `VA space '${vm.name}' was destroyed`)
    if (!this.#d.vms.includes(vm)) this.#d.vms.push(vm)
  }

  // ttm-pool: tts drawn from page pools (tt-pool.ts).
  poolSetup(dmaAlloc: boolean, dma32: boolean, caching: number, pagePoolSize: number): void {
    ttPool.poolSetup(this.#d, dmaAlloc, dma32, caching, pagePoolSize)
  }
  poolTotals(): PoolTotalsRecord | null {
    return this.#d.ttPool?.mgr.totals() ?? null
  }

  // dmem cgroups (issue 16): dmem.ts; argument checks as native/napi/dmem.rs.
  dmemSetup(mode: number, vram: boolean, gtt: boolean): void {
    dmem.dmemSetup(this.#d, mode, vram, gtt)
  }
  cgroupCreate(parent: number, name: string): number {
    return dmem.cgroupCreate(this.#d, parent, name)
  }
  cgroupDestroy(id: number): void {
    dmem.cgroupDestroy(this.#d, id)
  }
  cgroupSetLimit(id: number, d: number, which: number, value: bigint): void {
    check(value >= 0n && value <= U64_MAX, 'value must be a bigint in [0, 2^64)')
    check(d >= 1 && d <= 3, `a dmem region is a domain 1..3, got ${d}`)
    dmem.cgroupSetLimit(this.#d, id, d, which, value)
  }
  cgroupInfo(id: number, d: number): CgroupRecord {
    dmem.liveCgroup(this.#d.dmem, id)
    check(d >= 1 && d <= 3, `a dmem region is a domain 1..3, got ${d}`)
    const [c, k, emin, elow] = dmem.cgroupStats(this.#d, id, d)
    return { parent: c.parent, name: c.name, ...k, emin, elow }
  }
  cgroupAssign(obj: number, cg: number): void {
    dmem.cgroupAssign(this.#d, obj, cg)
  }
  objectCgroup(obj: number): number {
    return dmem.objectCgroup(this.#d, obj)
  }

  // ---- ttm-lru: priorities, bulk moves, eviction policy, swap
  setPriority(id: number, priority: number): void {
    hooks.setPriority(this.#d, id, priority)
  }

  setTags(id: number, tags: number): void {
    gem.objectOf(this.#d, id).pressure.tags = tags >>> 0
  }

  setPurgeable(id: number, on: boolean): void {
    gem.objectOf(this.#d, id).pressure.purgeable = on
  }

  pressureInfo(id: number): PressureRecord {
    const p = gem.objectOf(this.#d, id).pressure
    return {
      priority: p.priority,
      tags: p.tags,
      bulk: p.bulk,
      purgeable: p.purgeable,
      swapped: p.swapped,
      contentLost: p.contentLost,
    }
  }

  lruLengths(d: number): number[] {
    memType(d)
    return lruLengths(this.#d, d)
  }

  createBulkMove(resv: number): number {
    return bulk.createBulkMove(this.#d, resv)
  }

  setBulkMove(id: number, b: number): void {
    bulk.setBulkMove(this.#d, id, b)
  }

  bulkMoveTail(b: number): void {
    bulk.bulkMoveTail(this.#d, b)
  }

  setEvictionPolicy(protectFromPriority: number, protectTags: number): void {
    hooks.setEvictionPolicy(this.#d, protectFromPriority, protectTags)
  }

  setEvictionVeto(ids: number[]): void {
    this.#d.pressure.veto = new Set(ids)
  }

  setEvictPlacements(ids: number[], lens: number[], places: number[]): void {
    check(
      ids.length === lens.length && lens.reduce((a, b) => a + b, 0) === places.length,
      'evict placements: ids, lengths and places do not match',
    )
    const batch: [number, placement.Place[]][] = []
    let at = 0
    for (let i = 0; i < ids.length; i++) {
      batch.push([ids[i], placement.decodePlacement(places.slice(at, at + lens[i]))])
      at += lens[i]
    }
    hooks.setEvictPlacements(this.#d, batch)
  }

  configureSwap(capacity: bigint | null): void {
    swap.configureSwap(this.#d, capacity)
  }

  swapout(bytes: bigint): bigint {
    return swap.swapout(this.#d, bytes)
  }

  swapTotals(): SwapTotalsRecord {
    return { ...this.#d.pressure.totals }
  }
}

function record(id: number, o: gem.ObjLike): ObjectRecord {
  return {
    id,
    size: o.size,
    refcount: o.refcount,
    resv: o.resv,
    ownResv: o.ownResv,
    profile: o.profile,
    pinCount: o.pinCount,
    pinDomain: o.pinDomain,
    vmapCount: o.vmapCount,
    domain: o.domain,
    generation: o.generation,
    freed: o.freed,
    offset: o.node,
    purged: o.purged,
  }
}
