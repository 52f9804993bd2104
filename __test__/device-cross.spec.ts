/**
 * The native and reference device engines, driven by the same random
 * operation sequences (lock, unlock, trylock, lockSlow, contexts, pin,
 * unpin, vmap, vunmap, access, move, get, put, fences, clock), must agree
 * on every result, every error (errno and message), every violation and the
 * final state.
 */
import fc from 'fast-check'
import { describe, it, expect } from 'vitest'
import type { DeviceCore } from '../lib/contract/device.js'
import { DrmError } from '../lib/base/errors.js'
import { NativeDeviceCore } from '../lib/native/device.js'
import { ReferenceDevice } from '../lib/reference/device/index.js'
import { outcomeOf } from './errno.js'

const THREADS = 3
const OBJECTS = [1, 2, 3, 4]
/** Small ids, some beyond what exists, so unknown-id errors are compared too. */
const id = fc.integer({ min: 0, max: 6 })
const thread = fc.integer({ min: 0, max: THREADS - 1 })

type Cmd =
  | { c: 'create'; id: number; share: number; profile: number }
  | { c: 'createResv' }
  | { c: 'ctxInit'; t: number }
  | { c: 'ctxDone' | 'ctxFini'; t: number; ctx: number }
  /** `ctx` -1: the thread's latest context (what real code does), else a raw id. */
  | { c: 'lock'; t: number; resv: number; ctx: number; mode: number }
  | { c: 'unlock'; t: number; resv: number }
  | { c: 'pin'; t: number; id: number; domain: number }
  | { c: 'unpin' | 'get'; t: number; id: number }
  | { c: 'vmap' | 'vunmap'; t: number; id: number; kind: number }
  | { c: 'access'; t: number; id: number; gen: bigint }
  | { c: 'move'; t: number; id: number; domain: number }
  | { c: 'put'; id: number; va: number }
  | { c: 'fence'; context: number; seqno: number; at: bigint | null }
  | { c: 'reserve'; t: number; resv: number; n: number }
  | { c: 'addFence'; t: number; resv: number; fence: number; usage: number }
  | { c: 'signal'; fence: number }
  | { c: 'query'; resv: number; usage: number }
  | { c: 'advance'; ns: bigint }

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    arbitrary: fc.record({
      c: fc.constant('create' as const),
      id: fc.constantFrom(...OBJECTS, 0),
      share: id,
      profile: fc.integer({ min: 0, max: 2 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ c: fc.constant('createResv' as const) }), weight: 1 },
  { arbitrary: fc.record({ c: fc.constant('ctxInit' as const), t: thread }), weight: 2 },
  {
    arbitrary: fc.record({
      c: fc.constantFrom('ctxDone' as const, 'ctxFini' as const),
      t: thread,
      ctx: fc.oneof(fc.constant(-1), id),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('lock' as const),
      t: thread,
      resv: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 3 }), weight: 9 }, { arbitrary: id, weight: 1 }),
      ctx: fc.oneof({ arbitrary: fc.constant(-1), weight: 4 }, { arbitrary: id, weight: 1 }),
      mode: fc.oneof(
        { arbitrary: fc.constant(0), weight: 4 },
        { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 1 },
      ),
    }),
    weight: 12,
  },
  { arbitrary: fc.record({ c: fc.constant('unlock' as const), t: thread, resv: id }), weight: 5 },
  {
    arbitrary: fc.record({ c: fc.constant('pin' as const), t: thread, id, domain: fc.integer({ min: 0, max: 3 }) }),
    weight: 3,
  },
  { arbitrary: fc.record({ c: fc.constantFrom('unpin' as const, 'get' as const), t: thread, id }), weight: 2 },
  {
    arbitrary: fc.record({
      c: fc.constantFrom('vmap' as const, 'vunmap' as const),
      t: thread,
      id,
      kind: fc.integer({ min: 0, max: 1 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({ c: fc.constant('access' as const), t: thread, id, gen: fc.bigInt({ min: 0n, max: 3n }) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ c: fc.constant('move' as const), t: thread, id, domain: fc.integer({ min: 1, max: 3 }) }),
    weight: 3,
  },
  { arbitrary: fc.record({ c: fc.constant('put' as const), id, va: fc.integer({ min: 0, max: 1 }) }), weight: 1 },
  {
    arbitrary: fc.record({
      c: fc.constant('fence' as const),
      context: fc.integer({ min: 1, max: 3 }),
      seqno: fc.integer({ min: 0, max: 3 }),
      at: fc.option(fc.bigInt({ min: 0n, max: 50n })),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('reserve' as const),
      t: thread,
      resv: id,
      n: fc.integer({ min: 0, max: 5 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('addFence' as const),
      t: thread,
      resv: id,
      fence: id,
      usage: fc.integer({ min: 0, max: 3 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ c: fc.constant('signal' as const), fence: id }), weight: 1 },
  {
    arbitrary: fc.record({ c: fc.constant('query' as const), resv: id, usage: fc.integer({ min: 0, max: 3 }) }),
    weight: 2,
  },
  { arbitrary: fc.record({ c: fc.constant('advance' as const), ns: fc.bigInt({ min: 0n, max: 20n }) }), weight: 1 },
)

/** Each thread's latest context, as both engines hand out the same ids. */
let latest = new Map<number, number>()
const ctxFor = (t: number, ctx: number) => (ctx === -1 ? (latest.get(t) ?? 0) : ctx)

function apply(d: DeviceCore, k: Cmd): unknown {
  switch (k.c) {
    case 'create':
      return d.createObject(k.id, 4096n, k.share, k.profile)
    case 'createResv':
      return d.createResv()
    case 'ctxInit':
      return d.ctxInit(k.t)
    case 'ctxDone':
      return d.ctxDone(k.t, ctxFor(k.t, k.ctx))
    case 'ctxFini':
      return d.ctxFini(k.t, ctxFor(k.t, k.ctx))
    case 'lock':
      return d.lock(k.t, k.resv, ctxFor(k.t, k.ctx), k.mode)
    case 'unlock':
      return d.unlock(k.t, k.resv)
    case 'pin':
      return d.pin(k.t, k.id, k.domain)
    case 'unpin':
      return d.unpin(k.t, k.id)
    case 'get':
      return d.get(k.id)
    case 'vmap':
      return d.vmap(k.t, k.id, k.kind)
    case 'vunmap':
      return d.vunmap(k.t, k.id, k.kind)
    case 'access':
      return d.access(k.t, k.id, k.gen)
    case 'move':
      return d.moveTo(k.t, k.id, k.domain)
    case 'put':
      return d.put(k.id, k.va)
    case 'fence':
      return d.createFence(k.context, k.seqno, k.at)
    case 'reserve':
      return d.reserveFences(k.t, k.resv, k.n)
    case 'addFence':
      return d.addFence(k.t, k.resv, k.fence, k.usage)
    case 'signal':
      return d.signalFence(k.fence)
    case 'query':
      return [d.fences(k.resv, k.usage), d.testSignaled(k.resv, k.usage)]
    case 'advance':
      return d.advance(k.ns)
  }
}

function outcome(d: DeviceCore, k: Cmd): unknown {
  const result = outcomeOf(() => apply(d, k))
  return { result, violations: d.takeViolations() }
}

function state(d: DeviceCore): unknown {
  const resvs = []
  for (let r = 1; ; r++) {
    try {
      resvs.push({ ...d.resvInfo(r), fences: d.fences(r, 3) })
    } catch {
      break
    }
  }
  const ctxs = []
  for (let c = 1; ; c++) {
    try {
      ctxs.push(d.ctxInfo(c))
    } catch {
      break
    }
  }
  const fences = []
  for (let f = 1; ; f++) {
    try {
      fences.push(d.fenceInfo(f))
    } catch {
      break
    }
  }
  return { objects: d.objects(), resvs, ctxs, fences, now: d.now() }
}

describe('device engines agree', () => {
  for (const wwClass of [0, 1]) {
    it(`on random operation sequences (${wwClass === 0 ? 'wait-die' : 'wound-wait'})`, () => {
      fc.assert(
        fc.property(fc.array(cmd, { minLength: 1, maxLength: 150, size: 'max' }), (cmds) => {
          const native = new NativeDeviceCore(wwClass)
          const reference = new ReferenceDevice(wwClass)
          // A few objects first, so most commands reach real state.
          for (const id of [1, 2]) {
            native.createObject(id, 4096n, 0, 1)
            reference.createObject(id, 4096n, 0, 1)
          }
          latest = new Map()
          cmds.forEach((k, i) => {
            const n = outcome(native, k)
            const r = outcome(reference, k)
            const ok = (n as { result: { ok?: unknown } }).result.ok
            if (k.c === 'ctxInit' && typeof ok === 'number') latest.set(k.t, ok)
            expect(n, `command ${i}: ${JSON.stringify(k, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`).toEqual(r)
          })
          expect(state(native)).toEqual(state(reference))
        }),
        { numRuns: 300 },
      )
    })
  }

  it('agree on bad enum values', () => {
    const native = new NativeDeviceCore(0)
    const reference = new ReferenceDevice(0)
    const bad: ((d: DeviceCore) => unknown)[] = [
      (d) => d.lock(0, 1, 0, 3),
      (d) => d.pin(0, 1, 4),
      (d) => d.vmap(0, 1, 2),
      (d) => d.moveTo(0, 1, 0),
      (d) => d.moveTo(0, 1, 9),
      (d) => d.fences(1, 4),
      (d) => d.createObject(1, 1n, 0, 3),
      (d) => d.lock(0, 1, 0, 1),
    ]
    for (const d of [native, reference]) d.createObject(1, 1n, 0, 1)
    for (const f of bad) {
      const o = [native, reference].map((d) => {
        try {
          f(d)
          return 'ok'
        } catch (e) {
          return (e as DrmError).message
        }
      })
      expect(o[0]).toEqual(o[1])
      expect(o[0]).not.toBe('ok')
    }
    expect(() => new NativeDeviceCore(2)).toThrow(DrmError)
    expect(() => new ReferenceDevice(2)).toThrow(DrmError)
  })
})
