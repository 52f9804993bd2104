/**
 * The replay's atomic bind arrays: a `bind.array` line is Xe's VM_BIND with
 * an array of binds, applied all or nothing (`GpuVm.bindArray`):
 *
 *   {"op":"bind.array","vm":"a","ops":[{"op":"bind","addr":"0x100000","range":"0x2000","obj":"bo1","offset":"0"},
 *     {"op":"unbind","addr":"0x101000","range":"0x1000"}],"failAt":1}
 *
 * `obj` null (or left out) binds a sparse mapping; `failAt` injects a
 * failure at that op (ENOSPC, Xe's bind error injection). A failed array is
 * a simulation error with its errno, as any refused request is (under
 * `--keep-going` the replay goes on, the VA space as before the line); its
 * record says which op failed (`failedOp`) and whether applied ops were
 * undone (`unwound`).
 */
import { hex } from '../base/check.js'
import { DrmBatchError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import { BindBatch } from '../gpuvm/batch.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { ReplayRecord } from './record.js'
import type { ReplayRequest } from './schema.js'
import type { ReplayState } from './state.js'

/** One op of a `bind.array` line. */
export type ReplayArrayOp =
  | { op: 'bind'; addr: bigint; range: bigint; obj?: string | null; offset?: bigint }
  | { op: 'unbind'; addr: bigint; range: bigint }

/** The handler of a `bind.array` line. */
export function bindArrayLine(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const vm = r.vm(req)
  const ops = req.ops ?? []
  const batch = new BindBatch(Math.max(1, ops.length))
  ops.forEach((op, i) => {
    if (op.op === 'unbind') batch.unmap(op.addr, op.range)
    else {
      const obj = op.obj == null ? null : r.obj(req, `ops[${i}].obj`, op.obj)
      batch.map({ addr: op.addr, range: op.range, obj, offset: op.offset ?? 0n })
    }
  })
  const counts = atomically(r, vm, record, () => vm.bindArray(batch, { failAt: req.failAt }))
  record.result.map = counts.map
  record.result.remap = counts.remap
  record.result.unmap = counts.unmap
  r.s.ops.map += counts.map
  r.s.ops.remap += counts.remap
  r.s.ops.unmap += counts.unmap
}

/**
 * Runs an atomic submission (`bind.array`, `queue.bind`): a failed one
 * records which op failed and whether applied ops were undone; the VA
 * space's warnings go to the record either way.
 */
export function atomically<T>(r: ReplayState, vm: GpuVm, record: ReplayRecord, submit: () => T): T {
  try {
    return submit()
  } catch (err) {
    if (err instanceof DrmBatchError) {
      record.result.failedOp = err.index
      record.result.unwound = err.unwound
    }
    throw err
  } finally {
    r.warnings(vm, record)
  }
}

/** One request of `Recorder.bindArray`: a bind (sparse when `obj` is null or absent) or an unbind. */
export type RecordedArrayOp =
  | { op: 'bind'; addr: bigint; range: bigint; obj?: GemObject | null; offset?: bigint }
  | { op: 'unbind'; addr: bigint; range: bigint }

/** What `Recorder.bindArray` writes and runs: the line's `ops` (objects by `name`) and the batch. */
export function recordedArray(
  ops: readonly RecordedArrayOp[],
  name: (obj: GemObject) => string,
): { ops: Record<string, unknown>[]; batch: BindBatch } {
  const batch = new BindBatch(Math.max(1, ops.length))
  const line = ops.map((o) => {
    if (o.op === 'unbind') {
      batch.unmap(o.addr, o.range)
      return { op: 'unbind', addr: hex(o.addr), range: hex(o.range) }
    }
    batch.map({ addr: o.addr, range: o.range, obj: o.obj ?? null, offset: o.offset ?? 0n })
    const out: Record<string, unknown> = { op: 'bind', addr: hex(o.addr), range: hex(o.range) }
    out.obj = o.obj == null ? null : name(o.obj)
    if (o.offset !== undefined) out.offset = hex(o.offset)
    return out
  })
  return { ops: line, batch }
}
