/**
 * Bind queues: jobs in order within a queue and independent across queues,
 * GPU-job fences holding binds, Xe's range-fence conflicts
 * (bind-execqueues-independent / -conflict), fence errors propagating
 * through chains, destroyed queues, runs under the seeded scheduler, bad
 * input. Every spec runs on both engines; traces are compared.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type BindJob,
  type BindRequest,
  BindBatch,
  Device,
  DrmBatchError,
  DrmError,
  type Fence,
  GpuVm,
  Scheduler,
  seeds,
} from '../lib/index.js'
import { errnoOf } from './errno.js'

const engines = ['reference', 'native'] as const
const P = 0x1000n
/** Default timing: 2000 ns per job and 500 ns per step. */
const ONE_STEP = 2_500n

function world(engine: (typeof engines)[number]) {
  const dev = new Device({ engine })
  const vm = new GpuVm({ range: 1n << 48n, device: dev, name: 'vm' })
  const bo = dev.createObject({ size: 0x10_0000n })
  return { dev, vm, bo }
}

const map = (addr: bigint, obj: unknown, range = P) => ({ op: 'map' as const, addr, range, obj: obj as never })
const times = (j: BindJob) => [j.start, j.end, j.error]

/** Xe's bind-execqueues-independent (conflict = false) and -conflict (IGT tests/intel/xe_vm.c). */
function bindExecQueues(engine: (typeof engines)[number], conflict: boolean) {
  const { dev, vm, bo } = world(engine)
  const [q0, q1] = [vm.createBindQueue({ name: 'bind0' }), vm.createBindQueue({ name: 'bind1' })]
  const A = 0x1a0000n
  const initial = q0.submit({ binds: [map(A, bo)] })
  dev.advance(10_000n)
  const spinner = dev.createFence() // a GPU job that runs until it is ended by hand
  const a = A + (conflict ? 0x20_0000n : P)
  const held = q0.submit({ binds: [map(a, bo)], inFences: [spinner] })
  const free = q1.submit({ binds: [map(a + P, bo)] })
  return { dev, vm, initial, spinner, held, free }
}

