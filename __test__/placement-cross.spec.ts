/**
 * The native and reference engines under VRAM pressure: random sequences of
 * create / validate / pin / unpin / vmap / vunmap / lock / unlock / destroy
 * (plus eviction placements, contexts and CPU accesses) must give the same
 * result or error, the same violations after every command, and the same
 * final placement of every buffer, domain usage, LRU order and totals.
 */
import fc from 'fast-check'
import { describe, it, expect } from 'vitest'
import type { DeviceCore, MemoryRecord } from '../lib/contract/device.js'
import { DrmError } from '../lib/base/errors.js'
import { NativeDeviceCore } from '../lib/native/device.js'
import { ReferenceDevice } from '../lib/reference/device/index.js'
import { outcomeOf } from './errno.js'
import { coverageSeed } from './fc-seed.js'

const K = 1024n
const THREADS = 2
const id = fc.integer({ min: 0, max: 7 })
const thread = fc.integer({ min: 0, max: THREADS - 1 })
const size = fc.constantFrom(0n, 4n * K, 8n * K, 16n * K, 24n * K, 40n * K)
/** Page windows: none, the low half of a 64 KiB VRAM, a middle one, the top. */
const window = fc.constantFrom([0, 0], [0, 0], [0, 8], [4, 12], [8, 0])
/** [domain | flags << 8, fpfn, lpfn], mostly valid, sometimes not (flags: CONTIGUOUS, TOPDOWN, TEMPORARY, DESIRED, FALLBACK). */
const place = fc.oneof(
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom(1, 2, 3, 3),
        fc.oneof({ arbitrary: fc.constant([]), weight: 2 }, { arbitrary: fc.subarray([1, 2, 4, 8, 16]), weight: 1 }),
        window,
      )
      .map(([d, f, w]) => [d | (f.reduce((a, b) => a | b, 0) << 8), w[0], w[1]]),
    weight: 20,
  },
  { arbitrary: fc.constantFrom([0, 0, 0], [10, 0, 0], [3 | (1 << 13), 0, 0], [3, 5, 2]), weight: 1 },
)
const placement = fc.array(place, { maxLength: 3 }).map((ps) => ps.flat())

type Cmd =
  | { c: 'create'; id: number; size: bigint; share: number; profile: number }
  | { c: 'validate'; t: number; id: number; places: number[] }
  | { c: 'evictPlacement'; id: number; places: number[] | null }
  | { c: 'pin'; t: number; id: number; domain: number }
  | { c: 'unpin'; t: number; id: number }
  | { c: 'vmap' | 'vunmap'; t: number; id: number; kind: number }
  | { c: 'access'; t: number; id: number; gen: bigint }
  | { c: 'lock'; t: number; resv: number; ctx: boolean; mode: number }
  | { c: 'unlock'; t: number; resv: number }
  | { c: 'ctxInit' | 'ctxFini'; t: number }
  | { c: 'destroy'; id: number }
  | { c: 'unlockAll'; t: number }
  /** Lock the object's resv, validate, maybe unlock: what drivers do. */
  | { c: 'lockedValidate'; t: number; id: number; places: number[]; ctx: boolean; unlock: boolean }

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    arbitrary: fc.record({
      c: fc.constant('create' as const),
      id: fc.integer({ min: 1, max: 7 }),
      size,
      share: fc.integer({ min: 0, max: 3 }),
      profile: fc.constantFrom(0, 1, 1, 1, 1, 2),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ c: fc.constant('validate' as const), t: thread, id, places: placement }), weight: 10 },
  { arbitrary: fc.record({ c: fc.constant('evictPlacement' as const), id, places: fc.option(placement) }), weight: 2 },
  {
    arbitrary: fc.record({ c: fc.constant('pin' as const), t: thread, id, domain: fc.integer({ min: 0, max: 3 }) }),
    weight: 1,
  },
  { arbitrary: fc.record({ c: fc.constant('unpin' as const), t: thread, id }), weight: 2 },
  {
    arbitrary: fc.record({
      c: fc.constantFrom('vmap' as const, 'vunmap' as const),
      t: thread,
      id,
      kind: fc.integer({ min: 0, max: 1 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ c: fc.constant('access' as const), t: thread, id, gen: fc.bigInt({ min: 0n, max: 3n }) }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      c: fc.constant('lock' as const),
      t: thread,
      resv: fc.integer({ min: 1, max: 8 }),
      ctx: fc.boolean(),
      mode: fc.constantFrom(0, 0, 0, 2),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ c: fc.constant('unlock' as const), t: thread, resv: fc.integer({ min: 1, max: 8 }) }),
    weight: 2,
  },
  { arbitrary: fc.record({ c: fc.constantFrom('ctxInit' as const, 'ctxFini' as const), t: thread }), weight: 1 },
  { arbitrary: fc.record({ c: fc.constant('destroy' as const), id }), weight: 1 },
  { arbitrary: fc.record({ c: fc.constant('unlockAll' as const), t: thread }), weight: 4 },
  {
    arbitrary: fc.record({
      c: fc.constant('lockedValidate' as const),
      t: thread,
      id: fc.integer({ min: 1, max: 6 }),
      places: placement,
      ctx: fc.boolean(),
      unlock: fc.oneof(fc.constant(true), fc.boolean()),
    }),
    weight: 14,
  },
)

