/**
 * The seeds' stories as runnable scenarios: each builds a device, plays the
 * story step by step and returns the lines it printed and its outcome; the
 * drm_gpuvm stories (`gpuvm-*`) play a driver's use of today's VM hub.
 * `drmsim scenario <name>` runs one; __test__/scenarios.spec.ts asserts them.
 */
import { Device } from '../device/device.js'
import type { EngineName } from '../contract/vm.js'
import { DrmError } from '../base/errors.js'
import { Exec } from '../device/exec.js'
import { sampleStep, withParts } from './story-parts.js'
import type { GemObject } from '../device/gem.js'
import type { PlaceDomain } from '../device/placement.js'
import { GpuVm, type GpuVmOptions } from '../gpuvm/gpuvm.js'
import type { StatsRow } from '../render/plot.js'
import type { VmBo } from '../gpuvm/vm-bo.js'
import { GpuVmExec, missingLocks, prepareVm, smUnmapExecLock } from '../gpuvm/vm-exec.js'
// Time for TTM moves (issue 16).
import { pipelinedEviction } from './scenario-time.js'
// The dmem cgroup scenario (issue 16).
import { dmemContention } from './dmem-scenario.js'
// ttm-lru: the swap storm (issue 16).
import { swapStorm } from './swap-storm.js'
// The CPU-visible VRAM window shortage (ttm-res).
import { cpuVisibleVram } from './visible-vram.js'

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
  /** The device as the story left it, for pictures (not part of the JSON): the last of `devices`. */
  device?: Device
  /** Every device of the story, in order, the last one its end (not part of the JSON). */
  devices?: Device[]
  /** The VA spaces the story left alive, for pictures (not part of the JSON). */
  vms?: GpuVm[]
  /** The story's name for an object, for pictures (not part of the JSON). */
  nameOf?: (obj: GemObject) => string | undefined
  /** What each device's part of the story shows, in `devices` order (not part of the JSON). */
  parts?: string[]
  /** Each device's memory after each step, in `devices` order (not part of the JSON). */
  timelines?: StatsRow[][]
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
  /** Names of the story's objects, for its lines and pictures. */
  readonly names = new Map<GemObject, string>()
  /** VA spaces to draw at the end (those still alive then). */
  readonly vms: GpuVm[] = []
  /** The device's memory after each step (`req` = the step's number), for the plot over time. */
  readonly timeline: StatsRow[] = []
  #step = 0

  constructor(
    engine: EngineName | undefined,
    vram: bigint,
    gtt: bigint,
    /** What this part of the story shows, when the story has several (each on a device of its own). */
    readonly part?: string,
  ) {
    // The gem-vram stories: TTM's range manager (drm_mm) for VRAM, not the buddy default.
    this.d = new Device({ engine, memory: { vram: { size: vram, allocator: 'mm' }, gtt } })
  }

  step(text: string): void {
    this.lines.push(`${++this.#step}. ${text}`)
    this.drain()
    sampleStep(this.d, this.timeline)
  }

  /** An unnumbered detail under the last step. */
  note(text: string): void {
    this.lines.push(`   ${text}`)
  }

  drain(): void {
    for (const v of this.d.takeViolations()) {
      this.violations.push(v.kind)
      this.lines.push(`   ! ${v.kind}: ${v.message}`)
    }
  }

  /** A named object of the device (sharing `resv`'s reservation when given). */
  object(name: string, size: bigint, resv?: GemObject): GemObject {
    const obj = this.d.createObject({ size, resv })
    this.names.set(obj, name)
    return obj
  }

  /** A drm_gpuvm on the device, drawn at the end if it is still alive. */
  vm(options: Omit<GpuVmOptions, 'device' | 'range'>): GpuVm {
    const vm = new GpuVm({ range: 1n << 40n, ...options, device: this.d })
    this.vms.push(vm)
    return vm
  }

  /** An object's name (`#id` for an unnamed one). */
  name(obj: GemObject): string {
    return this.names.get(obj) ?? `#${obj.id}`
  }

  /** An object in a line: its name, or the object itself (`GemObject#id`) when it has none. */
  #shown(obj: GemObject): string {
    return this.names.get(obj) ?? String(obj)
  }

  /** vm_bos as `name#id`. */
  bos(bos: readonly VmBo[]): string[] {
    return bos.map((bo) => `${this.name(bo.obj)}#${bo.id}`)
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
        `validate ${this.#shown(bo)} (${mib(bo.size)}) into ${domain}${topDown ? ' top-down' : ''}: ${r.bytesMoved} bytes moved${ev}`,
      )
      return null
    } catch (e) {
      if (!(e instanceof DrmError)) throw e
      this.step(`validate ${this.#shown(bo)} (${mib(bo.size)}) into ${domain}: ${e.errno}`)
      return e.errno
    } finally {
      bo.resv.unlock()
    }
  }

  /** The result; `more` are the stories told after this one on devices of their own, their lines appended. */
  result(s: Scenario, outcome: Record<string, unknown>, more: Story[] = []): ScenarioResult {
    this.drain()
    const stories = [this, ...more]
    const result: ScenarioResult = {
      name: s.name,
      title: s.title,
      engine: this.d.engine,
      lines: [...this.lines],
      outcome,
      violations: [...this.violations],
    }
    for (const t of more) {
      t.drain()
      result.lines.push(...t.lines)
      result.violations.push(...t.violations)
    }
    const names = new Map(stories.flatMap((t) => [...t.names]))
    return withParts(result, {
      devices: stories.map((t) => t.d),
      vms: stories.flatMap((t) => t.vms.filter((vm) => !vm.destroyed)),
      nameOf: (obj: GemObject) => names.get(obj),
      parts: stories.map((t) => t.part ?? ''),
      timelines: stories.map((t) => t.timeline),
    })
  }
}

