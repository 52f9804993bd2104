// Bad input, swept: every public entry point outside the VA space, given
// each hostile value in turn, throws a DrmError and leaves the state as it
// was (the per-area tables are in bad-input-{gpuvm,alloc,device}.spec.ts).
import { describe, expect, it } from 'vitest'
import {
  BuddyAllocator,
  Device,
  DrmError,
  Exec,
  explore,
  Fence,
  GemObject,
  GpuVm,
  GpuVmExec,
  LockGuard,
  missingLocks,
  prepareObjects,
  prepareRange,
  prepareVm,
  resvAddFence,
  smMapExecLock,
  smUnmapExecLock,
  validate,
  RangeAllocator,
  Resv,
  runSync,
  Scheduler,
  seeds,
  SimThread,
  vmbind,
  WwAcquireCtx,
  type Request,
} from '../lib/index.js'
import { describe as describeValue } from '../lib/base/check.js'
import { bad, builder, type DevWorld, devSnapshot, devWorld, U, yieldOnce } from './bad-input.js'

/** Runs `f` holding `w.bo`'s lock, as validate needs ([] is a valid placement: validating with it purges). */
const locked = (w: DevWorld, f: () => unknown) => {
  w.bo.resv.lock()
  try {
    return f()
  } finally {
    w.bo.resv.unlock()
  }
}

/** Values no entry point accepts where a specific type is expected. */
const hostile = (): unknown[] => {
  const { proxy: revoked, revoke } = Proxy.revocable({}, {})
  revoke()
  return [null, undefined, 5, 1.5, NaN, -1, 1n, -1n, 'x', Symbol('x'), {}, [], () => 1, revoked]
}

