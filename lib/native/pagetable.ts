/**
 * The native engine's page-table calls (native/napi/pagetable.rs): the
 * profile passed as it is, the binding's cost arrays turned into records.
 */
import type { NativeVm } from '../../index.js'
import type { PageTableCost, PageTableProfile, PageTableRecord } from '../contract/pagetable.js'
import { call } from './binding.js'

type PtCost = { counts: number[]; tlbBytes: bigint }

function cost(c: PtCost): PageTableCost {
  const [pteWrites, pdeWrites, ptPagesAllocated, ptPagesFreed, tlbInvalidations, hugePageSplits, hugePagesFormed] =
    c.counts
  return {
    pteWrites,
    pdeWrites,
    ptPagesAllocated,
    ptPagesFreed,
    tlbInvalidations,
    tlbBytes: c.tlbBytes,
    hugePageSplits,
    hugePagesFormed,
  }
}

export function attachPageTable(vm: NativeVm, p: PageTableProfile): void {
  const levels = p.levels.map((l) => ({ bits: l.bits, entryBytes: l.entryBytes, leaf: l.leaf }))
  call(() => vm.attachPageTable({ name: p.name, pageShift: p.pageShift, levels }))
}

export function pageTableInfo(vm: NativeVm): PageTableRecord | undefined {
  const r = call(() => vm.pageTableInfo())
  if (r === null || r === undefined) return undefined
  const lastTlbRanges: { addr: bigint; range: bigint }[] = []
  for (let i = 0; i + 1 < r.tlbRanges.length; i += 2)
    lastTlbRanges.push({ addr: r.tlbRanges[i], range: r.tlbRanges[i + 1] })
  return {
    total: cost(r.total),
    last: cost(r.last),
    lastTlbRanges,
    occupancy: { tables: r.tables, entries: r.entries, leaves: r.leaves, bytes: r.bytes },
  }
}
