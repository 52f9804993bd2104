/**
 * `RangeAllocator`: the kernel's `drm_mm` range allocator, on either engine.
 *
 * Nodes are `MmNode` handles; a handle stays valid until its node is removed.
 * Every failure is a DrmError with the kernel's errno (ENOSPC when nothing
 * fits, EINVAL for bad arguments, EBUSY while a scan holds the allocator) and
 * leaves the allocator unchanged.
 */

import { INSERT_MODES, type InsertMode, type MmCore } from './alloc-engine.js'
import type { EngineName } from './engine.js'
import { resolveEngine } from './engines.js'
import { DrmError } from './errors.js'
import { NativeMmCore } from './native/alloc.js'
import { ReferenceMm } from './reference/mm.js'
import { U64_MAX, describe, hex, u64 } from './u64.js'

export type { InsertMode } from './alloc-engine.js'

export interface RangeAllocatorOptions {
  /** First address managed; 0 by default. */
  start?: bigint
  /** Bytes managed; `start + size` must not pass 2^64 - 1. */
  size: bigint
  engine?: EngineName
}

/** `[start, end)`; the whole u64 space by default, as `insert_node` uses. */
export interface AddressRange {
  start: bigint
  end: bigint
}

export interface InsertRequest {
  size: bigint
  /** 0 or 1 for none; need not be a power of two. */
  alignment?: bigint
  /** An opaque tag stored on the node (no color adjustment is modelled). */
  color?: bigint
  range?: AddressRange
  /** 'best' by default. */
  mode?: InsertMode
}

export interface ReserveRequest {
  start: bigint
  size: bigint
  color?: bigint
}

export interface ScanRequest {
  size: bigint
  alignment?: bigint
  range?: AddressRange
  /** Where the node will go afterwards: 'low' (bottom of the hole, default), 'best' (same) or 'high' (top). */
  mode?: Exclude<InsertMode, 'evict'>
}

export interface Hole {
  start: bigint
  size: bigint
}

export interface MmStats {
  used: bigint
  free: bigint
  largestHole: bigint
  nodes: number
  holes: number
  /** `1 - largestHole / free`; 0 when nothing is free. */
  fragmentation: number
}

/** An allocated range of a `RangeAllocator`. */
export class MmNode {
  readonly #owner: RangeAllocator

  constructor(
    owner: RangeAllocator,
    readonly start: bigint,
    readonly size: bigint,
    readonly color: bigint,
  ) {
    this.#owner = owner
  }

  get end(): bigint {
    return this.start + this.size
  }

  /** False once removed. */
  get allocated(): boolean {
    return this.#owner.nodeAt(this.start) === this
  }

  toString(): string {
    return `MmNode(${hex(this.start)}+${hex(this.size)})`
  }
}

function mode(value: unknown, allowEvict: boolean): InsertMode {
  if (value === undefined) return allowEvict ? 'best' : 'low'
  const ok = INSERT_MODES.includes(value as InsertMode) && (allowEvict || value !== 'evict')
  if (!ok) {
    const names = allowEvict ? "'best', 'low', 'high' or 'evict'" : "'best', 'low' or 'high'"
    throw new DrmError('EINVAL', `mode must be ${names}, not ${describe(value)}`)
  }
  return value as InsertMode
}

function range(r: AddressRange | undefined): [bigint, bigint] {
  if (r === undefined) return [0n, U64_MAX]
  return [u64(r.start, 'range.start'), u64(r.end, 'range.end')]
}

export class RangeAllocator {
  readonly engine: EngineName
  readonly start: bigint
  readonly size: bigint
  readonly #core: MmCore
  readonly #live = new Map<bigint, MmNode>()
  #scanGen = 0

  constructor(options: RangeAllocatorOptions) {
    this.engine = resolveEngine(options.engine)
    this.start = u64(options.start ?? 0n, 'start')
    this.size = u64(options.size, 'size')
    this.#core =
      this.engine === 'native' ? new NativeMmCore(this.start, this.size) : new ReferenceMm(this.start, this.size)
  }

