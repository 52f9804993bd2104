/**
 * Time for moves (native/core/src/device/copy.rs): one in-order copy engine
 * per device. A move with contents to copy is a job whose fence signals on
 * the simulated clock and joins the buffer's resv as a KERNEL fence; it
 * starts after the job before it, the buffer's unsignaled fences and the
 * destination's last eviction (`man->move`). `no_wait_gpu` turns those waits
 * into EBUSY. Destroys wait for fences (`ttm_bo_delayed_delete`). Off until
 * `configureCopy`.
 */
import type { CopyJobRecord, PendingDestroyRecord, TimedValidateRecord, ValidateRecord } from '../../contract/device.js'
import { DrmError } from '../../base/errors.js'
import { domainFree, MAX_TYPES } from './domain.js'
import { dmemUnchargeCgroup } from './dmem.js'
import { createFence, fenceOf, fenceSignaled, fences } from './fence.js'
import { objectOf, objectRecord } from './objects.js'
import { resvOf } from './resv.js'
import { type DevState, GTT, SYSTEM, U64_MAX } from './state.js'

/** The bandwidth row of a memory type: SYSTEM, GTT, VRAM; a driver-private type is device memory, so it copies at VRAM's rates. */
const link = (d: number): number => Math.min(d, 3) - 1

/** The fence context of the copy engine's jobs. */
export const COPY_CONTEXT = 0xffff_ff00
const BOOKKEEP = 3
const KERNEL = 0

interface Pending {
  id: number
  domain: number
  size: bigint
  node: bigint | null
  fences: number[]
  /** The dmem cgroup still charged for the range (null: none). */
  charge: number | null
}

export interface CopyEngine {
  bandwidth: bigint[]
  latency: bigint
  seqno: number
  jobs: CopyJobRecord[]
  scheduled: number
  evictFence: (number | null)[]
  signalTimes: Map<number, bigint>
  pending: Pending[]
  noWaitGpu: boolean
  busy: boolean
  ownFence: number | null
}

const sat = (x: bigint) => (x > U64_MAX ? U64_MAX : x)

export function configureCopy(d: DevState, bandwidth: bigint[], latency: bigint): void {
  if (bandwidth.length !== 9) throw new DrmError('EINVAL', `copy bandwidth needs 9 values, got ${bandwidth.length}`)
  bandwidth.forEach((bw, i) => {
    if (bw === 0n && i % 4 !== 0) throw new DrmError('EINVAL', 'copy bandwidth between two domains must be above 0')
  })
  d.copy ??= {
    bandwidth: [],
    latency: 0n,
    seqno: 0,
    jobs: [],
    scheduled: 0,
    evictFence: new Array(MAX_TYPES).fill(null),
    signalTimes: new Map(),
    pending: [],
    noWaitGpu: false,
    busy: false,
    ownFence: null,
  }
  d.copy.bandwidth = [...bandwidth]
  d.copy.latency = latency
}

function hop(c: CopyEngine, from: number, to: number, bytes: bigint): bigint {
  let bw = c.bandwidth[link(from) * 3 + link(to)]
  if (bw === 0n) bw = 1n
  const ns = (bytes * 1_000_000_000n + bw - 1n) / bw
  return sat(c.latency + sat(ns))
}

export function copyJobs(d: DevState): CopyJobRecord[] {
  return (d.copy?.jobs ?? []).map((j) => ({ ...j, deps: [...j.deps] }))
}

/** Runs `validate` (the plain one) with `no_wait_gpu`; reports the fence the buffer waits for. */
export function validateTimed(d: DevState, noWaitGpu: boolean, validate: () => ValidateRecord): TimedValidateRecord {
  reapDestroyed(d)
  const c = d.copy
  if (c !== null) {
    c.noWaitGpu = noWaitGpu
    c.busy = false
    c.ownFence = null
  }
  let base: ValidateRecord
  try {
    base = validate()
  } catch (e) {
    const busy = c?.busy ?? false
    if (c !== null) {
      c.noWaitGpu = false
      c.ownFence = null
    }
    if (busy && e instanceof DrmError && (e.errno === 'ENOMEM' || e.errno === 'ENOSPC')) {
      throw new DrmError('EBUSY', `no_wait_gpu: ${e.message.replace(/^[A-Z]+: /, '')}`)
    }
    throw e
  }
  let fence: number | null = null
  if (c !== null) {
    c.noWaitGpu = false
    fence = c.ownFence
    c.ownFence = null
  }
  const fenceEnd = fence === null ? null : fenceOf(d, fence).signalAt
  return { ...base, fence: fence ?? 0, fenceEnd }
}

function knownTime(d: DevState, f: number): bigint | null {
  const t = d.copy?.signalTimes.get(f)
  if (t !== undefined) return t
  const fence = fenceOf(d, f)
  if (fence.signalAt !== null) return fence.signalAt
  return fence.signaled ? 0n : null
}

const unsignaled = (d: DevState, resv: number): number[] =>
  fences(d, resv, BOOKKEEP)
    .map((e) => e.fence)
    .filter((f) => !fenceSignaled(d, f))

function hasContents(d: DevState, id: number): boolean {
  const o = d.objects.get(id)
  return o !== undefined && !o.freed && !o.purged && (o.populated || o.domain !== SYSTEM)
}

function markBusy(d: DevState, busy: boolean): boolean {
  if (busy && d.copy !== null) d.copy.busy = true
  return busy
}

/** no_wait_gpu and the buffer itself must wait before its contents can move. */
export function copyBufferBusy(d: DevState, id: number): boolean {
  if (!d.copy?.noWaitGpu || !hasContents(d, id)) return false
  return markBusy(d, unsignaled(d, objectOf(d, id).resv).length > 0)
}

