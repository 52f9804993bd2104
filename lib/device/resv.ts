/**
 * Reservation objects (`dma_resv` over a ww_mutex), acquire contexts,
 * fences, and the requests that may block.
 *
 * Anything that can sleep (a lock, a sleep, a fence wait) is a generator
 * `Op` that yields a `Request`: the deterministic scheduler (sched.ts) parks
 * the simulated thread on it; the plain methods run the same op with
 * `runSync`, where a request that would sleep forever throws EDEADLK.
 */
import { types } from 'node:util'
import { count, flag, func, instance, invalid, isObject, oneOf, options, u64 } from '../base/check.js'
import { drained, isDevice } from './brand.js'
import type { Device } from './device.js'
import { USAGES, type UsageName } from '../contract/device.js'
import { DrmError, ERRNO_CODES, ERRNO_NAMES, type Errno, errnoName } from '../base/errors.js'
import { fenceSignalled } from './fence-events.js'

export type LockReturn = 'ok' | 'EDEADLK' | 'EALREADY'
export type ReserveReturn = LockReturn | 'EBUSY' | 'ERESTARTSYS'

/** `ttm_bo_reserve`'s arguments. */
export interface ReserveOptions {
  /** A signal to the waiting thread ends the wait with ERESTARTSYS. */
  interruptible?: boolean
  /** Trylock: EBUSY when held (and at once when a ticket is given too). */
  noWait?: boolean
  /** The acquire context: EDEADLK and EALREADY come through it. */
  ticket?: WwAcquireCtx | null
}

/**
 * `interruptible`: a signal the scheduler delivers to the parked thread
 * (`Scheduler.signal`) ends the request, which then yields 'EINTR'.
 */
export type Request =
  | { op: 'lock'; resv: Resv; ctx: WwAcquireCtx | null; slow: boolean; interruptible?: boolean }
  | { op: 'sleep'; ns: bigint }
  | { op: 'wait'; what: string; ready: () => boolean; wakeAt: () => bigint | null; interruptible?: boolean }
  | { op: 'yield' }

/**
 * A blocking operation: run it with `yield*` in a scheduler thread, or with
 * `runSync`. Besides requests it may yield a `SyncRun` (a run of locks in one
 * engine call); a driver of its own answers that with -1 (no run: the op then
 * makes one request per lock).
 */
export type Op<T> = Generator<Request | SyncRun, T, unknown>

const REQUEST_KINDS: readonly Request['op'][] = ['lock', 'sleep', 'wait', 'yield']

/**
 * Requests `runSync` answers before it gives up on an op: only an op that
 * never finishes (yields in a loop, or waits on something that is never
 * ready) gets near it.
 */
export const RUN_SYNC_MAX_REQUESTS = 1_000_000

/** Checks a request an op yielded: its kind and the fields that kind needs. */
export function checkRequest(value: unknown): Request {
  const req = options<Request>(value, 'a request')
  switch (oneOf(req.op, REQUEST_KINDS, 'request op')) {
    case 'lock': {
      const r = req as Partial<Extract<Request, { op: 'lock' }>>
      instance(r.resv, isResv, 'lock request resv', 'a Resv')
      flag(r.slow, 'lock request slow')
      break
    }
    case 'sleep':
      u64((req as { ns?: unknown }).ns, 'sleep request ns')
      break
    case 'wait': {
      const r = req as Partial<Extract<Request, { op: 'wait' }>>
      func(r.ready, 'wait request ready')
      func(r.wakeAt, 'wait request wakeAt')
      break
    }
  }
  return req as Request
}

/** A lock that would wait, taken without the scheduler: nothing else can run to release it. */
const blockedOnOneThread = (resv: Resv, holder: number): DrmError =>
  new DrmError(
    'EDEADLK',
    `resv ${resv.id} is held by thread ${holder}: waiting would never end on one thread (use the scheduler)`,
  )

/** Closes `op` (running its finally blocks) and throws `error`. */
function abandon(op: Op<unknown>, error: DrmError): never {
  op.return(undefined)
  throw error
}