let latest = new Map<number, number>()
/** What the runs reached, so a quiet generator cannot pass unnoticed. */
const seen = { evicted: 0, purged: 0, enomem: 0, einval: 0 }

function apply(d: DeviceCore, k: Cmd): unknown {
  switch (k.c) {
    case 'create':
      return d.createObject(k.id, k.size, k.share, k.profile)
    case 'validate':
      return d.validate(k.t, k.id, k.places)
    case 'evictPlacement':
      return d.setEvictPlacement(k.id, k.places)
    case 'pin':
      return d.pin(k.t, k.id, k.domain)
    case 'unpin':
      return d.unpin(k.t, k.id)
    case 'vmap':
      return d.vmap(k.t, k.id, k.kind)
    case 'vunmap':
      return d.vunmap(k.t, k.id, k.kind)
    case 'access':
      return d.access(k.t, k.id, k.gen)
    case 'lock':
      return d.lock(k.t, k.resv, k.ctx ? (latest.get(k.t) ?? 0) : 0, k.mode)
    case 'unlock':
      return d.unlock(k.t, k.resv)
    case 'ctxInit':
      return d.ctxInit(k.t)
    case 'ctxFini':
      return d.ctxFini(k.t, latest.get(k.t) ?? 0)
    case 'destroy':
      return d.put(k.id, 0)
    case 'unlockAll':
      for (let r = 1; ; r++) {
        let info: ReturnType<typeof d.resvInfo>
        try {
          info = d.resvInfo(r)
        } catch {
          return r - 1
        }
        if (info.locked && info.holderThread === k.t) d.unlock(k.t, r)
      }
    case 'lockedValidate': {
      const r = d.objectInfo(k.id).resv
      const l = d.lock(k.t, r, k.ctx ? (latest.get(k.t) ?? 0) : 0, 0)
      if (l.result !== 'ok' && l.result !== 'EALREADY') return l
      try {
        return d.validate(k.t, k.id, k.places)
      } finally {
        if (k.unlock && l.result === 'ok') d.unlock(k.t, r)
      }
    }
  }
}

function outcome(d: DeviceCore, k: Cmd): unknown {
  const result = outcomeOf(() => apply(d, k))
  const moves = d.takeMoves()
  if (d.engine === 'native') {
    seen.evicted += moves.filter((m) => m.evicted).length
    seen.purged += moves.filter((m) => m.to === 0).length
    const errno = (result as { errno?: string }).errno
    if (errno === 'ENOMEM') seen.enomem++
    if (errno === 'EINVAL') seen.einval++
  }
  return { result, violations: d.takeViolations(), moves }
}