const fbdevUnpinned: Scenario = {
  name: 'fbdev-unpinned-vmap',
  title: 'amdgpu fbdev: a long-term vmap without a pin is evicted under the mapping',
  source: 'seed 003 (amdgpu fbdev neither pinned nor locked its buffer)',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 64n * MiB)
    const fb = s.object('fb', 8n * MiB)
    s.place(fb, 'vram')
    fb.resv.lock()
    const map = fb.vmapLocked()
    fb.resv.unlock()
    s.step(`fbdev vmaps fb (generation ${map.generation}) and drops the lock; no pin`)
    const game = s.object('game', 12n * MiB)
    const err = s.place(game, 'vram')
    s.step(`fb is now in ${fb.domain} (generation ${fb.generation}); ${s.vram()}`)
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
    const fb = s.object('fb', 8n * MiB)
    s.place(fb, 'vram')
    const game = s.object('game', 12n * MiB)
    s.d.thread = 1
    const map = fb.vmapLocal()
    s.step(`thread 1 (fbdev): vmapLocal fb, holding its reservation lock`)
    s.d.thread = 2
    const err = s.place(game, 'vram')
    s.step(`thread 2 (game): the eviction walk could not trylock fb; ${s.vram()}`)
    s.d.thread = 1
    const ok = map.access()
    fb.vunmapLocal()
    s.step(`thread 1 (fbdev): blit ${ok ? 'fine' : 'stale'}, vunmapLocal drops the lock`)
    s.d.thread = 2
    const retry = s.place(game, 'vram')
    s.step(`thread 2 (game): retried after the blit; fb is in ${fb.domain}, nothing is mapped`)
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
      const bo = s.object(`client${i}`, 4n * MiB)
      s.place(bo, 'vram')
      bo.vmap()
      pinned.push(bo)
      s.step(`client ${i} keeps a long-term vmap of client${i}: pinned (pin count ${bo.pinCount}); ${s.vram()}`)
    }
    const fb = s.object('fb', 4n * MiB)
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
  const consoleBuf = s.object('console', 7n * MiB)
  s.place(consoleBuf, 'vram')
  const curs = [0, 1].map((i) => s.object(`cursor${i}`, 64n * KiB))
  for (const c of curs) {
    s.place(c, 'vram', topDown)
    c.pin()
    s.step(`pin ${s.name(c)} at ${mib(c.offset ?? 0n)}`)
  }
  consoleBuf.put()
  s.step(`the boot console buffer is freed; ${s.vram()}`)
  const m = s.d.memory('vram')
  const fb = s.object('fb', 9n * MiB)
  const error = s.place(fb, 'vram')
  return { error, largestFree: Number(m.largestFree), fragmentation: Math.round(m.fragmentation * 100) / 100 }
}

