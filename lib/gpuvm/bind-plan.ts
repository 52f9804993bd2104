/**
 * The steps a bind-queue submission makes, worked out before it is applied.
 * A submission is applied as one atomic array (`GpuVm.bindArray`, all or
 * none, with its exact undo), which reports counts but not ranges; the job
 * needs the ranges (its timing and its range-fence conflicts), so they are
 * computed here from the VA space as it is before the array, the way
 * drm_gpuvm's split/merge walk cuts them: for each request in order, every
 * mapping it overlaps is unmapped when the request covers it whole, else
 * remapped around the hole the request makes; a map then maps its range.
 * `__test__/bind-queue.spec.ts` checks these steps against the engines'
 * own walk (`smMapOps` / `smUnmapOps`, applied one request after another).
 */
import type { BindRequest, BindStep } from './bind-queue.js'
import type { GpuVm } from './gpuvm.js'

/** A mapping as the plan sees it: [addr, end). */
type Piece = { addr: bigint; end: bigint }

/** The steps of `requests`, applied in order to `vm` as it is now (it is only read). */
export function planSteps(vm: GpuVm, requests: readonly BindRequest[]): BindStep[] {
  if (requests.length === 0) return []
  let lo = requests[0].addr
  let hi = requests[0].addr + requests[0].range
  for (const r of requests) {
    if (r.addr < lo) lo = r.addr
    if (r.addr + r.range > hi) hi = r.addr + r.range
  }
  // Only the mappings within the requests' hull can be cut.
  let pieces: Piece[] = []
  if (hi > lo) {
    for (const va of vm.vasInRange(lo, hi)) {
      if (va.isKernelNode || va.addr >= hi || va.addr + va.range <= lo) continue
      pieces.push({ addr: va.addr, end: va.addr + va.range })
    }
  }
  const steps: BindStep[] = []
  requests.forEach((r, request) => {
    const [start, end] = [r.addr, r.addr + r.range]
    const kept: Piece[] = []
    for (const p of pieces) {
      if (p.end <= start || p.addr >= end || start === end) {
        kept.push(p)
        continue
      }
      if (p.addr >= start && p.end <= end) steps.push({ request, kind: 'unmap', addr: p.addr, range: p.end - p.addr })
      else {
        const [a, b] = [p.addr > start ? p.addr : start, p.end < end ? p.end : end]
        steps.push({ request, kind: 'remap', addr: a, range: b - a })
        if (p.addr < start) kept.push({ addr: p.addr, end: start })
        if (p.end > end) kept.push({ addr: end, end: p.end })
      }
    }
    if (r.op === 'map') {
      steps.push({ request, kind: 'map', addr: start, range: r.range })
      kept.push({ addr: start, end })
    }
    pieces = kept.sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : 0))
  })
  return steps
}
