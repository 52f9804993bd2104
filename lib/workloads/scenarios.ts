/**
 * The seeds' stories as runnable scenarios: each builds a device, plays the
 * story step by step and returns the lines it printed and its outcome.
 * `drmsim scenario <name>` runs one; __test__/scenarios.spec.ts asserts them.
 */
import { Device } from '../device/device.js'
import type { EngineName } from '../contract/vm.js'
import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { PlaceDomain } from '../device/placement.js'

export interface ScenarioOptions {
  engine?: EngineName
}

export interface ScenarioResult {
  name: string
  title: string
  engine: EngineName
  /** What happened, one step per line. */
  lines: string[]
  /** The facts the story turns on (plain JSON values). */
  outcome: Record<string, unknown>
  /** Every violation kind recorded, in order. */
  violations: string[]
  /** The device as the story left it, for pictures (not part of the JSON). */
  device?: Device
}

export interface Scenario {
  name: string
  title: string
  /** Where the story comes from. */
  source: string
  run(options?: ScenarioOptions): ScenarioResult
}

const MiB = 1n << 20n
const KiB = 1n << 10n
const mib = (n: bigint) => `${Number(n) / Number(MiB)} MiB`

/** A device plus a step log; violations are logged as they are recorded. */
class Story {
  readonly d: Device
  readonly lines: string[] = []
  readonly violations: string[] = []
  #step = 0

  constructor(engine: EngineName | undefined, vram: bigint, gtt: bigint) {
    this.d = new Device({ engine, memory: { vram, gtt } })
  }

  step(text: string): void {
    this.lines.push(`${++this.#step}. ${text}`)
    this.drain()
  }

  drain(): void {
    for (const v of this.d.takeViolations()) {
      this.violations.push(v.kind)
      this.lines.push(`   ! ${v.kind}: ${v.message}`)
    }
  }

  vram(): string {
    const m = this.d.memory('vram')
    return `VRAM used ${mib(m.used)}, largest free ${mib(m.largestFree)}, fragmentation ${m.fragmentation.toFixed(2)}`
  }

  /** Locks `bo` on the current thread, validates, unlocks; returns the errno on failure. */
  place(bo: GemObject, domain: PlaceDomain, topDown = false): string | null {
    bo.resv.lock()
    try {
      const r = this.d.validate(bo, [{ domain, topDown }])
      const ev = r.evictions ? `, ${r.evictions} eviction(s)` : ''
      this.step(
        `validate ${bo} (${mib(bo.size)}) into ${domain}${topDown ? ' top-down' : ''}: ${r.bytesMoved} bytes moved${ev}`,
      )
      return null
    } catch (e) {
      if (!(e instanceof DrmError)) throw e
      this.step(`validate ${bo} (${mib(bo.size)}) into ${domain}: ${e.errno}`)
      return e.errno
    } finally {
      bo.resv.unlock()
    }
  }

  result(s: Scenario, outcome: Record<string, unknown>): ScenarioResult {
    this.drain()
    const result: ScenarioResult = {
      name: s.name,
      title: s.title,
      engine: this.d.engine,
      lines: this.lines,
      outcome,
      violations: this.violations,
    }
    Object.defineProperty(result, 'device', { value: this.d, enumerable: false })
    return result
  }
}

const fbdevUnpinned: Scenario = {
  name: 'fbdev-unpinned-vmap',
  title: 'amdgpu fbdev: a long-term vmap without a pin is evicted under the mapping',
  source: 'seed 003 (amdgpu fbdev neither pinned nor locked its buffer)',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 64n * MiB)
    const fb = s.d.createObject({ size: 8n * MiB })
    s.place(fb, 'vram')
    fb.resv.lock()
    const map = fb.vmapLocked()
    fb.resv.unlock()
    s.step(`fbdev vmaps ${fb} (generation ${map.generation}) and drops the lock; no pin`)
    const game = s.d.createObject({ size: 12n * MiB })
    const err = s.place(game, 'vram')
    s.step(`${fb} is now in ${fb.domain} (generation ${fb.generation}); ${s.vram()}`)
    const ok = map.access()
    s.step(`the console blits through its old mapping: ${ok ? 'fine' : 'stale'}`)
    return s.result(fbdevUnpinned, {
      evicted: fb.domain !== 'vram',
      fbDomain: fb.domain,
      gameDomain: game.domain,
      gameError: err,
      stale: s.violations.includes('stale-mapping'),
    })
  },
}

