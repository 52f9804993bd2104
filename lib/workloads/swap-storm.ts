/**
 * The "swap storm" scenario (issue 16, ttm-lru): a bounded SYSTEM with a
 * shrinker, more buffers than fit, step by step: each new buffer pushes the
 * head of the SYSTEM LRU out to swap (priority 0 first), a purgeable buffer
 * is dropped before anything is swapped, a locked one is skipped, and
 * validating a swapped buffer brings it back at the cost of a move.
 */
import { Device } from '../device/device.js'
import type { GemObject } from '../device/gem.js'
import type { StatsRow } from '../render/plot.js'
import type { Scenario, ScenarioResult } from './scenarios.js'
import { sampleStep, withParts } from './story-parts.js'

const KiB = 1n << 10n

export const swapStorm: Scenario = {
  name: 'ttm-swap-storm',
  title: 'a bounded SYSTEM under a shrinker: purge first, then swap out the LRU head, swap in on validate',
  source: 'issue 16 (ttm_device_swapout, ttm_bo_swapout; i915/msm/panfrost shrinkers purge DONTNEED first)',
  run(options = {}) {
    const d = new Device({ engine: options.engine, memory: { vram: 256n * KiB, gtt: 0n, system: 256n * KiB } })
    d.setSwap({ capacity: 256n * KiB })
    const lines: string[] = []
    const names = new Map<GemObject, string>()
    const name = (o: GemObject) => names.get(o) ?? `#${o.id}`
    const timeline: StatsRow[] = []
    const step = (text: string) => {
      lines.push(`${lines.filter((l) => /^\d/.test(l)).length + 1}. ${text}`)
      sampleStep(d, timeline)
    }
    const sys = () => {
      const t = d.placementTotals
      const m = d.memory('system')
      return `SYSTEM ${m.used / KiB}/${m.capacity / KiB} KiB, swap ${t.swapUsed / KiB} KiB (${t.swapouts} out, ${t.swapins} in), ${t.purges} purged`
    }
    const make = (n: string, priority = 0) => {
      const o = d.createObject({ size: 64n * KiB, priority })
      names.set(o, n)
      return o
    }
    const bufs = [make('tex0'), make('tex1'), make('ui', 2), make('cache')]
    step(`four 64 KiB buffers fill SYSTEM (ui at LRU priority 2): ${sys()}`)
    bufs[3].setPurgeable(true)
    step('cache is marked purgeable (madvise DONTNEED)')
    const a = make('frame0')
    step(`frame0 arrives: cache is purged first, contents lost (${bufs[3].contentLost}); ${sys()}`)
    const b = make('frame1')
    step(`frame1 arrives: the LRU head, tex0, is swapped out (${bufs[0].swapped}); ${sys()}`)
    bufs[1].resv.lock()
    const c = make('frame2')
    step(`frame2 arrives while tex1 is locked: tex1 is skipped, frame0 goes (${a.swapped}); ${sys()}`)
    bufs[1].resv.unlock()
    const e = make('frame3')
    step(`frame3 arrives: tex1 goes; ui, at priority 2, is walked last and stays (${bufs[2].swapped}); ${sys()}`)
    bufs[0].resv.lock()
    const r = d.validate(bufs[0], [{ domain: 'system' }])
    bufs[0].resv.unlock()
    step(
      `tex0 is validated: swapped back in (${r.bytesMoved / KiB} KiB moved), frame1 swapped out for room (${b.swapped}); ${sys()}`,
    )
    let full: string | null = null
    try {
      make('frame4')
      make('frame5')
    } catch (err) {
      full = (err as { errno?: string }).errno ?? 'error'
    }
    step(`more frames: swap (256 KiB) fills, then ${full ?? 'no error'}; ${sys()}`)
    for (const v of d.takeViolations()) lines.push(`   ! ${v.kind}: ${v.message}`)
    const t = d.placementTotals
    const swapped = [...names].filter(([o]) => !o.freed && o.swapped).map(([, n]) => n)
    const result: ScenarioResult = {
      name: swapStorm.name,
      title: swapStorm.title,
      engine: d.engine,
      lines,
      outcome: {
        purges: Number(t.purges),
        swapouts: Number(t.swapouts),
        swapins: Number(t.swapins),
        swapUsedKiB: Number(t.swapUsed / KiB),
        swapped,
        uiResident: !bufs[2].swapped,
        error: full,
        frames: [a, b, c, e].map(name),
      },
      violations: [],
    }
    return withParts(result, { devices: [d], nameOf: (o: GemObject) => names.get(o), timelines: [timeline] })
  },
}
