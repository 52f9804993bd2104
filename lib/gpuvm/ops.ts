/**
 * The steps of the split/merge engine (the kernel's `struct drm_gpuva_op`),
 * as a discriminated union, and op lists that iterate like the kernel's
 * `drm_gpuva_for_each_op` (and in reverse, for unwinding).
 */
import type { GemObject } from '../device/gem.js'
import type { OpCounts } from '../contract/vm.js'
import type { Va } from './va.js'

/** A mapping to create: the request itself, or a piece a remap keeps. */
export interface OpMap {
  readonly addr: bigint
  readonly range: bigint
  readonly obj: GemObject | null
  readonly offset: bigint
}

/**
 * A mapping to take down. `keep` says the new mapping continues it physically
 * (same object, consistent offset), so page tables may stay.
 */
export interface OpUnmap {
  readonly va: Va
  readonly keep: boolean
}

export interface MapOp {
  readonly kind: 'map'
  readonly map: OpMap
}

/** A mapping split by a request: it goes, the pieces outside the request come back. */
export interface RemapOp {
  readonly kind: 'remap'
  readonly prev: OpMap | null
  readonly next: OpMap | null
  readonly unmap: OpUnmap
}

export interface UnmapOp extends OpUnmap {
  readonly kind: 'unmap'
}

export interface PrefetchOp {
  readonly kind: 'prefetch'
  readonly va: Va
}

/**
 * A driver's own step (`DRM_GPUVA_OP_DRIVER`): drmsim never makes one and a
 * VA space never applies one; drivers put them in their own op lists (Xe
 * does, for SVM ranges) next to the ones the VA space made.
 */
export interface DriverOp {
  readonly kind: 'driver'
  readonly data?: unknown
}

/** The steps a VA space makes and applies. */
export type Op = MapOp | RemapOp | UnmapOp | PrefetchOp

/** What a driver's own op list may hold: the VA space's steps and its own. */
export type AnyOp = Op | DriverOp

/**
 * `drm_gpuva_op_remap_to_unmap_range`: the hole a remap leaves, from the end
 * of the kept head (or the old mapping's start) to the start of the kept
 * tail (or its end).
 */
export function remapToUnmapRange(op: RemapOp): { addr: bigint; range: bigint } {
  const va = op.unmap.va
  const start = op.prev ? op.prev.addr + op.prev.range : va.addr
  const end = op.next ? op.next.addr : va.addr + va.range
  return { addr: start, range: end - start }
}

export type { OpCounts }

/** An ordered list of steps (`struct drm_gpuva_ops`). */
/** `T`: `Op` for the lists a VA space makes; `AnyOp` for a driver's own, with driver ops in it. */
export class OpList<T extends AnyOp = Op> implements Iterable<T> {
  readonly #ops: readonly T[]

  constructor(ops: readonly T[]) {
    this.#ops = ops
  }

  get length(): number {
    return this.#ops.length
  }

  at(index: number): T | undefined {
    return this.#ops.at(index)
  }

  [Symbol.iterator](): Iterator<T> {
    return this.#ops[Symbol.iterator]()
  }

  /** Last to first, as a driver unwinds a partly applied list. */
  *reversed(): IterableIterator<T> {
    for (let i = this.#ops.length - 1; i >= 0; i--) yield this.#ops[i]
  }

  /** The steps of one kind, typed. */
  *ofKind<K extends T['kind']>(kind: K): IterableIterator<Extract<T, { kind: K }>> {
    for (const op of this.#ops) if (op.kind === kind) yield op as Extract<T, { kind: K }>
  }

  /** Steps of each kind the VA space makes (driver ops are not counted). */
  counts(): OpCounts {
    const c: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
    for (const op of this.#ops) if (op.kind !== 'driver') c[op.kind]++
    return c
  }

  toArray(): T[] {
    return [...this.#ops]
  }
}