/**
 * What an op yields to do a run of lock steps in one engine call (exec.ts,
 * execloop): `runSync` calls `run` with how many lock requests it may still
 * answer before its limit and counts the `k` it did (its answer) as `k`
 * requests; the scheduler, where each lock is a point another thread may run
 * at, answers -1 at once (the op then locks one by one).
 */
export class SyncRun {
  readonly #run: (budget: number) => number

  constructor(run: (budget: number) => number) {
    this.#run = run
  }

  /** Whether `value` is a real `SyncRun` (never throws: a revoked Proxy or a primitive is not). */
  static is(value: unknown): value is SyncRun {
    return typeof value === 'object' && value !== null && #run in value
  }

  /** Does the run with at most `budget` locks; returns how many it did. */
  run(budget: number): number {
    return this.#run(budget)
  }
}

/**
 * Runs an op on the calling (current) thread: a lock that would wait throws
 * EDEADLK, since nothing else can run to release it; sleeps and fence waits
 * advance the clock. A request of an unknown kind is EINVAL; an op still
 * running after RUN_SYNC_MAX_REQUESTS requests is EDEADLK (a livelock).
 */
export function runSync<T>(device: Device, op: Op<T>): T {
  instance(device, isDevice, 'device', 'a Device')
  if (!types.isGeneratorObject(op)) throw invalid('op', 'a generator (an ...Op method)', op)
  let input: unknown
  for (let n = 0; n < RUN_SYNC_MAX_REQUESTS; n++) {
    const step = op.next(input)
    if (step.done) return step.value
    if (SyncRun.is(step.value)) {
      // The run's locks are the requests n, n + 1, ...: each must leave one to answer after it.
      const k = step.value.run(RUN_SYNC_MAX_REQUESTS - 1 - n)
      input = k
      n += k - 1
      continue
    }
    let req: Request
    try {
      req = checkRequest(step.value)
    } catch (e) {
      abandon(op, e as DrmError)
    }
    input = undefined
    switch (req.op) {
      case 'lock': {
        const out = req.resv.attempt(req.ctx, req.slow)
        if (out.result === 'blocked') abandon(op, blockedOnOneThread(req.resv, out.holder))
        input = out.result
        break
      }
      case 'sleep':
        device.advance(req.ns)
        break
      case 'wait': {
        if (req.ready()) break
        const at: unknown = req.wakeAt()
        // Not ready and no later time to wake at: nothing on this thread can make it ready.
        if (at === null || (typeof at === 'bigint' && at <= device.now)) {
          abandon(op, new DrmError('EDEADLK', `${req.what} would wait forever`))
        }
        device.advance(u64(at, 'wakeAt()') - device.now)
        break
      }
      case 'yield':
        break
    }
  }
  abandon(
    op,
    new DrmError('EDEADLK', `an op made ${RUN_SYNC_MAX_REQUESTS} requests without finishing: a livelock on one thread`),
  )
}

export const usageIndex = (usage: UsageName): number => USAGES.indexOf(oneOf(usage, USAGES, 'usage'))

/** The handle classes' constructor arguments: a real Device and an engine id. */
function handle(device: unknown, id: unknown): [Device, number] {
  return [instance(device, isDevice, 'device', 'a Device'), count(id, 'id', 0xffff_ffff)]
}

/** Brand checks a Proxy fails (set in the classes' static blocks). */
export let isFence: (v: unknown) => v is Fence
let isCtx: (v: unknown) => v is WwAcquireCtx
export let isResv: (v: unknown) => v is Resv

/** A dma_fence of the simulation: signals explicitly or at its simulated time. */
export class Fence {
  readonly device: Device
  readonly id: number

  static {
    isFence = (v): v is Fence => isObject(v) && #info in v
  }

  constructor(device: Device, id: number) {
    ;[this.device, this.id] = handle(device, id)
  }

