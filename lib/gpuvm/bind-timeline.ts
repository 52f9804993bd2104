/**
 * When the bind jobs of one device run, on its simulated clock. A job starts
 * once it is submitted, the job before it in its queue has ended, its
 * in-fences have signalled and the conflicting jobs of other queues (range
 * fences, pt-conflict.ts) have ended; it ends `duration` later, when its
 * out-fence signals. A job whose in-fence carries an error does not update
 * anything and signals that error at its start; a job of a destroyed queue
 * signals ECANCELED at its start.
 *
 * A job not yet started is scheduled again whenever something it may wait
 * on changes (a submission, a fence signalled by hand, a queue destroyed);
 * its out-fence then gets its time and error through the engine
 * (`scheduleFence`), so fence waits (`Fence.wait`, the Scheduler, resv
 * waits) see it like any timed fence. A job that started keeps its times.
 */
import { ERRNO_CODES, type Errno, errnoName } from '../base/errors.js'
import type { Device } from '../device/device.js'
import { onFenceSignal } from '../device/fence-events.js'
import type { Fence } from '../device/resv.js'

/** What the timeline knows of a job (the public BindJob reads it). */
export interface JobRecord {
  readonly queue: object
  readonly prev: JobRecord | null
  readonly submittedAt: bigint
  readonly inFences: readonly Fence[]
  readonly outFence: Fence
  readonly conflicts: readonly JobRecord[]
  /** What the update takes when it runs (ns). */
  readonly duration: bigint
  killed: boolean
  start: bigint | null
  end: bigint | null
  /** 0, or the negative errno its out-fence signals with. */
  error: number
}

const CANCELED = -ERRNO_CODES.ECANCELED

export class Timeline {
  readonly device: Device
  /** Jobs not yet started, in submission order. */
  #pending: JobRecord[] = []

  constructor(device: Device) {
    this.device = device
    onFenceSignal(device, () => this.reschedule())
  }

  add(job: JobRecord): void {
    this.#pending.push(job)
    this.reschedule()
  }

  /** Marks the queue's jobs that have not started as killed; returns them. */
  kill(queue: object): JobRecord[] {
    const now = this.device.now
    const killed = this.#pending.filter((j) => j.queue === queue && !started(j, now))
    for (const j of killed) j.killed = true
    this.reschedule()
    return killed
  }

  /** Schedules again every job that has not started. */
  reschedule(): void {
    const core = this.device.core
    const now = this.device.now
    const pending = this.#pending.filter((j) => !started(j, now))
    this.device.run(() => {
      for (const j of pending) {
        if (j.start === null) continue
        j.start = j.end = null
        j.error = 0
        core.scheduleFence(j.outFence.id, null, 0)
      }
      for (const j of pending) this.#resolve(j, now)
    })
    this.#pending = pending
  }

  #resolve(j: JobRecord, now: bigint): void {
    let start = j.submittedAt
    for (const dep of j.prev === null ? j.conflicts : [j.prev, ...j.conflicts]) {
      if (dep.end === null) return
      if (dep.end > start) start = dep.end
    }
    let error = 0
    for (const f of j.inFences) {
      const info = this.device.core.fenceInfo(f.id)
      if (!info.signaled && info.signalAt === null) return
      // Signalled by hand: it was just now (this runs at each such signal), or before the submission.
      const at = info.signalAt !== null && (!info.signaled || info.signalAt <= now) ? info.signalAt : now
      if (at > start) start = at
      if (error === 0) error = info.error
    }
    if (j.killed) error = CANCELED
    j.start = start
    j.end = error === 0 ? start + j.duration : start
    j.error = error
    this.device.core.scheduleFence(j.outFence.id, j.end, error)
  }
}

export const started = (j: JobRecord, now: bigint): boolean => j.start !== null && j.start <= now

export const errorName = (code: number): Errno | null =>
  code === 0 ? null : (errnoName(code) ?? (`errno ${-code}` as Errno))

const timelines = new WeakMap<Device, Timeline>()

/** The timeline of a device's bind queues. */
export function timelineOf(device: Device): Timeline {
  let t = timelines.get(device)
  if (t === undefined) timelines.set(device, (t = new Timeline(device)))
  return t
}
