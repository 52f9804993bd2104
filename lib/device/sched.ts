/**
 * A deterministic scheduler for simulated threads. A thread is a generator
 * that yields requests (lock, sleep, fence wait, plain preemption point);
 * between yields it calls the device directly, as itself. A splitmix64 PRNG
 * seeded by the user picks which runnable thread steps next, so a seed
 * replays one interleaving exactly. Threads blocked on a lock are parked and
 * become runnable when the retry can make progress; when nothing can run and
 * no timer is pending, the wait-for cycle is reported instead of hanging.
 */
import { types } from 'node:util'
import { count, func, instance, invalid, isObject, iterable, options, string, u64 } from '../base/check.js'
import { isDevice } from './brand.js'
import type { Device, Violation } from './device.js'
import { DrmError } from '../base/errors.js'
import {
  checkRequest,
  type Fence,
  type Op,
  type Request,
  type Resv,
  sleepReq,
  SyncRun,
  type WwAcquireCtx,
} from './resv.js'
import { SplitMix64 } from '../base/prng.js'

export { SplitMix64 }

/** What a thread body gets: its id and the requests it may yield. */
export class SimThread {
  readonly id: number
  readonly name: string
  readonly device: Device

  constructor(id: number, name: string, device: Device) {
    this.id = count(id, 'id', 0xffff_ffff)
    this.name = string(name, 'name')
    this.device = instance(device, isDevice, 'device', 'a Device')
  }
  lock(resv: Resv, ctx?: WwAcquireCtx | null): Op<'ok' | 'EDEADLK' | 'EALREADY'> {
    return resv.lockOp(ctx)
  }
  lockSlow(resv: Resv, ctx: WwAcquireCtx): Op<'ok' | 'EDEADLK' | 'EALREADY'> {
    return resv.lockSlowOp(ctx)
  }
  *sleep(ns: bigint): Op<void> {
    yield sleepReq(ns)
  }
  /** A preemption point: another thread may run here. */
  *yield(): Op<void> {
    yield { op: 'yield' }
  }
  wait(fence: Fence): Op<void> {
    return fence.waitOp()
  }
}

export type ThreadBody = (t: SimThread) => Op<unknown>

export interface Deadlock {
  /** Threads in the wait-for cycle, each waiting for the next (names). */
  cycle: string[]
  /** Every parked thread and what it waits for. */
  waiting: { thread: string; on: string; holder: string | null }[]
  message: string
}

export interface RunReport {
  seed: bigint
  steps: number
  /** One line per step: `thread: what happened`. */
  trace: string[]
  completed: boolean
  deadlock: Deadlock | null
  /** Errors thrown by thread bodies (the thread ends there). */
  errors: { thread: string; error: unknown }[]
  /** Violations recorded during the run. */
  violations: Violation[]
  /** Simulated time at the end. */
  now: bigint
}

interface Thread {
  sim: SimThread
  gen: Op<unknown>
  pending: Request | null
  parked: boolean
  wakeAt: bigint
  started: boolean
  done: boolean
  /** A signal delivered and not yet taken by an interruptible wait. */
  signal: boolean
}

export interface SchedulerOptions {
  seed?: bigint | number
  /** Steps before the run is stopped as a livelock (default 100000): an integer >= 0, or Infinity. */
  maxSteps?: number
}

/** A seed: a u64 bigint or a non-negative safe integer. */
const seedValue = (v: unknown): bigint => (typeof v === 'number' ? BigInt(count(v, 'seed')) : u64(v, 'seed'))

let isScheduler: (v: unknown) => v is Scheduler

export class Scheduler {
  readonly device: Device
  readonly seed: bigint
  readonly maxSteps: number
  readonly #rng: SplitMix64
  readonly #threads: Thread[] = []

  static {
    isScheduler = (v): v is Scheduler => isObject(v) && #threads in v
  }

  constructor(device: Device, opts: SchedulerOptions = {}) {
    this.device = instance(device, isDevice, 'device', 'a Device')
    const o = options<SchedulerOptions>(opts, 'Scheduler options')
    this.seed = o.seed === undefined ? 0n : seedValue(o.seed)
    const max = o.maxSteps ?? 100_000
    this.maxSteps = max === Infinity ? max : count(max, 'maxSteps')
    this.#rng = new SplitMix64(this.seed)
  }

