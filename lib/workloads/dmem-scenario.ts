/**
 * The dmem scenario (issue 16): a protected cgroup under VRAM contention,
 * played in the merged (upstream, Linux 6.14) and the proposed (open series)
 * mode side by side. Registered in scenarios.ts.
 */
import { Device } from '../device/device.js'
import type { Cgroup, DmemOptions } from '../device/dmem.js'
import type { GemObject } from '../device/gem.js'
import { DrmError } from '../base/errors.js'
import type { EngineName } from '../contract/vm.js'
import type { StatsRow } from '../render/plot.js'
import type { Scenario, ScenarioOptions, ScenarioResult } from './scenarios.js'
import { sampleStep, withParts } from './story-parts.js'

const MiB = 1n << 20n
const mib = (n: bigint) => `${Number(n / MiB)} MiB`

interface Part {
  d: Device
  lines: string[]
  names: Map<GemObject, string>
  outcome: Record<string, unknown>
  /** VRAM and GTT after each step of this part. */
  timeline: StatsRow[]
}

/**
 * /apps (min 32 MiB, low 128 MiB) holds a compositor (min 32 MiB), a game
 * (low 96 MiB) and a browser (no protection). The compositor and the browser
 * fill 224 of 256 MiB of VRAM; then the game allocates two 48 MiB buffers
 * with a VRAM, GTT placement, as amdgpu's default placement is.
 */
function play(engine: EngineName | undefined, mode: NonNullable<DmemOptions['mode']>, step: () => number): Part {
  const d = new Device({ engine, memory: { vram: 256n * MiB, gtt: 1024n * MiB }, dmem: { mode } })
  const lines: string[] = []
  const names = new Map<GemObject, string>()
  const timeline: StatsRow[] = []
  const say = (text: string) => {
    lines.push(`${step()}. [${mode}] ${text}`)
    sampleStep(d, timeline)
  }
  const apps = d.createCgroup({ name: 'apps' })
  apps.setLimits('vram', { min: 32n * MiB, low: 128n * MiB })
  const group = (name: string) => d.createCgroup({ name, parent: apps })
  const [compositor, game, browser] = [group('compositor'), group('game'), group('browser')]
  compositor.setLimits('vram', { min: 32n * MiB })
  game.setLimits('vram', { low: 96n * MiB })
  say('/apps: min 32 MiB, low 128 MiB; /apps/compositor min 32 MiB, /apps/game low 96 MiB, /apps/browser none')
  const alloc = (cg: Cgroup, name: string, size: bigint) => {
    const bo = d.createObject({ size, cgroup: cg })
    names.set(bo, name)
    bo.resv.lock()
    try {
      const r = d.validate(bo, [{ domain: 'vram' }, { domain: 'gtt' }])
      say(`${cg.path} allocates ${name} (${mib(size)}): placed in ${bo.domain}, ${r.evictions} eviction(s)`)
    } catch (e) {
      if (!(e instanceof DrmError)) throw e
      say(`${cg.path} allocates ${name} (${mib(size)}): ${e.errno}`)
    } finally {
      bo.resv.unlock()
    }
    return bo
  }
  const all = [alloc(compositor, 'scanout', 32n * MiB)]
  for (let i = 0; i < 4; i++) all.push(alloc(browser, `tab${i}`, 48n * MiB))
  for (let i = 0; i < 2; i++) all.push(alloc(game, `texture${i}`, 48n * MiB))
  const where = Object.fromEntries(all.map((bo) => [names.get(bo)!, bo.domain]))
  const use = (cg: Cgroup) => mib(cg.stats('vram').usage)
  say(`VRAM use: compositor ${use(compositor)}, game ${use(game)}, browser ${use(browser)}`)
  return {
    d,
    lines,
    names,
    timeline,
    outcome: {
      where,
      gameInVram: all.filter((bo) => names.get(bo)!.startsWith('texture') && bo.domain === 'vram').length,
      evicted: all.filter((bo) => names.get(bo)!.startsWith('tab') && bo.domain !== 'vram').map((bo) => names.get(bo)),
      compositorInVram: all[0].domain === 'vram',
    },
  }
}

export const dmemContention: Scenario = {
  name: 'dmem-protected-contention',
  title:
    'a low-protected game meets a full VRAM: merged dmem falls back to GTT, the proposed series evicts the browser',
  source:
    'kernel/cgroup/dmem.c and ttm_bo_evict_alloc (merged, 6.14); "drm/ttm: Be more aggressive when allocating below protection limit" (proposed)',
  run(options: ScenarioOptions = {}): ScenarioResult {
    let n = 0
    const step = () => ++n
    const parts = [play(options.engine, 'upstream', step), play(options.engine, 'proposed', step)]
    const result: ScenarioResult = {
      name: dmemContention.name,
      title: dmemContention.title,
      engine: parts[0].d.engine,
      lines: parts.flatMap((p) => p.lines),
      outcome: { upstream: parts[0].outcome, proposed: parts[1].outcome },
      violations: parts.flatMap((p) => p.d.takeViolations().map((v) => v.kind)),
    }
    const names = new Map(parts.flatMap((p) => [...p.names]))
    return withParts(result, {
      devices: parts.map((p) => p.d),
      nameOf: (obj: GemObject) => names.get(obj),
      parts: ['upstream (merged, 6.14)', 'proposed series'],
      timelines: parts.map((p) => p.timeline),
    })
  },
}
