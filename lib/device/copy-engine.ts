/**
 * Time for TTM moves (issue 16), the public side: the copy engine's options
 * (bandwidth per domain pair, latency per hop), timed `validate` with
 * `noWaitGpu`, the copy jobs as a timeline, the destroys that wait for their
 * fences, and `ttm_bo_wait_ctx`. The rules live in the engines
 * (native/core/src/device/copy.rs, lib/reference/device/copy.ts).
 */
import type { Device } from './device.js'
import type { GemObject } from './gem.js'
import { DOMAINS, USAGES, type UsageName } from '../contract/device.js'
import { flag, oneOf, options, u64 } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import { Fence, type Op, usageIndex } from './resv.js'
import { drained } from './brand.js'
import type { PlaceDomain, ValidateResult } from './placement.js'

/** A copy direction, `from->to`. */
export type CopyPair = 'system->gtt' | 'system->vram' | 'gtt->system' | 'gtt->vram' | 'vram->system' | 'vram->gtt'

export const COPY_PAIRS: readonly CopyPair[] = [
  'system->gtt',
  'system->vram',
  'gtt->system',
  'gtt->vram',
  'vram->system',
  'vram->gtt',
]

/**
 * The copy engine: bytes per second per direction and a start-up latency per
 * hop (ns). Defaults: 16 GB/s to and from VRAM (PCIe 4.0 x16), 10 GB/s
 * between GTT and SYSTEM (a CPU copy), 5000 ns per hop.
 */
export interface CopyOptions {
  bandwidth?: Partial<Record<CopyPair, bigint>>
  latency?: bigint
}

export const COPY_DEFAULTS: { readonly bandwidth: Readonly<Record<CopyPair, bigint>>; readonly latency: bigint } =
  Object.freeze({
    bandwidth: Object.freeze({
      'system->gtt': 10_000_000_000n,
      'system->vram': 16_000_000_000n,
      'gtt->system': 10_000_000_000n,
      'gtt->vram': 16_000_000_000n,
      'vram->system': 16_000_000_000n,
      'vram->gtt': 16_000_000_000n,
    }),
    latency: 5_000n,
  })

/** Packs copy options for the engines: 9 bandwidths `(from-1)*3 + (to-1)` and the latency. */
export function copyConfig(value: unknown): { bandwidth: bigint[]; latency: bigint } {
  const o = options<CopyOptions>(value, 'copy')
  const bw = options<Record<CopyPair, bigint>>(o.bandwidth, 'copy.bandwidth', true)
  for (const k of Object.keys(bw)) oneOf(k, COPY_PAIRS, 'copy.bandwidth key')
  const out: bigint[] = Array(9).fill(0n)
  for (const pair of COPY_PAIRS) {
    const v = bw[pair] === undefined ? COPY_DEFAULTS.bandwidth[pair] : u64(bw[pair], `copy.bandwidth['${pair}']`)
    if (v === 0n) throw new DrmError('EINVAL', `copy.bandwidth['${pair}'] must be above 0`)
    const [from, to] = pair.split('->').map((d) => DOMAINS.indexOf(d as PlaceDomain))
    out[(from - 1) * 3 + (to - 1)] = v
  }
  return { bandwidth: out, latency: o.latency === undefined ? COPY_DEFAULTS.latency : u64(o.latency, 'copy.latency') }
}

export interface ValidateOptions {
  /** `ttm_operation_ctx.no_wait_gpu`: EBUSY instead of waiting for a busy buffer, victim or domain. */
  noWaitGpu?: boolean
}

/** What absent validate options read as (`options` would make a new `{}` on every validate). */
const NO_OPTIONS: Partial<ValidateOptions> = Object.freeze({})

