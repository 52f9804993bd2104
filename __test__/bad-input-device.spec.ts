// Bad input to the device (GEM objects, placement, reservation objects,
// fences, runSync, drm_exec, the scheduler), case by case: each gets a
// DrmError with the kernel's errno name and leaves the state as it was.
import { describe, expect, it } from 'vitest'
import {
  Device,
  type DrmError,
  Exec,
  explore,
  Fence,
  GemObject,
  LockGuard,
  Resv,
  runSync,
  Scheduler,
  seeds,
  SimThread,
  WwAcquireCtx,
  type LockOp,
  type Request,
} from '../lib/index.js'
import { bad, builder, type DevCase, outsideVaSpace, U, yieldOnce } from './bad-input.js'
import { errnoOf } from './errno.js'

const yieldForever = function* (): LockOp<void> {
  for (;;) yield { op: 'yield' }
}

const deviceCases: DevCase[] = [
  // Device
  ['new Device(null)', 'EINVAL', () => new Device(bad(null))],
  ['Device with engine 1n', 'EINVAL', () => new Device({ engine: bad(1n) })],
  ['Device with an unknown wwClass', 'EINVAL', () => new Device({ wwClass: bad('mutex') })],
  ["Device with strict 'yes'", 'EINVAL', () => new Device({ strict: bad('yes') })],
  ['Device with memory 5', 'EINVAL', () => new Device({ memory: bad(5) })],
  ['Device with a number memory.vram', 'EINVAL', () => new Device({ memory: { vram: bad(1 << 20) } })],
  ['createFence(null)', 'EINVAL', (w) => w.dev.createFence(bad(null))],
  ['createFence with a fractional context', 'EINVAL', (w) => w.dev.createFence({ context: 1.5 })],
  ['createFence with a number signalAt', 'EINVAL', (w) => w.dev.createFence({ signalAt: bad(5) })],
  ['createObject(null)', 'EINVAL', (w) => w.dev.createObject(bad(null))],
  ['createObject with a number size', 'EINVAL', (w) => w.dev.createObject({ size: bad(4096) })],
  ['createObject with a fractional id', 'EINVAL', (w) => w.dev.createObject({ size: U, id: 1.5 })],
  ['createObject with an id in use', 'EEXIST', (w) => w.dev.createObject({ size: U, id: w.bo.id })],
  [
    'createObject with resv a Proxy of a Resv',
    'EINVAL',
    (w) => w.dev.createObject({ size: U, resv: new Proxy(w.bo.resv, {}) }),
  ],
  [
    'createObject with resv a Proxy of a GemObject',
    'EINVAL',
    (w) => w.dev.createObject({ size: U, resv: new Proxy(w.bo, {}) }),
  ],
  [
    'createObject with the resv of another device',
    'EINVAL',
    (w) => w.dev.createObject({ size: U, resv: w.other.createResv() }),
  ],
  ['createObject with an unknown profile', 'EINVAL', (w) => w.dev.createObject({ size: U, profile: bad('gem-shmem') })],
  ['createObject larger than system memory', 'ENOMEM', (w) => w.dev.createObject({ size: 1n << 25n })],
  ["object('1')", 'EINVAL', (w) => w.dev.object(bad('1'))],
  ['advance(-1n)', 'EINVAL', (w) => w.dev.advance(-1n)],
  ['advance(5)', 'EINVAL', (w) => w.dev.advance(bad(5))],
  ['run(5)', 'EINVAL', (w) => w.dev.run(bad(5))],
  ['thread = 1.5', 'EINVAL', (w) => (w.dev.thread = 1.5)],
  ['validate of a Proxy of a GemObject', 'EINVAL', (w) => w.dev.validate(new Proxy(w.bo, {}), [])],
  ['validate of an object of another device', 'EINVAL', (w) => w.dev.validate(w.other.createObject({ size: U }), [])],
  ['validate with placement 5', 'EINVAL', (w) => w.dev.validate(w.bo, bad(5))],
  ['validate with a null place', 'EINVAL', (w) => w.dev.validate(w.bo, [bad(null)])],
  ['validate with domain 1n', 'EINVAL', (w) => w.dev.validate(w.bo, [{ domain: bad(1n) }])],
  ['validate with a number desired', 'EINVAL', (w) => w.dev.validate(w.bo, [{ domain: 'vram', desired: bad(1) }])],
  [
    'setEvictPlacement of a standalone GemObject',
    'EINVAL',
    (w) => w.dev.setEvictPlacement(new GemObject({ size: U }), []),
  ],
  [
    'setEvictPlacement with a place of domain current',
    'EINVAL',
    (w) => w.dev.setEvictPlacement(w.bo, [{ domain: bad('current') }]),
  ],
  ['memory(1n)', 'EINVAL', (w) => w.dev.memory(bad(1n))],
  ['lru(null)', 'EINVAL', (w) => w.dev.lru(bad(null))],
  ['attachVm(5)', 'EINVAL', (w) => w.dev.attachVm(bad(5))],
  ['attachVm of a Proxy of a GpuVm', 'EINVAL', (w) => w.dev.attachVm(new Proxy(w.vm, {}))],
  ['evictList({})', 'EINVAL', (w) => w.dev.evictList(bad({}))],
  ['vaMappings of a Proxy of a GemObject', 'EINVAL', (w) => w.dev.vaMappings(new Proxy(w.bo, {}))],
  // reservation objects, contexts, fences
  ['resv.lock(5)', 'EINVAL', (w) => w.bo.resv.lock(bad(5))],
  ['resv.lock with a Proxy of an acquire context', 'EINVAL', (w) => w.bo.resv.lock(new Proxy(w.ctx, {}))],
  ['resv.lock with a context of another device', 'EINVAL', (w) => w.bo.resv.lock(w.other.acquireCtx())],
  ['resv.lockSlow(null)', 'EINVAL', (w) => w.bo.resv.lockSlow(bad(null))],
  ['resv.trylock({})', 'EINVAL', (w) => w.bo.resv.trylock(bad({}))],
  ["resv.attempt with slow 'yes'", 'EINVAL', (w) => w.bo.resv.attempt(null, bad('yes'))],
  ['resv.reserveFences(-1)', 'EINVAL', (w) => w.bo.resv.reserveFences(-1)],
  ['resv.addFence(null)', 'EINVAL', (w) => w.bo.resv.addFence(bad(null), 'read')],
  ['resv.addFence of a Proxy of a fence', 'EINVAL', (w) => w.bo.resv.addFence(new Proxy(w.fence, {}), 'read')],
  ['resv.addFence with usage 1', 'EINVAL', (w) => w.bo.resv.addFence(w.fence, bad(1))],
  ["resv.fences('all')", 'EINVAL', (w) => w.bo.resv.fences(bad('all'))],
  ['resv.testSignaled()', 'EINVAL', (w) => w.bo.resv.testSignaled(bad(undefined))],
  ['new Resv(null, 1)', 'EINVAL', () => new Resv(bad(null), 1)],
  ['new Resv with a fractional id', 'EINVAL', (w) => new Resv(w.dev, 1.5)],
  ['new Fence of a Proxy of a device', 'EINVAL', (w) => new Fence(new Proxy(w.dev, {}), 1)],
  ['new WwAcquireCtx with id -1', 'EINVAL', (w) => new WwAcquireCtx(w.dev, -1)],
  ['new LockGuard(5)', 'EINVAL', () => new LockGuard(bad(5))],
  // runSync
  ['runSync(null, op)', 'EINVAL', () => runSync(bad(null), yieldOnce({ op: 'yield' }))],
  ['runSync of a Proxy of a device', 'EINVAL', (w) => runSync(new Proxy(w.dev, {}), yieldOnce({ op: 'yield' }))],
  ['runSync(dev, 5)', 'EINVAL', (w) => runSync(w.dev, bad(5))],
  ['runSync of a Proxy of an op', 'EINVAL', (w) => runSync(w.dev, new Proxy(yieldOnce({ op: 'yield' }), {}))],
  ['runSync of a null request', 'EINVAL', (w) => runSync(w.dev, yieldOnce(null))],
  ['runSync of an unknown request kind', 'EINVAL', (w) => runSync(w.dev, yieldOnce({ op: 'spin' }))],
  [
    'runSync of a lock request without a Resv',
    'EINVAL',
    (w) => runSync(w.dev, yieldOnce({ op: 'lock', resv: {}, ctx: null, slow: false })),
  ],
  [
    'runSync of a sleep request of 5 ns as a number',
    'EINVAL',
    (w) => runSync(w.dev, yieldOnce({ op: 'sleep', ns: 5 })),
  ],
  [
    'runSync of a wait request without ready()',
    'EINVAL',
    (w) => runSync(w.dev, yieldOnce({ op: 'wait', what: 'x', wakeAt: () => null })),
  ],
  [
    'runSync of a wait that can never be ready',
    'EDEADLK',
    (w) => runSync(w.dev, yieldOnce({ op: 'wait', what: 'x', ready: () => false, wakeAt: () => w.dev.now })),
  ],
  ['runSync of an op that yields for ever', 'EDEADLK', (w) => runSync(w.dev, yieldForever())],
  // drm_exec
  ['new Exec(dev, null)', 'EINVAL', (w) => new Exec(w.dev, bad(null))],
  ['new Exec(null)', 'EINVAL', () => new Exec(bad(null))],
  ['new Exec of a Proxy of a device', 'EINVAL', (w) => new Exec(new Proxy(w.dev, {}))],
  ['Exec with interruptible 1', 'EINVAL', (w) => new Exec(w.dev, { interruptible: bad(1) })],
  ['exec.untilAllLocked(5)', 'EINVAL', (w) => new Exec(w.dev).untilAllLocked(bad(5))],
  ['exec.lockObj of a Proxy of a GemObject', 'EINVAL', (w) => w.exec.lockObj(new Proxy(w.bo, {}))],
  ['exec.lockObj of an object of another device', 'EINVAL', (w) => w.exec.lockObj(w.other.createObject({ size: U }))],
  ['exec.prepareObj with numFences 1.5', 'EINVAL', (w) => w.exec.prepareObj(w.bo, 1.5)],
  ['exec.prepareArray(5)', 'EINVAL', (w) => w.exec.prepareArray(bad(5), 1)],
  ['exec.prepareArray with a bad element locks nothing', 'EINVAL', (w) => w.exec.prepareArray([w.bo, bad(5)], 1)],
  // scheduler
  ['new Scheduler(null)', 'EINVAL', () => new Scheduler(bad(null))],
  ['new Scheduler(dev, null)', 'EINVAL', (w) => new Scheduler(w.dev, bad(null))],
  ['Scheduler with seed 1.5', 'EINVAL', (w) => new Scheduler(w.dev, { seed: 1.5 })],
  ['Scheduler with seed -1', 'EINVAL', (w) => new Scheduler(w.dev, { seed: -1 })],
  ["Scheduler with seed '1'", 'EINVAL', (w) => new Scheduler(w.dev, { seed: bad('1') })],
  ['Scheduler with seed 2^64', 'EINVAL', (w) => new Scheduler(w.dev, { seed: 1n << 64n })],
  ['Scheduler with maxSteps NaN', 'EINVAL', (w) => new Scheduler(w.dev, { maxSteps: NaN })],
  ['Scheduler with maxSteps -1', 'EINVAL', (w) => new Scheduler(w.dev, { maxSteps: -1 })],
  ['Scheduler with maxSteps 1.5', 'EINVAL', (w) => new Scheduler(w.dev, { maxSteps: 1.5 })],
  ['spawn with a number name', 'EINVAL', (w) => new Scheduler(w.dev).spawn(bad(5), function* () {})],
  ['spawn with body 5', 'EINVAL', (w) => new Scheduler(w.dev).spawn('t', bad(5))],
  [
    'spawn with a body that is not a generator function',
    'EINVAL',
    (w) =>
      new Scheduler(w.dev).spawn(
        't',
        bad(() => 1),
      ),
  ],
  ['new SimThread with a look-alike device', 'EINVAL', () => new SimThread(1, 't', bad({}))],
  ['explore(5, seeds)', 'EINVAL', () => explore(bad(5), [1n])],
  ['explore with seeds 5', 'EINVAL', (w) => explore(builder(w), bad(5))],
  ['explore with a fractional seed', 'EINVAL', (w) => explore(builder(w), [1.5])],
  [
    'explore with a build that returns a Proxy of a Scheduler',
    'EINVAL',
    (w) => explore(() => new Proxy(new Scheduler(w.other), {}), [1n]),
  ],
  ['seeds(-1)', 'EINVAL', () => seeds(-1)],
]