  #info() {
    return this.device.run(() => this.device.core.fenceInfo(this.id))
  }

  get signaled(): boolean {
    return this.#info().signaled
  }

  get signalAt(): bigint | null {
    return this.#info().signalAt
  }

  /**
   * The errno it signals (or signaled) with (`fence->error`), or null for
   * none. Set by `signal(error)`, by `Device.createFence({ error })`, or by
   * the bind queue whose out-fence it is.
   */
  get error(): Errno | null {
    const code = this.#info().error
    return code === 0 ? null : (errnoName(code) ?? (`errno ${-code}` as Errno))
  }

  /**
   * `dma_fence_signal`, after `dma_fence_set_error` when `error` is given
   * (an errno name such as 'ECANCELED' or 'EIO'). A fence that has signaled
   * keeps its first signal; an error set on it then is recorded as
   * `fence-error-after-signal`, as the kernel WARNs.
   */
  signal(error?: Errno): void {
    const code = error === undefined ? 0 : -ERRNO_CODES[oneOf(error, ERRNO_NAMES, 'error')]
    this.device.run(() => {
      if (code !== 0) this.device.core.setFenceError(this.id, code)
      this.device.core.signalFence(this.id)
    })
    fenceSignalled(this.device)
  }

  /** Sleeps until signaled (the clock jumps to its time under runSync); interruptible: ERESTARTSYS on a signal. */
  *waitOp(opts: { interruptible?: boolean } = {}): Op<void> {
    const interruptible = flag(
      options<{ interruptible?: boolean }>(opts, 'wait options').interruptible,
      'interruptible',
    )
    const r = yield {
      op: 'wait',
      what: `fence ${this.id}`,
      ready: () => this.signaled,
      wakeAt: () => this.signalAt,
      interruptible,
    }
    if (r === 'EINTR') throw new DrmError('ERESTARTSYS', `wait for fence ${this.id} interrupted by a signal`)
  }

  wait(): void {
    runSync(this.device, this.waitOp())
  }

  toString(): string {
    return `Fence#${this.id}`
  }
}

/** A ww acquire context (`ww_acquire_ctx`): one transaction, one stamp, one thread. */
export class WwAcquireCtx implements Disposable {
  readonly device: Device
  readonly id: number

  static {
    isCtx = (v): v is WwAcquireCtx => isObject(v) && #info in v
  }

  constructor(device: Device, id: number) {
    ;[this.device, this.id] = handle(device, id)
  }

  #info() {
    return this.device.run(() => this.device.core.ctxInfo(this.id))
  }

  get thread(): number {
    return this.#info().thread
  }
  /** Lower is older; the older transaction wins. */
  get stamp(): bigint {
    return this.#info().stamp
  }
  /** Locks held through this context. */
  get acquired(): number {
    return this.#info().acquired
  }
  get wounded(): boolean {
    return this.#info().wounded
  }
  get finished(): boolean {
    return this.#info().fini
  }

  /** `ww_acquire_done`. */
  done(): void {
    this.device.run(() => this.device.core.ctxDone(this.device.thread, this.id))
  }

  /** `ww_acquire_fini`; finishing with locks held is recorded. */
  fini(): void {
    this.device.run(() => this.device.core.ctxFini(this.device.thread, this.id))
  }

  [Symbol.dispose](): void {
    if (!this.finished) this.fini()
  }

  toString(): string {
    return `WwAcquireCtx#${this.id}`
  }
}

export { WwAcquireCtx as AcquireCtx }

/** Unlocks on scope exit: `using g = resv.guard()`. */
export class LockGuard implements Disposable {
  #held = true
  readonly resv: Resv

  constructor(resv: Resv) {
    this.resv = instance(resv, isResv, 'resv', 'a Resv')
  }

  unlock(): void {
    if (this.#held) {
      this.#held = false
      this.resv.unlock()
    }
  }

  [Symbol.dispose](): void {
    this.unlock()
  }
}

/** A reservation object: the ww_mutex and the fence list of one or more objects. */
export class Resv {
  readonly device: Device
  readonly id: number

  static {
    isResv = (v): v is Resv => isObject(v) && #info in v
  }

  constructor(device: Device, id: number) {
    ;[this.device, this.id] = handle(device, id)
  }

