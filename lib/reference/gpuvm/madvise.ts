/**
 * Mirrors native/core/src/gpuvm/hub/madvise.rs (`drm_gpuvm_madvise_ops_create`, lib/contract/hub.md "madvise").
 *
 * The request is checked (by the caller) and walked as `sm_map` does, but
 * only object-less mappings take part; the VA space is unchanged.
 */
import type { MapRecord, OpRecord } from '../../contract/vm.js'
import { MASK, NO_OBJ, nodeEnd, record, type VaTree } from './tree.js'

/**
 * `drm_gpuvm_madvise_ops_create` for a request whose range the caller has
 * checked: the walk of `sm_map`, but only object-less mappings are split,
 * nothing is unmapped, `keep` is false, and a MAP comes only where a split
 * happened (hub.md's table): at once for a piece of a mapping that the
 * request covers only in part, else one MAP of the whole request at the end.
 */
export function madviseOps(tree: VaTree, req: MapRecord): OpRecord[] {
  const end = (req.addr + req.range) & MASK
  const ops: OpRecord[] = []
  const blank = (addr: bigint, range: bigint): OpRecord => ({
    kind: 'map',
    map: { addr, range, obj: NO_OBJ, offset: 0n },
  })
  let mapRequest = false
  for (
    let node = tree.findFirst(req.addr, req.range);
    node !== undefined && node.key.addr < end;
    node = tree.nextAfter(node.key)
  ) {
    if (node.obj !== NO_OBJ) continue
    const addr = node.key.addr
    const nEnd = nodeEnd(node)
    const prev: MapRecord | null =
      addr < req.addr ? { addr, range: req.addr - addr, obj: NO_OBJ, offset: node.offset } : null
    const next: MapRecord | null =
      nEnd > end ? { addr: end, range: nEnd - end, obj: NO_OBJ, offset: (node.offset + (end - addr)) & MASK } : null
    // Inside the request: nothing to split.
    if (prev === null && next === null) continue
    ops.push({ kind: 'remap', prev, next, va: record(node), keep: false })
    if (addr > req.addr) {
      // Starts inside the request, ends past it: the covered head, and the walk is over.
      ops.push(blank(addr, end - addr))
      break
    }
    if (next === null && nEnd < end) {
      // Starts before the request, ends inside it: the covered tail, and on.
      ops.push(blank(req.addr, nEnd - req.addr))
      continue
    }
    mapRequest = true
    break
  }
  if (mapRequest) ops.push({ kind: 'map', map: { addr: req.addr, range: req.range, obj: req.obj, offset: req.offset } })
  return ops
}