const fbdevLocal: Scenario = {
  name: 'fbdev-vmap-local',
  title: 'fbdev with vmapLocal: the lock held across the blit makes eviction skip the buffer',
  source: 'seed 003 (drm_client_buffer_vmap_local, 2024)',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 64n * MiB)
    const fb = s.d.createObject({ size: 8n * MiB })
    s.place(fb, 'vram')
    const game = s.d.createObject({ size: 12n * MiB })
    s.d.thread = 1
    const map = fb.vmapLocal()
    s.step(`thread 1 (fbdev): vmapLocal ${fb}, holding its reservation lock`)
    s.d.thread = 2
    const err = s.place(game, 'vram')
    s.step(`thread 2 (game): the eviction walk could not trylock ${fb}; ${s.vram()}`)
    s.d.thread = 1
    const ok = map.access()
    fb.vunmapLocal()
    s.step(`thread 1 (fbdev): blit ${ok ? 'fine' : 'stale'}, vunmapLocal drops the lock`)
    s.d.thread = 2
    const retry = s.place(game, 'vram')
    s.step(`thread 2 (game): retried after the blit; ${fb} is in ${fb.domain}, nothing is mapped`)
    return s.result(fbdevLocal, {
      skipped: err === 'ENOMEM',
      blitOk: ok,
      stale: s.violations.includes('stale-mapping'),
      retryError: retry,
      fbDomain: fb.domain,
      gameDomain: game.domain,
    })
  },
}

const vmapPins: Scenario = {
  name: 'vmap-pins-fill-vram',
  title: 'long-term vmaps that pin fill VRAM until allocations fail with ENOMEM',
  source: 'seed 000 ("mapping a GEM object ... prevents the buffer from being evicted ... out-of-memory errors")',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 0n)
    const pinned: GemObject[] = []
    for (let i = 0; i < 4; i++) {
      const bo = s.d.createObject({ size: 4n * MiB })
      s.place(bo, 'vram')
      bo.vmap()
      pinned.push(bo)
      s.step(`client ${i} keeps a long-term vmap of ${bo}: pinned (pin count ${bo.pinCount}); ${s.vram()}`)
    }
    const fb = s.d.createObject({ size: 4n * MiB })
    const err = s.place(fb, 'vram')
    s.step(`nothing on the VRAM LRU to evict (${s.d.lru('vram').length} buffers)`)
    for (const bo of pinned) bo.vunmap()
    s.step(`the clients vunmap: pins dropped, ${s.d.lru('vram').length} buffers back on the LRU`)
    const retry = s.place(fb, 'vram')
    return s.result(vmapPins, {
      pinnedBuffers: pinned.length,
      error: err,
      retryError: retry,
      fbDomain: fb.domain,
      evictedAfterUnmap: pinned.filter((b) => b.domain !== 'vram').length,
    })
  },
}

function cursors(s: Story, topDown: boolean): { error: string | null; largestFree: number; fragmentation: number } {
  const consoleBuf = s.d.createObject({ size: 7n * MiB })
  s.place(consoleBuf, 'vram')
  const curs = [0, 1].map(() => s.d.createObject({ size: 64n * KiB }))
  for (const c of curs) {
    s.place(c, 'vram', topDown)
    c.pin()
    s.step(`pin cursor ${c} at ${mib(c.offset ?? 0n)}`)
  }
  consoleBuf.put()
  s.step(`the boot console buffer is freed; ${s.vram()}`)
  const m = s.d.memory('vram')
  const fb = s.d.createObject({ size: 9n * MiB })
  const error = s.place(fb, 'vram')
  return { error, largestFree: Number(m.largestFree), fragmentation: Math.round(m.fragmentation * 100) / 100 }
}

const cursorFrag: Scenario = {
  name: 'cursor-fragmentation',
  title: 'small pinned cursors in the middle of VRAM keep a large framebuffer out; top-down pins fix it',
  source: 'reference notes, pitfall 10 (gem-vram TOPDOWN cursor pins, 2019)',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 0n)
    s.step('bottom-up cursor pins')
    const bottomUp = cursors(s, false)
    const t = new Story(options.engine, 16n * MiB, 0n)
    t.step('top-down cursor pins')
    const topDown = cursors(t, true)
    const r = s.result(cursorFrag, { bottomUp, topDown })
    r.lines.push(...t.lines)
    r.violations.push(...t.violations)
    return r
  },
}

/** Every scenario by name, in listing order. */
export const scenarios: ReadonlyMap<string, Scenario> = new Map(
  [fbdevUnpinned, fbdevLocal, vmapPins, cursorFrag].map((s) => [s.name, s]),
)

export function runScenario(name: string, options: ScenarioOptions = {}): ScenarioResult {
  const s = scenarios.get(name)
  if (!s)
    throw new DrmError(
      'EINVAL',
      `no scenario named ${JSON.stringify(name)} (have: ${[...scenarios.keys()].join(', ')})`,
    )
  return s.run(options)
}