/** Timed `validate`: the base result, plus (with a copy engine) the fence to wait for before CPU access. */
export function timedValidate(dev: Device, id: number, places: number[], opts: unknown): ValidateResult {
  const o = opts === undefined ? NO_OPTIONS : options<ValidateOptions>(opts, 'validate options', true)
  const noWait = flag(o.noWaitGpu, 'noWaitGpu')
  // Without a copy engine moves are instant and noWaitGpu has no move to wait
  // for: the engines' plain validate is the same call, on its fast path.
  if (dev.copy === null) {
    // dev.run(() => core.validate(...)) without the closure (brand.ts `drained`).
    try {
      return dev.core.validate(dev.thread, id, places)
    } finally {
      drained(dev)
    }
  }
  const r = dev.run(() => dev.core.validateTimed(dev.thread, id, places, noWait))
  const base: ValidateResult = { moved: r.moved, bytesMoved: r.bytesMoved, evictions: r.evictions }
  return { ...base, fence: r.fence === 0 ? null : new Fence(dev, r.fence), fenceEnd: r.fenceEnd }
}

/** One job of the copy engine. */
export interface CopyJob {
  fence: Fence
  /** GEM object id. */
  object: number
  from: PlaceDomain
  to: PlaceDomain
  bytes: bigint
  /** An eviction (a victim's move) rather than the validated buffer's own. */
  evicted: boolean
  submitted: bigint
  duration: bigint
  /** null until the fences it waits for have known times. */
  start: bigint | null
  end: bigint | null
  waitsFor: Fence[]
}

export function copyJobs(dev: Device): CopyJob[] {
  return dev
    .run(() => dev.core.copyJobs())
    .map((j) => ({
      fence: new Fence(dev, j.fence),
      object: j.object,
      from: DOMAINS[j.from] as PlaceDomain,
      to: DOMAINS[j.to] as PlaceDomain,
      bytes: j.bytes,
      evicted: j.evicted,
      submitted: j.submitted,
      duration: j.duration,
      start: j.start,
      end: j.end,
      waitsFor: j.deps.map((f) => new Fence(dev, f)),
    }))
}

/** A destroyed buffer whose range waits for its fences (`ttm_bo_delayed_delete`). */
export interface PendingDestroy {
  object: number
  domain: PlaceDomain
  size: bigint
  fences: Fence[]
  /** When its last fence signals, if known. */
  until: bigint | null
}

export function pendingDestroy(dev: Device): PendingDestroy[] {
  return dev
    .run(() => dev.core.pendingDestroy())
    .map((p) => ({
      object: p.id,
      domain: DOMAINS[p.domain] as PlaceDomain,
      size: p.size,
      fences: p.fences.map((f) => new Fence(dev, f)),
      until: p.until,
    }))
}

/** One line per copy job: `[start, end) fence object from->to bytes (evicted) waits for ...`. */
export function copyTimeline(jobs: readonly CopyJob[]): string[] {
  const t = (v: bigint | null) => (v === null ? '?' : `${v}`)
  return jobs.map((j) => {
    const deps = j.waitsFor.length === 0 ? '' : ` after fence ${j.waitsFor.map((f) => f.id).join(', ')}`
    const kind = j.evicted ? 'evict' : 'move'
    return `[${t(j.start)}, ${t(j.end)}) ns  fence ${j.fence.id}  ${kind} #${j.object} ${j.from}->${j.to} ${j.bytes} B${deps}`
  })
}

export interface WaitIdleOptions {
  /** Fences at or below this usage (default 'bookkeep': all; 'kernel': moves only). */
  usage?: UsageName
  /** EBUSY at once when busy (`no_wait_gpu`). */
  noWait?: boolean
  /** A signal delivered to the waiting thread ends the wait with ERESTARTSYS. */
  interruptible?: boolean
}

/**
 * `ttm_bo_wait_ctx`: waits until `obj`'s fences at or below `usage` signal.
 * CPU access after a move waits for the move fence this way.
 */
export function* waitIdleOp(obj: GemObject, opts: WaitIdleOptions = {}): Op<void> {
  const o = options<WaitIdleOptions>(opts, 'waitIdle options')
  const usage = o.usage === undefined ? 'bookkeep' : oneOf(o.usage, USAGES, 'usage')
  const noWait = flag(o.noWait, 'noWait')
  const interruptible = flag(o.interruptible, 'interruptible')
  const resv = obj.resv
  usageIndex(usage)
  if (resv.testSignaled(usage)) return
  if (noWait) throw new DrmError('EBUSY', `GEM object ${obj.id} is busy (${usage} fences unsignaled)`)
  yield* resv.waitOp(usage, { interruptible })
}
