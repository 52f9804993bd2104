/**
 * The Recorder's bind queues and fences (`recorder.queues`): each call
 * writes its line (`fence.create`, `fence.signal`, `fence.expect`,
 * `queue.create`, `queue.bind`, `queue.destroy`, `clock.advance`; see
 * queue.ts) and makes the call the replay makes for it. Fences and queues
 * are named by the name given, else `fence1`, `queue1`, ...; a job's
 * out-fence takes the name given as `outFence`.
 */
import { hex } from '../base/check.js'
import type { Errno } from '../base/errors.js'
import { DrmError } from '../base/errors.js'
import type { Device } from '../device/device.js'
import type { GemObject } from '../device/gem.js'
import type { Fence } from '../device/resv.js'
import type { BindJob, BindQueue } from '../gpuvm/bind-queue.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { RecordedArrayOp } from './array.js'
import { recordedArray } from './array.js'

/** What the Recorder lends: its device, its line writer, and the names of its VA spaces and objects. */
export interface RecorderLink {
  device: Device
  line: (line: Record<string, unknown>) => void
  vmName: (vm: GpuVm) => string
  objName: (obj: GemObject) => string
}

export class QueueRecorder {
  readonly #link: RecorderLink
  readonly #names = new WeakMap<Fence | BindQueue, string>()
  readonly #live = new Set<string>()
  readonly #next = { fence: 0, queue: 0 }

  /** @internal Made by `Recorder.queues`. */
  constructor(link: RecorderLink) {
    this.#link = link
  }

  /** `fence.create`: a GPU job's fence, signalled by `signalFence` or at `signalAt` (with `error`). */
  createFence(options: { name?: string; signalAt?: bigint; error?: Errno } = {}): Fence {
    const name = this.#fresh('fence', options.name)
    const line: Record<string, unknown> = { op: 'fence.create', fence: name }
    if (options.signalAt !== undefined) line.signalAt = hex(options.signalAt)
    if (options.error !== undefined) line.errno = options.error
    this.#link.line(line)
    return this.#named(this.#link.device.createFence({ signalAt: options.signalAt, error: options.error }), name)
  }

  /** `fence.signal`. */
  signalFence(fence: Fence, error?: Errno): void {
    const line: Record<string, unknown> = { op: 'fence.signal', fence: this.#name(fence, 'a fence') }
    if (error !== undefined) line.errno = error
    this.#link.line(line)
    fence.signal(error)
  }

  /** `fence.expect`: the fence's state as it is now, written as the line's expectations. */
  expectFence(fence: Fence): void {
    const line: Record<string, unknown> = { op: 'fence.expect', fence: this.#name(fence, 'a fence') }
    line.signaled = fence.signaled
    if (fence.signalAt !== null) line.signalAt = hex(fence.signalAt)
    if (fence.error !== null) line.errno = fence.error
    this.#link.line(line)
  }

  /** `queue.create`. */
  createQueue(vm: GpuVm, options: { name?: string; latency?: bigint; perStep?: bigint } = {}): BindQueue {
    const name = this.#fresh('queue', options.name)
    const line: Record<string, unknown> = { op: 'queue.create', vm: this.#link.vmName(vm), queue: name }
    if (options.latency !== undefined) line.latency = hex(options.latency)
    if (options.perStep !== undefined) line.perStep = hex(options.perStep)
    this.#link.line(line)
    return this.#named(vm.createBindQueue({ name, latency: options.latency, perStep: options.perStep }), name)
  }

  /** `queue.bind`: one atomic submission; `outFence` names the job's out-fence in the file. */
  submit(
    queue: BindQueue,
    ops: readonly RecordedArrayOp[],
    options: { inFences?: readonly Fence[]; outFence?: string; failAt?: number } = {},
  ): BindJob {
    const array = recordedArray(ops, this.#link.objName)
    const line: Record<string, unknown> = { op: 'queue.bind', queue: this.#name(queue, 'a bind queue'), ops: array.ops }
    if (options.inFences?.length) line.inFences = options.inFences.map((f) => this.#name(f, 'a fence'))
    const out = options.outFence === undefined ? undefined : this.#fresh('fence', options.outFence)
    if (out !== undefined) line.outFence = out
    if (options.failAt !== undefined) line.failAt = options.failAt
    this.#link.line(line)
    const job = queue.submit({ binds: array.batch, inFences: options.inFences, failAt: options.failAt })
    if (out !== undefined) this.#named(job.outFence, out)
    return job
  }

  /** `queue.destroy`: the jobs cancelled. */
  destroyQueue(queue: BindQueue): BindJob[] {
    const name = this.#name(queue, 'a bind queue')
    this.#link.line({ op: 'queue.destroy', queue: name })
    this.#live.delete(`queue:${name}`)
    return queue.destroy()
  }

  /** `clock.advance`: the device's time after it. */
  advance(ns: bigint): bigint {
    this.#link.line({ op: 'clock.advance', ns: hex(ns) })
    return this.#link.device.advance(ns)
  }

  #fresh(kind: 'fence' | 'queue', name: string | undefined): string {
    let n = name
    if (n === undefined) {
      do n = `${kind}${++this.#next[kind]}`
      while (this.#live.has(`fence:${n}`) || this.#live.has(`queue:${n}`))
    }
    if (typeof n !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(n))
      throw new DrmError('EINVAL', `Recorder: a ${kind} name is 1 to 128 printable ASCII characters, no spaces`)
    if (this.#live.has(`${kind}:${n}`)) throw new DrmError('EINVAL', `Recorder: ${kind} ${n} is alive already`)
    return n
  }

  #named<T extends Fence | BindQueue>(handle: T, name: string): T {
    this.#names.set(handle, name)
    this.#live.add(`${'submit' in handle ? 'queue' : 'fence'}:${name}`)
    return handle
  }

  #name(handle: Fence | BindQueue, what: string): string {
    const name = this.#names.get(handle)
    if (name === undefined) throw new DrmError('EINVAL', `Recorder: not ${what} made by this recorder`)
    return name
  }
}
