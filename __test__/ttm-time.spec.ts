/**
 * Time for TTM moves (issue 16) on both engines: copy jobs with move fences on
 * the simulated clock, pipelined eviction, no_wait_gpu, ttm_bo_wait_ctx with
 * interruptible waits, delayed destroy; and a cross-engine property over
 * random validates, destroys, fence signals and clock advances. Durations
 * are hand-computed: latency + ceil(bytes * 1e9 / bandwidth) per hop.
 */
import { describe, it, expect } from 'vitest'
import { Device, type DeviceOptions } from '../lib/device/device.js'
import type { GemObject } from '../lib/device/gem.js'
import { Scheduler } from '../lib/device/sched.js'
import { copyTimeline } from '../lib/device/copy-engine.js'
import { SplitMix64 } from '../lib/base/prng.js'
import type { PlaceDomain } from '../lib/device/placement.js'
import { errnoOf } from './errno.js'
import { runScenario } from '../lib/workloads/scenarios.js'

const engines = ['reference', 'native'] as const
const M = 1n << 20n
/** 5 us + 1 MiB at 16 GB/s. */
const VRAM_HOP = 5_000n + 65_536n

describe.each(engines)('%s engine', (engine) => {
  const dev = (o: DeviceOptions = {}) => new Device({ engine, memory: { vram: 2n * M, gtt: 64n * M }, copy: {}, ...o })
  /** A 1 MiB buffer with pages (placed through GTT) in `domain`, unlocked. */
  const resident = (d: Device, domain: PlaceDomain = 'vram', size = M): GemObject => {
    const bo = d.createObject({ size })
    bo.resv.lock()
    d.validate(bo, [{ domain: 'gtt' }])
    if (domain !== 'gtt') d.validate(bo, [{ domain }])
    bo.resv.unlock()
    return bo
  }

  it('without a copy engine moves are instant and results keep their shape', () => {
    const d = new Device({ engine })
    expect(d.copy).toBeNull()
    const bo = d.createObject({ size: M })
    bo.resv.lock()
    d.validate(bo, [{ domain: 'gtt' }])
    expect(d.validate(bo, [{ domain: 'vram' }])).toEqual({ moved: true, bytesMoved: M, evictions: 0 })
    expect(bo.resv.numFences).toBe(0)
    expect(d.copyJobs()).toEqual([])
    expect(bo.put()).toBe(true)
    expect(d.pendingDestroy()).toEqual([])
  })

  it('copy options are checked', () => {
    expect(errnoOf(() => dev({ copy: { bandwidth: { 'vram->vram': 1n } as never } }))).toBe('EINVAL')
    expect(errnoOf(() => dev({ copy: { bandwidth: { 'gtt->vram': 0n } } }))).toBe('EINVAL')
    expect(errnoOf(() => dev({ copy: { latency: -1n } }))).toBe('EINVAL')
    const d = dev({ copy: { bandwidth: { 'gtt->vram': 1_000_000_000n }, latency: 0n } })
    expect(d.copy?.latency).toBe(0n)
    expect(d.copy?.bandwidth[1 * 3 + 2]).toBe(1_000_000_000n)
  })

  it('bad input to the time API is EINVAL and changes nothing', () => {
    const d = dev()
    const bo = resident(d, 'gtt')
    bo.resv.lock()
    expect(errnoOf(() => d.validate(bo, [{ domain: 'vram' }], { noWaitGpu: 'yes' as never }))).toBe('EINVAL')
    expect(errnoOf(() => d.validate(bo, [{ domain: 'vram' }], 7 as never))).toBe('EINVAL')
    expect(bo.domain).toBe('gtt')
    expect(errnoOf(() => d.waitIdle(bo, { usage: 'all' as never }))).toBe('EINVAL')
    expect(errnoOf(() => bo.resv.reserve({ ticket: {} as never }))).toBe('EINVAL')
    bo.resv.unlock()
    expect(errnoOf(() => bo.resv.reserve({ noWait: 1 as never }))).toBe('EINVAL')
    expect(bo.resv.isLocked).toBe(false)
    const other = new Scheduler(dev())
    const t = other.spawn('t', function* () {})
    expect(errnoOf(() => new Scheduler(d).signal(t))).toBe('EINVAL')
  })

  it('a move is a copy job: the new place is visible at once, the KERNEL fence signals at its end', () => {
    const d = dev({ copy: { bandwidth: { 'gtt->vram': 1_000_000_000n }, latency: 100n } })
    const bo = d.createObject({ size: M })
    bo.resv.lock()
    // SYSTEM without pages -> GTT is a null move: no job, no fence.
    expect(d.validate(bo, [{ domain: 'gtt' }])).toEqual({
      moved: true,
      bytesMoved: M,
      evictions: 0,
      fence: null,
      fenceEnd: null,
    })
    const r = d.validate(bo, [{ domain: 'vram' }])
    // 100 ns + 1048576 bytes at 1 GB/s.
    expect(r.fenceEnd).toBe(100n + 1_048_576n)
    expect(bo.domain).toBe('vram')
    expect(bo.resv.fences('kernel').map((e) => [e.fence.id, e.usage])).toEqual([[r.fence?.id, 'kernel']])
    expect(r.fence?.signaled).toBe(false)
    const [job] = d.copyJobs()
    expect([job.object, job.from, job.to, job.bytes, job.evicted, job.start, job.end]).toEqual([
      bo.id,
      'gtt',
      'vram',
      M,
      false,
      0n,
      1_048_676n,
    ])
    // ttm_bo_wait_ctx: no_wait gives EBUSY; a wait on one thread jumps the clock to the end.
    expect(errnoOf(() => d.waitIdle(bo, { noWait: true }))).toBe('EBUSY')
    d.waitIdle(bo, { usage: 'kernel' })
    expect(d.now).toBe(1_048_676n)
    expect(r.fence?.signaled).toBe(true)
    bo.resv.unlock()
  })

  it('a CPU access through a mapping before the move fence signals is recorded (access-during-move)', () => {
    const d = dev()
    const bo = resident(d, 'gtt')
    bo.resv.lock()
    d.validate(bo, [{ domain: 'vram' }])
    const map = bo.vmapLocked()
    expect(map.access()).toBe(false)
    expect(d.takeViolations().map((v) => v.kind)).toEqual(['access-during-move'])
    d.waitIdle(bo, { usage: 'kernel' })
    expect(map.access()).toBe(true)
    expect(d.takeViolations()).toEqual([])
    bo.vunmapLocked()
    bo.resv.unlock()
  })

  it('VRAM -> SYSTEM bounces through GTT: two hops in one job', () => {
    const d = dev()
    const bo = resident(d, 'vram')
    d.advance(VRAM_HOP)
    bo.resv.lock()
    const r = d.validate(bo, [{ domain: 'system' }])
    // vram->gtt at 16 GB/s, gtt->system at 10 GB/s (104857.6 ns rounded up).
    expect(r.fenceEnd).toBe(VRAM_HOP + VRAM_HOP + 5_000n + 104_858n)
    bo.resv.unlock()
  })

  it('pipelined eviction: the victim copies out, the evictor copies in after it', () => {
    const d = dev()
    const [a, b] = [resident(d), resident(d)]
    d.advance(1_000_000n)
    const c = resident(d, 'gtt')
    c.resv.lock()
    const r = d.validate(c, [{ domain: 'vram' }])
    c.resv.unlock()
    expect(r.evictions).toBe(1)
    expect([a.domain, b.domain, c.domain]).toEqual(['gtt', 'vram', 'vram'])
    const jobs = d.copyJobs().slice(-2)
    expect(jobs.map((j) => [j.object, j.from, j.to, j.evicted])).toEqual([
      [a.id, 'vram', 'gtt', true],
      [c.id, 'gtt', 'vram', false],
    ])
    expect(jobs[0].start).toBe(1_000_000n)
    expect(jobs[1].waitsFor.map((f) => f.id)).toContain(jobs[0].fence.id)
    expect(jobs[1].start).toBe(jobs[0].end)
    expect(r.fenceEnd).toBe(1_000_000n + 2n * VRAM_HOP)
    expect(copyTimeline(jobs)[1]).toContain(`after fence ${jobs[0].fence.id}`)
  })

  it('noWaitGpu: EBUSY for a busy victim (state unchanged); waiting delays the victim copy to its fence', () => {
    const d = dev({ memory: { vram: M, gtt: 64n * M } })
    const a = resident(d)
    d.advance(1_000_000n)
    const busy = d.createFence({ signalAt: 5_000_000n })
    a.resv.lock()
    a.resv.reserveFences(1)
    a.resv.addFence(busy, 'write')
    a.resv.unlock()
    const c = resident(d, 'gtt')
    c.resv.lock()
    const jobs = d.copyJobs().length
    expect(errnoOf(() => d.validate(c, [{ domain: 'vram' }], { noWaitGpu: true }))).toBe('EBUSY')
    expect([a.domain, c.domain, d.copyJobs().length]).toEqual(['vram', 'gtt', jobs])
    const r = d.validate(c, [{ domain: 'vram' }])
    const victim = d.copyJobs().find((j) => j.object === a.id && j.evicted)
    expect(victim?.start).toBe(5_000_000n)
    expect(r.fenceEnd).toBe(5_000_000n + 2n * VRAM_HOP)
    // The buffer itself is busy now: no_wait_gpu refuses to move it again.
    expect(errnoOf(() => d.validate(c, [{ domain: 'gtt' }], { noWaitGpu: true }))).toBe('EBUSY')
    expect(c.domain).toBe('vram')
    c.resv.unlock()
  })

  it('a job waiting for a fence signaled by hand gets its times when it signals', () => {
    const d = dev()
    const bo = resident(d, 'gtt')
    const f = d.createFence()
    bo.resv.lock()
    bo.resv.reserveFences(1)
    bo.resv.addFence(f, 'read')
    const r = d.validate(bo, [{ domain: 'vram' }])
    expect(r.fenceEnd).toBeNull()
    expect(d.copyJobs().at(-1)?.start).toBeNull()
    d.advance(777n)
    f.signal()
    expect(d.copyJobs().at(-1)?.start).toBe(777n)
    expect(r.fence?.signalAt).toBe(777n + VRAM_HOP)
    bo.resv.unlock()
  })

  it('the scheduler parks a CPU access on the move fence; an interruptible wait ends with ERESTARTSYS', () => {
    const d = dev()
    const bo = resident(d, 'gtt')
    bo.resv.lock()
    const r = d.validate(bo, [{ domain: 'vram' }])
    bo.resv.unlock()
    const s = new Scheduler(d, { seed: 1 })
    const seen: string[] = []
    s.spawn('cpu', function* () {
      yield* d.waitIdleOp(bo, { usage: 'kernel' })
      seen.push(`cpu at ${d.now}`)
    })
    const report = s.run()
    expect(report.completed).toBe(true)
    expect(seen).toEqual([`cpu at ${r.fenceEnd}`])

    bo.resv.lock()
    d.validate(bo, [{ domain: 'gtt' }])
    bo.resv.unlock()
    const s2 = new Scheduler(d, { seed: 2 })
    const sleeper = s2.spawn('sleeper', function* () {
      try {
        yield* d.waitIdleOp(bo, { interruptible: true })
        seen.push('woke')
      } catch (e) {
        seen.push(
          errnoOf(() => {
            throw e
          }),
        )
      }
    })
    s2.spawn('killer', function* () {
      yield { op: 'yield' }
      s2.signal(sleeper)
    })
    const rep2 = s2.run()
    expect(rep2.completed).toBe(true)
    expect(seen.at(-1)).toBe('ERESTARTSYS')
    expect(rep2.trace.some((l) => l.includes('interrupted by a signal'))).toBe(true)
  })

  it('delayed destroy: the range stays used, off the LRU, until the fences signal', () => {
    const d = dev()
    const bo = resident(d, 'vram')
    const end = d.copyJobs().at(-1)?.end as bigint
    expect(bo.put()).toBe(true)
    const [p] = d.pendingDestroy()
    expect([p.object, p.domain, p.size, p.until]).toEqual([bo.id, 'vram', M, end])
    expect(d.memory('vram').used).toBe(M)
    expect(d.memory('vram').lruLength).toBe(0)
    d.advance(end - d.now - 1n)
    expect(d.pendingDestroy()).toHaveLength(1)
    d.advance(1n)
    expect(d.pendingDestroy()).toEqual([])
    expect(d.memory('vram').used).toBe(0n)
    // An idle buffer is freed at once.
    const idle = d.createObject({ size: M })
    idle.put()
    expect(d.pendingDestroy()).toEqual([])
  })
})