const cursorFrag: Scenario = {
  name: 'cursor-fragmentation',
  title: 'small pinned cursors in the middle of VRAM keep a large framebuffer out; top-down pins fix it',
  source: 'reference notes, pitfall 10 (gem-vram TOPDOWN cursor pins, 2019)',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 0n, 'bottom-up cursor pins')
    s.step('bottom-up cursor pins')
    const bottomUp = cursors(s, false)
    const t = new Story(options.engine, 16n * MiB, 0n, 'top-down cursor pins')
    t.step('top-down cursor pins')
    const topDown = cursors(t, true)
    return s.result(cursorFrag, { bottomUp, topDown }, [t])
  },
}

// --- drm_gpuvm: today's VM hub ----------------------------------------------------------------

/**
 * The deferred-cleanup leak: an immediate-mode driver that pins imported
 * buffers while a vm_bo holds them and unpins in `vm_bo_free`. Unbinding in
 * immediate mode leaves the vm_bos as zombies on the defer list; a VM put
 * without draining it keeps the VM alive and the buffers pinned.
 */
function deferredLeak(s: Story, drain: boolean) {
  const vm = s.vm({
    name: drain ? 'fixed' : 'leaky',
    immediateMode: true,
    ops: {
      vmBoFree: (bo) => {
        const pins = bo.obj.unpin()
        s.note(`vm_bo_free ${s.name(bo.obj)}#${bo.id}: the driver unpins ${s.name(bo.obj)} (pin count ${pins})`)
      },
    },
  })
  const imported = [s.object('dmabuf0', 4n * MiB), s.object('dmabuf1', 4n * MiB)]
  for (const [i, buf] of imported.entries()) {
    s.place(buf, 'vram')
    // The driver's bind: obtain the vm_bo; a new one pins the imported buffer for as long as it lives.
    const bo = vm.obtainPrealloc(buf)
    if (bo.refcount === 1) buf.pin()
    vm.bind({ addr: BigInt(i + 1) * 0x100000n, range: buf.size, obj: buf })
    bo.putDeferred()
    s.step(
      `bind ${s.name(buf)}: vm_bo #${bo.id} (refcount ${bo.refcount}), ${s.name(buf)} pinned (pin count ${buf.pinCount})`,
    )
  }
  for (const [i, buf] of imported.entries()) vm.unbind(BigInt(i + 1) * 0x100000n, buf.size)
  s.step(`unbind both (immediate mode): the vm_bos are zombies on the defer list [${s.bos(vm.deferList()).join(', ')}]`)
  let cleaned = 0
  if (drain) {
    s.step('the fixed driver drains the defer list before it drops the VM')
    cleaned = vm.deferredCleanup()
  }
  const left = vm.put()
  s.step(
    `the driver drops its VM reference: refcount ${left}${vm.destroyed ? ', the VM is freed' : `, the VM stays alive (held by ${vm.deferList().length} zombie vm_bo(s))`}`,
  )
  const pins = imported.map((b) => b.pinCount)
  s.step(`the imported buffers' pin counts: ${pins.join(', ')}; ${s.vram()}`)
  const game = s.object('game', 12n * MiB)
  const gameError = s.place(game, 'vram')
  const warnings: string[] = []
  if (!vm.destroyed) {
    vm.destroy()
    warnings.push(...vm.takeWarnings().map((w) => w.kind))
    s.step(
      `forced teardown (destroy): ${warnings.map((w) => `WARN ${w}`).join(', ')}; pin counts still ${imported.map((b) => b.pinCount).join(', ')}`,
    )
  } else warnings.push(...vm.takeWarnings().map((w) => w.kind))
  return {
    refcountAfterPut: left,
    vmAliveAfterPut: left > 0,
    cleaned,
    pinCounts: pins,
    pinnedAtEnd: imported.map((b) => b.pinCount),
    gameError,
    gameDomain: game.domain,
    warnings,
  }
}

