/**
 * Mirrors native/core/src/gpuvm/apply.rs (applying steps: `drm_gpuva_map` / `_remap` / `_unmap` with link/unlink; `run`).
 *
 * Unlike the kernel's helpers, which ignore insert errors, a step is checked
 * before anything is touched, so a bad one fails with the VA space unchanged.
 * A REMAP links its pieces before it unlinks the old mapping, so from era 1
 * on the vm_bo they share survives (hub.md, Links); an UNMAP unlinks
 * (deferred in immediate mode) and removes.
 */
import type { CursorCore, MapRecord, OpCounts, OpRecord, VaRecord } from '../../contract/vm.js'
import { BATCH_MAP, BATCH_WORDS } from '../../contract/vm.js'
import { DrmBatchError, DrmError } from '../../base/errors.js'
import { hex } from '../../base/check.js'
import type { Walked } from './sm.js'
import { isKernel, MASK, type Node } from './tree.js'

/** What applying a step does to the VA space (vm.ts), besides reading its tree. */
export interface Applied extends Walked {
  /** `drm_gpuva_insert` with every check: EINVAL for a bad range, EEXIST on overlap. */
  insert(addr: bigint, range: bigint, obj: number, offset: bigint): Node
  /** An insert whose range is known to be valid: EEXIST on overlap only. */
  insertChecked(addr: bigint, range: bigint, obj: number, offset: bigint): Node
  /** `drm_gpuva_remove` with unlink; the kernel node stays, with a warning. */
  remove(node: Node): void
  /** Links a new mapping as `link(va)` does. */
  link(node: Node): void
  /** Unlinks as a step does: deferred in immediate mode. */
  unlinkStep(node: Node): void
  /** Takes a mapping out of the tree, still linked: a REMAP's old mapping until its `pieces` are linked. */
  detach(node: Node, pieces: MapRecord[]): void
}

/** Applies one step. */
export function applyStep(space: Applied, op: OpRecord): void {
  switch (op.kind) {
    case 'map':
      space.link(space.insert(op.map.addr, op.map.range, op.map.obj, op.map.offset))
      return
    case 'remap':
      applyRemap(space, op.va, op.prev, op.next)
      return
    case 'unmap': {
      const node = sameAsTree(space, op.va)
      space.unlinkStep(node)
      space.remove(node)
      return
    }
    case 'prefetch':
      sameAsTree(space, op.va)
      return
  }
}

function applyRemap(space: Applied, old: VaRecord, prev: MapRecord | null, next: MapRecord | null): void {
  const node = sameAsTree(space, old)
  if (isKernel(node)) {
    space.remove(node)
    return
  }
  const oldEnd = (old.addr + old.range) & MASK
  for (const p of [prev, next]) {
    if (p === null) continue
    // Unbounded bigint sums: an overflowing piece cannot end inside `old`.
    const inside = p.range !== 0n && p.addr >= old.addr && p.addr + p.range <= oldEnd
    if (!inside || p.addr + p.range > MASK) {
      throw new DrmError(
        'EINVAL',
        `remap piece [${hex(p.addr)}, +${hex(p.range)}) is not a non-empty part of [${hex(old.addr)}, +${hex(old.range)})`,
      )
    }
  }
  if (prev !== null && next !== null && prev.addr + prev.range > next.addr) {
    throw new DrmError('EINVAL', 'remap pieces overlap or are out of order')
  }
  space.detach(
    node,
    [prev, next].filter((p) => p !== null),
  )
  for (const p of [prev, next]) {
    if (p !== null) space.link(space.insertChecked(p.addr, p.range, p.obj, p.offset))
  }
  space.unlinkStep(node)
}

/** A step names a mapping by its key; refuse one whose other fields differ from the tree's (forged or stale). */
function sameAsTree(space: Walked, va: VaRecord): Node {
  space.alive()
  const node = space.tree.get({ addr: va.addr, seq: va.seq })
  if (node === undefined || node.range !== va.range || node.obj !== va.obj || node.offset !== va.offset) {
    throw new DrmError(
      'EINVAL',
      `the step names a mapping [${hex(va.addr)}, +${hex(va.range)}) that is not in the VA space`,
    )
  }
  return node
}

/** Runs a cursor to the end, applying each step before computing the next, as a driver's callbacks do. */
export function runCursor(space: Applied, cursor: CursorCore): OpCounts {
  const counts: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
  for (let op = cursor.step(); op !== undefined; op = cursor.step()) {
    applyStep(space, op)
    if (op.kind !== 'prefetch') counts[op.kind]++
  }
  return counts
}

/**
 * A packed batch (`BATCH_WORDS` words a request), one request after the
 * other through `vm`'s bind and unbind, stopping at the first that fails
 * (a DrmBatchError naming it, with the counts of the requests before it).
 */
export function applyBatch(
  words: BigUint64Array,
  perRequest: Uint32Array | null,
  vm: {
    bind(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts
    unbind(addr: bigint, range: bigint): OpCounts
  },
): OpCounts {
  const total: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
  for (let i = 0; i < words.length / BATCH_WORDS; i++) {
    const [head, addr, range, offset] = words.subarray(i * BATCH_WORDS, (i + 1) * BATCH_WORDS)
    const kind = Number(head & 0xffff_ffffn)
    const obj = Number(head >> 32n)
    let counts: OpCounts
    try {
      counts = kind === BATCH_MAP ? vm.bind(addr, range, obj, offset) : vm.unbind(addr, range)
    } catch (e) {
      if (e instanceof DrmError) throw new DrmBatchError(e, i, { ...total })
      throw e
    }
    total.map += counts.map
    total.remap += counts.remap
    total.unmap += counts.unmap
    perRequest?.set([counts.map, counts.remap, counts.unmap], 3 * i)
  }
  return total
}