describe('time: engines agree', () => {
  type Step = string
  /** Random validates, destroys, fence adds and signals, clock advances; the same on both engines. */
  const run = (engine: 'native' | 'reference', seed: bigint): Step[] => {
    const rng = new SplitMix64(seed)
    const pick = (n: number) => Number(rng.below(BigInt(n)))
    const d = new Device({
      engine,
      memory: { vram: 4n * M, gtt: 6n * M },
      copy: { bandwidth: { 'vram->gtt': 8_000_000_000n }, latency: 1_000n },
    })
    const live: GemObject[] = []
    const out: Step[] = []
    // GEM ids are process-wide: name objects by their order on this device.
    let base = -1
    const n = (id: number) => id - base
    const domains: PlaceDomain[] = ['system', 'gtt', 'vram']
    for (let i = 0; i < 120; i++) {
      const op = pick(10)
      if (op < 2 || live.length === 0) {
        live.push(d.createObject({ size: BigInt(1 + pick(8)) * 256n * 1024n }))
        if (base < 0) base = live[0].id
      } else if (op < 6) {
        const bo = live[pick(live.length)]
        const places = [{ domain: domains[pick(3)] }, { domain: domains[pick(3)], fallback: true }]
        bo.resv.lock()
        try {
          const r = d.validate(bo, places, { noWaitGpu: pick(4) === 0 })
          out.push(`v${n(bo.id)} ${r.moved} ${r.bytesMoved} ${r.evictions} ${r.fence?.id ?? 0} ${r.fenceEnd}`)
        } catch (e) {
          out.push(
            `v${n(bo.id)} ${errnoOf(() => {
              throw e
            })}`,
          )
        }
        bo.resv.unlock()
      } else if (op === 6) {
        const bo = live.splice(pick(live.length), 1)[0]
        bo.put()
      } else if (op === 7) {
        const bo = live[pick(live.length)]
        const f = d.createFence(pick(2) === 0 ? {} : { signalAt: d.now + BigInt(pick(200_000)) })
        bo.resv.lock()
        bo.resv.reserveFences(1)
        bo.resv.addFence(f, 'write')
        bo.resv.unlock()
        if (pick(2) === 0) f.signal()
      } else {
        d.advance(BigInt(pick(300_000)))
      }
      const mem = domains.map((dm) => `${d.memory(dm).used}/${d.memory(dm).lruLength}`).join(' ')
      out.push(`${d.now} ${mem} pending ${d.pendingDestroy().map((p) => `${n(p.object)}@${p.until}`)}`)
    }
    const jobs = d.copyJobs().map((j) => ({ ...j, object: n(j.object) }))
    out.push(...copyTimeline(jobs))
    return out
  }

  it('on 8 seeds: same fences, times and stats', () => {
    const all: string[] = []
    for (let seed = 1n; seed <= 8n; seed++) {
      const native = run('native', seed)
      expect(native).toEqual(run('reference', seed))
      all.push(...native)
    }
    // The runs reach the cases under test: pipelined evictions, no_wait_gpu refusals, waiting destroys.
    expect(all.some((l) => l.includes('evict #'))).toBe(true)
    expect(all.some((l) => l.endsWith('EBUSY'))).toBe(true)
    expect(all.some((l) => /pending \d/.test(l))).toBe(true)
  })
})