  #ctx(ctx: WwAcquireCtx | null | undefined): WwAcquireCtx | null {
    if (ctx === undefined || ctx === null) return null
    if (!isCtx(ctx) || ctx.device !== this.device) throw invalid('ctx', 'an acquire context of this device', ctx)
    return ctx
  }

  /** One lock attempt now, on the current thread (what the scheduler calls). */
  attempt(ctx: WwAcquireCtx | null, slow: boolean) {
    const c = this.#ctx(ctx)
    const mode = flag(slow, 'slow') ? 1 : 0
    // device.run(() => core.lock(...)) without the closure (brand.ts `drained`).
    const d = this.device
    try {
      return d.core.lock(d.thread, this.id, c?.id ?? 0, mode)
    } finally {
      drained(d)
    }
  }

  /** `dma_resv_lock`: 'ok', 'EDEADLK' (back off, then lockSlow) or 'EALREADY'; may sleep. */
  *lockOp(ctx?: WwAcquireCtx | null): Op<LockReturn> {
    return (yield { op: 'lock', resv: this, ctx: this.#ctx(ctx), slow: false }) as LockReturn
  }

  /** `dma_resv_lock_slow`: the backoff path after EDEADLK. */
  *lockSlowOp(ctx: WwAcquireCtx): Op<LockReturn> {
    const c = this.#ctx(ctx)
    if (c === null) throw new DrmError('EINVAL', 'lock_slow needs an acquire context')
    return (yield { op: 'lock', resv: this, ctx: c, slow: true }) as LockReturn
  }

  /** Locks now; EDEADLK or EALREADY are thrown as DrmError. */
  lock(ctx?: WwAcquireCtx | null): void {
    // runSync(this.device, this.lockOp(ctx)) written out (one attempt, a wait is EDEADLK): the same
    // checks, outcome and errors without a generator and its request check per lock.
    const out = this.attempt(this.#ctx(ctx), false)
    if (out.result === 'blocked') throw blockedOnOneThread(this, out.holder)
    const r = out.result as LockReturn
    if (r !== 'ok')
      throw new DrmError(
        r,
        `resv ${this.id}: ${r === 'EALREADY' ? 'already held by this context' : 'die: an older context holds it'}`,
      )
  }

  lockSlow(ctx: WwAcquireCtx): void {
    const r = runSync(this.device, this.lockSlowOp(ctx))
    if (r !== 'ok') throw new DrmError(r, `resv ${this.id}: lock_slow failed`)
  }

  /** `dma_resv_trylock` (with a context: accounted to it, as ww_mutex_trylock(ctx)). */
  trylock(ctx?: WwAcquireCtx | null): boolean {
    const c = this.#ctx(ctx)
    return this.device.run(() => this.device.core.lock(this.device.thread, this.id, c?.id ?? 0, 2)).result === 'ok'
  }

  unlock(): void {
    // device.run(() => core.unlock(...)) without the closure (brand.ts `drained`).
    const d = this.device
    try {
      d.core.unlock(d.thread, this.id)
    } finally {
      drained(d)
    }
  }

  /** Locks and returns a guard that unlocks on scope exit. */
  guard(ctx?: WwAcquireCtx | null): LockGuard {
    this.lock(ctx)
    return new LockGuard(this)
  }

  #info() {
    return this.device.run(() => this.device.core.resvInfo(this.id))
  }

  get isLocked(): boolean {
    return this.#info().locked
  }

  /** The thread holding it, or null. */
  get holder(): number | null {
    const i = this.#info()
    return i.locked ? i.holderThread : null
  }

  /** `dma_resv_locking_ctx`: the context holding it, or null. */
  get lockingCtx(): WwAcquireCtx | null {
    const c = this.#info().holderCtx
    return c === 0 ? null : new WwAcquireCtx(this.device, c)
  }

  /** `dma_resv_assert_held`: records `resv-not-held` unless the current thread holds it. */
  assertHeld(): boolean {
    return this.device.run(() => this.device.core.assertHeld(this.device.thread, this.id, 'dma_resv_assert_held'))
  }

  get numFences(): number {
    return this.#info().numFences
  }

  /** `dma_resv_reserve_fences`. */
  reserveFences(n: number): void {
    const k = count(n, 'n', 0xffff_ffff)
    this.device.run(() => this.device.core.reserveFences(this.device.thread, this.id, k))
  }

  /** `dma_resv_add_fence`: usage can be promoted, never degraded. */
  addFence(fence: Fence, usage: UsageName): void {
    if (!isFence(fence) || fence.device !== this.device) throw invalid('fence', 'a fence of this device', fence)
    const u = usageIndex(usage)
    this.device.run(() => this.device.core.addFence(this.device.thread, this.id, fence.id, u))
  }

  /** Every fence entry at or below `usage`, in list order. */
  fences(usage: UsageName): { fence: Fence; usage: UsageName }[] {
    const u = usageIndex(usage)
    return this.device
      .run(() => this.device.core.fences(this.id, u))
      .map((e) => ({ fence: new Fence(this.device, e.fence), usage: USAGES[e.usage] }))
  }

  /** `dma_resv_test_signaled`. */
  testSignaled(usage: UsageName): boolean {
    const u = usageIndex(usage)
    return this.device.run(() => this.device.core.testSignaled(this.id, u))
  }

  /**
   * `dma_resv_wait_timeout` without a timeout: sleeps until every fence at or
   * below `usage` signals; interruptible: ERESTARTSYS on a signal.
   */
  *waitOp(usage: UsageName, opts: { interruptible?: boolean } = {}): Op<void> {
    const interruptible = flag(
      options<{ interruptible?: boolean }>(opts, 'wait options').interruptible,
      'interruptible',
    )
    const u = usageIndex(usage)
    const wakeAt = (): bigint | null => {
      let last = 0n
      for (const e of this.device.core.fences(this.id, u)) {
        const f = this.device.core.fenceInfo(e.fence)
        if (f.signaled) continue
        if (f.signalAt === null) return null
        if (f.signalAt > last) last = f.signalAt
      }
      return last
    }
    const what = `resv ${this.id} (${usage})`
    const r = yield { op: 'wait', what, ready: () => this.testSignaled(usage), wakeAt, interruptible }
    if (r === 'EINTR') throw new DrmError('ERESTARTSYS', `wait for ${what} interrupted by a signal`)
  }

  // ttm_bo_reserve (issue 16).
  /**
   * `ttm_bo_reserve(bo, interruptible, no_wait, ticket)`: 'ok'; with noWait a
   * trylock ('EBUSY' when held; a ticket with noWait is refused with 'EBUSY',
   * as the kernel WARNs); else a lock through the ticket: 'EDEADLK' (back
   * off), 'EALREADY' (the ticket holds it), 'ERESTARTSYS' (interrupted).
   */
  *reserveOp(opts: ReserveOptions = {}): Op<ReserveReturn> {
    const o = options<ReserveOptions>(opts, 'reserve options')
    const interruptible = flag(o.interruptible, 'interruptible')
    const noWait = flag(o.noWait, 'noWait')
    const ticket = this.#ctx(o.ticket)
    if (noWait) {
      if (ticket !== null) return 'EBUSY'
      return this.trylock() ? 'ok' : 'EBUSY'
    }
    const r = yield { op: 'lock', resv: this, ctx: ticket, slow: false, interruptible }
    return r === 'EINTR' ? 'ERESTARTSYS' : (r as LockReturn)
  }

  /** `ttm_bo_reserve` now; anything but 'ok' is thrown as DrmError. */
  reserve(opts: ReserveOptions = {}): void {
    const r = runSync(this.device, this.reserveOp(opts))
    if (r !== 'ok') throw new DrmError(r, `resv ${this.id}: ttm_bo_reserve failed`)
  }

  wait(usage: UsageName): void {
    runSync(this.device, this.waitOp(usage))
  }

  toString(): string {
    return `Resv#${this.id}`
  }
}

export const sleepReq = (ns: bigint): Request => ({ op: 'sleep', ns: u64(ns, 'ns') })