function state(d: DeviceCore): unknown {
  const domains = [1, 2, 3].map((dom) => {
    try {
      return { ...d.domainInfo(dom), lru: d.lru(dom) }
    } catch (e) {
      return (e as DrmError).message
    }
  })
  const evict = d.objects().map((o) => {
    try {
      return d.evictPlacement(o.id)
    } catch (e) {
      return (e as DrmError).message
    }
  })
  return { objects: d.objects(), domains, evict, totals: d.placementTotals() }
}

const memories: MemoryRecord[] = [
  { vram: 64n * K, gtt: 64n * K },
  { vram: 48n * K, gtt: 0n, system: 160n * K },
  // drm_mm VRAM, a buddy private type as the hop of VRAM <-> GTT (ttm-res).
  {
    vram: 64n * K,
    gtt: 64n * K,
    vramAllocator: 0,
    private: [{ name: 'stage', size: 32n * K, allocator: 1, useTt: true }],
    hops: [3, 2, 4, 2, 3, 4],
  },
]

describe('placement: engines agree', () => {
  for (const wwClass of [0, 1]) {
    for (const [mi, memory] of memories.entries()) {
      it(`under VRAM pressure (${wwClass === 0 ? 'wait-die' : 'wound-wait'}, memory ${mi})`, () => {
        Object.assign(seen, { evicted: 0, purged: 0, enomem: 0, einval: 0 })
        fc.assert(
          fc.property(fc.array(cmd, { minLength: 1, maxLength: 120, size: 'max' }), (cmds) => {
            const engines = [new NativeDeviceCore(wwClass, memory), new ReferenceDevice(wwClass, memory)]
            for (const d of engines) {
              d.trackMoves(true)
              // Enough buffers to overfill VRAM, so validation has to evict.
              for (const i of [1, 2, 3, 4, 5, 6]) d.createObject(i, BigInt(8 + 8 * (i % 3)) * K, 0, 1)
            }
            latest = new Map()
            cmds.forEach((k, i) => {
              const [n, r] = engines.map((d) => outcome(d, k))
              const ok = (n as { result: { ok?: unknown } }).result.ok
              if (k.c === 'ctxInit' && typeof ok === 'number') latest.set(k.t, ok)
              expect(n, `command ${i}: ${JSON.stringify(k, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`).toEqual(
                r,
              )
            })
            expect(state(engines[0])).toEqual(state(engines[1]))
          }),
          { numRuns: 250, seed: coverageSeed() },
        )
        expect(seen.evicted).toBeGreaterThan(5)
        expect(seen.purged).toBeGreaterThan(5)
        expect(seen.enomem).toBeGreaterThan(10)
      })
    }
  }

  it('agree on bad arguments', () => {
    const engines = [new NativeDeviceCore(0), new ReferenceDevice(0)]
    const bad: ((d: DeviceCore) => unknown)[] = [
      (d) => d.validate(0, 1, [0, 0, 0]),
      (d) => d.validate(0, 1, [10, 0, 0]),
      (d) => d.validate(0, 1, [3]),
      (d) => d.validate(0, 1, [3 | (1 << 13), 0, 0]),
      (d) => d.validate(0, 1, [3, 5, 2]),
      (d) => d.validate(0, 1, [3, 4, 4]),
      (d) => d.validate(0, 9, [3, 0, 0]),
      (d) => d.setEvictPlacement(1, [4]),
      (d) => d.domainInfo(0),
      (d) => d.domainInfo(5),
      (d) => d.domainInfo(10),
      (d) => d.lru(10),
    ]
    for (const d of engines) d.createObject(1, 1n, 0, 1)
    for (const f of bad) {
      const o = engines.map((d) => {
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
    expect(() => new NativeDeviceCore(0, { system: 0n })).toThrow(DrmError)
    expect(() => new ReferenceDevice(0, { system: 0n })).toThrow(DrmError)
  })
})
