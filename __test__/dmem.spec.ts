/**
 * The dmem cgroup controller on both engines: effective protection as the
 * kernel's page_counter computes it (hand-computed), protection in the TTM
 * eviction walk (min never, low only in the second pass), max evicting
 * inside the cgroup that hit it, upstream vs the proposed series with its
 * common-ancestor rule, bad input, and a cross-engine property.
 */
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { Device, type DeviceOptions } from '../lib/device/device.js'
import type { Cgroup } from '../lib/device/dmem.js'
import type { GemObject } from '../lib/device/gem.js'
import type { Placement } from '../lib/device/placement.js'
import { ReferenceDevice } from '../lib/reference/device/index.js'
import { NativeDeviceCore } from '../lib/native/device.js'
import type { DeviceCore } from '../lib/contract/device.js'
import { errnoOf } from './errno.js'
import { runScenario } from '../lib/workloads/scenarios.js'
import { coverageSeed } from './fc-seed.js'

const engines = ['reference', 'native'] as const
const U = 1024n

describe.each(engines)('%s engine', (engine) => {
  const dev = (o: DeviceOptions = {}) => new Device({ engine, memory: { vram: 100n * U, gtt: 1024n * U }, ...o })
  const validate = (d: Device, bo: GemObject, p: Placement = [{ domain: 'vram' }]) => {
    bo.resv.lock()
    try {
      return d.validate(bo, p)
    } finally {
      bo.resv.unlock()
    }
  }
  /** A buffer of `units` KiB in `cgroup`, validated into VRAM. */
  const buffer = (d: Device, units: bigint, cgroup: Cgroup) => {
    const bo = d.createObject({ size: units * U, cgroup })
    validate(d, bo)
    return bo
  }
  const kib = (v: bigint | 'max') => (v === 'max' ? v : v / U)
  const usage = (c: Cgroup) => kib(c.stats('vram').usage)

  it('effective min is shared among siblings as page_counter does', () => {
    const d = dev()
    const p = d.createCgroup({ name: 'p' })
    const a = d.createCgroup({ name: 'a', parent: p })
    const b = d.createCgroup({ name: 'b', parent: p })
    buffer(d, 80n, a)
    buffer(d, 20n, b)
    a.setLimits('vram', { min: 60n * U })
    b.setLimits('vram', { min: 60n * U })
    const emin = (c: Cgroup) => kib(c.stats('vram').emin)
    // Exactly what the children claim (60 + 20).
    p.setLimits('vram', { min: 80n * U })
    expect([emin(p), emin(a), emin(b)]).toEqual([80n, 60n, 20n])
    // Less: in proportion, 60 * 40 / 80 and 20 * 40 / 80.
    p.setLimits('vram', { min: 40n * U })
    expect([emin(a), emin(b)]).toEqual([30n, 10n])
    // More: the rest by unprotected usage, 60 + (100 - 80) * (80 - 60) / (100 - 80).
    p.setLimits('vram', { min: 100n * U })
    expect([emin(a), emin(b)]).toEqual([80n, 20n])
    expect([usage(p), usage(d.dmem.root)]).toEqual([100n, 100n])
    expect(p.path).toBe('/p')
    expect(a.path).toBe('/p/a')
  })

  it("test_memcontrol's protection layout: overcommitted min shared by claimed usage", () => {
    // tools/testing/selftests/cgroup: A min 50, children B/C/D/E min 75/25/0/500 using 50/50/50/0.
    const d = dev({ memory: { vram: 256n * U } })
    const a = d.createCgroup({ name: 'A' })
    a.setLimits('vram', { min: 50n * U })
    const kids = (['B', 'C', 'D', 'E'] as const).map((name) => d.createCgroup({ name, parent: a }))
    kids.forEach((c, i) => {
      c.setLimits('vram', { min: [75n, 25n, 0n, 500n][i] * U })
      if (i < 3) buffer(d, 50n, c)
    })
    // Claimed: 50 + 25 + 0 + 0 = 75 > 50: B 50*50/75, C 25*50/75 (bytes, rounded down), D and E nothing.
    expect(kids.map((c) => c.stats('vram').emin)).toEqual([
      (51200n * 51200n) / 76800n,
      (25600n * 51200n) / 76800n,
      0n,
      0n,
    ])
  })

  it("a min-protected cgroup's buffers survive contention", () => {
    const d = dev()
    const a = d.createCgroup({ name: 'a' })
    const b = d.createCgroup({ name: 'b' })
    a.setLimits('vram', { min: 50n * U })
    const a1 = buffer(d, 50n, a)
    const b1 = buffer(d, 30n, b)
    const b2 = d.createObject({ size: 40n * U, cgroup: b })
    expect(validate(d, b2).evictions).toBe(1)
    expect([a1.domain, b1.domain, b2.domain]).toEqual(['vram', 'gtt', 'vram'])
    const b3 = d.createObject({ size: 60n * U, cgroup: b })
    expect(errnoOf(() => validate(d, b3))).toBe('ENOMEM')
    expect([a1.domain, b2.domain]).toEqual(['vram', 'gtt'])
    expect([usage(a), usage(b)]).toEqual([50n, 0n])
    expect(d.dmem.cgroupOf(b3)).toBe(b)
  })

  it('low protection is broken only when nothing unprotected is left', () => {
    const d = dev()
    const a = d.createCgroup({ name: 'a' })
    const b = d.createCgroup({ name: 'b' })
    a.setLimits('vram', { low: 50n * U })
    const a1 = buffer(d, 50n, a)
    const b1 = buffer(d, 30n, b)
    d.core.trackMoves(true)
    const b2 = d.createObject({ size: 70n * U, cgroup: b })
    expect(validate(d, b2).evictions).toBe(2)
    // The unprotected buffer first, although the protected one is older.
    const evicted = d.core.takeMoves().filter((m) => m.evicted)
    expect(evicted.map((m) => m.id)).toEqual([b1.id, a1.id])
    // A child of the root keeps its own setting as its effective low, used or not.
    expect(a.stats('vram')).toMatchObject({ usage: 0n, elow: 50n * U })
  })

  it('max makes the cgroup that hit it evict its own buffers (limit_pool)', () => {
    const d = dev()
    const a = d.createCgroup({ name: 'a' })
    const b = d.createCgroup({ name: 'b' })
    a.setLimits('vram', { max: 60n * U })
    const b1 = buffer(d, 20n, b)
    const a1 = buffer(d, 40n, a)
    const a2 = d.createObject({ size: 30n * U, cgroup: a })
    expect(validate(d, a2).evictions).toBe(1)
    expect([a1.domain, b1.domain, a2.domain]).toEqual(['gtt', 'vram', 'vram'])
    expect(a.stats('vram')).toMatchObject({ usage: 30n * U, max: 60n * U, maxHits: 2n })
    // With a GTT place the first pass goes there, evicting nothing.
    const a3 = d.createObject({ size: 40n * U, cgroup: a })
    expect(validate(d, a3, [{ domain: 'vram' }, { domain: 'gtt' }]).evictions).toBe(0)
    expect(a3.domain).toBe('gtt')
  })

  for (const mode of ['upstream', 'proposed'] as const) {
    it(`${mode}: a charge refused again after an eviction ${mode === 'upstream' ? 'is EAGAIN' : 'walks on'}`, () => {
      const d = dev({ dmem: { mode } })
      const a = d.createCgroup({ name: 'a' })
      a.setLimits('vram', { max: 60n * U })
      const a1 = buffer(d, 10n, a)
      const a2 = buffer(d, 40n, a)
      const a3 = d.createObject({ size: 30n * U, cgroup: a })
      if (mode === 'upstream') {
        expect(errnoOf(() => validate(d, a3))).toBe('EAGAIN')
        expect([a1.domain, a2.domain, a3.domain, usage(a)]).toEqual(['gtt', 'vram', 'system', 40n])
      } else {
        expect(validate(d, a3).evictions).toBe(2)
        expect([a1.domain, a2.domain, a3.domain, usage(a)]).toEqual(['gtt', 'gtt', 'vram', 30n])
      }
    })
  }

  /** P -> {A (low 60), B, C (low 50)}; A allocates with a GTT fallback into a full VRAM. */
  const contention = (mode: 'upstream' | 'proposed', nested: boolean) => {
    const d = dev({ dmem: { mode } })
    const p = nested ? d.createCgroup({ name: 'p' }) : d.dmem.root
    const [a, b, c] = ['a', 'b', 'c'].map((name) => d.createCgroup({ name, parent: p }))
    if (nested) p.setLimits('vram', { low: 110n * U })
    a.setLimits('vram', { low: 60n * U })
    c.setLimits('vram', { low: 50n * U })
    const c1 = buffer(d, 50n, c)
    const b1 = buffer(d, 40n, b)
    const a1 = d.createObject({ size: 30n * U, cgroup: a })
    validate(d, a1, [{ domain: 'vram' }, { domain: 'gtt' }])
    return [c1, b1, a1].map((o) => o.domain)
  }

  it('upstream falls back to GTT; proposed evicts the unprotected buffer (common ancestor P)', () => {
    expect(contention('upstream', true)).toEqual(['vram', 'vram', 'gtt'])
    expect(contention('proposed', true)).toEqual(['vram', 'gtt', 'vram'])
    // The root as the common ancestor lets any victim go: the LRU head, C's.
    expect(contention('proposed', false)).toEqual(['gtt', 'vram', 'vram'])
    expect(contention('upstream', false)).toEqual(['vram', 'vram', 'gtt'])
  })

  it('GTT is charged only when registered', () => {
    const d = dev({ dmem: { regions: ['vram', 'gtt'] } })
    const a = d.createCgroup({ name: 'a' })
    a.setLimits('gtt', { max: 10n * U })
    const a1 = d.createObject({ size: 20n * U, cgroup: a })
    expect(errnoOf(() => validate(d, a1, [{ domain: 'gtt' }]))).toBe('ENOMEM')
    expect(a1.domain).toBe('system')
    expect(a.stats('gtt').maxHits).toBe(2n)
    const e = dev()
    expect(errnoOf(() => e.createCgroup({ name: 'a' }).setLimits('gtt', { max: 0n }))).toBe('EINVAL')
  })

  it('scenario dmem-protected-contention: upstream falls back to GTT, proposed evicts the browser, never the compositor', () => {
    const r = runScenario('dmem-protected-contention', { engine })
    expect(r.outcome).toEqual({
      upstream: {
        where: {
          scanout: 'vram',
          tab0: 'vram',
          tab1: 'vram',
          tab2: 'vram',
          tab3: 'vram',
          texture0: 'gtt',
          texture1: 'gtt',
        },
        gameInVram: 0,
        evicted: [],
        compositorInVram: true,
      },
      proposed: {
        where: {
          scanout: 'vram',
          tab0: 'gtt',
          tab1: 'gtt',
          tab2: 'vram',
          tab3: 'vram',
          texture0: 'vram',
          texture1: 'vram',
        },
        gameInVram: 2,
        evicted: ['tab0', 'tab1'],
        compositorInVram: true,
      },
    })
    expect(r.lines[0]).toMatch(/^1\. \[upstream\]/)
  })

  it('bad input: typed errors, state unchanged', () => {
    const d = dev()
    const other = dev()
    const a = d.createCgroup({ name: 'a' })
    expect(errnoOf(() => d.createCgroup({ name: 'a' }))).toBe('EEXIST')
    expect(errnoOf(() => d.createCgroup({ name: 'x/y' }))).toBe('EINVAL')
    expect(errnoOf(() => d.createCgroup({ name: '' }))).toBe('EINVAL')
    expect(errnoOf(() => d.createCgroup({ name: 'x', parent: other.dmem.root }))).toBe('EINVAL')
    expect(errnoOf(() => d.createObject({ size: U, cgroup: other.dmem.root }))).toBe('EINVAL')
    expect(errnoOf(() => a.setLimits('vram', { min: -1n }))).toBe('EINVAL')
    expect(errnoOf(() => a.setLimits('vram', { max: 1n << 64n }))).toBe('EINVAL')
    expect(errnoOf(() => a.setLimits('vram', { low: 5n, max: 'none' as never }))).toBe('EINVAL')
    expect(errnoOf(() => d.dmem.root.setLimits('vram', { max: 0n }))).toBe('EINVAL')
    expect(errnoOf(() => new Device({ engine, dmem: { mode: 'merged' as never } }))).toBe('EINVAL')
    expect(errnoOf(() => new Device({ engine, memory: { vram: 0n }, dmem: {} }))).toBe('EINVAL')
    expect(a.stats('vram')).toEqual({ usage: 0n, min: 0n, low: 0n, max: 'max', maxHits: 0n, emin: 0n, elow: 0n })
    const a1 = buffer(d, 20n, a)
    // A max under the usage is refused with the rest of the call.
    expect(errnoOf(() => a.setLimits('vram', { min: 5n * U, max: 10n * U }))).toBe('EBUSY')
    expect(a.stats('vram')).toMatchObject({ min: 0n, max: 'max', usage: 20n * U })
    // rmdir with charges, children, or the root.
    const child = d.createCgroup({ name: 'c', parent: a })
    expect(errnoOf(() => a.destroy())).toBe('EBUSY')
    child.destroy()
    expect(errnoOf(() => a.destroy())).toBe('EBUSY')
    expect(errnoOf(() => d.dmem.root.destroy())).toBe('EINVAL')
    a1.put()
    expect(usage(a)).toBe(0n)
    a.destroy()
    expect(errnoOf(() => a.stats('vram'))).toBe('EINVAL')
    expect(errnoOf(() => d.createCgroup({ name: 'x', parent: a }))).toBe('EINVAL')
    expect(errnoOf(() => d.createObject({ size: U, cgroup: a }))).toBe('EINVAL')
    expect(d.createCgroup({ name: 'a' }).id).toBe(4)
  })
})