describe('bad input', () => {
  outsideVaSpace(deviceCases, 90)
})

describe('argument checking helpers', () => {
  it('runSync closes an op it refuses (its finally blocks run)', () => {
    const dev = new Device({ engine: 'reference' })
    const closed: { done?: boolean } = {}
    expect(errnoOf(() => runSync(dev, yieldOnce({ op: 'spin' }, closed)))).toBe('EINVAL')
    expect(closed.done).toBe(true)
  })

  it('a scheduler thread yielding an unknown request ends with EINVAL; the others run on', () => {
    const dev = new Device({ engine: 'reference' })
    const s = new Scheduler(dev, { seed: 1 })
    let other = 0
    s.spawn('bad', function* () {
      yield bad<Request>({ op: 'spin' })
    })
    s.spawn('good', function* (t) {
      yield* t.yield()
      other++
    })
    const r = s.run()
    expect(r.completed).toBe(true)
    expect(r.errors.map((e) => [e.thread, (e.error as DrmError).errno])).toEqual([['bad', 'EINVAL']])
    expect(other).toBe(1)
  })

  it('maxSteps 0 and Infinity are accepted: 0 runs nothing, Infinity runs to the end', () => {
    const dev = new Device({ engine: 'reference' })
    const body = function* () {
      yield { op: 'yield' } as Request
    }
    const zero = new Scheduler(dev, { maxSteps: 0 })
    zero.spawn('t', body)
    expect(zero.run()).toMatchObject({ steps: 0, completed: false })
    const all = new Scheduler(dev, { maxSteps: Infinity })
    all.spawn('t', body)
    expect(all.run()).toMatchObject({ steps: 2, completed: true })
  })

  it.each(['native', 'reference'] as const)(
    'a createObject refused with ENOMEM frees its id at once (%s)',
    (engine) => {
      const dev = new Device({ engine, memory: { system: 1n << 20n } })
      const id = engine === 'native' ? 0x5150 : 0x5151
      expect(errnoOf(() => dev.createObject({ size: 2n << 20n, id }))).toBe('ENOMEM')
      expect(dev.object(id)).toBeUndefined()
      // Before the fix the refused object kept the id until it was collected: EEXIST here.
      expect(dev.createObject({ size: U, id }).id).toBe(id)
    },
  )
})
