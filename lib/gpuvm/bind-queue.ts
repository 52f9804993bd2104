/**
 * Bind queues (Xe's bind exec queues, nouveau's VM_BIND with RUN_ASYNC, a
 * VM_BIND with syncobjs): asynchronous binds of one VA space, ordered within
 * a queue, independent across queues.
 *
 * As Xe and nouveau do, a submission changes the VA space (the drm_gpuvm
 * tree) at once, in submission order, as one atomic array (all its binds or
 * none, `GpuVm.bindArray`); its steps (bind-plan.ts) are kept on the job. The job
 * then waits on the simulated clock (bind-timeline.ts) and its out-fence
 * signals when the page-table update it stands for ends. How long an update
 * takes is drmsim's model, not the kernel's: `latency + perStep * steps` ns
 * by default, or what the queue's `duration` callback says.
 */
import { describe, func, instance, list, options, readArgument, string, u64, unreadable } from '../base/check.js'
import { DrmError, type Errno } from '../base/errors.js'
import { BATCH_MAP, BATCH_WORDS } from '../contract/vm.js'
import type { Device } from '../device/device.js'
import { type Fence, isFence } from '../device/resv.js'
import { GemObject } from '../device/gem.js'
import { batchContents, BindBatch } from './batch.js'
import { errorName, type JobRecord, started, timelineOf } from './bind-timeline.js'
import type { GpuVm } from './gpuvm.js'
import { coreOf } from './internal.js'
import { planSteps } from './bind-plan.js'
import { interval, type Interval, levelWritten, overlaps, PageTables, spanOf } from './pt-conflict.js'
import { levelShift, type PageTableCost } from '../contract/pagetable.js'

/** What a submission cost: `after - before`, count by count. */
function costDiff(after: PageTableCost, before: PageTableCost): PageTableCost {
  const out = { ...after }
  for (const k of Object.keys(after) as (keyof PageTableCost)[])
    (out[k] as unknown) = (after[k] as never) - (before[k] as never)
  return out
}

/**
 * drmsim's default update time with a page-table model (`vm.pageTable`): a fixed cost per job, per
 * leaf (PTE) and directory (PDE) entry written, per TLB invalidation, in ns (a model, not a measurement).
 */
export const DEFAULT_PT_TIMING: Readonly<{ perPte: bigint; perPde: bigint; perTlb: bigint }> = Object.freeze({
  perPte: 10n,
  perPde: 10n,
  perTlb: 1_000n,
})

/** drmsim's default update time: a fixed cost per job and a cost per step, in ns (a model, not a measurement). */
export const DEFAULT_BIND_TIMING: Readonly<{ latency: bigint; perStep: bigint }> = Object.freeze({
  latency: 2_000n,
  perStep: 500n,
})

/** One request of a submission: `map` (`obj` null or absent: a sparse mapping) or `unmap`. */
export type BindRequest =
  | { op: 'map'; addr: bigint; range: bigint; obj?: GemObject | null; offset?: bigint }
  | { op: 'unmap'; addr: bigint; range: bigint }

/** One step a submission made in the VA space: the range a map creates, or the range an unmap or remap clears. */
export interface BindStep {
  /** The request (index in the submission) it comes from. */
  readonly request: number
  readonly kind: 'map' | 'remap' | 'unmap'
  readonly addr: bigint
  readonly range: bigint
}

/** What a `duration` callback is told of a job before it is queued. */
export interface BindPlan {
  readonly queue: BindQueue
  readonly steps: readonly BindStep[]
  /** What the VA space's page-table model did for the submission, when it has one. */
  readonly cost?: PageTableCost
}

export interface BindQueueOptions {
  /** Shown in messages and traces. */
  name?: string
  /** Fixed cost of a job, ns (default `DEFAULT_BIND_TIMING.latency`). */
  latency?: bigint
  /** Cost of a step, ns (default `DEFAULT_BIND_TIMING.perStep`), without a page-table model. */
  perStep?: bigint
  /** With a page-table model: per PTE written, per PDE written, per TLB invalidation (`DEFAULT_PT_TIMING`). */
  perPte?: bigint
  perPde?: bigint
  perTlb?: bigint
  /** Replaces the default model: the update time (ns, a u64) of a job's steps. */
  duration?: (plan: BindPlan) => bigint
}

export interface SubmitOptions {
  /** The requests, applied in order: a BindBatch or an iterable of `BindRequest`. */
  binds: BindBatch | Iterable<BindRequest>
  /** Fences of the VA space's device the job waits for (syncobjs with no SIGNAL flag). */
  inFences?: Iterable<Fence>
  /** Fail request `failAt` (ENOSPC, Xe's bind error injection) after the ones before it: all are undone. */
  failAt?: number | null
}