describe.each(engines)('bind queues on the %s engine', (engine) => {
  it('changes the VA space at submit and runs the jobs of a queue in order', () => {
    const { dev, vm, bo } = world(engine)
    const q = vm.createBindQueue({ name: 'q' })
    const a = q.submit({ binds: [map(0n, bo, 4n * P)] })
    const b = q.submit({ binds: [{ op: 'unmap', addr: P, range: P }] })
    expect(vm.mappingCount).toBe(2) // committed already: a remap split the mapping
    const BindJobClass = a.constructor as never as new (...args: unknown[]) => unknown
    expect(errnoOf(() => new BindJobClass(q, 9, [], {}))).toBe('EINVAL')
    expect(a.steps).toEqual([{ request: 0, kind: 'map', addr: 0n, range: 4n * P }])
    expect(b.steps).toEqual([{ request: 0, kind: 'remap', addr: P, range: P }])
    expect(times(a)).toEqual([0n, ONE_STEP, null])
    expect(times(b)).toEqual([ONE_STEP, 2n * ONE_STEP, null])
    expect([a.state, b.state]).toEqual(['running', 'queued'])
    expect(b.outFence.signalAt).toBe(2n * ONE_STEP)
    b.outFence.wait() // the clock jumps to its end
    expect(dev.now).toBe(2n * ONE_STEP)
    expect([a.state, b.state, a.outFence.signaled]).toEqual(['done', 'done', true])
    expect([a.seqno, b.seqno]).toEqual([1, 2])
  })

  it('takes a BindBatch and a visible timing model, or a duration callback', () => {
    const { vm, bo } = world(engine)
    const batch = new BindBatch()
    batch.map({ addr: 0n, range: P, obj: bo })
    batch.map({ addr: P, range: P, obj: null })
    batch.unmap(0n, P)
    const q = vm.createBindQueue({ latency: 100n, perStep: 10n })
    const j = q.submit({ binds: batch })
    expect(j.steps.map((s) => s.kind)).toEqual(['map', 'map', 'unmap'])
    expect(j.duration).toBe(130n)
    const seen: number[] = []
    const q2 = vm.createBindQueue({
      duration: (plan) => {
        seen.push(plan.steps.length)
        return 7n
      },
    })
    expect(q2.submit({ binds: [map(8n * P, bo)] }).duration).toBe(7n)
    expect(seen).toEqual([1])
  })

  it('runs queues independently: out-of-order completion, a GPU fence holding a bind (Xe independent)', () => {
    const { dev, spinner, held, free, initial } = bindExecQueues(engine, false)
    expect(times(initial)).toEqual([0n, ONE_STEP, null])
    expect(held.start).toBeNull() // waits for the spinner, which has no time
    expect(times(free)).toEqual([10_000n, 10_000n + ONE_STEP, null])
    expect(free.conflicts).toEqual([])
    expect(errnoOf(() => held.outFence.wait())).toBe('EDEADLK') // nothing on this thread would signal it
    dev.advance(100_000n)
    expect([held.state, free.state]).toEqual(['queued', 'done']) // submitted later, ended first
    spinner.signal()
    expect(times(held)).toEqual([110_000n, 110_000n + ONE_STEP, null])
  })

  it('makes a bind wait for a conflicting bind of another queue (Xe conflict)', () => {
    const { dev, spinner, held, free } = bindExecQueues(engine, true)
    expect(free.conflicts).toEqual([held]) // same new 2 MiB page table
    dev.advance(100_000n)
    expect([held.start, free.start, free.state]).toEqual([null, null, 'queued'])
    spinner.signal()
    expect(times(free)).toEqual([110_000n + ONE_STEP, 110_000n + 2n * ONE_STEP, null])
  })

  it('propagates an in-fence error through a chain, without running the updates', () => {
    const { dev, vm, bo } = world(engine)
    const [q0, q1] = [vm.createBindQueue({ name: 'a' }), vm.createBindQueue({ name: 'b' })]
    const gpu = dev.createFence({ signalAt: 1_000n, error: 'EIO' }) // a GPU job that will fail
    const first = q0.submit({ binds: [map(0n, bo)], inFences: [gpu] })
    const second = q1.submit({ binds: [map(0x4000_0000n, bo)], inFences: [first.outFence] })
    const after = q0.submit({ binds: [map(2n * P, bo)] }) // same queue, no in-fence: runs, no error
    expect(times(first)).toEqual([1_000n, 1_000n, 'EIO'])
    expect(times(second)).toEqual([1_000n, 1_000n, 'EIO'])
    expect(times(after)).toEqual([1_000n, 1_000n + ONE_STEP, null])
    expect(q0.errors).toEqual([]) // not signalled yet
    dev.advance(5_000n)
    expect(first.outFence.error).toBe('EIO')
    expect(q0.errors).toEqual([{ job: first, error: 'EIO' }])
    expect(q1.errors.map((e) => e.error)).toEqual(['EIO'])
    // A hand-signalled error works the same way.
    const h = dev.createFence()
    const third = q1.submit({ binds: [map(4n * P, bo)], inFences: [h] })
    h.signal('ECANCELED')
    expect(times(third)).toEqual([dev.now, dev.now, 'ECANCELED'])
  })

  it('cancels the jobs of a destroyed queue that have not started, once what they wait for signals', () => {
    const { dev, vm, bo } = world(engine)
    const q = vm.createBindQueue({ name: 'q' })
    const gpu = dev.createFence()
    const running = q.submit({ binds: [map(0n, bo)] })
    const waiting = q.submit({ binds: [map(P, bo)], inFences: [gpu] })
    const next = q.submit({ binds: [map(2n * P, bo)] })
    const other = vm.createBindQueue().submit({ binds: [map(8n * P, bo)], inFences: [next.outFence] })
    dev.advance(100n)
    expect(q.destroy()).toEqual([waiting, next])
    expect(errnoOf(() => q.submit({ binds: [] }))).toBe('EINVAL')
    expect(errnoOf(() => q.destroy())).toBe('EINVAL')
    expect(times(running)).toEqual([0n, ONE_STEP, null]) // on the hardware: finishes
    expect(waiting.start).toBeNull() // still waits for its in-fence
    gpu.signal()
    // After the job before it (it waits for the running one to end), with no update.
    expect(times(waiting)).toEqual([ONE_STEP, ONE_STEP, 'ECANCELED'])
    expect(times(next)).toEqual([ONE_STEP, ONE_STEP, 'ECANCELED'])
    expect(times(other)).toEqual([ONE_STEP, ONE_STEP, 'ECANCELED']) // dependents inherit it
    dev.advance(ONE_STEP)
    expect([waiting.cancelled, running.cancelled]).toEqual([true, false])
    expect(q.errors.map((e) => e.job)).toEqual([waiting, next])
  })

  it('wakes scheduler threads at out-fence times; every seed keeps the order, and the same seed the same trace', () => {
    const build = (seed: bigint) => {
      const { dev, vm, bo } = world(engine)
      const [q0, q1] = [vm.createBindQueue({ name: 'q0' }), vm.createBindQueue({ name: 'q1' })]
      const gpu = dev.createFence()
      const sched = new Scheduler(dev, { seed })
      const done: string[] = []
      const jobs: BindJob[] = []
      const binder = (q: typeof q0, base: bigint, inFences: Fence[]) =>
        function* (t: import('../lib/index.js').SimThread) {
          for (let i = 0n; i < 3n; i++) {
            const j = q.submit({ binds: [map(base + i * P, bo)], inFences })
            jobs.push(j)
            yield* t.yield()
          }
          yield* t.wait(jobs.filter((j) => j.queue === q).at(-1)!.outFence)
          done.push(`${q.name} at ${dev.now}`)
        }
      sched.spawn('a', binder(q0, 0n, [gpu]))
      sched.spawn('b', binder(q1, 0x4000_0000n, []))
      sched.spawn('gpu', function* (t) {
        yield* t.sleep(50_000n)
        gpu.signal()
      })
      return Object.assign(sched, { done, jobs })
    }
    const runs = [...seeds(12)].map((s) => {
      const sched = build(s)
      const report = sched.run()
      return { report, sched }
    })
    for (const { report, sched } of runs) {
      expect(report.completed).toBe(true)
      for (const q of ['q0', 'q1']) {
        const mine = sched.jobs.filter((j) => j.queue.name === q)
        for (let i = 1; i < mine.length; i++) expect(mine[i].start!).toBeGreaterThanOrEqual(mine[i - 1].end!)
      }
      for (const j of sched.jobs.filter((j) => j.queue.name === 'q0')) expect(j.start!).toBeGreaterThanOrEqual(50_000n)
      expect(sched.done).toContain('q0 at 57500')
    }
    const again = build(5n).run()
    expect(again.trace).toEqual(runs[5].report.trace)
  })

  it("plans a submission's steps as the engine's own walk makes them (property)", () => {
    const request = fc.record({
      unmap: fc.boolean(),
      page: fc.integer({ min: 0, max: 24 }),
      pages: fc.integer({ min: 1, max: 6 }),
      sparse: fc.boolean(),
    })
    const setup = fc.array(request, { maxLength: 6 })
    fc.assert(
      fc.property(setup, fc.array(request, { minLength: 1, maxLength: 6 }), (before, batch) => {
        const { vm, bo } = world(engine)
        const req = (r: { unmap: boolean; page: number; pages: number; sparse: boolean }): BindRequest =>
          r.unmap
            ? { op: 'unmap', addr: BigInt(r.page) * P, range: BigInt(r.pages) * P }
            : map(BigInt(r.page) * P, r.sparse ? null : bo, BigInt(r.pages) * P)
        const q = vm.createBindQueue()
        q.submit({ binds: before.map(req) })
        const job = q.submit({ binds: batch.map(req) })
        // The same requests walked one by one on a twin VA space, steps taken from the engine's ops.
        const twin = world(engine)
        const same = (r: BindRequest): BindRequest => (r.op === 'map' && r.obj ? { ...r, obj: twin.bo } : r)
        for (const r of before.map(req).map(same)) apply(twin.vm, r)
        const want = batch.map(req).flatMap((r, i) => apply(twin.vm, same(r)).map((op) => ({ request: i, ...op })))
        expect(job.steps).toEqual(want)
        expect(vm.mappingCount).toBe(twin.vm.mappingCount)
      }),
      { numRuns: 150 },
    )
  })

  it('takes conflict levels and update times from the page-table model when the VA space has one', () => {
    const dev = new Device({ engine })
    const vm = new GpuVm({ range: 1n << 48n, device: dev, pageTable: 'xe' })
    const bo = dev.createObject({ size: 0x10_0000n })
    const [q0, q1] = [vm.createBindQueue({ name: 'q0' }), vm.createBindQueue({ name: 'q1' })]
    // The first bind: tables at levels 0, 1, 2 (3 PDEs) and 1 PTE: 2000 + 10 + 3 * 10 ns; it writes the root (level 3).
    const first = q0.submit({ binds: [map(0n, bo)] })
    expect([first.duration, first.end]).toEqual([2_040n, 2_040n])
    // A new level-0 table (a level-1 entry, 2 MiB span) inside the first's 512 GiB span: it waits for it.
    const second = q1.submit({ binds: [map(0x20_0000n, bo)] })
    expect([second.conflicts, second.duration, second.start]).toEqual([[first], 2_020n, 2_040n])
    dev.advance(10_000n)
    // Leaf writes in tables that exist (level 0, 4 KiB spans): independent across queues.
    const spin = dev.createFence()
    const held = q0.submit({ binds: [map(P, bo)], inFences: [spin] })
    const free = q1.submit({ binds: [map(2n * P, bo)] })
    expect([free.conflicts, free.start, free.duration, held.start]).toEqual([[], 10_000n, 2_010n, null])
    // An unbind: 1 PTE cleared and 1 TLB invalidation: 2000 + 10 + 1000 ns.
    const unbind = q1.submit({ binds: [{ op: 'unmap', addr: 2n * P, range: P }] })
    expect(unbind.duration).toBe(3_010n)
    const custom = vm.createBindQueue({ latency: 0n, perPte: 1n, perPde: 0n, perTlb: 7n })
    expect([custom.perPte, custom.perPde, custom.perTlb]).toEqual([1n, 0n, 7n])
    expect(custom.submit({ binds: [{ op: 'unmap', addr: 0n, range: P }] }).duration).toBe(8n)
    expect(errnoOf(() => vm.createBindQueue({ perTlb: -1n }))).toBe('EINVAL')
  })

  it('refuses bad input and leaves the state unchanged', () => {
    const { dev, vm, bo } = world(engine)
    const q = vm.createBindQueue()
    const other = new Device({ engine })
    const hostile = {
      get binds(): never {
        throw new Error('boom')
      },
    }
    const bad: [string, () => unknown][] = [
      ['options', () => q.submit(null as never)],
      ['hostile getter', () => q.submit(hostile as never)],
      ['binds', () => q.submit({ binds: 5 as never })],
      ['op', () => q.submit({ binds: [{ op: 'zap', addr: 0n, range: P } as never] })],
      ['addr', () => q.submit({ binds: [{ op: 'map', addr: 1, range: P } as never] })],
      ['obj', () => q.submit({ binds: [map(0n, {})] })],
      ['fence', () => q.submit({ binds: [], inFences: [{} as never] })],
      ['fences', () => q.submit({ binds: [], inFences: 3 as never })],
      ['other device', () => q.submit({ binds: [], inFences: [other.createFence()] })],
      ['latency', () => vm.createBindQueue({ latency: -1n })],
      ['duration', () => vm.createBindQueue({ duration: 3 as never })],
      ['no device', () => new GpuVm({ range: 1n << 40n, engine }).createBindQueue()],
      ['new BindQueue', () => new (q.constructor as never as new (vm: unknown) => unknown)({})],
    ]
    for (const [what, call] of bad) expect([what, errnoOf(call)]).toEqual([what, 'EINVAL'])
    expect(errnoOf(() => q.submit({ binds: [], inFences: [bo as never] }))).toBe('EINVAL')
    expect(vm.mappingCount).toBe(0)
    expect(q.jobs).toEqual([])
    // A duration callback that throws or returns a non-u64.
    const q2 = vm.createBindQueue({ duration: () => -1n })
    expect(errnoOf(() => q2.submit({ binds: [] }))).toBe('EINVAL')
    // A failing request: the submission is atomic, nothing stays applied, no job is queued.
    const failed = (call: () => unknown) => {
      try {
        call()
      } catch (e) {
        return e as DrmBatchError
      }
      throw new Error('expected a DrmBatchError')
    }
    const checked = failed(() => q.submit({ binds: [map(0n, bo), map(1n << 50n, bo)] }))
    expect(checked).toBeInstanceOf(DrmBatchError)
    expect([checked.index, checked.atomic, checked.unwound, vm.mappingCount]).toEqual([1, true, false, 0])
    expect(q.jobs).toEqual([])
    const injected = failed(() => q.submit({ binds: [map(0n, bo), map(P, bo)], failAt: 1 }))
    expect([injected.errno, injected.index, injected.unwound, vm.mappingCount]).toEqual(['ENOSPC', 1, true, 0])
    expect(errnoOf(() => q.submit({ binds: [], failAt: -1 }))).toBe('EINVAL')
    expect(q.jobs).toEqual([])
    // Fence errors: names only.
    const f = dev.createFence()
    expect(errnoOf(() => f.signal('EWHAT' as never))).toBe('EINVAL')
    expect(f.signaled).toBe(false)
    expect(errnoOf(() => dev.createFence({ error: -5 as never }))).toBe('EINVAL')
    // A destroyed VA space.
    vm.destroy()
    expect(errnoOf(() => q.submit({ binds: [] }))).toBe('EINVAL')
    expect(errnoOf(() => vm.createBindQueue())).toBe('EINVAL')
    expect(new DrmError('EIO', 'x').errno).toBe('EIO')
  })
})

