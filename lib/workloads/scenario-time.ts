/**
 * The "pipelined eviction" scenario (issue 16): validating into a full VRAM
 * on a device whose moves take time. The victims are copied out by the copy
 * engine, the evictor's own copy starts after the last of them, a CPU access
 * waits for the move fence, no_wait_gpu refuses to wait, and a busy buffer's
 * destroy waits for its fences.
 */
import { Device } from '../device/device.js'
import { copyTimeline } from '../device/copy-engine.js'
import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import { Scheduler } from '../device/sched.js'
import type { StatsRow } from '../render/plot.js'
import type { Scenario, ScenarioResult } from './scenarios.js'
import { sampleStep, withParts } from './story-parts.js'

const MiB = 1n << 20n

export const pipelinedEviction: Scenario = {
  name: 'pipelined-eviction',
  title: 'validate into a full VRAM with timed moves: victims copy out, the evictor copies in after them',
  source: 'ttm_bo_move_accel_cleanup / ttm_bo_add_pipelined_eviction_fences (TTM, issue 16)',
  run(options = {}) {
    const d = new Device({ engine: options.engine, memory: { vram: 8n * MiB, gtt: 64n * MiB }, copy: {} })
    const lines: string[] = []
    const names = new Map<GemObject, string>()
    let n = 0
    const timeline: StatsRow[] = []
    const step = (text: string) => {
      lines.push(`${++n}. ${text}`)
      sampleStep(d, timeline)
    }
    const make = (name: string, size: bigint, to: 'gtt' | 'vram') => {
      const bo = d.createObject({ size })
      names.set(bo, name)
      bo.resv.lock()
      d.validate(bo, [{ domain: 'gtt' }])
      if (to === 'vram') d.validate(bo, [{ domain: 'vram' }])
      bo.resv.unlock()
      return bo
    }
    const a = make('a', 4n * MiB, 'vram')
    const b = make('b', 4n * MiB, 'vram')
    const game = make('game', 6n * MiB, 'gtt')
    d.waitIdle(b)
    step(`a and b (4 MiB each) fill VRAM (8 MiB); game (6 MiB) waits in GTT; the clock is at ${d.now} ns`)

    const before = d.copyJobs().length
    game.resv.lock()
    const r = d.validate(game, [{ domain: 'vram' }])
    game.resv.unlock()
    step(
      `validate game into VRAM: ${r.evictions} eviction(s); game is in ${game.domain} at once, its move fence ${r.fence?.id} signals at ${r.fenceEnd} ns`,
    )
    const jobs = d.copyJobs().slice(before)
    const byId = new Map([...names].map(([o, name]) => [`#${o.id} `, `${name} `]))
    for (const line of copyTimeline(jobs)) lines.push(`   ${line.replace(/#\d+ /, (id) => byId.get(id) ?? id)}`)
    const victims = jobs.filter((j) => j.evicted)
    const own = jobs.find((j) => !j.evicted)

    const s = new Scheduler(d, { seed: 1 })
    let accessAt: bigint | null = null
    s.spawn('cpu', function* () {
      yield* d.waitIdleOp(game, { usage: 'kernel' })
      accessAt = d.now
    })
    const c = d.createObject({ size: MiB })
    names.set(c, 'c')
    c.resv.lock()
    let noWait: string | null = null
    try {
      d.validate(c, [{ domain: 'vram' }], { noWaitGpu: true })
    } catch (e) {
      if (!(e instanceof DrmError)) throw e
      noWait = e.errno
    }
    c.resv.unlock()
    step(`c (1 MiB) into VRAM with noWaitGpu while VRAM's eviction still copies: ${noWait ?? 'placed'}`)
    s.run()
    step(`a CPU thread waiting for game's KERNEL fences runs at ${accessAt} ns`)

    const busy = make('busy', 2n * MiB, 'gtt')
    busy.resv.lock()
    const moved = d.validate(busy, [{ domain: 'system' }])
    busy.resv.unlock()
    busy.put()
    const [pending] = d.pendingDestroy()
    step(
      `busy (2 MiB) is destroyed while its copy to SYSTEM runs: its range waits until ${pending?.until} ns (${d.memory('system').used} bytes of SYSTEM in use)`,
    )
    d.advance((moved.fenceEnd ?? d.now) - d.now)
    step(`at ${d.now} ns its fence has signaled: ${d.pendingDestroy().length} destroy(s) pending`)

    const result: ScenarioResult = {
      name: pipelinedEviction.name,
      title: pipelinedEviction.title,
      engine: d.engine,
      lines,
      outcome: {
        victims: victims.map((j) => `${j.object === a.id ? 'a' : j.object === b.id ? 'b' : '?'}:${j.from}->${j.to}`),
        evictorStartsAfterVictims: own !== undefined && own.start === victims.at(-1)?.end,
        moveFenceEnd: `${r.fenceEnd}`,
        cpuAccessAt: `${accessAt}`,
        noWaitGpu: noWait,
        destroyWaitedUntil: `${pending?.until}`,
        pendingAfter: d.pendingDestroy().length,
      },
      violations: d.takeViolations().map((v) => v.kind),
    }
    return withParts(result, { devices: [d], nameOf: (o: GemObject) => names.get(o), timelines: [timeline] })
  },
}