/** no_wait_gpu and an eviction victim still has unsignaled fences: skip it. */
export function copyVictimBusy(d: DevState, victim: number): boolean {
  if (!d.copy?.noWaitGpu) return false
  const o = d.objects.get(victim)
  if (o === undefined || o.freed) return false
  return markBusy(d, unsignaled(d, o.resv).length > 0)
}

/** no_wait_gpu: a range just allocated in a domain whose last eviction still copies is given back. */
export function copyPlaceBusy(d: DevState, domain: number, node: bigint | null): boolean {
  const c = d.copy
  if (c === null) return false
  const f = c.evictFence[domain - 1]
  if (!c.noWaitGpu || f === null || fenceSignaled(d, f)) return false
  domainFree(d, domain, node)
  return markBusy(d, true)
}

/** The copy job of a move (none without contents); the buffer still waits for the destination's last eviction. */
export function copyMove(d: DevState, id: number, from: number, to: number, bounce: boolean, evicted: boolean): void {
  const c = d.copy
  if (c === null) return
  const o = objectOf(d, id)
  const contents = hasContents(d, id)
  const deps = contents ? unsignaled(d, o.resv) : []
  const evict = c.evictFence[to - 1]
  let last: number | null = null
  if (evict !== null && !fenceSignaled(d, evict)) {
    addKernelFence(d, o.resv, evict)
    deps.push(evict)
    last = evict
  }
  if (contents) {
    const duration = bounce ? sat(hop(c, from, GTT, o.size) + hop(c, GTT, to, o.size)) : hop(c, from, to, o.size)
    const seqno = c.seqno + 1
    const fence = createFence(d, COPY_CONTEXT, seqno, null)
    c.seqno = seqno
    c.jobs.push({
      fence,
      object: id,
      from,
      to,
      bytes: o.size,
      evicted,
      submitted: d.now,
      duration,
      start: null,
      end: null,
      deps,
    })
    // The range it leaves is read until the copy ends (`man->move`).
    if (evicted) c.evictFence[from - 1] = fence
    addKernelFence(d, o.resv, fence)
    scheduleCopies(d)
    last = fence
  }
  if (!evicted && last !== null) c.ownFence = last
}

/** Gives times to the jobs whose dependencies' times are known, in order. */
function scheduleCopies(d: DevState): void {
  const c = d.copy
  if (c === null) return
  for (let i = c.scheduled; i < c.jobs.length; i++) {
    const job = c.jobs[i]
    const prev = i === 0 ? 0n : c.jobs[i - 1].end
    if (prev === null) return
    let start = job.submitted > prev ? job.submitted : prev
    for (const f of job.deps) {
      const t = knownTime(d, f)
      if (t === null) return
      if (t > start) start = t
    }
    job.start = start
    job.end = sat(start + job.duration)
    c.scheduled = i + 1
    fenceOf(d, job.fence).signalAt = job.end
  }
}

/** A fence signaled by hand: jobs waiting for it can now be timed. */
export function copyFenceSignaled(d: DevState, f: number): void {
  const c = d.copy
  if (c === null) return
  if (!c.signalTimes.has(f)) c.signalTimes.set(f, d.now)
  scheduleCopies(d)
  reapDestroyed(d)
}

/** `dma_resv_add_fence` for TTM's own KERNEL fences: TTM reserved the slot. */
function addKernelFence(d: DevState, resv: number, fence: number): void {
  const r = resvOf(d, resv)
  const f = fenceOf(d, fence)
  for (let i = 0; i < r.fences.length; i++) {
    const old = r.fences[i][0]
    const o = fenceOf(d, old)
    if (old === fence || (o.context === f.context && f.seqno >= o.seqno) || fenceSignaled(d, old)) {
      r.fences[i] = [fence, KERNEL]
      return
    }
  }
  r.fences.push([fence, KERNEL])
  r.maxFences = Math.max(r.maxFences, r.fences.length)
}

/** The last reference went while the resv has unsignaled fences: keep the range until they signal. */
export function delayDestroy(d: DevState, id: number, resv: number, domain: number, node: bigint | null): boolean {
  const c = d.copy
  if (c === null) return false
  const fs = unsignaled(d, resv)
  if (fs.length === 0) return false
  c.pending.push({ id, domain, size: objectRecord(d, id).size, node, fences: fs, charge: null })
  return true
}

/** A CPU access while the buffer's KERNEL fences (a move) are unsignaled is recorded; false then. */
export function copyAccessCheck(d: DevState, id: number): boolean {
  if (d.copy === null) return true
  const f = fences(d, objectOf(d, id).resv, KERNEL).find((e) => !fenceSignaled(d, e.fence))
  if (f === undefined) return true
  d.violate('access-during-move', id, `GEM object ${id}: CPU access while its move fence ${f.fence} has not signaled`)
  return false
}

/** Frees the pending destroys whose fences have all signaled, oldest first. */
export function reapDestroyed(d: DevState): void {
  const c = d.copy
  if (c === null || c.pending.length === 0) return
  const kept: Pending[] = []
  for (const p of c.pending) {
    if (p.fences.every((f) => fenceSignaled(d, f))) {
      domainFree(d, p.domain, p.node)
      if (p.charge !== null) dmemUnchargeCgroup(d, p.charge, p.size, p.domain)
    } else kept.push(p)
  }
  c.pending = kept
}

export function pendingDestroy(d: DevState): PendingDestroyRecord[] {
  reapDestroyed(d)
  return (d.copy?.pending ?? []).map((p) => {
    let until: bigint | null = 0n
    for (const f of p.fences) {
      const t = knownTime(d, f)
      if (t === null) {
        until = null
        break
      }
      if (t > until) until = t
    }
    return { id: p.id, domain: p.domain, size: p.size, fences: [...p.fences], until }
  })
}
