/**
 * Mirrors native/core/src/gpuvm/undo.rs (atomic bind arrays: every request checked, then applied; on a failure
 * the VA space put back as it was).
 *
 * The state before the array is saved only when a request could fail after
 * the checks: an injected failure in range, vm_bo ids running out (the
 * reference counts no insertion numbers), a drm_gpuvm whose creator let go
 * (torn down with its last mapping, the next request finds it gone), or a
 * zero-length mapping or request. The reference saves the whole state (it
 * is written for obvious correctness); the native engine saves only what
 * the array can touch (undo.rs); the property tests check that both put
 * back the same VA space. Then a failure puts it back:
 * the same nodes (the same objects, with their seq, flags and list links),
 * the same lists, the same hub. Warnings recorded meanwhile stay.
 */
import type { OpCounts, VaRecord } from '../../contract/vm.js'
import { hex } from '../../base/check.js'
import { isU32, VA_FLAGS_MAX } from './options.js'
import { KERNEL_SEQ, record, type VaTree } from './tree.js'
import { BATCH_MAP, BATCH_WORDS } from '../../contract/vm.js'
import { DrmBatchError, DrmError } from '../../base/errors.js'

/** The errno of an injected failure (`INJECTED_ERRNO` in undo.rs): Xe's bind error injection gives -ENOSPC. */
export const INJECTED_ERRNO = 'ENOSPC'

/** What an array needs of the VA space (vm.ts). */
export interface ArraySpace {
  /** The checks `bind` / `unbind` make before they change anything. */
  check(addr: bigint, range: bigint): void
  bind(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts
  unbind(addr: bigint, range: bigint): OpCounts
  /**
   * Whether checked requests of these ranges cannot fail: enough vm_bo ids;
   * a creator reference left (no teardown on the way); no zero-length
   * mapping or request (a walk next to a zero-length mapping can make a step
   * that does not fit).
   */
  cannotFail(ranges: readonly bigint[]): boolean
  /** Saves the whole state; the closure puts it back (keeping the warnings). */
  save(): () => void
}

interface Request {
  unmap: boolean
  addr: bigint
  range: bigint
  obj: number
  offset: bigint
}

/** The requests of packed words (the kinds were checked by the caller as `bindBatch`'s are). */
function requests(words: BigUint64Array): Request[] {
  const out: Request[] = []
  for (let i = 0; i < words.length / BATCH_WORDS; i++) {
    const [head, addr, range, offset] = words.subarray(i * BATCH_WORDS, (i + 1) * BATCH_WORDS)
    out.push({ unmap: Number(head & 0xffff_ffffn) !== BATCH_MAP, addr, range, obj: Number(head >> 32n), offset })
  }
  return out
}

/** `bindArray` of the contract (lib/contract/vm.ts); `failAt` -1 for none. */
export function bindArray(
  space: ArraySpace,
  words: BigUint64Array,
  perRequest: Uint32Array | null,
  failAt: number,
): OpCounts {
  const reqs = requests(words)
  const none = (): OpCounts => ({ map: 0, remap: 0, unmap: 0, prefetch: 0 })
  for (const [i, r] of reqs.entries()) {
    try {
      space.check(r.addr, r.range)
    } catch (e) {
      if (e instanceof DrmError) throw new DrmBatchError(e, i, none(), { unwound: false })
      throw e
    }
  }
  const injected = failAt >= 0 && failAt < reqs.length ? failAt : -1
  const restore = injected >= 0 || !space.cannotFail(reqs.map((r) => r.range)) ? space.save() : undefined
  const total = none()
  for (const [i, r] of reqs.entries()) {
    let counts: OpCounts
    try {
      if (i === injected) {
        throw new DrmError(INJECTED_ERRNO, `injected failure of request ${i} (bind error injection)`)
      }
      counts = r.unmap ? space.unbind(r.addr, r.range) : space.bind(r.addr, r.range, r.obj, r.offset)
    } catch (e) {
      if (!(e instanceof DrmError)) throw e
      restore?.()
      throw new DrmBatchError(e, i, none(), { unwound: restore !== undefined })
    }
    total.map += counts.map
    total.remap += counts.remap
    total.unmap += counts.unmap
    perRequest?.set([counts.map, counts.remap, counts.unmap], 3 * i)
  }
  return total
}

/**
 * Puts a removed mapping back into `tree` with its own seq and flags,
 * unlinked (`reinsert`, the inverse of an unmap step for `undo`); the range
 * was checked by the caller. EINVAL for the kernel's seq, a seq never handed
 * out (`nextSeq` on) or in use, flags past 16 bits; EEXIST on an overlap.
 */
export function reinsertNode(tree: VaTree, va: VaRecord, nextSeq: number): VaRecord {
  if (va.seq === KERNEL_SEQ || va.seq >= nextSeq) {
    throw new DrmError('EINVAL', `seq ${va.seq} was never handed out to a mapping here`)
  }
  if (tree.get({ addr: va.addr, seq: va.seq }) !== undefined) {
    throw new DrmError('EINVAL', `the mapping ${hex(va.addr)} (#${va.seq}) is in the VA space`)
  }
  if (!isU32(va.flags) || va.flags > VA_FLAGS_MAX) {
    throw new DrmError('EINVAL', `flags must fit in 16 bits, got ${va.flags}`)
  }
  const other = tree.findFirst(va.addr, va.range)
  if (other !== undefined) {
    throw new DrmError(
      'EEXIST',
      `[${hex(va.addr)}, +${hex(va.range)}) overlaps the mapping [${hex(other.key.addr)}, +${hex(other.range)})`,
    )
  }
  const node = tree.place({ addr: va.addr, seq: va.seq }, va.range, va.obj, va.offset)
  node.flags = va.flags
  return record(node)
}
