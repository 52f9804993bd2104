/**
 * The native engine's page-table calls (native/napi/pagetable.rs): the
 * profile passed as it is, the binding's record decoded (contract/pagetable.ts).
 */
import type { NativeVm } from '../../index.js'
import { type PageTableProfile, type PageTableRecord, pageTableFromWire } from '../contract/pagetable.js'
import { call } from './binding.js'

export function attachPageTable(vm: NativeVm, p: PageTableProfile): void {
  const levels = p.levels.map((l) => ({ bits: l.bits, entryBytes: l.entryBytes, leaf: l.leaf }))
  call(() => vm.attachPageTable({ name: p.name, pageShift: p.pageShift, levels }))
}

export function pageTableInfo(vm: NativeVm): PageTableRecord | undefined {
  const r = call(() => vm.pageTableInfo())
  return r === null || r === undefined ? undefined : pageTableFromWire(r)
}