/** 'queued' (not started), 'running', 'done' (its out-fence signalled). */
export type BindJobState = 'queued' | 'running' | 'done'

const records = new WeakMap<BindJob, JobRecord>()
/** Set for the one constructor call `submit` makes; a caller's own `new BindJob(...)` is refused. */
let minting = false

/** One submission of a bind queue. */
export class BindJob {
  readonly queue: BindQueue
  /** Its out-fence's seqno in the queue's fence context, from 1. */
  readonly seqno: number
  readonly steps: readonly BindStep[]
  readonly inFences: readonly Fence[]
  /** Signals when the job ends, with the job's error if it has one. */
  readonly outFence: Fence

  /** @internal Jobs are made by `BindQueue.submit`; calling this yourself is EINVAL. */
  constructor(queue: BindQueue, seqno: number, steps: readonly BindStep[], rec: JobRecord) {
    if (!minting) throw new DrmError('EINVAL', 'BindJob handles are made by BindQueue.submit, not constructed')
    minting = false
    this.queue = queue
    this.seqno = seqno
    this.steps = steps
    this.inFences = rec.inFences
    this.outFence = rec.outFence
    records.set(this, rec)
    Object.freeze(this)
  }

  get #rec(): JobRecord {
    return records.get(this)!
  }

  get submittedAt(): bigint {
    return this.#rec.submittedAt
  }

  /** When it starts (ns), or null while something it waits on has no time yet. */
  get start(): bigint | null {
    return this.#rec.start
  }

  /** When its out-fence signals, or null. */
  get end(): bigint | null {
    return this.#rec.end
  }

  /** The update time the model gave it (it takes none when skipped or cancelled). */
  get duration(): bigint {
    return this.#rec.duration
  }

  /** Jobs of other queues it waits for (range-fence conflicts, pt-conflict.ts). */
  get conflicts(): BindJob[] {
    return this.#rec.conflicts.map((r) => jobOf(r))
  }

  get state(): BindJobState {
    const r = this.#rec
    const now = this.queue.vm.device!.now
    if (!started(r, now)) return 'queued'
    return r.end! <= now ? 'done' : 'running'
  }

  /** The errno its out-fence signals with: an in-fence's error, or ECANCELED (queue destroyed). */
  get error(): Errno | null {
    return this.#rec.start === null ? null : errorName(this.#rec.error)
  }

  /** Whether its queue was destroyed before it started. */
  get cancelled(): boolean {
    return this.#rec.killed
  }

  toString(): string {
    return `BindJob ${this.queue.name}#${this.seqno}`
  }
}

const jobs = new WeakMap<JobRecord, BindJob>()
const jobOf = (r: JobRecord): BindJob => jobs.get(r)!

/** The page tables of each VA space, as its bind queues learn them. */
const pageTables = new WeakMap<GpuVm, PageTables>()

let nextQueue = 1

export class BindQueue {
  readonly vm: GpuVm
  readonly name: string
  readonly latency: bigint
  readonly perStep: bigint
  readonly perPte: bigint
  readonly perPde: bigint
  readonly perTlb: bigint
  readonly #duration: ((plan: BindPlan) => bigint) | null
  readonly #jobs: BindJob[] = []
  #context: number | null = null
  #destroyed = false

  /** @internal Made by `GpuVm.createBindQueue`. */
  constructor(vm: GpuVm, opts: BindQueueOptions = {}) {
    const o = options<BindQueueOptions>(opts, 'createBindQueue options')
    const [name, latency, perStep, duration, perPte, perPde, perTlb] = readArgument('createBindQueue options', () => [
      o.name,
      o.latency,
      o.perStep,
      o.duration,
      o.perPte,
      o.perPde,
      o.perTlb,
    ])
    coreOf(vm) // a real GpuVm, else EINVAL
    if (vm.destroyed) throw new DrmError('EINVAL', `${vm} is destroyed`)
    if (vm.device === null) throw new DrmError('EINVAL', `${vm} has no device: bind queues need its fences and clock`)
    this.vm = vm
    this.name = name === undefined ? `queue ${nextQueue++}` : string(name, 'name')
    this.latency = latency === undefined ? DEFAULT_BIND_TIMING.latency : u64(latency, 'latency')
    this.perStep = perStep === undefined ? DEFAULT_BIND_TIMING.perStep : u64(perStep, 'perStep')
    this.perPte = perPte === undefined ? DEFAULT_PT_TIMING.perPte : u64(perPte, 'perPte')
    this.perPde = perPde === undefined ? DEFAULT_PT_TIMING.perPde : u64(perPde, 'perPde')
    this.perTlb = perTlb === undefined ? DEFAULT_PT_TIMING.perTlb : u64(perTlb, 'perTlb')
    this.#duration = duration === undefined ? null : func<(plan: BindPlan) => bigint>(duration, 'duration')
  }

