/**
 * The range rules of a reference VA space (`drm_gpuvm_range_valid` and the
 * overflow check), which depend on its span, its kernel-reserved node and its
 * era; the Rust core has them in gpuvm/mod.rs.
 */
import { ERA_NEXT, ERA_SEED, ERAS } from '../../contract/hub.js'
import { DrmError } from '../../base/errors.js'
import { hex } from '../../base/check.js'
import { MASK } from './tree.js'

export class VmRange {
  /** The reserved node as given at init: range checks use it even when it could not be inserted. */
  kernel: { addr: bigint; range: bigint } | undefined

  constructor(
    readonly start: bigint,
    readonly range: bigint,
    readonly era: number,
    readonly warnOverflow: (message: string) => void,
  ) {}

  /**
   * `drm_gpuva_check_overflow`: true, and a warning, when `addr + range` does
   * not fit in u64. From era 1 on only init warns (`warn` false elsewhere).
   */
  overflows(addr: bigint, range: bigint, warn = true): boolean {
    if (addr + range > MASK) {
      if (warn) this.warnOverflow(`GPUVA address limited to 8 bytes: ${hex(addr)} + ${hex(range)} overflows`)
      return true
    }
    return false
  }

  touchesKernel(addr: bigint, end: bigint): boolean {
    const k = this.kernel
    return k !== undefined && addr < ((k.addr + k.range) & MASK) && k.addr < end
  }

  valid(addr: bigint, range: bigint): boolean {
    if (this.overflows(addr, range, this.era === ERA_SEED)) return false
    if (range === 0n && this.era >= ERA_NEXT) return false
    const end = addr + range
    const inMm = addr >= this.start && end <= ((this.start + this.range) & MASK)
    return inMm && !this.touchesKernel(addr, end)
  }

  /** EINVAL unless the range is valid; the reason is worked out only on failure, as in Rust. */
  check(addr: bigint, range: bigint): void {
    if (this.valid(addr, range)) return
    const why =
      addr + range > MASK
        ? 'overflows u64'
        : range === 0n && this.era >= ERA_NEXT
          ? `is empty (refused from era ${ERA_NEXT}, ${ERAS[ERA_NEXT]})`
          : this.touchesKernel(addr, addr + range)
            ? 'touches the kernel-reserved node'
            : 'leaves the VA space'
    throw new DrmError('EINVAL', `range [${hex(addr)}, +${hex(range)}) ${why}`)
  }
}