const deferredLeakScenario: Scenario = {
  name: 'gpuvm-deferred-leak',
  title:
    'drm_gpuvm immediate mode: a VM dropped without deferred cleanup keeps its zombie vm_bos, pinned imports and VRAM',
  source: 'Asahi (drm_gpuvm_bo_deferred_cleanup not called before the last VM put; unpin in vm_bo_free)',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 64n * MiB, 'the leaky driver')
    s.step('the leaky driver (immediate mode; pins imported buffers while a vm_bo holds them)')
    const leak = deferredLeak(s, false)
    const t = new Story(options.engine, 16n * MiB, 64n * MiB, 'the fixed driver')
    t.step('the fixed driver: the same, draining the defer list before the last put')
    const fixed = deferredLeak(t, true)
    return s.result(deferredLeakScenario, { leak, fixed }, [t])
  },
}

const evictValidate: Scenario = {
  name: 'gpuvm-evict-validate',
  title:
    'drm_gpuvm eviction: VRAM pressure evicts bound objects onto the evict list; the exec loop validates them back',
  source:
    'drm_gpuvm_validate / drm_gpuvm_exec_lock (Xe, RESV_PROTECTED: external objects join the evict list at prepare_objects)',
  run(options = {}) {
    const s = new Story(options.engine, 8n * MiB, 64n * MiB)
    const vm = s.vm({
      name: 'xe',
      resvProtected: true,
      ops: {
        vmBoValidate: (bo) => {
          const r = s.d.validate(bo.obj, [{ domain: 'vram' }])
          bo.evict(false)
          s.note(`vm_bo_validate ${s.name(bo.obj)}#${bo.id}: back into VRAM, ${r.bytesMoved} bytes moved`)
        },
      },
    })
    const tex = s.object('tex', 3n * MiB)
    const pool = s.object('pool', 2n * MiB, vm.resvObject!)
    s.place(tex, 'vram')
    s.place(pool, 'vram')
    // The bind job: lock the VM, its external objects and the new texture; map; fence; unlock.
    const bind = new GpuVmExec(vm, { numFences: 1 }).lockArray([tex])
    const bo = vm.obtain(tex)
    bo.extobjAdd()
    vm.bind({ addr: 0x100000n, range: tex.size, obj: tex })
    vm.bind({ addr: 0x800000n, range: pool.size, obj: pool })
    bo.put()
    bind.resvAddFence(s.d.createFence(), 'bookkeep', 'bookkeep')
    bind.unlock()
    s.step(
      `bind tex (external, vm_bo #${bo.id}) and pool (private: the VM's reservation); extobj list [${s.bos(vm.extobjList()).join(', ')}]`,
    )
    const other = s.object('other', 6n * MiB)
    s.place(other, 'vram')
    const evicted = s.bos(vm.vmBos().filter((b) => b.evicted))
    const before = s.bos(vm.evictList())
    const invalidated = [...vm].filter((va) => va.invalidated).length
    s.step(
      `VRAM pressure: vm_bos evicted [${evicted.join(', ')}], ${invalidated} mapping(s) invalidated; evict list [${before.join(', ')}] (the external tex waits for prepare_objects)`,
    )
    other.put()
    s.step(`the other buffer is freed; ${s.vram()}`)
    // The exec loop: lock (prepare_vm, prepare_objects), validate, bind, add the job's fence, unlock.
    const job = new GpuVmExec(vm, { numFences: 1 }).lock()
    const caught = s.bos(vm.evictList())
    s.step(
      `exec lock: [${job.exec.objects.map((o) => (o === vm.resvObject ? 'VM resv' : s.name(o))).join(', ')}]; evict list caught up: [${caught.join(', ')}]`,
    )
    job.validate()
    for (const va of vm) if (va.invalidated) vm.invalidate(va, false)
    vm.bind({ addr: 0x400000n, range: 0x100000n, obj: tex, offset: 0x100000n })
    const fence = s.d.createFence()
    job.resvAddFence(fence, 'bookkeep', 'write')
    const fenced = job.exec.objects.length
    job.unlock()
    const after = s.bos(vm.evictList())
    s.step(
      `validate, rebind the invalidated mappings and bind a new one, fence ${fenced} reservation(s), unlock: evict list [${after.join(', ')}]; tex in ${tex.domain}, pool in ${pool.domain}`,
    )
    return s.result(evictValidate, {
      evicted,
      evictListAfterPressure: before,
      invalidated,
      evictListAtLock: caught,
      evictListAfterValidate: after,
      domains: { tex: tex.domain, pool: pool.domain },
      fenced,
      mappings: vm.mappingCount,
    })
  },
}

