/**
 * The native and reference engines under pressure and policy: random
 * sequences of create / validate (locked, with or without unlock) / priority
 * changes / bulk moves (join, leave, tail, tied to a shared resv) / policy and
 * veto / purgeable / swap configuration / swapout / destroy must give the
 * same result or error and the same moves after every command, and the same
 * objects, pressure records, LRU orders and lengths, and totals at the end.
 */
import fc from 'fast-check'
import { describe, it, expect } from 'vitest'
import type { DeviceCore, MemoryRecord } from '../lib/contract/device.js'
import type { DrmError } from '../lib/base/errors.js'
import { NativeDeviceCore } from '../lib/native/device.js'
import { ReferenceDevice } from '../lib/reference/device/index.js'
import { outcomeOf } from './errno.js'
import { coverageSeed } from './fc-seed.js'

const K = 1024n
const id = fc.integer({ min: 1, max: 9 })
const size = fc.constantFrom(0n, 8n * K, 16n * K, 24n * K)
const place = fc.constantFrom(1, 2, 3, 3, 3 | (8 << 8), 2 | (16 << 8), 3 | (2 << 8))
const placement = fc.array(place, { minLength: 1, maxLength: 2 })

type Cmd =
  | { c: 'create'; id: number; size: bigint; shared: boolean }
  | { c: 'validate'; id: number; places: number[]; unlock: boolean }
  | { c: 'priority'; id: number; p: number }
  | { c: 'bulk'; id: number; bulk: number }
  | { c: 'bulkTail'; bulk: number }
  | { c: 'unlockShared' }
  | { c: 'policy'; from: number; tags: number }
  | { c: 'tags'; id: number; tags: number }
  | { c: 'veto'; ids: number[] }
  | { c: 'purgeable'; id: number; on: boolean }
  | { c: 'swap'; cap: bigint | null }
  | { c: 'swapout'; bytes: bigint }
  | { c: 'destroy'; id: number }
  | { c: 'evictPlacements'; ids: number[]; places: number[] }

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.record({ c: fc.constant('create' as const), id, size, shared: fc.boolean() }), weight: 4 },
  {
    arbitrary: fc.record({
      c: fc.constant('validate' as const),
      id,
      places: placement,
      unlock: fc.oneof(fc.constant(true), fc.boolean()),
    }),
    weight: 12,
  },
  { arbitrary: fc.record({ c: fc.constant('priority' as const), id, p: fc.integer({ min: 0, max: 4 }) }), weight: 3 },
  { arbitrary: fc.record({ c: fc.constant('bulk' as const), id, bulk: fc.integer({ min: 0, max: 3 }) }), weight: 3 },
  { arbitrary: fc.record({ c: fc.constant('bulkTail' as const), bulk: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  { arbitrary: fc.constant({ c: 'unlockShared' as const }), weight: 2 },
  {
    arbitrary: fc.record({
      c: fc.constant('policy' as const),
      from: fc.integer({ min: 1, max: 5 }),
      tags: fc.integer({ min: 0, max: 3 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ c: fc.constant('tags' as const), id, tags: fc.integer({ min: 0, max: 3 }) }), weight: 1 },
  { arbitrary: fc.record({ c: fc.constant('veto' as const), ids: fc.array(id, { maxLength: 3 }) }), weight: 1 },
  { arbitrary: fc.record({ c: fc.constant('purgeable' as const), id, on: fc.boolean() }), weight: 2 },
  {
    arbitrary: fc.record({ c: fc.constant('swap' as const), cap: fc.constantFrom(null, 0n, 32n * K, 1n << 40n) }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ c: fc.constant('swapout' as const), bytes: fc.constantFrom(0n, 8n * K, 40n * K) }),
    weight: 2,
  },
  { arbitrary: fc.record({ c: fc.constant('destroy' as const), id }), weight: 1 },
  {
    arbitrary: fc.record({
      c: fc.constant('evictPlacements' as const),
      ids: fc.array(id, { maxLength: 2 }),
      places: fc.array(place, { maxLength: 1 }),
    }),
    weight: 1,
  },
)

/** The shared resv (a VM's): resv 1, made before any object. */
const SHARED = 1
const seen = { swapouts: 0, purges: 0, evictions: 0 }

function apply(d: DeviceCore, k: Cmd): unknown {
  switch (k.c) {
    case 'create':
      return d.createObject(k.id, k.size, k.shared ? SHARED : 0, 1)
    case 'validate': {
      const r = d.objectInfo(k.id).resv
      const l = d.lock(0, r, 0, 2)
      if (l.result !== 'ok') return l
      try {
        return d.validate(0, k.id, wire(k.places))
      } finally {
        if (k.unlock) d.unlock(0, r)
      }
    }
    case 'priority':
      return d.setPriority(k.id, k.p)
    case 'bulk':
      return d.setBulkMove(k.id, k.bulk)
    case 'bulkTail':
      return d.bulkMoveTail(k.bulk)
    case 'unlockShared': {
      const l = d.lock(0, SHARED, 0, 2)
      if (l.result === 'ok' || d.resvInfo(SHARED).holderThread === 0) d.unlock(0, SHARED)
      return l
    }
    case 'policy':
      return d.setEvictionPolicy(k.from, k.tags)
    case 'tags':
      return d.setTags(k.id, k.tags)
    case 'veto':
      return d.setEvictionVeto(k.ids)
    case 'purgeable':
      return d.setPurgeable(k.id, k.on)
    case 'swap':
      return d.configureSwap(k.cap)
    case 'swapout':
      return d.swapout(k.bytes)
    case 'destroy':
      return d.put(k.id, 0)
    case 'evictPlacements':
      return d.setEvictPlacements(
        k.ids,
        k.ids.map(() => 3 * k.places.length),
        k.ids.flatMap(() => wire(k.places)),
      )
  }
}

/** The engines' wire: three numbers a place (`domain | flags << 8`, fpfn, lpfn), no windows here. */
const wire = (places: number[]): number[] => places.flatMap((p) => [p, 0, 0])

function outcome(d: DeviceCore, k: Cmd): unknown {
  const result = outcomeOf(() => apply(d, k))
  return { result, violations: d.takeViolations(), moves: d.takeMoves() }
}

function state(d: DeviceCore): unknown {
  const objects = d.objects().map((o) => {
    let p: unknown
    try {
      p = d.pressureInfo(o.id)
    } catch (e) {
      p = (e as DrmError).errno
    }
    return { ...o, p }
  })
  const domains = [1, 2, 3].map((dom) => {
    try {
      return { ...d.domainInfo(dom), lru: d.lru(dom), lens: d.lruLengths(dom) }
    } catch (e) {
      return (e as DrmError).message
    }
  })
  return { objects, domains, totals: d.placementTotals(), swap: d.swapTotals() }
}

const memories: MemoryRecord[] = [
  { vram: 48n * K, gtt: 48n * K, system: 96n * K },
  { vram: 64n * K, gtt: 0n, system: 72n * K },
]

describe('pressure and policy: engines agree', () => {
  for (const [mi, memory] of memories.entries()) {
    it(`random priorities, bulk moves, policies and swap (memory ${mi})`, () => {
      Object.assign(seen, { swapouts: 0, purges: 0, evictions: 0 })
      fc.assert(
        fc.property(fc.array(cmd, { minLength: 1, maxLength: 100, size: 'max' }), (cmds) => {
          const engines = [new NativeDeviceCore(0, memory), new ReferenceDevice(0, memory)]
          for (const d of engines) {
            d.trackMoves(true)
            expect(d.createResv()).toBe(SHARED)
            for (let b = 0; b < 3; b++) d.createBulkMove(b === 0 ? SHARED : 0)
            d.configureSwap(1n << 40n)
            // Enough buffers to fill VRAM and press on SYSTEM from the start.
            for (const i of [1, 2, 3, 4, 5]) d.createObject(i, BigInt(8 + 8 * (i % 2)) * K, i % 2 === 0 ? SHARED : 0, 1)
          }
          cmds.forEach((k, i) => {
            const [n, r] = engines.map((d) => outcome(d, k))
            const label = `command ${i}: ${JSON.stringify(k, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`
            expect(n, label).toEqual(r)
          })
          const [sn, sr] = engines.map(state)
          expect(sn).toEqual(sr)
          const t = engines[0].swapTotals()
          seen.swapouts += Number(t.swapouts)
          seen.purges += Number(t.purges)
          seen.evictions += Number(engines[0].placementTotals().evictions)
        }),
        { numRuns: 200, seed: coverageSeed(mi) },
      )
      expect(seen.swapouts).toBeGreaterThan(10)
      expect(seen.purges).toBeGreaterThan(3)
      expect(seen.evictions).toBeGreaterThan(10)
    })
  }
})