describe.each(engines)('scenario pipelined-eviction (%s engine)', (engine) => {
  it('victims copy out in LRU order, the evictor copies in after the last; the times are hand-computed', () => {
    const r = runScenario('pipelined-eviction', { engine })
    // 4 MiB at 16 GB/s = 262144 ns, 6 MiB = 393216 ns, + 5000 ns each; a and b moved in first (534288 ns).
    expect(r.outcome).toEqual({
      victims: ['a:vram->gtt', 'b:vram->gtt'],
      evictorStartsAfterVictims: true,
      moveFenceEnd: `${534_288 + 2 * 267_144 + 398_216}`,
      cpuAccessAt: `${534_288 + 2 * 267_144 + 398_216}`,
      noWaitGpu: 'EBUSY',
      // busy: 2 MiB GTT -> SYSTEM at 10 GB/s (209715.2 ns, rounded up) + 5000 ns, after game's copy.
      destroyWaitedUntil: `${534_288 + 2 * 267_144 + 398_216 + 209_716 + 5_000}`,
      pendingAfter: 0,
    })
    expect(r.lines.filter((l) => l.includes(' evict a ') || l.includes(' evict b '))).toHaveLength(2)
    expect(r.lines.some((l) => /move game gtt->vram .* after fence \d+/.test(l))).toBe(true)
    expect(r.violations).toEqual([])
  })
})
