/**
 * The CPU-visible VRAM window shortage (ttm-res): buffers the CPU must map
 * are validated with a place limited to the visible window
 * (`{ domain: 'vram', lpfn: visible >> 12 }`, as amdgpu's
 * AMDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED), compete for it and evict each
 * other to GTT, while the rest of VRAM stays idle. The same work with the
 * whole VRAM visible (resizable BAR) evicts nothing.
 */
import { Device } from '../device/device.js'
import type { GemObject } from '../device/gem.js'
import type { StatsRow } from '../render/plot.js'
import type { Scenario, ScenarioOptions, ScenarioResult } from './scenarios.js'
import { sampleStep, withParts } from './story-parts.js'

const MiB = 1n << 20n
const VRAM = 64n * MiB
const BUFFERS = 24
const ROUNDS = 3

/** Maps every buffer in turn, ROUNDS times, each through a validate into the window. */
function play(engine: ScenarioOptions['engine'], visible: bigint, lines: string[]) {
  const d = new Device({ engine, memory: { vram: VRAM, gtt: 256n * MiB } })
  const window = { domain: 'vram', lpfn: Number(visible >> 12n) }
  const bos: GemObject[] = []
  for (let i = 0; i < BUFFERS; i++) bos.push(d.createObject({ size: MiB }))
  let evictions = 0
  let bytes = 0n
  // The plot's steps: one per validate.
  const timeline: StatsRow[] = []
  for (let r = 0; r < ROUNDS; r++) {
    for (const bo of bos) {
      bo.resv.lock()
      const v = d.validate(bo, [window])
      bo.resv.unlock()
      evictions += v.evictions
      bytes += v.bytesMoved
      sampleStep(d, timeline)
    }
  }
  const m = d.memory('vram')
  let outside = 0n
  for (const bo of d.lru('vram')) {
    for (const b of d.resource(bo)?.blocks ?? []) if (b.offset >= visible) outside += b.size
  }
  lines.push(
    `${lines.length + 1}. ${Number(visible / MiB)} MiB visible: ${BUFFERS} x 1 MiB mapped ${ROUNDS} times -> ${evictions} evictions, ${Number(bytes / MiB)} MiB moved; VRAM used ${Number(m.used / MiB)} of ${Number(VRAM / MiB)} MiB, ${Number(outside / MiB)} MiB of it outside the window`,
  )
  return {
    d,
    timeline,
    evictions,
    bytesMoved: Number(bytes / MiB),
    vramUsedMiB: Number(m.used / MiB),
    outsideMiB: Number(outside / MiB),
  }
}

export const cpuVisibleVram: Scenario = {
  name: 'cpu-visible-vram',
  title: 'CPU-mapped buffers compete for a 16 MiB visible VRAM window while 48 MiB of VRAM stays idle',
  source: 'TTM places with lpfn (amdgpu visible VRAM, ttm_bo_eviction_valuable / ttm_resource_intersects)',
  run(options: ScenarioOptions = {}): ScenarioResult {
    const lines: string[] = []
    const small = play(options.engine, 16n * MiB, lines)
    const bar = play(options.engine, VRAM, lines)
    lines.push('3. only buffers inside the window are worth evicting: the idle VRAM above it cannot help')
    const violations = [...small.d.violations, ...bar.d.violations].map((v) => v.kind)
    const { d: _a, timeline: _c, ...window16 } = small
    const { d: _b, timeline: _d, ...fullBar } = bar
    const result: ScenarioResult = {
      name: this.name,
      title: this.title,
      engine: small.d.engine,
      lines,
      outcome: { window16, fullBar },
      violations,
    }
    return withParts(result, {
      devices: [small.d, bar.d],
      parts: ['16 MiB visible window', 'whole VRAM visible'],
      timelines: [small.timeline, bar.timeline],
    })
  },
}