/** Applies one request through the engine's split/merge walk; the steps as kind and range. */
function apply(vm: GpuVm, r: BindRequest) {
  const ops =
    r.op === 'map'
      ? vm.smMapOps({ addr: r.addr, range: r.range, obj: r.obj ?? null, offset: 0n })
      : vm.smUnmapOps(r.addr, r.range)
  const steps = [...ops].map((op) => {
    if (op.kind === 'map') return { kind: 'map', addr: op.map.addr, range: op.map.range }
    if (op.kind === 'unmap') return { kind: 'unmap', addr: op.va.addr, range: op.va.range }
    if (op.kind !== 'remap') throw new Error(op.kind)
    const keptBefore = op.prev ? op.prev.range : 0n
    const addr = op.unmap.va.addr + keptBefore
    const end = op.next ? op.next.addr : op.unmap.va.addr + op.unmap.va.range
    return { kind: 'remap', addr, range: end - addr }
  })
  vm.applyAll(ops)
  return steps
}

describe('fence errors and bind queues across engines', () => {
  it('gives the same fence records and job times on both engines', () => {
    const run = (engine: (typeof engines)[number]) => {
      const out: unknown[] = []
      for (const conflict of [false, true]) {
        const { dev, spinner, held, free, initial } = bindExecQueues(engine, conflict)
        dev.advance(1_000n)
        spinner.signal(conflict ? 'EIO' : undefined)
        const f = dev.createFence({ signalAt: 5n, error: 'ETIME' })
        f.signal('ECANCELED') // after it signalled by time: recorded, still set
        out.push([initial, held, free].map(times), dev.core.fenceInfo(held.outFence.id), f.error)
        out.push(dev.takeViolations().map((v) => v.kind))
      }
      return out
    }
    const native = run('native')
    expect(native).toEqual(run('reference'))
    expect(native[3]).toEqual(['fence-error-after-signal'])
  })
})
