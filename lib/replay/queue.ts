/**
 * The replay's bind queues and fences (issue 15): a VA space's bind queues
 * (`vm.createBindQueue`), GPU-job fences, and the device's clock.
 *
 *   {"op":"fence.create","fence":"spin"}                         a GPU job with no end time yet
 *   {"op":"fence.create","fence":"gpu","signalAt":"1000","errno":"EIO"}   one that fails at 1000 ns
 *   {"op":"queue.create","vm":"a","queue":"bind0","latency":"2000","perStep":"500"}
 *   {"op":"queue.bind","queue":"bind0","ops":[{"op":"bind","addr":"0x1a0000","range":"0x1000","obj":"bo"}],
 *     "inFences":["spin"],"outFence":"b1","failAt":1}
 *   {"op":"fence.signal","fence":"spin","errno":"ECANCELED"}   {"op":"clock.advance","ns":"100000"}
 *   {"op":"fence.expect","fence":"b1","signaled":true,"signalAt":"112500","errno":"EIO"}
 *   {"op":"queue.destroy","queue":"bind0"}
 *
 * A fence's error is the field `errno` (in JSON output, `error` is a failed
 * record's). A `queue.bind` is one atomic submission (its `ops` as a
 * `bind.array`'s); its out-fence takes the name `outFence` (else it has none
 * in the file) and can be an in-fence of later jobs. Records name a job by
 * its out-fence, else `queue#seqno`. What each line prints:
 * Times are ns, printed as the replay's other u64s (0x hex).
 * - `queue.bind`: `job`, `duration`, `start` and `end` ('-' while it
 *   waits on something with no time yet), `fence_error` (the errno its
 *   out-fence will signal), `conflicts` (jobs of other queues it waits for);
 * - every queue and fence line: `scheduled`, the other jobs whose times
 *   became known or changed (`job start-end` and the errno, if any);
 * - `clock.advance`, `fence.signal`: `now`, and `signalled`, the jobs whose
 *   out-fence signalled during the line (`job@end` and the errno);
 * - `queue.destroy`: `cancelled`, the jobs that will not run.
 */
import { hex } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import type { Fence } from '../device/resv.js'
import type { BindJob, BindQueue, BindRequest } from '../gpuvm/bind-queue.js'
import { atomically } from './array.js'
import type { ReplayRecord } from './record.js'
import type { ReplayRequest } from './schema.js'
import type { Named, ReplayState } from './state.js'

/** What a replay keeps of its queues and fences. */
interface Queues {
  readonly fences: Map<string, Named<Fence>>
  readonly queues: Map<string, Named<BindQueue>>
  /** Every job, with its name and what was last printed of it. */
  readonly jobs: { job: BindJob; name: string; times: string; signaled: boolean }[]
  /** Out-fences (a job signals them; a `fence.signal` may not). */
  readonly outFences: WeakSet<Fence>
}

const states = new WeakMap<ReplayState, Queues>()

function queuesOf(r: ReplayState): Queues {
  let q = states.get(r)
  if (q === undefined) {
    q = { fences: new Map(), queues: new Map(), jobs: [], outFences: new WeakSet() }
    states.set(r, q)
  }
  return q
}

const fenceOf = (r: ReplayState, req: ReplayRequest, field = 'fence', name = req.fence!): Fence =>
  r.get(queuesOf(r).fences, 'fence', field, name, req.line)
const queueOf = (r: ReplayState, req: ReplayRequest): BindQueue =>
  r.get(queuesOf(r).queues, 'queue', 'queue', req.queue!, req.line)

/** A job's times as printed: `start-end` (ns, hex as the replay's u64s), '-' for what is not known, then its errno. */
function timesOf(job: BindJob): string {
  const t = (v: bigint | null) => (v === null ? '-' : hex(v))
  const error = job.start === null ? null : job.error
  return `${t(job.start)}-${t(job.end)}${error ? ` ${error}` : ''}`
}

/** After a line: the jobs whose times changed (`scheduled`) and those that signalled (`signalled`). */
function report(r: ReplayState, record: ReplayRecord, skip: BindJob | null, signals: boolean): void {
  const scheduled: string[] = []
  const signalled: string[] = []
  for (const j of queuesOf(r).jobs) {
    const times = timesOf(j.job)
    if (times !== j.times && j.job !== skip) scheduled.push(`${j.name} ${times}`)
    j.times = times
    const done = j.job.outFence.signaled
    if (done && !j.signaled) signalled.push(`${j.name}@${hex(j.job.end!)}${j.job.error ? ` ${j.job.error}` : ''}`)
    j.signaled = done
  }
  if (scheduled.length) record.result.scheduled = scheduled
  if (signals) {
    record.result.now = r.device.now
    record.result.signalled = signalled
  }
}