/** Every public entry point outside the VA space, each with one argument taken from the test. */
type Entry = [name: string, call: (w: DevWorld, v: unknown) => unknown, valid: (w: DevWorld) => unknown]
const none = () => undefined
const entries: Entry[] = [
  ['new RangeAllocator', (_w, v) => new RangeAllocator(bad(v)), (w) => ({ size: U, engine: w.engine })],
  ...(['start', 'size', 'engine'] as const).map(
    (f): Entry => [
      `new RangeAllocator({ ${f} })`,
      (w, v) => new RangeAllocator(bad({ size: U, engine: w.engine, [f]: v })),
      none,
    ],
  ),
  ['mm.insert', (w, v) => w.mm.insert(bad(v)), () => ({ size: U })],
  ...(['size', 'alignment', 'color', 'range', 'mode'] as const).map(
    (f): Entry => [`mm.insert({ ${f} })`, (w, v) => w.mm.insert(bad({ size: U, [f]: v })), none],
  ),
  [
    'mm.insert({ range: { start } })',
    (w, v) => w.mm.insert({ size: U, range: { start: bad(v), end: 1n << 20n } }),
    none,
  ],
  ['mm.reserve', (w, v) => w.mm.reserve(bad(v)), () => ({ start: 1n << 19n, size: U })],
  ...(['start', 'size', 'color'] as const).map(
    (f): Entry => [`mm.reserve({ ${f} })`, (w, v) => w.mm.reserve(bad({ start: 1n << 19n, size: U, [f]: v })), none],
  ),
  ['mm.remove', (w, v) => w.mm.remove(bad(v)), (w) => w.node],
  ['mm.nodeAt', (w, v) => w.mm.nodeAt(bad(v)), () => 0n],
  ['mm.scan', (w, v) => w.mm.scan(bad(v)), () => ({ size: U })],
  ...(['size', 'alignment', 'range', 'mode'] as const).map(
    (f): Entry => [`mm.scan({ ${f} })`, (w, v) => w.mm.scan(bad({ size: U, [f]: v })), none],
  ),
  ['scan.add', (w, v) => w.mm.scan({ size: U }).add(bad(v)), (w) => w.node],
  ['scan.remove', (w, v) => w.mm.scan({ size: U }).remove(bad(v)), (w) => w.node],
  ['scan.run', (w, v) => w.mm.scan({ size: U }).run(bad(v)), (w) => [w.node]],
  ['new BuddyAllocator', (_w, v) => new BuddyAllocator(bad(v)), (w) => ({ size: U, engine: w.engine })],
  ...(['size', 'chunkSize', 'engine'] as const).map(
    (f): Entry => [
      `new BuddyAllocator({ ${f} })`,
      (w, v) => new BuddyAllocator(bad({ size: U, engine: w.engine, [f]: v })),
      none,
    ],
  ),
  ['buddy.alloc', (w, v) => w.buddy.alloc(bad(v)), () => ({ size: U })],
  ...(['size', 'minBlockSize', 'range', 'topdown', 'contiguous', 'trimDisable'] as const).map(
    (f): Entry => [`buddy.alloc({ ${f} })`, (w, v) => w.buddy.alloc(bad({ size: U, [f]: v })), none],
  ),
  ['buddy.free', (w, v) => w.buddy.free(bad(v)), (w) => w.block],
  ['buddy.trim(block)', (w, v) => w.buddy.trim(bad(v), U), (w) => w.block],
  ['buddy.trim(, size)', (w, v) => w.buddy.trim(w.block, bad(v)), () => U],
  ['buddy.blockAt', (w, v) => w.buddy.blockAt(bad(v)), () => 0n],
  ['new Device', (_w, v) => new Device(bad(v)), (w) => ({ engine: w.engine })],
  ...(['engine', 'strict', 'wwClass', 'profile', 'memory'] as const).map(
    (f): Entry => [`new Device({ ${f} })`, (w, v) => new Device(bad({ engine: w.engine, [f]: v })), none],
  ),
  ['new Device({ memory: { vram } })', (w, v) => new Device({ engine: w.engine, memory: { vram: bad(v) } }), none],
  ['dev.thread =', (w, v) => (w.dev.thread = bad(v)), () => 0],
  ['dev.advance', (w, v) => w.dev.advance(bad(v)), () => 1n],
  ['dev.run', (w, v) => w.dev.run(bad(v)), () => () => 1],
  ['dev.createObject', (w, v) => w.dev.createObject(bad(v)), () => ({ size: U })],
  ...(['size', 'id', 'resv', 'profile'] as const).map(
    (f): Entry => [`dev.createObject({ ${f} })`, (w, v) => w.dev.createObject(bad({ size: U, [f]: v })), none],
  ),
  ['dev.object', (w, v) => w.dev.object(bad(v)), (w) => w.bo.id],
  ['dev.createFence', (w, v) => w.dev.createFence(bad(v)), () => ({})],
  ...(['context', 'seqno', 'signalAt'] as const).map(
    (f): Entry => [`dev.createFence({ ${f} })`, (w, v) => w.dev.createFence(bad({ [f]: v })), none],
  ),
  ['dev.attachVm', (w, v) => w.dev.attachVm(bad(v)), (w) => w.vm],
  ['dev.validate(obj)', (w, v) => w.dev.validate(bad(v), []), (w) => w.bo],
  ['dev.validate(, placement)', (w, v) => locked(w, () => w.dev.validate(w.bo, bad(v))), () => [{ domain: 'vram' }]],
  ['dev.validate(, [place])', (w, v) => w.dev.validate(w.bo, [bad(v)]), () => ({ domain: 'vram' })],
  ['dev.validate(, [{ domain }])', (w, v) => w.dev.validate(w.bo, [{ domain: bad(v) }]), () => 'vram'],
  ['dev.setEvictPlacement(obj)', (w, v) => w.dev.setEvictPlacement(bad(v), []), (w) => w.bo],
  ['dev.setEvictPlacement(, placement)', (w, v) => w.dev.setEvictPlacement(w.bo, bad(v)), () => [{ domain: 'gtt' }]],
  ['dev.evictPlacement', (w, v) => w.dev.evictPlacement(bad(v)), (w) => w.bo],
  ['dev.memory', (w, v) => w.dev.memory(bad(v)), () => 'vram'],
  ['dev.lru', (w, v) => w.dev.lru(bad(v)), () => 'vram'],
  ['dev.evictList', (w, v) => w.dev.evictList(bad(v)), (w) => w.vm],
  ['dev.vaMappings', (w, v) => w.dev.vaMappings(bad(v)), (w) => w.bo],
  ['resv.lock', (w, v) => w.bo.resv.lock(bad(v)), (w) => w.ctx],
  ['resv.lockSlow', (w, v) => w.bo.resv.lockSlow(bad(v)), (w) => w.ctx],
  ['resv.trylock', (w, v) => w.bo.resv.trylock(bad(v)), (w) => w.ctx],
  ['resv.guard', (w, v) => w.bo.resv.guard(bad(v)), (w) => w.ctx],
  ['resv.attempt(, slow)', (w, v) => w.bo.resv.attempt(null, bad(v)), () => false],
  ['resv.reserveFences', (w, v) => w.bo.resv.reserveFences(bad(v)), () => 1],
  ['resv.addFence(fence)', (w, v) => w.bo.resv.addFence(bad(v), 'read'), (w) => w.fence],
  ['resv.addFence(, usage)', (w, v) => w.bo.resv.addFence(w.fence, bad(v)), () => 'read'],
  ['resv.fences', (w, v) => w.bo.resv.fences(bad(v)), () => 'read'],
  ['resv.testSignaled', (w, v) => w.bo.resv.testSignaled(bad(v)), () => 'read'],
  ['resv.wait', (w, v) => w.bo.resv.wait(bad(v)), () => 'read'],
  ['new Resv(device)', (_w, v) => new Resv(bad(v), 1), (w) => w.dev],
  ['new Resv(, id)', (w, v) => new Resv(w.dev, bad(v)), (w) => w.bo.resv.id],
  ['new Fence(device)', (_w, v) => new Fence(bad(v), 1), (w) => w.dev],
  ['new WwAcquireCtx(, id)', (w, v) => new WwAcquireCtx(w.dev, bad(v)), () => 1],
  ['new LockGuard', (_w, v) => new LockGuard(bad(v)), (w) => w.bo.resv],
  ['runSync(device)', (_w, v) => runSync(bad(v), yieldOnce({ op: 'yield' })), (w) => w.dev],
  ['runSync(, op)', (w, v) => runSync(w.dev, bad(v)), () => yieldOnce({ op: 'yield' })],
  ['runSync(, op yielding it)', (w, v) => runSync(w.dev, yieldOnce(v)), () => ({ op: 'yield' })],
  ['runSync(, op yielding { op })', (w, v) => runSync(w.dev, yieldOnce({ op: v })), () => 'yield'],
  ['runSync(, op yielding a sleep)', (w, v) => runSync(w.dev, yieldOnce({ op: 'sleep', ns: v })), () => 1n],
  [
    'runSync(, op yielding a lock)',
    (w, v) => runSync(w.dev, yieldOnce({ op: 'lock', resv: v, ctx: null, slow: false })),
    (w) => w.bo.resv,
  ],
  [
    'runSync(, op yielding a wait)',
    (w, v) => runSync(w.dev, yieldOnce({ op: 'wait', what: 'x', ready: () => false, wakeAt: v })),
    () => () => null,
  ],
  ['new Exec(device)', (_w, v) => new Exec(bad(v)), (w) => w.dev],
  ['new Exec(, options)', (w, v) => new Exec(w.dev, bad(v)), () => ({})],
  ['exec.untilAllLocked', (w, v) => new Exec(w.dev).untilAllLocked(bad(v)), () => () => {}],
  ['exec.lockObj', (w, v) => w.exec.lockObj(bad(v)), (w) => w.bo],
  ['exec.unlockObj', (w, v) => w.exec.unlockObj(bad(v)), (w) => w.bo],
  ['exec.prepareObj(, n)', (w, v) => w.exec.prepareObj(w.bo, bad(v)), () => 1],
  ['exec.prepareArray', (w, v) => w.exec.prepareArray(bad(v), 1), (w) => [w.bo]],
  ['new Scheduler(device)', (_w, v) => new Scheduler(bad(v)), (w) => w.dev],
  ['new Scheduler(, options)', (w, v) => new Scheduler(w.dev, bad(v)), () => ({})],
  ...(['seed', 'maxSteps'] as const).map(
    (f): Entry => [`new Scheduler(, { ${f} })`, (w, v) => new Scheduler(w.dev, bad({ [f]: v })).run(), none],
  ),
  ['sched.spawn(name)', (w, v) => new Scheduler(w.dev).spawn(bad(v), function* () {}), () => 't'],
  ['sched.spawn(, body)', (w, v) => new Scheduler(w.dev).spawn('t', bad(v)), () => function* () {}],
  [
    'a thread yielding it',
    (w, v) => {
      const s = new Scheduler(w.other)
      s.spawn('t', function* () {
        yield bad<Request>(v)
      })
      const r = s.run()
      if (r.errors.length > 0) throw r.errors[0].error
    },
    () => ({ op: 'yield' }),
  ],
  ['new SimThread(, , device)', (_w, v) => new SimThread(1, 't', bad(v)), (w) => w.dev],
  ['thread.sleep', (w, v) => [...new Scheduler(w.dev).spawn('t', function* () {}).sleep(bad(v))], () => 1n],
  ['explore(build)', (_w, v) => explore(bad(v), [1n]), (w) => builder(w)],
  ['explore(, seeds)', (w, v) => explore(builder(w), bad(v)), () => [1n]],
  ['explore(, [seed])', (w, v) => explore(builder(w), [bad(v)]), () => 1n],
  ['seeds', (_w, v) => [...seeds(bad(v))], () => 2],
  // The drm_gpuvm hub.
  ...(['device', 'era', 'resvProtected', 'immediateMode', 'resvObject', 'ops'] as const).map(
    (f): Entry => [
      `new GpuVm({ device, ${f} })`,
      (w, v) => new GpuVm(bad({ range: 1n << 32n, device: w.dev, [f]: v })),
      none,
    ],
  ),
  ['hub.obtain', (w, v) => w.hub.obtain(bad(v)), (w) => w.hubObj],
  ['hub.obtainPrealloc', (w, v) => w.hub.obtainPrealloc(bad(v)), (w) => w.hubObj],
  ['hub.findVmBo', (w, v) => w.hub.findVmBo(bad(v)), (w) => w.hubObj],
  ['hub.isExtobj', (w, v) => w.hub.isExtobj(bad(v)), (w) => w.hubObj],
  ['hub.gemEvict', (w, v) => w.hub.gemEvict(bad(v)), (w) => w.hubObj],
  ['hub.linkTo(va)', (w, v) => w.hub.linkTo(bad(v), w.vmBo), (w) => w.hubVa],
  ['hub.linkTo(, vmBo)', (w, v) => w.hub.linkTo(w.hubVa, bad(v)), (w) => w.vmBo],
  ['hub.unlinkDefer', (w, v) => w.hub.unlinkDefer(bad(v)), (w) => w.hubVa],
  ['hub.madviseOps', (w, v) => w.hub.madviseOps(bad(v)), () => ({ addr: 0n, range: U })],
  ['hub.setFlags(va)', (w, v) => w.hub.setFlags(bad(v), 4), (w) => w.hubVa],
  ['hub.setFlags(, flags)', (w, v) => w.hub.setFlags(w.hubVa, bad(v)), () => 4],
  ['hub.flagsOf', (w, v) => w.hub.flagsOf(bad(v)), (w) => w.hubVa],
  ['dev.gemEvict', (w, v) => w.dev.gemEvict(bad(v)), (w) => w.hubObj],
  ['new GpuVmExec(vm)', (_w, v) => new GpuVmExec(bad(v)), (w) => w.hub],
  ['new GpuVmExec(, options)', (w, v) => new GpuVmExec(w.hub, bad(v)), () => ({})],
  ...(['numFences', 'interruptible', 'ignoreDuplicates'] as const).map(
    (f): Entry => [`new GpuVmExec(, { ${f} })`, (w, v) => new GpuVmExec(w.hub, bad({ [f]: v })).lock().unlock(), none],
  ),
  // `extra` runs inside the lock loop, after locks are taken: on a device of its own (the world's has an
  // acquire context open, so any new loop there records ctx-nested-init).
  [
    'new GpuVmExec(, { extra })',
    (w, v) => new GpuVmExec(new GpuVm({ range: 1n << 32n, device: w.other }), bad({ extra: v })).lock().unlock(),
    none,
  ],
  ['gpuVmExec.lockArray', (w, v) => new GpuVmExec(w.hub).lockArray(bad(v)).unlock(), (w) => [w.bo]],
  ['gpuVmExec.lockRange(addr)', (w, v) => new GpuVmExec(w.hub).lockRange(bad(v), U).unlock(), () => U],
  ['prepareVm(vm)', (w, v) => prepareVm(bad(v), w.exec), (w) => w.hub],
  ['prepareVm(, exec)', (w, v) => prepareVm(w.hub, bad(v)), (w) => w.exec],
  ['prepareVm(, , n)', (w, v) => prepareVm(w.hub, w.exec, bad(v)), () => 1],
  ['prepareObjects(vm)', (w, v) => prepareObjects(bad(v), w.exec), (w) => w.hub],
  ['prepareObjects(, , n)', (w, v) => prepareObjects(w.hub, w.exec, bad(v)), () => 1],
  ['prepareRange(, , addr)', (w, v) => prepareRange(w.hub, w.exec, bad(v), U), () => U],
  ['prepareRange(, , , range)', (w, v) => prepareRange(w.hub, w.exec, U, bad(v)), () => U],
  ['smMapExecLock(, , , request)', (w, v) => smMapExecLock(w.hub, w.exec, 1, bad(v)), () => ({ addr: U, range: U })],
  ['smMapExecLock(, , n)', (w, v) => smMapExecLock(w.hub, w.exec, bad(v), { addr: U, range: U }), () => 1],
  ['smUnmapExecLock(, , addr)', (w, v) => smUnmapExecLock(w.hub, w.exec, bad(v), U), () => U],
  ['missingLocks(exec)', (w, v) => missingLocks(bad(v), w.hub.smUnmapOps(U, U)), (w) => w.exec],
  ['missingLocks(, ops)', (w, v) => missingLocks(w.exec, bad(v)), (w) => w.hub.smUnmapOps(U, U)],
  ['validate(vm)', (w, v) => validate(bad(v), w.exec), (w) => w.hub],
  ['resvAddFence(, , fence)', (w, v) => resvAddFence(w.hub, w.exec, bad(v), 'read', 'read'), (w) => w.fence],
  ['resvAddFence(, , , usage)', (w, v) => resvAddFence(w.hub, w.exec, w.fence, bad(v), 'read'), () => 'read'],
  ['vmBo.evict', (w, v) => w.vmBo.evict(bad(v)), () => true],
  ['vmbind', (_w, v) => vmbind(bad(v)), () => ({ ops: 1 })],
  ...(['seed', 'ops', 'window', 'maxPages', 'objects', 'mapPercent', 'trace', 'engine', 'onProgress'] as const).map(
    (f): Entry => [`vmbind({ ${f} })`, (w, v) => vmbind(bad({ ops: 5, engine: w.engine, [f]: v })), none],
  ),
]

