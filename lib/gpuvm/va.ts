import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from './gpuvm.js'

/** Set by `mintVa` for the one constructor call it makes; a caller's own `new Va(...)` is refused. */
let minting = false

/**
 * A GPU VA mapping (`struct drm_gpuva`) of one VA space. Its address, range,
 * object and offset never change: a remap replaces a mapping by new ones.
 * Handles are made by their VA space alone and are frozen, so what a VA space
 * is handed back is what it handed out.
 */
export class Va {
  /** Orders mappings that start at the same address; 0 for the kernel-reserved node. */
  readonly seq: number
  /** Proves a value is a real handle: a Proxy or a look-alike has no private fields. */
  readonly #minted = true

  /** @internal Handles come from their VA space; calling this yourself is EINVAL. */
  constructor(
    readonly vm: GpuVm,
    readonly addr: bigint,
    readonly range: bigint,
    readonly obj: GemObject | null,
    readonly offset: bigint,
    seq: number,
  ) {
    if (!minting) throw new DrmError('EINVAL', 'Va handles are made by their VA space (GpuVm), not constructed')
    minting = false
    this.seq = seq
    Object.freeze(this)
  }

  /** Whether `value` is a real `Va` (not a Proxy, a look-alike or a subclass made by hand). */
  static isVa(value: unknown): value is Va {
    return typeof value === 'object' && value !== null && #minted in value
  }

  get end(): bigint {
    return this.addr + this.range
  }

  get isKernelNode(): boolean {
    return this.seq === 0
  }

  /** Still in its VA space? */
  get live(): boolean {
    return this.vm.contains(this)
  }

  /** `drm_gpuva_invalidated`: the backing object moved since the mapping was made valid. */
  get invalidated(): boolean {
    return this.vm.isInvalidated(this)
  }

  toString(): string {
    const obj = this.obj ? `obj ${this.obj.id} +0x${this.offset.toString(16)}` : 'no object'
    return `Va[0x${this.addr.toString(16)}, +0x${this.range.toString(16)}) ${obj}`
  }
}

/** @internal The one way to make a `Va`: used by `GpuVm` and the op codec. */
export function mintVa(vm: GpuVm, addr: bigint, range: bigint, obj: GemObject | null, offset: bigint, seq: number): Va {
  minting = true
  return new Va(vm, addr, range, obj, offset, seq)
}