function fenceCreate(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const device = r.device
  r.create(queuesOf(r).fences, 'fence', 'fence', req.fence!, req.line, () =>
    device.createFence({ signalAt: req.signalAt, error: req.errno }),
  )
  report(r, record, null, false)
}

function fenceSignal(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const fence = fenceOf(r, req)
  if (queuesOf(r).outFences.has(fence))
    throw new DrmError('EINVAL', `fence '${req.fence}' is a bind job's out-fence: its job signals it`)
  fence.signal(req.errno)
  report(r, record, null, true)
}

/** `fence.expect`: the fence's state; a difference is a simulation error. */
function fenceExpect(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const fence = fenceOf(r, req)
  const diffs: string[] = []
  const [signaled, at, error] = [fence.signaled, fence.signalAt, fence.error]
  if (req.signaled !== undefined && signaled !== req.signaled)
    diffs.push(`${signaled ? 'signalled' : 'not signalled'}, expected ${req.signaled ? 'signalled' : 'not'}`)
  if (req.signalAt !== undefined && at !== req.signalAt)
    diffs.push(`signals at ${at === null ? 'no time' : hex(at)}, expected ${hex(req.signalAt)}`)
  if (req.errno !== undefined && error !== req.errno) diffs.push(`error ${error ?? 'none'}, expected ${req.errno}`)
  record.result.signaled = signaled
  record.result.signalAt = at
  record.result.fenceError = error
  if (diffs.length) throw new DrmError('EINVAL', `fence '${req.fence}': ${diffs.join('; ')}`)
}

function queueCreate(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const vm = r.vm(req)
  if (vm.device === null)
    throw new DrmError(
      'EINVAL',
      `VA space '${req.vm}' has no device: bind queues need a drm_gpuvm (vm.create with era)`,
    )
  const q = r.create(queuesOf(r).queues, 'queue', 'queue', req.queue!, req.line, () =>
    vm.createBindQueue({ name: req.queue, latency: req.latency, perStep: req.perStep }),
  )
  record.result.latency = q.latency
  record.result.perStep = q.perStep
}

function queueBind(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const s = queuesOf(r)
  const q = queueOf(r, req)
  const inFences = (req.inFences ?? []).map((name) => fenceOf(r, req, 'inFences', name))
  const binds = (req.ops ?? []).map((op, i): BindRequest => {
    if (op.op === 'unbind') return { op: 'unmap', addr: op.addr, range: op.range }
    const obj = op.obj == null ? null : r.obj(req, `ops[${i}].obj`, op.obj)
    return { op: 'map', addr: op.addr, range: op.range, obj, offset: op.offset ?? 0n }
  })
  const taken = req.outFence === undefined ? undefined : s.fences.get(req.outFence)
  if (taken !== undefined)
    r.format(req.line, 'outFence', `duplicate fence name "${req.outFence}" (created at line ${taken.line})`)
  const job = atomically(r, q.vm, record, () => q.submit({ binds, inFences, failAt: req.failAt }))
  let name = `${req.queue}#${job.seqno}`
  if (req.outFence !== undefined) {
    name = req.outFence
    r.create(s.fences, 'fence', 'outFence', name, req.line, () => job.outFence)
    s.outFences.add(job.outFence)
  }
  const c = { map: 0, remap: 0, unmap: 0 }
  for (const step of job.steps) c[step.kind]++
  Object.assign(record.result, c)
  r.s.ops.map += c.map
  r.s.ops.remap += c.remap
  r.s.ops.unmap += c.unmap
  s.jobs.push({ job, name, times: timesOf(job), signaled: job.outFence.signaled })
  Object.assign(record.result, {
    job: name,
    duration: job.duration,
    start: job.start,
    end: job.end,
    fenceError: job.start === null ? null : job.error,
    conflicts: job.conflicts.map((j) => s.jobs.find((x) => x.job === j)!.name),
  })
  report(r, record, job, false)
}

function queueDestroy(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const s = queuesOf(r)
  const q = queueOf(r, req)
  s.queues.delete(req.queue!)
  const cancelled = q.destroy()
  record.result.cancelled = cancelled.map((j) => s.jobs.find((x) => x.job === j)!.name)
  report(r, record, null, false)
}

function clockAdvance(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  r.device.advance(req.ns!)
  report(r, record, null, true)
}

/** The handlers of the queue and fence ops (replayer.ts). */
export const QUEUE_HANDLERS = {
  'fence.create': fenceCreate,
  'fence.signal': fenceSignal,
  'fence.expect': fenceExpect,
  'queue.create': queueCreate,
  'queue.bind': queueBind,
  'queue.destroy': queueDestroy,
  'clock.advance': clockAdvance,
} as const

/** The queue and fence ops, in table order. */
export const QUEUE_OPS: readonly string[] = Object.freeze(Object.keys(QUEUE_HANDLERS))
