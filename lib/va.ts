import type { GemObject } from './gem.js'
import type { GpuVm } from './gpuvm.js'

/**
 * A GPU VA mapping (`struct drm_gpuva`) of one VA space. Its address, range,
 * object and offset never change: a remap replaces a mapping by new ones.
 */
export class Va {
  /** Orders mappings that start at the same address; 0 for the kernel-reserved node. */
  readonly seq: number

  /** @internal Built by GpuVm from engine records. */
  constructor(
    readonly vm: GpuVm,
    readonly addr: bigint,
    readonly range: bigint,
    readonly obj: GemObject | null,
    readonly offset: bigint,
    seq: number,
  ) {
    this.seq = seq
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
