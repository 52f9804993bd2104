/**
 * `RangeAllocator`: the kernel's `drm_mm` range allocator, on either engine.
 *
 * Nodes are `MmNode` handles; a handle stays valid until its node is removed.
 * Every failure is a DrmError with the kernel's errno (ENOSPC when nothing
 * fits, EINVAL for bad arguments, EBUSY while a scan holds the allocator) and
 * leaves the allocator unchanged.
 */

import {
  INSERT_MODES,
  type ColorAdjustFn,
  type ColorAdjustRecord,
  type InsertMode,
  type MmCore,
} from '../contract/alloc.js'
import type { EngineName } from '../contract/vm.js'
import { engineOf, resolveEngine } from '../engines.js'
import { DrmError } from '../base/errors.js'
import { U64_MAX, func, hex, invalid, isObject, list, oneOf, options, u64, u64Or } from '../base/check.js'

export type { ColorAdjustFn, ColorNeighbour, InsertMode } from '../contract/alloc.js'

/**
 * The kernel's `mm->color_adjust`. `{ guard }` (both engines): keep `guard`
 * bytes free between two allocated nodes of different colours (not at the
 * range's edges), as i915 keeps a guard page between cache levels. A
 * function (reference engine only, since the native engine would cross into
 * JavaScript once per hole tested): called with the hole's neighbours (null
 * at the range's edges), the colour to place and the hole `[start, end)`, it
 * returns the usable part.
 */
export type ColorAdjust = { guard: bigint } | ColorAdjustFn

export interface RangeAllocatorOptions {
  /** First address managed; 0 by default. */
  start?: bigint
  /** Bytes managed; `start + size` must not pass 2^64 - 1. */
  size: bigint
  /** Colour adjustment of holes; none by default (colours are then only tags). */
  colorAdjust?: ColorAdjust
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
  /** The node's colour (`drm_mm_node.color`), 0 by default; the allocator's colorAdjust applies. */
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

export interface ReplaceOptions {
  /** The new node's colour; the old node's by default (the kernel copies it). */
  color?: bigint
}

export interface ScanRequest {
  size: bigint
  alignment?: bigint
  /** The colour of the node to insert afterwards; the scan counts the colour adjustment. */
  color?: bigint
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

/** Brand checks a Proxy fails (set in the classes' static blocks). */
let isAllocator: (v: unknown) => v is RangeAllocator
let isNode: (v: unknown) => v is MmNode

/** An allocated range of a `RangeAllocator` (made by its `insert` and `reserve`). */
export class MmNode {
  readonly #owner: RangeAllocator
  readonly start: bigint
  readonly size: bigint
  readonly color: bigint

  static {
    isNode = (v): v is MmNode => isObject(v) && #owner in v
  }