  /** Adds a thread (ids start at 1; 0 is the caller's thread). */
  spawn(name: string, body: ThreadBody): SimThread {
    const sim = new SimThread(this.#threads.length + 1, name, this.device)
    const gen = func<ThreadBody>(body, 'body')(sim)
    if (!types.isGeneratorObject(gen)) throw invalid('body(thread)', 'a generator (body must be a function*)', gen)
    this.#threads.push({
      sim,
      gen,
      pending: null,
      parked: false,
      wakeAt: 0n,
      started: false,
      done: false,
      signal: false,
    })
    return sim
  }

  #name(id: number): string {
    return this.#threads[id - 1]?.sim.name ?? `thread ${id}`
  }

  /**
   * Delivers a signal to a thread (issue 16): its current or next
   * interruptible lock or wait that would sleep ends with EINTR (the request
   * yields 'EINTR'; reserve and waits turn it into ERESTARTSYS). May be
   * called from another thread's body.
   */
  signal(thread: SimThread): void {
    const t = this.#threads.find((x) => x.sim === thread)
    if (t === undefined) throw invalid('thread', 'a thread of this scheduler', thread)
    if (!t.done) t.signal = true
  }

  /** A parked interruptible request with a signal pending. */
  #interrupted(t: Thread): boolean {
    const req = t.pending
    return t.signal && req !== null && (req.op === 'lock' || req.op === 'wait') && req.interruptible === true
  }

  /** Whether retrying the parked request can make progress now. */
  #ready(t: Thread): boolean {
    if (t.done) return false
    if (!t.parked || t.pending === null) return true
    if (this.#interrupted(t)) return true
    const req = t.pending
    const core = this.device.core
    switch (req.op) {
      case 'lock': {
        const r = core.resvInfo(req.resv.id)
        if (!r.locked) return true
        if (req.ctx === null || r.holderCtx === 0) return false
        const me = core.ctxInfo(req.ctx.id)
        if (me.acquired === 0) return false
        if (this.device.wwClass === 'wound-wait') return me.wounded
        return core.ctxInfo(r.holderCtx).stamp < me.stamp
      }
      case 'sleep':
        return this.device.now >= t.wakeAt
      case 'wait':
        return req.ready()
      case 'yield':
        return true
    }
  }

  #timer(t: Thread): bigint | null {
    if (t.done || !t.parked || t.pending === null) return null
    if (t.pending.op === 'sleep') return t.wakeAt
    if (t.pending.op === 'wait') {
      const at = t.pending.wakeAt()
      return at === null ? null : u64(at, `${t.sim.name}: wakeAt()`)
    }
    return null
  }

  /** Runs every thread to its end (or a deadlock, or maxSteps). */
  run(): RunReport {
    const trace: string[] = []
    const errors: RunReport['errors'] = []
    const before = this.device.violations.length
    const saved = this.device.thread
    let steps = 0
    let deadlock: Deadlock | null = null
    try {
      while (steps < this.maxSteps) {
        const ready = this.#threads.filter((t) => this.#ready(t))
        if (ready.length === 0) {
          if (this.#threads.every((t) => t.done)) break
          const timers = this.#threads.map((t) => this.#timer(t)).filter((x): x is bigint => x !== null)
          if (timers.length > 0) {
            const at = timers.reduce((a, b) => (a < b ? a : b))
            if (at > this.device.now) this.device.advance(at - this.device.now)
            trace.push(`clock: ${this.device.now}`)
            if (this.#threads.some((t) => this.#ready(t))) continue
          }
          deadlock = this.#deadlock()
          trace.push(`deadlock: ${deadlock.message}`)
          break
        }
        const t = ready[Number(this.#rng.below(BigInt(ready.length)))]
        steps++
        this.device.thread = t.sim.id
        try {
          this.#step(t, trace)
        } catch (error) {
          t.done = true
          errors.push({ thread: t.sim.name, error })
          trace.push(`${t.sim.name}: threw ${error instanceof Error ? error.message : String(error)}`)
        }
      }
    } finally {
      this.device.thread = saved
    }
    return {
      seed: this.seed,
      steps,
      trace,
      completed: this.#threads.every((t) => t.done),
      deadlock,
      errors,
      violations: this.device.violations.slice(before),
      now: this.device.now,
    }
  }

  /** Runs the pending request (if it can complete) and the body up to its next yield. */
  #step(t: Thread, trace: string[]): void {
    let input: unknown
    const name = t.sim.name
    const req = t.pending
    if (req !== null) {
      switch (req.op) {
        case 'lock': {
          const out = req.resv.attempt(req.ctx, req.slow)
          if (out.result === 'blocked' && this.#interrupted(t)) {
            t.signal = false
            trace.push(`${name}: lock resv ${req.resv.id} interrupted by a signal`)
            input = 'EINTR'
            break
          }
          if (out.result === 'blocked') {
            t.parked = true
            trace.push(
              `${name}: ${req.slow ? 'lock_slow' : 'lock'} resv ${req.resv.id} blocks on ${this.#name(out.holder)}`,
            )
            return
          }
          trace.push(`${name}: ${req.slow ? 'lock_slow' : 'lock'} resv ${req.resv.id} -> ${out.result}`)
          input = out.result
          break
        }
        case 'sleep':
          if (!t.parked) {
            t.wakeAt = this.device.now + req.ns
            if (req.ns > 0n) {
              t.parked = true
              trace.push(`${name}: sleeps until ${t.wakeAt}`)
              return
            }
          }
          trace.push(`${name}: wakes`)
          break
        case 'wait':
          if (!req.ready() && this.#interrupted(t)) {
            t.signal = false
            trace.push(`${name}: wait for ${req.what} interrupted by a signal`)
            input = 'EINTR'
            break
          }
          if (!req.ready()) {
            t.parked = true
            trace.push(`${name}: waits for ${req.what}`)
            return
          }
          trace.push(`${name}: ${req.what} signaled`)
          break
        case 'yield':
          trace.push(`${name}: runs`)
          break
      }
    } else {
      trace.push(`${name}: starts`)
    }
    t.pending = null
    t.parked = false
    t.started = true
    let next = t.gen.next(input)
    // A run of locks in one call is not for threads: each lock is a point another thread may run at.
    while (!next.done && SyncRun.is(next.value)) next = t.gen.next(-1)
    if (next.done) {
      t.done = true
      trace.push(`${name}: ends`)
      return
    }
    try {
      t.pending = checkRequest(next.value)
    } catch (e) {
      // An unknown request ends the thread (run records the error), as a throw from its body would.
      t.gen.return(undefined)
      throw e
    }
  }

  #deadlock(): Deadlock {
    const waiting: Deadlock['waiting'] = []
    const waitsFor = new Map<number, number>()
    for (const t of this.#threads) {
      if (t.done || t.pending === null) continue
      if (t.pending.op === 'lock') {
        const r = this.device.core.resvInfo(t.pending.resv.id)
        const holder = r.locked ? r.holderThread : null
        if (holder !== null) waitsFor.set(t.sim.id, holder)
        waiting.push({
          thread: t.sim.name,
          on: `resv ${t.pending.resv.id}`,
          holder: holder === null ? null : this.#name(holder),
        })
      } else if (t.pending.op === 'wait') {
        waiting.push({ thread: t.sim.name, on: t.pending.what, holder: null })
      }
    }
    let cycle: string[] = []
    for (const start of waitsFor.keys()) {
      const seen: number[] = []
      let at: number | undefined = start
      while (at !== undefined && !seen.includes(at)) {
        seen.push(at)
        at = waitsFor.get(at)
      }
      if (at !== undefined) {
        cycle = seen.slice(seen.indexOf(at)).map((id) => this.#name(id))
        break
      }
    }
    const message =
      cycle.length > 0
        ? `${cycle.join(' -> ')} -> ${cycle[0]}`
        : waiting.map((w) => `${w.thread} waits for ${w.on}${w.holder ? ` (held by ${w.holder})` : ''}`).join('; ')
    return { cycle, waiting, message }
  }
}

/**
 * Runs a scenario once per seed: `build(seed)` makes a fresh device and
 * scheduler with the threads spawned; the reports come back in seed order.
 */
export function explore(build: (seed: bigint) => Scheduler, seeds: Iterable<bigint | number>): RunReport[] {
  func(build, 'build')
  const out: RunReport[] = []
  for (const s of iterable<unknown>(seeds, 'seeds')) {
    const seed = seedValue(s)
    const sched = build(seed)
    if (!isScheduler(sched)) throw new DrmError('EINVAL', 'explore: build(seed) must return a Scheduler')
    out.push(sched.run())
  }
  return out
}

/** Seeds 0..n-1, for `explore`. */
export function seeds(n: number): Iterable<bigint> {
  count(n, 'n')
  return (function* () {
    for (let i = 0; i < n; i++) yield BigInt(i)
  })()
}