describe('bad input', () => {
  describe.each(['native', 'reference'] as const)('outside the VA space (%s engine)', (engine) => {
    // Whatever an entry point throws for a hostile argument is a DrmError,
    // and the state is as it was; a forwarding Proxy of a valid argument may
    // be accepted or refused, but never with a TypeError from a private field.
    it.each(entries)('%s: every hostile argument is a DrmError, state unchanged', (_name, call, valid) => {
      for (const v of hostile()) {
        const w = devWorld(engine)
        const before = devSnapshot(w)
        try {
          call(w, v)
        } catch (e) {
          expect(e, describeValue(v)).toBeInstanceOf(DrmError)
          expect(devSnapshot(w, 1), describeValue(v)).toBe(before)
        }
      }
      // A forwarding Proxy of a valid argument: refused, or taken as the value (a call
      // may then fail for other reasons, with their own effects, such as a violation recorded).
      const w = devWorld(engine)
      try {
        call(w, new Proxy(Object(valid(w)), {}))
      } catch (e) {
        expect(e).toBeInstanceOf(DrmError)
      }
    })
  })

  it('a table row for each entry point', () => {
    expect(entries.length).toBeGreaterThanOrEqual(100)
  })
})

describe('argument checking helpers', () => {
  it('describe() never throws, whatever it is given', () => {
    const { proxy: revoked, revoke } = Proxy.revocable({}, {})
    revoke()
    const trap = () => {
      throw new Error('trap')
    }
    const traps = new Proxy(
      {},
      { get: trap, has: trap, getPrototypeOf: trap, ownKeys: trap, getOwnPropertyDescriptor: trap },
    )
    const loud = { toString: trap, valueOf: trap, [Symbol.toPrimitive]: trap }
    const ctorGetter = Object.create(Object.defineProperty({}, 'constructor', { get: trap }))
    const cases: [unknown, string][] = [
      [1n << 64n, '18446744073709551616n'],
      [Symbol('s'), 'a symbol'],
      [traps, 'a Proxy'],
      [revoked, 'a Proxy'],
      [loud, 'an object'],
      [ctorGetter, 'an object'],
      [Object.create(null), 'an object'],
      [new Uint32Array(2), 'a Uint32Array'],
      [new GemObject({ size: U }), 'a GemObject'],
      [() => 1, 'a function'],
      [NaN, 'number NaN'],
      [null, 'null'],
      [undefined, 'undefined'],
      ['x'.repeat(100), `"${'x'.repeat(40)}..."`],
    ]
    for (const [v, want] of cases) expect(describeValue(v)).toBe(want)
  })
})