  constructor(owner: RangeAllocator, start: bigint, size: bigint, color: bigint) {
    if (!isAllocator(owner)) throw invalid('owner', 'a RangeAllocator', owner)
    this.#owner = owner
    this.start = u64(start, 'start')
    this.size = u64(size, 'size')
    this.color = u64(color, 'color')
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

const SCAN_MODES: readonly InsertMode[] = INSERT_MODES.filter((m) => m !== 'evict')

function mode(value: unknown, allowEvict: boolean): InsertMode {
  if (value === undefined) return allowEvict ? 'best' : 'low'
  return oneOf(value, allowEvict ? INSERT_MODES : SCAN_MODES, 'mode')
}

function colorAdjust(v: unknown): ColorAdjustRecord | undefined {
  if (v === undefined) return undefined
  if (typeof v === 'function') return { hook: v as ColorAdjustFn }
  const o = options<{ guard: bigint }>(v, 'colorAdjust')
  return { guard: u64(o.guard, 'colorAdjust.guard') }
}

function range(r: unknown): [bigint, bigint] {
  if (r === undefined) return [0n, U64_MAX]
  const o = options<AddressRange>(r, 'range')
  return [u64(o.start, 'range.start'), u64(o.end, 'range.end')]
}

export class RangeAllocator {
  readonly engine: EngineName
  readonly start: bigint
  readonly size: bigint
  readonly #core: MmCore
  readonly #live = new Map<bigint, MmNode>()
  #scanGen = 0

  static {
    isAllocator = (v): v is RangeAllocator => isObject(v) && #live in v
  }

  constructor(opts: RangeAllocatorOptions) {
    const o = options<RangeAllocatorOptions>(opts, 'RangeAllocator options')
    this.start = u64Or(o.start, 'start', 0n)
    this.size = u64(o.size, 'size')
    this.engine = resolveEngine(o.engine)
    this.#core = engineOf(this.engine).mm(this.start, this.size, colorAdjust(o.colorAdjust))
  }

  #track(start: bigint, size: bigint, color: bigint): MmNode {
    const node = new MmNode(this, start, size, color)
    this.#live.set(start, node)
    return node
  }

  /** `drm_mm_insert_node_in_range`. */
  insert(req: InsertRequest): MmNode {
    const r = options<InsertRequest>(req, 'insert request')
    const size = u64(r.size, 'size')
    const alignment = u64Or(r.alignment, 'alignment', 0n)
    const color = u64Or(r.color, 'color', 0n)
    const [rs, re] = range(r.range)
    const start = this.#core.insert(size, alignment, color, rs, re, mode(r.mode, true))
    return this.#track(start, size, color)
  }

  /** `drm_mm_reserve_node`: exactly `[start, start + size)`, or ENOSPC. */
  reserve(req: ReserveRequest): MmNode {
    const r = options<ReserveRequest>(req, 'reserve request')
    const start = u64(r.start, 'start')
    const size = u64(r.size, 'size')
    const color = u64Or(r.color, 'color', 0n)
    this.#core.reserve(start, size, color)
    return this.#track(start, size, color)
  }

  #own(node: unknown): MmNode {
    if (!isNode(node) || this.#live.get(node.start) !== node)
      throw invalid('node', 'a node allocated in this range allocator', node)
    return node
  }

  /** `drm_mm_remove_node`. */
  remove(node: MmNode): void {
    const n = this.#own(node)
    this.#core.remove(n.start)
    this.#live.delete(n.start)
  }

  /**
   * `drm_mm_replace_node`: a new node takes `old`'s place (same range), and
   * `old` is no longer allocated. A new colour must respect the colour
   * adjustment there (ENOSPC otherwise, nothing changed).
   */
  replace(old: MmNode, opts?: ReplaceOptions): MmNode {
    const n = this.#own(old)
    const o = opts === undefined ? {} : options<ReplaceOptions>(opts, 'replace options')
    const color = u64Or(o.color, 'color', n.color)
    this.#core.replace(n.start, color)
    return this.#track(n.start, n.size, color)
  }

  nodeAt(start: bigint): MmNode | undefined {
    return this.#live.get(u64(start, 'start'))
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
    const r = options<ScanRequest>(req, 'scan request')
    const size = u64(r.size, 'size')
    const alignment = u64Or(r.alignment, 'alignment', 0n)
    const color = u64Or(r.color, 'color', 0n)
    const [rs, re] = range(r.range)
    this.#core.scanInit(size, alignment, color, rs, re, mode(r.mode, false))
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
        const r = core.scanRun(list(ns, 'candidates').map((n) => this.#own(n).start))
        return { found: r.found, evict: r.evict.map((s) => this.#live.get(s)!) }
      },
      colorEvict: () => {
        const s = current().scanColorEvict()
        return s === null ? null : this.#live.get(s)!
      },
    })
  }
}

interface ScanOps {
  add(node: MmNode): boolean
  remove(node: MmNode): boolean
  hit(): { start: bigint; end: bigint } | null
  run(nodes: MmNode[]): { found: boolean; evict: MmNode[] }
  colorEvict(): MmNode | null
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
    const o = options<ScanOps>(ops, 'scan ops')
    for (const k of ['add', 'remove', 'hit', 'run', 'colorEvict'] as const) func(o[k], `scan ops.${k}`)
    this.#ops = o as ScanOps
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

  /**
   * `drm_mm_scan_color_evict`, once the victims are removed: a neighbour of
   * the hole found that must go as well because of the colour adjustment, or
   * null. Evict it and call again until null. EBUSY while nodes are added.
   */
  colorEvict(): MmNode | null {
    return this.#ops.colorEvict()
  }
}
