/**
 * The native engine's page-table calls (native/napi/pagetable.rs): the
 * profile passed as it is, the binding's record decoded (contract/pagetable.ts);
 * the cheap reads fill one array of numbers (one crossing, no object built in Rust).
 */
import type { NativeVm } from '../../index.js'
import {
  costFromCounts,
  occupancyFromCounts,
  PAGE_TABLE_COUNTS_LEN,
  type PageTableCost,
  type PageTableOccupancy,
  type PageTableProfile,
  type PageTableRecord,
  pageTableFromWire,
} from '../contract/pagetable.js'
import { call } from './binding.js'

export function attachPageTable(vm: NativeVm, p: PageTableProfile): void {
  const levels = p.levels.map((l) => ({ bits: l.bits, entryBytes: l.entryBytes, leaf: l.leaf }))
  call(() => vm.attachPageTable({ name: p.name, pageShift: p.pageShift, levels }))
}

export function pageTableInfo(vm: NativeVm): PageTableRecord | undefined {
  const r = call(() => vm.pageTableInfo())
  return r === null || r === undefined ? undefined : pageTableFromWire(r)
}

/** The cheap reads' array, reused (one call at a time on this thread). */
const counts = new Float64Array(PAGE_TABLE_COUNTS_LEN)

export function pageTableCost(vm: NativeVm, which: 'last' | 'total'): PageTableCost | undefined {
  return call(() => vm.pageTableCounts(counts)) ? costFromCounts(counts, which === 'last' ? 0 : 9) : undefined
}

export function pageTableOccupancy(vm: NativeVm): PageTableOccupancy | undefined {
  return call(() => vm.pageTableCounts(counts)) ? occupancyFromCounts(counts) : undefined
}
