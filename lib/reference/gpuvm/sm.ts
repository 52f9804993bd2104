/**
 * Mirrors native/core/src/gpuvm/sm.rs (the split/merge walk, `__drm_gpuva_sm_map` / `__drm_gpuva_sm_unmap`).
 *
 * The walk is a cursor that yields one step at a time, so a caller can apply
 * each step before asking for the next, as a driver's step callbacks do.
 */
import type { CursorCore, MapRecord, OpRecord } from '../../contract/vm.js'
import { MASK, NO_OBJ, nodeEnd, record, type Key, type Node, type VaTree } from './tree.js'

export type CursorKind = 'map' | 'unmap'

type CursorState =
  | { tag: 'start' }
  /** `next` is the key that followed the last visited node when it was handed out. */
  | { tag: 'walk'; next: Key | undefined }
  /** The walk is over; a map request still owes its MAP step. */
  | { tag: 'tail' }
  | { tag: 'done' }

/** What a walk reads of its VA space: the tree, and whether the space is still alive (EINVAL once destroyed). */
export interface Walked {
  readonly tree: VaTree
  alive(): void
}

type Piece = MapRecord | null
const copyMap = (m: MapRecord): MapRecord => ({ addr: m.addr, range: m.range, obj: m.obj, offset: m.offset })

/** A walk for a request whose range the caller has checked. */
export function smCursor(space: Walked, kind: CursorKind, req: MapRecord): CursorCore {
  const end = (req.addr + req.range) & MASK
  let state: CursorState = { tag: 'start' }

  const finish = (): OpRecord | undefined => {
    state = { tag: 'done' }
    return kind === 'map' ? { kind: 'map', map: copyMap(req) } : undefined
  }

  // Each step is computed against the tree as it is now. Like the kernel's
  // safe iterator, the walk remembers the key that followed the node it hands
  // out; if the caller removed that node too, it resumes at the next key still there.
  const step = (): OpRecord | undefined => {
    space.alive()
    const tree = space.tree
    let node: Node | undefined
    switch (state.tag) {
      case 'start':
        node = tree.findFirst(req.addr, req.range)
        break
      case 'walk':
        node = state.next && tree.atOrAfter(state.next)
        break
      case 'tail':
        return finish()
      case 'done':
        return undefined
    }
    if (node === undefined || node.key.addr >= end) return finish()
    const next = tree.nextAfter(node.key)?.key
    const [op, last] = kind === 'map' ? splitForMap(node, req, end) : [splitForUnmap(node, req.addr, end), false]
    state = last ? { tag: 'tail' } : { tag: 'walk', next }
    return op
  }
  return { step }
}

/** The whole step list of a cursor, the VA space unchanged (`*_ops_create`). */
export function collectOps(cursor: CursorCore): OpRecord[] {
  const ops: OpRecord[] = []
  for (let op = cursor.step(); op !== undefined; op = cursor.step()) ops.push(op)
  return ops
}

/**
 * The step for one node met by a map request, and whether the walk ends with
 * it. `keep` holds when the old node is the same object at an offset
 * consistent with the request, so it continues the new mapping physically.
 */
function splitForMap(node: Node, req: MapRecord, reqEnd: bigint): [OpRecord, boolean] {
  const { addr } = node.key
  const { range, obj, offset } = node
  const end = nodeEnd(node)
  const sameObj = obj !== NO_OBJ && obj === req.obj
  const piece = (addr: bigint, range: bigint, offset: bigint): MapRecord => ({ addr, range, obj, offset })
  const remap = (prev: Piece, next: Piece, keep: boolean): OpRecord => ({
    kind: 'remap',
    prev,
    next,
    va: record(node),
    keep,
  })
  const unmap = (keep: boolean): OpRecord => ({ kind: 'unmap', va: record(node), keep })

  if (addr === req.addr) {
    const keep = sameObj && offset === req.offset
    if (end > reqEnd) {
      const next = piece(reqEnd, (range - req.range) & MASK, (offset + req.range) & MASK)
      return [remap(null, next, keep), true]
    }
    return [unmap(keep), end === reqEnd]
  }
  if (addr < req.addr) {
    const head = req.addr - addr
    const keep = sameObj && ((offset + head) & MASK) === req.offset
    const prev = piece(addr, head, offset)
    const next = end > reqEnd ? piece(reqEnd, end - reqEnd, (offset + head + req.range) & MASK) : null
    return [remap(prev, next, keep), end >= reqEnd]
  }
  const keep = sameObj && offset === ((req.offset + (addr - req.addr)) & MASK)
  if (end > reqEnd) {
    const next = piece(reqEnd, end - reqEnd, (offset + (reqEnd - addr)) & MASK)
    return [remap(null, next, keep), true]
  }
  return [unmap(keep), end === reqEnd]
}

/** The step for one node met by an unmap request; `keep` is always false. */
function splitForUnmap(node: Node, reqAddr: bigint, reqEnd: bigint): OpRecord {
  const { addr } = node.key
  const end = nodeEnd(node)
  const prev: Piece = addr < reqAddr ? { addr, range: reqAddr - addr, obj: node.obj, offset: node.offset } : null
  const next: Piece =
    end > reqEnd
      ? { addr: reqEnd, range: end - reqEnd, obj: node.obj, offset: (node.offset + ((reqEnd - addr) & MASK)) & MASK }
      : null
  if (prev !== null || next !== null) return { kind: 'remap', prev, next, va: record(node), keep: false }
  return { kind: 'unmap', va: record(node), keep: false }
}