// ---- cross-engine property: random trees, limits and validates --------------

interface Cmd {
  c: 'cgroup' | 'limit' | 'create' | 'validate' | 'put'
  a: number
  b: number
  v: bigint
}
const cmd: fc.Arbitrary<Cmd> = fc.record({
  c: fc.constantFrom('cgroup', 'cgroup', 'limit', 'limit', 'limit', 'create', 'create', 'validate', 'validate', 'put'),
  a: fc.integer({ min: 0, max: 9 }),
  b: fc.integer({ min: 0, max: 9 }),
  v: fc.constantFrom(0n, 8n, 16n, 24n, 40n, 64n, 100n).map((x) => x * U),
})
// The engines' wire: three numbers a place (`domain | flags << 8`, fpfn, lpfn), no windows here.
const PLACEMENTS = [[3], [3, 2], [2], [3, 2 | (16 << 8)], [1], [3, 1]].map((pl) => pl.flatMap((p) => [p, 0, 0]))

function run(core: DeviceCore, mode: number, cmds: Cmd[]): unknown[] {
  const out: unknown[] = []
  const step = (f: () => unknown) => {
    try {
      out.push(f())
    } catch (e) {
      out.push((e as { errno?: string }).errno ?? String(e))
    }
  }
  step(() => core.dmemSetup(mode, true, cmds.length % 2 === 0))
  core.trackMoves(true)
  let cgroups = 1
  for (const { c, a, b, v } of cmds) {
    const obj = (a % 6) + 1
    if (c === 'cgroup') step(() => (cgroups = Math.max(cgroups, core.cgroupCreate((a % cgroups) + 1, `g${b}`))))
    else if (c === 'limit') {
      const cg = cgroups > 1 ? (a % (cgroups - 1)) + 2 : 1
      step(() => core.cgroupSetLimit(cg, b % 5 === 0 ? 2 : 3, [2, 2, 0, 1][b % 4], v))
    } else if (c === 'create') {
      step(() => {
        core.createObject(obj, [16n, 24n, 32n, 40n, 8n][(a + b) % 5] * U, 0, 1)
        core.cgroupAssign(obj, cgroups - (b % cgroups))
      })
      step(() => {
        const r = core.objectInfo(obj).resv
        core.lock(0, r, 0, 0)
        try {
          return core.validate(0, obj, PLACEMENTS[a % PLACEMENTS.length])
        } finally {
          core.unlock(0, r)
        }
      })
    } else if (c === 'put') step(() => core.put(obj, 0))
    else {
      step(() => {
        const r = core.objectInfo(obj).resv
        core.lock(0, r, 0, 0)
        try {
          return core.validate(0, obj, PLACEMENTS[b % PLACEMENTS.length])
        } finally {
          core.unlock(0, r)
        }
      })
    }
  }
  out.push(core.takeMoves())
  for (let id = 1; id <= cgroups; id++) for (const dom of [2, 3]) step(() => core.cgroupInfo(id, dom))
  out.push(core.objects().map((o) => [o.id, o.domain, o.freed, o.purged]))
  return out
}

describe('cross-engine', () => {
  it('random cgroup trees, limits and validates give the same charges and evictions', () => {
    const seen = { evictions: 0, maxHits: 0 }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 }), fc.array(cmd, { minLength: 10, maxLength: 50 }), (mode, cmds) => {
        const memory = { vram: 64n * U, gtt: 96n * U }
        const ref = run(new ReferenceDevice(0, memory), mode, cmds)
        const nat = run(new NativeDeviceCore(0, memory), mode, cmds)
        expect(nat).toEqual(ref)
        const text = JSON.stringify(ref, (_, v) => (typeof v === 'bigint' ? Number(v) : v))
        if (/"evicted":true/.test(text)) seen.evictions++
        if (/"maxHits":[1-9]/.test(text)) seen.maxHits++
      }),
      { numRuns: 300, seed: coverageSeed() },
    )
    // The generator reaches what it is meant to compare.
    expect(seen.evictions).toBeGreaterThan(10)
    expect(seen.maxHits).toBeGreaterThan(10)
  })
})