  #track(start: bigint, size: bigint, color: bigint): MmNode {
    const node = new MmNode(this, start, size, color)
    this.#live.set(start, node)
    return node
  }

  /** `drm_mm_insert_node_in_range`. */
  insert(req: InsertRequest): MmNode {
    const size = u64(req.size, 'size')
    const alignment = u64(req.alignment ?? 0n, 'alignment')
    const color = u64(req.color ?? 0n, 'color')
    const [rs, re] = range(req.range)
    const start = this.#core.insert(size, alignment, color, rs, re, mode(req.mode, true))
    return this.#track(start, size, color)
  }

  /** `drm_mm_reserve_node`: exactly `[start, start + size)`, or ENOSPC. */
  reserve(req: ReserveRequest): MmNode {
    const start = u64(req.start, 'start')
    const size = u64(req.size, 'size')
    const color = u64(req.color ?? 0n, 'color')
    this.#core.reserve(start, size, color)
    return this.#track(start, size, color)
  }

  #own(node: unknown): MmNode {
    if (!(node instanceof MmNode) || this.#live.get(node.start) !== node) {
      throw new DrmError('EINVAL', `${describe(node)} is not a node allocated in this range allocator`)
    }
    return node
  }

  /** `drm_mm_remove_node`. */
  remove(node: MmNode): void {
    const n = this.#own(node)
    this.#core.remove(n.start)
    this.#live.delete(n.start)
  }

  nodeAt(start: bigint): MmNode | undefined {
    return this.#live.get(start)
  }

  /** Allocated nodes in address order. */
  nodes(): MmNode[] {
    return this.#core.nodes().map((r) => this.#live.get(r.start)!)
  }

  /** Holes in address order. */
  holes(): Hole[] {
    return this.#core.holes()
  }

  stats(): MmStats {
    const s = this.#core.stats()
    const fragmentation = s.free === 0n ? 0 : 1 - Number(s.largestHole) / Number(s.free)
    return { ...s, fragmentation }
  }

  /**
   * `drm_mm_scan_init_with_range`: starts an eviction scan (replacing an
   * earlier, finished one). Until every added node is removed again the
   * allocator refuses insert, reserve and remove with EBUSY.
   */
  scan(req: ScanRequest): MmScan {
    const size = u64(req.size, 'size')
    const alignment = u64(req.alignment ?? 0n, 'alignment')
    const [rs, re] = range(req.range)
    this.#core.scanInit(size, alignment, rs, re, mode(req.mode, false))
    const gen = ++this.#scanGen
    const current = (): MmCore => {
      if (gen !== this.#scanGen) throw new DrmError('EINVAL', 'this scan was replaced by a newer one')
      return this.#core
    }
    return new MmScan({
      add: (n) => current().scanAdd(this.#own(n).start),
      remove: (n) => current().scanRemove(this.#own(n).start),
      hit: () => current().scanHit(),
      run: (ns) => {
        const core = current()
        const r = core.scanRun(ns.map((n) => this.#own(n).start))
        return { found: r.found, evict: r.evict.map((s) => this.#live.get(s)!) }
      },
    })
  }
}

interface ScanOps {
  add(node: MmNode): boolean
  remove(node: MmNode): boolean
  hit(): { start: bigint; end: bigint } | null
  run(nodes: MmNode[]): { found: boolean; evict: MmNode[] }
}

/**
 * An eviction scan (`drm_mm_scan`). Add candidates (least recently used
 * first) until `add` returns true, then `remove` each of them in exactly the
 * reverse order; those for which it returns true must be evicted, after which
 * an insert with mode 'evict' lands in the hole found. `run` does a whole
 * round in one call.
 */
export class MmScan {
  readonly #ops: ScanOps

  constructor(ops: ScanOps) {
    this.#ops = ops
  }

  /** `drm_mm_scan_add_block`: true once a suitable hole would exist. */
  add(node: MmNode): boolean {
    return this.#ops.add(node)
  }

  /** `drm_mm_scan_remove_block`, in reverse adding order: true if the node must be evicted. */
  remove(node: MmNode): boolean {
    return this.#ops.remove(node)
  }

  /** The hole found last, `[start, end)`, or null. */
  get hit(): { start: bigint; end: bigint } | null {
    return this.#ops.hit()
  }

  /** Adds candidates until a hole fits, removes them in reverse; returns the nodes to evict. */
  run(candidates: MmNode[]): { found: boolean; evict: MmNode[] } {
    return this.#ops.run(candidates)
  }
}