  get device(): Device {
    return this.vm.device!
  }

  get destroyed(): boolean {
    return this.#destroyed
  }

  /** Every job submitted, in order. */
  get jobs(): readonly BindJob[] {
    return [...this.#jobs]
  }

  /** Jobs whose out-fence has an error and has signalled (in-fence errors, cancellations). */
  get errors(): { job: BindJob; error: Errno }[] {
    return this.#jobs.filter((j) => j.error !== null && j.state === 'done').map((job) => ({ job, error: job.error! }))
  }

  /**
   * Submits binds (VM_BIND on this queue): the VA space changes now, in
   * order; the job runs on the clock after the previous job of the queue,
   * its in-fences and the conflicting jobs of other queues. The requests
   * are one atomic array, as Xe's VM_BIND of an array and nouveau's VM_BIND
   * (both unwind a failed submission): applied with `GpuVm.bindArray`, all
   * or none. A request that fails (or `failAt`) throws its DrmBatchError
   * (`atomic`, `unwound` when requests had been applied and were undone),
   * the VA space as before, and no job is queued.
   */
  submit(opts: SubmitOptions): BindJob {
    this.#alive()
    const o = options<SubmitOptions>(opts, 'submit options')
    const [binds, fences, failAt] = readArgument('submit options', () => [o.binds, o.inFences, o.failAt])
    const requests = readRequests(binds)
    const inFences = fences === undefined ? [] : list(fences, 'inFences').map((f) => this.#fence(f))
    const tables = pageTables.get(this.vm) ?? new PageTables()
    pageTables.set(this.vm, tables)
    const steps = planSteps(this.vm, requests)
    const pt = this.vm.pageTable
    const before = pt?.info()
    this.vm.bindArray(binds instanceof BindBatch ? binds : batchOf(requests), { failAt })
    let spans: Interval[]
    let cost: PageTableCost | undefined
    if (pt !== undefined && before !== undefined) {
      // One page-table model: the VA space's says what the submission wrote (levelWritten), and its cost.
      const after = pt.info()
      const shift = BigInt(levelShift(pt.profile, levelWritten(before.occupancy, after.occupancy)))
      spans = steps.map((s) => spanOf(s.addr, s.range, shift))
      cost = costDiff(after.total, before.total)
    } else {
      spans = steps.map((s) => interval(s.addr, s.range, s.kind === 'map' ? tables.mapLevel(s.addr, s.range) : 0))
    }
    const duration = this.#time(steps, cost)
    const timeline = timelineOf(this.device)
    const now = this.device.now
    const conflicts = [...conflicting(this, spans, now)]
    const seqno = this.#jobs.length + 1
    const outFence = this.device.createFence({ seqno, ...(this.#context === null ? {} : { context: this.#context }) })
    this.#context ??= this.device.core.fenceInfo(outFence.id).context
    const last = this.#jobs.at(-1)
    const rec: JobRecord = {
      queue: this,
      prev: last === undefined ? null : records.get(last)!,
      submittedAt: now,
      inFences,
      outFence,
      conflicts: conflicts.map((j) => records.get(j)!),
      duration,
      killed: false,
      start: null,
      end: null,
      error: 0,
    }
    minting = true
    const job = new BindJob(this, seqno, Object.freeze(steps), rec)
    jobs.set(rec, job)
    spansOf.set(job, spans)
    this.#jobs.push(job)
    timeline.add(rec)
    return job
  }

  /**
   * Destroys the queue (xe_exec_queue_destroy: the queue is killed). Jobs
   * that started finish; the others do not update anything and signal
   * ECANCELED once what they wait for has signalled, as the kernel's killed
   * entity lets them. Returns those cancelled jobs.
   */
  destroy(): BindJob[] {
    this.#alive()
    this.#destroyed = true
    return timelineOf(this.device)
      .kill(this)
      .map((r) => jobOf(r))
  }

  toString(): string {
    return `BindQueue '${this.name}'`
  }

  #alive(): void {
    if (this.#destroyed) throw new DrmError('EINVAL', `${this} is destroyed`)
    if (this.vm.destroyed) throw new DrmError('EINVAL', `${this}: ${this.vm} is destroyed`)
  }

  #fence(f: unknown): Fence {
    const fence = instance(f, isFence, 'inFences', 'a Fence')
    if (fence.device !== this.device) throw new DrmError('EINVAL', `${fence} belongs to another device`)
    return fence
  }

  #time(steps: readonly BindStep[], cost: PageTableCost | undefined): bigint {
    if (this.#duration === null) {
      if (cost === undefined) return this.latency + this.perStep * BigInt(steps.length)
      const n = (v: number) => BigInt(v)
      return (
        this.latency +
        this.perPte * n(cost.pteWrites) +
        this.perPde * n(cost.pdeWrites) +
        this.perTlb * n(cost.tlbInvalidations)
      )
    }
    const plan: BindPlan = Object.freeze({ queue: this, steps: Object.freeze([...steps]), ...(cost ? { cost } : {}) })
    let d: unknown
    try {
      d = this.#duration(plan)
    } catch (err) {
      throw unreadable(err, 'duration(plan)')
    }
    return u64(d, 'duration(plan)')
  }
}

/** The conflict spans of each job (pt-conflict.ts). */
const spansOf = new WeakMap<BindJob, readonly Interval[]>()

/** Jobs of the other queues of `queue`'s VA space whose update has not ended and overlaps `spans`. */
function* conflicting(queue: BindQueue, spans: readonly Interval[], now: bigint): Generator<BindJob> {
  for (const other of queuesOf(queue.vm)) {
    if (other === queue) continue
    for (const j of other.jobs) {
      const end = j.end
      if ((end === null || end > now) && overlaps(spans, spansOf.get(j)!)) yield j
    }
  }
}

const queues = new WeakMap<GpuVm, BindQueue[]>()
const queuesOf = (vm: GpuVm): BindQueue[] => queues.get(vm) ?? []

/** @internal `GpuVm.createBindQueue`. */
export function createBindQueue(vm: GpuVm, opts?: BindQueueOptions): BindQueue {
  const q = new BindQueue(vm, opts)
  queues.set(vm, [...queuesOf(vm), q])
  return q
}

/** The requests of a submission, read once and checked (a hostile getter is EINVAL). */
function readRequests(binds: unknown): BindRequest[] {
  if (binds instanceof BindBatch) return batchRequests(binds)
  if (typeof binds !== 'object' || binds === null) {
    throw new DrmError('EINVAL', `binds must be a BindBatch or an iterable of requests, got ${describe(binds)}`)
  }
  return list(binds, 'binds').map((r, i) =>
    readArgument(`binds[${i}]`, (): BindRequest => {
      const q = options<{ op: unknown; addr: unknown; range: unknown; obj?: unknown; offset?: unknown }>(
        r,
        `binds[${i}]`,
      )
      const op = q.op
      const addr = u64(q.addr, `binds[${i}].addr`)
      const range = u64(q.range, `binds[${i}].range`)
      if (op === 'unmap') return { op, addr, range }
      if (op !== 'map') throw new DrmError('EINVAL', `binds[${i}].op must be 'map' or 'unmap', got ${describe(op)}`)
      const obj = q.obj ?? null
      if (obj !== null && GemObject.idOf(obj) === undefined) {
        throw new DrmError('EINVAL', `binds[${i}].obj must be a GemObject, got ${describe(obj)}`)
      }
      return { op, addr, range, obj: obj as GemObject | null, offset: u64(q.offset ?? 0n, `binds[${i}].offset`) }
    }),
  )
}

/** The requests as a BindBatch, for `bindArray`. */
function batchOf(requests: readonly BindRequest[]): BindBatch {
  const batch = new BindBatch(Math.max(1, requests.length))
  for (const r of requests) {
    if (r.op === 'unmap') batch.unmap(r.addr, r.range)
    else batch.map({ addr: r.addr, range: r.range, obj: r.obj ?? null, offset: r.offset ?? 0n })
  }
  return batch
}

/** A BindBatch's packed requests as `BindRequest`s (layout: BATCH_WORDS in contract/vm.ts). */
function batchRequests(batch: BindBatch): BindRequest[] {
  const { words, length, objects: held, objectCount } = batchContents(batch)
  const objects = new Map(held.slice(0, objectCount).map((o) => [o!.id, o!]))
  const out: BindRequest[] = []
  for (let i = 0; i < length; i++) {
    const w = words.subarray(i * BATCH_WORDS, (i + 1) * BATCH_WORDS)
    const kind = Number(w[0] & 0xffff_ffffn)
    const id = Number(w[0] >> 32n)
    const [addr, range, offset] = [w[1], w[2], w[3]]
    out.push(
      kind === BATCH_MAP
        ? { op: 'map', addr, range, obj: id === 0 ? null : (objects.get(id) ?? null), offset }
        : { op: 'unmap', addr, range },
    )
  }
  return out
}
