// Shared by the bad-input specs (bad-input-*.spec.ts): the allocators and
// device the rows outside the VA space run against, the snapshot of
// everything a bad call could change, and the runner for a table of rows.
import { describe, expect, it } from 'vitest'
import {
  BuddyAllocator,
  type BuddyBlock,
  Device,
  type Errno,
  Exec,
  type Fence,
  type GemObject,
  GpuVm,
  type MmNode,
  RangeAllocator,
  type Request,
  Scheduler,
  type Va,
  type VmBo,
  type WwAcquireCtx,
} from '../lib/index.js'
import { errnoOf } from './errno.js'

/** A value passed where the types forbid it. */
export const bad = <T>(v: unknown) => v as T
/** One page. */
export const U = 0x1000n

/** Allocators and a device, for the rows outside the VA space. */
export interface DevWorld {
  engine: 'native' | 'reference'
  mm: RangeAllocator
  node: MmNode
  buddy: BuddyAllocator
  block: BuddyBlock
  dev: Device
  other: Device
  bo: GemObject
  vm: GpuVm
  ctx: WwAcquireCtx
  fence: Fence
  /** Inside its locking loop (its ticket taken). */
  exec: Exec
  /** A drm_gpuvm on `dev`, with one mapping of `hubObj` (its vm_bo `vmBo`). */
  hub: GpuVm
  hubObj: GemObject
  hubVa: Va
  vmBo: VmBo
}

export function devWorld(engine: 'native' | 'reference'): DevWorld {
  const mm = new RangeAllocator({ size: 1n << 20n, engine })
  const node = mm.insert({ size: U })
  const buddy = new BuddyAllocator({ size: 1n << 20n, engine })
  const [block] = buddy.alloc({ size: 2n * U })
  const dev = new Device({ engine, memory: { vram: 1n << 20n, gtt: 1n << 20n, system: 1n << 24n } })
  const bo = dev.createObject({ size: U })
  const vm = new GpuVm({ range: 1n << 32n, engine })
  const ctx = dev.acquireCtx()
  const fence = dev.createFence()
  const exec = new Exec(dev)
  exec.cleanup()
  const hub = new GpuVm({ range: 1n << 32n, device: dev })
  const hubObj = dev.createObject({ size: U })
  hub.bind({ addr: U, range: U, obj: hubObj })
  const hubVa = hub.find(U, U)!
  const [vmBo] = hub.vmBos()
  return {
    engine,
    mm,
    node,
    buddy,
    block,
    dev,
    other: new Device({ engine }),
    bo,
    vm,
    ctx,
    fence,
    exec,
    hub,
    hubObj,
    hubVa,
    vmBo,
  }
}

/**
 * Everything a bad call could have changed. The ids the next fence and resv
 * get show whether a call made one; taking them makes one of each, so `devSnapshot(w, 1)` after a call should equal `devSnapshot(w)` before it.
 */
export const devSnapshot = (w: DevWorld, taken = 0) =>
  JSON.stringify(
    {
      objects: w.dev.core.objects().length,
      mm: [w.mm.nodes().map(String), w.mm.holes()],
      buddy: [w.buddy.blocks().map(String), w.buddy.avail],
      dev: [
        w.dev.now,
        w.dev.thread,
        w.dev.violations.length,
        w.dev.memory('vram'),
        w.dev.memory('gtt'),
        w.dev.placementTotals,
      ],
      bo: [
        w.bo.domain,
        w.bo.refcount,
        w.bo.pinCount,
        w.bo.resv.isLocked,
        w.bo.resv.numFences,
        w.dev.evictPlacement(w.bo),
      ],
      ctx: [w.ctx.acquired, w.ctx.finished, w.exec.objects.length],
      hub: w.hub.destroyed
        ? 'destroyed'
        : [
            w.hub.refcount,
            w.hub.mappingCount,
            w.hub.vmBos().map((b) => [b.id, b.refcount, b.evicted, b.onExtobjList, b.onEvictList, b.zombie]),
            w.hub.deferList().length,
            w.hub.flagsOf(w.hubVa),
            w.hub.warnings.length,
          ],
      next: [w.dev.createFence().id, w.dev.createResv().id].map((id) => id - taken),
    },
    (_k, v) => (typeof v === 'bigint' ? `${v}n` : v),
  )

/** A row: what the call is, the errno it must fail with, and the call. */
export type DevCase = [name: string, errno: Errno, call: (w: DevWorld) => unknown]

/** An op that yields `req` once, and notes whether its finally block ran. */
export const yieldOnce = (req: unknown, closed: { done?: boolean } = {}) =>
  (function* () {
    try {
      yield req as Request
    } finally {
      closed.done = true
    }
  })()
export const builder = (w: DevWorld) => (seed: bigint) => new Scheduler(w.other, { seed })

/**
 * The rows of `cases` on both engines: each fails with its errno and leaves
 * the state as it was. `atLeast` guards the table's size (the per-area
 * minimums add up to the 130 rows the single table had): fewer rows fail the file.
 */
export function outsideVaSpace(cases: DevCase[], atLeast: number): void {
  if (cases.length < atLeast) throw new Error(`the table has ${cases.length} rows, fewer than ${atLeast}`)
  describe.each(['native', 'reference'] as const)('outside the VA space (%s engine)', (engine) => {
    it.each(cases)('%s → %s, state unchanged', (_name, errno, call) => {
      const w = devWorld(engine)
      const before = devSnapshot(w)
      expect(errnoOf(() => call(w))).toBe(errno)
      expect(devSnapshot(w, 1)).toBe(before)
    })
  })
}
