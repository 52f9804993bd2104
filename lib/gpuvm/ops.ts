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

export type Op = MapOp | RemapOp | UnmapOp | PrefetchOp

export type { OpCounts }

/** An ordered list of steps (`struct drm_gpuva_ops`). */
export class OpList implements Iterable<Op> {
  readonly #ops: readonly Op[]

  constructor(ops: readonly Op[]) {
    this.#ops = ops
  }

  get length(): number {
    return this.#ops.length
  }

  at(index: number): Op | undefined {
    return this.#ops.at(index)
  }

  [Symbol.iterator](): Iterator<Op> {
    return this.#ops[Symbol.iterator]()
  }

  /** Last to first, as a driver unwinds a partly applied list. */
  *reversed(): IterableIterator<Op> {
    for (let i = this.#ops.length - 1; i >= 0; i--) yield this.#ops[i]
  }

  /** The steps of one kind, typed. */
  *ofKind<K extends Op['kind']>(kind: K): IterableIterator<Extract<Op, { kind: K }>> {
    for (const op of this.#ops) if (op.kind === kind) yield op as Extract<Op, { kind: K }>
  }

  counts(): OpCounts {
    const c: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
    for (const op of this.#ops) c[op.kind]++
    return c
  }

  toArray(): Op[] {
    return [...this.#ops]
  }
}
