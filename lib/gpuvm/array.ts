/**
 * Atomic bind arrays and the undo helper, behind `GpuVm.bindArray` and
 * `GpuVm.undo` (their rules: array.md).
 *
 * - `bindArray` is Xe's VM_BIND with an array: the batch's requests all
 *   apply or none does. The engines check every request, apply them, and on
 *   a failure (or the injected one, `failAt`) put the VA space back exactly.
 * - `undo` takes the steps a caller applied (as `mapSteps`, `unmapSteps`,
 *   `smMapOps` give them, in the order applied, possibly only a prefix) and
 *   applies the inverse of each, last first, as a driver unwinds a partly
 *   applied op list.
 */
import { DrmError } from '../base/errors.js'
import { count, describe } from '../base/check.js'
import { coreOf } from './internal.js'
import { GemObject } from '../device/gem.js'
import type { GpuVm } from './gpuvm.js'
import type { Op, OpMap } from './ops.js'
import { flagsAtStep } from './packed-ops.js'
import { perRequestCounts } from './batch.js'
import { Va } from './va.js'

/** What `GpuVm.bindArray` takes besides the batch. */
export interface BindArrayOptions {
  /**
   * Fail request `failAt` as if its job failed (Xe's bind error injection,
   * errno ENOSPC), after the requests before it were applied: the array is
   * undone. An index past the last request injects nothing.
   */
  failAt?: number | null
  /** Room for `3 * batch.length` counts: request `i`'s `[map, remap, unmap]` at `3 * i` (as `bindBatch`'s). */
  perRequest?: Uint32Array | null
}

/** The largest `failAt` taken (past any batch's end: no injection). */
const FAIL_AT_MAX = 2 ** 32

/** @internal `options` checked: the perRequest array and failAt (-1 for none). */
export function arrayOptions(options: unknown, length: number): { per: Uint32Array | null; failAt: number } {
  if (options == null) return { per: null, failAt: -1 }
  if (typeof options !== 'object') {
    throw new DrmError('EINVAL', `bindArray options must be an object, got ${describe(options)}`)
  }
  const o = options as BindArrayOptions
  const per = perRequestCounts(o.perRequest, length)
  const failAt = o.failAt == null ? -1 : count(o.failAt, 'failAt', FAIL_AT_MAX)
  return { per, failAt }
}

/** The step's object id, or EINVAL for what is not a GemObject. */
function objectId(obj: unknown): number {
  if (obj == null) return 0
  const id = GemObject.idOf(obj)
  if (id === undefined) throw new DrmError('EINVAL', `a step's obj must be a GemObject or null, got ${describe(obj)}`)
  return id
}

/** The mapping a MAP step (or a remap piece) made, or EINVAL when it is not in the VA space as the step made it. */
function madeBy(vm: GpuVm, m: OpMap): Va {
  const va = vm.find(m.addr, m.range)
  if (va === undefined || va.obj !== (m.obj ?? null) || va.offset !== m.offset) {
    throw new DrmError(
      'EINVAL',
      `undo: no mapping [0x${m.addr.toString(16)}, +0x${m.range.toString(16)}) as the step made it`,
    )
  }
  return va
}

/** Puts back the mapping a step removed, with its seq and flags, and links it (to the end of its object's list). */
function putBack(vm: GpuVm, va: unknown): void {
  if (!Va.isVa(va) || va.vm !== vm) throw new DrmError('EINVAL', `undo: a step's va must be a Va of this VA space`)
  const rec = { addr: va.addr, range: va.range, obj: objectId(va.obj), offset: va.offset, seq: va.seq }
  coreOf(vm).reinsert({ ...rec, flags: flagsAtStep(va) })
  vm.link(va)
}

/** The inverse of one step. */
function undoStep(vm: GpuVm, op: Op): void {
  if (typeof op !== 'object' || op === null)
    throw new DrmError('EINVAL', `undo: an op must be an object, got ${describe(op)}`)
  switch (op.kind) {
    case 'map':
      vm.remove(madeBy(vm, op.map))
      return
    case 'unmap':
      putBack(vm, op.va)
      return
    case 'remap': {
      // Check both pieces before taking either down.
      const pieces = [op.prev, op.next].flatMap((p) => (p ? [madeBy(vm, p)] : []))
      for (const piece of pieces) vm.remove(piece)
      putBack(vm, op.unmap?.va)
      return
    }
    case 'prefetch':
      return
    default:
      throw new DrmError('EINVAL', `undo: unknown op kind ${describe((op as { kind?: unknown }).kind)}`)
  }
}

/** @internal `GpuVm.undo`: the inverse of each step, last first; stops at the first that cannot be undone. */
export function undoSteps(vm: GpuVm, ops: Iterable<Op>): number {
  if (typeof (ops as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== 'function') {
    throw new DrmError('EINVAL', `undo needs an iterable of ops, got ${describe(ops)}`)
  }
  const steps = [...ops]
  for (let i = steps.length - 1; i >= 0; i--) undoStep(vm, steps[i])
  return steps.length
}