const lockSetMismatch: Scenario = {
  name: 'gpuvm-lock-set-mismatch',
  title:
    'drm_gpuvm lock-only walk: an unmap lock set taken with the object offset as its range misses objects the real walk unmaps',
  source: 'msm VM_BIND (drm_gpuvm_sm_unmap_exec_lock given op->obj_offset for the range)',
  run(options = {}) {
    const s = new Story(options.engine, 16n * MiB, 64n * MiB)
    const vm = s.vm({ name: 'msm' })
    const a = s.object('a', 0x10000n)
    const b = s.object('b', 0x11000n)
    vm.bind({ addr: 0x100000n, range: 0x10000n, obj: a })
    vm.bind({ addr: 0x110000n, range: 0x10000n, obj: b, offset: 0x1000n })
    const op = { iova: 0x100000n, range: 0x20000n, objOffset: 0x1000n }
    s.step(`mappings: a at 0x100000 (64 KiB), b at 0x110000 (64 KiB, offset 0x1000); UNMAP iova 0x100000 range 0x20000`)
    const lockSet = (range: bigint) => {
      const exec = new Exec(s.d, { ignoreDuplicates: true })
      exec.untilAllLocked((e) => {
        let r = prepareVm(vm, e)
        e.retryOnContention()
        if (r === 0) r = smUnmapExecLock(vm, e, op.iova, range)
        e.retryOnContention()
        if (r !== 0) throw new DrmError(r, 'lock-only walk failed')
      })
      const locked = exec.objects.map((o) => (o === vm.resvObject ? 'VM resv' : s.name(o)))
      const missing = missingLocks(exec, vm.smUnmapOps(op.iova, op.range)).map((o) => s.name(o))
      return { exec, locked, missing }
    }
    const { exec: bad, ...buggy } = lockSet(op.objOffset)
    bad.fini()
    s.step(
      `buggy lock walk (range = obj_offset 0x1000): locked [${buggy.locked.join(', ')}]; missingLocks of the real walk: [${buggy.missing.join(', ')}]`,
    )
    s.note(`the real sm_unmap would unlink b's mapping without b's reservation held`)
    const { exec: good, ...fixed } = lockSet(op.range)
    s.step(`fixed (range = 0x20000): locked [${fixed.locked.join(', ')}]; missingLocks: [${fixed.missing.join(', ')}]`)
    const steps = vm.smUnmapOps(op.iova, op.range).counts()
    good.fini()
    s.step(
      `under the fixed lock set the unmap's ${steps.unmap} UNMAP step(s) may run: every object they unlink is locked`,
    )
    return s.result(lockSetMismatch, { buggy, fixed, unmapSteps: steps.unmap })
  },
}

/** Every scenario by name, in listing order. */
export const scenarios: ReadonlyMap<string, Scenario> = new Map(
  [
    fbdevUnpinned,
    fbdevLocal,
    vmapPins,
    cursorFrag,
    deferredLeakScenario,
    evictValidate,
    lockSetMismatch,
    // Time for TTM moves (issue 16).
    pipelinedEviction,
    // dmem (issue 16)
    dmemContention,
    swapStorm,
    cpuVisibleVram,
  ].map((s) => [s.name, s]),
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
